/* SPDX-License-Identifier: MIT */
/*
 * A FIFO of task pointers under a mutex, growing as needed: sched/pool's
 * run queue and sched/steal's injector. `len` can be read without the lock
 * to skip taking it when the queue is empty.
 */
#ifndef KEEL_SCHED_TASKQ_H
#define KEEL_SCHED_TASKQ_H

#include <keel/log.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct keel_task;

struct keel__taskq {
	pthread_mutex_t lock;
	struct keel_task **ring;
	size_t head, cap; /* cap: a power of two */
	atomic_size_t len;
};

static inline int keel__taskq_init(struct keel__taskq *q)
{
	q->cap = 256;
	q->head = 0;
	atomic_init(&q->len, 0);
	q->ring = malloc(q->cap * sizeof(*q->ring));
	if (!q->ring)
		return -1;
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

static inline void keel__taskq_fini(struct keel__taskq *q)
{
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
}

/* Append \p n tasks. A runnable task must not be lost, so running out of
 * memory here is fatal. */
static inline void keel__taskq_push(struct keel__taskq *q,
				    struct keel_task *const *t, size_t n)
{
	size_t len;

	pthread_mutex_lock(&q->lock);
	len = atomic_load_explicit(&q->len, memory_order_relaxed);
	if (len + n > q->cap) {
		size_t cap = q->cap;
		struct keel_task **r;

		while (cap < len + n)
			cap *= 2;
		r = malloc(cap * sizeof(*r));
		if (!r) {
			keel_log(KEEL_LOG_ERROR, "keel: out of memory growing a run queue");
			abort();
		}
		for (size_t i = 0; i < len; i++)
			r[i] = q->ring[(q->head + i) & (q->cap - 1)];
		free(q->ring);
		q->ring = r;
		q->head = 0;
		q->cap = cap;
	}
	for (size_t i = 0; i < n; i++)
		q->ring[(q->head + len + i) & (q->cap - 1)] = t[i];
	atomic_store_explicit(&q->len, len + n, memory_order_seq_cst);
	pthread_mutex_unlock(&q->lock);
}

/* Take up to \p max tasks into \p out; returns how many, and in \p left
 * how many stay. */
static inline size_t keel__taskq_pop(struct keel__taskq *q,
				     struct keel_task **out, size_t max,
				     size_t *left)
{
	size_t len, n;

	*left = 0;
	if (!atomic_load_explicit(&q->len, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&q->lock);
	len = atomic_load_explicit(&q->len, memory_order_relaxed);
	n = len < max ? len : max;
	for (size_t i = 0; i < n; i++)
		out[i] = q->ring[(q->head + i) & (q->cap - 1)];
	q->head = (q->head + n) & (q->cap - 1);
	*left = len - n;
	atomic_store_explicit(&q->len, len - n, memory_order_relaxed);
	pthread_mutex_unlock(&q->lock);
	return n;
}

static inline bool keel__taskq_empty(struct keel__taskq *q)
{
	return atomic_load(&q->len) == 0;
}

#endif /* KEEL_SCHED_TASKQ_H */
