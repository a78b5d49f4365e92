// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ls_loader.h"

volatile sig_atomic_t ls_exiting;
unsigned long long ls_lines;
static char out_buf[1 << 20];

static void on_signal(int sig)
{
	(void)sig;
	ls_exiting = 1;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* Signals end the loop (ls_exiting), the parent's death sends SIGTERM, stdout is fully buffered. */
static void setup_process(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the harness owns us: if it dies, we stop and our links go with us */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
	libbpf_set_print(libbpf_quiet);
}

__u64 ls_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __u64 rt_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void clock_sync(struct ls_clock *c)
{
	__u64 best = UINT64_MAX;
	for (int i = 0; i < 64; i++) {
		__u64 r1 = rt_ns();
		__u64 m = ls_mono_ns();
		__u64 r2 = rt_ns();
		if (r2 - r1 < best) {
			best = r2 - r1;
			c->mono_ns = m;
			/* midpoint of the bracket, split into whole ms + fraction to keep double precision */
			__u64 mid = r1 + (r2 - r1) / 2;
			c->realtime_ms = (double)(mid / 1000000ULL) + (double)(mid % 1000000ULL) / 1e6;
			c->err_ns = r2 - r1;
		}
	}
}

/* Window grid origin in CLOCK_MONOTONIC ns: on the grid of o->align_ms (when given), not after now. */
static __u64 window_t0(const struct ls_opts *o, const struct ls_clock *c)
{
	__u64 now = ls_mono_ns();
	double t0;
	if (isnan(o->align_ms))
		return now;
	t0 = (double)c->mono_ns + (o->align_ms - c->realtime_ms) * 1e6;
	/* move the origin back by whole windows until it is not in the future */
	if (t0 > (double)now) {
		double k = ceil((t0 - (double)now) / (double)o->window_ns);
		t0 -= k * (double)o->window_ns;
	} else {
		double k = floor(((double)now - t0) / (double)o->window_ns);
		t0 += k * (double)o->window_ns;
	}
	return t0 < 0 ? 0 : (__u64)t0;
}

void ls_out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	ls_lines++;
}

void ls_out_flush(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		ls_exiting = 1; /* nobody reads us any more */
}

/* Writes s JSON-escaped into dst (n bytes, at least 8), truncating; with ascii, bytes >= 0x7f are escaped too. */
static void json_escape(char *dst, size_t n, const char *s, bool ascii)
{
	char *p = dst;
	for (; *s && p < dst + n - 8; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			*p++ = '\\';
			*p++ = ch;
		} else if (ch < 0x20 || (ascii && ch >= 0x7f)) {
			p += sprintf(p, "\\u%04x", ch);
		} else {
			*p++ = ch;
		}
	}
	*p = 0;
}

const char *ls_jstr(const char *s)
{
	static char bufs[8][320];
	static int next;
	char *b = bufs[next++ & 7];
	b[0] = '"';
	json_escape(b + 1, sizeof(bufs[0]) - 2, s, true);
	strcat(b, "\"");
	return b;
}

