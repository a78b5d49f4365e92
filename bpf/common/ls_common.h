/* SPDX-License-Identifier: Apache-2.0 */
/* Structs shared by every loadscope probe, kernel side and loader side. */
#ifndef LS_COMMON_H
#define LS_COMMON_H

#define LS_IFNAMSIZ 16
#define LS_MAX_IFACES 64
/* Interface name prefixes ("--iface NAME*"): interfaces that may appear after the loader started. */
#define LS_MAX_IFPREFIXES 8
/* Port filter: one bit per port, 65536 bits. */
#define LS_PORT_WORDS (65536 / 64)

/*
 * Log-linear histogram: values 0..15 get one slot each; above that every power of two
 * [2^e, 2^(e+1)) is split into 8 equal slots, so a slot is at most 1/8 = 12.5% of its lower
 * bound wide. e runs 4..LS_HIST_MAX_EXP; larger values land in the last slot.
 */
#define LS_HIST_SUB_BITS 3
#define LS_HIST_MAX_EXP 39
#define LS_HIST_SLOTS (16 + (LS_HIST_MAX_EXP - 3) * 8)

struct ls_hist {
	__u64 count;
	__u64 sum;
	__u64 slots[LS_HIST_SLOTS];
};

/* LPM trie key for the address filter; IPv4 is stored v4-mapped (::ffff:a.b.c.d). */
struct ls_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/*
 * Address filters of at most LS_INLINE_CIDRS prefixes are compared in the program, word by word: a
 * trie lookup is a helper call and a walk, twice per packet. Larger filters use the LPM trie.
 * A prefix is kept v4-mapped, as two 64-bit words in memory order: (address & mask) == net.
 */
#define LS_INLINE_CIDRS 8
struct ls_cidr_words {
	__u64 net[2];
	__u64 mask[2];
};

/* An interface name, zero-padded; the kernel side compares it as two words. */
struct ls_ifname {
	union {
		char name[LS_IFNAMSIZ];
		__u64 w[2];
	};
};

/* An interface name prefix: a name matches when (name & mask) == w, word by word. */
struct ls_ifprefix {
	__u64 w[2];
	__u64 mask[2];
};

/* Indexes into the per-CPU stats array every probe has. */
enum ls_stat {
	LS_STAT_RB_LOST = 0,   /* ring buffer reserve failed: a sampled record was lost */
	LS_STAT_MAP_FULL = 1,  /* an aggregation map was full: a count was lost */
	LS_STAT_STALE = 2,     /* pktlat: an entry met at receive was older than max_age or another packet's */
	LS_STAT_OVERWRITTEN = 3, /* pktlat: a queue entry within max_age replaced by another before its receive */
	LS_STAT__MAX = 4,
};

#endif
