/* SPDX-License-Identifier: MIT */
/*
 * Combinators built on the task API: join-all, groups, periodic tasks,
 * signals (and the shutdown signal), the trap of the coroutine macros and
 * keel_frame_drop. Nothing here reaches into the scheduler or the worker
 * loop: a group is an array of join handles, the shutdown signal is set by
 * an ordinary task.
 */
#include "core_internal.h"

#include <keel/log.h>
#include <errno.h>
#include <keel/combine.h>
#include <keel/runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------- the coroutine macros */

void keel__co_trap(const char *file, unsigned line, unsigned resume)
{
	if (resume == KEEL__CO_DONE)
		keel_log(KEEL_LOG_ERROR, "keel: %s:%u: async function polled again after "
				"it returned (restart a child frame with "
				"KEEL_AWAIT_CALL or KEEL_FRAME_INIT)",
			file, line);
	else
		keel_log(KEEL_LOG_ERROR, "keel: %s:%u: unknown resume point %u: an await "
				"inside a switch of its own, or a frame that "
				"was not zeroed",
			file, line, resume);
	abort();
}

static bool inside(const void *p, const char *lo, size_t size)
{
	const char *c = p;

	return c >= lo && c < lo + size;
}

void keel_frame_drop(struct keel_cx *cx, void *frame, size_t size)
{
	struct keel_list *n, *next;

	if (!frame)
		return;
	if (cx && cx->task) {
		for (n = cx->task->timers.next; n != &cx->task->timers; n = next) {
			next = n->next;
			if (inside(n, frame, size))
				keel_timer_stop(KEEL_CONTAINER_OF(n, struct keel_timer,
								  task_link));
		}
		for (n = cx->task->readies.next; n != &cx->task->readies; n = next) {
			next = n->next;
			if (inside(n, frame, size))
				keel_ready_stop(KEEL_CONTAINER_OF(n, struct keel_ready,
								  task_link));
		}
	}
	memset(frame, 0, size);
}

/* ------------------------------------------------------------ join-all */

intptr_t keel_join_all(struct keel_cx *cx, struct keel_join **joins, size_t n,
		       intptr_t *results)
{
	bool pending = false;

	if (!cx || (!joins && n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		intptr_t r;

		if (!joins[i])
			continue;
		r = keel_join_poll(cx, joins[i]);
		if (r == KEEL_PENDING) {
			pending = true;
			continue;
		}
		joins[i] = NULL;
		if (results)
			results[i] = r;
	}
	return pending ? KEEL_PENDING : 0;
}

/* --------------------------------------------------------------- groups */

static void group_note(struct keel_group *g, intptr_t r)
{
	if (r < 0 && r != -ECANCELED && !g->err)
		g->err = r;
}

/* Consume the handles of finished tasks, keeping the order of the rest. */
static void group_reap(struct keel_cx *cx, struct keel_group *g)
{
	size_t out = 0;

	for (size_t i = 0; i < g->n; i++) {
		struct keel_join *j = g->joins[i];

		if (keel_join_is_finished(j)) {
			intptr_t r = keel_join_poll(cx, j);

			if (r != KEEL_PENDING) {
				group_note(g, r);
				continue;
			}
		}
		g->joins[out++] = j;
	}
	g->n = out;
}

int keel_group_add(struct keel_cx *cx, struct keel_group *g,
		   struct keel_join *join)
{
	if (!cx || !g || !join)
		return -EINVAL;
	if (g->n == g->cap)
		group_reap(cx, g);
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 8;
		struct keel_join **v = realloc(g->joins, cap * sizeof(*v));

		if (!v) {
			keel_join_abort(join);
			return -ENOMEM;
		}
		g->joins = v;
		g->cap = cap;
	}
	g->joins[g->n++] = join;
	return 0;
}

int keel_group_spawn(struct keel_cx *cx, struct keel_group *g,
		     keel_poll_fn *poll, keel_drop_fn *drop, const void *frame,
		     size_t size)
{
	struct keel_join *j;
	int rc;

	if (!g)
		return -EINVAL;
	rc = keel_spawn(cx, poll, drop, frame, size, &j);
	if (rc < 0)
		return rc;
	return keel_group_add(cx, g, j);
}

size_t keel_group_size(const struct keel_group *g)
{
	return g ? g->n : 0;
}

void keel_group_cancel(struct keel_group *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		keel_join_cancel(g->joins[i]);
}

/* Wait on one unfinished task at a time: each handle is polled about once,
 * and a wake means one of them finished. */
