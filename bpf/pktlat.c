// SPDX-License-Identifier: Apache-2.0
/*
 * pktlat: loads pktlat.bpf.c and streams, per window, packet latency histograms (queue on one
 * interface to receive on another), packet/byte counts per interface and direction, and drops
 * per kfree_skb reason and interface, as NDJSON on stdout.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "ls_loader.h"
#include "pktlat.h"
#include "pktlat.skel.h"

#define PROBE "pktlat"
#define GRACE_NS 20000000ULL

/*
 * Extra program run time of a timed packet over a counted one, both hooks together: the second clock
 * read, the in-flight slot written and met, the histogram (bench/probe-cost, HISTORY.md). The timing
 * budget is spent in units of this.
 */
#define PKTLAT_TIMED_NS 400ULL
/* 1 in N before the first window's packet rate is known. */
#define PKTLAT_FIRST_EVERY 16
#define PKTLAT_MAX_EVERY 65536
/* Windows whose timed pairs and packets are summed before their "sampling" record (more than the rings keep). */
#define PKTLAT_ACC 16
/* Changes of N remembered, to tell each window's N. */
#define PKTLAT_CHANGES 32

/* --fidelity, --every, --budget-us. */
struct samp_opts {
	bool full;          /* every packet timed */
	__u32 every;        /* a fixed 1 in N (0: chosen each window from the packet rate) */
	__u64 budget_ns;    /* timing: program run time per second it may take */
};

/* The timed pairs and queued packets of one window, gathered while its records are emitted. */
struct win_acc {
	__u32 w;
	bool used;
	__u64 timed;
	__u64 packets;
};

/* What the window callbacks share: the options (the window grid), the skeleton, the sampling state. */
struct drain_ctx {
	const struct ls_opts *o;
	struct pktlat_bpf *skel;
	struct samp_opts so;
	struct win_acc acc[PKTLAT_ACC];
	/* N from window `from` on, oldest first; changes[0].from is 0 */
	struct { __u32 from, every; } changes[PKTLAT_CHANGES];
	int n_changes;
};

static int samp_opt(const char *flag, const char *v, void *p)
{
	struct samp_opts *so = p;
	char *end;
	if (!strcmp(flag, "--fidelity")) {
		if (strcmp(v, "full") && strcmp(v, "sampled"))
			return -1;
		so->full = !strcmp(v, "full");
	} else if (!strcmp(flag, "--every")) {
		unsigned long n = strtoul(v, &end, 10);
		if (*end || n < 1 || n > PKTLAT_MAX_EVERY)
			return -1;
		so->every = (__u32)n;
	} else if (!strcmp(flag, "--budget-us")) {
		double us = strtod(v, &end);
		if (*end || us <= 0 || us > 1e6)
			return -1;
		so->budget_ns = (__u64)(us * 1000);
	} else {
		return 0;
	}
	return 1;
}

static struct win_acc *acc_of(struct drain_ctx *ctx, __u32 w)
{
	struct win_acc *a = &ctx->acc[w % PKTLAT_ACC];
	if (!a->used || a->w != w) {
		/* a window PKTLAT_ACC older than this one was never closed: not expected, dropped */
		*a = (struct win_acc){ .w = w, .used = true };
	}
	return a;
}

static __u32 every_of(const struct drain_ctx *ctx, __u32 w)
{
	__u32 n = ctx->changes[0].every;
	for (int i = 0; i < ctx->n_changes && ctx->changes[i].from <= w; i++)
		n = ctx->changes[i].every;
	return n;
}

static __u64 thresh_of(__u32 every)
{
	return (1ULL << 32) / every;
}

static const char **reason_names;
static __u32 n_reasons;

static void load_reason_names(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	const struct btf_enum *e;
	__s32 id;
	if (!btf)
		return;
	id = btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM);
	if (id < 0)
		goto out;
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	n_reasons = 0;
	for (int i = 0; i < btf_vlen(t); i++)
		if (e[i].val >= 0 && (__u32)e[i].val < 4096 && (__u32)e[i].val + 1 > n_reasons)
			n_reasons = e[i].val + 1;
	reason_names = calloc(n_reasons ? n_reasons : 1, sizeof(char *));
	if (!reason_names)
		goto out;
	for (int i = 0; i < btf_vlen(t); i++) {
		const char *name = btf__name_by_offset(btf, e[i].name_off);
		if (e[i].val < 0 || (__u32)e[i].val >= n_reasons || !name)
			continue;
		if (!strncmp(name, "SKB_DROP_REASON_", 16))
			name += 16;
		reason_names[e[i].val] = strdup(name);
	}
out:
	btf__free(btf);
}

static const char *reason_name(__u32 r)
{
	static char num[16];
	if (r < n_reasons && reason_names && reason_names[r])
		return reason_names[r];
	snprintf(num, sizeof(num), "%u", r);
	return num;
}

