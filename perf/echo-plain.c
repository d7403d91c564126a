/* SPDX-License-Identifier: MIT */
/* keel-echo-plain: the UDP echo on the plain calls, one recv_from and one
 * send_to per datagram on one worker (what examples/udp-echo was before it
 * served on every worker with keel_udp_serve), for perf/udp-echo-bench.sh.
 * usage: keel-echo-plain [ADDR:PORT] (default 127.0.0.1:8080) */
#include <keel/keel.h>
#include <stdio.h>

struct echo {
	struct keel_co co;
	struct keel_args args;
	struct keel_udp sock;
	struct keel_addr addr, peer;
	const char *where;
	char buf[65536];
	intptr_t n, r;
};

static intptr_t echo(void *frame, struct keel_cx *cx)
{
	struct echo *f = frame;
	char text[KEEL_ADDR_STRLEN];

	KEEL_BEGIN(f);
	f->where = f->args.argc > 1 ? f->args.argv[1] : "127.0.0.1:8080";
	if ((f->r = keel_addr_parse(f->where, &f->addr)) < 0 ||
	    (f->r = keel_udp_bind(cx, &f->sock, &f->addr, NULL)) < 0 ||
	    (f->r = keel_udp_local_addr(&f->sock, &f->addr)) < 0) {
		fprintf(stderr, "keel-echo-plain: cannot bind %s: %s\n", f->where, keel_strerror(f->r));
		KEEL_RETURN(f, 1); /* bad, not ours, or in use: named */
	}
	printf("Listening on %s\n", keel_addr_format(&f->addr, text, sizeof(text)));
	fflush(stdout);
	for (;;) {
		KEEL_AWAIT(f, f->n, keel_udp_recv_from(cx, &f->sock, f->buf, sizeof(f->buf), &f->peer));
		if (f->n < 0)
			continue; /* counted by the driver; keep serving */
		if (keel_runtime_config(keel_cx_runtime(cx))->verbose)
			printf("%zd bytes from %s\n", (ssize_t)f->n, keel_addr_format(&f->peer, text, sizeof(text)));
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->sock, f->buf, (size_t)f->n, &f->peer));
	}
	KEEL_END(f);
}

static void echo_drop(void *frame)
{
	keel_udp_close(&((struct echo *)frame)->sock);
}

KEEL_MAIN(echo, echo_drop, struct echo, "keel-echo-plain [ADDR:PORT]")
