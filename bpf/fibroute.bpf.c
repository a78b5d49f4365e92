// SPDX-License-Identifier: GPL-2.0
/* fibroute: IPv4 routing decisions (fib:fib_table_lookup) counted per decision and window, sampled to a ring buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "fibroute.h"
#include "ls_common.bpf.h"

const volatile __u32 sample_every = 64;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fibroute_key);
	__type(value, __u64);
} lsc_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} lsc_fib_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lsc_fib_seq SEC(".maps");

SEC("tp_btf/fib_table_lookup")
int BPF_PROG(lsc_fib_lookup, u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc, int err)
{
	struct fibroute_key k;
	struct fibroute_event *ev;
	struct ls_tuple t;
	struct net_device *dev = NULL;
	__u64 now = bpf_ktime_get_ns(), one = 1, *c, *seq;
	__u32 zero = 0;
	bool first = false, sample = false;

	__builtin_memset(&k, 0, sizeof(k));
	k.src = BPF_CORE_READ(flp, saddr);
	k.dst = BPF_CORE_READ(flp, daddr);
	k.proto = BPF_CORE_READ(flp, __fl_common.flowic_proto);
	k.tb_id = tb_id;
	k.err = err;
	if (nhc) {
		dev = BPF_CORE_READ(nhc, nhc_dev);
		if (BPF_CORE_READ(nhc, nhc_gw_family) == LS_AF_INET)
			k.gw = BPF_CORE_READ(nhc, nhc_gw.ipv4);
	}
	if (!dev || bpf_probe_read_kernel_str(k.oif, LS_IFNAMSIZ, dev->name) <= 0) {
		k.oif[0] = '-';
		k.oif[1] = 0;
	}
	if (!ls_iface_ok((struct ls_ifname *)k.oif))
		return 0;

	__builtin_memset(&t, 0, sizeof(t));
	t.family = LS_AF_INET;
	t.proto = k.proto;
	if (k.proto == LS_IPPROTO_TCP || k.proto == LS_IPPROTO_UDP) {
		t.sport = bpf_ntohs(BPF_CORE_READ(flp, uli.ports.sport));
		t.dport = bpf_ntohs(BPF_CORE_READ(flp, uli.ports.dport));
	}
	ls_v4_mapped(t.saddr, k.src);
	ls_v4_mapped(t.daddr, k.dst);
	if (!ls_tuple_ok(&t))
		return 0;

	k.window = ls_window(now);
	c = bpf_map_lookup_elem(&lsc_routes, &k);
	if (c) {
		__sync_fetch_and_add(c, 1);
	} else if (bpf_map_update_elem(&lsc_routes, &k, &one, BPF_NOEXIST) == 0) {
		first = true;
	} else if ((c = bpf_map_lookup_elem(&lsc_routes, &k))) {
		__sync_fetch_and_add(c, 1);
	} else {
		ls_stat_inc(LS_STAT_MAP_FULL);
	}

	seq = bpf_map_lookup_elem(&lsc_fib_seq, &zero);
	if (seq) {
		*seq += 1;
		sample = sample_every && (*seq % sample_every) == 0;
	}
	if (!first && !sample)
		return 0;
	ev = bpf_ringbuf_reserve(&lsc_fib_events, sizeof(*ev), 0);
	if (!ev) {
		ls_stat_inc(LS_STAT_RB_LOST);
		return 0;
	}
	ev->ts = now;
	ev->tb_id = tb_id;
	ev->src = k.src;
	ev->dst = k.dst;
	ev->gw = k.gw;
	ev->err = err;
	ev->flow_oif = BPF_CORE_READ(flp, __fl_common.flowic_oif);
	ev->flow_iif = BPF_CORE_READ(flp, __fl_common.flowic_iif);
	ev->nh_oif = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	ev->sport = t.sport;
	ev->dport = t.dport;
	ev->proto = k.proto;
	ev->first = first;
	ev->pad[0] = ev->pad[1] = 0;
	__builtin_memcpy(ev->oif, k.oif, LS_IFNAMSIZ);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
