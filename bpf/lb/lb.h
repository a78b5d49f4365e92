/* SPDX-License-Identifier: Apache-2.0 */
/* lb: the local cluster's socket load balancer and policy. Structs shared by lb.bpf.c and lb.c. */
#ifndef LB_H
#define LB_H

#define LB_MAX_BACKENDS 64 /* ready backends per service; a power of two */
#define LB_MAX_SERVICES 64 /* service ids are 1..LB_MAX_SERVICES-1 */
#define LB_COMM_LEN 16

/* An IPv4 endpoint: address in network byte order, port in host byte order. */
struct lb_addr {
	__u32 ip;
	__u16 port;
	__u16 pad;
};

/* One ready backend (pod) of a service; id is the pod's index, stable for the pod's life. */
struct lb_backend {
	__u32 ip;
	__u16 port;
	__u16 id;
};

#define LB_SVC_POLICY 1 /* only cgroups in lb_allow may connect (to the VIP and to guarded pods) */

/*
 * Value of lb_services, keyed by the VIP. The loader replaces the whole value with one
 * bpf_map_update_elem on a BPF_F_NO_PREALLOC hash map: a program sees the old list or the new,
 * never a mix.
 */
struct lb_service {
	__u32 id;
	__u32 count;
	__u32 gen;
	__u32 flags;
	struct lb_backend be[LB_MAX_BACKENDS];
};

/* Key of lb_allow: this cgroup (v2 id) may connect to service svc. */
struct lb_allow_key {
	__u64 cgroup;
	__u32 svc;
	__u32 pad;
};

/* Key of lb_conns: cumulative connections sent to one backend of one service. */
struct lb_conn_key {
	__u32 svc;
	__u32 ip;
	__u16 port;
	__u16 id;
	__u32 pad;
};

enum lb_reject {
	LB_REJ_POLICY = 1,     /* the caller's cgroup may not reach the service */
	LB_REJ_NO_BACKEND = 2, /* the VIP has no ready backend */
};

/* Key of lb_rejects: cumulative refusals per service, reason and calling cgroup. */
struct lb_reject_key {
	__u64 cgroup;
	__u32 svc;
	__u32 reason;
};

enum lb_event_kind {
	LB_EV_DECISION = 1,
	LB_EV_POLICY = 2,
	LB_EV_NO_BACKEND = 3,
};

/* Ring buffer record: one decision (sampled) or one refusal (all). ts is CLOCK_MONOTONIC ns. */
struct lb_event {
	__u64 ts;
	__u64 cgroup;
	__u32 tgid;
	__u32 svc;
	__u32 dst;      /* address the caller asked for (VIP or pod), network byte order */
	__u32 backend;  /* chosen backend, network byte order (0 unless a decision) */
	__u16 dport;    /* host byte order */
	__u16 bport;
	__u16 backend_id;
	__u8 kind;
	__u8 pad;
	__u32 gen;      /* generation of the backend list the decision used */
	char comm[LB_COMM_LEN];
};

/* Indexes into the per-CPU lb_stats array. */
enum lb_stat {
	LB_STAT_RB_LOST = 0,  /* ring buffer full: a record was lost (its count is not) */
	LB_STAT_MAP_FULL = 1, /* a counter map was full: a count was lost */
	LB_STAT_DECISIONS = 2,
	LB_STAT__MAX = 4,
};

#endif
