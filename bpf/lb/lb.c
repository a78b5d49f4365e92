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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ls_loader.h"
#include "lb.h"
#include "lb.skel.h"

#define PROBE "lb"
#define MAX_NAMES 4096
#define MAX_CLIENTS 1024
#define MAX_COUNTERS 4096
#define NAME_LEN 64

/* lb's own options; the window (--window-ms) is one of the shared ones. */
struct opts {
	const char *cgroup;
	__u32 host_pid;
	__u32 sample_every;
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

struct counters {
	struct last_count last[MAX_COUNTERS];
	int n;
};

static struct service_info services[LB_MAX_SERVICES];
static char pod_names[MAX_NAMES][NAME_LEN]; /* backend id -> pod name; id 0 unused */
static int n_pod_names = 1;
static struct client_info clients[MAX_CLIENTS];
static int n_clients;
static struct counters conns_seen, rejects_seen;
static unsigned long long decisions_out, refusals_out;

static int own_opt(const char *a, const char *v, void *ctx)
{
	struct opts *o = ctx;
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	bool numeric = *v && !*end;
	if (!strcmp(a, "--cgroup"))
		o->cgroup = v;
	else if (!strcmp(a, "--host-pid"))
		return numeric && n > 0 && n < UINT32_MAX ? (o->host_pid = (__u32)n, 1) : -1;
	else if (!strcmp(a, "--sample-every"))
		return numeric && n < UINT32_MAX ? (o->sample_every = (__u32)n, 1) : -1;
	else
		return 0;
	return 1;
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

/* What the callbacks of the window loop and the ring buffer share. */
struct run_ctx {
	struct lb_bpf *skel;
	const struct opts *own;
	const struct ls_opts *o;
	__u32 window; /* index of the window the counters are gathering */
};

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
	ls_out("{\"t\":\"ack\",\"probe\":\"" PROBE "\",\"seq\":%llu,\"ok\":true,\"ts\":%llu%s}", seq,
	       (unsigned long long)ls_mono_ns(), extra ? extra : "");
}

static void nack(unsigned long long seq, const char *msg)
{
	ls_out("{\"t\":\"ack\",\"probe\":\"" PROBE "\",\"seq\":%llu,\"ok\":false,\"ts\":%llu,\"msg\":%s}", seq,
	       (unsigned long long)ls_mono_ns(), ls_jstr(msg));
}

static void command(char *line, void *ctx)
{
	struct lb_bpf *skel = ((struct run_ctx *)ctx)->skel;
	if (!line) {
		nack(0, "line too long");
		return;
	}
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

static int on_event(void *c, void *data, size_t len)
{
	const struct lb_event *e = data;
	const struct run_ctx *ctx = c;
	if (len < sizeof(*e))
		return 0;
	char comm[LB_COMM_LEN + 1];
	memcpy(comm, e->comm, LB_COMM_LEN);
	comm[LB_COMM_LEN] = 0;
	const char *client = client_name(e->cgroup, e->tgid, ctx->own->host_pid);
	struct client_info *ci = client_of(e->cgroup);
	if (e->kind == LB_EV_DECISION) {
		decisions_out++;
		ls_out("{\"t\":\"lb\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"service\":\"%s\",\"vip\":\"%s\",\"vport\":%u,"
		    "\"client\":\"%s\",\"cport\":0,\"client_pod\":\"%s\",\"backend\":\"%s\",\"bport\":%u,\"backend_id\":%u,"
		    "\"pod\":\"%s\",\"proto\":6,\"gen\":%u,\"cgroup\":%llu,\"pid\":%u}",
		       (unsigned long long)e->ts, service_name(e->svc), ls_addr4(e->dst), e->dport, ci ? ci->ip : "0.0.0.0",
		       client, ls_addr4(e->backend), e->bport, e->backend_id, pod_name(e->backend_id), e->gen,
		       (unsigned long long)e->cgroup, e->tgid);
	} else {
		refusals_out++;
		ls_out("{\"t\":\"%s\",\"probe\":\"" PROBE "\",\"ts\":%llu,\"service\":\"%s\",\"dst\":\"%s\",\"dport\":%u,"
		       "\"client\":%s,\"cgroup\":%llu,\"pid\":%u,\"comm\":%s,\"gen\":%u}",
		       e->kind == LB_EV_POLICY ? "policy_drop" : "no_backend", (unsigned long long)e->ts, service_name(e->svc),
		       ls_addr4(e->dst), e->dport, ls_jstr(client), (unsigned long long)e->cgroup, e->tgid, ls_jstr(comm), e->gen);
	}
	return 0;
}

/* ---- windows ---- */

static __u64 *last_of(struct counters *seen, const void *key, size_t key_sz)
{
	for (int i = 0; i < seen->n; i++)
		if (!memcmp(seen->last[i].key, key, key_sz))
			return &seen->last[i].value;
	if (seen->n >= MAX_COUNTERS)
		return NULL;
	memset(seen->last[seen->n].key, 0, sizeof(seen->last[0].key));
	memcpy(seen->last[seen->n].key, key, key_sz);
	seen->last[seen->n].value = 0;
	return &seen->last[seen->n++].value;
}

/* One counter's growth over the window [w, w+d), and its total. */
typedef void (*growth_fn)(const void *key, __u64 growth, __u64 total, __u64 w, __u64 d);

/* Calls emit for every key of a cumulative counter map (__u64 values) that grew since the last call. */
static void emit_growth(struct bpf_map *map, struct counters *seen, growth_fn emit, __u64 w, __u64 d)
{
	int fd = bpf_map__fd(map);
	size_t key_sz = bpf_map__key_size(map);
	__u8 key[sizeof(seen->last[0].key)], next[sizeof(key)];
	void *prev = NULL;
	__u64 v, *last;
	if (key_sz > sizeof(key))
		return;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_sz);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, &v) || !(last = last_of(seen, key, key_sz)) || v == *last)
			continue;
		emit(key, v - *last, v, w, d);
		*last = v;
	}
}

