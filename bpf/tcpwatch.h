/* SPDX-License-Identifier: Apache-2.0 */
/* tcpwatch: map keys, values and the ring-buffer record shared by tcpwatch.bpf.c and tcpwatch.c. */
#ifndef TCPWATCH_H
#define TCPWATCH_H

#include "ls_common.h"

/* Which end of the connection the socket is: the connecting one or the accepting one. */
enum tcpwatch_side { TCPW_CLIENT = 1, TCPW_SERVER = 2 };

/* Per destination and window: the remote address and the service port, seen from one side. */
struct tcpwatch_key {
	__u32 window;
	__u8 side;
	__u8 family;
	__u16 port;
	__u8 peer[16];
};

struct tcpwatch_stats {
	__u64 retrans_segs;   /* segments through tcp_retransmit_skb (what RetransSegs counts) */
	__u64 retrans_fail;   /* of those, retransmits the stack reported as failed */
	__u64 synack_retrans; /* SYN-ACK retransmits of request sockets (also in RetransSegs) */
	__u64 opened;         /* reached ESTABLISHED */
	__u64 closed;         /* reached CLOSE after ESTABLISHED */
	__u64 failed;         /* reached CLOSE without ever being ESTABLISHED */
};

/* A tracked connection, keyed by its struct sock address. */
struct tcpwatch_conn {
	__u64 start;
	__u64 est;
	__u8 side;
	__u8 family;
	__u16 lport;
	__u16 rport;
	__u8 pad[2];
	__u8 laddr[16];
	__u8 raddr[16];
};

/* The last srtt sample of the socket in one slot of lsc_rtt_last. */
struct tcpwatch_rtt_slot {
	__u64 sk; /* socket address (as LS_PTR_ID gives it); 0: none */
	__u64 ts;
};

/* A finished connection (ring buffer). */
struct tcpwatch_event {
	__u64 start;
	__u64 est; /* 0: never established */
	__u64 end;
	__u8 side;
	__u8 family;
	__u8 oldstate;
	__u8 pad;
	__u16 lport;
	__u16 rport;
	__u8 laddr[16];
	__u8 raddr[16];
};

#endif
