/* SPDX-License-Identifier: MIT */
/*
 * User-space readiness sources (keel/ready.h): set by user code, fired by
 * the reactor half of the worker that owns the source, at its next tick.
 */
#include "core_internal.h"

#include <errno.h>

/* ------------------------------------------------------ readiness sources */

/*
 * A source is set and waited on by tasks; the reactor half (the fired list
 * of the worker that set it) wakes the waiter. On a migrating scheduler the
 * setter's worker and the waiter's may differ: the fired list and the waker
 * slot are then guarded by that worker's lock (r->worker).
 */
static void ready_lock(struct keel_worker *w)
{
	if (w && w->shared)
		keel__spin_lock(&w->lock);
}

static void ready_unlock(struct keel_worker *w)
{
	if (w && w->shared)
		keel__spin_unlock(&w->lock);
}

intptr_t keel_ready_poll(struct keel_cx *cx, struct keel_ready *r)
{
	struct keel_waker old;
	struct keel_worker *w;

	if (!cx || !r)
		return -EINVAL;
	if (!r->worker)
		r->worker = cx->worker;
	w = r->worker;
	ready_lock(w);
	if (r->ready) {
		r->ready = false;
		ready_unlock(w);
		if (keel_list_linked(&r->task_link))
			keel_list_remove(&r->task_link);
		return 0;
	}
	old = keel__waker_swap(&r->waker, cx);
	ready_unlock(w);
	keel_waker_drop(&old); /* outside the lock: see keel__waker_swap */
	if (keel_list_linked(&r->task_link))
		keel_list_remove(&r->task_link);
	keel_list_push_back(&cx->task->readies, &r->task_link);
	return KEEL_PENDING;
}

void keel_ready_set(struct keel_cx *cx, struct keel_ready *r)
{
	struct keel_worker *w;
	bool fired = false;

	if (!cx || !r)
		return;
	if (!r->worker)
		r->worker = cx->worker;
	w = r->worker;
	ready_lock(w);
	if (!r->ready) {
		r->ready = true;
		if (r->waker.ops && !keel_list_linked(&r->link)) {
			keel_list_push_back(&w->fired_ready, &r->link);
			atomic_store_explicit(&w->ready_fired, true,
					      memory_order_relaxed);
			fired = true;
		}
	}
	ready_unlock(w);
	/* Migrating: the source's worker may be another one, and parked. It
	 * looks at its fired list after announcing the park (worker_park). */
	if (fired && w != cx->worker) {
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load(&w->parked))
			keel__worker_unpark(w);
	}
}

void keel_ready_stop(struct keel_ready *r)
{
	struct keel_waker wk;

	if (!r)
		return;
	ready_lock(r->worker);
	if (keel_list_linked(&r->link))
		keel_list_remove(&r->link);
	wk = r->waker;
	r->waker = (struct keel_waker){ 0 };
	ready_unlock(r->worker);
	if (keel_list_linked(&r->task_link))
		keel_list_remove(&r->task_link);
	keel_waker_drop(&wk);
}

/* Whether a readiness source waits on w's fired list (checked before w
 * parks: another worker may have set it). */
bool keel__ready_pending(struct keel_worker *w)
{
	bool pending;

	ready_lock(w);
	pending = !keel_list_empty(&w->fired_ready);
	ready_unlock(w);
	return pending;
}

/*
 * The reactor half of the readiness sources: wake what was set. The list
 * is read only under the lock (another worker may be pushing onto it); the
 * flag outside it is a hint, and a set it misses is seen before parking
 * (ready_pending) or at the next tick.
 */
size_t keel__ready_fire(struct keel_worker *w)
{
	struct keel_list *n;
	size_t count = 0;

	if (!atomic_load_explicit(&w->ready_fired, memory_order_relaxed))
		return 0;
	for (;;) {
		struct keel_waker wk;

		ready_lock(w);
		n = keel_list_pop_front(&w->fired_ready);
		if (!n)
			atomic_store_explicit(&w->ready_fired, false,
					      memory_order_relaxed);
		if (n) {
			struct keel_ready *r = KEEL_CONTAINER_OF(n, struct keel_ready, link);

			wk = r->waker;
			r->waker = (struct keel_waker){ 0 };
		}
		ready_unlock(w);
		if (!n)
			break;
		keel_waker_wake(&wk);
		count++;
	}
	return count;
}
