/* SPDX-License-Identifier: MIT */
/*
 * keel-bench's workloads, each twice: as a KEEL_BENCH body on a keel
 * runtime, and as the same algorithm on the baseline executor
 * (baseline.h), side by side so that a reader can check they match.
 *
 * The workloads are the seed's (rustasync/runtime benches) and two of
 * tokio's; one iteration is what the seed's `b.iter` times:
 *   smoke            spawn one empty task and join it
 *   notify_self      300 tasks, each waking itself until its 300th poll
 *   spawn_many       spawn 25,000 empty tasks, join them all
 *   poll_reactor     300 tasks x 300 trips through a user-space readiness
 *                    source (keel_ready): set -> pending -> reactor wake
 *   poll_reactor_fd  the same through an eventfd and epoll (keel_event)
 *   poll_reactor_fd_ready  the same as tokio's AsyncFd: write on pending,
 *                    never read; readiness cleared in user space (keel_fd)
 *   yield_many       200 tasks x 1,000 yields
 *   ping_pong        1,000 pairs of tasks exchanging a message each way
 *                    through a oneshot (oneshot.h)
 * Join handles are awaited in spawn order. Tasks are spawned with
 * keel_spawn, so on sched/shard they all stay on the root's shard.
 */
#include <errno.h>
#include <keel/bench.h>
#include <keel/keel.h>
#include <keel/kernel.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "baseline.h"
#include "oneshot.h"

#define NOTIFY_TASKS  300
#define NOTIFY_DEPTH  300
#define SPAWN_MANY    25000
#define REACTOR_TASKS 300
#define REACTOR_TRIPS 300
#define YIELD_TASKS   200
#define YIELD_COUNT   1000
#define PING_PAIRS    1000

/* One iteration at a time runs (the runner runs one runtime at a time),
 * so the handles live here, not in 200 KB frames. */
static struct keel_join *joins[SPAWN_MANY];
static struct base_task *base_joins[SPAWN_MANY];

/* A spawn failed after \p n others succeeded: stop those, give up their
 * handles, and fail the iteration. */
static intptr_t spawn_failed(int rc, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		keel_join_abort(joins[i]);
	return rc;
}

static intptr_t empty_task(void *frame, struct keel_cx *cx)
{
	(void)frame;
	(void)cx;
	return 0;
}

static intptr_t base_empty_task(void *frame, struct base_cx *cx)
{
	(void)frame;
	(void)cx;
	return 0;
}

/* Spawn \p n tasks of \p poll (frame \p frame, \p size bytes) into joins[]. */
static int spawn_n(struct keel_cx *cx, unsigned n, keel_poll_fn *poll,
		   keel_drop_fn *drop, const void *frame, size_t size)
{
	for (unsigned i = 0; i < n; i++) {
		int rc = keel_spawn(cx, poll, drop, frame, size, &joins[i]);

		if (rc < 0)
			return (int)spawn_failed(rc, i);
	}
	return 0;
}

static int base_spawn_n(struct base_cx *cx, unsigned n, base_poll_fn *poll,
			const void *frame, size_t size)
{
	for (unsigned i = 0; i < n; i++) {
		int rc = base_spawn(cx, poll, frame, size, &base_joins[i]);

		if (rc < 0)
			return rc; /* the baseline leaks them: a bench, out of memory */
	}
	return 0;
}

/* The frame that spawns tasks and then joins joins[0..n) in order. */
struct fan {
	struct keel_co co;
	unsigned i;
	intptr_t r;
};

/* ---------------------------------------------------------------- smoke */

BASE_BENCH(base_smoke, struct fan)
{
	int rc;

	KEEL_BEGIN(f);
	rc = base_spawn(cx, base_empty_task, NULL, 0, &base_joins[0]);
	if (rc < 0)
		KEEL_RETURN(f, rc);
	KEEL_AWAIT(f, f->r, base_join_poll(cx, base_joins[0]));
	KEEL_END(f);
}