static const char *flow_name(__u8 f)
{
	return f == PKTLAT_FLOW_TO ? "to" : f == PKTLAT_FLOW_FROM ? "from" : "any";
}

static __u32 lat_window(const void *k) { return ((const struct pktlat_lat_key *)k)->window; }
static __u32 cnt_window(const void *k) { return ((const struct pktlat_cnt_key *)k)->window; }
static __u32 drop_window(const void *k) { return ((const struct pktlat_drop_key *)k)->window; }

static void emit_lat(const void *key, const void *val, void *c)
{
	const struct pktlat_lat_key *k = key;
	struct drain_ctx *ctx = c;
	char tags[128];
	snprintf(tags, sizeof(tags), "\"iface\":%s,\"peer\":%s,\"dir\":\"%s\"", ls_jstr(k->ifname), ls_jstr(k->peer),
		 flow_name(k->flow));
	ls_emit_hist(ctx->o, "pkt_latency_ns", k->window, tags, val);
	acc_of(ctx, k->window)->timed += ((const struct ls_hist *)val)->count;
}

static void emit_cnt(const void *key, const void *val, void *c)
{
	const struct pktlat_cnt_key *k = key;
	const struct pktlat_cnt *v = val;
	struct drain_ctx *ctx = c;
	const char *dir = k->dir == PKTLAT_TX ? "tx" : "rx";
	unsigned long long w = ls_window_start(ctx->o, k->window);
	if (k->dir == PKTLAT_TX)
		acc_of(ctx, k->window)->packets += v->packets;
	ls_out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"pkt_count\",\"w\":%llu,\"d\":%llu,"
	       "\"tags\":{\"iface\":%s,\"dir\":\"%s\"},\"v\":%llu}",
	       w, (unsigned long long)ctx->o->window_ns, ls_jstr(k->ifname), dir, (unsigned long long)v->packets);
	ls_out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"pkt_bytes\",\"w\":%llu,\"d\":%llu,"
	       "\"tags\":{\"iface\":%s,\"dir\":\"%s\"},\"v\":%llu}",
	       w, (unsigned long long)ctx->o->window_ns, ls_jstr(k->ifname), dir, (unsigned long long)v->bytes);
}

static void emit_drop(const void *key, const void *val, void *c)
{
	const struct pktlat_drop_key *k = key;
	const struct drain_ctx *ctx = c;
	ls_out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"drops\",\"w\":%llu,\"d\":%llu,"
	       "\"tags\":{\"iface\":%s,\"reason\":%s},\"v\":%llu}",
	       (unsigned long long)ls_window_start(ctx->o, k->window), (unsigned long long)ctx->o->window_ns,
	       ls_jstr(k->ifname), ls_jstr(reason_name(k->reason)), *(const unsigned long long *)val);
}

/* The first window of the rings still to emit, and how far (now_w + 1 at most) they may be emitted. */
static __u32 ring_first(struct pktlat_bpf *skel, struct drain_ctx *ctx, __u32 *cutoff)
{
	__u32 now_w = (__u32)((ls_mono_ns() - ctx->o->t0) / ctx->o->window_ns), first = skel->bss->ring_drained;
	if (*cutoff > now_w + 1)
		*cutoff = now_w + 1;
	/* older windows have been overwritten (and counted as lost by the kernel) */
	if (*cutoff >= PKTLAT_RING && first < *cutoff - (PKTLAT_RING - 1))
		first = *cutoff - (PKTLAT_RING - 1);
	return first;
}

/* Emits the count ring's windows [first, cutoff), summed over CPUs. */
static void drain_cnt_ring(struct pktlat_bpf *skel, struct drain_ctx *ctx, __u32 first, __u32 cutoff)
{
	int fd = bpf_map__fd(skel->maps.lsc_pkt_ring), ncpu = libbpf_num_possible_cpus();
	struct pktlat_ring_cnt *vals;
	if (ctx->o->n_ifaces == 0 || ncpu <= 0)
		return;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return;
	for (__u32 w = first; w < cutoff; w++) {
		for (int i = 0; i < ctx->o->n_ifaces; i++) {
			for (__u8 dir = PKTLAT_TX; dir <= PKTLAT_RX; dir++) {
				__u32 idx = (((w % PKTLAT_RING) * ctx->o->n_ifaces + i) << 1) + dir - 1;
				struct pktlat_cnt_key k = { .window = w, .dir = dir };
				struct pktlat_cnt sum = {};
				if (bpf_map_lookup_elem(fd, &idx, vals))
					continue;
				for (int c = 0; c < ncpu; c++) {
					if (vals[c].window1 != w + 1)
						continue;
					sum.packets += vals[c].packets;
					sum.bytes += vals[c].bytes;
				}
				if (!sum.packets)
					continue;
				strncpy(k.ifname, ctx->o->ifaces[i], LS_IFNAMSIZ - 1);
				emit_cnt(&k, &sum, ctx);
			}
		}
	}
	free(vals);
}

