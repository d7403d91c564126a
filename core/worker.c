/* SPDX-License-Identifier: MIT */
/*
 * The worker: one thread's run queue, timer wheel, drivers, task cache and
 * inbox, and the loop that drives them.
 *
 * The loop, once per tick:
 *   1. run ready tasks, at most `budget` polls (a task that keeps waking
 *      itself goes to the back of the queue and cannot starve the rest);
 *   2. take the messages other threads posted (wakes, drops, cancels);
 *   3. poll the drivers and the user readiness sources;
 *   4. fire due timers;
 *   5. if nothing ran and nothing happened, or nothing is left to run and
 *      the one driver's park is a poll too (step 3 was left to it), park
 *      until the next timer (or, on the test clock, jump to it).
 */
#include "core_internal.h"

#include <keel/log.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ clock */

uint64_t keel__worker_clock(struct keel_worker *w)
{
	struct timespec ts;

	if (w->rt->cfg.test_clock)
		return atomic_load_explicit(&w->rt->test_now, memory_order_relaxed);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * KEEL_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t keel_now(struct keel_cx *cx)
{
	return cx->worker->now;
}

uint64_t keel_clock_now(struct keel_cx *cx)
{
	return keel__worker_clock(cx->worker);
}

/* Pass a shutdown request on to the task awaiting keel_shutdown_poll. */
static size_t worker_pass_shutdown(struct keel_worker *w)
{
	struct keel_runtime *rt = w->rt;
	unsigned n = atomic_load_explicit(&rt->shutdown_requests, memory_order_relaxed);
	struct keel_waker wk;

	if (w != rt->home || n == rt->shutdown_seen)
		return 0;
	rt->shutdown_seen = n;
	pthread_mutex_lock(&rt->shutdown_lock);
	wk = rt->shutdown_waker;
	rt->shutdown_waker = (struct keel_waker){ 0 };
	pthread_mutex_unlock(&rt->shutdown_lock);
	keel_waker_wake(&wk);
	return 1;
}

intptr_t keel_shutdown_poll(struct keel_cx *cx)
{
	struct keel_runtime *rt;
	struct keel_waker old;

	if (!cx)
		return -EINVAL;
	rt = cx->worker->rt;
	if (atomic_load(&rt->shutdown_requests))
		return 0;
	pthread_mutex_lock(&rt->shutdown_lock);
	old = keel__waker_swap(&rt->shutdown_waker, cx);
	pthread_mutex_unlock(&rt->shutdown_lock);
	keel_waker_drop(&old);
	atomic_store(&rt->graceful, true);
	/* A request that came before `graceful` was seen stopped the runtime
	 * outright; one that comes after is passed on by the home worker. */
	return atomic_load(&rt->shutdown_requests) ? 0 : KEEL_PENDING;
}

/* ------------------------------------------------------------- run queue */


/* ----------------------------------------------------------------- inbox */

void keel__worker_unpark(struct keel_worker *w)
{
	if (w->epfd >= 0) {
		/* Async-signal-safe: an exchange and a write(2). */
		uint64_t one = 1;
		int saved = errno;

		if (!atomic_exchange(&w->unpark_armed, true) &&
		    write(w->unpark_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			atomic_store(&w->unpark_armed, false);
		errno = saved;
		return;
	}
	if (w->ndrv) {
		w->drv[0].ops->unpark(w->drv[0].impl);
		return;
	}
	pthread_mutex_lock(&w->inbox_lock);
	w->idle_signalled = true;
	pthread_cond_signal(&w->idle_cond);
	pthread_mutex_unlock(&w->inbox_lock);
}

int keel__worker_call(struct keel_worker *w, void (*fn)(void *), void *arg)
{
	struct keel__call *c;

	struct keel_worker *here = keel__tls_worker;

	/* Only another worker of the same, running runtime posts; a thread
	 * with no worker calls directly, as it would without this call. */
	if (!here || here == w || here->rt != w->rt || w->rt->tearing_down) {
		fn(arg);
		return 0;
	}
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct keel__call){ NULL, fn, arg };
	pthread_mutex_lock(&w->inbox_lock);
	*w->calls_tail = c;
	w->calls_tail = &c->next;
	atomic_store(&w->inbox_nonempty, true);
	pthread_mutex_unlock(&w->inbox_lock);
	if (atomic_load(&w->parked))
		keel__worker_unpark(w);
	return 0;
}

int keel_worker_call(struct keel_worker *w, void (*fn)(void *), void *arg)
{
	if (!w || !fn)
		return -EINVAL;
	return keel__worker_call(w, fn, arg);
}

/* Take what other threads posted: tasks made runnable here, tasks to
 * free, calls. */
static size_t worker_drain_inbox(struct keel_worker *w)
{
	struct keel_list woken, dead, *n;
	struct keel__call *c;
	size_t n_in = 0;

	if (!atomic_load_explicit(&w->inbox_nonempty, memory_order_acquire))
		return 0;
	keel_list_init(&woken);
	keel_list_init(&dead);
	pthread_mutex_lock(&w->inbox_lock);
	keel_list_splice(&woken, &w->homeq);
	keel_list_splice(&dead, &w->freeq);
	c = w->calls_head;
	w->calls_head = NULL;
	w->calls_tail = &w->calls_head;
	atomic_store_explicit(&w->inbox_nonempty, false, memory_order_relaxed);
	pthread_mutex_unlock(&w->inbox_lock);

	for (n = woken.next; n != &woken; n = n->next)
		n_in++;
	keel_list_splice(&w->runq, &woken);
	while ((n = keel_list_pop_front(&dead))) {
		keel__task_free(KEEL_CONTAINER_OF(n, struct keel_task, link));
		n_in++;
	}
	KEEL__COUNT(w, remote_msgs, n_in);
	while (c) {
		struct keel__call *cn = c->next;

		c->fn(c->arg);
		free(c);
		c = cn;
		n_in++;
	}
	return n_in;
}

/* ------------------------------------------------------------------ loop */

/* Whether a task is waiting for this worker (checked before parking). */
static bool worker_has_tasks(struct keel_worker *w)
{
	const struct keel_sched_ops *s = w->rt->sched;

	if (!keel_list_empty(&w->runq))
		return true;
	return s->has_work && s->has_work(w->rt->sched_impl, w);
}

static size_t worker_run_tasks(struct keel_worker *w)
{
	unsigned budget = w->rt->cfg.budget;
	size_t ran = keel__task_run_queue(w, budget);

	if (ran == budget && worker_has_tasks(w))
		KEEL__COUNT(w, budget_yields, 1); /* others still waited */
	return ran;
}


static size_t worker_poll_drivers(struct keel_worker *w)
{
	size_t events = 0;

	for (unsigned i = 0; i < w->ndrv; i++) {
		int n = w->drv[i].ops->poll(w->drv[i].impl);
		if (n > 0)
			events += (size_t)n;
	}
	return events;
}

static size_t worker_fire_timers(struct keel_worker *w)
{
	size_t n = keel__wheel_advance(&w->wheel, w->now / KEEL_TIMER_TICK_NS);
	KEEL__COUNT(w, timers_fired, n);
	return n;
}

static void worker_park_fallback(struct keel_worker *w, int64_t timeout)
{
	pthread_mutex_lock(&w->inbox_lock);
	if (!w->idle_signalled && timeout != 0) {
		if (timeout < 0) {
			pthread_cond_wait(&w->idle_cond, &w->inbox_lock);
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)timeout;
			ts.tv_sec += (time_t)(ns / KEEL_SEC);
			ts.tv_nsec = (long)(ns % KEEL_SEC);
			pthread_cond_timedwait(&w->idle_cond, &w->inbox_lock, &ts);
		}
	}
	w->idle_signalled = false;
	pthread_mutex_unlock(&w->inbox_lock);
}

/*
 * Test clock: time moves only when every worker is idle, and then to the
 * earliest timer of any of them; the others are unparked to fire theirs.
 * Called with \p w counted idle. \return whether the clock moved.
 */
static bool test_clock_advance(struct keel_worker *w)
{
	struct keel_runtime *rt = w->rt;
	uint64_t min = UINT64_MAX, at;
	bool moved = false;

	pthread_mutex_lock(&rt->clock_lock);
	if (atomic_load(&rt->idle) == rt->nworkers) {
		for (unsigned i = 0; i < rt->nworkers; i++) {
			uint64_t next = keel__wheel_next(&rt->workers[i]->wheel);

			if (next < min)
				min = next;
		}
		at = min == UINT64_MAX ? 0 : min * KEEL_TIMER_TICK_NS;
		if (at > atomic_load(&rt->test_now)) {
			atomic_store(&rt->test_now, at);
			moved = true;
		}
	}
	pthread_mutex_unlock(&rt->clock_lock);
	if (moved)
		for (unsigned i = 0; i < rt->nworkers; i++)
			if (rt->workers[i] != w)
				keel__worker_unpark(rt->workers[i]);
	return moved;
}

/* Put driver \p d's wait fd (or none) in the worker's epoll set. */
static void worker_watch(struct keel_worker *w, struct keel__drv *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = d };

	if (fd == d->wait_fd)
		return;
	if (d->wait_fd >= 0)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, d->wait_fd, NULL);
	d->wait_fd = -1;
	if (fd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		d->wait_fd = fd;
}

