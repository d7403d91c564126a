/* SPDX-License-Identifier: MIT */
/*
 * Tasks: a frame and its poll function in a block from the worker's cache,
 * with one reference count, one state word and one join slot, the same on
 * every scheduler.
 *
 * References: one for "not finished yet", one per join handle, one per
 * waker clone, counted in `refs` (atomic: any thread may clone or drop).
 *
 * State: one atomic word (SCHEDULED, RUNNING, NOTIFIED, DONE). A wake on an
 * idle task sets SCHEDULED by compare-and-swap and queues it; a wake on a
 * running one sets NOTIFIED, and the poller, when its poll returns pending,
 * queues it again. So one thread polls a task at a time and no wake is
 * lost. No other thread writes the word while the task is SCHEDULED or
 * RUNNING|NOTIFIED (wakes find nothing to do), so its poller moves it on
 * with plain stores: SCHEDULED to RUNNING, a wake from its own poll to
 * RUNNING|NOTIFIED, RUNNING|NOTIFIED to SCHEDULED. Only going idle
 * (RUNNING to 0) races with wakes, and is a compare-and-swap. A self-waking
 * task thus pays no locked instruction. A cancel is a flag beside the word,
 * which the poller reads before and after each poll; going idle reads it
 * again after the compare-and-swap (both sequentially consistent, as the
 * canceller's exchange of the flag and its look at the state are), so
 * either the poller sees the flag or the canceller sees the task idle.
 *
 * Where a task is queued: a task with a `home` worker is queued and polled
 * only there, on its run queue (other threads put it on the home's homeq,
 * under the inbox lock, and unpark it). On an affine scheduler (local,
 * shard) every task's home is the worker it was spawned for, fixed. On a
 * migrating one (pool, steal) a task has no home, and goes through the
 * scheduler's push and pop, until it uses an I/O handle.
 *
 * Ownership: an I/O handle belongs to the worker that opened it, and only
 * that worker's thread touches it, so drivers need no locks. A migrating
 * task that opens or uses a handle gets that worker as its home, so its
 * drop, which closes its handles, runs there too. A task that uses a handle
 * of another worker is moved before the operation runs (keel_cx_home):
 * pending now, polled next on the owner.
 */
#include "core_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Thread_local struct keel_worker *keel__tls_worker;

/* ----------------------------------------------------------------- cache */

/* The smallest class whose blocks (64 << class bytes) hold \p size. */
static uint8_t size_class(size_t size)
{
	unsigned c;

	if (size <= 64)
		return 0;
	c = (unsigned)(64 - __builtin_clzll((unsigned long long)size - 1)) - 6;
	return (uint8_t)(c < KEEL__CACHE_CLASSES ? c : KEEL__CACHE_CLASSES);
}

void *keel__cache_alloc(struct keel__cache *c, size_t size, uint8_t *cls)
{
	uint8_t k = size_class(size);
	void *p;

	*cls = k;
	if (k == KEEL__CACHE_CLASSES) {
		c->large++;
		return aligned_alloc(16, (size + 15) & ~(size_t)15);
	}
	c->allocs++;
	p = c->free[k];
	if (p) {
		c->free[k] = *(void **)p;
		return p;
	}
	size_t bs = (size_t)64 << k;
	if (c->carve_left[k] < bs) {
		char *slab = aligned_alloc(64, KEEL__SLAB_SIZE);
		if (!slab) {
			c->allocs--;
			return NULL;
		}
		/* The first 64 bytes link the slab list. */
		*(void **)slab = c->slabs;
		c->slabs = slab;
		c->slab_count++;
		c->carve[k] = slab + 64;
		c->carve_left[k] = KEEL__SLAB_SIZE - 64;
	}
	p = c->carve[k];
	c->carve[k] += bs;
	c->carve_left[k] -= bs;
	return p;
}

void keel__cache_free(struct keel__cache *c, void *p, uint8_t cls)
{
	if (cls == KEEL__CACHE_CLASSES) {
		free(p);
		return;
	}
	c->frees++;
	*(void **)p = c->free[cls];
	c->free[cls] = p;
}

