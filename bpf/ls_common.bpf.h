/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel-side helpers every loadscope probe includes once: settings, filter maps, windows, histograms. */
#ifndef LS_COMMON_BPF_H
#define LS_COMMON_BPF_H

#define LS_AF_INET 2
#define LS_AF_INET6 10
#define LS_ETH_P_IP 0x0800
#define LS_ETH_P_IPV6 0x86DD
#define LS_IPPROTO_TCP 6
#define LS_IPPROTO_UDP 17

/* Window grid: window w covers [ls_win_t0 + w*ls_win_ns, +ls_win_ns) in CLOCK_MONOTONIC ns. */
const volatile __u64 ls_win_t0 = 0;
const volatile __u64 ls_win_ns = 1000000000ULL;
const volatile bool ls_filt_ifaces = false;
const volatile bool ls_filt_ports = false;
const volatile bool ls_filt_cidrs = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct ls_ifname);
	__type(value, __u8);
} lsc_f_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u16);
	__type(value, __u8);
} lsc_f_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ls_cidr_key);
	__type(value, __u8);
} lsc_f_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LS_STAT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} lsc_stats SEC(".maps");

/* One zeroed histogram, the initial value for new histogram keys (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ls_hist);
} lsc_zero SEC(".maps");

/* What the filters look at in a packet or socket. Addresses are v4-mapped for IPv4. */
struct ls_tuple {
	__u8 family;
	__u8 proto;
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline void ls_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&lsc_stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline __u32 ls_window(__u64 ts)
{
	if (ts < ls_win_t0)
		return 0;
	return (ts - ls_win_t0) / ls_win_ns;
}

static __always_inline __u32 ls_log2_32(__u32 v)
{
	__u32 r, s;
	r = (v > 0xFFFF) << 4; v >>= r;
	s = (v > 0xFF) << 3; v >>= s; r |= s;
	s = (v > 0xF) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	return r | (v >> 1);
}

static __always_inline __u32 ls_log2_64(__u64 v)
{
	__u32 hi = v >> 32;
	return hi ? ls_log2_32(hi) + 32 : ls_log2_32((__u32)v);
}

static __always_inline __u64 ls_hist_slot(__u64 v)
{
	__u64 e, slot;
	if (v < 16)
		return v;
	e = ls_log2_64(v);
	if (e > LS_HIST_MAX_EXP)
		return LS_HIST_SLOTS - 1;
	slot = 16 + (e - 4) * 8 + ((v >> (e - LS_HIST_SUB_BITS)) & 7);
	return slot < LS_HIST_SLOTS ? slot : LS_HIST_SLOTS - 1;
}

/* Adds v to the histogram at key in map, creating it zeroed first. */
static __always_inline void ls_hist_add(void *map, const void *key, __u64 v)
{
	struct ls_hist *h = bpf_map_lookup_elem(map, key);
	__u32 zero = 0;
	__u64 slot;
	if (!h) {
		struct ls_hist *z = bpf_map_lookup_elem(&lsc_zero, &zero);
		if (!z)
			return;
		if (bpf_map_update_elem(map, key, z, BPF_NOEXIST) && bpf_map_lookup_elem(map, key) == NULL) {
			ls_stat_inc(LS_STAT_MAP_FULL);
			return;
		}
		h = bpf_map_lookup_elem(map, key);
		if (!h)
			return;
	}
	slot = ls_hist_slot(v);
	barrier_var(slot);
	if (slot >= LS_HIST_SLOTS)
		slot = LS_HIST_SLOTS - 1;
	barrier_var(slot);
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum, v);
}

/* Adds to a u64 counter at key in map, creating it. */
static __always_inline void ls_count_add(void *map, const void *key, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(map, key);
	if (c) {
		__sync_fetch_and_add(c, n);
		return;
	}
	if (bpf_map_update_elem(map, key, &n, BPF_NOEXIST)) {
		c = bpf_map_lookup_elem(map, key);
		if (c)
			__sync_fetch_and_add(c, n);
		else
			ls_stat_inc(LS_STAT_MAP_FULL);
	}
}