static void emit_conn_count(const void *k, __u64 growth, __u64 total, __u64 w, __u64 d)
{
	const struct lb_conn_key *key = k;
	ls_out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"lb.connections\",\"w\":%llu,\"d\":%llu,"
	       "\"tags\":{\"service\":\"%s\",\"pod\":\"%s\",\"backend\":\"%s:%u\"},\"v\":%llu,\"total\":%llu}",
	       (unsigned long long)w, (unsigned long long)d, service_name(key->svc), pod_name(key->id),
	       ls_addr4(key->ip), key->port, (unsigned long long)growth, (unsigned long long)total);
}

static void emit_reject_count(const void *k, __u64 growth, __u64 total, __u64 w, __u64 d)
{
	const struct lb_reject_key *key = k;
	/* the per-window count cannot tell the harness from other root-cgroup processes: name by cgroup */
	struct client_info *ci = client_of(key->cgroup);
	char cgname[NAME_LEN];
	snprintf(cgname, sizeof(cgname), "cgroup-%llu", (unsigned long long)key->cgroup);
	ls_out("{\"t\":\"count\",\"probe\":\"" PROBE "\",\"m\":\"%s\",\"w\":%llu,\"d\":%llu,"
	       "\"tags\":{\"service\":\"%s\",\"client\":\"%s\"},\"v\":%llu,\"total\":%llu}",
	       key->reason == LB_REJ_POLICY ? "lb.policy_drops" : "lb.no_backend", (unsigned long long)w,
	       (unsigned long long)d, service_name(key->svc), ci ? ci->name : cgname, (unsigned long long)growth,
	       (unsigned long long)total);
}

/* The counters' growth over the window [w, w+d). */
static void emit_counts(struct lb_bpf *skel, __u64 w, __u64 d)
{
	emit_growth(skel->maps.lb_conns, &conns_seen, emit_conn_count, w, d);
	emit_growth(skel->maps.lb_rejects, &rejects_seen, emit_reject_count, w, d);
}