void ls_emit_error(const char *probe, const char *fmt, ...)
{
	char msg[512], esc[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_escape(esc, sizeof(esc), msg, false);
	ls_out("{\"t\":\"error\",\"probe\":\"%s\",\"msg\":\"%s\"}", probe, esc);
	ls_out_flush();
}

static unsigned opt_groups;
static const struct ls_own_opts *own_opts;

static void usage(const char *probe)
{
	fprintf(stderr, "usage: %s [options]\n", probe);
	if (opt_groups & LS_OPT_FILTER)
		fputs("  --iface NAME         count only this interface (repeatable); NAME* : every interface so named, also later ones\n"
		      "  --port N             count only packets/sockets with this port on either side (repeatable)\n"
		      "  --cidr A/LEN         count only packets/sockets with an address in this prefix (repeatable)\n",
		      stderr);
	fputs("  --window-ms N        aggregation window (default 1000)\n"
	      "  --align-ms EPOCH_MS  put window boundaries on this epoch time's grid\n",
	      stderr);
	if (opt_groups & LS_OPT_PROBE)
		fputs("  --sample N           sampled records: 1 in N besides the first per window (default 64)\n"
		      "  --max-age-ms N       pktlat: pairs older than this are stale (default 1000)\n"
		      "  --rtt-every-ms N     tcpwatch: sample srtt at most once per socket per N ms (default 10; 0: every ACK)\n"
		      "  --no-drops           pktlat: do not count kfree_skb drops\n"
		      "  --stats-every N      the kernel's run-time statistics on for 1/N of every window only (default 1: always)\n",
		      stderr);
	fputs("  --duration S         stop after S seconds\n", stderr);
	if (opt_groups & LS_OPT_PROBE)
		fputs("Output: NDJSON on stdout (docs/probes.md).\n", stderr);
	if (own_opts)
		fputs(own_opts->usage, stderr);
}

void ls_usage_exit(const char *probe, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ls_emit_error(probe, "%s", msg);
	usage(probe);
	exit(2);
}

static int parse_cidr(const char *text, struct ls_cidr_key *k)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	long len;
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	if (n >= sizeof(addr))
		return -1;
	memcpy(addr, text, n);
	addr[n] = 0;
	memset(k, 0, sizeof(*k));
	if (inet_pton(AF_INET, addr, k->addr + 12) == 1) {
		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		len = slash ? strtol(slash + 1, NULL, 10) : 32;
		if (len < 0 || len > 32)
			return -1;
		k->prefixlen = 96 + len;
	} else if (inet_pton(AF_INET6, addr, k->addr) == 1) {
		len = slash ? strtol(slash + 1, NULL, 10) : 128;
		if (len < 0 || len > 128)
			return -1;
		k->prefixlen = len;
	} else {
		return -1;
	}
	return 0;
}

/* One option of the groups: 1 taken, 0 not one of them, -1 bad value. */
static int shared_opt(struct ls_opts *o, const char *a, const char *v)
{
	char *end;
	if (!strcmp(a, "--window-ms")) {
		double ms = strtod(v, NULL);
		if (ms < 10 || ms > 3600000)
			return -1;
		o->window_ns = (__u64)(ms * 1e6);
	} else if (!strcmp(a, "--align-ms")) {
		o->align_ms = strtod(v, NULL);
	} else if (!strcmp(a, "--duration")) {
		o->duration_s = strtod(v, NULL);
	} else if (!(opt_groups & LS_OPT_FILTER)) {
		goto probe;
	} else if (!strcmp(a, "--iface")) {
		size_t len = strlen(v);
		if (len >= 2 && v[len - 1] == '*') {
			if (o->n_ifprefixes >= LS_MAX_IFPREFIXES || len > LS_IFNAMSIZ || strchr(v, '*') != v + len - 1)
				return -1;
			memcpy(o->ifprefixes[o->n_ifprefixes++], v, len - 1);
			return 1;
		}
		if (o->n_ifaces >= LS_MAX_IFACES || len >= LS_IFNAMSIZ || !*v)
			return -1;
		strcpy(o->ifaces[o->n_ifaces++], v);
	} else if (!strcmp(a, "--port")) {
		long p = strtol(v, &end, 10);
		if (*end || p <= 0 || p > 65535 || o->n_ports >= LS_MAX_PORTS)
			return -1;
		o->ports[o->n_ports++] = (__u16)p;
	} else if (!strcmp(a, "--cidr")) {
		if (o->n_cidrs >= LS_MAX_CIDRS || strlen(v) >= 64 || parse_cidr(v, &o->cidrs[o->n_cidrs]))
			return -1;
		strcpy(o->cidr_text[o->n_cidrs++], v);
	} else {
		goto probe;
	}
	return 1;
probe:
	if (!(opt_groups & LS_OPT_PROBE))
		return 0;
	if (!strcmp(a, "--sample")) {
		o->sample_every = (__u32)strtoul(v, NULL, 10);
	} else if (!strcmp(a, "--max-age-ms")) {
		o->max_age_ns = (__u64)(strtod(v, NULL) * 1e6);
	} else if (!strcmp(a, "--stats-every")) {
		unsigned long n = strtoul(v, &end, 10);
		if (*end || n < 1 || n > 3600)
			return -1;
		o->stats_every = (__u32)n;
	} else if (!strcmp(a, "--rtt-every-ms")) {
		double ms = strtod(v, NULL);
		if (ms < 0 || ms > 3600000)
			return -1;
		o->rtt_every_ns = (__u64)(ms * 1e6);
	} else {
		return 0;
	}
	return 1;
}

