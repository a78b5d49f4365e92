// SPDX-License-Identifier: GPL-2.0
/* tcpwatch: smoothed RTT histograms, retransmits and connection lifecycle for the run's TCP traffic. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tcpwatch.h"
#include "ls_common.bpf.h"

#define LS_TCP_ESTABLISHED 1
#define LS_TCP_SYN_SENT 2
#define LS_TCP_SYN_RECV 3
#define LS_TCP_CLOSE 7

/* Ephemeral port range (net.ipv4.ip_local_port_range), to tell the service port without a port filter. */
const volatile __u16 eph_lo = 32768;
const volatile __u16 eph_hi = 60999;
/* srtt is sampled: at most once per socket per rtt_every_ns (0: on every ACK). */
const volatile __u64 rtt_every_ns = 10000000ULL;

#define TCPW_RTT_SLOT_BITS 14
/*
 * Sampled fidelity: srtt from lsc_tcp_iter, which the loader runs once per window over the sockets
 * of its network namespace, and once at each tracked connection's close (so a connection shorter
 * than a window counts too); lsc_tcp_probe is then not loaded, and no ACK runs a program.
 */
const volatile bool rtt_iter = false;

/* Per CPU, written by lsc_tcp_probe only: no atomic add per ACK. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tcpwatch_key);
	__type(value, struct ls_hist);
} lsc_rtt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tcpwatch_key);
	__type(value, struct tcpwatch_stats);
} lsc_tcp SEC(".maps");

/*
 * When each socket's srtt was last sampled, direct-mapped by socket address: one array slot per
 * ACK, no hash lookup. Two sockets sharing a slot only cost an extra sample now and then.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << TCPW_RTT_SLOT_BITS);
	__type(key, __u32);
	__type(value, struct tcpwatch_rtt_slot);
} lsc_rtt_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tcpwatch_conn);
} lsc_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} lsc_tcp_events SEC(".maps");

static __always_inline bool is_eph(__u16 p)
{
	return p >= eph_lo && p <= eph_hi;
}

/* Fills side, port and peer of key from the socket's tuple (known side wins over the port guess). */
static __always_inline void key_of(struct tcpwatch_key *k, const struct ls_tuple *t, __u8 known_side)
{
	__u8 side = known_side;
	if (!side) {
		if (ls_filt_ports)
			side = ls_port_in(t->dport) ? TCPW_CLIENT : ls_port_in(t->sport) ? TCPW_SERVER : TCPW_CLIENT;
		else if (is_eph(t->sport) != is_eph(t->dport))
			side = is_eph(t->sport) ? TCPW_CLIENT : TCPW_SERVER;
		else
			side = t->dport <= t->sport ? TCPW_CLIENT : TCPW_SERVER;
	}
	k->side = side;
	k->family = t->family;
	k->port = side == TCPW_CLIENT ? t->dport : t->sport;
	__builtin_memcpy(k->peer, t->daddr, 16);
}

