// SPDX-License-Identifier: Apache-2.0
/*
 * pingpong: nanoseconds per round of a one-thread loopback ping-pong, the instrument behind
 * probe-cost.sh. "udp": one 64-byte datagram sent and received per round (1 packet). "tcp": 64 bytes
 * each way over one connection with TCP_NODELAY (2 packets, 2 ACK-carrying segments). Optional
 * THRASH: touch that many cache lines of a 64 MiB buffer between rounds (page-strided, so the TLB
 * misses too), excluded from the time, to look at the cost with cold caches as a busy program has.
 * Usage: pingpong udp|tcp ROUNDS PORT [THRASH]     Prints ns per round. Loopback (127.0.0.1) only.
 */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int fail(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[1], "udp") && strcmp(argv[1], "tcp"))) {
		fprintf(stderr, "usage: pingpong udp|tcp ROUNDS PORT [THRASH]\n");
		return 2;
	}
	int tcp = !strcmp(argv[1], "tcp"), rounds = atoi(argv[2]), port = atoi(argv[3]), one = 1;
	long thrash = argc > 4 ? atol(argv[4]) : 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int a, b, l = -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (tcp) {
		l = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, (void *)&sa, sizeof(sa)) || listen(l, 1))
			return fail("bind");
		a = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(a, (void *)&sa, sizeof(sa)))
			return fail("connect");
		if ((b = accept(l, NULL, NULL)) < 0)
			return fail("accept");
		setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else {
		a = socket(AF_INET, SOCK_DGRAM, 0);
		b = socket(AF_INET, SOCK_DGRAM, 0);
		if (bind(b, (void *)&sa, sizeof(sa)))
			return fail("bind");
		if (connect(a, (void *)&sa, sizeof(sa)))
			return fail("connect");
	}
	size_t big = (size_t)64 << 20, pos = 0;
	volatile char *m = thrash ? malloc(big) : NULL;
	if (thrash && !m)
		return fail("malloc");
	for (size_t j = 0; thrash && j < big; j += 64)
		m[j] = 1;
	char buf[256] = { 0 };
	double excluded = 0, t0 = now_ns();
	for (int i = 0; i < rounds; i++) {
		if (thrash) {
			double s = now_ns();
			for (long j = 0; j < thrash; j++) {
				m[pos]++;
				pos += 4096 + 64;
				if (pos >= big)
					pos = (pos + 64) % 4096;
			}
			excluded += now_ns() - s;
		}
		if (send(a, buf, 64, 0) != 64 || recv(b, buf, sizeof(buf), 0) != 64)
			return fail("ping");
		if (tcp && (send(b, buf, 64, 0) != 64 || recv(a, buf, sizeof(buf), 0) != 64))
			return fail("pong");
	}
	printf("%.1f\n", (now_ns() - t0 - excluded) / rounds);
	close(a);
	close(b);
	if (l >= 0)
		close(l);
	return 0;
}
