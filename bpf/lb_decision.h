/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hook for the local cluster's eBPF load balancer (a later issue): one record per new connection
 * saying which backend it was sent to. The balancer's BPF program fills this struct into its own
 * ring buffer; its loader prints each as an NDJSON "lb" record (docs/probes.md), which
 * src/probes already maps to `probe.lb` events and results.json probes.loadBalancer.
 */
#ifndef LB_DECISION_H
#define LB_DECISION_H

#include "ls_common.h"

struct lb_decision {
	__u64 ts;          /* bpf_ktime_get_ns() when the backend was chosen */
	__u32 service_id;  /* the balancer's service index; the loader prints its name */
	__u32 backend_id;  /* index of the chosen backend within the service */
	__u8 family;       /* AF_INET / AF_INET6; IPv4 addresses are v4-mapped */
	__u8 proto;        /* IPPROTO_TCP / IPPROTO_UDP */
	__u16 vport;       /* service (virtual) port, host order */
	__u16 bport;       /* backend port, host order */
	__u16 cport;       /* client port, host order */
	__u8 vip[16];
	__u8 backend[16];
	__u8 client[16];
};

#endif
