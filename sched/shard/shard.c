/* SPDX-License-Identifier: MIT */
/*
 * sched/shard: one worker per core, tasks never migrate (Seastar's model).
 *
 * Each shard is an affine worker on its own thread, with its own run queue,
 * timer wheel and driver instances (so its own epoll set and sockets: bind
 * with SO_REUSEPORT on every shard to spread a UDP port across them). Work
 * crosses shards only as messages: keel_shard_spawn builds the task on the
 * sending shard and passes the pointer through a single-producer,
 * single-consumer ring from that shard to the target, which adopts it in
 * its loop; the join handle brings the result back to whoever awaits it.
 * A full ring refuses the message (-ENOBUFS, counted) instead of growing.
 */
#include <errno.h>
#include <keel/driver.h>
#include <keel/log.h>
#include <keel/shard.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SHARD_MAX   64
#define RING_CAP    256u /* per ordered pair of shards; a power of two */
#define RING_MASK   (RING_CAP - 1)

/* Lamport's ring: the producer owns tail, the consumer head; each reads
 * the other's index with acquire and publishes its own with release. */
struct ring {
	alignas(64) _Atomic uint32_t head;
	alignas(64) _Atomic uint32_t tail;
	struct keel_task *slot[RING_CAP];
};

struct shard {
	struct keel_runtime *rt;
	unsigned n, started;
	struct keel_worker *w[SHARD_MAX];
	pthread_t th[SHARD_MAX];
	struct ring *rings;		 /* n * n: rings[from * n + to] */
	atomic_uint_fast64_t sent[SHARD_MAX], refused[SHARD_MAX];
};

static struct ring *ring_of(struct shard *s, unsigned from, unsigned to)
{
	return &s->rings[from * s->n + to];
}

static bool ring_push(struct ring *r, struct keel_task *t)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (tail - atomic_load_explicit(&r->head, memory_order_acquire) == RING_CAP)
		return false;
	r->slot[tail & RING_MASK] = t;
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return true;
}

static size_t ring_drain(struct ring *r, struct keel_worker *to)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	for (uint32_t i = head; i != tail; i++)
		keel_task_adopt(to, r->slot[i & RING_MASK]);
	atomic_store_explicit(&r->head, tail, memory_order_release);
	return tail - head;
}

static bool ring_empty(struct ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_relaxed) ==
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

/* The runtime's shard scheduler, or NULL when it runs another one. */
static struct shard *shard_of(struct keel_cx *cx)
{
	struct keel_runtime *rt = keel_cx_runtime(cx);

	if (keel_runtime_sched_ops(rt) != &keel_sched_shard)
		return NULL;
	return keel_runtime_sched(rt);
}

unsigned keel_shard_count(struct keel_cx *cx)
{
	struct shard *s = cx ? shard_of(cx) : NULL;

	return s ? s->n : 1;
}

unsigned keel_shard_id(struct keel_cx *cx)
{
	return cx ? keel_worker_index(keel_cx_worker(cx)) : 0;
}

int keel_shard_spawn(struct keel_cx *cx, unsigned shard, keel_poll_fn *poll,
		     keel_drop_fn *drop, const void *frame, size_t size,
		     struct keel_join **join)
{
	struct keel_worker *from;
	struct keel_task *t;
	struct shard *s;
	unsigned me;
	int rc;

	if (!cx)
		return -EINVAL;
	s = shard_of(cx);
	me = keel_shard_id(cx);
	if (shard == me || (!s && shard == 0))
		return keel_spawn(cx, poll, drop, frame, size, join);
	if (!s || shard >= s->n)
		return -EINVAL;
	from = keel_cx_worker(cx);
	rc = keel_task_create(from, s->w[shard], poll, drop, frame, size, join, &t);
	if (rc < 0)
		return rc;
	if (!ring_push(ring_of(s, me, shard), t)) {
		keel_task_discard(from, t); /* never published */
		if (join)
			*join = NULL;
		atomic_fetch_add(&s->refused[me], 1);
		return -ENOBUFS;
	}
	atomic_fetch_add(&s->sent[me], 1);
	if (keel_worker_parked(s->w[shard]))
		keel_worker_unpark(s->w[shard]);
	return 0;
}