static void parse_args(int argc, char **argv, struct ls_opts *o, const char *probe, unsigned groups,
		       const struct ls_own_opts *own)
{
	memset(o, 0, sizeof(*o));
	o->probe = probe;
	o->window_ns = 1000000000ULL;
	o->align_ms = NAN;
	o->sample_every = 64;
	o->max_age_ns = 1000000000ULL;
	o->rtt_every_ns = 10000000ULL;
	o->stats_every = 1;
	opt_groups = groups;
	own_opts = own;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(probe);
			exit(0);
		} else if ((groups & LS_OPT_PROBE) && !strcmp(a, "--no-drops")) {
			o->no_drops = true;
			continue;
		}
		if (!v)
			ls_usage_exit(probe, "bad option %s", a);
		i++;
		r = shared_opt(o, a, v);
		if (r == 0 && own)
			r = own->fn(a, v, own->ctx);
		if (r <= 0)
			ls_usage_exit(probe, "bad option %s %s", a, v);
	}
}

void ls_init(int argc, char **argv, struct ls_opts *o, struct ls_clock *c, const char *probe, unsigned groups,
	     const struct ls_own_opts *own)
{
	setup_process();
	parse_args(argc, argv, o, probe, groups, own);
	clock_sync(c);
	o->t0 = window_t0(o, c);
}

void ls_filter_rodata(const struct ls_opts *o, __u32 *n_ifaces, struct ls_ifname *ifaces, __u32 *n_ifprefixes,
		      struct ls_ifprefix *ifprefixes, __u64 *port_bits)
{
	*n_ifaces = (__u32)o->n_ifaces;
	for (int i = 0; i < o->n_ifaces; i++) {
		memset(&ifaces[i], 0, sizeof(ifaces[i]));
		strncpy(ifaces[i].name, o->ifaces[i], LS_IFNAMSIZ - 1);
	}
	*n_ifprefixes = (__u32)o->n_ifprefixes;
	for (int i = 0; i < o->n_ifprefixes; i++) {
		struct ls_ifname name = {}, mask = {};
		size_t len = strnlen(o->ifprefixes[i], LS_IFNAMSIZ);
		memcpy(name.name, o->ifprefixes[i], len);
		memset(mask.name, 0xff, len);
		ifprefixes[i] = (struct ls_ifprefix){ .w = { name.w[0], name.w[1] }, .mask = { mask.w[0], mask.w[1] } };
	}
	memset(port_bits, 0, LS_PORT_WORDS * sizeof(__u64));
	for (int i = 0; i < o->n_ports; i++)
		port_bits[o->ports[i] >> 6] |= 1ULL << (o->ports[i] & 63);
}

void ls_cidr_rodata(const struct ls_opts *o, __u32 *n, struct ls_cidr_words *w)
{
	*n = 0;
	if (o->n_cidrs > LS_INLINE_CIDRS)
		return; /* the trie */
	for (int i = 0; i < o->n_cidrs; i++) {
		__u8 net[16], mask[16];
		int bits = (int)o->cidrs[i].prefixlen;
		for (int b = 0; b < 16; b++, bits -= 8) {
			mask[b] = bits >= 8 ? 0xff : bits > 0 ? (__u8)(0xff << (8 - bits)) : 0;
			net[b] = o->cidrs[i].addr[b] & mask[b];
		}
		memcpy(w[i].net, net, 16);
		memcpy(w[i].mask, mask, 16);
	}
	*n = (__u32)o->n_cidrs;
}

/* Fills the address filter (LPM trie) after load. */
static int fill_cidrs(const struct ls_opts *o, int cidrs_fd)
{
	__u8 one = 1;
	for (int i = 0; i < o->n_cidrs; i++)
		if (bpf_map_update_elem(cidrs_fd, &o->cidrs[i], &one, BPF_ANY))
			return -errno;
	return 0;
}

