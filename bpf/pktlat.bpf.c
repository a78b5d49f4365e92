// SPDX-License-Identifier: GPL-2.0
/* pktlat: per-packet latency net_dev_queue -> netif_receive_skb, packet counts, drops by reason. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "pktlat.h"
#include "ls_common.bpf.h"

/* In-flight slots: 2^16, about 30 times more than the packets in flight on a busy veth pair. */
#define PKTLAT_SLOT_BITS 16

const volatile __u64 max_age_ns = 1000000000ULL;

/*
 * Fidelity. With time_all every packet is timed. Otherwise (sampled) a packet is timed when the
 * 32-bit hash of its fingerprint is below the threshold of the window it was queued in: 2^32 / N
 * for 1 in N. The loader moves N only at a window boundary it names: samp_old holds before window
 * samp_from, samp_new from it on. It writes samp_old, then samp_from, then samp_new, so a reader
 * never mixes two decisions. The hash is of fields inside the packet: both hooks agree on it.
 */
const volatile bool time_all = true;
volatile __u32 samp_from = 0;
volatile __u64 samp_old = 0; /* set by the loader before load */
volatile __u64 samp_new = 0;

/*
 * Direct-mapped by skb address: no allocation, lock or cleanup per packet. A new packet simply
 * takes its slot; an entry nobody receives is overwritten (counted when it was within max_age) or
 * never matches again.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << PKTLAT_SLOT_BITS);
	__type(key, __u32);
	__type(value, struct pktlat_start);
} lsc_start SEC(".maps");

/* The aggregates are per CPU: no shared cache line, no atomic add per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 2048);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pktlat_lat_key);
	__type(value, struct ls_hist);
} lsc_lat SEC(".maps");

/* See struct pktlat_lat_ring; the loader sizes it (1 entry when unused) and sets lat_ring_on. */
const volatile bool lat_ring_on = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PKTLAT_RING * PKTLAT_LAT_RING_IFACES * PKTLAT_LAT_RING_IFACES * 3);
	__type(key, __u32);
	__type(value, struct pktlat_lat_ring);
} lsc_lat_ring SEC(".maps");

/* One zeroed struct pktlat_lat_ring, to start a window's histogram with (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pktlat_lat_ring);
} lsc_lat_zero SEC(".maps");

/* Counts without an interface filter, where any interface name may turn up. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pktlat_cnt_key);
	__type(value, struct pktlat_cnt);
} lsc_pkts SEC(".maps");

/*
 * Counts with an interface filter: slot ((window % PKTLAT_RING) * ls_n_ifaces + iface) * 2 + dir - 1,
 * an array lookup instead of hashing a key. The loader sizes it to the filter before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PKTLAT_RING * LS_MAX_IFACES * 2);
	__type(key, __u32);
	__type(value, struct pktlat_ring_cnt);
} lsc_pkt_ring SEC(".maps");

/* The first window the loader has not emitted from lsc_pkt_ring yet; the loader moves it. */
volatile __u32 ring_drained = 0;

/*
 * The current window without a clock read per packet: a BPF timer (an hrtimer on CLOCK_MONOTONIC)
 * fires at every window boundary and stores window + 1 in win_cur1; 0 until the first packet reads
 * the clock and starts it. A packet between a boundary and the timer's callback (microseconds
 * late) counts in the window before; win_late_max_ns is the latest callback seen, for the end record.
 */
volatile __u32 win_cur1 = 0;
volatile __u64 win_late_max_ns = 0;

#define LS_CLOCK_MONOTONIC 1
#define LS_TIMER_ABS 1 /* BPF_F_TIMER_ABS: the expiry is a CLOCK_MONOTONIC time, not a delay */

struct win_timer {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct win_timer);
} lsc_win_timer SEC(".maps");

static __always_inline __u64 win_begin(__u32 w)
{
	return ls_win_t0 + (__u64)w * ls_win_ns;
}

static int win_tick(void *map, __u32 *key, struct win_timer *v)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 w = ls_window(now);

	if (now >= ls_win_t0 && now - win_begin(w) > win_late_max_ns)
		win_late_max_ns = now - win_begin(w);
	WRITE_ONCE(win_cur1, w + 1);
	bpf_timer_start(&v->t, win_begin(w + 1), LS_TIMER_ABS);
	return 0;
}

/* The window from the clock, starting the boundary timer if nobody has (one caller wins its init). */
static __noinline __u32 win_from_clock(void)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 w = ls_window(now), zero = 0;
	struct win_timer *v = bpf_map_lookup_elem(&lsc_win_timer, &zero);

	if (v && bpf_timer_init(&v->t, &lsc_win_timer, LS_CLOCK_MONOTONIC) == 0) {
		bpf_timer_set_callback(&v->t, win_tick);
		/* set before the start, so that a callback right after it is the one that stays */
		WRITE_ONCE(win_cur1, w + 1);
		if (bpf_timer_start(&v->t, win_begin(w + 1), LS_TIMER_ABS))
			WRITE_ONCE(win_cur1, 0); /* no timer: every packet reads the clock */
	}
	return w;
}

