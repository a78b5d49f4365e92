// SPDX-License-Identifier: Apache-2.0
/*
 * tcpwatch: loads tcpwatch.bpf.c and streams, per window and destination, smoothed-RTT histograms,
 * retransmit and connection counts, plus one "conn" record per finished connection, as NDJSON.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ls_loader.h"
#include "tcpwatch.h"
#include "tcpwatch.skel.h"

#define PROBE "tcpwatch"
#define GRACE_NS 20000000ULL

/* What the window callbacks share: the options (the window grid), the skeleton, the fidelity. */
struct drain_ctx {
	const struct ls_opts *o;
	struct tcpwatch_bpf *skel;
	bool full; /* srtt at tcp_probe (every ACK, at most once per --rtt-every-ms), not from the socket iterator */
};

static int fidelity_opt(const char *flag, const char *v, void *p)
{
	bool *full = p;
	if (strcmp(flag, "--fidelity"))
		return 0;
	if (strcmp(v, "full") && strcmp(v, "sampled"))
		return -1;
	*full = !strcmp(v, "full");
	return 1;
}

/* One walk of the socket iterator: an srtt sample of every established socket of the run in this namespace. */
static void walk_sockets(struct tcpwatch_bpf *skel)
{
	char buf[256];
	int fd;
	if (!skel->links.lsc_tcp_iter || (fd = bpf_iter_create(bpf_link__fd(skel->links.lsc_tcp_iter))) < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

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
	const struct drain_ctx *ctx = c;
	char tags[128];
	snprintf(tags, sizeof(tags), "\"peer\":\"%s\",\"port\":\"%u\",\"side\":\"%s\"", ls_addr(k->peer), k->port,
		 side_name(k->side));
	ls_emit_hist(ctx->o, "tcp_srtt_us", k->window, tags, val);
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
		       f[i].m, (unsigned long long)ls_window_start(ctx->o, k->window), (unsigned long long)ctx->o->window_ns,
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

/* Emits the windows before cutoff: the window loop's tick; at the end (UINT32_MAX) all, and the open connections. */
static void drain(__u32 cutoff, void *p)
{
	struct drain_ctx *ctx = p;
	struct tcpwatch_bpf *skel = ctx->skel;
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_rtt), sizeof(struct tcpwatch_key), sizeof(struct ls_hist),
			 bpf_map__max_entries(skel->maps.lsc_rtt), cutoff, key_window, emit_rtt, ctx, true);
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_tcp), sizeof(struct tcpwatch_key), sizeof(struct tcpwatch_stats),
			 bpf_map__max_entries(skel->maps.lsc_tcp), cutoff, key_window, emit_stats, ctx, false);
	if (cutoff == UINT32_MAX)
		emit_open_conns(skel);
	else if (!ctx->full)
		walk_sockets(skel); /* into the current window, emitted at the next tick */
}

static void end_fields(char *buf, size_t n, const __u64 *stats, void *p)
{
	(void)stats;
	snprintf(buf, n, ",\"fidelity\":\"%s\"", ((const struct drain_ctx *)p)->full ? "full" : "sampled");
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

int main(int argc, char **argv)
{
	struct tcpwatch_bpf *skel;
	struct ls_opts o;
	struct ls_clock clk;
	struct drain_ctx ctx = { .o = &o };
	__u16 eph_lo = 32768, eph_hi = 60999;
	int err;

	const struct ls_own_opts own = {
		.fn = fidelity_opt,
		.ctx = &ctx.full,
		.usage = "  --fidelity F         sampled (default): srtt once per window per socket (socket iterator) and at close;\n"
			 "                       full: srtt at tcp_probe, on every ACK at most once per --rtt-every-ms\n",
	};
	ls_init(argc, argv, &o, &clk, PROBE, LS_OPT_FILTER | LS_OPT_PROBE, &own);
	read_port_range(&eph_lo, &eph_hi);

	skel = tcpwatch_bpf__open();
	if (!skel)
		return ls_open_failed(PROBE);
	LS_PROBE_RODATA(skel->rodata, &o);
	skel->rodata->ls_filt_ifaces = false; /* sockets have no interface; ifaces do not apply */
	skel->rodata->eph_lo = eph_lo;
	skel->rodata->eph_hi = eph_hi;
	skel->rodata->rtt_every_ns = o.rtt_every_ns;
	skel->rodata->rtt_iter = !ctx.full;
	bpf_program__set_autoload(skel->progs.lsc_tcp_probe, ctx.full);
	bpf_program__set_autoload(skel->progs.lsc_tcp_iter, !ctx.full);
	ctx.skel = skel;
	err = ls_probe_run(skel->skeleton, &o, &clk, skel->maps.lsc_f_cidrs, skel->maps.lsc_tcp_events, on_event,
			   &(struct ls_loop){ .grace_ns = GRACE_NS, .tick = drain, .ctx = &ctx, .end_fields = end_fields });
	tcpwatch_bpf__destroy(skel);
	return err ? 1 : 0;
}