KEEL_BENCH(smoke, struct fan, .ops = 1, .op = "spawn+join",
	   .what = "spawn one empty task and join it", .baseline = base_smoke)
{
	int rc;

	KEEL_BEGIN(f);
	rc = keel_spawn(cx, empty_task, NULL, NULL, 0, &joins[0]);
	if (rc < 0)
		KEEL_RETURN(f, rc);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, joins[0]));
	KEEL_END(f);
}

/* ---------------------------------------------------------- notify_self */

struct notify {
	unsigned depth;
};

static intptr_t notify_task(void *frame, struct keel_cx *cx)
{
	struct notify *t = frame;

	if (++t->depth == NOTIFY_DEPTH)
		return 0;
	keel_waker_wake_by_ref(keel_cx_waker(cx));
	return KEEL_PENDING;
}

static intptr_t base_notify_task(void *frame, struct base_cx *cx)
{
	struct notify *t = frame;

	if (++t->depth == NOTIFY_DEPTH)
		return 0;
	keel_waker_wake_by_ref(base_cx_waker(cx));
	return KEEL_PENDING;
}

BASE_BENCH(base_notify_self, struct fan)
{
	int rc;

	KEEL_BEGIN(f);
	rc = base_spawn_n(cx, NOTIFY_TASKS, base_notify_task,
			  &(struct notify){ 0 }, sizeof(struct notify));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < NOTIFY_TASKS; f->i++)
		KEEL_AWAIT(f, f->r, base_join_poll(cx, base_joins[f->i]));
	KEEL_END(f);
}

KEEL_BENCH(notify_self, struct fan,
	   .ops = NOTIFY_TASKS * NOTIFY_DEPTH, .op = "self-wake",
	   .what = "300 tasks, each waking itself until its 300th poll",
	   .baseline = base_notify_self)
{
	int rc;

	KEEL_BEGIN(f);
	rc = spawn_n(cx, NOTIFY_TASKS, notify_task, NULL,
		     &(struct notify){ 0 }, sizeof(struct notify));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < NOTIFY_TASKS; f->i++)
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, joins[f->i]));
	KEEL_END(f);
}

/* ----------------------------------------------------------- spawn_many */

BASE_BENCH(base_spawn_many, struct fan)
{
	int rc;

	KEEL_BEGIN(f);
	rc = base_spawn_n(cx, SPAWN_MANY, base_empty_task, NULL, 0);
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < SPAWN_MANY; f->i++)
		KEEL_AWAIT(f, f->r, base_join_poll(cx, base_joins[f->i]));
	KEEL_END(f);
}

KEEL_BENCH(spawn_many, struct fan, .ops = SPAWN_MANY, .op = "spawn+join",
	   .what = "spawn 25,000 empty tasks and join them all",
	   .baseline = base_spawn_many)
{
	int rc;

	KEEL_BEGIN(f);
	rc = spawn_n(cx, SPAWN_MANY, empty_task, NULL, NULL, 0);
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < SPAWN_MANY; f->i++)
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, joins[f->i]));
	KEEL_END(f);
}

/* --------------------------------------------------------- poll_reactor */

/*
 * Each task loops: if its source is ready, count a trip (done at 300);
 * else set the source through the reactor and return pending, to be woken
 * by the reactor's next pass.
 */
struct reactor {
	struct keel_ready r;
	unsigned depth;
};

static intptr_t reactor_task(void *frame, struct keel_cx *cx)
{
	struct reactor *t = frame;

	for (;;) {
		intptr_t r = keel_ready_poll(cx, &t->r);

		if (r == KEEL_PENDING) {
			keel_ready_set(cx, &t->r);
			return KEEL_PENDING;
		}
		if (r < 0)
			return r;
		if (++t->depth == REACTOR_TRIPS)
			return 0;
	}
}