intptr_t keel_group_join(struct keel_cx *cx, struct keel_group *g)
{
	intptr_t err;

	if (!cx || !g)
		return -EINVAL;
	for (;;) {
		intptr_t r;

		group_reap(cx, g);
		if (g->n == 0)
			break;
		r = keel_join_poll(cx, g->joins[0]);
		if (r == KEEL_PENDING)
			return KEEL_PENDING;
		group_note(g, r);
		memmove(g->joins, g->joins + 1, --g->n * sizeof(*g->joins));
	}
	err = g->err;
	g->err = 0;
	return err;
}

intptr_t keel_group_shutdown(struct keel_cx *cx, struct keel_group *g)
{
	keel_group_cancel(g);
	return keel_group_join(cx, g);
}

void keel_group_destroy(struct keel_group *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		keel_join_abort(g->joins[i]);
	free(g->joins);
	*g = (struct keel_group){ 0 };
}

/* ------------------------------------------------------ periodic tasks */

struct periodic {
	struct keel_co co;
	struct keel_interval iv;
	keel_periodic_fn *fn;
	void *arg;
	uint64_t period;
	intptr_t ticks, r;
};

static intptr_t periodic_poll(void *frame, struct keel_cx *cx)
{
	struct periodic *f = frame;

	KEEL_BEGIN(f);
	for (;;) {
		KEEL_TRY(f, f->ticks, keel_interval_tick(cx, &f->iv, f->period));
		f->r = f->fn(cx, f->arg, (uint64_t)f->ticks);
		if (f->r != 0)
			KEEL_RETURN(f, f->r);
	}
	KEEL_END(f);
}

int keel_spawn_periodic(struct keel_cx *cx, uint64_t period,
			keel_periodic_fn *fn, void *arg,
			struct keel_join **join)
{
	if (!period || !fn)
		return -EINVAL;
	return KEEL_SPAWN(cx, periodic_poll, NULL, join, struct periodic,
			  .fn = fn, .arg = arg, .period = period);
}

int keel_group_spawn_periodic(struct keel_cx *cx, struct keel_group *g,
			      uint64_t period, keel_periodic_fn *fn, void *arg)
{
	struct keel_join *j;
	int rc;

	if (!g)
		return -EINVAL;
	rc = keel_spawn_periodic(cx, period, fn, arg, &j);
	if (rc < 0)
		return rc;
	return keel_group_add(cx, g, j);
}

/* -------------------------------------------------------------- signals */

/*
 * The waiters are kept as (task, waker) entries in an array the signal
 * owns, not as links in the frames: a frame can then be dropped while it
 * waits (a cancelled task, a select that lost) with nothing to unlink. The
 * waker's reference keeps the task block alive, so `finished` can be read;
 * entries of finished tasks are pruned before the array grows, which bounds
 * it by twice the tasks alive and waiting. A waiter remembers its slot
 * (and the generation of the array, which a prune moves) to find its entry
 * again in O(1).
 */
struct signal_entry {
	struct keel_task *task;
	struct keel_waker waker;
};

struct keel_signal {
	pthread_mutex_t lock;
	atomic_bool set;
	struct signal_entry *v;
	size_t n, cap;
	unsigned long gen;
};

