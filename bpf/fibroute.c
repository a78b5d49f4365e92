// SPDX-License-Identifier: Apache-2.0
/*
 * fibroute: loads fibroute.bpf.c and streams IPv4 routing decisions as NDJSON: a "route" count per
 * decision and window, and sampled individual lookups ("route_sample") from the ring buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ls_loader.h"
#include "fibroute.h"
#include "fibroute.skel.h"

#define PROBE "fibroute"
#define GRACE_NS 20000000ULL

struct drain_ctx {
	__u64 t0;
	__u64 win;
};

static __u32 route_window(const void *k) { return ((const struct fibroute_key *)k)->window; }

static void emit_route(const void *key, const void *val, void *c)
{
	const struct fibroute_key *k = key;
	const struct drain_ctx *ctx = c;
	ls_out("{\"t\":\"route\",\"probe\":\"" PROBE "\",\"w\":%llu,\"d\":%llu,\"table\":%u,\"src\":\"%s\","
	       "\"dst\":\"%s\",\"gw\":\"%s\",\"oif\":%s,\"err\":%d,\"proto\":%u,\"n\":%llu}",
	       (unsigned long long)(ctx->t0 + k->window * ctx->win), (unsigned long long)ctx->win, k->tb_id,
	       ls_addr4(k->src), ls_addr4(k->dst), ls_addr4(k->gw), ls_jstr(k->oif), k->err, k->proto,
	       *(const unsigned long long *)val);
}

static int on_event(void *ctx, void *data, size_t len)
{
	const struct fibroute_event *e = data;
	if (len < sizeof(*e))
		return 0;
	ls_out("{\"t\":\"route_sample\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"table\":%u,\"src\":\"%s\","
	       "\"dst\":\"%s\",\"gw\":\"%s\",\"oif\":%s,\"oif_index\":%d,\"flow_oif\":%d,\"flow_iif\":%d,"
	       "\"err\":%d,\"proto\":%u,\"sport\":%u,\"dport\":%u,\"first\":%s}",
	       (unsigned long long)e->ts, e->tb_id, ls_addr4(e->src), ls_addr4(e->dst), ls_addr4(e->gw),
	       ls_jstr(e->oif), e->nh_oif, e->flow_oif, e->flow_iif, e->err, e->proto, e->sport, e->dport,
	       e->first ? "true" : "false");
	return 0;
}

static void drain(struct fibroute_bpf *skel, struct drain_ctx *ctx, __u32 cutoff)
{
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_routes), sizeof(struct fibroute_key), sizeof(__u64),
			 bpf_map__max_entries(skel->maps.lsc_routes), cutoff, route_window, emit_route, ctx, false);
}

struct tick_ctx {
	struct fibroute_bpf *skel;
	struct drain_ctx *ctx;
};

static void tick(__u32 cutoff, void *p)
{
	struct tick_ctx *tc = p;
	drain(tc->skel, tc->ctx, cutoff);
}

int main(int argc, char **argv)
{
	struct fibroute_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct ls_opts o;
	struct ls_clock clk;
	struct drain_ctx ctx;
	struct tick_ctx tc = { .ctx = &ctx };
	__u64 stats[LS_STAT__MAX] = {}, last[LS_STAT__MAX] = {};
	__u64 t0;
	int err = 1;

	ls_setup_process();
	ls_parse_args(argc, argv, &o, PROBE);
	ls_clock_sync(&clk);
	t0 = ls_window_t0(&o, &clk);

	skel = fibroute_bpf__open();
	if (!skel) {
		ls_emit_error(PROBE, "open BPF object: %s", strerror(errno));
		goto cleanup;
	}
	skel->rodata->ls_win_t0 = t0;
	skel->rodata->ls_win_ns = o.window_ns;
	skel->rodata->ls_filt_ifaces = o.n_ifaces > 0;
	skel->rodata->ls_filt_ports = o.n_ports > 0;
	skel->rodata->ls_filt_cidrs = o.n_cidrs > 0;
	ls_filter_rodata(&o, &skel->rodata->ls_n_ifaces, skel->rodata->ls_ifaces, skel->rodata->ls_port_bits);
	ls_cidr_rodata(&o, &skel->rodata->ls_n_icidrs, skel->rodata->ls_icidrs);
	skel->rodata->sample_every = o.sample_every;

	if ((err = fibroute_bpf__load(skel))) {
		ls_emit_error(PROBE, "load BPF programs: %s", strerror(-err));
		goto cleanup;
	}
	if ((err = ls_fill_cidrs(&o, bpf_map__fd(skel->maps.lsc_f_cidrs)))) {
		ls_emit_error(PROBE, "fill filter maps: %s", strerror(-err));
		goto cleanup;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.lsc_fib_events), on_event, NULL, NULL);
	if (!rb) {
		err = -errno;
		ls_emit_error(PROBE, "ring buffer: %s", strerror(errno));
		goto cleanup;
	}
	if ((err = fibroute_bpf__attach(skel))) {
		ls_emit_error(PROBE, "attach: %s", strerror(-err));
		goto cleanup;
	}

	ls_emit_clock(&o, &clk, t0);
	ls_emit_ready(&o, skel->obj);

	ctx.t0 = t0;
	ctx.win = o.window_ns;
	tc.skel = skel;
	ls_window_loop(rb, &o, t0, GRACE_NS, PROBE, bpf_map__fd(skel->maps.lsc_stats), stats, last, tick, &tc);

	fibroute_bpf__detach(skel);
	ring_buffer__consume(rb);
	drain(skel, &ctx, UINT32_MAX);
	ls_read_stats(bpf_map__fd(skel->maps.lsc_stats), stats);
	ls_report_lost(PROBE, stats, last, ls_mono_ns());
	{
		int fds[] = { bpf_program__fd(skel->progs.lsc_fib_lookup) };
		const char *names[] = { "lsc_fib_lookup" };
		char ps[256];
		ls_prog_stats_json(ps, sizeof(ps), fds, names, 1);
		ls_out("{\"t\":\"end\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"cpu_s\":%.3f,\"lines\":%llu,"
		       "\"lost\":{\"ringbuf\":%llu,\"map_full\":%llu},\"progs\":%s}",
		       (unsigned long long)ls_mono_ns(), ls_cpu_seconds(), ls_lines + 1,
		       (unsigned long long)stats[LS_STAT_RB_LOST], (unsigned long long)stats[LS_STAT_MAP_FULL], ps);
	}
	ls_out_flush();
	err = 0;

cleanup:
	ring_buffer__free(rb);
	fibroute_bpf__destroy(skel);
	return err ? 1 : 0;
}