/* A callback later than the loader's drain (GRACE_NS) would count into an emitted window: the next one takes it. */
static __always_inline __u32 cur_window(void)
{
	__u32 w1 = READ_ONCE(win_cur1), d;

	if (!w1)
		return win_from_clock();
	d = READ_ONCE(ring_drained);
	return w1 - 1 >= d ? w1 - 1 : d;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pktlat_drop_key);
	__type(value, __u64);
} lsc_drops SEC(".maps");

static __always_inline struct pktlat_start *slot_of(__u64 skb)
{
	__u32 i = ls_hash_bits(skb, PKTLAT_SLOT_BITS);
	return bpf_map_lookup_elem(&lsc_start, &i);
}

static __always_inline __u64 samp_hash(__u64 fp)
{
	return ls_hash_bits(fp, 32);
}

static __always_inline __u8 flow_of(const struct ls_pkt *p)
{
	if (!ls_filt_ports)
		return PKTLAT_FLOW_ANY;
	if (ls_port_in(p->dport))
		return PKTLAT_FLOW_TO;
	if (ls_port_in(p->sport))
		return PKTLAT_FLOW_FROM;
	return PKTLAT_FLOW_ANY;
}

/*
 * Counts one packet of the interface at filter index ifslot (any, without an interface filter).
 * Each CPU's counts of one interface and direction are written by one program only.
 */
static __always_inline void count_pkt(const struct ls_ifname *ifname, int ifslot, __u8 dir, __u64 bytes, __u32 w)
{
	struct pktlat_cnt_key k;
	struct pktlat_cnt *c, init = { .packets = 1, .bytes = bytes };

	/* a name matched by a prefix only has no ring slot: it is counted by name, as without a filter */
	if (ls_filt_ifaces && (__u32)ifslot < ls_n_ifaces) {
		__u32 idx = (((w & (PKTLAT_RING - 1)) * ls_n_ifaces + ifslot) << 1) + dir - 1;
		struct pktlat_ring_cnt *r = bpf_map_lookup_elem(&lsc_pkt_ring, &idx);
		if (!r)
			return;
		if (r->window1 != w + 1) {
			/* a window the loader has not emitted yet is overwritten: it fell PKTLAT_RING behind */
			if (r->window1 && r->window1 - 1 >= ring_drained && r->packets)
				ls_stat_inc(LS_STAT_MAP_FULL);
			r->window1 = w + 1;
			r->packets = 0;
			r->bytes = 0;
		}
		r->packets += 1;
		r->bytes += bytes;
		return;
	}
	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.ifname, ifname->name, LS_IFNAMSIZ);
	k.window = w;
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
	c->packets += 1;
	c->bytes += bytes;
}

/*
 * Adds v to the ring histogram of window w, queue interface q, receive interface r and flow; false
 * when the slot cannot be had. A slot still holding a window the loader has not emitted (it fell
 * PKTLAT_RING behind) is counted as lost and started over.
 */
