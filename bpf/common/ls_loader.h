/* SPDX-License-Identifier: Apache-2.0 */
/* Userspace side shared by the loadscope loaders: options, set-up, clock sync, NDJSON output, the window loop. */
#ifndef LS_LOADER_H
#define LS_LOADER_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>
#include "ls_common.h"

#define LS_MAX_PORTS 256
#define LS_MAX_CIDRS 256

struct ls_opts {
	const char *probe;
	char ifaces[LS_MAX_IFACES][LS_IFNAMSIZ];
	int n_ifaces;
	char ifprefixes[LS_MAX_IFPREFIXES][LS_IFNAMSIZ]; /* "--iface NAME*", without the '*' */
	int n_ifprefixes;
	__u16 ports[LS_MAX_PORTS];
	int n_ports;
	struct ls_cidr_key cidrs[LS_MAX_CIDRS];
	char cidr_text[LS_MAX_CIDRS][64];
	int n_cidrs;
	__u64 window_ns;
	__u64 t0;             /* window grid origin, CLOCK_MONOTONIC ns (ls_init): window w starts at t0 + w * window_ns */
	double align_ms;      /* window grid origin, epoch ms; NaN: align to the loader start */
	__u32 sample_every;   /* sampled records: 1 in N (0: only the first of each kind per window) */
	__u64 max_age_ns;
	__u64 rtt_every_ns;   /* tcpwatch: srtt at most once per socket per this long (0: every ACK) */
	double duration_s;    /* stop by itself after this long (0: until SIGTERM/SIGINT) */
	__u32 stats_every;    /* run-time statistics on for 1/N of every window (and window/N from attach); 1: the whole run */
	bool no_drops;
};

/* Clock-sync pair: CLOCK_MONOTONIC ns and CLOCK_REALTIME epoch ms read back to back. */
struct ls_clock {
	__u64 mono_ns;
	double realtime_ms;
	__u64 err_ns; /* width of the tightest realtime bracket around the monotonic read */
};

extern volatile sig_atomic_t ls_exiting;
extern unsigned long long ls_lines;

/* Option groups a loader takes besides --window-ms, --align-ms and --duration. */
#define LS_OPT_FILTER 1 /* --iface, --port, --cidr */
#define LS_OPT_PROBE 2  /* --sample, --max-age-ms, --rtt-every-ms, --no-drops */

/* A loader's own options: fn returns 1 when it took flag (and value), 0 when flag is not its own, -1 on a bad value. */
struct ls_own_opts {
	int (*fn)(const char *flag, const char *value, void *ctx);
	void *ctx;
	const char *usage; /* usage lines of its options */
};

