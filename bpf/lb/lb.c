// SPDX-License-Identifier: Apache-2.0
/*
 * lb: loads lb.bpf.c, attaches cgroup/connect4 to the cgroup v2 root with a bpf_link this process
 * holds (when it exits, for whatever reason, nothing stays attached), takes routing-table updates
 * as text lines on stdin and writes NDJSON on stdout: clock, ready, ack per command, sampled "lb"
 * decisions, every "policy_drop" and "no_backend", per-window "count" records, "lost", "end".
 *
 *   lb --host-pid PID [--cgroup /sys/fs/cgroup] [--sample-every N] [--window-ms MS]
 *
 * The protocol and the records are described in docs/cluster.md. stdin EOF, SIGTERM, SIGINT or the
 * parent's death end it; exit status 0 then, 1 when it could not load or attach, 2 for usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "lb.h"
#include "lb.skel.h"

#define PROBE "lb"
#define MAX_NAMES 4096
#define MAX_CLIENTS 1024
#define MAX_COUNTERS 4096
#define NAME_LEN 64
#define LINE_MAX_LEN 8192

struct opts {
	const char *cgroup;
	__u32 host_pid;
	__u32 sample_every;
	__u64 window_ns;
};

struct service_info {
	bool used;
	char name[NAME_LEN];
	struct lb_addr vip;
	__u32 flags;
};

struct client_info {
	__u64 cgroup;
	char name[NAME_LEN];
	char ip[INET_ADDRSTRLEN];
};

/* Last value seen of one cumulative kernel counter (lb_conns or lb_rejects), to emit deltas. */
struct last_count {
	__u8 key[24];
	__u64 value;
};

static volatile sig_atomic_t exiting;
static struct service_info services[LB_MAX_SERVICES];
static char pod_names[MAX_NAMES][NAME_LEN]; /* backend id -> pod name; id 0 unused */
static int n_pod_names = 1;
static struct client_info clients[MAX_CLIENTS];
static int n_clients;
static struct last_count last_conns[MAX_COUNTERS], last_rejects[MAX_COUNTERS];
static int n_last_conns, n_last_rejects;
static unsigned long long lines_out, decisions_out, refusals_out, lost_rb, lost_map;

static void on_signal(int sig) { exiting = 1; }

static __u64 mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static double realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	lines_out++;
}

static void flush(void)
{
	if (fflush(stdout) == EOF && errno == EPIPE)
		exiting = 1;
}

/* JSON-safe copy: names and messages keep printable ASCII other than quote and backslash. */
static const char *jsafe(const char *s)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ & 3];
	size_t i = 0;
	for (; *s && i < sizeof(bufs[0]) - 1; s++)
		b[i++] = (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\') ? *s : '?';
	b[i] = 0;
	return b;
}

static const char *ip4(__u32 be)
{
	static char bufs[8][INET_ADDRSTRLEN];
	static int next;
	char *b = bufs[next++ & 7];
	inet_ntop(AF_INET, &be, b, INET_ADDRSTRLEN);
	return b;
}

static void emit_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit_error(const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out("{\"t\":\"error\",\"probe\":\"" PROBE "\",\"msg\":\"%s\"}", jsafe(msg));
	flush();
}

static void usage_exit(const char *why)
{
	emit_error("usage: %s; lb --host-pid PID [--cgroup DIR] [--sample-every N] [--window-ms MS]", why);
	exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	o->cgroup = "/sys/fs/cgroup";
	o->host_pid = 0;
	o->sample_every = 1;
	o->window_ns = 1000000000ULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage_exit("every flag takes a value");
		const char *v = argv[++i];
		char *end;
		unsigned long long n = strtoull(v, &end, 10);
		bool numeric = *v && !*end;
		if (!strcmp(a, "--cgroup"))
			o->cgroup = v;
		else if (!strcmp(a, "--host-pid") && numeric && n > 0 && n < UINT32_MAX)
			o->host_pid = (__u32)n;
		else if (!strcmp(a, "--sample-every") && numeric && n < UINT32_MAX)
			o->sample_every = (__u32)n;
		else if (!strcmp(a, "--window-ms") && numeric && n >= 10 && n <= 60000)
			o->window_ns = n * 1000000ULL;
		else
			usage_exit("unknown flag or bad value");
	}
	if (!o->host_pid)
		usage_exit("--host-pid is required");
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, args);
}