void ls_emit_hist(const struct ls_opts *o, const char *m, __u32 w, const char *tags, const struct ls_hist *h)
{
	char b[LS_HIST_SLOTS * 24 + 2];
	size_t off = 0;
	b[0] = 0;
	for (int i = 0; i < LS_HIST_SLOTS; i++)
		if (h->slots[i])
			off += (size_t)snprintf(b + off, sizeof(b) - off, "%s%d,%llu", off ? "," : "", i,
						(unsigned long long)h->slots[i]);
	ls_out("{\"t\":\"hist\",\"probe\":\"%s\",\"m\":\"%s\",\"w\":%llu,\"d\":%llu,\"tags\":{%s},\"n\":%llu,\"sum\":%llu,\"b\":[%s]}",
	       o->probe, m, (unsigned long long)ls_window_start(o, w), (unsigned long long)o->window_ns, tags,
	       (unsigned long long)h->count, (unsigned long long)h->sum, b);
}

const char *ls_addr(const __u8 *addr)
{
	static char bufs[8][INET6_ADDRSTRLEN];
	static int next;
	char *b = bufs[next++ & 7];
	static const __u8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (!memcmp(addr, mapped, 12))
		inet_ntop(AF_INET, addr + 12, b, sizeof(bufs[0]));
	else
		inet_ntop(AF_INET6, addr, b, sizeof(bufs[0]));
	return b;
}

const char *ls_addr4(__u32 be_addr)
{
	__u8 mapped[16] = { [10] = 0xff, [11] = 0xff };
	memcpy(mapped + 12, &be_addr, 4);
	return ls_addr(mapped);
}

void ls_emit_clock(const struct ls_opts *o, const struct ls_clock *c)
{
	ls_out("{\"t\":\"clock\",\"probe\":\"%s\",\"pid\":%d,\"mono_ns\":%llu,\"realtime_ms\":%.6f,"
	       "\"err_ns\":%llu,\"window_ns\":%llu,\"t0_ns\":%llu,\"hist\":\"loglin3\"}",
	       o->probe, (int)getpid(), (unsigned long long)c->mono_ns, c->realtime_ms,
	       (unsigned long long)c->err_ns, (unsigned long long)o->window_ns, (unsigned long long)o->t0);
}

/* "ready": names and kernel ids of the object's programs and maps, and the filter in force. */
static void emit_ready(const struct ls_opts *o, struct bpf_object *obj)
{
	char f[4096], names[1024], pids[256], mids[256];
	struct bpf_program *prog;
	struct bpf_map *map;
	int n = snprintf(f, sizeof(f), "{\"ifaces\":[");
	int nn = 0, np = 0, nm = 0;
	for (int i = 0; i < o->n_ifaces && n < (int)sizeof(f) - 64; i++)
		n += snprintf(f + n, sizeof(f) - n, "%s%s", i ? "," : "", ls_jstr(o->ifaces[i]));
	for (int i = 0; i < o->n_ifprefixes && n < (int)sizeof(f) - 64; i++) {
		char pat[LS_IFNAMSIZ + 1];
		snprintf(pat, sizeof(pat), "%s*", o->ifprefixes[i]);
		n += snprintf(f + n, sizeof(f) - n, "%s%s", i || o->n_ifaces ? "," : "", ls_jstr(pat));
	}
	n += snprintf(f + n, sizeof(f) - n, "],\"ports\":[");
	for (int i = 0; i < o->n_ports && n < (int)sizeof(f) - 64; i++)
		n += snprintf(f + n, sizeof(f) - n, "%s%u", i ? "," : "", o->ports[i]);
	n += snprintf(f + n, sizeof(f) - n, "],\"cidrs\":[");
	for (int i = 0; i < o->n_cidrs && n < (int)sizeof(f) - 96; i++)
		n += snprintf(f + n, sizeof(f) - n, "%s\"%s\"", i ? "," : "", o->cidr_text[i]);
	snprintf(f + n, sizeof(f) - n, "]}");
	names[0] = pids[0] = mids[0] = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_program__fd(prog) < 0 || bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			continue;
		if (nn < (int)sizeof(names) - 40)
			nn += snprintf(names + nn, sizeof(names) - nn, "%s\"%s\"", nn ? "," : "", bpf_program__name(prog));
		if (np < (int)sizeof(pids) - 16)
			np += snprintf(pids + np, sizeof(pids) - np, "%s%u", np ? "," : "", info.id);
	}
	bpf_object__for_each_map(map, obj) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_map__fd(map) < 0 || bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len))
			continue;
		if (nm < (int)sizeof(mids) - 16)
			nm += snprintf(mids + nm, sizeof(mids) - nm, "%s%u", nm ? "," : "", info.id);
	}
	ls_out("{\"t\":\"ready\",\"probe\":\"%s\",\"progs\":[%s],\"prog_ids\":[%s],\"map_ids\":[%s],\"filter\":%s}",
	       o->probe, names, pids, mids, f);
	ls_out_flush();
}

