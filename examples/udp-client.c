/* SPDX-License-Identifier: MIT */
/* udp-client: send one datagram to an echo service and print the answer.
 * usage: udp-client [ADDR:PORT [MESSAGE]] (default 127.0.0.1:8080, "hello
 * world"). Exits non-zero when no answer comes within two seconds. */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>
#include <string.h>

#define REPLY_TIMEOUT (2 * KEEL_SEC)

struct client {
	struct keel_co co;
	struct keel_args args;
	struct keel_udp sock;
	struct keel_addr server, local, from;
	struct keel_timer timer;
	const char *msg;
	uint64_t deadline;
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
		KEEL_RETURN(f, -EINVAL);
	}
	if (keel_addr_parse(target, &f->server) < 0) {
		fprintf(stderr, "udp-client: '%s' is not ADDR:PORT "
				"(e.g. 127.0.0.1:8080 or [::1]:8080)\n", target);
		KEEL_RETURN(f, -EINVAL);
	}
	f->msg = f->args.argc > 2 ? f->args.argv[2] : "hello world";
	rc = local_for(&f->server, &f->local);
	if (rc == 0)
		rc = keel_udp_bind(cx, &f->sock, &f->local, NULL);
	if (rc < 0) {
		fprintf(stderr, "udp-client: cannot bind %s: %s\n",
			keel_addr_format(&f->local, text, sizeof(text)),
			keel_strerror(rc));
		KEEL_RETURN(f, rc);
	}

	printf("Sending: %s\n", f->msg);
	KEEL_AWAIT(f, f->n, keel_udp_send_to(cx, &f->sock, f->msg,
					     strlen(f->msg), &f->server));
	if (f->n < 0) {
		fprintf(stderr, "udp-client: cannot send to %s: %s\n",
			keel_addr_format(&f->server, text, sizeof(text)),
			keel_strerror(f->n));
		KEEL_RETURN(f, f->n);
	}

	/* Anyone can send to our port: skip what does not come from the
	 * server, without giving it more time than the one deadline. */
	f->deadline = keel_now(cx) + REPLY_TIMEOUT;
	for (;;) {
		KEEL_AWAIT(f, f->n, keel_timeout_at(cx, &f->timer, f->deadline,
				keel_udp_recv_from(cx, &f->sock, f->buf,
						   sizeof(f->buf), &f->from)));
		if (f->n == -ETIMEDOUT) {
			fprintf(stderr, "udp-client: no answer from %s within %u s\n",
				keel_addr_format(&f->server, text, sizeof(text)),
				(unsigned)(REPLY_TIMEOUT / KEEL_SEC));
			KEEL_RETURN(f, f->n);
		}
		if (f->n < 0 && f->n != -EMSGSIZE) {
			fprintf(stderr, "udp-client: receive: %s\n",
				keel_strerror(f->n));
			KEEL_RETURN(f, f->n);
		}
		if (keel_addr_equal(&f->from, &f->server))
			break;
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