/* ---- names ---- */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= NAME_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return false;
	return true;
}

static int pod_id(const char *name)
{
	for (int i = 1; i < n_pod_names; i++)
		if (!strcmp(pod_names[i], name))
			return i;
	if (n_pod_names >= MAX_NAMES || n_pod_names > 0xffff)
		return -1;
	snprintf(pod_names[n_pod_names], NAME_LEN, "%s", name);
	return n_pod_names++;
}

static const char *pod_name(__u16 id)
{
	return id > 0 && id < n_pod_names ? pod_names[id] : "?";
}

static const char *service_name(__u32 id)
{
	return id < LB_MAX_SERVICES && services[id].used ? services[id].name : "?";
}

static struct client_info *client_of(__u64 cgroup)
{
	for (int i = 0; i < n_clients; i++)
		if (clients[i].cgroup == cgroup)
			return &clients[i];
	return NULL;
}

/* Who connected: a registered pod, the harness ("host"), or the cgroup id. */
static const char *client_name(__u64 cgroup, __u32 tgid, __u32 host_pid)
{
	static char bufs[4][NAME_LEN];
	static int next;
	struct client_info *c = client_of(cgroup);
	if (c)
		return c->name;
	if (tgid == host_pid)
		return "host";
	char *b = bufs[next++ & 3];
	snprintf(b, NAME_LEN, "cgroup-%llu", (unsigned long long)cgroup);
	return b;
}

/* ---- the line protocol ---- */

static bool parse_endpoint(const char *s, struct lb_addr *a)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	if (!colon || colon - s >= (long)sizeof(ip))
		return false;
	memcpy(ip, s, colon - s);
	ip[colon - s] = 0;
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535 || inet_pton(AF_INET, ip, &a->ip) != 1)
		return false;
	a->port = (__u16)port;
	a->pad = 0;
	return true;
}

static bool parse_u64(const char *s, __u64 *v)
{
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !*end && !errno;
}

static void ack(unsigned long long seq, const char *extra)
{
	out("{\"t\":\"ack\",\"probe\":\"" PROBE "\",\"seq\":%llu,\"ok\":true,\"ts\":%llu%s}", seq,
	    (unsigned long long)mono_ns(), extra ? extra : "");
}

static void nack(unsigned long long seq, const char *msg)
{
	out("{\"t\":\"ack\",\"probe\":\"" PROBE "\",\"seq\":%llu,\"ok\":false,\"ts\":%llu,\"msg\":\"%s\"}", seq,
	    (unsigned long long)mono_ns(), jsafe(msg));
}

