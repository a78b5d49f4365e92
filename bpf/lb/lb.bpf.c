// SPDX-License-Identifier: GPL-2.0
/*
 * lb: socket load balancer and policy of the local cluster, as Cilium's socket LB does it.
 * cgroup/connect4 on the cgroup v2 root: a TCP connect() to a service VIP is rewritten to one ready
 * backend (round robin over the list in lb_services), before any packet exists; a connect() to a
 * service with a policy (its VIP or one of its guarded pods) from a cgroup not in lb_allow is
 * refused (EPERM) and counted. Every decision is counted per backend; records go to a ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lb.h"

#define LB_IPPROTO_TCP 6

/* The harness (the "host" identity): may reach guarded pods directly (readiness checks, /metrics), never a VIP. */
const volatile __u32 host_tgid = 0;
/* Decision records: 1 in sample_every goes to the ring buffer (1: all, 0: none); refusals always do. */
const volatile __u32 sample_every = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_addr);
	__type(value, struct lb_service);
} lb_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct lb_addr);
	__type(value, __u32);
} lb_guard SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct lb_allow_key);
	__type(value, __u8);
} lb_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u64);
} lb_rr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lb_conn_key);
	__type(value, __u64);
} lb_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lb_reject_key);
	__type(value, __u64);
} lb_rejects SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} lb_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_STAT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} lb_stats SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&lb_stats, &idx);
	if (v)
		(*v)++;
}

static __always_inline void count(void *map, void *key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	if (bpf_map_update_elem(map, key, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(map, key);
		if (v)
			__sync_fetch_and_add(v, 1);
		else
			stat_inc(LB_STAT_MAP_FULL);
	}
}

static __always_inline void emit(__u8 kind, __u64 cg, __u64 pid_tgid, __u32 svc, __u32 dst, __u16 dport,
				 const struct lb_backend *be, __u32 gen)
{
	struct lb_event *e = bpf_ringbuf_reserve(&lb_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(LB_STAT_RB_LOST);
		return;
	}
	e->ts = bpf_ktime_get_ns();
	e->cgroup = cg;
	e->tgid = pid_tgid >> 32;
	e->svc = svc;
	e->dst = dst;
	e->dport = dport;
	e->backend = be ? be->ip : 0;
	e->bport = be ? be->port : 0;
	e->backend_id = be ? be->id : 0;
	e->kind = kind;
	e->pad = 0;
	e->gen = gen;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

static __always_inline int refuse(__u32 reason, __u64 cg, __u64 pid_tgid, __u32 svc, __u32 dst, __u16 dport, __u32 gen)
{
	struct lb_reject_key rk = { .cgroup = cg, .svc = svc, .reason = reason };
	count(&lb_rejects, &rk);
	emit(reason == LB_REJ_POLICY ? LB_EV_POLICY : LB_EV_NO_BACKEND, cg, pid_tgid, svc, dst, dport, NULL, gen);
	return 0; /* connect() fails with EPERM */
}

SEC("cgroup/connect4")
int lb_connect4(struct bpf_sock_addr *ctx)
{
	struct lb_addr k = {};
	struct lb_service *svc;
	struct lb_backend be;
	__u32 svc_id, flags, gen = 0, slot, idx, n;
	__u64 cg, pid_tgid, *rr;
	bool vip;

	if (ctx->protocol != LB_IPPROTO_TCP)
		return 1;
	k.ip = ctx->user_ip4;
	k.port = bpf_ntohs((__u16)ctx->user_port);
	svc = bpf_map_lookup_elem(&lb_services, &k);
	vip = svc != NULL;
	if (svc) {
		svc_id = svc->id;
		flags = svc->flags;
		gen = svc->gen;
	} else {
		__u32 *g = bpf_map_lookup_elem(&lb_guard, &k);
		if (!g)
			return 1;
		svc_id = *g;
		flags = LB_SVC_POLICY;
	}

	cg = bpf_get_current_cgroup_id();
	pid_tgid = bpf_get_current_pid_tgid();
	if (flags & LB_SVC_POLICY) {
		struct lb_allow_key ak = { .cgroup = cg, .svc = svc_id };
		bool host = !vip && host_tgid && (__u32)(pid_tgid >> 32) == host_tgid;
		if (!host && !bpf_map_lookup_elem(&lb_allow, &ak))
			return refuse(LB_REJ_POLICY, cg, pid_tgid, svc_id, k.ip, k.port, gen);
	}
	if (!vip)
		return 1;

	n = svc->count;
	if (n == 0 || n > LB_MAX_BACKENDS)
		return refuse(LB_REJ_NO_BACKEND, cg, pid_tgid, svc_id, k.ip, k.port, gen);
	slot = svc_id & (LB_MAX_SERVICES - 1);
	rr = bpf_map_lookup_elem(&lb_rr, &slot);
	if (!rr)
		return 1;
	idx = (__u32)__sync_fetch_and_add(rr, 1) % n;
	barrier_var(idx);
	idx &= LB_MAX_BACKENDS - 1; /* idx < n <= LB_MAX_BACKENDS already: this only tells the verifier */
	be = svc->be[idx];

	ctx->user_ip4 = be.ip;
	ctx->user_port = bpf_htons(be.port);

	struct lb_conn_key ck = { .svc = svc_id, .ip = be.ip, .port = be.port, .id = be.id };
	count(&lb_conns, &ck);
	stat_inc(LB_STAT_DECISIONS);
	if (sample_every == 1 || (sample_every > 1 && bpf_get_prandom_u32() % sample_every == 0))
		emit(LB_EV_DECISION, cg, pid_tgid, svc_id, k.ip, k.port, &be, gen);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
