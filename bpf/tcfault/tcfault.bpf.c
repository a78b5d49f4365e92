// SPDX-License-Identifier: Apache-2.0
/*
 * tcfault: a fault on the wire. Attached by tcx (a bpf_link per interface and direction, gone with its
 * loader) to the host end of pod veths, it drops a share of the IPv4 packets crossing them (packet-loss),
 * or every packet to or from a set of peer addresses (partition). Non-IPv4 frames (ARP) always pass.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "tcfault.h"

#define ETH_P_IP 0x0800

/* A packet is dropped when bpf_get_prandom_u32() < drop_below (drop_all: every packet). */
const volatile __u32 drop_below = 0;
const volatile bool drop_all = false;
/* Only packets whose other end is in tcf_peers count (partition). */
const volatile bool peers_only = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCF_MAX_PEERS);
	__type(key, __u32); /* IPv4 address, network order */
	__type(value, __u8);
} tcf_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCF_STAT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} tcf_stats SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&tcf_stats, &idx);
	if (v)
		(*v)++;
}

/* to_pod: the packet leaves the host end towards the pod (tcx egress), so its other end is the source. */
static __always_inline int decide(struct __sk_buff *skb, bool to_pod)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TCX_NEXT;
	if (peers_only) {
		__u32 other = to_pod ? ip->saddr : ip->daddr;
		if (!bpf_map_lookup_elem(&tcf_peers, &other))
			return TCX_NEXT;
	}
	stat_inc(TCF_STAT_SEEN);
	if (drop_all || bpf_get_prandom_u32() < drop_below) {
		stat_inc(TCF_STAT_DROPPED);
		return TCX_DROP;
	}
	return TCX_NEXT;
}

SEC("tc")
int tcf_from_pod(struct __sk_buff *skb)
{
	return decide(skb, false);
}

SEC("tc")
int tcf_to_pod(struct __sk_buff *skb)
{
	return decide(skb, true);
}

char LICENSE[] SEC("license") = "GPL";