static __always_inline bool lat_ring_add(__u32 w, __u32 q, __u32 r, __u8 flow, __u64 v)
{
	__u32 idx = (((w & (PKTLAT_RING - 1)) * ls_n_ifaces + q) * ls_n_ifaces + r) * 3 + flow, zero = 0;
	struct pktlat_lat_ring *e = bpf_map_lookup_elem(&lsc_lat_ring, &idx), *z;
	__u64 slot;

	if (!e)
		return false;
	if (e->window1 != w + 1) {
		if (e->window1 && e->window1 - 1 >= ring_drained && e->h.count)
			ls_stat_inc(LS_STAT_MAP_FULL);
		z = bpf_map_lookup_elem(&lsc_lat_zero, &zero);
		/* a program's update of a per-CPU array writes this CPU's copy only */
		if (!z || bpf_map_update_elem(&lsc_lat_ring, &idx, z, BPF_ANY))
			return false;
		e->window1 = w + 1;
	}
	slot = ls_hist_slot(v);
	barrier_var(slot);
	if (slot >= LS_HIST_SLOTS)
		slot = LS_HIST_SLOTS - 1;
	barrier_var(slot);
	e->h.slots[slot] += 1;
	e->h.count += 1;
	e->h.sum += v;
	return true;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(lsc_pkt_queue, struct sk_buff *skb)
{
	struct ls_ifname dev;
	struct pktlat_start *st;
	struct ls_pkt pk = {}; /* all set: no path reads a field the header did not fill */
	const void *l3;
	__u64 now, key;
	__u8 flow = PKTLAT_FLOW_ANY;
	int bad, ifslot;
	__u32 w;

	ls_dev_name(skb->dev, &dev);
	ifslot = ls_iface_find(&dev);
	if (ls_filt_ifaces && ifslot < 0)
		return 0;
	l3 = skb->head + skb->network_header;
	bad = ls_peek_l3(l3, skb->protocol, &pk);
	if (ls_need_tuple()) {
		if (bad || !ls_pkt_ok(&pk, l3))
			return 0;
		flow = flow_of(&pk);
	}
	if (bad)
		pk.fp = 0; /* not IP (only without a port or address filter): paired by address and age */
	w = cur_window();
	count_pkt(&dev, ifslot, PKTLAT_TX, skb->len, w);
	if (!time_all && samp_hash(pk.fp) >= (w >= samp_from ? samp_new : samp_old))
		return 0; /* counted, not timed: no clock read */

	now = bpf_ktime_get_ns();
	key = LS_PTR_ID(skb);
	st = slot_of(key);
	if (!st)
		return 0;
	/* an entry still waiting for its receive, within max_age, loses its pair: counted, not silent */
	if (READ_ONCE(st->skb) && now - st->ts <= max_age_ns)
		ls_stat_inc(LS_STAT_OVERWRITTEN);
	/* free the slot first and fill it in last, so a receive never takes half of two entries */
	WRITE_ONCE(st->skb, 0);
	barrier();
	st->ts = now;
	st->fp = pk.fp;
	__builtin_memcpy(st->ifname, dev.name, LS_IFNAMSIZ);
	st->flow = flow;
	st->ifslot = (__u32)ifslot < ls_n_ifaces ? ifslot : PKTLAT_NO_SLOT;
	barrier();
	WRITE_ONCE(st->skb, key);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(lsc_pkt_recv, struct sk_buff *skb)
{
	struct ls_ifname rx;
	struct pktlat_start *st = NULL;
	struct pktlat_lat_key lk;
	struct ls_pkt pk = {}; /* all set: no path reads a field the header did not fill */
	unsigned char *head, *data;
	__u64 now, ts, sfp, thr_old, thr_new, key = LS_PTR_ID(skb);
	__u8 qslot, flow;
	bool paired = false, counted, bad, ring;
	int ifslot;
	__u32 w;

	if (time_all) {
		st = slot_of(key);
		paired = st && READ_ONCE(st->skb) == key;
	}
	ls_dev_name(skb->dev, &rx);
	ifslot = ls_iface_find(&rx);
	counted = !ls_filt_ifaces || ifslot >= 0;
	if (time_all && !paired && !counted)
		return 0;

	head = skb->head;
	data = skb->data;
	bad = ls_peek_l3(data, skb->protocol, &pk);
	if (bad)
		pk.fp = 0;
	if (!time_all) {
		/* only a packet timed at its queueing (under either threshold in force) has a slot to meet */
		thr_old = samp_old;
		thr_new = samp_new;
		st = NULL;
		paired = false;
		if (samp_hash(pk.fp) < (thr_old > thr_new ? thr_old : thr_new)) {
			st = slot_of(key);
			paired = st && READ_ONCE(st->skb) == key;
		}
		if (!paired && !counted)
			return 0;
	}
	w = cur_window();

	if (st && paired) {
		now = bpf_ktime_get_ns(); /* only a timed packet reads the clock */
		ts = st->ts;
		sfp = st->fp;
		qslot = st->ifslot;
		flow = st->flow;
		/* the ring when both interfaces are in a small filter, else the hash map keyed by name */
		ring = lat_ring_on && (__u32)ifslot < ls_n_ifaces && qslot < ls_n_ifaces && flow <= PKTLAT_FLOW_FROM;
		if (!ring) {
			__builtin_memset(&lk, 0, sizeof(lk));
			__builtin_memcpy(lk.ifname, st->ifname, LS_IFNAMSIZ);
		}
		barrier();
		/* still the same entry after reading it, and the same packet: pair, and free the slot */
		if (READ_ONCE(st->skb) == key && sfp == pk.fp && now >= ts && now - ts <= max_age_ns) {
			WRITE_ONCE(st->skb, 0);
			if (ring) {
				if (!lat_ring_add(w, qslot, ifslot, flow, now - ts))
					ls_stat_inc(LS_STAT_MAP_FULL);
			} else {
				__builtin_memcpy(lk.peer, rx.name, LS_IFNAMSIZ);
				lk.window = w;
				lk.flow = flow;
				ls_hist_add(&lsc_lat, &lk, now - ts);
			}
		} else {
			ls_stat_inc(LS_STAT_STALE);
		}
	}

	if (!counted)
		return 0;
	if (ls_need_tuple() && (bad || !ls_pkt_ok(&pk, data)))
		return 0;
	/* count the link-layer header too, as the device counters do */
	count_pkt(&rx, ifslot, PKTLAT_RX, skb->len + (__u32)(data - (head + skb->mac_header)), w);
	return 0;
}

/* Not loaded with --no-drops. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(lsc_skb_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct pktlat_drop_key dk;
	struct ls_ifname dev;
	struct ls_pkt pk = {}; /* all set: no path reads a field the header did not fill */
	const void *l3;

	ls_dev_name(skb->dev, &dev);
	if (!ls_iface_ok(&dev))
		return 0;
	if (ls_need_tuple()) {
		l3 = skb->head + skb->network_header;
		if (ls_peek_l3(l3, skb->protocol, &pk) || !ls_pkt_ok(&pk, l3))
			return 0;
	}
	__builtin_memset(&dk, 0, sizeof(dk));
	__builtin_memcpy(dk.ifname, dev.name, LS_IFNAMSIZ);
	dk.window = cur_window();
	dk.reason = reason;
	ls_count_add(&lsc_drops, &dk, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
