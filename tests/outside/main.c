/* SPDX-License-Identifier: MIT */
/* A program outside keel's tree: spawn, join, and a UDP datagram to itself
 * on loopback, built through pkg-config or as a meson subproject. */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>
#include <string.h>

struct child {
	struct keel_co co;
	int x;
};

static intptr_t child(void *frame, struct keel_cx *cx)
{
	(void)cx;
	return ((struct child *)frame)->x * 2;
}

struct app {
	struct keel_co co;
	struct keel_args args;
	struct keel_join *j;
	struct keel_udp s;
	struct keel_addr a;
	char buf[16];
	intptr_t r;
};

static intptr_t app(void *frame, struct keel_cx *cx)
{
	struct app *f = frame;

	KEEL_BEGIN(f);
	if (KEEL_SPAWN(cx, child, NULL, &f->j, struct child, .x = 21) < 0)
		KEEL_RETURN(f, -1);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
	if (f->r != 42)
		KEEL_RETURN(f, -EPROTO);
	keel_addr_parse("127.0.0.1:0", &f->a);
	f->r = keel_udp_bind(cx, &f->s, &f->a, NULL);
	if (f->r == 0)
		f->r = keel_udp_local_addr(&f->s, &f->a);
	if (f->r < 0)
		KEEL_RETURN(f, f->r);
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, "ping", 4, &f->a));
	KEEL_AWAIT(f, f->r, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	if (f->r != 4 || memcmp(f->buf, "ping", 4) != 0)
		KEEL_RETURN(f, -EPROTO);
	printf("outside: ok (sched=%s driver=%s)\n",
	       keel_runtime_config(keel_cx_runtime(cx))->sched,
	       keel_runtime_config(keel_cx_runtime(cx))->driver);
	KEEL_END(f);
}

static void app_drop(void *frame)
{
	keel_udp_close(&((struct app *)frame)->s);
}

KEEL_MAIN(app, app_drop, struct app, "outside")