static void command(struct lb_bpf *skel, char *line)
{
	char *tok[LB_MAX_BACKENDS + 8];
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, " \t\r", &save); t && n < (int)(sizeof(tok) / sizeof(tok[0])); t = strtok_r(NULL, " \t\r", &save))
		tok[n++] = t;
	if (n == 0)
		return;
	__u64 seq, id = 0, cg;
	if (!parse_u64(tok[0], &seq)) {
		nack(0, "a command starts with its sequence number");
		return;
	}
	if (n < 2) {
		nack(seq, "missing command");
		return;
	}
	const char *cmd = tok[1];
	char msg[256];

	if (!strcmp(cmd, "service")) {
		/* <seq> service <id> <name> <vip>:<port> policy|open */
		struct lb_addr vip;
		if (n != 6 || !parse_u64(tok[2], &id) || id == 0 || id >= LB_MAX_SERVICES || !valid_name(tok[3]) ||
		    !parse_endpoint(tok[4], &vip) || (strcmp(tok[5], "policy") && strcmp(tok[5], "open"))) {
			nack(seq, "usage: <seq> service <id 1-63> <name> <vip>:<port> policy|open");
			return;
		}
		struct service_info *s = &services[id];
		if (s->used) {
			nack(seq, "service id already declared");
			return;
		}
		struct lb_service val = { .id = (__u32)id, .count = 0, .gen = 0 };
		val.flags = strcmp(tok[5], "policy") ? 0 : LB_SVC_POLICY;
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.lb_services), &vip, &val, BPF_NOEXIST)) {
			snprintf(msg, sizeof(msg), "lb_services update: %s", strerror(errno));
			nack(seq, msg);
			return;
		}
		s->used = true;
		snprintf(s->name, NAME_LEN, "%s", tok[3]);
		s->vip = vip;
		s->flags = val.flags;
		ack(seq, NULL);
	} else if (!strcmp(cmd, "backends")) {
		/* <seq> backends <id> <gen> [<pod>=<ip>:<port> ...] : replaces the list in one update */
		__u64 gen;
		if (n < 4 || !parse_u64(tok[2], &id) || id == 0 || id >= LB_MAX_SERVICES || !services[id].used ||
		    !parse_u64(tok[3], &gen) || n - 4 > LB_MAX_BACKENDS) {
			nack(seq, "usage: <seq> backends <declared id> <gen> [<pod>=<ip>:<port> ...] (at most 64)");
			return;
		}
		struct lb_service val = { .id = (__u32)id, .gen = (__u32)gen, .flags = services[id].flags };
		char list[LB_MAX_BACKENDS * (NAME_LEN + 4) + 64];
		int len = 0;
		for (int i = 4; i < n; i++) {
			char *eq = strchr(tok[i], '=');
			struct lb_addr a;
			if (!eq) {
				nack(seq, "a backend is <pod>=<ip>:<port>");
				return;
			}
			*eq = 0;
			int pid = valid_name(tok[i]) && parse_endpoint(eq + 1, &a) ? pod_id(tok[i]) : -1;
			if (pid < 0) {
				nack(seq, "bad backend name or address (or too many pod names)");
				return;
			}
			val.be[val.count].ip = a.ip;
			val.be[val.count].port = a.port;
			val.be[val.count].id = (__u16)pid;
			val.count++;
			len += snprintf(list + len, sizeof(list) - len, "%s\"%s\"", len ? "," : "", tok[i]);
		}
		list[len] = 0;
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.lb_services), &services[id].vip, &val, BPF_EXIST)) {
			snprintf(msg, sizeof(msg), "lb_services update: %s", strerror(errno));
			nack(seq, msg);
			return;
		}
		char extra[sizeof(list) + 128];
		snprintf(extra, sizeof(extra), ",\"op\":\"backends\",\"service\":\"%s\",\"gen\":%llu,\"backends\":[%s]",
			 services[id].name, (unsigned long long)gen, list);
		ack(seq, extra);
	} else if (!strcmp(cmd, "allow") || !strcmp(cmd, "revoke")) {
		/* <seq> allow|revoke <id> <cgroup-id> */
		if (n != 4 || !parse_u64(tok[2], &id) || id == 0 || id >= LB_MAX_SERVICES || !services[id].used ||
		    !parse_u64(tok[3], &cg)) {
			nack(seq, "usage: <seq> allow|revoke <declared id> <cgroup-id>");
			return;
		}
		struct lb_allow_key k = { .cgroup = cg, .svc = (__u32)id };
		__u8 one = 1;
		int fd = bpf_map__fd(skel->maps.lb_allow);
		int err = !strcmp(cmd, "allow") ? bpf_map_update_elem(fd, &k, &one, BPF_ANY) : bpf_map_delete_elem(fd, &k);
		if (err && !(errno == ENOENT && !strcmp(cmd, "revoke"))) {
			snprintf(msg, sizeof(msg), "lb_allow %s: %s", cmd, strerror(errno));
			nack(seq, msg);
			return;
		}
		ack(seq, NULL);
	} else if (!strcmp(cmd, "guard") || !strcmp(cmd, "unguard")) {
		/* <seq> guard <id> <ip>:<port> | <seq> unguard <ip>:<port> */
		struct lb_addr a;
		bool guard = !strcmp(cmd, "guard");
		bool ok = guard ? n == 4 && parse_u64(tok[2], &id) && id > 0 && id < LB_MAX_SERVICES && services[id].used &&
					 parse_endpoint(tok[3], &a)
				: n == 3 && parse_endpoint(tok[2], &a);
		if (!ok) {
			nack(seq, "usage: <seq> guard <declared id> <ip>:<port> | <seq> unguard <ip>:<port>");
			return;
		}
		__u32 sid = (__u32)id;
		int fd = bpf_map__fd(skel->maps.lb_guard);
		int err = guard ? bpf_map_update_elem(fd, &a, &sid, BPF_ANY) : bpf_map_delete_elem(fd, &a);
		if (err && !(errno == ENOENT && !guard)) {
			snprintf(msg, sizeof(msg), "lb_guard %s: %s", cmd, strerror(errno));
			nack(seq, msg);
			return;
		}
		ack(seq, NULL);
	} else if (!strcmp(cmd, "client")) {
		/* <seq> client <cgroup-id> <name> <ip> : names a cgroup in records */
		struct in_addr tmp;
		if (n != 5 || !parse_u64(tok[2], &cg) || !valid_name(tok[3]) || inet_pton(AF_INET, tok[4], &tmp) != 1) {
			nack(seq, "usage: <seq> client <cgroup-id> <name> <ip>");
			return;
		}
		struct client_info *c = client_of(cg);
		if (!c) {
			if (n_clients >= MAX_CLIENTS) {
				nack(seq, "too many clients");
				return;
			}
			c = &clients[n_clients++];
			c->cgroup = cg;
		}
		snprintf(c->name, NAME_LEN, "%s", tok[3]);
		snprintf(c->ip, INET_ADDRSTRLEN, "%s", tok[4]);
		ack(seq, NULL);
	} else {
		snprintf(msg, sizeof(msg), "unknown command %s (service, backends, allow, revoke, guard, unguard, client)", cmd);
		nack(seq, msg);
	}
}

