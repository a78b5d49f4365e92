/* SPDX-License-Identifier: Apache-2.0 */
/* fibroute: map keys and the ring-buffer record shared by fibroute.bpf.c and fibroute.c. */
#ifndef FIBROUTE_H
#define FIBROUTE_H

#include "ls_common.h"

/* One routing decision in one window (IPv4 fib_table_lookup). Addresses in network order. */
struct fibroute_key {
	__u32 window;
	__u32 tb_id;
	__u32 src;
	__u32 dst;
	__u32 gw;
	__s32 err;
	char oif[LS_IFNAMSIZ]; /* chosen nexthop's device, "-" when none */
	__u8 proto;
	__u8 pad[3];
};

/* A sampled individual lookup. */
struct fibroute_event {
	__u64 ts;
	__u32 tb_id;
	__u32 src;
	__u32 dst;
	__u32 gw;
	__s32 err;
	__s32 flow_oif; /* ifindex requested by the flow (0: any) */
	__s32 flow_iif;
	__s32 nh_oif;   /* ifindex of the chosen device */
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 first;     /* first lookup with this decision in its window */
	__u8 pad[2];
	char oif[LS_IFNAMSIZ];
};

#endif