/* At each window boundary: the counters' growth over the window that ended; at the end (UINT32_MAX), up to now. */
static void tick(__u32 cutoff, void *p)
{
	struct run_ctx *ctx = p;
	__u64 w = ls_window_start(ctx->o, ctx->window), now = ls_mono_ns();
	emit_counts(ctx->skel, w, cutoff != UINT32_MAX ? ctx->o->window_ns : now > w ? now - w : 1);
	ctx->window = cutoff;
}

static void end_fields(char *buf, size_t n, const __u64 *stats, void *ctx)
{
	snprintf(buf, n, ",\"decisions\":%llu,\"records\":{\"lb\":%llu,\"refusals\":%llu}",
		 (unsigned long long)stats[LB_STAT_DECISIONS], decisions_out, refusals_out);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	struct opts own = { .cgroup = "/sys/fs/cgroup", .sample_every = 1 };
	struct ls_own_opts own_opts = {
		.fn = own_opt,
		.ctx = &own,
		.usage = "  --host-pid PID       the harness: may reach guarded pods, named \"host\" (required)\n"
			 "  --cgroup DIR         cgroup v2 directory to attach to (default /sys/fs/cgroup)\n"
			 "  --sample-every N     decision records: 1 in N (default 1; 0: none)\n"
			 "Commands on stdin, one a line; output: NDJSON on stdout (docs/cluster.md).\n",
	};
	struct ls_opts o;
	struct ls_clock clk;
	struct run_ctx ctx = { .own = &own, .o = &o };
	struct lb_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct bpf_link *link = NULL;
	int cgroup_fd = -1, status = 1;

	ls_init(argc, argv, &o, &clk, PROBE, 0, &own_opts);
	if (!own.host_pid)
		ls_usage_exit(PROBE, "--host-pid is required");
	if (getppid() == 1 && own.host_pid != 1)
		return 0; /* the harness is already gone */

	skel = lb_bpf__open();
	if (!skel)
		return ls_open_failed(PROBE);
	skel->rodata->host_tgid = own.host_pid;
	skel->rodata->sample_every = own.sample_every;
	if (ls_load(skel->skeleton, &o, NULL))
		goto cleanup;
	cgroup_fd = open(own.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgroup_fd < 0) {
		ls_emit_error(PROBE, "open cgroup %s: %s", own.cgroup, strerror(errno));
		goto cleanup;
	}
	link = bpf_program__attach_cgroup(skel->progs.lb_connect4, cgroup_fd);
	if (!link) {
		ls_emit_error(PROBE, "attach cgroup/connect4 to %s: %s", own.cgroup, strerror(errno));
		goto cleanup;
	}
	ctx.skel = skel;
	rb = ls_ring_buffer(PROBE, skel->maps.lb_events, on_event, &ctx);
	if (!rb)
		goto cleanup;

	ls_emit_clock(&o, &clk);
	struct bpf_link_info li = {};
	__u32 li_len = sizeof(li);
	bpf_obj_get_info_by_fd(bpf_link__fd(link), &li, &li_len);
	ls_out("{\"t\":\"ready\",\"probe\":\"" PROBE "\",\"progs\":[\"lb_connect4\"],\"links\":[%u],\"cgroup\":%s,"
	       "\"host_pid\":%u,\"sample_every\":%u}",
	       li.id, ls_jstr(own.cgroup), own.host_pid, own.sample_every);
	ls_out_flush();

	ls_run(&o, &(struct ls_loop){ .tick = tick, .ctx = &ctx, .rb = rb, .line = command,
			       .stats_fd = bpf_map__fd(skel->maps.lb_stats), .end_fields = end_fields }, skel->skeleton);
	status = 0;

cleanup:
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	if (cgroup_fd >= 0)
		close(cgroup_fd);
	lb_bpf__destroy(skel);
	return status;
}