struct base_reactor {
	struct base_ready r;
	unsigned depth;
};

static intptr_t base_reactor_task(void *frame, struct base_cx *cx)
{
	struct base_reactor *t = frame;

	for (;;) {
		intptr_t r = base_ready_poll(cx, &t->r);

		if (r == KEEL_PENDING) {
			base_ready_set(&t->r);
			return KEEL_PENDING;
		}
		if (++t->depth == REACTOR_TRIPS) {
			base_ready_stop(&t->r);
			return 0;
		}
	}
}

BASE_BENCH(base_poll_reactor, struct fan)
{
	int rc;

	KEEL_BEGIN(f);
	rc = base_spawn_n(cx, REACTOR_TASKS, base_reactor_task,
			  &(struct base_reactor){ 0 }, sizeof(struct base_reactor));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < REACTOR_TASKS; f->i++)
		KEEL_AWAIT(f, f->r, base_join_poll(cx, base_joins[f->i]));
	KEEL_END(f);
}

KEEL_BENCH(poll_reactor, struct fan,
	   .ops = REACTOR_TASKS * REACTOR_TRIPS, .op = "trip",
	   .what = "300 tasks x 300 trips through a keel_ready source",
	   .baseline = base_poll_reactor)
{
	int rc;

	KEEL_BEGIN(f);
	rc = spawn_n(cx, REACTOR_TASKS, reactor_task, NULL,
		     &(struct reactor){ 0 }, sizeof(struct reactor));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < REACTOR_TASKS; f->i++)
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, joins[f->i]));
	KEEL_END(f);
}

/* ------------------------------------------------------ poll_reactor_fd */

/* The same loop through the kernel driver's eventfd source: a trip is a
 * write(2), an epoll edge and a read(2). Each task opens its eventfd (as
 * the seed's tasks register theirs), so an iteration also counts 300
 * eventfd opens and closes. The baseline does the same syscalls with its
 * own epoll loop (base_event): the kernel's floor. */
struct reactor_fd {
	struct keel_event ev;
	unsigned depth;
};

static intptr_t reactor_fd_task(void *frame, struct keel_cx *cx)
{
	struct reactor_fd *t = frame;
	int rc;

	if (!t->ev.impl) {
		rc = keel_event_open(cx, &t->ev);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		intptr_t r = keel_event_poll(cx, &t->ev);

		if (r == KEEL_PENDING) {
			rc = keel_event_set(&t->ev);
			return rc < 0 ? rc : KEEL_PENDING;
		}
		if (r < 0)
			return r;
		if (++t->depth == REACTOR_TRIPS)
			return 0;
	}
}

static void reactor_fd_drop(void *frame)
{
	struct reactor_fd *t = frame;

	if (t->ev.impl)
		keel_event_close(&t->ev);
}

struct base_reactor_fd {
	struct base_event ev;
	unsigned depth;
};

static intptr_t base_reactor_fd_task(void *frame, struct base_cx *cx)
{
	struct base_reactor_fd *t = frame;
	int rc;

	if (!t->ev.open) {
		rc = base_event_open(&t->ev);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		intptr_t r = base_event_poll(cx, &t->ev);

		if (r == KEEL_PENDING) {
			rc = base_event_set(&t->ev);
			return rc < 0 ? rc : KEEL_PENDING;
		}
		if (r < 0 || ++t->depth == REACTOR_TRIPS) {
			base_event_close(&t->ev);
			return r < 0 ? r : 0;
		}
	}
}

BASE_BENCH(base_poll_reactor_fd, struct fan)
{
	int rc;

	KEEL_BEGIN(f);
	rc = base_spawn_n(cx, REACTOR_TASKS, base_reactor_fd_task,
			  &(struct base_reactor_fd){ .ev.fd = -1 },
			  sizeof(struct base_reactor_fd));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < REACTOR_TASKS; f->i++) {
		KEEL_AWAIT(f, f->r, base_join_poll(cx, base_joins[f->i]));
		if (f->r < 0)
			KEEL_RETURN(f, f->r); /* the others leak: a bench */
	}
	KEEL_END(f);
}

