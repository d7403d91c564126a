/* SPDX-License-Identifier: MIT */
/*
 * Tasks: a frame and its poll function in a block from the worker's cache,
 * with a reference count, a state word and a join slot.
 *
 * References: one for "not finished yet", one per join handle, one per
 * waker clone. Two ways to keep the rest, chosen by the scheduler:
 *
 * Affine (local, shard): a task belongs to one worker, and its state is
 * touched only on that worker's thread, with plain loads and stores. Other
 * threads never touch it directly: their wakes, drops, cancels and joins
 * are posted as messages to the owner's inbox (worker.c), each carrying a
 * reference. The one shared field is `arefs`, the count of references
 * cloned on other threads; the owner frees the task when refs + arefs
 * reaches 0 (a thread can only clone while holding a reference, so it
 * cannot race with that check). No atomic read-modify-write on the hot path.
 *
 * Migrating (pool, steal): any worker may poll the task, so its state is
 * `astate`, changed by compare-and-swap (scheduled, running, notified,
 * cancelled, complete), and every reference is counted in `arefs`. The
 * state machine guarantees one poller at a time and that a wake is never
 * lost: a wake while running sets NOTIFIED, and the poller requeues.
 *
 * Ownership: an I/O handle belongs to the worker that opened it, and only
 * that worker's thread touches it, so drivers need no locks. A migrating
 * task that opens or uses a handle gets that worker as its `home`: from
 * then on it is queued only there (keel__worker_push_home), never on the
 * scheduler's queues, so its drop, which closes its handles, runs there
 * too. A task that uses a handle of another worker is moved before the
 * operation runs (keel_cx_home): pending now, polled next on the owner.
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

static bool on_owner(const struct keel_task *t)
{
	return t->worker == keel__tls_worker;
}

/* The worker of the calling thread, if it belongs to t's runtime. */
static struct keel_worker *local_worker(const struct keel_task *t)
{
	struct keel_worker *w = keel__tls_worker;

	return w && w->rt == t->worker->rt ? w : NULL;
}

void keel__task_free(struct keel_task *t)
{
	struct keel_worker *home = t->worker, *w = keel__tls_worker;

	if (!t->shared) {
		keel_list_remove(&t->all);
		keel__cache_free(&home->cache, t, t->cls);
		return;
	}
	if (!w || w->rt != home->rt) {
		/* No cache on this thread: the home worker frees it. */
		keel__worker_post(home, t, KEEL__MSG_FREE);
		return;
	}
	keel__spin_lock(&home->lock);
	keel_list_remove(&t->all);
	keel__spin_unlock(&home->lock);
	keel__cache_free(&w->cache, t, t->cls);
}

void keel__task_unref(struct keel_task *t)
{
	if (--t->refs + atomic_load_explicit(&t->arefs, memory_order_acquire) == 0)
		keel__task_free(t);
}

/* Drop one reference from whatever thread we are on. */
static void task_release(struct keel_task *t)
{
	if (t->shared) {
		if (atomic_fetch_sub_explicit(&t->arefs, 1, memory_order_acq_rel) == 1)
			keel__task_free(t);
	} else if (on_owner(t)) {
		keel__task_unref(t);
	} else {
		keel__worker_post(t->worker, t, KEEL__MSG_DROP);
	}
}

/* Take a reference from whatever thread we are on. */
static void task_retain(struct keel_task *t)
{
	if (!t->shared && on_owner(t))
		t->refs++;
	else
		atomic_fetch_add_explicit(&t->arefs, 1, memory_order_relaxed);
}

/* ----------------------------------------------------- scheduling (both) */

/* Migrating: queue \p t (SCHEDULED) at its home, or with the scheduler. */
static void shared_push(struct keel_worker *w, struct keel_task *t,
			enum keel_push why)
{
	struct keel_runtime *rt = t->worker->rt;

	if (t->home)
		keel__worker_push_home(t->home, t);
	else
		rt->sched->push(rt->sched_impl, w, t, why);
}

void keel__sched_push(struct keel_task *t)
{
	if (t->shared)
		shared_push(local_worker(t), t, KEEL_PUSH_WAKE);
	else
		keel__worker_schedule(t->worker, t);
}

