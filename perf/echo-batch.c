/* SPDX-License-Identifier: MIT */
/* keel-echo-batch: examples/udp-echo with the batch calls, the same
 * algorithm as perf/baseline-echo.c (up to 64 datagrams per
 * recvmmsg/sendmmsg on the kernel driver), so that the two differ only in
 * what keel adds. usage: keel-echo-batch [ADDR:PORT] (127.0.0.1:8080) */
#include <keel/keel.h>
#include <stdio.h>

#define BATCH	 64
#define BUF_SIZE 2048

struct echo {
	struct keel_co co;
	struct keel_args args;
	struct keel_udp sock;
	struct keel_addr addr;
	struct keel_dgram v[BATCH];
	char bufs[BATCH][BUF_SIZE];
	ssize_t n, sent, k;
};

static intptr_t echo(void *frame, struct keel_cx *cx)
{
	struct echo *f = frame;
	char text[KEEL_ADDR_STRLEN];
	int rc;

	KEEL_BEGIN(f);
	rc = keel_addr_parse(f->args.argc > 1 ? f->args.argv[1] : "127.0.0.1:8080", &f->addr);
	if (rc == 0)
		rc = keel_udp_bind(cx, &f->sock, &f->addr, NULL);
	if (rc == 0)
		rc = keel_udp_local_addr(&f->sock, &f->addr);
	if (rc < 0)
		KEEL_RETURN(f, rc);
	printf("Listening on %s\n", keel_addr_format(&f->addr, text, sizeof(text)));
	fflush(stdout);
	for (;;) {
		for (int i = 0; i < BATCH; i++)
			f->v[i] = (struct keel_dgram){ .buf = f->bufs[i], .cap = BUF_SIZE };
		KEEL_AWAIT(f, f->n, keel_udp_recv_batch(cx, &f->sock, f->v, BATCH));
		if (f->n <= 0)
			continue; /* counted by the driver; keep serving */
		/* Each datagram goes back as it came: cap = its length, peer =
		 * its source (recv_batch filled both). */
		for (ssize_t i = 0; i < f->n; i++)
			f->v[i].cap = f->v[i].len;
		for (f->sent = 0; f->sent < f->n; f->sent += f->k) {
			KEEL_AWAIT(f, f->k, keel_udp_send_batch(cx, &f->sock, f->v + f->sent,
							  (unsigned)(f->n - f->sent)));
			if (f->k <= 0)
				break; /* dropped, as baseline-echo drops */
		}
	}
	KEEL_END(f);
}

static void echo_drop(void *frame)
{
	keel_udp_close(&((struct echo *)frame)->sock);
}

KEEL_MAIN(echo, echo_drop, struct echo, "keel-echo-batch [ADDR:PORT]")