int keel_shard_stats(struct keel_cx *cx, unsigned shard, uint64_t *sent,
		     uint64_t *refused)
{
	struct shard *s = cx ? shard_of(cx) : NULL;

	if (!s || shard >= s->n)
		return -EINVAL;
	if (sent)
		*sent = atomic_load(&s->sent[shard]);
	if (refused)
		*refused = atomic_load(&s->refused[shard]);
	return 0;
}

/* keel_shard_call: a frame that runs a plain function once. */
struct call {
	struct keel_co co;
	intptr_t (*fn)(void *arg);
	void *arg;
};

static intptr_t call_poll(void *frame, struct keel_cx *cx)
{
	struct call *c = frame;

	(void)cx;
	return c->fn(c->arg);
}

int keel_shard_call(struct keel_cx *cx, unsigned shard,
		    intptr_t (*fn)(void *arg), void *arg,
		    struct keel_join **join)
{
	if (!fn)
		return -EINVAL;
	return KEEL_SPAWN_ON(cx, shard, call_poll, NULL, join, struct call,
			     .fn = fn, .arg = arg);
}

/* ------------------------------------------------------------- the ops */

static size_t shard_tick(void *sp, struct keel_worker *w)
{
	struct shard *s = sp;
	unsigned to = keel_worker_index(w);
	size_t n = 0;

	for (unsigned from = 0; from < s->n; from++)
		if (from != to)
			n += ring_drain(ring_of(s, from, to), w);
	return n;
}

static bool shard_has_work(void *sp, struct keel_worker *w)
{
	struct shard *s = sp;
	unsigned to = keel_worker_index(w);

	for (unsigned from = 0; from < s->n; from++)
		if (from != to && !ring_empty(ring_of(s, from, to)))
			return true;
	return false;
}

static void *shard_thread(void *arg)
{
	keel_worker_run(arg, NULL);
	return NULL;
}

static void shard_destroy(void *sp)
{
	struct shard *s = sp;

	for (unsigned i = 1; i < s->started; i++) {
		keel_worker_stop(s->w[i]);
		pthread_join(s->th[i], NULL);
	}
	/* Messages never taken: hand them over, so that the runtime's
	 * teardown cancels them like every other task (their drops run). */
	if (s->rings)
		for (unsigned to = 0; to < s->n; to++)
			shard_tick(s, s->w[to]);
	free(s->rings);
	free(s);
}

static int shard_create(struct keel_runtime *rt, unsigned workers, void **out)
{
	struct shard *s;
	int rc;

	if (!workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? (unsigned)n : 1;
	}
	keel_runtime_plan_workers(rt, workers);
	if (workers > SHARD_MAX) {
		keel_log(KEEL_LOG_ERROR, "keel: sched shard: at most %d shards", SHARD_MAX);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rt = rt;
	s->rings = aligned_alloc(64, (size_t)workers * workers * sizeof(*s->rings));
	if (!s->rings) {
		free(s);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < workers * workers; i++) {
		atomic_init(&s->rings[i].head, 0);
		atomic_init(&s->rings[i].tail, 0);
	}
	for (unsigned i = 0; i < workers; i++) {
		atomic_init(&s->sent[i], 0);
		atomic_init(&s->refused[i], 0);
		rc = keel_worker_create(rt, i, &s->w[i]);
		if (rc < 0) {
			shard_destroy(s);
			return rc;
		}
		s->n = i + 1;
	}
	*out = s;
	return 0;
}

static struct keel_worker *shard_home(void *sp)
{
	return ((struct shard *)sp)->w[0];
}

/* Shard 0 runs on the thread that calls block_on; the others get threads
 * at the first block_on and keep them until destroy. */
static void shard_block_on(void *sp, struct keel_join *root)
{
	struct shard *s = sp;

	if (!s->started)
		s->started = 1;
	for (; s->started < s->n; s->started++)
		if (pthread_create(&s->th[s->started], NULL, shard_thread,
				   s->w[s->started]) != 0) {
			keel_log(KEEL_LOG_WARN, "keel: sched shard: cannot start "
				 "shard %u's thread", s->started);
			break;
		}
	keel_worker_run(s->w[0], root);
}

const struct keel_sched_ops keel_sched_shard = {
	.name = "shard",
	.summary = "one thread per core, tasks never migrate, message rings",
	.migrates = false,
	.create = shard_create,
	.destroy = shard_destroy,
	.home = shard_home,
	.block_on = shard_block_on,
	.tick = shard_tick,
	.has_work = shard_has_work,
};
KEEL_SCHED_EXPORT(keel_sched_shard);
