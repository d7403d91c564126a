/* SPDX-License-Identifier: MIT */
/*
 * sched/steal: N workers, each with its own lock-free run queue, stealing
 * from each other when idle, plus a global injector (runtime-tokio).
 *
 * Where a runnable task goes:
 * - woken on a worker (by a task, a driver event, a timer): that worker's
 *   LIFO slot, so a message handed to a waiting task is processed while it
 *   is hot in cache; the task it displaces goes to the queue;
 * - spawned on a worker, or woke itself: the back of that worker's queue;
 * - from a thread that is not a worker: the injector.
 * Where a worker takes its next task: every 61st time the injector first
 * (so outside wakes are never starved), then the LIFO slot (at most
 * LIFO_STREAK times in a row, so two tasks waking each other cannot starve
 * the queue), then its queue, then the injector, then half of another
 * worker's queue. The worker loop's poll budget does the rest: after it, the
 * drivers and timers run.
 *
 * An idle worker parks in its driver (an eventfd for the kernel driver). A
 * push that finds parked workers unparks one that has not been unparked yet,
 * so a burst of pushes costs one unpark while the woken worker is looking.
 */
#include <errno.h>
#include <keel/driver.h>
#include <keel/log.h>
#include <keel/sched_steal.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../common/taskq.h"
#include "queue.h"

#define STEAL_MAX_WORKERS 256
#define LIFO_STREAK	  3
#define INJECTOR_EVERY	  61

struct sworker {
	alignas(64) struct keel__lqueue q;
	struct keel_worker *w;
	struct keel_task *lifo; /* owner only */
	unsigned lifo_streak;
	unsigned ticks;
	uint32_t rng;
	atomic_bool notified; /* unparked, not yet looking */
	pthread_t th;
};

struct steal {
	struct keel_runtime *rt;
	unsigned n, started;
	struct keel__taskq injector;
	struct sworker *ws; /* n of them */
};

static struct sworker *self_of(struct steal *s, struct keel_worker *w)
{
	return &s->ws[keel_worker_index(w)];
}

/* Unpark one parked worker other than \p self, if there is one. */
static void wake_one(struct steal *s, struct keel_worker *self)
{
	if (!keel_runtime_idle(s->rt))
		return;
	for (unsigned i = 0; i < s->n; i++) {
		struct sworker *o = &s->ws[i];

		if (o->w == self || !keel_worker_parked(o->w))
			continue;
		if (!atomic_exchange(&o->notified, true)) {
			keel_worker_unpark(o->w);
			return;
		}
	}
}

/* Owner: append to the queue; when full, move half of it and \p t to the
 * injector in one batch. */
static void local_push(struct steal *s, struct sworker *me, struct keel_task *t)
{
	struct keel_task *batch[KEEL__LQ_CAP / 2 + 1];
	size_t n;

	while (!keel__lq_push(&me->q, t)) {
		n = keel__lq_pop_half(&me->q, batch);
		if (n) {
			batch[n++] = t;
			keel__taskq_push(&s->injector, batch, n);
			return;
		}
		/* Thieves emptied it meanwhile: there is room now. */
	}
}

static void steal_push(void *sp, struct keel_worker *w, struct keel_task *t,
		       int why)
{
	struct steal *s = sp;
	struct sworker *me;

	if (!w) {
		keel__taskq_push(&s->injector, &t, 1);
		wake_one(s, NULL);
		return;
	}
	me = self_of(s, w);
	if (why == KEEL_PUSH_WAKE) {
		struct keel_task *prev = me->lifo;

		me->lifo = t;
		if (!prev)
			return; /* only this worker can run it: nobody to wake */
		t = prev;
	}
	local_push(s, me, t);
	wake_one(s, w);
}

static uint32_t next_rand(struct sworker *me)
{
	uint32_t x = me->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return me->rng = x;
}

/* Take up to half the injector into our queue; return one task. */
static struct keel_task *from_injector(struct steal *s, struct sworker *me)
{
	struct keel_task *batch[KEEL__LQ_CAP / 2];
	size_t n, left, room = keel__lq_room(&me->q);

	if (room > KEEL__LQ_CAP / 2)
		room = KEEL__LQ_CAP / 2;
	n = keel__taskq_pop(&s->injector, batch, room ? room : 1, &left);
	for (size_t i = 1; i < n; i++)
		keel__lq_push(&me->q, batch[i]); /* room was checked */
	if (n > 1 || left)
		wake_one(s, me->w);
	return n ? batch[0] : NULL;
}