/*
 * Several drivers: each arms itself and names its wait fd, the worker
 * sleeps in one epoll_wait over all of them and its own unpark eventfd,
 * and each handles what came. A driver with no fd is looked at every
 * millisecond (said once).
 */
static void worker_park_drivers(struct keel_worker *w, int64_t timeout)
{
	bool prepared[KEEL__MAX_DRIVERS] = { false };
	struct epoll_event evs[KEEL__MAX_DRIVERS + 1];
	int handled = 0, ms, nev = 0;
	uint64_t v;

	for (unsigned i = 0; i < w->ndrv; i++) {
		struct keel__drv *d = &w->drv[i];
		int fd = -1, n = 0;

		if (d->ops->park_prepare) {
			n = d->ops->park_prepare(d->impl, &timeout, &fd);
			prepared[i] = n <= 0;
		}
		if (n > 0) {
			handled += n;
			continue;
		}
		worker_watch(w, d, fd);
		if (d->wait_fd < 0) {
			if (timeout < 0 || timeout > (int64_t)KEEL_MS)
				timeout = (int64_t)KEEL_MS;
			if (!d->said_polled) {
				d->said_polled = true;
				keel_log(KEEL_LOG_INFO, "keel: worker %u: driver %s has nothing "
					"to sleep on beside the others: looked at "
					"every millisecond while idle",
					w->index, d->ops->name);
			}
		}
	}
	/* A driver that must not sleep (busy polling): back to the loop,
	 * without even a zero-timeout wait. */
	if (!handled && timeout != 0) {
		ms = timeout < 0 ? -1
		     : (int)((timeout + (int64_t)KEEL_MS - 1) / (int64_t)KEEL_MS);
		nev = epoll_wait(w->epfd, evs, KEEL__MAX_DRIVERS + 1, ms);
	}
	for (int i = 0; i < nev; i++) {
		if (evs[i].data.ptr)
			continue;
		/* Read first, disarm second: an unpark that still sees the
		 * flag skips its write, and this park is returning anyway. */
		if (read(w->unpark_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: taken already */
		}
		atomic_store(&w->unpark_armed, false);
	}
	for (unsigned i = 0; i < w->ndrv; i++)
		if (prepared[i])
			w->drv[i].ops->park_finish(w->drv[i].impl);
}

/* Make the one sleep of a worker with several drivers possible. */
static int worker_epoll_init(struct keel_worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->unpark_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->unpark_fd < 0 ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->unpark_fd, &ev) < 0)
		return -errno;
	return 0;
}

