/* SPDX-License-Identifier: MIT */
/*
 * A FIFO of tasks under a mutex: sched/pool's run queue and sched/steal's
 * injector. Intrusive: a task is linked through its own run-queue link
 * (keel_task_link; a pushed task is in no other queue until popped), so a
 * push allocates nothing and cannot fail. `len` can be read without the
 * lock to skip taking it when the queue is empty.
 */
#ifndef KEEL_SCHED_TASKQ_H
#define KEEL_SCHED_TASKQ_H

#include <keel/list.h>
#include <keel/sched.h>
#include <pthread.h>
#include <stdatomic.h>

struct keel__taskq {
	pthread_mutex_t lock;
	struct keel_list head;
	atomic_size_t len;
};

static inline void keel__taskq_init(struct keel__taskq *q)
{
	keel_list_init(&q->head);
	atomic_init(&q->len, 0);
	pthread_mutex_init(&q->lock, NULL);
}

static inline void keel__taskq_fini(struct keel__taskq *q)
{
	pthread_mutex_destroy(&q->lock);
}

/* Append \p n tasks. */
static inline void keel__taskq_push(struct keel__taskq *q,
				    struct keel_task *const *t, size_t n)
{
	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < n; i++)
		keel_list_push_back(&q->head, keel_task_link(t[i]));
	atomic_store_explicit(&q->len,
			      atomic_load_explicit(&q->len, memory_order_relaxed) + n,
			      memory_order_seq_cst);
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
		out[i] = keel_task_of_link(keel_list_pop_front(&q->head));
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