/* ---- ring buffer records ---- */

struct run_ctx {
	struct opts *o;
};

static int on_event(void *c, void *data, size_t len)
{
	const struct lb_event *e = data;
	const struct run_ctx *ctx = c;
	if (len < sizeof(*e))
		return 0;
	char comm[LB_COMM_LEN + 1];
	memcpy(comm, e->comm, LB_COMM_LEN);
	comm[LB_COMM_LEN] = 0;
	const char *client = client_name(e->cgroup, e->tgid, ctx->o->host_pid);
	struct client_info *ci = client_of(e->cgroup);
	if (e->kind == LB_EV_DECISION) {
		decisions_out++;
		out("{\"t\":\"lb\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"service\":\"%s\",\"vip\":\"%s\",\"vport\":%u,"
		    "\"client\":\"%s\",\"cport\":0,\"client_pod\":\"%s\",\"backend\":\"%s\",\"bport\":%u,\"backend_id\":%u,"
		    "\"pod\":\"%s\",\"proto\":6,\"gen\":%u,\"cgroup\":%llu,\"pid\":%u}",
		    (unsigned long long)e->ts, service_name(e->svc), ip4(e->dst), e->dport, ci ? ci->ip : "0.0.0.0",
		    client, ip4(e->backend), e->bport, e->backend_id, pod_name(e->backend_id), e->gen,
		    (unsigned long long)e->cgroup, e->tgid);
	} else {
		refusals_out++;
		out("{\"t\":\"%s\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"service\":\"%s\",\"dst\":\"%s\",\"dport\":%u,"
		    "\"client\":\"%s\",\"cgroup\":%llu,\"pid\":%u,\"comm\":\"%s\",\"gen\":%u}",
		    e->kind == LB_EV_POLICY ? "policy_drop" : "no_backend", (unsigned long long)e->ts, service_name(e->svc),
		    ip4(e->dst), e->dport, jsafe(client), (unsigned long long)e->cgroup, e->tgid, jsafe(comm), e->gen);
	}
	return 0;
}

/* ---- windows ---- */

static __u64 *last_of(struct last_count *arr, int *n, const void *key, size_t key_sz)
{
	for (int i = 0; i < *n; i++)
		if (!memcmp(arr[i].key, key, key_sz))
			return &arr[i].value;
	if (*n >= MAX_COUNTERS)
		return NULL;
	memset(arr[*n].key, 0, sizeof(arr[*n].key));
	memcpy(arr[*n].key, key, key_sz);
	arr[*n].value = 0;
	return &arr[(*n)++].value;
}

static void emit_conns(struct lb_bpf *skel, __u64 w, __u64 d)
{
	int fd = bpf_map__fd(skel->maps.lb_conns);
	struct lb_conn_key key, next, *prev = NULL;
	__u64 v;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		__u64 *last = last_of(last_conns, &n_last_conns, &key, sizeof(key));
		if (!last || v == *last)
			continue;
		out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"lb.connections\",\"w\":%llu,\"d\":%llu,"
		    "\"tags\":{\"service\":\"%s\",\"pod\":\"%s\",\"backend\":\"%s:%u\"},\"v\":%llu,\"total\":%llu}",
		    (unsigned long long)w, (unsigned long long)d, service_name(key.svc), pod_name(key.id), ip4(key.ip),
		    key.port, (unsigned long long)(v - *last), (unsigned long long)v);
		*last = v;
	}
}