/* Nothing to do: sleep until the next timer, in the one driver or in the
 * worker's wait over all of them. */
static void worker_park(struct keel_worker *w)
{
	uint64_t next = keel__wheel_next(&w->wheel);
	bool test_clock = w->rt->cfg.test_clock;
	int64_t timeout = -1;

	/* The tick that ends here may have run tasks for a while. */
	w->now = keel__worker_clock(w);
	if (next != UINT64_MAX && !test_clock) {
		uint64_t at = next * KEEL_TIMER_TICK_NS;
		timeout = at > w->now ? (int64_t)(at - w->now) : 0;
	}
	/* Virtual time: I/O that is ready comes before any jump. */
	if (test_clock)
		for (unsigned i = 0; i < w->ndrv; i++)
			if (w->drv[i].ops->park(w->drv[i].impl, 0) > 0)
				return;
	/* Announce first, look again second: whoever queues work after our
	 * last look sees `parked` and unparks us (seq_cst on both sides). */
	atomic_store(&w->parked, true);
	atomic_fetch_add(&w->rt->idle, 1);
	if (!atomic_load(&w->inbox_nonempty) && !atomic_load(&w->stop) &&
	    !atomic_load(&w->rt->shutdown) && !worker_has_tasks(w) &&
	    !keel__ready_pending(w) &&
	    !(test_clock && test_clock_advance(w))) {
		KEEL__COUNT(w, parks, 1);
		if (w->epfd >= 0)
			worker_park_drivers(w, timeout);
		else if (w->ndrv)
			w->drv[0].ops->park(w->drv[0].impl, timeout);
		else
			worker_park_fallback(w, timeout);
	}
	atomic_fetch_sub(&w->rt->idle, 1);
	atomic_store(&w->parked, false);
}