void keel__task_set_home(struct keel_task *t, struct keel_worker *w)
{
	if (t->shared)
		t->home = w;
}

intptr_t keel_cx_home(struct keel_cx *cx, struct keel_worker *owner)
{
	struct keel_task *t;

	if (!cx || !owner)
		return -EINVAL;
	t = cx->task;
	if (cx->worker == owner) {
		keel__task_set_home(t, owner);
		return 0;
	}
	/* Affine tasks never move: using another worker's handle is a
	 * misuse there (keel_shard_spawn a task onto the owner instead). */
	if (!t->shared || owner->rt != cx->worker->rt)
		return -EXDEV;
	t->home = owner;
	KEEL__COUNT(cx->worker, moves, 1);
	keel_waker_wake_by_ref(&cx->waker);
	return KEEL_PENDING;
}

/* Migrating: mark runnable; true when the caller must push it. */
static bool shared_notify(struct keel_task *t)
{
	unsigned s = atomic_load_explicit(&t->astate, memory_order_acquire), ns;

	do {
		if (s & KEEL__S_COMPLETE)
			return false;
		if (s & KEEL__S_RUNNING) {
			if (s & KEEL__S_NOTIFIED)
				return false;
			ns = s | KEEL__S_NOTIFIED;
		} else if (s & KEEL__S_SCHEDULED) {
			return false;
		} else {
			ns = s | KEEL__S_SCHEDULED;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&t->astate, &s, ns, memory_order_acq_rel, memory_order_acquire));
	return !(s & KEEL__S_RUNNING);
}

/* ---------------------------------------------------------------- wakers */

static void waker_wake_by_ref(void *data)
{
	struct keel_task *t = data;

	if (on_owner(t)) {
		keel__worker_schedule(t->worker, t);
	} else {
		task_retain(t);
		keel__worker_post(t->worker, t, KEEL__MSG_WAKE);
	}
}

static void waker_wake(void *data)
{
	struct keel_task *t = data;

	if (on_owner(t)) {
		keel__worker_schedule(t->worker, t);
		keel__task_unref(t);
	} else {
		keel__worker_post(t->worker, t, KEEL__MSG_WAKE);
	}
}

static void *waker_clone(void *data)
{
	task_retain(data);
	return data;
}

static void waker_drop(void *data)
{
	task_release(data);
}

const struct keel_waker_ops keel__task_waker_ops = {
	.wake = waker_wake,
	.wake_by_ref = waker_wake_by_ref,
	.clone = waker_clone,
	.drop = waker_drop,
};

static void shared_wake_by_ref(void *data)
{
	struct keel_task *t = data;

	if (shared_notify(t))
		keel__sched_push(t);
}

static void shared_wake(void *data)
{
	shared_wake_by_ref(data);
	task_release(data);
}

const struct keel_waker_ops keel__task_shared_waker_ops = {
	.wake = shared_wake,
	.wake_by_ref = shared_wake_by_ref,
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
 * thread's worker), not yet on any list or queue. */
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
	t->home = NULL;
	t->poll = poll;
	t->drop = drop;
	t->shared = owner->shared;
	t->root = root;
	t->cls = cls;
	t->foreign_join = false;
	t->result = 0;
	t->msg_next = NULL;
	t->msg_refs = 0;
	t->msg_kinds = 0;
	t->join_waker = (struct keel_waker){ 0 };
	t->fjoin_waker = (struct keel_waker){ 0 };
	atomic_init(&t->finished, false);
	atomic_flag_clear(&t->join_lock.f);
	keel_list_init(&t->timers);
	keel_list_init(&t->readies);
	if (size)
		memcpy(t->frame, frame, size);
	if (t->shared) {
		t->refs = 0;
		t->state = 0;
		atomic_init(&t->arefs, joined ? 2 : 1);
		atomic_init(&t->astate, KEEL__S_SCHEDULED);
	} else {
		t->refs = joined ? 2 : 1;
		t->state = 0;
		atomic_init(&t->arefs, 0);
		atomic_init(&t->astate, 0);
	}
	return t;
}

