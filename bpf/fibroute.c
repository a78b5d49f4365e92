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

/* What the window callbacks share: the options (the window grid) and the skeleton. */
struct drain_ctx {
	const struct ls_opts *o;
	struct fibroute_bpf *skel;
};

static __u32 route_window(const void *k) { return ((const struct fibroute_key *)k)->window; }

static void emit_route(const void *key, const void *val, void *c)
{
	const struct fibroute_key *k = key;
	const struct drain_ctx *ctx = c;
	ls_out("{\"t\":\"route\",\"probe\":\"" PROBE "\",\"w\":%llu,\"d\":%llu,\"table\":%u,\"src\":\"%s\","
	       "\"dst\":\"%s\",\"gw\":\"%s\",\"oif\":%s,\"err\":%d,\"proto\":%u,\"n\":%llu}",
	       (unsigned long long)ls_window_start(ctx->o, k->window), (unsigned long long)ctx->o->window_ns, k->tb_id,
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

/* Emits the windows before cutoff (all with UINT32_MAX): the window loop's tick. */
static void drain(__u32 cutoff, void *p)
{
	struct drain_ctx *ctx = p;
	struct fibroute_bpf *skel = ctx->skel;
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_routes), sizeof(struct fibroute_key), sizeof(__u64),
			 bpf_map__max_entries(skel->maps.lsc_routes), cutoff, route_window, emit_route, ctx, false);
}

int main(int argc, char **argv)
{
	struct fibroute_bpf *skel;
	struct ls_opts o;
	struct ls_clock clk;
	struct drain_ctx ctx = { .o = &o };
	int err;

	ls_init(argc, argv, &o, &clk, PROBE, LS_OPT_FILTER | LS_OPT_PROBE, NULL);

	skel = fibroute_bpf__open();
	if (!skel)
		return ls_open_failed(PROBE);
	LS_PROBE_RODATA(skel->rodata, &o);
	skel->rodata->sample_every = o.sample_every;
	ctx.skel = skel;
	err = ls_probe_run(skel->skeleton, &o, &clk, skel->maps.lsc_f_cidrs, skel->maps.lsc_fib_events, on_event,
			   &(struct ls_loop){ .grace_ns = GRACE_NS, .tick = drain, .ctx = &ctx });
	fibroute_bpf__destroy(skel);
	return err ? 1 : 0;
}