void keel_worker_run(struct keel_worker *w, struct keel_join *until)
{
	struct keel_worker *prev = keel__tls_worker;

	keel__tls_worker = w;
	keel__worker_pin(w); /* --cpus: cpus.c */
	while (!(until && keel_join_is_finished(until)) &&
	       !atomic_load_explicit(&w->stop, memory_order_relaxed) &&
	       !atomic_load_explicit(&w->rt->shutdown, memory_order_relaxed)) {
		size_t busy;
		bool idle;

		KEEL__COUNT(w, ticks, 1);
		w->now = keel__worker_clock(w);
		busy = worker_run_tasks(w);
		busy += worker_drain_inbox(w);
		if (w->rt->sched->tick)
			busy += w->rt->sched->tick(w->rt->sched_impl, w);
		busy += keel__ready_fire(w);
		/* Nothing left to run and the park is the poll: the drivers are
		 * left to the park, so a service that answers what one wake
		 * brought waits once, not polls, ticks and then waits. */
		idle = w->park_polls && !worker_has_tasks(w) &&
		       !(until && keel_join_is_finished(until));
		if (!idle)
			busy += worker_poll_drivers(w);
		busy += worker_fire_timers(w);
		busy += worker_pass_shutdown(w);
		if ((!busy || idle) && !worker_has_tasks(w))
			worker_park(w);
	}
	atomic_store(&w->stop, false);
	keel__tls_worker = prev;
}

void keel_worker_unpark(struct keel_worker *w)
{
	keel__worker_unpark(w);
}

bool keel_worker_parked(const struct keel_worker *w)
{
	return atomic_load(&w->parked);
}

unsigned keel_runtime_idle(const struct keel_runtime *rt)
{
	return atomic_load(&rt->idle);
}

struct keel_worker *keel_runtime_worker(const struct keel_runtime *rt,
					unsigned i)
{
	return i < rt->nworkers ? rt->workers[i] : NULL;
}

void keel_worker_stop(struct keel_worker *w)
{
	atomic_store(&w->stop, true);
	keel__worker_unpark(w);
}

/* ------------------------------------------------------ create / destroy */

static void worker_free(struct keel_worker *w);

int keel_worker_create(struct keel_runtime *rt, unsigned index,
		       struct keel_worker **out)
{
	struct keel_worker *w;
	int rc;

	if (!rt || !out || rt->nworkers == KEEL__MAX_WORKERS)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->rt = rt;
	w->index = index;
	w->shared = rt->shared;
	atomic_flag_clear(&w->lock.f);
	w->epfd = w->unpark_fd = -1;
	for (unsigned i = 0; i < KEEL__MAX_DRIVERS; i++)
		w->drv[i].wait_fd = -1;
	keel_list_init(&w->runq);
	keel_list_init(&w->homeq);
	keel_list_init(&w->freeq);
	keel_list_init(&w->fired_ready);
	keel_list_init(&w->tasks);
	pthread_mutex_init(&w->inbox_lock, NULL);
	w->calls_tail = &w->calls_head;
	pthread_cond_init(&w->idle_cond, NULL);
	w->now = keel__worker_clock(w);
	keel__wheel_init(&w->wheel, w->now / KEEL_TIMER_TICK_NS);
	/* Other workers touch this wheel on a migrating runtime (stopping a
	 * timer of a task that moved), and under the test clock (looking for
	 * the earliest timer). */
	w->wheel.lock = w->shared || rt->cfg.test_clock ? &w->lock : NULL;

	for (unsigned i = 0; i < rt->ndrivers; i++) {
		const struct keel_driver_ops *ops = rt->drivers[i];

		rc = ops->create(w, rt->driver_args[i], &w->drv[i].impl);
		if (rc < 0)
			goto err;
		w->drv[i].ops = ops;
		w->ndrv = i + 1;
		if (!w->tcp_drv && ops->tcp_connect)
			w->tcp_drv = &w->drv[i];
	}
	w->udp_drv = w->ndrv ? &w->drv[0] : NULL;
	w->park_polls = w->ndrv == 1 && w->drv[0].ops->park_polls &&
			!rt->cfg.test_clock;
	if (w->ndrv > 1 && (rc = worker_epoll_init(w)) < 0) {
		keel_log(KEEL_LOG_ERROR, "keel: worker %u: the wait for its %u drivers: %s",
			index, w->ndrv, strerror(-rc));
		goto err;
	}
	rt->workers[rt->nworkers++] = w;
	*out = w;
	return 0;
err:
	for (unsigned i = w->ndrv; i-- > 0;)
		w->drv[i].ops->destroy(w->drv[i].impl);
	worker_free(w);
	return rc;
}

