/* SPDX-License-Identifier: MIT */
/* tcp-proxy: forward every connection to an upstream server, both ways.
 * usage: tcp-proxy [LISTEN_ADDR:PORT] [UPSTREAM_ADDR:PORT]
 * (default 127.0.0.1:8081 -> 127.0.0.1:8080)
 *
 * One task per client connects upstream, then two tasks copy, one per
 * direction. End of stream on one side becomes shutdown(SHUT_WR) on the
 * other, so half-closed conversations work; an error on either side shuts
 * both sockets down, which ends the other copy too. */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>

#define CONNECT_TIMEOUT (10 * KEEL_SEC)

/* One direction. The sockets belong to the session task that spawned it;
 * the session awaits both copies before closing them (or cancels them
 * first, in its drop), so the pointers stay valid. */
struct copy {
	struct keel_co co;
	struct keel_tcp *from, *to;
	char buf[4096];
	ssize_t n, w;
	size_t done;
};

static intptr_t copy(void *frame, struct keel_cx *cx)
{
	struct copy *f = frame;

	KEEL_BEGIN(f);
	for (;;) {
		KEEL_AWAIT(f, f->n, keel_tcp_read(cx, f->from, f->buf, sizeof(f->buf)));
		if (f->n <= 0)
			break;
		f->done = 0;
		KEEL_AWAIT(f, f->w, keel_tcp_write_all(cx, f->to, f->buf,
						       (size_t)f->n, &f->done));
		if (f->w < 0) {
			f->n = f->w;
			break;
		}
	}
	if (f->n == 0) {
		keel_tcp_shutdown(f->to, SHUT_WR);
		KEEL_RETURN(f, 0);
	}
	keel_tcp_shutdown(f->from, SHUT_RDWR);
	keel_tcp_shutdown(f->to, SHUT_RDWR);
	KEEL_RETURN(f, f->n);
	KEEL_END(f);
}

struct session {
	struct keel_co co;
	struct keel_tcp client, server;
	struct keel_addr upstream;
	struct keel_timer timer;
	struct keel_join *up, *down; /* NULL once awaited */
	intptr_t r, r2;
};

static intptr_t session(void *frame, struct keel_cx *cx)
{
	struct session *f = frame;
	char a[KEEL_ADDR_STRLEN], b[KEEL_ADDR_STRLEN];
	struct keel_addr peer;
	int rc;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->timer, CONNECT_TIMEOUT,
					 keel_tcp_connect(cx, &f->server, &f->upstream)));
	if (f->r < 0) {
		fprintf(stderr, "tcp-proxy: cannot connect to %s: %s\n",
			keel_addr_format(&f->upstream, a, sizeof(a)),
			keel_strerror(f->r));
		KEEL_RETURN(f, f->r);
	}
	if (keel_tcp_peer_addr(&f->client, &peer) < 0)
		peer = (struct keel_addr){ 0 };
	printf("Proxying %s to %s\n", keel_addr_format(&peer, a, sizeof(a)),
	       keel_addr_format(&f->upstream, b, sizeof(b)));
	fflush(stdout);

	rc = KEEL_SPAWN(cx, copy, NULL, &f->up, struct copy,
			.from = &f->client, .to = &f->server);
	if (rc == 0)
		rc = KEEL_SPAWN(cx, copy, NULL, &f->down, struct copy,
				.from = &f->server, .to = &f->client);
	if (rc < 0)
		KEEL_RETURN(f, rc); /* the drop cancels a copy that started */
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->up));
	f->up = NULL;
	KEEL_AWAIT(f, f->r2, keel_join_poll(cx, f->down));
	f->down = NULL;
	KEEL_RETURN(f, f->r < 0 ? f->r : f->r2);
	KEEL_END(f);
}

/* Cancel the copies before closing what they point at. */
static void session_drop(void *frame)
{
	struct session *f = frame;

	if (f->up)
		keel_join_abort(f->up);
	if (f->down)
		keel_join_abort(f->down);
	if (f->server.ops)
		keel_tcp_close(&f->server);
	keel_tcp_close(&f->client);
}

struct proxy {
	struct keel_co co;
	struct keel_args args;
	struct keel_tcp listener, accepted;
	struct keel_addr addr, upstream;
	struct keel_timer backoff;
	intptr_t r;
};

static int parse_arg(const struct keel_args *args, int i, const char *def,
		     struct keel_addr *out)
{
	const char *text = args->argc > i ? args->argv[i] : def;

	if (keel_addr_parse(text, out) == 0)
		return 0;
	fprintf(stderr, "tcp-proxy: '%s' is not ADDR:PORT "
			"(e.g. 127.0.0.1:8081 or [::1]:8081)\n", text);
	return -EINVAL;
}

static intptr_t proxy(void *frame, struct keel_cx *cx)
{
	struct proxy *f = frame;
	char a[KEEL_ADDR_STRLEN], b[KEEL_ADDR_STRLEN];
	int rc;

	KEEL_BEGIN(f);
	if (f->args.argc > 3) {
		fprintf(stderr, "usage: tcp-proxy [LISTEN_ADDR:PORT] [UPSTREAM_ADDR:PORT]\n");
		KEEL_RETURN(f, -EINVAL);
	}
	if (parse_arg(&f->args, 1, "127.0.0.1:8081", &f->addr) < 0 ||
	    parse_arg(&f->args, 2, "127.0.0.1:8080", &f->upstream) < 0)
		KEEL_RETURN(f, -EINVAL);
	rc = keel_tcp_listen(cx, &f->listener, &f->addr, 0);
	if (rc == 0)
		rc = keel_tcp_local_addr(&f->listener, &f->addr);
	if (rc < 0) {
		fprintf(stderr, "tcp-proxy: cannot listen on %s: %s\n",
			keel_addr_format(&f->addr, a, sizeof(a)), keel_strerror(rc));
		KEEL_RETURN(f, rc);
	}
	printf("Listening on %s\n", keel_addr_format(&f->addr, a, sizeof(a)));
	printf("Proxying to %s\n", keel_addr_format(&f->upstream, b, sizeof(b)));
	fflush(stdout);

	for (;;) {
		KEEL_AWAIT(f, f->r, keel_tcp_accept(cx, &f->listener, &f->accepted, NULL));
		if (f->r < 0) {
			/* Out of descriptors or memory: do not spin. */
			fprintf(stderr, "tcp-proxy: accept: %s\n", keel_strerror(f->r));
			KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->backoff, 100 * KEEL_MS));
			continue;
		}
		/* The client socket moves into the session's frame. */
		rc = KEEL_SPAWN(cx, session, session_drop, NULL, struct session,
				.client = f->accepted, .upstream = f->upstream);
		if (rc < 0)
			keel_tcp_close(&f->accepted);
		f->accepted = (struct keel_tcp){ 0 };
	}
	KEEL_END(f);
}

static void proxy_drop(void *frame)
{
	struct proxy *f = frame;

	if (f->listener.ops)
		keel_tcp_close(&f->listener);
	if (f->accepted.ops)
		keel_tcp_close(&f->accepted);
}

KEEL_MAIN(proxy, proxy_drop, struct proxy,
	  "tcp-proxy [LISTEN_ADDR:PORT] [UPSTREAM_ADDR:PORT]")
