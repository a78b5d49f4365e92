/* SPDX-License-Identifier: Apache-2.0 */
/* pktlat: map keys and values shared by pktlat.bpf.c and pktlat.c. */
#ifndef PKTLAT_H
#define PKTLAT_H

#include "ls_common.h"

/* Packet-count direction on one interface. */
enum pktlat_dir { PKTLAT_TX = 1, PKTLAT_RX = 2 };
/* Flow direction relative to the run's ports: towards a filtered port or away from it. */
enum pktlat_flow { PKTLAT_FLOW_ANY = 0, PKTLAT_FLOW_TO = 1, PKTLAT_FLOW_FROM = 2 };

/*
 * In flight: an skb seen at net_dev_queue, in the slot its address hashes to. A receive pairs with
 * it only when address, packet fingerprint and age all agree (a reused address does not).
 */
struct pktlat_start {
	__u64 skb; /* the skb's address (as LS_PTR_ID gives it); 0: free */
	__u64 ts;
	__u64 fp;  /* ls_peek_l3 fingerprint (0 for non-IP) */
	char ifname[LS_IFNAMSIZ];
	__u8 flow;
	__u8 ifslot; /* the queue interface's index in the interface filter; PKTLAT_NO_SLOT: none */
	__u8 pad[6];
};

#define PKTLAT_NO_SLOT 0xff

struct pktlat_lat_key {
	char ifname[LS_IFNAMSIZ]; /* queued on */
	char peer[LS_IFNAMSIZ];   /* received on */
	__u32 window;
	__u8 flow;
	__u8 pad[3];
};

struct pktlat_cnt_key {
	char ifname[LS_IFNAMSIZ];
	__u32 window;
	__u8 dir;
	__u8 pad[3];
};

struct pktlat_cnt {
	__u64 packets;
	__u64 bytes;
};

/*
 * Windows kept by the count ring: with an interface filter, packets are counted per CPU in an
 * array of PKTLAT_RING windows x filter interface x direction instead of a hash map.
 */
#define PKTLAT_RING 8

struct pktlat_ring_cnt {
	__u32 window1; /* window + 1 these counts are for; 0: none yet */
	__u32 pad;
	__u64 packets;
	__u64 bytes;
};

/*
 * Latency histograms with a small interface filter (at most PKTLAT_LAT_RING_IFACES names): per CPU,
 * an array of PKTLAT_RING windows x queue interface x receive interface x flow, slot
 * (((window % PKTLAT_RING) * n + queue) * n + receive) * 3 + flow, instead of a hash map keyed by
 * names. Pairs outside it (an interface outside the filter) still go to the hash map.
 */
#define PKTLAT_LAT_RING_IFACES 4

struct pktlat_lat_ring {
	__u32 window1; /* window + 1 this histogram is for; 0: none yet */
	__u32 pad;
	struct ls_hist h;
};

struct pktlat_drop_key {
	char ifname[LS_IFNAMSIZ];
	__u32 window;
	__u32 reason;
};

#endif
