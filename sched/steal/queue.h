/* SPDX-License-Identifier: MIT */
/*
 * A worker's run queue in sched/steal: a bounded lock-free ring with one
 * producer (its worker, at the tail) and many consumers (its worker and
 * thieves, at the head, by compare-and-swap). It plays the part of a
 * Chase-Lev deque, with one difference that matters for fairness: the
 * owner also takes from the head, so its tasks run in FIFO order and a task
 * that keeps waking itself goes behind the others (the LIFO behaviour is
 * kept to one slot, outside this ring). Thieves take half of what is there
 * in one compare-and-swap.
 *
 * Why it is safe: a consumer reads slots [head, head+n) and then claims them
 * by moving head from the value it read; the owner only writes the slot at
 * tail, and only while tail - head < capacity, so it cannot overwrite a slot
 * a consumer is reading before that consumer's claim fails or succeeds.
 * Slots are atomic (relaxed) so the racy read of a slot that is then not
 * claimed is not a data race; tail is published with release and read with
 * acquire, which orders the slot writes before them.
 */
#ifndef KEEL_STEAL_QUEUE_H
#define KEEL_STEAL_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keel_task;

#define KEEL__LQ_CAP  256u /* a power of two */
#define KEEL__LQ_MASK (KEEL__LQ_CAP - 1)

struct keel__lqueue {
	_Atomic uint32_t head; /* consumers, by CAS */
	_Atomic uint32_t tail; /* the owner */
	_Atomic(struct keel_task *) slot[KEEL__LQ_CAP];
};

static inline void keel__lq_init(struct keel__lqueue *q)
{
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	for (unsigned i = 0; i < KEEL__LQ_CAP; i++)
		atomic_init(&q->slot[i], NULL);
}

static inline uint32_t keel__lq_len(struct keel__lqueue *q)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);

	return t - h;
}

static inline bool keel__lq_empty(struct keel__lqueue *q)
{
	return keel__lq_len(q) == 0;
}

/* Owner: free slots (a lower bound: thieves only make more). */
static inline size_t keel__lq_room(struct keel__lqueue *q)
{
	return KEEL__LQ_CAP - keel__lq_len(q);
}

/* Owner: append \p t; false when full. */
static inline bool keel__lq_push(struct keel__lqueue *q, struct keel_task *t)
{
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);

	if (tail - head >= KEEL__LQ_CAP)
		return false;
	atomic_store_explicit(&q->slot[tail & KEEL__LQ_MASK], t,
			      memory_order_relaxed);
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return true;
}

/* Any consumer: take the task at the head, or NULL. */
static inline struct keel_task *keel__lq_pop(struct keel__lqueue *q)
{
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);

	for (;;) {
		uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
		struct keel_task *t;

		if (head == tail)
			return NULL;
		t = atomic_load_explicit(&q->slot[head & KEEL__LQ_MASK],
					 memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(
			    &q->head, &head, head + 1, memory_order_acq_rel,
			    memory_order_acquire))
			return t;
	}
}

/* Claim up to \p max tasks from the head into \p out; how many. */
static inline size_t keel__lq_take(struct keel__lqueue *q,
				   struct keel_task **out, size_t max,
				   bool half)
{
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);

	for (;;) {
		uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
		uint32_t n = tail - head;

		if (n > KEEL__LQ_CAP) { /* our head is stale: others took */
			head = atomic_load_explicit(&q->head, memory_order_acquire);
			continue;
		}
		if (half)
			n -= n / 2;
		if (n > max)
			n = (uint32_t)max;
		if (n == 0)
			return 0;
		for (uint32_t i = 0; i < n; i++)
			out[i] = atomic_load_explicit(
				&q->slot[(head + i) & KEEL__LQ_MASK],
				memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(
			    &q->head, &head, head + n, memory_order_acq_rel,
			    memory_order_acquire))
			return n;
	}
}

/* Owner, queue full: take half of it out (to move to the injector). */
static inline size_t keel__lq_pop_half(struct keel__lqueue *q,
				       struct keel_task **out)
{
	return keel__lq_take(q, out, KEEL__LQ_CAP / 2, false);
}

/*
 * Thief (the owner of \p dst): move half of \p src's tasks into \p dst and
 * return one of them to run, or NULL.
 */
static inline struct keel_task *keel__lq_steal_into(struct keel__lqueue *src,
						    struct keel__lqueue *dst)
{
	struct keel_task *batch[KEEL__LQ_CAP / 2];
	size_t room = keel__lq_room(dst), n;

	if (room > KEEL__LQ_CAP / 2)
		room = KEEL__LQ_CAP / 2;
	n = keel__lq_take(src, batch, room ? room : 1, true);
	for (size_t i = 1; i < n; i++)
		keel__lq_push(dst, batch[i]);
	return n ? batch[0] : NULL;
}

#endif /* KEEL_STEAL_QUEUE_H */
