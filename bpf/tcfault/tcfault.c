// SPDX-License-Identifier: Apache-2.0
/*
 * tcfault: loads tcfault.bpf.c with the fault's settings and attaches it by tcx to both directions of
 * each --dev (bpf_links this process holds: when it exits, for whatever reason, nothing stays attached).
 * Writes NDJSON on stdout: clock, ready, per-window "count" records of packets seen and dropped, "end".
 *
 *   tcfault --dev VETH [--dev VETH ...] (--probability P | --peer IP [--peer IP ...]) [--window-ms MS]
 *
 * --probability: share of IPv4 packets dropped, (0, 1]; --peer: drop every packet to or from these
 * addresses (a partition). stdin EOF, SIGTERM, SIGINT or the parent's death end it; exit status 0 then,
 * 1 when it could not load or attach, 2 for usage. docs/faults.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ls_loader.h"
#include "tcfault.h"
#include "tcfault.skel.h"

#define PROBE "tcfault"
#define MAX_DEVS 64
/* the tcx attach points (linux/bpf.h since 6.6); libbpf 1.1 passes them through bpf_link_create */
#define TCF_TCX_INGRESS 46
#define TCF_TCX_EGRESS 47

struct opts {
	char devs[MAX_DEVS][IF_NAMESIZE];
	int n_devs;
	double probability;
	__u32 peers[TCF_MAX_PEERS];
	int n_peers;
};

struct run_ctx {
	const struct ls_opts *o;
	struct tcfault_bpf *skel;
	int links[2 * MAX_DEVS];
	int n_links;
	__u32 window;
	__u64 seen, dropped; /* totals at the last tick */
};

static int own_opt(const char *a, const char *v, void *p)
{
	struct opts *o = p;
	char *end;
	if (!strcmp(a, "--dev")) {
		if (o->n_devs >= MAX_DEVS || !*v || strlen(v) >= IF_NAMESIZE)
			return -1;
		strcpy(o->devs[o->n_devs++], v);
	} else if (!strcmp(a, "--probability")) {
		o->probability = strtod(v, &end);
		return *end || !(o->probability > 0 && o->probability <= 1) ? -1 : 1;
	} else if (!strcmp(a, "--peer")) {
		struct in_addr in;
		if (o->n_peers >= TCF_MAX_PEERS || inet_pton(AF_INET, v, &in) != 1)
			return -1;
		o->peers[o->n_peers++] = in.s_addr;
	} else {
		return 0;
	}
	return 1;
}

/* Sums one index of the per-CPU stats array. */
static __u64 stat_sum(int fd, __u32 idx)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 vals[ncpu > 0 ? ncpu : 1], sum = 0;
	if (ncpu <= 0 || bpf_map_lookup_elem(fd, &idx, vals))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

static void close_links(struct run_ctx *ctx)
{
	for (int i = 0; i < ctx->n_links; i++)
		close(ctx->links[i]);
	ctx->n_links = 0;
}

/* At each window boundary: packets seen and dropped in the window that ended; at the end, detach first. */
static void tick(__u32 cutoff, void *p)
{
	struct run_ctx *ctx = p;
	int fd = bpf_map__fd(ctx->skel->maps.tcf_stats);
	__u64 w = ls_window_start(ctx->o, ctx->window), now = ls_mono_ns();
	if (cutoff == UINT32_MAX)
		close_links(ctx);
	__u64 seen = stat_sum(fd, TCF_STAT_SEEN), dropped = stat_sum(fd, TCF_STAT_DROPPED);
	__u64 d = cutoff != UINT32_MAX ? ctx->o->window_ns : now > w ? now - w : 1;
	if (seen != ctx->seen || dropped != ctx->dropped)
		ls_out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"tcfault.packets\",\"w\":%llu,\"d\":%llu,\"v\":%llu,\"dropped\":%llu}",
		       (unsigned long long)w, (unsigned long long)d, (unsigned long long)(seen - ctx->seen),
		       (unsigned long long)(dropped - ctx->dropped));
	ctx->seen = seen;
	ctx->dropped = dropped;
	ctx->window = cutoff;
}

