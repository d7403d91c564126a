/* SPDX-License-Identifier: MIT */
/* sched/shard: cross-shard spawn and call, results back through joins,
 * tasks staying on their shard, a full ring refusing, and a UDP port
 * shared by every shard with SO_REUSEPORT. */
#include <errno.h>
#include <keel/shard.h>
#include <keel/test.h>
#include <stdatomic.h>
#include "../fixtures/wait.h"

#define SHARDS 3

/* Run an async body on a fresh shard runtime with SHARDS shards. */
static intptr_t on_shards(keel_poll_fn *poll, size_t size)
{
	struct keel_config cfg = { .sched = "shard", .workers = SHARDS };
	struct keel_runtime *rt;
	void *frame = calloc(1, size);
	intptr_t r;

	cr_assert_not_null(frame);
	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	r = keel_runtime_block_on(rt, poll, NULL, frame, size);
	keel_runtime_destroy(rt);
	free(frame);
	return r;
}

/* Yields a few times and checks it stays put, then says where it ran. */
struct where {
	struct keel_co co;
	unsigned first;
	int i;
};

static intptr_t where_poll(void *frame, struct keel_cx *cx)
{
	struct where *w = frame;

	KEEL_BEGIN(w);
	w->first = keel_shard_id(cx);
	for (w->i = 0; w->i < 10; w->i++) {
		KEEL_YIELD(w, cx);
		if (keel_shard_id(cx) != w->first)
			KEEL_RETURN(w, -EXDEV); /* it migrated */
	}
	KEEL_RETURN(w, (intptr_t)w->first);
	KEEL_END(w);
}

static intptr_t square(void *arg)
{
	return (intptr_t)arg * (intptr_t)arg;
}

struct t_spawn {
	struct keel_co co;
	struct keel_join *j[SHARDS], *c;
	intptr_t r;
	int i;
};

static intptr_t spawn_body(void *frame, struct keel_cx *cx)
{
	struct t_spawn *f = frame;

	KEEL_BEGIN(f);
	if (keel_shard_count(cx) != SHARDS || keel_shard_id(cx) != 0)
		KEEL_RETURN(f, -EPROTO);
	for (f->i = 0; f->i < SHARDS; f->i++)
		if (KEEL_SPAWN_ON(cx, (unsigned)f->i, where_poll, NULL, &f->j[f->i],
				  struct where, .first = 0) < 0)
			KEEL_RETURN(f, -EIO);
	for (f->i = 0; f->i < SHARDS; f->i++) {
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j[f->i]));
		if (f->r != f->i)
			KEEL_RETURN(f, -1000 - f->i); /* ran elsewhere, or moved */
	}
	if (keel_shard_call(cx, 2, square, (void *)(intptr_t)12, &f->c) < 0)
		KEEL_RETURN(f, -EIO);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->c));
	if (f->r != 144)
		KEEL_RETURN(f, -EPROTO);
	if (keel_shard_spawn(cx, SHARDS, where_poll, NULL, &(struct where){ 0 },
			     sizeof(struct where), NULL) != -EINVAL)
		KEEL_RETURN(f, -EPROTO);
	KEEL_END(f);
}

Test(shard, spawn_runs_on_the_shard_and_results_come_back, .timeout = 60)
{
	intptr_t r = on_shards(spawn_body, sizeof(struct t_spawn));

	cr_assert_eq(r, 0, "body: %ld", (long)r);
}

/* Shard 1 is kept busy (its task spins without yielding), so it cannot
 * drain the ring from shard 0: after 256 messages (its capacity), -ENOBUFS. */
struct hog {
	struct keel_co co;
	atomic_bool *release;
	atomic_bool *running;
};

static intptr_t hog_poll(void *frame, struct keel_cx *cx)
{
	struct hog *h = frame;
	uint64_t spins = 0;

	(void)cx;
	atomic_store(h->running, true);
	while (!atomic_load(h->release) && ++spins < 4000000000u)
		;
	return 0;
}

static intptr_t nop_poll(void *frame, struct keel_cx *cx)
{
	(void)frame;
	(void)cx;
	return 0;
}

struct t_full {
	struct keel_co co;
	atomic_bool release, running;
	struct keel_join *hog, *last;
	int i, sent, refused;
	uint64_t since;
	uint64_t st_sent, st_refused;
	intptr_t r;
};

static intptr_t full_body(void *frame, struct keel_cx *cx)
{
	struct t_full *f = frame;

	KEEL_BEGIN(f);
	if (KEEL_SPAWN_ON(cx, 1, hog_poll, NULL, &f->hog, struct hog,
			  .release = &f->release, .running = &f->running) < 0)
		KEEL_RETURN(f, -EIO);
	while (!atomic_load(&f->running))
		KEEL_YIELD(f, cx);
	for (f->i = 0; f->i < 1000; f->i++) {
		int rc = keel_shard_spawn(cx, 1, nop_poll, NULL, NULL, 0, NULL);

		if (rc == 0)
			f->sent++;
		else if (rc == -ENOBUFS)
			f->refused++;
		else
			KEEL_RETURN(f, rc);
	}
	atomic_store(&f->release, true);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->hog));
	if (f->sent != 256 || f->refused != 1000 - 256)
		KEEL_RETURN(f, -1000000 - f->sent);
	if (keel_shard_stats(cx, 0, &f->st_sent, &f->st_refused) < 0 ||
	    f->st_refused != (uint64_t)f->refused)
		KEEL_RETURN(f, -EPROTO);
	/* The ring works again once shard 1 drains it (its next tick). */
	while ((f->r = keel_shard_spawn(cx, 1, nop_poll, NULL, NULL, 0,
					&f->last)) == -ENOBUFS &&
	       !waited_too_long(&f->since))
		KEEL_YIELD(f, cx);
	if (f->r < 0)
		KEEL_RETURN(f, f->r);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->last));
	KEEL_END(f);
}