KEEL_BENCH(poll_reactor_fd, struct fan,
	   .ops = REACTOR_TASKS * REACTOR_TRIPS, .op = "trip",
	   .what = "300 tasks x 300 trips through an eventfd (keel_event)",
	   .baseline = base_poll_reactor_fd)
{
	int rc;

	KEEL_BEGIN(f);
	rc = spawn_n(cx, REACTOR_TASKS, reactor_fd_task, reactor_fd_drop,
		     &(struct reactor_fd){ 0 }, sizeof(struct reactor_fd));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < REACTOR_TASKS; f->i++) {
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, joins[f->i]));
		if (f->r < 0) {
			while (++f->i < REACTOR_TASKS)
				keel_join_abort(joins[f->i]);
			KEEL_RETURN(f, f->r);
		}
	}
	KEEL_END(f);
}

/* ------------------------------------------------ poll_reactor_fd_ready */

/* poll_reactor_fd as tokio's AsyncFd does it: on pending the task writes
 * its eventfd; when epoll reports the edge it clears the readiness in user
 * space (clear_ready) and never reads. Every write to an eventfd is a new
 * edge, so a trip is one write(2) and its share of an epoll_wait. */
struct reactor_ready {
	struct keel_fd h;
	int efd; /* -1 until opened */
	unsigned depth;
};

static int efd_write(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -errno;
}

static intptr_t reactor_ready_task(void *frame, struct keel_cx *cx)
{
	struct reactor_ready *t = frame;
	int rc;

	if (t->efd < 0) {
		t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (t->efd < 0)
			return -errno;
		rc = keel_fd_open(cx, &t->h, t->efd);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		intptr_t r = keel_fd_read_ready(cx, &t->h);

		if (r == KEEL_PENDING) {
			rc = efd_write(t->efd);
			return rc < 0 ? rc : KEEL_PENDING;
		}
		if (r < 0)
			return r;
		keel_fd_clear_read_ready(&t->h);
		if (++t->depth == REACTOR_TRIPS)
			return 0;
	}
}

static void reactor_ready_drop(void *frame)
{
	struct reactor_ready *t = frame;

	if (t->h.impl)
		keel_fd_close(&t->h);
	if (t->efd >= 0)
		close(t->efd);
}

static intptr_t base_reactor_ready_task(void *frame, struct base_cx *cx)
{
	struct base_reactor_fd *t = frame;
	int rc;

	if (!t->ev.open) {
		rc = base_event_open(&t->ev);
		if (rc < 0)
			return rc;
		t->ev.edge = false; /* as keel_fd: not ready until an edge */
	}
	for (;;) {
		intptr_t r = base_event_ready(cx, &t->ev);

		if (r == KEEL_PENDING) {
			rc = base_event_set(&t->ev);
			return rc < 0 ? rc : KEEL_PENDING;
		}
		base_event_clear(&t->ev);
		if (++t->depth == REACTOR_TRIPS) {
			base_event_close(&t->ev);
			return 0;
		}
	}
}

BASE_BENCH(base_poll_reactor_fd_ready, struct fan)
{
	int rc;

	KEEL_BEGIN(f);
	rc = base_spawn_n(cx, REACTOR_TASKS, base_reactor_ready_task,
			  &(struct base_reactor_fd){ .ev.fd = -1 },
			  sizeof(struct base_reactor_fd));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < REACTOR_TASKS; f->i++) {
		KEEL_AWAIT(f, f->r, base_join_poll(cx, base_joins[f->i]));
		if (f->r < 0)
			KEEL_RETURN(f, f->r); /* the others leak: a bench */
	}
	KEEL_END(f);
}