static __always_inline bool ls_iface_ok(const struct ls_ifname *n)
{
	return !ls_filt_ifaces || bpf_map_lookup_elem(&lsc_f_ifaces, n) != NULL;
}

static __always_inline bool ls_port_in(__u16 port)
{
	return bpf_map_lookup_elem(&lsc_f_ports, &port) != NULL;
}

static __always_inline bool ls_addr_in(const __u8 *addr)
{
	struct ls_cidr_key k = { .prefixlen = 128 };
	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&lsc_f_cidrs, &k) != NULL;
}

static __always_inline bool ls_need_tuple(void)
{
	return ls_filt_ports || ls_filt_cidrs;
}

/* Port and address filters: a tuple matches if either side's port / address is in the set. */
static __always_inline bool ls_tuple_ok(const struct ls_tuple *t)
{
	if (ls_filt_ports && !(ls_port_in(t->sport) || ls_port_in(t->dport)))
		return false;
	if (ls_filt_cidrs && !(ls_addr_in(t->saddr) || ls_addr_in(t->daddr)))
		return false;
	return true;
}

static __always_inline void ls_v4_mapped(__u8 *dst, __u32 be_addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &be_addr, 4);
}

/* Reads the IP header at l3 (and TCP/UDP ports behind it). Returns 0 when it is IPv4/IPv6. */
static __always_inline int ls_parse_l3(const void *l3, __u16 eth_proto_be, struct ls_tuple *t)
{
	__u16 ports[2] = {};
	const void *l4;
	__builtin_memset(t, 0, sizeof(*t));
	if (eth_proto_be == bpf_htons(LS_ETH_P_IP)) {
		struct iphdr ih;
		if (bpf_probe_read_kernel(&ih, sizeof(ih), l3) || ih.version != 4)
			return -1;
		t->family = LS_AF_INET;
		t->proto = ih.protocol;
		ls_v4_mapped(t->saddr, ih.saddr);
		ls_v4_mapped(t->daddr, ih.daddr);
		if (ih.frag_off & bpf_htons(0x1fff))
			return 0;
		l4 = l3 + ih.ihl * 4;
	} else if (eth_proto_be == bpf_htons(LS_ETH_P_IPV6)) {
		struct ipv6hdr ih;
		if (bpf_probe_read_kernel(&ih, sizeof(ih), l3))
			return -1;
		t->family = LS_AF_INET6;
		t->proto = ih.nexthdr;
		__builtin_memcpy(t->saddr, &ih.saddr, 16);
		__builtin_memcpy(t->daddr, &ih.daddr, 16);
		l4 = l3 + sizeof(ih);
	} else {
		return -1;
	}
	if (t->proto == LS_IPPROTO_TCP || t->proto == LS_IPPROTO_UDP) {
		if (bpf_probe_read_kernel(ports, sizeof(ports), l4) == 0) {
			t->sport = bpf_ntohs(ports[0]);
			t->dport = bpf_ntohs(ports[1]);
		}
	}
	return 0;
}

/* The socket's tuple: s = local side, d = remote side. Works for full and request sockets. */
static __always_inline void ls_sock_tuple(const struct sock_common *skc, struct ls_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->family = BPF_CORE_READ(skc, skc_family);
	t->proto = LS_IPPROTO_TCP;
	t->sport = BPF_CORE_READ(skc, skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	if (t->family == LS_AF_INET) {
		ls_v4_mapped(t->saddr, BPF_CORE_READ(skc, skc_rcv_saddr));
		ls_v4_mapped(t->daddr, BPF_CORE_READ(skc, skc_daddr));
	} else {
		BPF_CORE_READ_INTO(t->saddr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(t->daddr, skc, skc_v6_daddr.in6_u.u6_addr8);
	}
}

#endif