/* Make a new task of \p w's known to it and runnable, on w's thread. */
static void task_start(struct keel_worker *w, struct keel_task *t)
{
	KEEL__COUNT(w, spawns, 1);
	if (t->shared) {
		keel__spin_lock(&w->lock);
		keel_list_push_back(&w->tasks, &t->all);
		keel__spin_unlock(&w->lock);
		w->rt->sched->push(w->rt->sched_impl, local_worker(t), t,
				   KEEL_PUSH_SPAWN);
	} else {
		keel_list_push_back(&w->tasks, &t->all);
		keel__worker_schedule(w, t);
	}
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

/* Take the joiner's waker out of the join slots (both modes). */
static struct keel_waker take_joiner(struct keel_task *t)
{
	struct keel_waker jw = t->join_waker;

	t->join_waker = (struct keel_waker){ 0 };
	return jw;
}

/* The task is done: disarm what it armed, drop its frame, publish the
 * result, wake the joiner, release the "unfinished" reference. Runs on the
 * thread that polls the task (affine: its owner; migrating: the worker
 * that holds RUNNING), or on the tearing-down thread. */
static void task_complete(struct keel_worker *w, struct keel_task *t,
			  intptr_t result, bool cancelled)
{
	struct keel_list *n;
	struct keel_waker jw;

	/* Done before the drop runs: a wake that the drop causes (it cancels
	 * a child this task awaited, say) must not queue it again. Migrating
	 * tasks hold RUNNING through completion, to the same end. */
	if (!t->shared)
		t->state |= KEEL__T_DONE;
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

	if (t->shared) {
		keel__spin_lock(&t->join_lock);
		atomic_fetch_or_explicit(&t->astate, KEEL__S_COMPLETE,
					 memory_order_acq_rel);
		atomic_store_explicit(&t->finished, true, memory_order_release);
		jw = take_joiner(t);
		keel__spin_unlock(&t->join_lock);
		keel_waker_wake(&jw);
		if (t->root)
			keel__worker_unpark(w->rt->home);
		task_release(t);
		return;
	}
	atomic_store_explicit(&t->finished, true, memory_order_release);
	jw = take_joiner(t);
	keel_waker_wake(&jw);
	if (t->foreign_join) {
		pthread_mutex_lock(&t->worker->inbox_lock);
		jw = t->fjoin_waker;
		t->fjoin_waker = (struct keel_waker){ 0 };
		pthread_mutex_unlock(&t->worker->inbox_lock);
		keel_waker_wake(&jw);
	}
	keel__task_unref(t);
}

static inline intptr_t task_poll(struct keel_worker *w, struct keel_task *t,
				 const struct keel_waker_ops *ops)
{
	struct keel_cx cx = {
		.waker = { ops, t },
		.task = t,
		.worker = w,
		.budget = KEEL_COOP_BUDGET,
	};

	KEEL__COUNT(w, polls, 1);
	return t->poll(t->frame, &cx);
}

static void shared_run(struct keel_worker *w, struct keel_task *t)
{
	unsigned s = atomic_load_explicit(&t->astate, memory_order_acquire), ns;
	intptr_t r;

	do {
		ns = (s & ~(unsigned)KEEL__S_SCHEDULED) | KEEL__S_RUNNING;
	} while (!atomic_compare_exchange_weak_explicit(
		&t->astate, &s, ns, memory_order_acq_rel, memory_order_acquire));
	/* RUNNING stays set through a completion, so no wake requeues it. */
	if (s & KEEL__S_CANCELLED) {
		task_complete(w, t, -ECANCELED, true);
		return;
	}
	r = task_poll(w, t, &keel__task_shared_waker_ops);
	if (r != KEEL_PENDING) {
		task_complete(w, t, r, false);
		return;
	}
	s = atomic_load_explicit(&t->astate, memory_order_acquire);
	do {
		if (s & KEEL__S_CANCELLED) {
			task_complete(w, t, -ECANCELED, true);
			return;
		}
		ns = s & ~(unsigned)(KEEL__S_RUNNING | KEEL__S_NOTIFIED);
		if (s & KEEL__S_NOTIFIED)
			ns |= KEEL__S_SCHEDULED;
	} while (!atomic_compare_exchange_weak_explicit(
		&t->astate, &s, ns, memory_order_acq_rel, memory_order_acquire));
	if (ns & KEEL__S_SCHEDULED)
		shared_push(w, t, KEEL_PUSH_YIELD);
}

/* Affine: poll \p t (just taken off w's run queue) on its owner. */
static inline void affine_run(struct keel_worker *w, struct keel_task *t)
{
	unsigned st = (t->state & ~(unsigned)KEEL__T_QUEUED);
	intptr_t r;

	if (st & KEEL__T_CANCELLED) {
		t->state = (uint16_t)st;
		task_complete(w, t, -ECANCELED, true);
		return;
	}
	t->state = (uint16_t)(st | KEEL__T_RUNNING);
	r = task_poll(w, t, &keel__task_waker_ops);
	st = t->state & ~(unsigned)KEEL__T_RUNNING;
	if (r != KEEL_PENDING) {
		t->state = (uint16_t)st;
		task_complete(w, t, r, false);
	} else if (st & KEEL__T_CANCELLED) {
		t->state = (uint16_t)st;
		task_complete(w, t, -ECANCELED, true);
	} else if (st & KEEL__T_NOTIFIED) {
		/* Neither queued nor done: straight to the back of the queue. */
		t->state = (uint16_t)((st & ~(unsigned)KEEL__T_NOTIFIED) | KEEL__T_QUEUED);
		keel_list_push_back(&w->runq, &t->link);
	} else {
		t->state = (uint16_t)st;
	}
}

void keel__task_run(struct keel_worker *w, struct keel_task *t)
{
	if (t->shared)
		shared_run(w, t);
	else
		affine_run(w, t);
}

unsigned keel__task_run_queue(struct keel_worker *w, unsigned budget)
{
	struct keel_list *q = &w->runq, *n;
	unsigned ran = 0;

	/* Unlinked without clearing the node: the state (QUEUED), not the
	 * link, says whether a task is on the run queue. */
	while (ran < budget && (n = q->next) != q) {
		q->next = n->next;
		n->next->prev = q;
		affine_run(w, KEEL_CONTAINER_OF(n, struct keel_task, link));
		ran++;
	}
	return ran;
}

void keel__task_cancel_local(struct keel_task *t)
{
	if (t->state & (KEEL__T_DONE | KEEL__T_CANCELLED))
		return;
	t->state |= KEEL__T_CANCELLED;
	if (t->state & KEEL__T_RUNNING)
		return; /* completes when its poll returns */
	if (t->state & KEEL__T_QUEUED) {
		keel_list_remove(&t->link);
		t->state &= (uint16_t)~KEEL__T_QUEUED;
	}
	task_complete(t->worker, t, -ECANCELED, true);
}

/* Migrating: an idle task is completed at once when we are on one of its
 * runtime's workers and on its home, if it has one (claiming RUNNING keeps
 * any waker from queueing it); a queued or running one, or one cancelled
 * from elsewhere, is completed by the worker that takes it next (its drop
 * runs on a worker, and on its home). */
static void shared_cancel(struct keel_task *t)
{
	struct keel_worker *w = local_worker(t);
	unsigned s = atomic_load_explicit(&t->astate, memory_order_acquire), ns;
	bool idle;

	do {
		if (s & (KEEL__S_COMPLETE | KEEL__S_CANCELLED))
			return;
		idle = !(s & (KEEL__S_RUNNING | KEEL__S_SCHEDULED));
		if (idle && w && t->home && t->home != w)
			w = NULL; /* its drop must run at home */
		ns = s | KEEL__S_CANCELLED;
		if (idle)
			ns |= w ? KEEL__S_RUNNING : KEEL__S_SCHEDULED;
	} while (!atomic_compare_exchange_weak_explicit(
		&t->astate, &s, ns, memory_order_acq_rel, memory_order_acquire));
	if (!idle)
		return;
	if (w)
		task_complete(w, t, -ECANCELED, true);
	else
		keel__sched_push(t);
}

void keel__task_cancel_now(struct keel_task *t)
{
	struct keel_worker *w = keel__tls_worker;

	if (!t->shared) {
		keel__task_cancel_local(t);
		return;
	}
	if (atomic_load_explicit(&t->astate, memory_order_acquire) & KEEL__S_COMPLETE)
		return;
	atomic_fetch_or_explicit(&t->astate, KEEL__S_CANCELLED | KEEL__S_RUNNING,
				 memory_order_acq_rel);
	task_complete(w, t, -ECANCELED, true);
}

/* ------------------------------------------------------------------ join */

static intptr_t join_result(struct keel_task *t)
{
	intptr_t r = t->result;

	task_release(t);
	return r;
}

intptr_t keel_join_poll(struct keel_cx *cx, struct keel_join *join)
{
	struct keel_task *t = (struct keel_task *)join;
	struct keel_waker old;

	if (!cx || !t)
		return -EINVAL;
	if (atomic_load_explicit(&t->finished, memory_order_acquire))
		return join_result(t);
	if (t->shared) {
		keel__spin_lock(&t->join_lock);
		if (atomic_load_explicit(&t->finished, memory_order_acquire)) {
			keel__spin_unlock(&t->join_lock);
			return join_result(t);
		}
		old = keel__waker_swap(&t->join_waker, cx);
		keel__spin_unlock(&t->join_lock);
		keel_waker_drop(&old);
		return KEEL_PENDING;
	}
	if (on_owner(t)) {
		keel_waker_register(&t->join_waker, cx);
		return KEEL_PENDING;
	}
	/* Joiner elsewhere: leave the waker under the owner's lock and tell
	 * the owner, which wakes it at completion (or at once). */
	pthread_mutex_lock(&t->worker->inbox_lock);
	old = t->fjoin_waker;
	t->fjoin_waker = keel_waker_clone(&cx->waker);
	pthread_mutex_unlock(&t->worker->inbox_lock);
	keel_waker_drop(&old);
	task_retain(t);
	keel__worker_post(t->worker, t, KEEL__MSG_JOIN);
	return KEEL_PENDING;
}

bool keel_join_is_finished(const struct keel_join *join)
{
	const struct keel_task *t = (const struct keel_task *)join;

	return t && atomic_load_explicit(&t->finished, memory_order_acquire);
}

void keel_join_cancel(struct keel_join *join)
{
	struct keel_task *t = (struct keel_task *)join;

	if (!t)
		return;
	if (t->shared) {
		shared_cancel(t);
	} else if (on_owner(t)) {
		keel__task_cancel_local(t);
	} else {
		task_retain(t);
		keel__worker_post(t->worker, t, KEEL__MSG_CANCEL);
	}
}

void keel_join_detach(struct keel_join *join)
{
	if (join)
		task_release((struct keel_task *)join);
}

void keel_join_abort(struct keel_join *join)
{
	keel_join_cancel(join);
	keel_join_detach(join);
}

/* Owner side of the messages, with the references they carried. */
void keel__task_messages(struct keel_task *t, unsigned kinds, uint32_t refs)
{
	struct keel_worker *w = t->worker;

	if (kinds & 1u << KEEL__MSG_FREE) {
		keel__task_free(t); /* nothing else refers to it */
		return;
	}
	if (kinds & 1u << KEEL__MSG_CANCEL)
		keel__task_cancel_local(t);
	if (kinds & 1u << KEEL__MSG_WAKE)
		keel__worker_schedule(w, t);
	if (kinds & 1u << KEEL__MSG_JOIN) {
		if (t->state & KEEL__T_DONE) {
			struct keel_waker fw;

			pthread_mutex_lock(&w->inbox_lock);
			fw = t->fjoin_waker;
			t->fjoin_waker = (struct keel_waker){ 0 };
			pthread_mutex_unlock(&w->inbox_lock);
			keel_waker_wake(&fw);
		} else {
			t->foreign_join = true;
		}
	}
	if (refs) {
		t->refs -= (int64_t)refs - 1;
		keel__task_unref(t);
	}
}
