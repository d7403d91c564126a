/* SPDX-License-Identifier: MIT */
/* tcp-proxy: forward every connection to an upstream server, both ways.
 * usage: tcp-proxy [LISTEN_ADDR:PORT] [UPSTREAM_ADDR:PORT]
 * (default 127.0.0.1:8081 -> 127.0.0.1:8080)
 *
 * One task per client (keel_tcp_serve) connects upstream, then copies both
 * ways at once: the two directions are sub-futures polled inside the
 * session's own poll, so the session owns both sockets and no other task
 * ever touches them — cancelling a session closes its sockets with
 * nothing running on another worker. End of stream on one side becomes
 * shutdown(SHUT_WR) on the other, so half-closed conversations work; an
 * error on either side shuts both sockets down, which ends the other
 * direction too. */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>

#define CONNECT_TIMEOUT (10 * KEEL_SEC)

/* One direction: a sub-future whose frame lives in the session's. */
struct copy {
	struct keel_co co;
	struct keel_tcp *from, *to;
	char buf[4096];
	ssize_t n, w;
	size_t done;
	intptr_t result; /* KEEL_PENDING until it finished */
};

static intptr_t copy(struct copy *f, struct keel_cx *cx)
{
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

/* Poll both directions until both finished; the first error wins. */
static intptr_t copy_both(struct keel_cx *cx, struct copy *a, struct copy *b)
{
	if (a->result == KEEL_PENDING)
		a->result = copy(a, cx);
	if (b->result == KEEL_PENDING)
		b->result = copy(b, cx);
	if (a->result == KEEL_PENDING || b->result == KEEL_PENDING)
		return KEEL_PENDING;
	return a->result < 0 ? a->result : b->result;
}

struct session {
	struct keel_co co;
	struct keel_tcp client, server; /* client: moved in by keel_tcp_serve */
	struct keel_addr peer, upstream;
	struct keel_timer timer;
	struct copy up, down;
	intptr_t r;
};

static intptr_t session(void *frame, struct keel_cx *cx)
{
	struct session *f = frame;
	char a[KEEL_ADDR_STRLEN], b[KEEL_ADDR_STRLEN];

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->timer, CONNECT_TIMEOUT,
					 keel_tcp_connect(cx, &f->server, &f->upstream)));
	if (f->r < 0) {
		fprintf(stderr, "tcp-proxy: cannot connect to %s: %s\n",
			keel_addr_format(&f->upstream, a, sizeof(a)),
			keel_strerror(f->r));
		KEEL_RETURN(f, f->r);
	}
	printf("Proxying %s to %s\n", keel_addr_format(&f->peer, a, sizeof(a)),
	       keel_addr_format(&f->upstream, b, sizeof(b)));
	fflush(stdout);

	f->up = (struct copy){ .from = &f->client, .to = &f->server,
			       .result = KEEL_PENDING };
	f->down = (struct copy){ .from = &f->server, .to = &f->client,
				 .result = KEEL_PENDING };
	KEEL_AWAIT(f, f->r, copy_both(cx, &f->up, &f->down));
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

/* The client socket is closed by the server after this. */
static void session_drop(void *frame)
{
	struct session *f = frame;

	if (f->server.ops)
		keel_tcp_close(&f->server);
}

struct proxy {
	struct keel_co co;
	struct keel_args args;
	struct keel_tcp listener;
	struct keel_addr addr;
	struct session tmpl; /* what every session starts from: the upstream */
	struct keel_tcp_server srv;
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
	    parse_arg(&f->args, 2, "127.0.0.1:8080", &f->tmpl.upstream) < 0)
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
	printf("Proxying to %s\n", keel_addr_format(&f->tmpl.upstream, b, sizeof(b)));
	fflush(stdout);

	f->srv = (struct keel_tcp_server){
		KEEL_TCP_CONN(session, session_drop, struct session, client),
		.peer_off = offsetof(struct session, peer), .init = &f->tmpl,
	};
	KEEL_AWAIT(f, f->r, keel_tcp_serve(cx, &f->listener, &f->srv));
	KEEL_RETURN(f, f->r); /* only when the listener fails */
	KEEL_END(f);
}

static void proxy_drop(void *frame)
{
	struct proxy *f = frame;

	keel_tcp_server_close(&f->srv);
	if (f->listener.ops)
		keel_tcp_close(&f->listener);
}

KEEL_MAIN(proxy, proxy_drop, struct proxy,
	  "tcp-proxy [LISTEN_ADDR:PORT] [UPSTREAM_ADDR:PORT]")