static void end_fields(char *buf, size_t n, const __u64 *stats, void *p)
{
	struct run_ctx *ctx = p;
	snprintf(buf, n, ",\"seen\":%llu,\"dropped\":%llu", (unsigned long long)ctx->seen, (unsigned long long)ctx->dropped);
}

/* stdin carries no commands: its end is the end of the fault. */
static void ignore_line(char *line, void *ctx)
{
}

int main(int argc, char **argv)
{
	struct opts own = {};
	struct ls_own_opts own_opts = {
		.fn = own_opt,
		.ctx = &own,
		.usage = "  --dev VETH           interface to act on, both directions (repeatable, required)\n"
			 "  --probability P      share of IPv4 packets dropped, (0, 1]\n"
			 "  --peer IP            drop every packet to or from IP (repeatable; a partition)\n"
			 "Ends at stdin EOF; output: NDJSON on stdout (docs/faults.md).\n",
	};
	struct ls_opts o;
	struct ls_clock clk;
	struct run_ctx ctx = { .o = &o };
	struct tcfault_bpf *skel = NULL;
	char ids[2 * MAX_DEVS * 12] = "";
	size_t off = 0;
	int status = 1;

	ls_init(argc, argv, &o, &clk, PROBE, 0, &own_opts);
	if (!own.n_devs)
		ls_usage_exit(PROBE, "--dev is required");
	if ((own.probability > 0) == (own.n_peers > 0))
		ls_usage_exit(PROBE, "give --probability or --peer, not both");
	if (getppid() == 1)
		return 0; /* the harness is already gone */

	skel = tcfault_bpf__open();
	if (!skel)
		return ls_open_failed(PROBE);
	if (own.n_peers) {
		skel->rodata->drop_all = true;
		skel->rodata->peers_only = true;
	} else if (own.probability >= 1) {
		skel->rodata->drop_all = true;
	} else {
		skel->rodata->drop_below = (__u32)(own.probability * 4294967296.0);
	}
	if (ls_load(skel->skeleton, &o, NULL))
		goto cleanup;
	for (int i = 0; i < own.n_peers; i++) {
		__u8 one = 1;
		bpf_map_update_elem(bpf_map__fd(skel->maps.tcf_peers), &own.peers[i], &one, BPF_ANY);
	}
	ctx.skel = skel;
	for (int i = 0; i < own.n_devs; i++) {
		unsigned ifindex = if_nametoindex(own.devs[i]);
		if (!ifindex) {
			ls_emit_error(PROBE, "no interface %s", own.devs[i]);
			goto cleanup;
		}
		/* egress of the host end: towards the pod; ingress: from it */
		int progs[2] = { bpf_program__fd(skel->progs.tcf_from_pod), bpf_program__fd(skel->progs.tcf_to_pod) };
		int kinds[2] = { TCF_TCX_INGRESS, TCF_TCX_EGRESS };
		for (int k = 0; k < 2; k++) {
			int fd = bpf_link_create(progs[k], (int)ifindex, (enum bpf_attach_type)kinds[k], NULL);
			if (fd < 0) {
				ls_emit_error(PROBE, "tcx attach to %s: %s", own.devs[i], strerror(errno));
				goto cleanup;
			}
			ctx.links[ctx.n_links++] = fd;
			struct bpf_link_info li = {};
			__u32 li_len = sizeof(li);
			bpf_obj_get_info_by_fd(fd, &li, &li_len);
			off += (size_t)snprintf(ids + off, sizeof(ids) - off, "%s%u", off ? "," : "", li.id);
		}
	}

	ls_emit_clock(&o, &clk);
	ls_out("{\"t\":\"ready\",\"probe\":\"" PROBE "\",\"progs\":[\"tcf_from_pod\",\"tcf_to_pod\"],\"links\":[%s],\"devs\":%d,"
	       "\"probability\":%g,\"peers\":%d}",
	       ids, own.n_devs, own.n_peers ? 1.0 : own.probability, own.n_peers);
	ls_out_flush();

	ls_run(&o, &(struct ls_loop){ .tick = tick, .ctx = &ctx, .line = ignore_line,
			       .stats_fd = bpf_map__fd(skel->maps.tcf_stats), .end_fields = end_fields }, skel->skeleton);
	status = 0;

cleanup:
	close_links(&ctx);
	tcfault_bpf__destroy(skel);
	return status;
}