void keel__cache_fini(struct keel__cache *c)
{
	void *s = c->slabs;

	while (s) {
		void *next = *(void **)s;
		free(s);
		s = next;
	}
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ references */

/* The worker of the calling thread, if it belongs to t's runtime. */
static struct keel_worker *local_worker(const struct keel_task *t)
{
	struct keel_worker *w = keel__tls_worker;

	return w && w->rt == t->worker->rt ? w : NULL;
}

/* The last reference is gone: the block goes back to the cache of the
 * worker it is listed on, on that worker's thread (other threads put it
 * on the worker's freeq; the link is free: a finished task is queued
 * nowhere). Nothing is allocated. */
void keel__task_free(struct keel_task *t)
{
	struct keel_worker *w = t->worker;

	if (keel__tls_worker == w) {
		keel_list_remove(&t->all);
		keel__cache_free(&w->cache, t, t->cls);
		return;
	}
	pthread_mutex_lock(&w->inbox_lock);
	keel_list_push_back(&w->freeq, &t->link);
	atomic_store(&w->inbox_nonempty, true);
	pthread_mutex_unlock(&w->inbox_lock);
}

/* The last holder frees without a read-modify-write: a count of one that
 * the caller holds cannot grow (a reference is only cloned from a held
 * one), and the acquire reads every other holder's last release. */
void keel__task_release(struct keel_task *t)
{
	if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1 ||
	    atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		keel__task_free(t);
}

/*
 * Spare references: an affine task's waker is cloned into a slot when it
 * waits and dropped (or woken and dropped) when the slot fires, on its own
 * worker's thread, once per wait. There the reference goes back to
 * t->spare, a plain count still included in refs, and the next clone takes
 * it: no locked instruction per wait. Only while the task is unfinished
 * (its own reference keeps refs above the spares), and only on its
 * worker's thread, where it also completes; completion gives the spares
 * back to refs.
 */
static inline bool spare_here(const struct keel_task *t)
{
	const struct keel_worker *w = keel__tls_worker;

	return w == t->worker && !w->shared;
}

static void task_retain(struct keel_task *t)
{
	if (t->spare && spare_here(t)) {
		t->spare--;
		return;
	}
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

/* Drop a waker's reference: a spare while the task runs on. */
static void task_put(struct keel_task *t)
{
	if (spare_here(t) &&
	    !(atomic_load_explicit(&t->state, memory_order_relaxed) & KEEL__T_DONE)) {
		t->spare++;
		return;
	}
	keel__task_release(t);
}

/* ------------------------------------------------------------ scheduling */

/*
 * Queue \p t (SCHEDULED) where it runs next: its home's run queue (directly
 * when \p w, the calling thread's worker or NULL, is that home; through the
 * home's homeq and an unpark otherwise), or the scheduler's push when it has
 * no home. Nothing is allocated, so a wake cannot fail.
 */
static void task_push(struct keel_worker *w, struct keel_task *t,
		      enum keel_push why)
{
	struct keel_worker *home = t->home;
	struct keel_runtime *rt = t->worker->rt;

	if (!home) {
		rt->sched->push(rt->sched_impl, w && w->rt == rt ? w : NULL, t,
				why);
	} else if (home == w) {
		keel_list_push_back(&w->runq, &t->link);
	} else {
		pthread_mutex_lock(&home->inbox_lock);
		keel_list_push_back(&home->homeq, &t->link);
		atomic_store(&home->inbox_nonempty, true);
		pthread_mutex_unlock(&home->inbox_lock);
		if (atomic_load(&home->parked))
			keel__worker_unpark(home);
	}
}

intptr_t keel_cx_home(struct keel_cx *cx, struct keel_worker *owner)
{
	struct keel_task *t;

	if (!cx || !owner)
		return -EINVAL;
	t = cx->task;
	if (cx->worker == owner) {
		if (t->home != owner) /* affine: it is; written once */
			t->home = owner;
		return 0;
	}
	/* Affine tasks never move: using another worker's handle is a
	 * misuse there (keel_shard_spawn a task onto the owner instead). */
	if (!owner->shared || owner->rt != cx->worker->rt)
		return -EXDEV;
	t->home = owner;
	KEEL__COUNT(cx->worker, moves, 1);
	keel_waker_wake_by_ref(&cx->waker);
	return KEEL_PENDING;
}

/* Mark \p t runnable from any thread; true when the caller must push it
 * (it was idle). Running: NOTIFIED, and its poller queues it again. */
static inline bool task_notify(struct keel_task *t)
{
	unsigned s = atomic_load_explicit(&t->state, memory_order_seq_cst), ns;

	do {
		if (s & (KEEL__T_SCHEDULED | KEEL__T_NOTIFIED | KEEL__T_DONE))
			return false;
		ns = s | (s & KEEL__T_RUNNING ? KEEL__T_NOTIFIED : KEEL__T_SCHEDULED);
	} while (!atomic_compare_exchange_weak_explicit(
		&t->state, &s, ns, memory_order_seq_cst, memory_order_seq_cst));
	return !(s & KEEL__T_RUNNING);
}

/* ---------------------------------------------------------------- wakers */

static void waker_wake_by_ref(void *data)
{
	struct keel_task *t = data;
	struct keel_worker *w = keel__tls_worker;

	if (w && w->current == t) {
		/* From its own poll: RUNNING, maybe NOTIFIED already, and
		 * nothing else to keep (DONE comes after the poll). */
		atomic_store_explicit(&t->state, KEEL__T_RUNNING | KEEL__T_NOTIFIED,
				      memory_order_relaxed);
		return;
	}
	if (!task_notify(t))
		return;
	if (w && t->home == w) /* woken at home: the common case, inline */
		keel_list_push_back(&w->runq, &t->link);
	else
		task_push(w, t, KEEL_PUSH_WAKE);
}

static void waker_wake(void *data)
{
	waker_wake_by_ref(data);
	task_put(data);
}

static void *waker_clone(void *data)
{
	task_retain(data);
	return data;
}

static void waker_drop(void *data)
{
	task_put(data);
}

const struct keel_waker_ops keel__task_waker_ops = {
	.wake = waker_wake,
	.wake_by_ref = waker_wake_by_ref,
	.clone = waker_clone,
	.drop = waker_drop,
};

intptr_t keel_coop(struct keel_cx *cx)
{
	if (cx->budget) {
		cx->budget--;
		return 0;
	}
	keel_waker_wake_by_ref(&cx->waker);
	return KEEL_PENDING;
}

void keel_waker_register(struct keel_waker *slot, struct keel_cx *cx)
{
	struct keel_waker old = keel__waker_swap(slot, cx);

	keel_waker_drop(&old);
}

struct keel_waker keel__waker_swap(struct keel_waker *slot, struct keel_cx *cx)
{
	struct keel_waker old = { 0 };

	if (!keel_waker_will_wake(slot, &cx->waker)) {
		old = *slot;
		*slot = keel_waker_clone(&cx->waker);
	}
	return old;
}

/* ------------------------------------------------------------- lifecycle */

/* Build a task for worker \p owner from the cache of \p from (the calling
 * thread's worker), SCHEDULED but not yet on any list or queue. An affine
 * task's home is its worker for good; a migrating one has none until it
 * uses a handle. */
static struct keel_task *task_new(struct keel_worker *from,
				  struct keel_worker *owner, keel_poll_fn *poll,
				  keel_drop_fn *drop, const void *frame,
				  size_t size, bool joined, bool root)
{
	struct keel_task *t;
	uint8_t cls;

	t = keel__cache_alloc(&from->cache, sizeof(*t) + size, &cls);
	if (!t)
		return NULL;
	t->worker = owner;
	t->home = owner->shared ? NULL : owner;
	t->poll = poll;
	t->drop = drop;
	t->root = root;
	t->cls = cls;
	t->result = 0;
	t->join_waker = (struct keel_waker){ 0 };
	atomic_init(&t->refs, joined ? 2 : 1);
	t->spare = 0;
	atomic_init(&t->state, KEEL__T_SCHEDULED);
	atomic_init(&t->cancel, false);
	atomic_flag_clear(&t->join_lock.f);
	keel_list_init(&t->timers);
	keel_list_init(&t->readies);
	if (size)
		memcpy(t->frame, frame, size);
	return t;
}

/* Make a new task of \p w's known to it and runnable, on w's thread. */
static void task_start(struct keel_worker *w, struct keel_task *t)
{
	KEEL__COUNT(w, spawns, 1);
	keel_list_push_back(&w->tasks, &t->all);
	task_push(keel__tls_worker, t, KEEL_PUSH_SPAWN);
}

int keel__task_spawn(struct keel_worker *w, keel_poll_fn *poll,
		     keel_drop_fn *drop, const void *frame, size_t size,
		     struct keel_join **join, bool root)
{
	struct keel_task *t;

	if (!poll || (size && !frame))
		return -EINVAL;
	t = task_new(w, w, poll, drop, frame, size, join != NULL, root);
	if (!t)
		return -ENOMEM;
	if (join)
		*join = (struct keel_join *)t;
	task_start(w, t);
	return 0;
}

int keel_task_create(struct keel_worker *from, struct keel_worker *to,
		     keel_poll_fn *poll, keel_drop_fn *drop, const void *frame,
		     size_t size, struct keel_join **join, struct keel_task **out)
{
	struct keel_task *t;

	if (!from || !to || !out || !poll || (size && !frame) ||
	    from->rt != to->rt || to->shared)
		return -EINVAL;
	t = task_new(from, to, poll, drop, frame, size, join != NULL, false);
	if (!t)
		return -ENOMEM;
	if (join)
		*join = (struct keel_join *)t;
	*out = t;
	return 0;
}

struct keel_list *keel_task_link(struct keel_task *t)
{
	return &t->link;
}

struct keel_task *keel_task_of_link(struct keel_list *link)
{
	return KEEL_CONTAINER_OF(link, struct keel_task, link);
}

void keel_task_adopt(struct keel_worker *to, struct keel_task *t)
{
	task_start(to, t);
}

void keel_task_discard(struct keel_worker *from, struct keel_task *t)
{
	keel__cache_free(&from->cache, t, t->cls);
}

int keel_spawn(struct keel_cx *cx, keel_poll_fn *poll, keel_drop_fn *drop,
	       const void *frame, size_t size, struct keel_join **join)
{
	if (!cx)
		return -EINVAL;
	return keel__task_spawn(cx->worker, poll, drop, frame, size, join, false);
}

/* The task is done: disarm what it armed, drop its frame, publish the
 * result, wake the joiner, release the "unfinished" reference. Runs on the
 * worker that holds RUNNING (set through completion, so no wake queues the
 * task again, not even one its drop causes), or on the tearing-down
 * thread. */
static void task_complete(struct keel_worker *w, struct keel_task *t,
			  intptr_t result, bool cancelled)
{
	struct keel_list *n;
	struct keel_waker jw;
	uint32_t spare;

	while ((n = t->timers.next) != &t->timers)
		keel_timer_stop(KEEL_CONTAINER_OF(n, struct keel_timer, task_link));
	while ((n = t->readies.next) != &t->readies)
		keel_ready_stop(KEEL_CONTAINER_OF(n, struct keel_ready, task_link));
	if (t->drop)
		t->drop(t->frame);
	t->result = result;
	if (cancelled)
		KEEL__COUNT(w, cancelled, 1);
	else
		KEEL__COUNT(w, completed, 1);
	/* Ours is the only reference (no join handle, no waker left, which
	 * a detached task's end usually is): nobody can look at the task
	 * again, so there is no result to publish and no joiner to wake.
	 * (The root task is always joined.) DONE still: a block freed from
	 * another thread waits on its worker's freeq, and teardown must
	 * not finish it again. */
	spare = t->spare; /* its worker's thread, or teardown's */
	t->spare = 0;
	if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1 + spare) {
		atomic_store_explicit(&t->state, KEEL__T_RUNNING | KEEL__T_DONE,
				      memory_order_relaxed);
		keel__task_free(t);
		return;
	}
	keel__spin_lock(&t->join_lock);
	/* A plain store: other threads write no bit but NOTIFIED now, which
	 * a finished task drops (a compare-and-swap against this fails). */
	atomic_store_explicit(&t->state, KEEL__T_RUNNING | KEEL__T_DONE,
			      memory_order_release);
	jw = t->join_waker;
	t->join_waker = (struct keel_waker){ 0 };
	keel__spin_unlock(&t->join_lock);
	keel_waker_wake(&jw);
	if (t->root && w != w->rt->home)
		keel__worker_unpark(w->rt->home);
	if (spare)
		atomic_fetch_sub_explicit(&t->refs, spare, memory_order_relaxed);
	keel__task_release(t);
}

/* Poll \p t, just taken off a run queue (SCHEDULED: see the top). */
/* Poll \p t once, or complete it if it was cancelled. \return whether it
 * was polled. w->current is \p t from here on: the caller clears it once
 * its run is over (a wake from another task's poll, or from the driver,
 * must not take the self-wake path); every completion clears it first,
 * since a drop may wake the task it drops. */
static inline bool task_run(struct keel_worker *w, struct keel_task *t)
{
	struct keel_cx cx = {
		.waker = { &keel__task_waker_ops, t },
		.task = t,
		.worker = w,
		.budget = KEEL_COOP_BUDGET,
	};
	unsigned s;
	intptr_t r;

	atomic_store_explicit(&t->state, KEEL__T_RUNNING, memory_order_relaxed);
	if (atomic_load_explicit(&t->cancel, memory_order_relaxed)) {
		w->current = NULL;
		task_complete(w, t, -ECANCELED, true);
		return false;
	}
	w->current = t;
	r = t->poll(t->frame, &cx);
	if (r != KEEL_PENDING) {
		w->current = NULL;
		task_complete(w, t, r, false);
		return true;
	}
	if (atomic_load_explicit(&t->cancel, memory_order_relaxed))
		goto cancelled;
	s = KEEL__T_RUNNING;
	/* Acquire: what a waker wrote before its wake, the next poll reads. */
	if (!(atomic_load_explicit(&t->state, memory_order_acquire) & KEEL__T_NOTIFIED) &&
	    atomic_compare_exchange_strong_explicit(&t->state, &s, 0,
						    memory_order_seq_cst,
						    memory_order_acquire)) {
		/* Idle. A cancel that came meanwhile saw it running: take
		 * it back unless a wake or the canceller took it. */
		s = 0;
		if (atomic_load_explicit(&t->cancel, memory_order_seq_cst) &&
		    atomic_compare_exchange_strong_explicit(
			    &t->state, &s, KEEL__T_RUNNING, memory_order_seq_cst,
			    memory_order_relaxed))
			goto cancelled;
		return true;
	}
	/* RUNNING|NOTIFIED: again, to the back of the queue. */
	atomic_store_explicit(&t->state, KEEL__T_SCHEDULED, memory_order_release);
	if (t->home == w) /* the common case, inline */
		keel_list_push_back(&w->runq, &t->link);
	else
		task_push(w, t, KEEL_PUSH_YIELD);
	return true;
cancelled:
	w->current = NULL;
	task_complete(w, t, -ECANCELED, true);
	return true;
}

unsigned keel__task_run_queue(struct keel_worker *w, unsigned budget)
{
	const struct keel_sched_ops *sched = w->rt->sched;
	struct keel_list *q = &w->runq, *n;
	bool shared = w->shared;
	struct keel_task *t;
	unsigned ran = 0, polled = 0;

	/* Migrating: the tasks that live here (they use this worker's
	 * handles) and the scheduler's take turns, so neither starves the
	 * other. A task is unlinked without clearing its node: the state
	 * (SCHEDULED), not the link, says whether it is queued. */
	for (; ran < budget; ran++) {
		t = NULL;
		if (shared && (w->sched_turn = !w->sched_turn))
			t = sched->pop(w->rt->sched_impl, w);
		if (!t && (n = q->next) != q) {
			q->next = n->next;
			n->next->prev = q;
			t = KEEL_CONTAINER_OF(n, struct keel_task, link);
		}
		if (!t && !(shared && (t = sched->pop(w->rt->sched_impl, w))))
			break;
		polled += task_run(w, t);
	}
	w->current = NULL;
	KEEL__COUNT(w, polls, polled); /* once: a self-wake is ~85 instructions */
	return ran;
}

/* Cancel from any thread. An idle task is completed at once when we are
 * on one of its runtime's workers and on its home, if it has one (claiming
 * RUNNING keeps any waker from queueing it); otherwise it is queued, and a
 * queued or running one is completed by the worker that has it next (its
 * drop runs on a worker, and at home). */
static void task_cancel(struct keel_task *t)
{
	struct keel_worker *w = local_worker(t);
	unsigned s;

	if (atomic_exchange_explicit(&t->cancel, true, memory_order_seq_cst))
		return;
	s = atomic_load_explicit(&t->state, memory_order_seq_cst);
	do {
		if (s & (KEEL__T_RUNNING | KEEL__T_SCHEDULED | KEEL__T_DONE))
			return; /* its poller or queue has it */
		if (w && t->home && t->home != w)
			w = NULL; /* its drop must run at home */
	} while (!atomic_compare_exchange_weak_explicit(
		&t->state, &s, w ? KEEL__T_RUNNING : KEEL__T_SCHEDULED,
		memory_order_seq_cst, memory_order_seq_cst));
	if (w)
		task_complete(w, t, -ECANCELED, true);
	else
		task_push(keel__tls_worker, t, KEEL_PUSH_WAKE);
}

/* Teardown, every worker stopped: a queued task with a home is taken off
 * its home's list (a scheduler's queues are gone already). */
void keel__task_cancel_now(struct keel_task *t)
{
	unsigned s = atomic_fetch_or_explicit(&t->state, KEEL__T_RUNNING,
					      memory_order_acq_rel);

	atomic_store(&t->cancel, true);
	if (s & KEEL__T_DONE)
		return;
	if ((s & KEEL__T_SCHEDULED) && t->home)
		keel_list_remove(&t->link);
	task_complete(keel__tls_worker, t, -ECANCELED, true);
}

/* ------------------------------------------------------------------ join */

static intptr_t join_result(struct keel_task *t)
{
	intptr_t r = t->result;

	keel__task_release(t);
	return r;
}

intptr_t keel_join_poll(struct keel_cx *cx, struct keel_join *join)
{
	struct keel_task *t = (struct keel_task *)join;
	struct keel_waker old;

	if (!cx || !t)
		return -EINVAL;
	if (keel_join_is_finished(join))
		return join_result(t);
	keel__spin_lock(&t->join_lock);
	if (keel_join_is_finished(join)) {
		keel__spin_unlock(&t->join_lock);
		return join_result(t);
	}
	old = keel__waker_swap(&t->join_waker, cx);
	keel__spin_unlock(&t->join_lock);
	keel_waker_drop(&old);
	return KEEL_PENDING;
}

bool keel_join_is_finished(const struct keel_join *join)
{
	const struct keel_task *t = (const struct keel_task *)join;

	return t && (atomic_load_explicit(&t->state, memory_order_acquire) &
		     KEEL__T_DONE);
}

void keel_join_cancel(struct keel_join *join)
{
	if (join)
		task_cancel((struct keel_task *)join);
}

void keel_join_detach(struct keel_join *join)
{
	if (join)
		keel__task_release((struct keel_task *)join);
}

void keel_join_abort(struct keel_join *join)
{
	keel_join_cancel(join);
	keel_join_detach(join);
}