int ls_drain_windows(int map_fd, size_t key_sz, size_t val_sz, __u32 max_entries, __u32 cutoff,
		     ls_window_of_fn window_of, ls_emit_fn emit, void *ctx, bool percpu)
{
	int ncpu = percpu ? libbpf_num_possible_cpus() : 1;
	size_t words = val_sz / sizeof(__u64);
	char *keys = malloc((size_t)max_entries * key_sz);
	__u64 *raw = ncpu > 0 ? calloc((size_t)ncpu, words * sizeof(__u64)) : NULL;
	__u64 *val = calloc(words ? words : 1, sizeof(__u64));
	size_t n = 0;
	void *prev = NULL;
	if (!keys || !raw || !val) {
		free(keys);
		free(raw);
		free(val);
		return -ENOMEM;
	}
	/* collect first: deleting while walking a hash map restarts the walk */
	while (n < max_entries && bpf_map_get_next_key(map_fd, prev, keys + n * key_sz) == 0) {
		prev = keys + n * key_sz;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		const void *k = keys + i * key_sz;
		if (window_of(k) >= cutoff)
			continue;
		if (bpf_map_lookup_elem(map_fd, k, percpu ? (void *)raw : (void *)val) == 0) {
			if (percpu) {
				memset(val, 0, words * sizeof(__u64));
				for (int c = 0; c < ncpu; c++)
					for (size_t w = 0; w < words; w++)
						val[w] += raw[(size_t)c * words + w];
			}
			emit(k, val, ctx);
		}
		bpf_map_delete_elem(map_fd, k);
	}
	free(keys);
	free(raw);
	free(val);
	return (int)n;
}

/* Sums the per-CPU stats array into out[LS_STAT__MAX]. */
static int read_stats(int stats_fd, __u64 *out)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals;
	if (ncpu <= 0)
		return -1;
	vals = calloc(ncpu, sizeof(__u64));
	if (!vals)
		return -1;
	for (__u32 i = 0; i < LS_STAT__MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(stats_fd, &i, vals) == 0)
			for (int c = 0; c < ncpu; c++)
				out[i] += vals[c];
	}
	free(vals);
	return 0;
}

/* Emits "lost" records for growth of ring-buffer and map-full counters since the last call. */
static void report_lost(const char *probe, const __u64 *stats, __u64 *last, __u64 now_ns)
{
	static const struct { int idx; const char *what; } kinds[] = {
		{ LS_STAT_RB_LOST, "ringbuf" },
		{ LS_STAT_MAP_FULL, "map_full" },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int idx = kinds[i].idx;
		if (stats[idx] > last[idx]) {
			ls_out("{\"t\":\"lost\",\"probe\":\"%s\",\"what\":\"%s\",\"ts\":%llu,\"n\":%llu,\"total\":%llu}",
			       probe, kinds[i].what, (unsigned long long)now_ns,
			       (unsigned long long)(stats[idx] - last[idx]), (unsigned long long)stats[idx]);
			last[idx] = stats[idx];
		}
	}
}