/* Emits the latency ring's windows [first, cutoff), summed over CPUs, as emit_lat does the hash map's. */
static void drain_lat_ring(struct pktlat_bpf *skel, struct drain_ctx *ctx, __u32 first, __u32 cutoff)
{
	int fd = bpf_map__fd(skel->maps.lsc_lat_ring), ncpu = libbpf_num_possible_cpus(), n = ctx->o->n_ifaces;
	struct pktlat_lat_ring *vals;
	struct ls_hist *sum;
	if (!skel->rodata->lat_ring_on || ncpu <= 0)
		return;
	vals = calloc(ncpu, sizeof(*vals));
	sum = calloc(1, sizeof(*sum));
	if (!vals || !sum)
		goto out;
	for (__u32 w = first; w < cutoff; w++) {
		for (int q = 0; q < n; q++) {
			for (int r = 0; r < n; r++) {
				for (__u8 flow = PKTLAT_FLOW_ANY; flow <= PKTLAT_FLOW_FROM; flow++) {
					__u32 idx = (((w % PKTLAT_RING) * n + q) * n + r) * 3 + flow;
					struct pktlat_lat_key k = { .window = w, .flow = flow };
					if (bpf_map_lookup_elem(fd, &idx, vals))
						continue;
					memset(sum, 0, sizeof(*sum));
					for (int c = 0; c < ncpu; c++) {
						if (vals[c].window1 != w + 1)
							continue;
						sum->count += vals[c].h.count;
						sum->sum += vals[c].h.sum;
						for (int i = 0; i < LS_HIST_SLOTS; i++)
							sum->slots[i] += vals[c].h.slots[i];
					}
					if (!sum->count)
						continue;
					strncpy(k.ifname, ctx->o->ifaces[q], LS_IFNAMSIZ - 1);
					strncpy(k.peer, ctx->o->ifaces[r], LS_IFNAMSIZ - 1);
					emit_lat(&k, sum, ctx);
				}
			}
		}
	}
out:
	free(vals);
	free(sum);
}

/*
 * The "sampling" records of the windows before cutoff: each window's N, its timed pairs and its
 * queued packets. Returns the packets of the latest of them (0 when none).
 */
static __u64 emit_sampling(struct drain_ctx *ctx, __u32 cutoff, __u32 *latest)
{
	__u64 pk = 0;
	for (;;) {
		struct win_acc *a = NULL;
		for (int i = 0; i < PKTLAT_ACC; i++)
			if (ctx->acc[i].used && ctx->acc[i].w < cutoff && (!a || ctx->acc[i].w < a->w))
				a = &ctx->acc[i];
		if (!a)
			return pk;
		ls_out("{\"t\":\"sampling\",\"probe\":\"" PROBE "\",\"w\":%llu,\"d\":%llu,\"every\":%u,\"timed\":%llu,\"packets\":%llu}",
		       (unsigned long long)ls_window_start(ctx->o, a->w), (unsigned long long)ctx->o->window_ns,
		       every_of(ctx, a->w), (unsigned long long)a->timed, (unsigned long long)a->packets);
		*latest = a->w;
		pk = a->packets;
		a->used = false;
	}
}

/*
 * 1 in N from window `from` on: N such that the packets of the latest window, at that rate, are timed
 * within the budget. Written as the kernel expects it: old, boundary, new.
 */
static void choose_every(struct drain_ctx *ctx, __u64 packets, __u32 from)
{
	struct pktlat_bpf *skel = ctx->skel;
	double per_s = (double)packets * 1e9 / (double)ctx->o->window_ns;
	double can = (double)ctx->so.budget_ns / PKTLAT_TIMED_NS;
	double n = ceil(per_s / can);
	__u32 every = n < 1 ? 1 : n > PKTLAT_MAX_EVERY ? PKTLAT_MAX_EVERY : (__u32)n;
	if (every == ctx->changes[ctx->n_changes - 1].every)
		return;
	__atomic_store_n(&skel->bss->samp_old, skel->bss->samp_new, __ATOMIC_RELEASE);
	__atomic_store_n(&skel->bss->samp_from, from, __ATOMIC_RELEASE);
	__atomic_store_n(&skel->bss->samp_new, thresh_of(every), __ATOMIC_RELEASE);
	if (ctx->n_changes == PKTLAT_CHANGES) {
		memmove(&ctx->changes[0], &ctx->changes[1], sizeof(ctx->changes[0]) * (PKTLAT_CHANGES - 1));
		ctx->n_changes--;
	}
	ctx->changes[ctx->n_changes].from = from;
	ctx->changes[ctx->n_changes++].every = every;
}

