/* SPDX-License-Identifier: Apache-2.0 */
/* Userspace side shared by the loadscope loaders: options, clock sync, NDJSON output, windows. */
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
	__u16 ports[LS_MAX_PORTS];
	int n_ports;
	struct ls_cidr_key cidrs[LS_MAX_CIDRS];
	char cidr_text[LS_MAX_CIDRS][64];
	int n_cidrs;
	__u64 window_ns;
	double align_ms;      /* window grid origin, epoch ms; NaN: align to the loader start */
	__u32 sample_every;   /* sampled records: 1 in N (0: only the first of each kind per window) */
	__u64 max_age_ns;
	__u64 rtt_every_ns;   /* tcpwatch: srtt at most once per socket per this long (0: every ACK) */
	double duration_s;    /* stop by itself after this long (0: until SIGTERM/SIGINT) */
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

/* Parses the shared options; exits with an "error" record and status 2 on a bad command line. */
void ls_parse_args(int argc, char **argv, struct ls_opts *o, const char *probe);
void ls_setup_process(void);
__u64 ls_mono_ns(void);
void ls_clock_sync(struct ls_clock *c);
/* Window grid origin in CLOCK_MONOTONIC ns (not after now). */
__u64 ls_window_t0(const struct ls_opts *o, const struct ls_clock *c);
/* Writes the interface names and the port bitmap into a skeleton's read-only data (before load). */
void ls_filter_rodata(const struct ls_opts *o, __u32 *n_ifaces, struct ls_ifname *ifaces, __u64 *port_bits);
/* The address filter as rodata words when it is small enough (LS_INLINE_CIDRS), else n = 0. */
void ls_cidr_rodata(const struct ls_opts *o, __u32 *n, struct ls_cidr_words *w);
/* Fills the address filter (LPM trie) after load. */
int ls_fill_cidrs(const struct ls_opts *o, int cidrs_fd);

/* NDJSON output: one record per line on stdout. */
void ls_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ls_out_flush(void);
void ls_emit_error(const char *probe, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ls_emit_clock(const struct ls_opts *o, const struct ls_clock *c, __u64 t0);
struct bpf_object;
/* "ready": names and kernel ids of the object's programs and maps, and the filter in force. */
void ls_emit_ready(const struct ls_opts *o, struct bpf_object *obj);
/* JSON string literal of s (quotes included), into a static rotating buffer. */
const char *ls_jstr(const char *s);
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

/* Sums the per-CPU stats array into out[LS_STAT__MAX]. */
int ls_read_stats(int stats_fd, __u64 *out);
/* Emits "lost" records for growth of ring-buffer and map-full counters since the last call. */
void ls_report_lost(const char *probe, const __u64 *stats, __u64 *last, __u64 now_ns);

/* Sleeps until deadline (mono ns) or a signal; returns early when ls_exiting is set. */
void ls_sleep_until(__u64 deadline_ns);

struct ring_buffer;
/* Called once a window (plus grace) has passed: drain aggregates with window index < cutoff. */
typedef void (*ls_tick_fn)(__u32 cutoff, void *ctx);
/* Polls `rb` between window boundaries and calls `tick` after each, then reports lost events from
 * `stats_fd` (into stats, last: the caller's, for its final report) and flushes output; returns on exit signal, poll error or o->duration_s. */
void ls_window_loop(struct ring_buffer *rb, const struct ls_opts *o, __u64 t0, __u64 grace_ns, const char *probe,
		    int stats_fd, __u64 *stats, __u64 *last, ls_tick_fn tick, void *ctx);
double ls_cpu_seconds(void);
/* JSON object with run counts and run time of each program (0 unless kernel.bpf_stats_enabled). */
void ls_prog_stats_json(char *buf, size_t n, int *prog_fds, const char **names, int count);

#endif
