// SPDX-License-Identifier: GPL-2.0
/* pktlat: per-packet latency net_dev_queue -> netif_receive_skb, packet counts, drops by reason. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "pktlat.h"
#include "ls_common.bpf.h"

const volatile __u64 max_age_ns = 1000000000ULL;
const volatile bool count_drops = true;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct pktlat_start);
} lsc_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct pktlat_lat_key);
	__type(value, struct ls_hist);
} lsc_lat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pktlat_cnt_key);
	__type(value, struct pktlat_cnt);
} lsc_pkts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pktlat_drop_key);
	__type(value, __u64);
} lsc_drops SEC(".maps");

static __always_inline void skb_ifname(struct sk_buff *skb, char *name)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (!dev || bpf_probe_read_kernel_str(name, LS_IFNAMSIZ, dev->name) <= 0) {
		name[0] = '-';
		name[1] = 0;
	}
}

static __always_inline __u8 flow_of(const struct ls_tuple *t)
{
	if (!ls_filt_ports)
		return PKTLAT_FLOW_ANY;
	if (ls_port_in(t->dport))
		return PKTLAT_FLOW_TO;
	if (ls_port_in(t->sport))
		return PKTLAT_FLOW_FROM;
	return PKTLAT_FLOW_ANY;
}

static __always_inline void count_pkt(const char *ifname, __u8 dir, __u64 bytes, __u64 now)
{
	struct pktlat_cnt_key k;
	struct pktlat_cnt *c, init = { .packets = 1, .bytes = bytes };
	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.ifname, ifname, LS_IFNAMSIZ);
	k.window = ls_window(now);
	k.dir = dir;
	c = bpf_map_lookup_elem(&lsc_pkts, &k);
	if (!c) {
		if (bpf_map_update_elem(&lsc_pkts, &k, &init, BPF_NOEXIST) == 0)
			return;
		c = bpf_map_lookup_elem(&lsc_pkts, &k);
		if (!c) {
			ls_stat_inc(LS_STAT_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, bytes);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(lsc_pkt_queue, struct sk_buff *skb)
{
	struct pktlat_start st;
	struct ls_tuple t;
	__u64 now = bpf_ktime_get_ns();
	__u64 key = (__u64)skb;

	__builtin_memset(&st, 0, sizeof(st));
	skb_ifname(skb, st.ifname);
	if (!ls_iface_ok((struct ls_ifname *)st.ifname))
		return 0;
	if (ls_need_tuple()) {
		unsigned char *head = BPF_CORE_READ(skb, head);
		__u16 nh = BPF_CORE_READ(skb, network_header);
		if (ls_parse_l3(head + nh, BPF_CORE_READ(skb, protocol), &t) || !ls_tuple_ok(&t))
			return 0;
		st.flow = flow_of(&t);
	}
	count_pkt(st.ifname, PKTLAT_TX, BPF_CORE_READ(skb, len), now);
	st.ts = now;
	bpf_map_update_elem(&lsc_start, &key, &st, BPF_ANY);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(lsc_pkt_recv, struct sk_buff *skb)
{
	struct ls_ifname rx = {};
	struct pktlat_start *st;
	struct ls_tuple t;
	__u64 now = bpf_ktime_get_ns();
	__u64 key = (__u64)skb;
	unsigned char *head, *data;
	__u16 mac;

	skb_ifname(skb, rx.name);
	st = bpf_map_lookup_elem(&lsc_start, &key);
	if (st) {
		__u64 delta = now - st->ts;
		if (now > st->ts && delta <= max_age_ns) {
			struct pktlat_lat_key lk;
			__builtin_memset(&lk, 0, sizeof(lk));
			__builtin_memcpy(lk.ifname, st->ifname, LS_IFNAMSIZ);
			__builtin_memcpy(lk.peer, rx.name, LS_IFNAMSIZ);
			lk.window = ls_window(now);
			lk.flow = st->flow;
			ls_hist_add(&lsc_lat, &lk, delta);
		} else {
			ls_stat_inc(LS_STAT_STALE);
		}
		bpf_map_delete_elem(&lsc_start, &key);
	}

	if (!ls_iface_ok(&rx))
		return 0;
	head = BPF_CORE_READ(skb, head);
	data = BPF_CORE_READ(skb, data);
	if (ls_need_tuple()) {
		if (ls_parse_l3(data, BPF_CORE_READ(skb, protocol), &t) || !ls_tuple_ok(&t))
			return 0;
	}
	/* count the link-layer header too, as the device counters do */
	mac = BPF_CORE_READ(skb, mac_header);
	count_pkt(rx.name, PKTLAT_RX, BPF_CORE_READ(skb, len) + (__u32)(data - (head + mac)), now);
	return 0;
}

SEC("tp_btf/consume_skb")
int BPF_PROG(lsc_skb_consume, struct sk_buff *skb)
{
	__u64 key = (__u64)skb;
	bpf_map_delete_elem(&lsc_start, &key);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(lsc_skb_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct pktlat_drop_key dk;
	struct ls_tuple t;
	__u64 key = (__u64)skb;

	bpf_map_delete_elem(&lsc_start, &key);
	if (!count_drops)
		return 0;
	__builtin_memset(&dk, 0, sizeof(dk));
	skb_ifname(skb, dk.ifname);
	if (!ls_iface_ok((struct ls_ifname *)dk.ifname))
		return 0;
	if (ls_need_tuple()) {
		unsigned char *head = BPF_CORE_READ(skb, head);
		__u16 nh = BPF_CORE_READ(skb, network_header);
		if (ls_parse_l3(head + nh, BPF_CORE_READ(skb, protocol), &t) || !ls_tuple_ok(&t))
			return 0;
	}
	dk.window = ls_window(bpf_ktime_get_ns());
	dk.reason = reason;
	ls_count_add(&lsc_drops, &dk, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