/* Emits the windows before cutoff (all with UINT32_MAX): the window loop's tick. */
static void drain(__u32 cutoff, void *p)
{
	struct drain_ctx *ctx = p;
	struct pktlat_bpf *skel = ctx->skel;
	__u32 upto = cutoff, first = ring_first(skel, ctx, &upto), latest = 0;
	__u64 packets;

	drain_cnt_ring(skel, ctx, first, upto);
	drain_lat_ring(skel, ctx, first, upto);
	if (upto > skel->bss->ring_drained)
		skel->bss->ring_drained = upto;
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_lat), sizeof(struct pktlat_lat_key), sizeof(struct ls_hist),
			 bpf_map__max_entries(skel->maps.lsc_lat), cutoff, lat_window, emit_lat, ctx, true);
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_pkts), sizeof(struct pktlat_cnt_key), sizeof(struct pktlat_cnt),
			 bpf_map__max_entries(skel->maps.lsc_pkts), cutoff, cnt_window, emit_cnt, ctx, true);
	ls_drain_windows(bpf_map__fd(skel->maps.lsc_drops), sizeof(struct pktlat_drop_key), sizeof(__u64),
			 bpf_map__max_entries(skel->maps.lsc_drops), cutoff, drop_window, emit_drop, ctx, true);
	packets = emit_sampling(ctx, upto, &latest);
	/* the tick comes GRACE_NS into window `cutoff`: the next decision holds from the window after it */
	if (cutoff != UINT32_MAX && !ctx->so.full && !ctx->so.every && latest + 1 == cutoff)
		choose_every(ctx, packets, cutoff + 1);
}

static void end_fields(char *buf, size_t n, const __u64 *stats, void *p)
{
	const struct drain_ctx *ctx = p;
	/* win_late_us: the latest the kernel's window timer fired after a boundary (packets counted in the window before) */
	snprintf(buf, n, ",\"stale\":%llu,\"overwritten\":%llu,\"fidelity\":\"%s\",\"win_late_us\":%.3f",
		 (unsigned long long)stats[LS_STAT_STALE], (unsigned long long)stats[LS_STAT_OVERWRITTEN],
		 ctx->so.full ? "full" : "sampled", (double)ctx->skel->bss->win_late_max_ns / 1e3);
}

int main(int argc, char **argv)
{
	struct pktlat_bpf *skel;
	struct ls_opts o;
	struct ls_clock clk;
	static struct drain_ctx ctx = { .so = { .budget_ns = 2000000ULL } };
	const struct ls_own_opts own = {
		.fn = samp_opt,
		.ctx = &ctx.so,
		.usage = "  --fidelity F         sampled (default): every packet counted, 1 in N timed; full: every packet timed\n"
			 "  --every N            sampled: time 1 in N (default: N chosen each window from the packet rate)\n"
			 "  --budget-us N        sampled: program run time per second the timing may take (default 2000)\n",
	};
	__u32 every;
	int err;

	ctx.o = &o;
	ls_init(argc, argv, &o, &clk, PROBE, LS_OPT_FILTER | LS_OPT_PROBE, &own);

	skel = pktlat_bpf__open();
	if (!skel)
		return ls_open_failed(PROBE);
	LS_PROBE_RODATA(skel->rodata, &o);
	skel->rodata->max_age_ns = o.max_age_ns;
	bpf_program__set_autoload(skel->progs.lsc_skb_drop, !o.no_drops);
	bpf_map__set_max_entries(skel->maps.lsc_pkt_ring, PKTLAT_RING * (o.n_ifaces ? o.n_ifaces : 1) * 2);
	skel->rodata->lat_ring_on = o.n_ifaces > 0 && o.n_ifaces <= PKTLAT_LAT_RING_IFACES;
	bpf_map__set_max_entries(skel->maps.lsc_lat_ring,
				 skel->rodata->lat_ring_on ? PKTLAT_RING * o.n_ifaces * o.n_ifaces * 3 : 1);
	skel->bss->ring_drained = (__u32)((ls_mono_ns() - o.t0) / o.window_ns);
	every = ctx.so.full ? 1 : ctx.so.every ? ctx.so.every : PKTLAT_FIRST_EVERY;
	skel->rodata->time_all = ctx.so.full;
	skel->bss->samp_old = skel->bss->samp_new = thresh_of(every);
	ctx.changes[0].from = 0;
	ctx.changes[0].every = every;
	ctx.n_changes = 1;
	load_reason_names();
	ctx.skel = skel;
	err = ls_probe_run(skel->skeleton, &o, &clk, skel->maps.lsc_f_cidrs, NULL, NULL,
			   &(struct ls_loop){ .grace_ns = GRACE_NS, .tick = drain, .ctx = &ctx, .end_fields = end_fields });
	pktlat_bpf__destroy(skel);
	return err ? 1 : 0;
}