/* Sleeps until deadline (mono ns) or a signal; returns early when ls_exiting is set. */
static void sleep_until(__u64 deadline_ns)
{
	while (!ls_exiting) {
		__u64 now = ls_mono_ns();
		struct timespec ts;
		if (now >= deadline_ns)
			return;
		__u64 d = deadline_ns - now;
		ts.tv_sec = d / 1000000000ULL;
		ts.tv_nsec = d % 1000000000ULL;
		nanosleep(&ts, NULL);
	}
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/*
 * The kernel's run-time statistics (bpf_enable_stats(BPF_STATS_RUN_TIME): the run count and run time
 * of every BPF program while some fd holds them on) cost two clock reads around every program run.
 * With --stats-every N they are on for 1/N of every window: a spell of window/N at an offset within
 * the window that is a fixed function of the window's index (stats_spell), so every loader of a run,
 * sharing the grid, switches at the same moments, and no part of a window (the drain just after a
 * boundary, a stage change at one) is sampled more than another. The first spell runs from before
 * attach for window/N. Each spell's change of every program's count and time is added up, and the
 * end record gives the sums with the seconds they cover (stats_on_s). N = 1: one spell, from before
 * attach to the end.
 */
#define LS_MAX_PROGS 16
static struct {
	int fd;         /* -1: off */
	bool used;      /* turned on at least once (ls_probe_run; the balancer and the fault loader never do) */
	bool failed;    /* bpf_enable_stats was refused: the end record says bpf_stats false */
	__u64 since_ns; /* when the current spell began */
	__u64 on_ns;    /* the spells so far, summed */
	__u64 at_cnt[LS_MAX_PROGS], at_ns[LS_MAX_PROGS];   /* at the current spell's start */
	__u64 sum_cnt[LS_MAX_PROGS], sum_ns[LS_MAX_PROGS]; /* over the spells so far */
} run_stats = { .fd = -1 };

/* Each program's run count and run time now, in the object's program order. */
static void prog_counts(struct bpf_object *obj, __u64 *cnt, __u64 *ns)
{
	struct bpf_program *prog;
	int i = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		if (i >= LS_MAX_PROGS)
			break;
		memset(&info, 0, sizeof(info));
		if (bpf_program__fd(prog) >= 0 && !bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len)) {
			cnt[i] = info.run_cnt;
			ns[i] = info.run_time_ns;
		} else {
			cnt[i] = ns[i] = 0;
		}
		i++;
	}
}

static void run_stats_on(struct bpf_object *obj)
{
	if (run_stats.fd >= 0)
		return;
	run_stats.fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (run_stats.fd < 0) {
		run_stats.failed = true;
		return;
	}
	run_stats.used = true;
	prog_counts(obj, run_stats.at_cnt, run_stats.at_ns);
	run_stats.since_ns = ls_mono_ns();
}

static void run_stats_off(struct bpf_object *obj)
{
	__u64 cnt[LS_MAX_PROGS] = {}, ns[LS_MAX_PROGS] = {};
	if (run_stats.fd < 0)
		return;
	prog_counts(obj, cnt, ns);
	run_stats.on_ns += ls_mono_ns() - run_stats.since_ns;
	for (int i = 0; i < LS_MAX_PROGS; i++) {
		run_stats.sum_cnt[i] += cnt[i] - run_stats.at_cnt[i];
		run_stats.sum_ns[i] += ns[i] - run_stats.at_ns[i];
	}
	close(run_stats.fd);
	run_stats.fd = -1;
}

/*
 * The statistics' spell in window w with --stats-every N (N > 1): [*on, *off), window/N long, inside
 * [start of w + grace, end of w), at an offset spread over that range by a hash of w.
 */
static void stats_spell(const struct ls_opts *o, __u64 grace_ns, __u32 w, __u64 *on, __u64 *off)
{
	__u64 len = o->window_ns / o->stats_every;
	__u64 room = o->window_ns > grace_ns + len ? o->window_ns - grace_ns - len : 0;
	__u64 h = (__u64)w * 0x9E3779B97F4A7C15ULL;

	h ^= h >> 29;
	*on = o->t0 + (__u64)w * o->window_ns + grace_ns + (room ? (h >> 16) % room : 0);
	*off = *on + len;
}

