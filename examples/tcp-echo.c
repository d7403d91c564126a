/* SPDX-License-Identifier: MIT */
/* tcp-echo: accept connections forever, one task per connection, each
 * sending back what it reads until the peer closes.
 * usage: tcp-echo [ADDR:PORT] (default 127.0.0.1:8080) */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>

/* One connection. keel_tcp_serve moves the accepted socket into `sock`
 * and closes it when the task ends, however it ends. */
struct conn {
	struct keel_co co;
	struct keel_tcp sock;
	struct keel_addr peer;
	char buf[4096];
	ssize_t n, w;
	size_t done;
};

static intptr_t conn(void *frame, struct keel_cx *cx)
{
	struct conn *f = frame;
	char text[KEEL_ADDR_STRLEN];

	KEEL_BEGIN(f);
	printf("Accepting from: %s\n", keel_addr_format(&f->peer, text, sizeof(text)));
	fflush(stdout);
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

struct server {
	struct keel_co co;
	struct keel_args args;
	struct keel_tcp listener;
	struct keel_addr addr;
	struct keel_tcp_server srv;
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

	f->srv = (struct keel_tcp_server){
		KEEL_TCP_CONN(conn, NULL, struct conn, sock),
		.peer_off = offsetof(struct conn, peer),
	};
	KEEL_AWAIT(f, f->r, keel_tcp_serve(cx, &f->listener, &f->srv));
	KEEL_RETURN(f, f->r); /* only when the listener fails */
	KEEL_END(f);
}

static void server_drop(void *frame)
{
	struct server *f = frame;

	keel_tcp_server_close(&f->srv);
	if (f->listener.ops)
		keel_tcp_close(&f->listener);
}

KEEL_MAIN(server, server_drop, struct server, "tcp-echo [ADDR:PORT]")