static bool task_live(struct keel_task *t)
{
	return !(atomic_load(&t->state) & KEEL__T_DONE);
}

/* Cancel one live task of \p w, if any; its drop runs here. */
static bool worker_cancel_one(struct keel_worker *w)
{
	for (struct keel_list *n = w->tasks.next; n != &w->tasks; n = n->next) {
		struct keel_task *t = KEEL_CONTAINER_OF(n, struct keel_task, all);

		if (task_live(t)) {
			atomic_fetch_add(&t->refs, 1); /* across a free */
			keel__task_cancel_now(t);
			keel__task_release(t);
			return true;
		}
	}
	return false;
}

/* Drop the join wakers a finished task still holds (they pin others). */
static bool worker_drop_joiners(struct keel_worker *w)
{
	for (struct keel_list *n = w->tasks.next; n != &w->tasks; n = n->next) {
		struct keel_task *t = KEEL_CONTAINER_OF(n, struct keel_task, all);

		if (t->join_waker.ops) {
			atomic_fetch_add(&t->refs, 1);
			keel_waker_drop(&t->join_waker);
			keel__task_release(t);
			return true;
		}
	}
	return false;
}

static void worker_free(struct keel_worker *w)
{
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->unpark_fd >= 0)
		close(w->unpark_fd);
	keel__cache_fini(&w->cache);
	pthread_mutex_destroy(&w->inbox_lock);
	pthread_cond_destroy(&w->idle_cond);
	free(w);
}

/*
 * Tear down every worker of \p rt, all of them stopped. In phases across
 * all workers, because a task on one may hold references to tasks of
 * another: cancel every live task (drops run), then disarm the wheels and
 * destroy the drivers (they release the wakers their sockets hold), then
 * reclaim what is still referenced (join handles never awaited or
 * detached: counted as leaked) and free the memory.
 */
void keel__runtime_teardown(struct keel_runtime *rt)
{
	struct keel_worker *prev = keel__tls_worker;
	bool again;

	rt->tearing_down = true;
#define EACH_WORKER(w) \
	for (unsigned i_ = 0; i_ < rt->nworkers && ((w) = rt->workers[i_], keel__tls_worker = (w), 1); i_++)
	struct keel_worker *w;

	do {
		again = false;
		EACH_WORKER(w) {
			while (worker_cancel_one(w))
				again = true;
			again |= worker_drain_inbox(w) > 0;
		}
	} while (again);
	EACH_WORKER(w) {
		struct keel_list *n;

		keel__wheel_clear(&w->wheel);
		while ((n = keel_list_pop_front(&w->fired_ready)))
			;
	}
	EACH_WORKER(w) {
		for (unsigned d = w->ndrv; d-- > 0;)
			w->drv[d].ops->destroy(w->drv[d].impl);
		w->ndrv = 0;
	}
	do {
		again = false;
		EACH_WORKER(w) {
			while (worker_drop_joiners(w))
				again = true;
			again |= worker_drain_inbox(w) > 0;
		}
	} while (again);
	EACH_WORKER(w) {
		struct keel_list *n;

		while ((n = keel_list_pop_front(&w->tasks))) {
			struct keel_task *t = KEEL_CONTAINER_OF(n, struct keel_task, all);

			KEEL__COUNT(w, leaked, 1);
			keel__cache_free(&w->cache, t, t->cls);
		}
		if (w->stats.leaked && rt->cfg.stats)
			keel_log(KEEL_LOG_WARN, "keel: worker %u: %" PRIu64 " tasks were "
				"neither joined nor detached", w->index,
				atomic_load(&w->stats.leaked));
	}
#undef EACH_WORKER
	keel__tls_worker = prev;
	for (unsigned i = 0; i < rt->nworkers; i++)
		worker_free(rt->workers[i]);
	rt->nworkers = 0;
}

/* ------------------------------------------------------------- accessors */

struct keel_worker *keel_cx_worker(struct keel_cx *cx)
{
	return cx->worker;
}

unsigned keel_worker_index(const struct keel_worker *w)
{
	return w->index;
}

bool keel_worker_migrating(const struct keel_worker *w)
{
	return w->shared;
}

struct keel_runtime *keel_cx_runtime(struct keel_cx *cx)
{
	return cx->worker->rt;
}

void *keel_cx_driver(struct keel_cx *cx, const struct keel_driver_ops *ops)
{
	struct keel_worker *w = cx->worker;

	for (unsigned i = 0; i < w->ndrv; i++)
		if (w->drv[i].ops == ops)
			return w->drv[i].impl;
	return NULL;
}