/* Each program's runs and run time over the statistics' spells, as a JSON object. */
static void prog_stats_json(char *buf, size_t n, struct bpf_object *obj)
{
	struct bpf_program *prog;
	size_t off = (size_t)snprintf(buf, n, "{");
	int i = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		if (off >= n - 96 || i >= LS_MAX_PROGS)
			break;
		memset(&info, 0, sizeof(info));
		if (bpf_program__fd(prog) < 0 || bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len)) {
			i++;
			continue;
		}
		off += (size_t)snprintf(buf + off, n - off, "%s\"%s\":{\"id\":%u,\"run_cnt\":%llu,\"run_ns\":%llu}",
					off > 1 ? "," : "", bpf_program__name(prog), info.id,
					(unsigned long long)run_stats.sum_cnt[i], (unsigned long long)run_stats.sum_ns[i]);
		i++;
	}
	snprintf(buf + off, n - off, "}");
}

int ls_load(struct bpf_object_skeleton *s, const struct ls_opts *o, struct bpf_map *cidrs)
{
	int err = bpf_object__load_skeleton(s);
	if (err) {
		ls_emit_error(o->probe, "load BPF programs: %s", strerror(-err));
		return err;
	}
	if (cidrs && (err = fill_cidrs(o, bpf_map__fd(cidrs)))) {
		ls_emit_error(o->probe, "fill filter maps: %s", strerror(-err));
		return err;
	}
	return 0;
}

struct ring_buffer *ls_ring_buffer(const char *probe, struct bpf_map *map, int (*fn)(void *, void *, size_t), void *ctx)
{
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(map), fn, ctx, NULL);
	if (!rb)
		ls_emit_error(probe, "ring buffer: %s", strerror(errno));
	return rb;
}

/* Reads what stdin has and hands each complete line to l->line; false at its end. */
static bool read_lines(const struct ls_loop *l)
{
	static char buf[8192];
	static size_t len;
	char *start = buf, *nl;
	ssize_t got = read(0, buf + len, sizeof(buf) - 1 - len);
	if (got <= 0)
		return got < 0 && (errno == EINTR || errno == EAGAIN);
	len += (size_t)got;
	while ((nl = memchr(start, '\n', buf + len - start))) {
		*nl = 0;
		l->line(start, l->ctx);
		start = nl + 1;
	}
	len = (size_t)(buf + len - start);
	memmove(buf, start, len);
	if (len >= sizeof(buf) - 1) {
		l->line(NULL, l->ctx);
		len = 0;
	}
	return true;
}

static void window_loop(const struct ls_opts *o, const struct ls_loop *l, struct bpf_object *obj, __u64 *stats, __u64 *last)
{
	__u64 start = ls_mono_ns();
	__u64 next = o->t0 + ((start - o->t0) / o->window_ns + 1) * o->window_ns + l->grace_ns;
	/* the statistics' current spell (--stats-every N > 1): the first from before attach, window/N long */
	bool spells = o->stats_every > 1;
	__u64 spell_on = 0, spell_off = start + o->window_ns / (o->stats_every ? o->stats_every : 1);

	while (!ls_exiting) {
		__u64 now = ls_mono_ns();
		if (spells) {
			bool want = now >= spell_on && now < spell_off;
			if (want && run_stats.fd < 0)
				run_stats_on(obj);
			else if (!want && run_stats.fd >= 0)
				run_stats_off(obj);
		}
		if (now >= next) {
			if (l->rb)
				ring_buffer__consume(l->rb);
			__u32 w = (__u32)((now - l->grace_ns - o->t0) / o->window_ns);
			l->tick(w, l->ctx);
			/* the spell of the window that just began; one still running (the first) ends where it would have */
			if (spells && now >= spell_off)
				stats_spell(o, l->grace_ns, w, &spell_on, &spell_off);
			read_stats(l->stats_fd, stats);
			report_lost(o->probe, stats, last, now);
			ls_out_flush();
			next += o->window_ns;
			if (o->duration_s > 0 && now - start >= (__u64)(o->duration_s * 1e9))
				return;
			continue;
		}
		/* wake at the next boundary, or sooner where the statistics switch */
		__u64 wake = next;
		if (spells) {
			__u64 sw = run_stats.fd >= 0 ? spell_off : spell_on;
			if (sw > now && sw < wake)
				wake = sw;
		}
		if (!l->rb && !l->line) {
			sleep_until(wake);
			continue;
		}
		struct pollfd pfd[2];
		int n = 0, ms = (int)((wake - now + 999999ULL) / 1000000ULL);
		if (l->line)
			pfd[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
		if (l->rb)
			pfd[n++] = (struct pollfd){ .fd = ring_buffer__epoll_fd(l->rb), .events = POLLIN };
		if (poll(pfd, n, ms > 100 ? 100 : ms) < 0) {
			if (errno == EINTR)
				continue;
			ls_emit_error(o->probe, "poll: %s", strerror(errno));
			return;
		}
		if (l->rb)
			ring_buffer__consume(l->rb);
		if (l->line) {
			if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && !read_lines(l))
				return; /* stdin closed: the harness is done or gone */
			ls_out_flush();
		}
	}
}

