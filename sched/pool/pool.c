/* SPDX-License-Identifier: MIT */
/*
 * sched/pool: N workers sharing one run queue (the seed's "native" runtime,
 * a thread pool with a concurrent scheduler).
 *
 * The queue is an intrusive FIFO of tasks under one mutex (common/taskq.h;
 * a push allocates nothing): every push and pop takes it, so it is simple and fair (FIFO across the whole pool) and
 * contends as workers are added; sched/steal is the answer to that. An idle
 * worker parks in its driver; a push unparks one parked worker that has not
 * been unparked yet, so a burst of pushes costs one unpark, not one each.
 */
#include <errno.h>
#include <keel/driver.h>
#include <keel/log.h>
#include <keel/sched_pool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../common/taskq.h"

#define POOL_MAX_WORKERS 256

struct pool {
	struct keel_runtime *rt;
	unsigned n;
	unsigned started; /* threads running workers 1..started-1 */
	struct keel_worker *w[POOL_MAX_WORKERS];
	pthread_t th[POOL_MAX_WORKERS];
	atomic_bool notified[POOL_MAX_WORKERS]; /* unparked, not yet looking */

	struct keel__taskq q;
};

/* Unpark one parked worker other than \p self, if there is one. */
static void wake_one(struct pool *p, struct keel_worker *self)
{
	if (!keel_runtime_idle(p->rt))
		return;
	for (unsigned i = 0; i < p->n; i++) {
		if (p->w[i] == self || !keel_worker_parked(p->w[i]))
			continue;
		if (!atomic_exchange(&p->notified[i], true)) {
			keel_worker_unpark(p->w[i]);
			return;
		}
	}
}

static void pool_push(void *s, struct keel_worker *w, struct keel_task *t,
		      int why)
{
	struct pool *p = s;

	(void)why; /* one FIFO for everything */
	keel__taskq_push(&p->q, &t, 1);
	wake_one(p, w);
}

static struct keel_task *pool_pop(void *s, struct keel_worker *w)
{
	struct pool *p = s;
	struct keel_task *t;
	size_t left;

	if (!keel__taskq_pop(&p->q, &t, 1, &left))
		return NULL;
	if (left)
		wake_one(p, w); /* more than we take: bring a helper */
	return t;
}

static bool pool_has_work(void *s, struct keel_worker *w)
{
	struct pool *p = s;

	atomic_store(&p->notified[keel_worker_index(w)], false);
	return !keel__taskq_empty(&p->q);
}

static void *pool_thread(void *arg)
{
	keel_worker_run(arg, NULL);
	return NULL;
}

static void pool_destroy(void *s)
{
	struct pool *p = s;

	for (unsigned i = 1; i < p->started; i++) {
		keel_worker_stop(p->w[i]);
		pthread_join(p->th[i], NULL);
	}
	keel__taskq_fini(&p->q);
	free(p);
}

static int pool_create(struct keel_runtime *rt, unsigned workers, void **out)
{
	struct pool *p;
	int rc;

	if (!workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? (unsigned)n : 1;
	}
	keel_runtime_plan_workers(rt, workers);
	if (workers > POOL_MAX_WORKERS)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->rt = rt;
	keel__taskq_init(&p->q);
	for (unsigned i = 0; i < workers; i++) {
		rc = keel_worker_create(rt, i, &p->w[i]);
		if (rc < 0)
			goto err;
		p->n = i + 1;
	}
	*out = p;
	return 0;
err:
	pool_destroy(p);
	return rc;
}

static struct keel_worker *pool_home(void *s)
{
	return ((struct pool *)s)->w[0];
}

/* Worker 0 runs on the thread that calls block_on; the others get
 * threads at the first block_on (the runtime is complete by then) and keep
 * them, running detached tasks, until destroy. */
static void pool_block_on(void *s, struct keel_join *root)
{
	struct pool *p = s;

	if (!p->started)
		p->started = 1;
	for (; p->started < p->n; p->started++)
		if (pthread_create(&p->th[p->started], NULL, pool_thread,
				   p->w[p->started]) != 0) {
			keel_log(KEEL_LOG_WARN, "keel: sched pool: cannot start "
				 "worker thread %u; running with %u",
				 p->started, p->started);
			break;
		}
	keel_worker_run(p->w[0], root);
}

const struct keel_sched_ops keel_sched_pool = {
	.name = "pool",
	.summary = "N threads sharing one run queue (runtime-native)",
	.migrates = true,
	.create = pool_create,
	.destroy = pool_destroy,
	.home = pool_home,
	.block_on = pool_block_on,
	.push = pool_push,
	.pop = pool_pop,
	.has_work = pool_has_work,
};
KEEL_SCHED_EXPORT(keel_sched_pool);
