// SPDX-License-Identifier: Apache-2.0
/*
 * tcpwatch: loads tcpwatch.bpf.c and streams, per window and destination, smoothed-RTT histograms,
 * retransmit and connection counts, plus one "conn" record per finished connection, as NDJSON.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ls_loader.h"
#include "tcpwatch.h"
#include "tcpwatch.skel.h"

#define PROBE "tcpwatch"
#define GRACE_NS 20000000ULL

struct drain_ctx {
	__u64 t0;
	__u64 win;
};

static const char *state_names[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
				     "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
				     "NEW_SYN_RECV", "BOUND_INACTIVE" };

static const char *state_name(unsigned s)
{
	return s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

static const char *side_name(__u8 s)
{
	return s == TCPW_SERVER ? "server" : "client";
}

static __u32 key_window(const void *k) { return ((const struct tcpwatch_key *)k)->window; }

static void emit_rtt(const void *key, const void *val, void *c)
{
	const struct tcpwatch_key *k = key;
	const struct ls_hist *h = val;
	const struct drain_ctx *ctx = c;
	char b[LS_HIST_SLOTS * 24 + 2];
	int n = 0;
	for (int i = 0; i < LS_HIST_SLOTS; i++)
		if (h->slots[i])
			n += snprintf(b + n, sizeof(b) - n, "%s%d,%llu", n ? "," : "", i, (unsigned long long)h->slots[i]);
	b[n] = 0;
	ls_out("{\"t\":\"hist\",\"probe\":\"" PROBE "\",\"m\":\"tcp_srtt_us\",\"w\":%llu,\"d\":%llu,"
	       "\"tags\":{\"peer\":\"%s\",\"port\":\"%u\",\"side\":\"%s\"},\"n\":%llu,\"sum\":%llu,\"b\":[%s]}",
	       (unsigned long long)(ctx->t0 + k->window * ctx->win), (unsigned long long)ctx->win, ls_addr(k->peer),
	       k->port, side_name(k->side), (unsigned long long)h->count, (unsigned long long)h->sum, b);
}

static void emit_stats(const void *key, const void *val, void *c)
{
	const struct tcpwatch_key *k = key;
	const struct tcpwatch_stats *s = val;
	const struct drain_ctx *ctx = c;
	const struct { const char *m; __u64 v; } f[] = {
		{ "tcp_retrans_segs", s->retrans_segs }, { "tcp_retrans_fail", s->retrans_fail },
		{ "tcp_synack_retrans", s->synack_retrans }, { "tcp_conn_opened", s->opened },
		{ "tcp_conn_closed", s->closed }, { "tcp_conn_failed", s->failed },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (!f[i].v)
			continue;
		ls_out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"%s\",\"w\":%llu,\"d\":%llu,"
		       "\"tags\":{\"peer\":\"%s\",\"port\":\"%u\",\"side\":\"%s\"},\"v\":%llu}",
		       f[i].m, (unsigned long long)(ctx->t0 + k->window * ctx->win), (unsigned long long)ctx->win,
		       ls_addr(k->peer), k->port, side_name(k->side), (unsigned long long)f[i].v);
	}
}

static void emit_conn(__u64 start, __u64 est, __u64 end, __u8 side, const __u8 *laddr, __u16 lport,
		      const __u8 *raddr, __u16 rport, const char *state, unsigned oldstate)
{
	char estbuf[32];
	if (est)
		snprintf(estbuf, sizeof(estbuf), "%llu", (unsigned long long)est);
	else
		strcpy(estbuf, "null");
	ls_out("{\"t\":\"conn\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"start\":%llu,\"est\":%s,\"end\":%llu,"
	       "\"side\":\"%s\",\"laddr\":\"%s\",\"lport\":%u,\"raddr\":\"%s\",\"rport\":%u,\"state\":\"%s\","
	       "\"from\":\"%s\"}",
	       (unsigned long long)end, (unsigned long long)start, estbuf, (unsigned long long)end, side_name(side),
	       ls_addr(laddr), lport, ls_addr(raddr), rport, state, state_name(oldstate));
}

static int on_event(void *ctx, void *data, size_t len)
{
	const struct tcpwatch_event *e = data;
	if (len < sizeof(*e))
		return 0;
	emit_conn(e->start, e->est, e->end, e->side, e->laddr, e->lport, e->raddr, e->rport,
		  e->est ? "closed" : "failed", e->oldstate);
	return 0;
}

static void drain(struct tcpwatch_bpf *skel, struct drain_ctx *ctx, __u32 cutoff)
{
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_rtt), sizeof(struct tcpwatch_key), sizeof(struct ls_hist),
			 bpf_map__max_entries(skel->maps.lsc_rtt), cutoff, key_window, emit_rtt, ctx, true);
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_tcp), sizeof(struct tcpwatch_key), sizeof(struct tcpwatch_stats),
			 bpf_map__max_entries(skel->maps.lsc_tcp), cutoff, key_window, emit_stats, ctx, false);
}

/* Connections still open when we stop: one "conn" record each, state "open". */
static void emit_open_conns(struct tcpwatch_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.lsc_conns);
	__u64 key, next, *prev = NULL, now = ls_mono_ns();
	struct tcpwatch_conn c;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &c))
			continue;
		emit_conn(c.start, c.est, now, c.side, c.laddr, c.lport, c.raddr, c.rport, "open",
			  c.est ? 1 : c.side == TCPW_CLIENT ? 2 : 3);
	}
}

