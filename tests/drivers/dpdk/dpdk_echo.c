/* SPDX-License-Identifier: MIT */
/*
 * dpdk_echo: the other process of the DPDK two-process tests, a keel UDP
 * echo on whatever --driver says. It answers every datagram, and exits 0
 * once it has answered COUNT distinct ones (200 ms later, for the last
 * echo to leave), or 1 when none came for 20 s (every wait is bounded).
 * A client that resends a request before its answer came makes copies
 * that arrive back to back: they are answered but counted once.
 * usage: dpdk_echo --driver=dpdk:... ADDR:PORT COUNT
 */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct echo {
	struct keel_co co;
	struct keel_args args;
	struct keel_udp sock;
	struct keel_timer t;
	struct keel_addr addr, peer;
	char buf[2048], last[2048];
	intptr_t n, sent, last_n;
	long count, done;
};

static intptr_t echo(void *frame, struct keel_cx *cx)
{
	struct echo *f = frame;
	int rc;

	KEEL_BEGIN(f);
	if (f->args.argc != 3)
		KEEL_RETURN(f, -EINVAL);
	f->count = atol(f->args.argv[2]);
	rc = keel_addr_parse(f->args.argv[1], &f->addr);
	if (rc == 0)
		rc = keel_udp_bind(cx, &f->sock, &f->addr, NULL);
	if (rc < 0)
		KEEL_RETURN(f, rc);
	f->last_n = -1;
	while (f->done < f->count) {
		KEEL_AWAIT(f, f->n, keel_timeout(cx, &f->t, 20 * KEEL_SEC,
			   keel_udp_recv_from(cx, &f->sock, f->buf, sizeof(f->buf), &f->peer)));
		if (f->n < 0)
			KEEL_RETURN(f, f->n);
		KEEL_AWAIT(f, f->sent, keel_udp_send_to(cx, &f->sock, f->buf,
							(size_t)f->n, &f->peer));
		if (f->sent < 0)
			KEEL_RETURN(f, f->sent);
		if (f->n != f->last_n || memcmp(f->buf, f->last, (size_t)f->n) != 0)
			f->done++;
		memcpy(f->last, f->buf, (size_t)f->n);
		f->last_n = f->n;
	}
	/* Let the last echo leave before the port closes under it. */
	KEEL_AWAIT(f, f->n, keel_sleep_for(cx, &f->t, 200 * KEEL_MS));
	KEEL_END(f);
}

static void echo_drop(void *frame)
{
	keel_udp_close(&((struct echo *)frame)->sock);
}

KEEL_MAIN(echo, echo_drop, struct echo, "dpdk_echo ADDR:PORT COUNT")