void ls_run(const struct ls_opts *o, const struct ls_loop *l, struct bpf_object_skeleton *s)
{
	__u64 stats[LS_STAT__MAX] = {}, last[LS_STAT__MAX] = {};
	char extra[256] = "", progs[1024];
	__u64 started = ls_mono_ns();
	double cpu_started = cpu_seconds();

	window_loop(o, l, *s->obj, stats, last);
	/* detach first so the last windows stop moving, then take everything */
	bpf_object__detach_skeleton(s);
	run_stats_off(*s->obj);
	if (l->rb)
		ring_buffer__consume(l->rb);
	l->tick(UINT32_MAX, l->ctx);
	read_stats(l->stats_fd, stats);
	report_lost(o->probe, stats, last, ls_mono_ns());
	if (l->end_fields)
		l->end_fields(extra, sizeof(extra), stats, l->ctx);
	prog_stats_json(progs, sizeof(progs), *s->obj);
	ls_out("{\"t\":\"end\",\"probe\":\"%s\",\"ts\":%llu,\"cpu_s\":%.3f,\"lines\":%llu,"
	       "\"lost\":{\"ringbuf\":%llu,\"map_full\":%llu}%s,\"progs\":%s,\"bpf_stats\":%s,\"stats_on_s\":%.3f,\"stats_every\":%u,\"wall_s\":%.3f,\"ncpu\":%ld,\"cpu_run_s\":%.3f}",
	       o->probe, (unsigned long long)ls_mono_ns(), cpu_seconds(), ls_lines + 1,
	       (unsigned long long)stats[LS_STAT_RB_LOST], (unsigned long long)stats[LS_STAT_MAP_FULL], extra, progs,
	       run_stats.used && !run_stats.failed ? "true" : "false", (double)run_stats.on_ns / 1e9, o->stats_every, (double)(ls_mono_ns() - started) / 1e9, sysconf(_SC_NPROCESSORS_ONLN),
	       cpu_seconds() - cpu_started);
	ls_out_flush();
}

int ls_probe_run(struct bpf_object_skeleton *s, const struct ls_opts *o, const struct ls_clock *c, struct bpf_map *cidrs,
		 struct bpf_map *events, int (*fn)(void *, void *, size_t), struct ls_loop *l)
{
	struct bpf_map *stats;
	int err = ls_load(s, o, cidrs);
	if (err)
		return err;
	/* a map has its fd only once loaded: taken here, not by the caller before load */
	stats = bpf_object__find_map_by_name(*s->obj, "lsc_stats");
	l->stats_fd = stats ? bpf_map__fd(stats) : -1;
	if (events && !(l->rb = ls_ring_buffer(o->probe, events, fn, NULL)))
		return -1;
	/* the programs' run count and time, for the cost the end record reports (run_stats: on now, and as --stats-every says) */
	run_stats_on(*s->obj);
	if ((err = bpf_object__attach_skeleton(s))) {
		ls_emit_error(o->probe, "attach: %s", strerror(-err));
	} else {
		ls_emit_clock(o, c);
		emit_ready(o, *s->obj);
		ls_run(o, l, s);
	}
	ring_buffer__free(l->rb);
	run_stats_off(*s->obj);
	return err;
}

int ls_open_failed(const char *probe)
{
	ls_emit_error(probe, "open BPF object: %s", strerror(errno));
	return 1;
}