static void read_port_range(__u16 *lo, __u16 *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned a, b;
	if (!f)
		return;
	if (fscanf(f, "%u %u", &a, &b) == 2 && a <= b && b <= 65535) {
		*lo = (__u16)a;
		*hi = (__u16)b;
	}
	fclose(f);
}

struct tick_ctx {
	struct tcpwatch_bpf *skel;
	struct drain_ctx *ctx;
};

static void tick(__u32 cutoff, void *p)
{
	struct tick_ctx *tc = p;
	drain(tc->skel, tc->ctx, cutoff);
}

int main(int argc, char **argv)
{
	struct tcpwatch_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct ls_opts o;
	struct ls_clock clk;
	struct drain_ctx ctx;
	struct tick_ctx tc = { .ctx = &ctx };
	__u64 stats[LS_STAT__MAX] = {}, last[LS_STAT__MAX] = {};
	__u64 t0;
	__u16 eph_lo = 32768, eph_hi = 60999;
	int err = 1;

	ls_setup_process();
	ls_parse_args(argc, argv, &o, PROBE);
	ls_clock_sync(&clk);
	t0 = ls_window_t0(&o, &clk);
	read_port_range(&eph_lo, &eph_hi);

	skel = tcpwatch_bpf__open();
	if (!skel) {
		ls_emit_error(PROBE, "open BPF object: %s", strerror(errno));
		goto cleanup;
	}
	skel->rodata->ls_win_t0 = t0;
	skel->rodata->ls_win_ns = o.window_ns;
	skel->rodata->ls_filt_ifaces = false; /* sockets have no interface; ifaces do not apply */
	skel->rodata->ls_filt_ports = o.n_ports > 0;
	skel->rodata->ls_filt_cidrs = o.n_cidrs > 0;
	ls_filter_rodata(&o, &skel->rodata->ls_n_ifaces, skel->rodata->ls_ifaces, skel->rodata->ls_port_bits);
	ls_cidr_rodata(&o, &skel->rodata->ls_n_icidrs, skel->rodata->ls_icidrs);
	skel->rodata->eph_lo = eph_lo;
	skel->rodata->eph_hi = eph_hi;
	skel->rodata->rtt_every_ns = o.rtt_every_ns;

	if ((err = tcpwatch_bpf__load(skel))) {
		ls_emit_error(PROBE, "load BPF programs: %s", strerror(-err));
		goto cleanup;
	}
	if ((err = ls_fill_cidrs(&o, bpf_map__fd(skel->maps.lsc_f_cidrs)))) {
		ls_emit_error(PROBE, "fill filter maps: %s", strerror(-err));
		goto cleanup;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.lsc_tcp_events), on_event, NULL, NULL);
	if (!rb) {
		err = -errno;
		ls_emit_error(PROBE, "ring buffer: %s", strerror(errno));
		goto cleanup;
	}
	if ((err = tcpwatch_bpf__attach(skel))) {
		ls_emit_error(PROBE, "attach: %s", strerror(-err));
		goto cleanup;
	}

	ls_emit_clock(&o, &clk, t0);
	ls_emit_ready(&o, skel->obj);

	ctx.t0 = t0;
	ctx.win = o.window_ns;
	tc.skel = skel;
	ls_window_loop(rb, &o, t0, GRACE_NS, PROBE, bpf_map__fd(skel->maps.lsc_stats), stats, last, tick, &tc);

	tcpwatch_bpf__detach(skel);
	ring_buffer__consume(rb);
	drain(skel, &ctx, UINT32_MAX);
	emit_open_conns(skel);
	ls_read_stats(bpf_map__fd(skel->maps.lsc_stats), stats);
	ls_report_lost(PROBE, stats, last, ls_mono_ns());
	{
		int fds[] = { bpf_program__fd(skel->progs.lsc_tcp_probe), bpf_program__fd(skel->progs.lsc_tcp_retrans),
			      bpf_program__fd(skel->progs.lsc_tcp_synack), bpf_program__fd(skel->progs.lsc_tcp_state) };
		const char *names[] = { "lsc_tcp_probe", "lsc_tcp_retrans", "lsc_tcp_synack", "lsc_tcp_state" };
		char ps[1024];
		ls_prog_stats_json(ps, sizeof(ps), fds, names, 4);
		ls_out("{\"t\":\"end\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"cpu_s\":%.3f,\"lines\":%llu,"
		       "\"lost\":{\"ringbuf\":%llu,\"map_full\":%llu},\"progs\":%s}",
		       (unsigned long long)ls_mono_ns(), ls_cpu_seconds(), ls_lines + 1,
		       (unsigned long long)stats[LS_STAT_RB_LOST], (unsigned long long)stats[LS_STAT_MAP_FULL], ps);
	}
	ls_out_flush();
	err = 0;

cleanup:
	ring_buffer__free(rb);
	tcpwatch_bpf__destroy(skel);
	return err ? 1 : 0;
}
