/* SPDX-License-Identifier: MIT */
/* tcp-client: connect, send one message, print what comes back.
 * usage: tcp-client [ADDR:PORT [MESSAGE]] (default 127.0.0.1:8080, "hello
 * world"). Gives up after five seconds. */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>
#include <string.h>

#define CLIENT_TIMEOUT (5 * KEEL_SEC)

struct client {
	struct keel_co co;
	struct keel_args args;
	struct keel_tcp sock;
	struct keel_addr server;
	struct keel_timer timer;
	const char *msg;
	size_t len, done, got;
	uint64_t deadline;
	char buf[4096];
	intptr_t r;
};

static intptr_t client(void *frame, struct keel_cx *cx)
{
	struct client *f = frame;
	const char *target = f->args.argc > 1 ? f->args.argv[1] : "127.0.0.1:8080";
	char text[KEEL_ADDR_STRLEN];

	KEEL_BEGIN(f);
	if (f->args.argc > 3) {
		fprintf(stderr, "usage: tcp-client [ADDR:PORT [MESSAGE]]\n");
		KEEL_RETURN(f, -EINVAL);
	}
	if (keel_addr_parse(target, &f->server) < 0) {
		fprintf(stderr, "tcp-client: '%s' is not ADDR:PORT "
				"(e.g. 127.0.0.1:8080 or [::1]:8080)\n", target);
		KEEL_RETURN(f, -EINVAL);
	}
	f->msg = f->args.argc > 2 ? f->args.argv[2] : "hello world";
	f->len = strlen(f->msg);
	f->deadline = keel_now(cx) + CLIENT_TIMEOUT;

	KEEL_AWAIT(f, f->r, keel_timeout_at(cx, &f->timer, f->deadline,
					 keel_tcp_connect(cx, &f->sock, &f->server)));
	if (f->r < 0) {
		fprintf(stderr, "tcp-client: cannot connect to %s: %s\n",
			keel_addr_format(&f->server, text, sizeof(text)),
			keel_strerror(f->r));
		KEEL_RETURN(f, f->r);
	}
	printf("Connected to %s\n", keel_addr_format(&f->server, text, sizeof(text)));
	printf("<- %s\n", f->msg);

	f->done = 0;
	KEEL_AWAIT(f, f->r, keel_timeout_at(cx, &f->timer, f->deadline,
					 keel_tcp_write_all(cx, &f->sock, f->msg,
							    f->len, &f->done)));
	if (f->r < 0) {
		fprintf(stderr, "tcp-client: write: %s\n", keel_strerror(f->r));
		KEEL_RETURN(f, f->r);
	}
	/* Done sending: the peer sees end of stream, an echo then closes. */
	keel_tcp_shutdown(&f->sock, SHUT_WR);

	/* A stream has no message boundaries: the echo may come in pieces.
	 * Read until as much came back as was sent, or end of stream. */
	while (f->got < f->len && f->got < sizeof(f->buf)) {
		KEEL_AWAIT(f, f->r, keel_timeout_at(cx, &f->timer, f->deadline,
				keel_tcp_read(cx, &f->sock, f->buf + f->got,
					      sizeof(f->buf) - f->got)));
		if (f->r < 0) {
			fprintf(stderr, "tcp-client: read: %s\n", keel_strerror(f->r));
			KEEL_RETURN(f, f->r);
		}
		if (f->r == 0)
			break;
		f->got += (size_t)f->r;
	}
	fputs("-> ", stdout);
	fwrite(f->buf, 1, f->got, stdout);
	putchar('\n');
	KEEL_END(f);
}

static void client_drop(void *frame)
{
	struct client *f = frame;

	/* A connect cut short by the timeout leaves the handle connecting:
	 * close releases that too. */
	if (f->sock.ops)
		keel_tcp_close(&f->sock);
}

KEEL_MAIN(client, client_drop, struct client, "tcp-client [ADDR:PORT [MESSAGE]]")