static void emit_rejects(struct lb_bpf *skel, struct opts *o, __u64 w, __u64 d)
{
	int fd = bpf_map__fd(skel->maps.lb_rejects);
	struct lb_reject_key key, next, *prev = NULL;
	__u64 v;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		__u64 *last = last_of(last_rejects, &n_last_rejects, &key, sizeof(key));
		if (!last || v == *last)
			continue;
		/* the per-window count cannot tell the harness from other root-cgroup processes: name by cgroup */
		struct client_info *ci = client_of(key.cgroup);
		char cgname[NAME_LEN];
		snprintf(cgname, sizeof(cgname), "cgroup-%llu", (unsigned long long)key.cgroup);
		out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"%s\",\"w\":%llu,\"d\":%llu,"
		    "\"tags\":{\"service\":\"%s\",\"client\":\"%s\"},\"v\":%llu,\"total\":%llu}",
		    key.reason == LB_REJ_POLICY ? "lb.policy_drops" : "lb.no_backend", (unsigned long long)w,
		    (unsigned long long)d, service_name(key.svc), ci ? ci->name : cgname, (unsigned long long)(v - *last),
		    (unsigned long long)v);
		*last = v;
	}
	(void)o;
}

static void read_stats(struct lb_bpf *skel, __u64 *tot)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *vals = calloc(ncpu > 0 ? ncpu : 1, sizeof(__u64));
	for (__u32 i = 0; i < LB_STAT__MAX; i++) {
		tot[i] = 0;
		if (vals && !bpf_map_lookup_elem(bpf_map__fd(skel->maps.lb_stats), &i, vals))
			for (int c = 0; c < ncpu; c++)
				tot[i] += vals[c];
	}
	free(vals);
}