static struct keel_task *steal_from_others(struct steal *s, struct sworker *me)
{
	unsigned start = next_rand(me) % s->n;

	for (unsigned k = 0; k < s->n; k++) {
		struct sworker *v = &s->ws[(start + k) % s->n];
		struct keel_task *t;

		if (v == me)
			continue;
		t = keel__lq_steal_into(&v->q, &me->q);
		if (t) {
			if (!keel__lq_empty(&me->q))
				wake_one(s, me->w); /* we took several */
			return t;
		}
	}
	return NULL;
}

static struct keel_task *steal_pop(void *sp, struct keel_worker *w)
{
	struct steal *s = sp;
	struct sworker *me = self_of(s, w);
	struct keel_task *t;

	if (++me->ticks % INJECTOR_EVERY == 0 && (t = from_injector(s, me)))
		return t;
	if (me->lifo) {
		t = me->lifo;
		me->lifo = NULL;
		if (me->lifo_streak++ < LIFO_STREAK)
			return t;
		local_push(s, me, t); /* let the queue run first */
	}
	me->lifo_streak = 0;
	t = keel__lq_pop(&me->q);
	if (t)
		return t;
	t = from_injector(s, me);
	if (t)
		return t;
	return steal_from_others(s, me);
}

static bool steal_has_work(void *sp, struct keel_worker *w)
{
	struct steal *s = sp;
	struct sworker *me = self_of(s, w);

	atomic_store(&me->notified, false);
	if (me->lifo || !keel__lq_empty(&me->q) || !keel__taskq_empty(&s->injector))
		return true;
	for (unsigned i = 0; i < s->n; i++)
		if (keel__lq_len(&s->ws[i].q) > 1)
			return true; /* worth stealing */
	return false;
}

static void *steal_thread(void *arg)
{
	keel_worker_run(arg, NULL);
	return NULL;
}

static void steal_destroy(void *sp)
{
	struct steal *s = sp;

	for (unsigned i = 1; i < s->started; i++) {
		keel_worker_stop(s->ws[i].w);
		pthread_join(s->ws[i].th, NULL);
	}
	keel__taskq_fini(&s->injector);
	free(s->ws);
	free(s);
}

static int steal_create(struct keel_runtime *rt, unsigned workers, void **out)
{
	struct steal *s;
	int rc;

	if (!workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? (unsigned)n : 1;
	}
	keel_runtime_plan_workers(rt, workers);
	if (workers > STEAL_MAX_WORKERS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rt = rt;
	s->ws = aligned_alloc(64, workers * sizeof(*s->ws));
	if (!s->ws) {
		free(s);
		return -ENOMEM;
	}
	keel__taskq_init(&s->injector);
	for (unsigned i = 0; i < workers; i++) {
		struct sworker *me = &s->ws[i];

		keel__lq_init(&me->q);
		me->lifo = NULL;
		me->lifo_streak = 0;
		me->ticks = 0;
		me->rng = 0x9e3779b9u * (i + 1);
		atomic_init(&me->notified, false);
		rc = keel_worker_create(rt, i, &me->w);
		if (rc < 0) {
			steal_destroy(s);
			return rc;
		}
		s->n = i + 1;
	}
	*out = s;
	return 0;
}

static struct keel_worker *steal_home(void *sp)
{
	return ((struct steal *)sp)->ws[0].w;
}

/* Worker 0 runs on the thread that calls block_on; the others get threads
 * at the first block_on and keep them until destroy. */
static void steal_block_on(void *sp, struct keel_join *root)
{
	struct steal *s = sp;

	if (!s->started)
		s->started = 1;
	for (; s->started < s->n; s->started++)
		if (pthread_create(&s->ws[s->started].th, NULL, steal_thread,
				   s->ws[s->started].w) != 0) {
			keel_log(KEEL_LOG_WARN, "keel: sched steal: cannot start "
				 "worker thread %u; running with %u",
				 s->started, s->started);
			break;
		}
	keel_worker_run(s->ws[0].w, root);
}

const struct keel_sched_ops keel_sched_steal = {
	.name = "steal",
	.summary = "N threads, per-worker queues, work stealing (runtime-tokio)",
	.migrates = true,
	.create = steal_create,
	.destroy = steal_destroy,
	.home = steal_home,
	.block_on = steal_block_on,
	.push = steal_push,
	.pop = steal_pop,
	.has_work = steal_has_work,
};
KEEL_SCHED_EXPORT(keel_sched_steal);
