/* SPDX-License-Identifier: MIT */
/* guessing: the guessing game of the Rust book, over TCP. Each connection
 * gets a secret number from 1 to 100; the client sends guesses, one per
 * line, and hears "Too small!", "Too big!" or "You win!" (then the server
 * hangs up). Anything else is answered "Please type a number!".
 * usage: guessing [ADDR:PORT] (default 127.0.0.1:8080)
 * try:   nc 127.0.0.1 8080 */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* Longer lines are not numbers: they are cut here, and the rest of the
 * line is skipped up to its newline, so a peer cannot make us buffer
 * without bound. */
#define LINE_MAX_LEN 64

/* One player. keel_tcp_serve moves the accepted socket into `sock` and
 * closes it (hangs up) when the task ends. */
struct game {
	struct keel_co co;
	struct keel_tcp sock;
	struct keel_addr peer;
	unsigned secret;
	char rx[1024];
	size_t rx_len, rx_pos;
	char line[LINE_MAX_LEN];
	size_t line_len;
	bool too_long;
	bool won;
	const char *reply;
	size_t done;
	ssize_t n;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The answer to one line (without its '\n'); sets *won on a hit. */
static const char *judge(const struct game *f, bool *won)
{
	const char *p = f->line, *end = f->line + f->line_len;
	unsigned long guess = 0;

	if (f->too_long)
		return "Please type a number!\n";
	while (p < end && is_space(*p))
		p++;
	while (end > p && is_space(end[-1]))
		end--;
	if (p < end && *p == '+')
		p++;
	if (p == end)
		return "Please type a number!\n";
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return "Please type a number!\n";
		/* Saturate: any huge number is simply too big. */
		if (guess < 1000000)
			guess = guess * 10 + (unsigned long)(*p - '0');
	}
	if (guess < f->secret)
		return "Too small!\n";
	if (guess > f->secret)
		return "Too big!\n";
	*won = true;
	return "You win!\n";
}

/* 1..100, from the kernel's generator; the clock when that fails (a
 * guessing game needs no cryptography). */
static unsigned pick_secret(struct keel_cx *cx)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)(keel_now(cx) ^ (keel_now(cx) >> 32)) * 2654435761u;
	return 1 + r % 100;
}

static intptr_t game(void *frame, struct keel_cx *cx)
{
	struct game *f = frame;
	char text[KEEL_ADDR_STRLEN];
	char c;

	KEEL_BEGIN(f);
	printf("Accepting from: %s\n", keel_addr_format(&f->peer, text, sizeof(text)));
	fflush(stdout);
	f->secret = pick_secret(cx);
	for (;;) {
		KEEL_AWAIT(f, f->n, keel_tcp_read(cx, &f->sock, f->rx, sizeof(f->rx)));
		if (f->n <= 0)
			break; /* the player left (or the connection broke) */
		f->rx_len = (size_t)f->n;
		/* A read holds any part of a line, or several lines: scan it
		 * byte by byte, answering at each newline. */
		for (f->rx_pos = 0; f->rx_pos < f->rx_len;) {
			c = f->rx[f->rx_pos++];
			if (c != '\n') {
				if (f->line_len < sizeof(f->line))
					f->line[f->line_len++] = c;
				else
					f->too_long = true;
				continue;
			}
			f->reply = judge(f, &f->won);
			f->line_len = 0;
			f->too_long = false;
			f->done = 0;
			KEEL_AWAIT(f, f->n, keel_tcp_write_all(cx, &f->sock, f->reply,
							       strlen(f->reply), &f->done));
			if (f->n < 0 || f->won)
				KEEL_RETURN(f, 0); /* the server hangs up */
		}
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
		fprintf(stderr, "usage: guessing [ADDR:PORT]\n");
		KEEL_RETURN(f, -EINVAL);
	}
	if (keel_addr_parse(text_in, &f->addr) < 0) {
		fprintf(stderr, "guessing: '%s' is not ADDR:PORT "
				"(e.g. 127.0.0.1:8080 or [::1]:8080)\n", text_in);
		KEEL_RETURN(f, -EINVAL);
	}
	rc = keel_tcp_listen(cx, &f->listener, &f->addr, 0);
	if (rc == 0)
		rc = keel_tcp_local_addr(&f->listener, &f->addr);
	if (rc < 0) {
		fprintf(stderr, "guessing: cannot listen on %s: %s\n", text_in,
			keel_strerror(rc));
		KEEL_RETURN(f, rc);
	}
	printf("Listening on %s\n", keel_addr_format(&f->addr, text, sizeof(text)));
	fflush(stdout);

	f->srv = (struct keel_tcp_server){
		KEEL_TCP_CONN(game, NULL, struct game, sock),
		.peer_off = offsetof(struct game, peer),
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

KEEL_MAIN(server, server_drop, struct server, "guessing [ADDR:PORT]")
