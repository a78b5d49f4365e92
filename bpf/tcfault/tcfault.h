/* SPDX-License-Identifier: Apache-2.0 */
/* tcfault: what tcfault.bpf.c and its loader share. */
#ifndef TCFAULT_H
#define TCFAULT_H

#define TCF_MAX_PEERS 256

/* Indexes into the per-CPU tcf_stats array, after the shared ones (enum ls_stat). */
enum tcf_stat {
	TCF_STAT_SEEN = 4,    /* IPv4 packets the fault applies to (all, or those to or from a peer) */
	TCF_STAT_DROPPED = 5, /* of those, dropped */
	TCF_STAT__MAX = 6,
};

#endif
