/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel-side helpers every loadscope probe includes once: settings, filters, windows, histograms. */
#ifndef LS_COMMON_BPF_H
#define LS_COMMON_BPF_H

#define LS_AF_INET 2
#define LS_AF_INET6 10
#define LS_ETH_P_IP 0x0800
#define LS_ETH_P_IPV6 0x86DD
#define LS_IPPROTO_TCP 6
#define LS_IPPROTO_UDP 17

#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif
#ifndef READ_ONCE
#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))
#endif
#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#endif

/* Window grid: window w covers [ls_win_t0 + w*ls_win_ns, +ls_win_ns) in CLOCK_MONOTONIC ns. */
const volatile __u64 ls_win_t0 = 0;
const volatile __u64 ls_win_ns = 1000000000ULL;
const volatile bool ls_filt_ifaces = false;
const volatile bool ls_filt_ports = false;
const volatile bool ls_filt_cidrs = false;
/* The interface and port filters are read-only data set before load: no map lookup per packet. */
const volatile __u32 ls_n_ifaces = 0;
const volatile struct ls_ifname ls_ifaces[LS_MAX_IFACES] = {};
const volatile __u64 ls_port_bits[LS_PORT_WORDS] = {};
/* Name prefixes, tried only for a name that is not in ls_ifaces (a match has no filter index). */
const volatile __u32 ls_n_ifprefixes = 0;
const volatile struct ls_ifprefix ls_ifprefixes[LS_MAX_IFPREFIXES] = {};
/* The address filter inline (ls_n_icidrs prefixes), or 0 with ls_filt_cidrs: the trie below. */
const volatile __u32 ls_n_icidrs = 0;
const volatile struct ls_cidr_words ls_icidrs[LS_INLINE_CIDRS] = {};

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
	union {
		__u8 saddr[16];
		__u64 sw[2];
	};
	union {
		__u8 daddr[16];
		__u64 dw[2];
	};
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u8 family;
	__u8 proto;
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

/*
 * Adds v to the histogram at key in a per-CPU hash map, creating it zeroed first. The adds are
 * plain, not atomic: this CPU's copy is only written by one program, and a program never runs
 * nested on one CPU (the kernel skips the nested run).
 */
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
	h->slots[slot] += 1;
	h->count += 1;
	h->sum += v;
}

/* Adds to a u64 counter at key in a per-CPU hash map (written by one program), creating it. */
static __always_inline void ls_count_add(void *map, const void *key, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(map, key);
	if (c) {
		*c += n;
		return;
	}
	if (bpf_map_update_elem(map, key, &n, BPF_NOEXIST)) {
		c = bpf_map_lookup_elem(map, key);
		if (c)
			*c += n;
		else
			ls_stat_inc(LS_STAT_MAP_FULL);
	}
}