int keel_signal_create(struct keel_signal **out)
{
	struct keel_signal *s;

	if (!out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	atomic_init(&s->set, false);
	*out = s;
	return 0;
}

static void drop_entries(struct signal_entry *v, size_t n, bool wake)
{
	for (size_t i = 0; i < n; i++) {
		if (wake)
			keel_waker_wake(&v[i].waker);
		else
			keel_waker_drop(&v[i].waker);
	}
	free(v);
}

void keel_signal_destroy(struct keel_signal *s)
{
	if (!s)
		return;
	drop_entries(s->v, s->n, false);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void keel_signal_set(struct keel_signal *s)
{
	struct signal_entry *v;
	size_t n;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (atomic_load(&s->set)) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	atomic_store(&s->set, true);
	v = s->v;
	n = s->n;
	s->v = NULL;
	s->n = s->cap = 0;
	pthread_mutex_unlock(&s->lock);
	drop_entries(v, n, true); /* outside the lock: a wake may run a task */
}

bool keel_signal_is_set(const struct keel_signal *s)
{
	return s && atomic_load(&s->set);
}

/* Under the lock: drop the entries of finished tasks. */
static void signal_prune(struct keel_signal *s)
{
	size_t out = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (keel_join_is_finished((struct keel_join *)s->v[i].task))
			keel_waker_drop(&s->v[i].waker);
		else
			s->v[out++] = s->v[i];
	}
	if (out != s->n)
		s->gen++;
	s->n = out;
}

static struct signal_entry *signal_find(struct keel_signal *s,
					struct keel_cx *cx,
					const struct keel_waiter *w)
{
	size_t i = w->slot - 1;

	if (!w->slot)
		return NULL;
	if (w->gen == s->gen)
		return i < s->n && s->v[i].task == cx->task ? &s->v[i] : NULL;
	for (i = 0; i < s->n; i++) /* moved by a prune: rare */
		if (s->v[i].task == cx->task)
			return &s->v[i];
	return NULL;
}

intptr_t keel_signal_wait(struct keel_cx *cx, struct keel_signal *s,
			  struct keel_waiter *w)
{
	struct keel_waker old = { 0 };
	struct signal_entry *e;

	if (!cx || !s || !w)
		return -EINVAL;
	if (atomic_load(&s->set))
		return 0;
	pthread_mutex_lock(&s->lock);
	if (atomic_load(&s->set)) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	e = signal_find(s, cx, w);
	if (e) {
		old = keel__waker_swap(&e->waker, cx);
	} else {
		if (s->n == s->cap)
			signal_prune(s);
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 8;
			struct signal_entry *v = realloc(s->v, cap * sizeof(*v));

			if (!v) {
				pthread_mutex_unlock(&s->lock);
				return -ENOMEM;
			}
			s->v = v;
			s->cap = cap;
		}
		e = &s->v[s->n++];
		e->task = cx->task;
		e->waker = keel_waker_clone(&cx->waker);
	}
	w->slot = (size_t)(e - s->v) + 1;
	w->gen = s->gen;
	pthread_mutex_unlock(&s->lock);
	keel_waker_drop(&old);
	return KEEL_PENDING;
}

/* ------------------------------------------------------ shutdown signal */

/*
 * One signal per runtime, found by the runtime's address in a short list
 * (a process has one or a few runtimes). The watcher task sets it at the
 * first request and then stays pending, unwoken, so that it is cancelled
 * at keel_runtime_destroy: its drop unlists and frees the signal, after
 * every task that could wait on it was cancelled or finished.
 */
struct shutdown_entry {
	struct shutdown_entry *next;
	struct keel_runtime *rt;
	struct keel_signal *sig;
};

static pthread_mutex_t shutdown_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shutdown_entry *shutdown_list;

struct watcher {
	struct keel_co co;
	struct shutdown_entry *e;
	intptr_t r;
};

static intptr_t watcher_poll(void *frame, struct keel_cx *cx)
{
	struct watcher *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, keel_shutdown_poll(cx));
	keel_signal_set(f->e->sig);
	f->co.line = __LINE__; /* stay pending: destroy cancels us */
	KEEL__FALLTHROUGH;
	case __LINE__:
	return KEEL_PENDING;
	KEEL_END(f);
}

static void watcher_drop(void *frame)
{
	struct watcher *f = frame;
	struct shutdown_entry **p;

	pthread_mutex_lock(&shutdown_lock);
	for (p = &shutdown_list; *p; p = &(*p)->next)
		if (*p == f->e) {
			*p = f->e->next;
			break;
		}
	pthread_mutex_unlock(&shutdown_lock);
	keel_signal_destroy(f->e->sig);
	free(f->e);
}

struct keel_signal *keel_shutdown_signal(struct keel_cx *cx)
{
	struct keel_runtime *rt;
	struct shutdown_entry *e;
	struct keel_signal *sig = NULL;

	if (!cx)
		return NULL;
	rt = keel_cx_runtime(cx);
	pthread_mutex_lock(&shutdown_lock);
	for (e = shutdown_list; e; e = e->next)
		if (e->rt == rt)
			break;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || keel_signal_create(&e->sig) < 0)
			goto out_free;
		e->rt = rt;
		if (KEEL_SPAWN(cx, watcher_poll, watcher_drop, NULL, struct watcher,
			       .e = e) < 0) {
			keel_signal_destroy(e->sig);
			goto out_free;
		}
		e->next = shutdown_list;
		shutdown_list = e;
	}
	sig = e->sig;
	pthread_mutex_unlock(&shutdown_lock);
	return sig;

out_free:
	free(e);
	pthread_mutex_unlock(&shutdown_lock);
	return NULL;
}

intptr_t keel_shutdown_wait(struct keel_cx *cx, struct keel_waiter *w)
{
	struct keel_signal *s = keel_shutdown_signal(cx);

	return s ? keel_signal_wait(cx, s, w) : -ENOMEM;
}