static void emit_lost(struct lb_bpf *skel, __u64 now)
{
	__u64 s[LB_STAT__MAX];
	read_stats(skel, s);
	if (s[LB_STAT_RB_LOST] > lost_rb)
		out("{\"t\":\"lost\",\"probe\":\"" PROBE "\",\"what\":\"ringbuf\",\"ts\":%llu,\"n\":%llu,\"total\":%llu}",
		    (unsigned long long)now, (unsigned long long)(s[LB_STAT_RB_LOST] - lost_rb),
		    (unsigned long long)s[LB_STAT_RB_LOST]);
	if (s[LB_STAT_MAP_FULL] > lost_map)
		out("{\"t\":\"lost\",\"probe\":\"" PROBE "\",\"what\":\"map_full\",\"ts\":%llu,\"n\":%llu,\"total\":%llu}",
		    (unsigned long long)now, (unsigned long long)(s[LB_STAT_MAP_FULL] - lost_map),
		    (unsigned long long)s[LB_STAT_MAP_FULL]);
	lost_rb = s[LB_STAT_RB_LOST];
	lost_map = s[LB_STAT_MAP_FULL];
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	struct opts o;
	struct lb_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct bpf_link *link = NULL;
	int cgroup_fd = -1, status = 1;
	char inbuf[LINE_MAX_LEN];
	size_t inlen = 0;
	bool stdin_open = true;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	parse_args(argc, argv, &o);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1 && o.host_pid != 1)
		return 0; /* the harness is already gone */
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(libbpf_print);

	skel = lb_bpf__open();
	if (!skel) {
		emit_error("open: %s", strerror(errno));
		goto cleanup;
	}
	skel->rodata->host_tgid = o.host_pid;
	skel->rodata->sample_every = o.sample_every;
	if (lb_bpf__load(skel)) {
		emit_error("load: %s (needs root, BTF and cgroup sock_addr programs)", strerror(errno));
		goto cleanup;
	}
	cgroup_fd = open(o.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgroup_fd < 0) {
		emit_error("open cgroup %s: %s", o.cgroup, strerror(errno));
		goto cleanup;
	}
	link = bpf_program__attach_cgroup(skel->progs.lb_connect4, cgroup_fd);
	if (!link) {
		emit_error("attach cgroup/connect4 to %s: %s", o.cgroup, strerror(errno));
		goto cleanup;
	}
	struct run_ctx rctx = { .o = &o };
	rb = ring_buffer__new(bpf_map__fd(skel->maps.lb_events), on_event, &rctx, NULL);
	if (!rb) {
		emit_error("ring buffer: %s", strerror(errno));
		goto cleanup;
	}

	double r0 = realtime_ms();
	__u64 m = mono_ns();
	double r1 = realtime_ms();
	__u64 t0 = m;
	out("{\"t\":\"clock\",\"probe\":\"" PROBE "\",\"pid\":%d,\"mono_ns\":%llu,\"realtime_ms\":%.6f,\"err_ns\":%llu,"
	    "\"window_ns\":%llu,\"t0_ns\":%llu}",
	    (int)getpid(), (unsigned long long)m, (r0 + r1) / 2, (unsigned long long)((r1 - r0) * 1e6),
	    (unsigned long long)o.window_ns, (unsigned long long)t0);
	struct bpf_link_info li = {};
	__u32 li_len = sizeof(li);
	bpf_obj_get_info_by_fd(bpf_link__fd(link), &li, &li_len);
	out("{\"t\":\"ready\",\"probe\":\"" PROBE "\",\"progs\":[\"lb_connect4\"],\"links\":[%u],\"cgroup\":\"%s\","
	    "\"host_pid\":%u,\"sample_every\":%u}",
	    li.id, jsafe(o.cgroup), o.host_pid, o.sample_every);
	flush();

	__u64 window = 0;
	while (!exiting) {
		__u64 now = mono_ns(), next = t0 + (window + 1) * o.window_ns;
		if (now >= next) {
			ring_buffer__consume(rb);
			__u64 w = t0 + window * o.window_ns;
			emit_conns(skel, w, o.window_ns);
			emit_rejects(skel, &o, w, o.window_ns);
			emit_lost(skel, now);
			flush();
			window = (now - t0) / o.window_ns;
			continue;
		}
		struct pollfd pfd[2] = { { .fd = 0, .events = POLLIN }, { .fd = ring_buffer__epoll_fd(rb), .events = POLLIN } };
		int timeout = (int)((next - now) / 1000000ULL) + 1;
		int r = poll(stdin_open ? pfd : pfd + 1, stdin_open ? 2 : 1, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			emit_error("poll: %s", strerror(errno));
			break;
		}
		ring_buffer__consume(rb);
		if (stdin_open && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(0, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
			if (got <= 0) {
				if (got < 0 && (errno == EINTR || errno == EAGAIN))
					continue;
				break; /* stdin closed: the harness is gone or done */
			}
			inlen += (size_t)got;
			inbuf[inlen] = 0;
			char *start = inbuf, *nl;
			while ((nl = memchr(start, '\n', inbuf + inlen - start))) {
				*nl = 0;
				command(skel, start);
				start = nl + 1;
			}
			inlen = (size_t)(inbuf + inlen - start);
			memmove(inbuf, start, inlen);
			if (inlen >= sizeof(inbuf) - 1) {
				nack(0, "line too long");
				inlen = 0;
			}
		}
		flush();
	}

	{
		__u64 now = mono_ns(), w = t0 + window * o.window_ns;
		ring_buffer__consume(rb);
		emit_conns(skel, w, now > w ? now - w : 1);
		emit_rejects(skel, &o, w, now > w ? now - w : 1);
		emit_lost(skel, now);
		__u64 s[LB_STAT__MAX];
		read_stats(skel, s);
		out("{\"t\":\"end\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"cpu_s\":%.3f,\"lines\":%llu,"
		    "\"lost\":{\"ringbuf\":%llu,\"map_full\":%llu},\"decisions\":%llu,\"records\":{\"lb\":%llu,\"refusals\":%llu}}",
		    (unsigned long long)now, cpu_seconds(), lines_out + 1, (unsigned long long)s[LB_STAT_RB_LOST],
		    (unsigned long long)s[LB_STAT_MAP_FULL], (unsigned long long)s[LB_STAT_DECISIONS], decisions_out,
		    refusals_out);
		flush();
	}
	status = 0;

cleanup:
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	if (cgroup_fd >= 0)
		close(cgroup_fd);
	lb_bpf__destroy(skel);
	return status;
}