Test(shard, full_ring_refuses_and_recovers, .timeout = 60)
{
	intptr_t r = on_shards(full_body, sizeof(struct t_full));

	cr_assert_eq(r, 0, "body: %ld (-1000000 - sent when the counts differ)", (long)r);
}

/* One UDP port on every shard (SO_REUSEPORT): every datagram is received
 * by some shard's socket, each exactly once. */
#define DGRAMS 300
#define IN_FLIGHT 32

struct server {
	struct keel_co co;
	struct keel_addr addr;
	struct keel_udp s;
	atomic_int *got, *bound;
	atomic_bool *stop;
	struct keel_timer t;
	char buf[16];
	intptr_t r;
};

static intptr_t server_poll(void *frame, struct keel_cx *cx)
{
	struct server *sv = frame;
	struct keel_udp_opts o = { .reuseport = 1 };

	KEEL_BEGIN(sv);
	sv->r = keel_udp_bind(cx, &sv->s, &sv->addr, &o);
	if (sv->r < 0)
		KEEL_RETURN(sv, sv->r);
	atomic_fetch_add(sv->bound, 1);
	while (!atomic_load(sv->stop)) {
		KEEL_AWAIT(sv, sv->r, keel_timeout(cx, &sv->t, 20 * KEEL_MS,
			   keel_udp_recv_from(cx, &sv->s, sv->buf, sizeof(sv->buf), NULL)));
		if (sv->r == 4)
			atomic_fetch_add(sv->got, 1);
	}
	keel_udp_close(&sv->s);
	KEEL_END(sv);
}

struct t_port {
	struct keel_co co;
	struct keel_join *j[SHARDS];
	struct keel_udp tx[8];
	struct keel_addr addr, any;
	atomic_int got, bound;
	atomic_bool stop;
	struct keel_timer t;
	int i, spins;
	uint64_t since;
	intptr_t r;
};

static intptr_t port_body(void *frame, struct keel_cx *cx)
{
	struct t_port *f = frame;

	KEEL_BEGIN(f);
	/* A free port: bind 0 once, remember it, close. */
	keel_addr_parse("127.0.0.1:0", &f->any);
	if (keel_udp_bind(cx, &f->tx[0], &f->any, NULL) < 0 ||
	    keel_udp_local_addr(&f->tx[0], &f->addr) < 0)
		KEEL_RETURN(f, -EIO);
	keel_udp_close(&f->tx[0]);
	for (f->i = 0; f->i < SHARDS; f->i++)
		if (KEEL_SPAWN_ON(cx, (unsigned)f->i, server_poll, NULL, &f->j[f->i],
				  struct server, .addr = f->addr, .got = &f->got,
				  .bound = &f->bound, .stop = &f->stop) < 0)
			KEEL_RETURN(f, -EIO);
	while (atomic_load(&f->bound) < SHARDS && !waited_too_long(&f->since))
		KEEL_YIELD(f, cx);
	if (atomic_load(&f->bound) != SHARDS)
		KEEL_RETURN(f, -EADDRINUSE);
	for (f->i = 0; f->i < 8; f->i++)
		if (keel_udp_bind(cx, &f->tx[f->i], &f->any, NULL) < 0)
			KEEL_RETURN(f, -EIO);
	/* At most IN_FLIGHT unanswered: the eight flows may all hash to one
	 * socket, and 300 at once can fill its receive buffer while its
	 * shard is slow (TSan, a loaded machine); a drop is a failure. */
	for (f->i = 0; f->i < DGRAMS; f->i++) {
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->tx[f->i % 8], "ping", 4, &f->addr));
		for (f->spins = 0; f->i + 1 - atomic_load(&f->got) > IN_FLIGHT &&
				   f->spins < 5000; f->spins++)
			KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, KEEL_MS));
	}
	for (f->spins = 0; atomic_load(&f->got) < DGRAMS && f->spins < 5000; f->spins++)
		KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, KEEL_MS));
	atomic_store(&f->stop, true);
	for (f->i = 0; f->i < SHARDS; f->i++) {
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j[f->i]));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
	}
	for (f->i = 0; f->i < 8; f->i++)
		keel_udp_close(&f->tx[f->i]);
	KEEL_RETURN(f, atomic_load(&f->got));
	KEEL_END(f);
}

Test(shard, reuseport_spreads_one_port_over_shards, .timeout = 60)
{
	intptr_t r = on_shards(port_body, sizeof(struct t_port));

	cr_assert_eq(r, DGRAMS, "received %ld of %d", (long)r, DGRAMS);
}
