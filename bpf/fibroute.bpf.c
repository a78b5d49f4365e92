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
	struct ls_ifname oif;
	struct net_device *dev = NULL;
	__u64 now, one = 1, *c, *seq;
	__u32 zero = 0;
	__u16 sport = 0, dport = 0;
	__u8 proto = flp->__fl_common.flowic_proto;
	bool first = false, sample = false;

	/* cheapest test first: ports straight from the flow, then the device name, then addresses */
	if (proto == LS_IPPROTO_TCP || proto == LS_IPPROTO_UDP) {
		sport = bpf_ntohs(flp->uli.ports.sport);
		dport = bpf_ntohs(flp->uli.ports.dport);
	}
	if (!ls_ports_ok(sport, dport))
		return 0;
	if (nhc)
		dev = nhc->nhc_dev;
	ls_dev_name(dev, &oif);
	if (!ls_iface_ok(&oif))
		return 0;

	__builtin_memset(&k, 0, sizeof(k));
	k.src = flp->saddr;
	k.dst = flp->daddr;
	k.proto = proto;
	k.tb_id = tb_id;
	k.err = err;
	if (nhc && nhc->nhc_gw_family == LS_AF_INET)
		k.gw = nhc->nhc_gw.ipv4;
	__builtin_memcpy(k.oif, oif.name, LS_IFNAMSIZ);
	__builtin_memset(&t, 0, sizeof(t));
	t.family = LS_AF_INET;
	t.proto = proto;
	t.sport = sport;
	t.dport = dport;
	if (ls_filt_cidrs) {
		ls_v4_mapped(t.sw, k.src);
		ls_v4_mapped(t.dw, k.dst);
		if (!ls_tuple_ok(&t))
			return 0;
	}

	now = bpf_ktime_get_ns();
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
	ev->flow_oif = flp->__fl_common.flowic_oif;
	ev->flow_iif = flp->__fl_common.flowic_iif;
	ev->nh_oif = dev ? dev->ifindex : 0;
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
