/* SPDX-License-Identifier: MIT */
/* kv-server: a UDP key-value store with expiry, a periodic summary and a
 * clean shutdown; docs/guide.md builds it step by step. One text request
 * per datagram: SET key value -> OK; GET key -> value or NOTFOUND;
 * DEL key -> OK or NOTFOUND; else ERR <reason> (examples/kv-store.c).
 * usage: kv-server [--ttl=SECONDS] [--summary=SECONDS] [ADDR:PORT]
 * (default 127.0.0.1:8080) */
#include "kv-store.h"

#include <keel/keel.h>
#include <pthread.h>
#include <stdio.h>

static uint64_t ttl = 60, summary = 10;
static const struct keel_opt options[] = {
	KEEL_OPT_UINT("ttl", "SECONDS", "keys expire this long after their last SET", &ttl),
	KEEL_OPT_UINT("summary", "SECONDS", "print a summary this often, 0: never", &summary),
	KEEL_OPT_END,
};

/* The server task and the summary task share the store. On a scheduler
 * with several workers they can run at the same time: a lock, held only
 * between awaits, never across one. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
struct shared {
	struct kv_store *store;
	uint64_t requests;
};

static intptr_t print_summary(struct keel_cx *cx, void *arg, uint64_t ticks)
{
	struct shared *s = arg;
	size_t expired;

	(void)ticks;
	pthread_mutex_lock(&lock);
	expired = kv_store_expire(s->store, keel_now(cx));
	printf("kv: %zu keys, %llu requests, %zu expired\n", kv_store_count(s->store),
	       (unsigned long long)s->requests, expired);
	pthread_mutex_unlock(&lock);
	fflush(stdout);
	return 0;
}

struct server {
	struct keel_co co;
	struct keel_args args;
	struct keel_udp sock;
	struct keel_addr addr, peer;
	struct keel_group tasks; /* the summary */
	struct keel_waiter stop; /* for the shutdown signal */
	struct shared shared;
	int which;
	intptr_t n, r;
	size_t len; /* of the reply: read again when the send resumes */
	char req[65536], reply[65536];
};

static intptr_t server(void *frame, struct keel_cx *cx)
{
	struct server *f = frame;
	char text[KEEL_ADDR_STRLEN];

	KEEL_BEGIN(f);
	KEEL_TRY(f, f->r, keel_addr_parse(f->args.argc > 1 ? f->args.argv[1] : "127.0.0.1:8080", &f->addr));
	KEEL_TRY(f, f->r, keel_udp_bind(cx, &f->sock, &f->addr, NULL));
	KEEL_TRY(f, f->r, keel_udp_local_addr(&f->sock, &f->addr));
	KEEL_TRY(f, f->r, kv_store_create(&f->shared.store));
	if (summary)
		KEEL_TRY(f, f->r, keel_group_spawn_periodic(cx, &f->tasks, summary * KEEL_SEC,
							   print_summary, &f->shared));
	printf("kv-server on %s, keys expire %llu s after their last SET\n",
	       keel_addr_format(&f->addr, text, sizeof(text)), (unsigned long long)ttl);
	fflush(stdout);
	for (;;) {
		KEEL_SELECT(f, f->which, f->n, keel_shutdown_wait(cx, &f->stop),
			    keel_udp_recv_from(cx, &f->sock, f->req, sizeof(f->req), &f->peer));
		if (f->which == 0)
			break; /* SIGINT or SIGTERM */
		if (f->n < 0)
			continue; /* e.g. too long: counted by the driver */
		pthread_mutex_lock(&lock);
		f->len = kv_store_handle(f->shared.store, f->req, (size_t)f->n, keel_now(cx),
				      ttl * KEEL_SEC, f->reply, sizeof(f->reply));
		f->shared.requests++;
		pthread_mutex_unlock(&lock);
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->sock, f->reply, f->len, &f->peer));
	}
	KEEL_AWAIT(f, f->r, keel_group_shutdown(cx, &f->tasks));
	print_summary(cx, &f->shared, 0);
	KEEL_END(f);
}

static void server_drop(void *frame)
{
	struct server *f = frame;

	keel_group_destroy(&f->tasks);
	keel_udp_close(&f->sock);
	kv_store_destroy(f->shared.store);
}

KEEL_MAIN_OPTS(server, server_drop, struct server, "kv-server [ADDR:PORT]", options)