static __always_inline struct tcpwatch_stats *stats_of(const struct tcpwatch_key *k)
{
	struct tcpwatch_stats *s = bpf_map_lookup_elem(&lsc_tcp, k), zero = {};
	if (s)
		return s;
	if (bpf_map_update_elem(&lsc_tcp, k, &zero, BPF_NOEXIST) && !(s = bpf_map_lookup_elem(&lsc_tcp, k))) {
		ls_stat_inc(LS_STAT_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&lsc_tcp, k);
}

static __always_inline __u8 known_side(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct tcpwatch_conn *c = bpf_map_lookup_elem(&lsc_conns, &key);
	return c ? c->side : 0;
}

/*
 * True when this ACK's srtt is to be sampled: none of the socket's for rtt_every_ns. at is the
 * socket's own clock (tcp_mstamp, which TCP refreshes as it handles the socket's packets: the time of
 * this ACK or of the socket's previous event), so an ACK that is not sampled costs no clock read.
 */
static __always_inline bool rtt_due(const struct sock *sk, __u64 at)
{
	__u64 id = LS_PTR_ID(sk);
	__u32 i = ls_hash_bits(id, TCPW_RTT_SLOT_BITS);
	struct tcpwatch_rtt_slot *r;

	if (!rtt_every_ns)
		return true;
	r = bpf_map_lookup_elem(&lsc_rtt_last, &i);
	if (!r)
		return true;
	if (r->sk == id && (__s64)(at - r->ts) < (__s64)rtt_every_ns)
		return false;
	r->sk = id;
	r->ts = at;
	return true;
}

/*
 * At a tracked socket's close: its slot no longer stands for it. The kernel hands the freed memory to
 * the next socket at once (often the next connection of the same client), which must not wait out
 * this one's rtt_every_ns. Once per connection, never per ACK.
 */
static __always_inline void rtt_forget(const struct sock *sk)
{
	__u64 id = LS_PTR_ID(sk);
	__u32 i = ls_hash_bits(id, TCPW_RTT_SLOT_BITS);
	struct tcpwatch_rtt_slot *r = bpf_map_lookup_elem(&lsc_rtt_last, &i);

	if (r && r->sk == id)
		r->sk = 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(lsc_tcp_probe, struct sock *sk, struct sk_buff *skb)
{
	const struct sock_common *skc = &sk->__sk_common;
	struct tcpwatch_key k = {};
	const struct tcp_sock *tp;
	struct ls_tuple t;
	__u64 now;
	__u32 srtt;

	/* every ACK of every socket comes here: the port filter, read straight from the socket, first */
	if (!ls_ports_ok(skc->skc_num, bpf_ntohs(skc->skc_dport)))
		return 0;
	if (skc->skc_family != LS_AF_INET && skc->skc_family != LS_AF_INET6)
		return 0;
	/*
	 * tcp_probe fires in tcp_rcv_established only: sk is a TCP socket. The rate check comes before
	 * the address filter, so most ACKs build no tuple: a socket outside the filter that shares a
	 * slot with one inside only makes the one inside due sooner (an extra sample, never a lost one).
	 */
	tp = LS_CAST(sk, struct tcp_sock);
	if (!rtt_due(sk, tp->tcp_mstamp * 1000))
		return 0;
	ls_sock_tuple(skc, &t);
	if (ls_filt_cidrs && !ls_tuple_ok(&t))
		return 0;
	now = bpf_ktime_get_ns();
	srtt = tp->srtt_us >> 3;
	if (!srtt)
		return 0;
	key_of(&k, &t, known_side(sk));
	k.window = ls_window(now);
	ls_hist_add(&lsc_rtt, &k, srtt);
	return 0;
}

/* Adds the socket's smoothed RTT (µs) to its destination's histogram of window w, unless it has none yet. */
static __always_inline void rtt_add(const struct sock *sk, const struct ls_tuple *t, __u8 side, __u32 w)
{
	struct tcpwatch_key k = {};
	__u32 srtt = LS_CAST(sk, struct tcp_sock)->srtt_us >> 3;

	if (!srtt)
		return;
	key_of(&k, t, side);
	k.window = w;
	ls_hist_add(&lsc_rtt, &k, srtt);
}

/* Sampled fidelity: one srtt per established socket of the run per walk (the loader walks once per window). */
SEC("iter/tcp")
int lsc_tcp_iter(struct bpf_iter__tcp *ctx)
{
	const struct sock_common *skc = ctx->sk_common;
	struct ls_tuple t;

	if (!skc || skc->skc_state != LS_TCP_ESTABLISHED)
		return 0;
	if (skc->skc_family != LS_AF_INET && skc->skc_family != LS_AF_INET6)
		return 0;
	if (!ls_ports_ok(skc->skc_num, bpf_ntohs(skc->skc_dport)))
		return 0;
	ls_sock_tuple(skc, &t);
	if (ls_filt_cidrs && !ls_tuple_ok(&t))
		return 0;
	rtt_add((const struct sock *)skc, &t, known_side((const struct sock *)skc), ls_window(bpf_ktime_get_ns()));
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(lsc_tcp_retrans, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct tcpwatch_key k = {};
	struct tcpwatch_stats *s;
	struct ls_tuple t;
	__u16 segs = 1;
	const char *cb = (const char *)__builtin_preserve_access_index(&skb->cb);

	ls_sock_tuple(&sk->__sk_common, &t);
	if (!ls_tuple_ok(&t))
		return 0;
	bpf_probe_read_kernel(&segs, sizeof(segs), cb + __builtin_offsetof(struct tcp_skb_cb, tcp_gso_segs));
	key_of(&k, &t, known_side(sk));
	k.window = ls_window(bpf_ktime_get_ns());
	s = stats_of(&k);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->retrans_segs, segs ? segs : 1);
	if (err)
		__sync_fetch_and_add(&s->retrans_fail, 1);
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(lsc_tcp_synack, const struct sock *sk, const struct request_sock *req)
{
	struct tcpwatch_key k = {};
	struct tcpwatch_stats *s;
	struct ls_tuple t;

	ls_sock_tuple(&req->__req_common, &t);
	if (!ls_tuple_ok(&t))
		return 0;
	key_of(&k, &t, TCPW_SERVER);
	k.window = ls_window(bpf_ktime_get_ns());
	s = stats_of(&k);
	if (s)
		__sync_fetch_and_add(&s->synack_retrans, 1);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(lsc_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct tcpwatch_conn *c, nc;
	struct tcpwatch_key k = {};
	struct tcpwatch_stats *s;
	struct tcpwatch_event *ev;
	struct ls_tuple t;
	__u64 key = (__u64)sk, now;

	if (sk->sk_protocol != LS_IPPROTO_TCP)
		return 0;
	if (newstate != LS_TCP_SYN_SENT && newstate != LS_TCP_SYN_RECV && newstate != LS_TCP_ESTABLISHED &&
	    newstate != LS_TCP_CLOSE)
		return 0;
	now = bpf_ktime_get_ns();
	ls_sock_tuple(&sk->__sk_common, &t);
	c = bpf_map_lookup_elem(&lsc_conns, &key);

	if (newstate == LS_TCP_CLOSE) {
		if (!c)
			return 0;
		if (t.sport)
			c->lport = t.sport;
		t.sport = c->lport;
		key_of(&k, &t, c->side);
		k.window = ls_window(now);
		s = stats_of(&k);
		if (s)
			__sync_fetch_and_add(c->est ? &s->closed : &s->failed, 1);
		if (rtt_iter && c->est)
			rtt_add(sk, &t, c->side, k.window);
		ev = bpf_ringbuf_reserve(&lsc_tcp_events, sizeof(*ev), 0);
		if (ev) {
			ev->start = c->start;
			ev->est = c->est;
			ev->end = now;
			ev->side = c->side;
			ev->family = t.family;
			ev->oldstate = oldstate;
			ev->pad = 0;
			ev->lport = c->lport;
			ev->rport = t.dport;
			__builtin_memcpy(ev->laddr, t.saddr, 16);
			__builtin_memcpy(ev->raddr, t.daddr, 16);
			bpf_ringbuf_submit(ev, 0);
		} else {
			ls_stat_inc(LS_STAT_RB_LOST);
		}
		bpf_map_delete_elem(&lsc_conns, &key);
		rtt_forget(sk);
		return 0;
	}

	if (!c) {
		if (!ls_tuple_ok(&t))
			return 0;
		__builtin_memset(&nc, 0, sizeof(nc));
		nc.start = now;
		nc.side = newstate == LS_TCP_SYN_SENT ? TCPW_CLIENT : newstate == LS_TCP_SYN_RECV ? TCPW_SERVER : 0;
		if (!nc.side) {
			key_of(&k, &t, 0);
			nc.side = k.side;
		}
		if (bpf_map_update_elem(&lsc_conns, &key, &nc, BPF_ANY)) {
			ls_stat_inc(LS_STAT_MAP_FULL);
			return 0;
		}
		c = bpf_map_lookup_elem(&lsc_conns, &key);
		if (!c)
			return 0;
	}
	c->family = t.family;
	c->lport = t.sport;
	c->rport = t.dport;
	__builtin_memcpy(c->laddr, t.saddr, 16);
	__builtin_memcpy(c->raddr, t.daddr, 16);
	if (newstate == LS_TCP_ESTABLISHED) {
		c->est = now;
		key_of(&k, &t, c->side);
		k.window = ls_window(now);
		s = stats_of(&k);
		if (s)
			__sync_fetch_and_add(&s->opened, 1);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