KEEL_BENCH(poll_reactor_fd_ready, struct fan,
	   .ops = REACTOR_TASKS * REACTOR_TRIPS, .op = "trip",
	   .what = "poll_reactor_fd as tokio's AsyncFd: write on pending, no read (keel_fd)",
	   .baseline = base_poll_reactor_fd_ready)
{
	int rc;

	KEEL_BEGIN(f);
	rc = spawn_n(cx, REACTOR_TASKS, reactor_ready_task, reactor_ready_drop,
		     &(struct reactor_ready){ .efd = -1 }, sizeof(struct reactor_ready));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < REACTOR_TASKS; f->i++) {
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, joins[f->i]));
		if (f->r < 0) {
			while (++f->i < REACTOR_TASKS)
				keel_join_abort(joins[f->i]);
			KEEL_RETURN(f, f->r);
		}
	}
	KEEL_END(f);
}

/* ----------------------------------------------------------- yield_many */

struct yielder {
	struct keel_co co;
	unsigned i;
};

static intptr_t yield_task(void *frame, struct keel_cx *cx)
{
	struct yielder *f = frame;

	KEEL_BEGIN(f);
	for (f->i = 0; f->i < YIELD_COUNT; f->i++)
		KEEL_YIELD(f, cx);
	KEEL_END(f);
}

static intptr_t base_yield_task(void *frame, struct base_cx *cx)
{
	struct yielder *f = frame;

	KEEL_BEGIN(f);
	for (f->i = 0; f->i < YIELD_COUNT; f->i++)
		BASE_YIELD(f, cx);
	KEEL_END(f);
}

BASE_BENCH(base_yield_many, struct fan)
{
	int rc;

	KEEL_BEGIN(f);
	rc = base_spawn_n(cx, YIELD_TASKS, base_yield_task,
			  &(struct yielder){ { 0 }, 0 }, sizeof(struct yielder));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < YIELD_TASKS; f->i++)
		KEEL_AWAIT(f, f->r, base_join_poll(cx, base_joins[f->i]));
	KEEL_END(f);
}

KEEL_BENCH(yield_many, struct fan, .ops = YIELD_TASKS * YIELD_COUNT,
	   .op = "yield", .what = "200 tasks x 1,000 yields",
	   .baseline = base_yield_many)
{
	int rc;

	KEEL_BEGIN(f);
	rc = spawn_n(cx, YIELD_TASKS, yield_task, NULL,
		     &(struct yielder){ { 0 }, 0 }, sizeof(struct yielder));
	if (rc < 0)
		KEEL_RETURN(f, rc);
	for (f->i = 0; f->i < YIELD_TASKS; f->i++)
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, joins[f->i]));
	KEEL_END(f);
}

/* ------------------------------------------------------------ ping_pong */

/*
 * tokio's ping_pong: the root spawns 1,000 detached pings; each spawns a
 * detached pong, sends it a message, and awaits the answer; the last ping
 * to finish (an atomic count) tells the root through a oneshot. Both
 * channels of a pair live in the ping's frame, which outlives the pong's
 * use of them (the pong's last touch is its send, which the ping awaits).
 */
struct pp_root {
	struct keel_co co;
	atomic_uint left;
	struct oneshot done;
	unsigned i;
	int err;
	intptr_t r;
};

struct ping {
	struct keel_co co;
	struct pp_root *root;
	struct oneshot to_pong, to_ping;
	intptr_t r;
};

struct pong {
	struct keel_co co;
	struct ping *ping;
	intptr_t r;
};

static void ping_finished(struct pp_root *root)
{
	if (atomic_fetch_sub_explicit(&root->left, 1, memory_order_acq_rel) == 1)
		oneshot_send(&root->done, 0);
}

static intptr_t pong_task(void *frame, struct keel_cx *cx)
{
	struct pong *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, oneshot_poll(&f->ping->to_pong, keel_cx_waker(cx)));
	oneshot_send(&f->ping->to_ping, f->r + 1);
	KEEL_END(f);
}

