/* SPDX-License-Identifier: MIT */
/* udp-echo: send every datagram back where it came from, on every worker
 * (--workers=N: the port is bound once per worker, the flows spread).
 * usage: udp-echo [ADDR:PORT] (default 127.0.0.1:8080) */
#include <keel/keel.h>
#include <stdio.h>

static bool verbose;

/* The service: a datagram in, its reply written over it, the length out. */
static ssize_t echo(void *ctx, struct keel_udp_dgram *req)
{
	char text[KEEL_ADDR_STRLEN];

	(void)ctx;
	if (verbose)
		printf("%zu bytes from %s\n", req->len, keel_addr_format(&req->peer, text, sizeof(text)));
	return (ssize_t)req->len; /* the same bytes go back */
}

struct main {
	struct keel_co co;
	struct keel_args args;
	struct keel_addr addr;
	struct keel_join *service;
	const char *where;
	intptr_t r;
};

static intptr_t run(void *frame, struct keel_cx *cx)
{
	struct main *f = frame;
	char text[KEEL_ADDR_STRLEN];

	KEEL_BEGIN(f);
	f->where = f->args.argc > 1 ? f->args.argv[1] : "127.0.0.1:8080";
	verbose = keel_runtime_config(keel_cx_runtime(cx))->verbose;
	if ((f->r = keel_addr_parse(f->where, &f->addr)) == 0) /* bound on every worker: */
		KEEL_AWAIT(f, f->r, keel_udp_serve(cx, &f->addr, NULL, echo, NULL, &f->service));
	if (f->r < 0) {
		fprintf(stderr, "udp-echo: cannot bind %s: %s\n", f->where, keel_strerror(f->r));
		KEEL_RETURN(f, 1); /* bad, not ours, or in use: named */
	}
	printf("Listening on %s\n", keel_addr_format(&f->addr, text, sizeof(text)));
	fflush(stdout);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->service)); /* serves until stopped */
	f->service = NULL;
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

static void run_drop(void *frame)
{
	struct main *f = frame;

	if (f->service)
		keel_join_abort(f->service);
}

KEEL_MAIN(run, run_drop, struct main, "udp-echo [ADDR:PORT]")
