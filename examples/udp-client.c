/* SPDX-License-Identifier: MIT */
/* udp-client: send one datagram to an echo service and print the answer.
 * usage: udp-client [ADDR:PORT [MESSAGE]] (default 127.0.0.1:8080, "hello
 * world"). Sends again every half second, four times in all, and exits
 * non-zero when no answer came. */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>
#include <string.h>

#define ATTEMPT_TIMEOUT (500 * KEEL_MS)
#define ATTEMPTS 4

struct client {
	struct keel_co co;
	struct keel_args args;
	struct keel_udp sock;
	struct keel_addr server, local;
	struct keel_udp_req req;
	const char *msg;
	char buf[65536];
	ssize_t n;
};

/* Loopback targets get a loopback source, as in the seed; anything else
 * the unspecified address, so that the kernel picks the route's. */
static int local_for(const struct keel_addr *to, struct keel_addr *out)
{
	if (to->sa.sa_family == AF_INET6)
		return keel_addr_from(IN6_IS_ADDR_LOOPBACK(&to->in6.sin6_addr) ?
				      "::1" : "::", 0, out);
	return keel_addr_from((ntohl(to->in4.sin_addr.s_addr) >> 24) == 127 ?
			      "127.0.0.1" : "0.0.0.0", 0, out);
}

static intptr_t client(void *frame, struct keel_cx *cx)
{
	struct client *f = frame;
	const char *target = f->args.argc > 1 ? f->args.argv[1] : "127.0.0.1:8080";
	char text[KEEL_ADDR_STRLEN];
	int rc;

	KEEL_BEGIN(f);
	if (f->args.argc > 3) {
		fprintf(stderr, "usage: udp-client [ADDR:PORT [MESSAGE]]\n");
		KEEL_RETURN(f, 2); /* said why: a usage error's status */
	}
	if (keel_addr_parse(target, &f->server) < 0) {
		fprintf(stderr, "udp-client: '%s' is not ADDR:PORT "
				"(e.g. 127.0.0.1:8080 or [::1]:8080)\n", target);
		KEEL_RETURN(f, 2);
	}
	f->msg = f->args.argc > 2 ? f->args.argv[2] : "hello world";
	rc = local_for(&f->server, &f->local);
	if (rc == 0)
		rc = keel_udp_bind(cx, &f->sock, &f->local, NULL);
	if (rc < 0) {
		fprintf(stderr, "udp-client: cannot bind %s: %s\n",
			keel_addr_format(&f->local, text, sizeof(text)),
			keel_strerror(rc));
		KEEL_RETURN(f, 1);
	}

	/* Only the kernel driver connects (the kernel then drops other
	 * peers' datagrams); elsewhere the request filters them itself. */
	rc = keel_udp_connect(&f->sock, &f->server);
	if (rc < 0 && rc != -ENOTSUP)
		KEEL_RETURN(f, rc);

	printf("Sending: %s\n", f->msg);
	f->req = (struct keel_udp_req){
		.msg = f->msg, .len = strlen(f->msg), .peer = f->server,
		.buf = f->buf, .cap = sizeof(f->buf),
		.timeout = ATTEMPT_TIMEOUT, .attempts = ATTEMPTS,
	};
	KEEL_AWAIT(f, f->n, keel_udp_request(cx, &f->sock, &f->req));
	if (f->n < 0 && f->n != -EMSGSIZE) { /* -ETIMEDOUT: after every try */
		fprintf(stderr, "udp-client: no answer from %s: %s\n",
			keel_addr_format(&f->server, text, sizeof(text)),
			keel_strerror(f->n));
		KEEL_RETURN(f, 1); /* said why: exit status 1 */
	}
	if (f->n == -EMSGSIZE) /* cut to the buffer: print what we kept */
		f->n = (ssize_t)sizeof(f->buf);
	/* The answer is bytes, not a C string: write it as it came. */
	fputs("Received: ", stdout);
	fwrite(f->buf, 1, (size_t)f->n, stdout);
	putchar('\n');
	KEEL_END(f);
}

static void client_drop(void *frame)
{
	struct client *f = frame;

	if (f->sock.ops)
		keel_udp_close(&f->sock);
}

KEEL_MAIN(client, client_drop, struct client, "udp-client [ADDR:PORT [MESSAGE]]")