/* An "error" record and the usage on stderr, then exit status 2. */
void ls_usage_exit(const char *probe, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/*
 * A loader's start: signals end its loop (ls_exiting), the parent's death sends SIGTERM, stdout is
 * fully buffered; then its options (exit status 2 and an "error" record on a bad command line; own
 * may be NULL), the clock-sync pair and the window grid origin o->t0 (not after now).
 */
void ls_init(int argc, char **argv, struct ls_opts *o, struct ls_clock *c, const char *probe, unsigned groups,
	      const struct ls_own_opts *own);
__u64 ls_mono_ns(void);
/* Writes the interface names and prefixes and the port bitmap into a skeleton's read-only data (before load). */
void ls_filter_rodata(const struct ls_opts *o, __u32 *n_ifaces, struct ls_ifname *ifaces, __u32 *n_ifprefixes,
		      struct ls_ifprefix *ifprefixes, __u64 *port_bits);
/* The address filter as rodata words when it is small enough (LS_INLINE_CIDRS), else n = 0. */
void ls_cidr_rodata(const struct ls_opts *o, __u32 *n, struct ls_cidr_words *w);
/* The window grid and the filters into a probe skeleton's rodata (the settings of ls_common.bpf.h), before load. */
#define LS_PROBE_RODATA(rodata, o)                                                                        \
	do {                                                                                            \
		(rodata)->ls_win_t0 = (o)->t0;                                                          \
		(rodata)->ls_win_ns = (o)->window_ns;                                                   \
		(rodata)->ls_filt_ifaces = (o)->n_ifaces > 0 || (o)->n_ifprefixes > 0;                  \
		(rodata)->ls_filt_ports = (o)->n_ports > 0;                                             \
		(rodata)->ls_filt_cidrs = (o)->n_cidrs > 0;                                             \
		ls_filter_rodata((o), &(rodata)->ls_n_ifaces, (rodata)->ls_ifaces, &(rodata)->ls_n_ifprefixes, \
				 (rodata)->ls_ifprefixes, (rodata)->ls_port_bits);                      \
		ls_cidr_rodata((o), &(rodata)->ls_n_icidrs, (rodata)->ls_icidrs);                       \
	} while (0)

struct bpf_object_skeleton;
struct bpf_map;
struct ring_buffer;
/* Loads an opened skeleton and fills its address filter (cidrs: the trie; NULL when it has none). */
int ls_load(struct bpf_object_skeleton *s, const struct ls_opts *o, struct bpf_map *cidrs);
/* A ring buffer over map that calls fn(ctx, record, size) for each record. */
struct ring_buffer *ls_ring_buffer(const char *probe, struct bpf_map *map, int (*fn)(void *, void *, size_t), void *ctx);

/* NDJSON output: one record per line on stdout. */
void ls_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ls_out_flush(void);
void ls_emit_error(const char *probe, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ls_emit_clock(const struct ls_opts *o, const struct ls_clock *c);
/* JSON string literal of s (quotes included), into a static rotating buffer. */
const char *ls_jstr(const char *s);
/* Start of window w in CLOCK_MONOTONIC ns. */
static inline __u64 ls_window_start(const struct ls_opts *o, __u32 w)
{
	return o->t0 + w * o->window_ns;
}
/* A "hist" record of metric m for window w: tags is the body of its tags object. */
void ls_emit_hist(const struct ls_opts *o, const char *m, __u32 w, const char *tags, const struct ls_hist *h);
/* Text form of a 16-byte address (IPv4 when v4-mapped). Static rotating buffer. */
const char *ls_addr(const __u8 *addr);
const char *ls_addr4(__u32 be_addr);

/*
 * Emits and deletes every key of a window-keyed map whose window is < cutoff (all keys when
 * cutoff is UINT32_MAX). window_of returns the window of a key; emit prints one record. With
 * percpu, the map is per-CPU and its values (made of __u64 only) are summed over the CPUs first.
 */
typedef __u32 (*ls_window_of_fn)(const void *key);
typedef void (*ls_emit_fn)(const void *key, const void *val, void *ctx);
int ls_drain_windows(int map_fd, size_t key_sz, size_t val_sz, __u32 max_entries, __u32 cutoff,
		     ls_window_of_fn window_of, ls_emit_fn emit, void *ctx, bool percpu);

/* Called once a window (plus grace) has passed: emit what belongs to windows < cutoff. */
typedef void (*ls_tick_fn)(__u32 cutoff, void *ctx);
/* One command line from stdin (without its newline); NULL when a line too long for the buffer was dropped. */
typedef void (*ls_line_fn)(char *line, void *ctx);

/* A loader's life once it is measuring: its window grid, what it does at and between boundaries. */
struct ls_loop {
	__u64 grace_ns;         /* boundaries at o->t0 + k * window + grace_ns */
	ls_tick_fn tick;        /* at each boundary, then lost events are reported; at the end, with UINT32_MAX */
	void *ctx;              /* for tick, line and end_fields */
	struct ring_buffer *rb; /* consumed as records arrive (NULL: none) */
	ls_line_fn line;        /* NULL: stdin is not read; else its lines, output flushed after each wake-up */
	int stats_fd;           /* the per-CPU stats array (enum ls_stat); ls_probe_run sets it to lsc_stats once loaded */
	/* Extra fields of the end record, each after a comma, from the final stats (NULL: none). */
	void (*end_fields)(char *buf, size_t n, const __u64 *stats, void *ctx);
};
/*
 * Runs the window loop until an exit signal, o->duration_s, a poll error or (with line) the end of
 * stdin; then detaches the skeleton's links, takes the last ring-buffer records and windows, and
 * ends with the "end" record: totals, end_fields and every loaded program's run stats.
 */
void ls_run(const struct ls_opts *o, const struct ls_loop *l, struct bpf_object_skeleton *s);
/*
 * A probe's life once its rodata is set: load (ls_load), its ring buffer when events is not NULL
 * (records to fn; into l->rb), attach every program, the clock and ready records, then ls_run.
 * Returns 0, or < 0 after an "error" record.
 */
int ls_probe_run(struct bpf_object_skeleton *s, const struct ls_opts *o, const struct ls_clock *c, struct bpf_map *cidrs,
		 struct bpf_map *events, int (*fn)(void *, void *, size_t), struct ls_loop *l);
/* The "error" record of a skeleton that did not open; returns the exit status. */
int ls_open_failed(const char *probe);

#endif
