/* SPDX-License-Identifier: MIT */
/* tcp-echo: accept connections forever, one task per connection, each
 * sending back what it reads until the peer closes.
 * usage: tcp-echo [ADDR:PORT] (default 127.0.0.1:8080) */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>

/* One connection. The task owns the socket: its drop closes it, so a
 * connection cancelled at shutdown releases it like one that ended. */
struct conn {
	struct keel_co co;
	struct keel_tcp sock;
	char buf[4096];
	ssize_t n, w;
	size_t done;
};

static intptr_t conn(void *frame, struct keel_cx *cx)
{
	struct conn *f = frame;

	KEEL_BEGIN(f);
	for (;;) {
		KEEL_AWAIT(f, f->n, keel_tcp_read(cx, &f->sock, f->buf, sizeof(f->buf)));
		if (f->n <= 0)
			break; /* end of stream, or reset: either way, done */
		f->done = 0;
		KEEL_AWAIT(f, f->w, keel_tcp_write_all(cx, &f->sock, f->buf,
						       (size_t)f->n, &f->done));
		if (f->w < 0)
			break;
	}
	KEEL_END(f);
}

static void conn_drop(void *frame)
{
	keel_tcp_close(&((struct conn *)frame)->sock);
}

struct server {
	struct keel_co co;
	struct keel_args args;
	struct keel_tcp listener, accepted;
	struct keel_addr addr, peer;
	struct keel_timer backoff;
	intptr_t r;
};

static intptr_t server(void *frame, struct keel_cx *cx)
{
	struct server *f = frame;
	const char *text_in = f->args.argc > 1 ? f->args.argv[1] : "127.0.0.1:8080";
	char text[KEEL_ADDR_STRLEN];
	int rc;

	KEEL_BEGIN(f);
	if (f->args.argc > 2) {
		fprintf(stderr, "usage: tcp-echo [ADDR:PORT]\n");
		KEEL_RETURN(f, -EINVAL);
	}
	if (keel_addr_parse(text_in, &f->addr) < 0) {
		fprintf(stderr, "tcp-echo: '%s' is not ADDR:PORT "
				"(e.g. 127.0.0.1:8080 or [::1]:8080)\n", text_in);
		KEEL_RETURN(f, -EINVAL);
	}
	rc = keel_tcp_listen(cx, &f->listener, &f->addr, 0);
	if (rc == 0)
		rc = keel_tcp_local_addr(&f->listener, &f->addr);
	if (rc < 0) {
		fprintf(stderr, "tcp-echo: cannot listen on %s: %s\n", text_in,
			keel_strerror(rc));
		KEEL_RETURN(f, rc);
	}
	printf("Listening on %s\n", keel_addr_format(&f->addr, text, sizeof(text)));
	fflush(stdout);

	for (;;) {
		KEEL_AWAIT(f, f->r, keel_tcp_accept(cx, &f->listener, &f->accepted, &f->peer));
		if (f->r < 0) {
			/* Out of descriptors or memory: accepting again at
			 * once would spin; let connections end first. */
			fprintf(stderr, "tcp-echo: accept: %s\n", keel_strerror(f->r));
			KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->backoff, 100 * KEEL_MS));
			continue;
		}
		printf("Accepting from: %s\n", keel_addr_format(&f->peer, text, sizeof(text)));
		fflush(stdout);
		/* The socket moves into the new task's frame (a copy), and
		 * out of ours: f->accepted must be closed for the next accept. */
		rc = KEEL_SPAWN(cx, conn, conn_drop, NULL, struct conn,
				.sock = f->accepted);
		if (rc < 0)
			keel_tcp_close(&f->accepted);
		f->accepted = (struct keel_tcp){ 0 };
	}
	KEEL_END(f);
}

static void server_drop(void *frame)
{
	struct server *f = frame;

	if (f->listener.ops)
		keel_tcp_close(&f->listener);
	if (f->accepted.ops)
		keel_tcp_close(&f->accepted);
}

KEEL_MAIN(server, server_drop, struct server, "tcp-echo [ADDR:PORT]")