/* Flags (0x80) the NUL bytes of w; the lowest flag is the first NUL exactly (higher ones may be false). */
static __always_inline __u64 ls_nul_flags(__u64 w)
{
	return (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
}

/* The bytes of w before the first NUL that z (ls_nul_flags(w), not 0) flags; little-endian. */
static __always_inline __u64 ls_before_nul(__u64 w, __u64 z)
{
	return w & (((z & -z) >> 7) - 1);
}

/* The device's name, zero-padded whatever follows its NUL in the kernel; "-" without a device. */
static __always_inline void ls_dev_name(const struct net_device *dev, struct ls_ifname *n)
{
	__u64 w0, w1, z;
	if (!dev) {
		n->w[0] = '-';
		n->w[1] = 0;
		return;
	}
	w0 = *(const __u64 *)&dev->name[0];
	w1 = *(const __u64 *)&dev->name[8];
	if ((z = ls_nul_flags(w0))) {
		n->w[0] = ls_before_nul(w0, z);
		n->w[1] = 0;
	} else {
		n->w[0] = w0;
		z = ls_nul_flags(w1);
		n->w[1] = z ? ls_before_nul(w1, z) : w1;
	}
}

/* A name that matches an interface prefix of the filter: in it, but with no index of its own. */
#define LS_IFACE_PREFIX LS_MAX_IFACES

/*
 * Index of the name in the interface filter, LS_IFACE_PREFIX when only a prefix matches it, or -1
 * (also when there is no interface filter).
 */
static __always_inline int ls_iface_find(const struct ls_ifname *n)
{
	for (__u32 i = 0; i < LS_MAX_IFACES; i++) {
		if (i >= ls_n_ifaces)
			break;
		if (ls_ifaces[i].w[0] == n->w[0] && ls_ifaces[i].w[1] == n->w[1])
			return i;
	}
	for (__u32 i = 0; i < LS_MAX_IFPREFIXES; i++) {
		if (i >= ls_n_ifprefixes)
			break;
		if ((n->w[0] & ls_ifprefixes[i].mask[0]) == ls_ifprefixes[i].w[0] &&
		    (n->w[1] & ls_ifprefixes[i].mask[1]) == ls_ifprefixes[i].w[1])
			return LS_IFACE_PREFIX;
	}
	return -1;
}

static __always_inline bool ls_iface_ok(const struct ls_ifname *n)
{
	return !ls_filt_ifaces || ls_iface_find(n) >= 0;
}

static __always_inline bool ls_port_in(__u16 port)
{
	return (ls_port_bits[port >> 6] >> (port & 63)) & 1;
}

/* Port filter alone (no addresses needed): either side's port is in the set. */
static __always_inline bool ls_ports_ok(__u16 sport, __u16 dport)
{
	return !ls_filt_ports || ls_port_in(sport) || ls_port_in(dport);
}

/* Whether a v4-mapped address, as two words in memory order, is in the address filter. */
static __always_inline bool ls_addr_in(__u64 a0, __u64 a1)
{
	struct ls_cidr_key k = { .prefixlen = 128 };

	if (ls_n_icidrs) {
		for (__u32 i = 0; i < LS_INLINE_CIDRS; i++) {
			if (i >= ls_n_icidrs)
				break;
			if ((a0 & ls_icidrs[i].mask[0]) == ls_icidrs[i].net[0] && (a1 & ls_icidrs[i].mask[1]) == ls_icidrs[i].net[1])
				return true;
		}
		return false;
	}
	__builtin_memcpy(k.addr, &a0, 8);
	__builtin_memcpy(k.addr + 8, &a1, 8);
	return bpf_map_lookup_elem(&lsc_f_cidrs, &k) != NULL;
}

/* The second word of ::ffff:a.b.c.d, from the address as it lies in memory (a raw 32-bit load). */
#define LS_V4_MAPPED_W1(raw32) (0xffff0000ULL | ((__u64)(raw32) << 32))

static __always_inline bool ls_need_tuple(void)
{
	return ls_filt_ports || ls_filt_cidrs;
}

/* Port and address filters: a tuple matches if either side's port / address is in the set. */
static __always_inline bool ls_tuple_ok(const struct ls_tuple *t)
{
	if (!ls_ports_ok(t->sport, t->dport))
		return false;
	if (ls_filt_cidrs && !(ls_addr_in(t->sw[0], t->sw[1]) || ls_addr_in(t->dw[0], t->dw[1])))
		return false;
	return true;
}

/* ::ffff:a.b.c.d into two words, from the address as it lies in memory (network order). */
static __always_inline void ls_v4_mapped(__u64 *w, __u32 be_addr)
{
	w[0] = 0;
	w[1] = LS_V4_MAPPED_W1(be_addr);
}

#define LS_GOLDEN 0x9E3779B97F4A7C15ULL

static __always_inline __u64 ls_mix(__u64 h, __u64 v)
{
	return (h ^ v) * LS_GOLDEN;
}

/* Index of v among 2^bits slots (multiplicative hashing). */
static __always_inline __u32 ls_hash_bits(__u64 v, int bits)
{
	return (v * LS_GOLDEN) >> (64 - bits);
}

/*
 * A kernel pointer as a plain number, for hashing and comparing: the verifier allows no math on a
 * kernel pointer but the difference of two pointers, so it is taken relative to one of our globals.
 */
#define LS_PTR_ID(p) ((__u64)(p) - (__u64)&ls_win_t0)

/* The kernel's read-only cast: typed, fault-safe loads from kernel memory without a helper call. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define LS_CAST(ptr, type) ((const type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))
/* The same as untyped memory (type id 0): loads of any size at any offset, e.g. a header as words. */
#define LS_WORDS(ptr) ((const __u64 *)bpf_rdonly_cast((ptr), 0))

/* What the filters and the pairing need from a packet's headers (the addresses stay in the packet). */
struct ls_pkt {
	__u64 fp;    /* fingerprint, below */
	__u16 sport; /* host order; 0 without TCP/UDP */
	__u16 dport;
	__u8 proto;
	__u8 v6;
};

/*
 * Reads the IP header at l3 and the TCP/UDP ports behind it into *p. Returns 0 when it is
 * IPv4/IPv6. p->fp is a fingerprint of the packet made of fields inside it only (IP length, id,
 * addresses; TCP ports, seq and ack; the UDP header): the same packet gives the same value on the
 * way out and on the way in, another packet practically never. The headers are read as 64-bit words
 * and nothing is copied: this runs twice per packet, and its code is part of what each packet costs.
 */
static __always_inline int ls_peek_l3(const void *l3, __u16 eth_proto_be, struct ls_pkt *p)
{
	const __u64 *w = LS_WORDS(l3);
	__u32 l4off;
	__u64 h;

	if (eth_proto_be == bpf_htons(LS_ETH_P_IP)) {
		__u64 w0 = w[0], w1 = w[1];
		__u32 vihl = w0 & 0xff;
		if ((vihl >> 4) != 4 || (vihl & 15) < 5)
			return -1;
		p->v6 = 0;
		p->proto = (w1 >> 8) & 0xff;
		/* bytes 0-7 but the type of service (length, id, fragment), the protocol, the addresses */
		h = ls_mix(ls_mix(0, (w0 & ~0xff00ULL) | (__u64)p->proto << 8), (w1 & 0xffffffff00000000ULL) | (w[2] & 0xffffffff));
		/* the transport header follows unless this is a later fragment */
		l4off = ((w0 >> 48) & bpf_htons(0x1fff)) ? 0 : (vihl & 15) * 4;
	} else if (eth_proto_be == bpf_htons(LS_ETH_P_IPV6)) {
		p->v6 = 1;
		p->proto = (w[0] >> 48) & 0xff; /* next header: byte 6 */
		/* version, class, flow label, payload length, next header, hop limit, addresses */
		h = ls_mix(ls_mix(ls_mix(0, w[0]), w[1]), w[2]);
		h = ls_mix(ls_mix(h, w[3]), w[4]);
		l4off = 40;
	} else {
		return -1;
	}
	p->sport = 0;
	p->dport = 0;
	if (l4off && (p->proto == LS_IPPROTO_TCP || p->proto == LS_IPPROTO_UDP)) {
		/* TCP: ports, seq, ack; UDP: ports, length, checksum */
		const __u64 *l4 = LS_WORDS((const __u8 *)l3 + l4off);
		__u64 p0 = l4[0];
		p->sport = bpf_ntohs((__u16)(p0 & 0xffff));
		p->dport = bpf_ntohs((__u16)((p0 >> 16) & 0xffff));
		h = ls_mix(h, p->proto == LS_IPPROTO_TCP ? ls_mix(p0, l4[1]) : p0);
	}
	p->fp = h;
	return 0;
}

/* The port and address filters on a packet ls_peek_l3 read: either side's port / address is in the set. */
static __always_inline bool ls_pkt_ok(const struct ls_pkt *p, const void *l3)
{
	const __u64 *w;

	if (!ls_ports_ok(p->sport, p->dport))
		return false;
	if (!ls_filt_cidrs)
		return true;
	w = LS_WORDS(l3);
	/* IPv6: source in bytes 8-23, destination in 24-39; IPv4: source in 12-15, destination in 16-19 */
	if (p->v6)
		return ls_addr_in(w[1], w[2]) || ls_addr_in(w[3], w[4]);
	return ls_addr_in(0, LS_V4_MAPPED_W1(w[1] >> 32)) || ls_addr_in(0, LS_V4_MAPPED_W1(w[2] & 0xffffffff));
}

/* The socket's tuple: s = local side, d = remote side. Works for full and request sockets. */
static __always_inline void ls_sock_tuple(const struct sock_common *skc, struct ls_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->family = skc->skc_family;
	t->proto = LS_IPPROTO_TCP;
	t->sport = skc->skc_num;
	t->dport = bpf_ntohs(skc->skc_dport);
	if (t->family == LS_AF_INET) {
		ls_v4_mapped(t->sw, skc->skc_rcv_saddr);
		ls_v4_mapped(t->dw, skc->skc_daddr);
	} else {
		__builtin_memcpy(t->saddr, (const void *)&skc->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(t->daddr, (const void *)&skc->skc_v6_daddr, 16);
	}
}

#endif