static intptr_t ping_task(void *frame, struct keel_cx *cx)
{
	struct ping *f = frame;
	int rc;

	KEEL_BEGIN(f);
	/* The frame's address is stable from the first poll on. */
	rc = KEEL_SPAWN(cx, pong_task, NULL, NULL, struct pong, .ping = f);
	if (rc < 0) {
		ping_finished(f->root); /* counted, so the root still ends */
		KEEL_RETURN(f, rc);
	}
	oneshot_send(&f->to_pong, 1);
	KEEL_AWAIT(f, f->r, oneshot_poll(&f->to_ping, keel_cx_waker(cx)));
	ping_finished(f->root);
	KEEL_END(f);
}

static intptr_t base_pong_task(void *frame, struct base_cx *cx)
{
	struct pong *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, oneshot_poll(&f->ping->to_pong, base_cx_waker(cx)));
	oneshot_send(&f->ping->to_ping, f->r + 1);
	KEEL_END(f);
}

static intptr_t base_ping_task(void *frame, struct base_cx *cx)
{
	struct ping *f = frame;
	int rc;

	KEEL_BEGIN(f);
	rc = base_spawn(cx, base_pong_task, &(struct pong){ .ping = f },
			sizeof(struct pong), NULL);
	if (rc < 0) {
		ping_finished(f->root);
		KEEL_RETURN(f, rc);
	}
	oneshot_send(&f->to_pong, 1);
	KEEL_AWAIT(f, f->r, oneshot_poll(&f->to_ping, base_cx_waker(cx)));
	ping_finished(f->root);
	KEEL_END(f);
}

/*
 * A spawn failed with \p rc after \p spawned pings started: those must
 * still count down before the root's frame may go. \return true when
 * they all have already (the root may return now), else the root awaits
 * `done` and returns the error.
 */
static bool pp_spawn_failed(struct pp_root *f, unsigned spawned, int rc)
{
	unsigned never = PING_PAIRS - spawned;

	f->err = rc;
	return atomic_fetch_sub_explicit(&f->left, never, memory_order_acq_rel) ==
	       never;
}

BASE_BENCH(base_ping_pong, struct pp_root)
{
	int rc;

	KEEL_BEGIN(f);
	atomic_store_explicit(&f->left, PING_PAIRS, memory_order_relaxed);
	for (f->i = 0; f->i < PING_PAIRS; f->i++) {
		rc = base_spawn(cx, base_ping_task, &(struct ping){ .root = f },
				sizeof(struct ping), NULL);
		if (rc < 0 && pp_spawn_failed(f, f->i, rc))
			KEEL_RETURN(f, rc);
		if (rc < 0)
			break;
	}
	KEEL_AWAIT(f, f->r, oneshot_poll(&f->done, base_cx_waker(cx)));
	KEEL_RETURN(f, f->err ? f->err : f->r);
	KEEL_END(f);
}

KEEL_BENCH(ping_pong, struct pp_root, .ops = PING_PAIRS, .op = "pair",
	   .what = "1,000 task pairs, one message each way through oneshots",
	   .baseline = base_ping_pong)
{
	int rc;

	KEEL_BEGIN(f);
	atomic_store_explicit(&f->left, PING_PAIRS, memory_order_relaxed);
	for (f->i = 0; f->i < PING_PAIRS; f->i++) {
		rc = KEEL_SPAWN(cx, ping_task, NULL, NULL, struct ping, .root = f);
		if (rc < 0 && pp_spawn_failed(f, f->i, rc))
			KEEL_RETURN(f, rc);
		if (rc < 0)
			break;
	}
	KEEL_AWAIT(f, f->r, oneshot_poll(&f->done, keel_cx_waker(cx)));
	KEEL_RETURN(f, f->err ? f->err : f->r);
	KEEL_END(f);
}

KEEL_BENCH_MAIN()
