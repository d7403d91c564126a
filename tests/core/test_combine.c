/* SPDX-License-Identifier: MIT */
/*
 * core/combine.c and the macros over it: inline awaits, select with a
 * dropped loser, join-all, groups, periodic tasks, signals, the shutdown
 * signal, keel_timeout_at. Run on every scheduler (KEEL_SCHED): children
 * may run on other threads, so what they share is atomic.
 */
#include "core_internal.h" /* rt->graceful: the watcher is in place */

#include <errno.h>
#include <keel/test.h>
#include <stdatomic.h>

/* ------------------------------------------------------- inline awaits */

struct nap {
	struct keel_co co;
	struct keel_timer t;
	uint64_t ns;
	int x;
	int *runs;
	intptr_t r;
};

static intptr_t nap(void *frame, struct keel_cx *cx)
{
	struct nap *f = frame;

	KEEL_BEGIN(f);
	++*f->runs;
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, f->ns));
	KEEL_RETURN(f, f->x * 2);
	KEEL_END(f);
}

struct callf {
	struct keel_co co;
	struct nap child;
	int runs, i;
	intptr_t r, sum;
};

/* Awaited twice in a loop: the child is restarted (zeroed) each time, so
 * its body runs twice, where awaiting a finished frame returned at once. */
KEEL_TEST_PAUSED(combine, await_call_runs_child_each_time, struct callf)
{
	KEEL_BEGIN(f);
	for (f->i = 1; f->i <= 2; f->i++) {
		KEEL_AWAIT_CALL(f, cx, f->r, nap, f->child, .ns = 10 * KEEL_MS,
				.x = f->i, .runs = &f->runs);
		f->sum += f->r;
	}
	cr_assert_eq(f->runs, 2);
	cr_assert_eq(f->sum, 2 + 4);
	cr_assert_geq(keel_now(cx), 20 * KEEL_MS);
	KEEL_END(f);
}

/* -------------------------------------------------------------- select */

struct self {
	struct keel_co co;
	struct nap slow, fast;
	int runs, which;
	intptr_t r;
	uint64_t t0;
};

KEEL_TEST_PAUSED(combine, select_children_loser_dropped, struct self)
{
	KEEL_BEGIN(f);
	f->t0 = keel_now(cx);
	KEEL_FRAME_INIT(cx, f->slow, .ns = 10 * KEEL_SEC, .x = 1, .runs = &f->runs);
	KEEL_FRAME_INIT(cx, f->fast, .ns = 5 * KEEL_MS, .x = 2, .runs = &f->runs);
	KEEL_SELECT(f, f->which, f->r, nap(&f->slow, cx), nap(&f->fast, cx));
	cr_assert_eq(f->which, 1);
	cr_assert_eq(f->r, 4);
	cr_assert(keel_timer_armed(&f->slow.t), "the loser's timer is armed");
	keel_frame_drop(cx, &f->slow, sizeof(f->slow));
	cr_assert_not(keel_timer_armed(&f->slow.t));
	cr_assert_eq(f->slow.co.line, 0u);
	/* Nothing is left to wake us: a sleep ends on time, not at 10 s. */
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->fast.t, 5 * KEEL_MS));
	cr_assert_lt(keel_now(cx) - f->t0, KEEL_SEC);
	KEEL_END(f);
}

/* --------------------------------------------------------- join handles */

struct sq {
	struct keel_co co;
	struct keel_timer t;
	intptr_t x, r;
};

static intptr_t square(void *frame, struct keel_cx *cx)
{
	struct sq *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, (uint64_t)(5 - f->x) * KEEL_MS));
	KEEL_RETURN(f, f->x * f->x);
	KEEL_END(f);
}

struct joinf {
	struct keel_co co;
	struct keel_join *j[5];
	intptr_t res[5], r;
};

KEEL_TEST(combine, join_all, struct joinf)
{
	KEEL_BEGIN(f);
	for (intptr_t i = 0; i < 5; i++)
		cr_assert_eq(KEEL_SPAWN(cx, square, NULL, &f->j[i], struct sq, .x = i), 0);
	KEEL_AWAIT(f, f->r, keel_join_all(cx, f->j, 5, f->res));
	cr_assert_eq(f->r, 0);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(f->res[i], i * i);
		cr_assert_null(f->j[i], "a finished handle was consumed");
	}
	KEEL_END(f);
}

/* --------------------------------------------------------------- groups */

static atomic_int dropped, finished_ok;

struct sleeper {
	struct keel_co co;
	struct keel_timer t;
	uint64_t ns;
	intptr_t ret, r;
};

static intptr_t sleeper(void *frame, struct keel_cx *cx)
{
	struct sleeper *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, f->ns));
	atomic_fetch_add(&finished_ok, 1);
	KEEL_RETURN(f, f->ret);
	KEEL_END(f);
}

static void sleeper_drop(void *frame)
{
	(void)frame;
	atomic_fetch_add(&dropped, 1);
}

struct groupf {
	struct keel_co co;
	struct keel_group g;
	intptr_t r;
	int i;
};

KEEL_TEST(combine, group_shutdown_cancels_and_awaits_all, struct groupf)
{
	KEEL_BEGIN(f);
	atomic_store(&dropped, 0);
	atomic_store(&finished_ok, 0);
	for (f->i = 0; f->i < 10; f->i++)
		cr_assert_eq(KEEL_GROUP_SPAWN(cx, &f->g, sleeper, sleeper_drop,
					      struct sleeper, .ns = 30 * KEEL_SEC), 0);
	cr_assert_eq(keel_group_size(&f->g), 10u);
	KEEL_AWAIT(f, f->r, keel_group_shutdown(cx, &f->g));
	cr_assert_eq(f->r, 0, "cancelled members are not an error");
	cr_assert_eq(atomic_load(&dropped), 10, "every member was dropped");
	cr_assert_eq(atomic_load(&finished_ok), 0);
	cr_assert_eq(keel_group_size(&f->g), 0u);
	keel_group_destroy(&f->g);
	KEEL_END(f);
}

KEEL_TEST(combine, group_join_reports_first_error, struct groupf)
{
	KEEL_BEGIN(f);
	cr_assert_eq(KEEL_GROUP_SPAWN(cx, &f->g, sleeper, NULL, struct sleeper,
				      .ns = KEEL_MS, .ret = 0), 0);
	cr_assert_eq(KEEL_GROUP_SPAWN(cx, &f->g, sleeper, NULL, struct sleeper,
				      .ns = 2 * KEEL_MS, .ret = -EIO), 0);
	cr_assert_eq(KEEL_GROUP_SPAWN(cx, &f->g, sleeper, NULL, struct sleeper,
				      .ns = 3 * KEEL_MS, .ret = 7), 0);
	KEEL_AWAIT(f, f->r, keel_group_join(cx, &f->g));
	cr_assert_eq(f->r, -EIO);
	/* Empty again, and the error was reset. */
	cr_assert_eq(KEEL_GROUP_SPAWN(cx, &f->g, sleeper, NULL, struct sleeper,
				      .ns = KEEL_MS), 0);
	KEEL_AWAIT(f, f->r, keel_group_join(cx, &f->g));
	cr_assert_eq(f->r, 0);
	keel_group_destroy(&f->g);
	KEEL_END(f);
}

/* A long-lived group (a task per request) does not keep finished handles. */
KEEL_TEST(combine, group_reaps_finished_members, struct groupf)
{
	KEEL_BEGIN(f);
	atomic_store(&finished_ok, 0);
	for (f->i = 0; f->i < 100; f->i++) {
		cr_assert_eq(KEEL_GROUP_SPAWN(cx, &f->g, sleeper, NULL, struct sleeper,
					      .ns = 0), 0);
		while (atomic_load(&finished_ok) <= f->i)
			KEEL_YIELD(f, cx);
	}
	cr_assert_lt(keel_group_size(&f->g), 20u, "size %zu", keel_group_size(&f->g));
	KEEL_AWAIT(f, f->r, keel_group_join(cx, &f->g));
	cr_assert_eq(f->r, 0);
	keel_group_destroy(&f->g);
	KEEL_END(f);
}

/* A group still full at the end is released by keel_group_destroy (what a
 * frame's drop does): the members are cancelled, nothing leaks (ASan). */
KEEL_TEST(combine, group_destroy_aborts_members, struct groupf)
{
	KEEL_BEGIN(f);
	atomic_store(&dropped, 0);
	for (f->i = 0; f->i < 4; f->i++)
		cr_assert_eq(KEEL_GROUP_SPAWN(cx, &f->g, sleeper, sleeper_drop,
					      struct sleeper, .ns = 30 * KEEL_SEC), 0);
	keel_group_destroy(&f->g);
	while (atomic_load(&dropped) < 4)
		KEEL_YIELD(f, cx);
	cr_assert_eq(keel_group_size(&f->g), 0u);
	KEEL_END(f);
}

/* ------------------------------------------------------ periodic tasks */

static intptr_t count_ticks(struct keel_cx *cx, void *arg, uint64_t ticks)
{
	atomic_int *n = arg;

	(void)cx;
	return atomic_fetch_add(n, (int)ticks) + (int)ticks >= 5 ? 99 : 0;
}

struct perf {
	struct keel_co co;
	struct keel_join *j;
	atomic_int n;
	intptr_t r;
	uint64_t t0;
};

KEEL_TEST_PAUSED(combine, periodic_task_ticks, struct perf)
{
	KEEL_BEGIN(f);
	f->t0 = keel_now(cx);
	cr_assert_eq(keel_spawn_periodic(cx, 10 * KEEL_MS, count_ticks, &f->n, &f->j), 0);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
	cr_assert_eq(f->r, 99, "the body's non-zero result ends the task");
	cr_assert_eq(atomic_load(&f->n), 5);
	cr_assert_geq(keel_now(cx) - f->t0, 50 * KEEL_MS);
	cr_assert_eq(keel_spawn_periodic(cx, 0, count_ticks, &f->n, NULL), -EINVAL);
	KEEL_END(f);
}

/* ------------------------------------------------------- timeout_at */

struct tof {
	struct keel_co co;
	struct keel_timer t;
	struct keel_ready never;
	uint64_t deadline;
	intptr_t r;
};

KEEL_TEST_PAUSED(combine, timeout_at_one_deadline, struct tof)
{
	KEEL_BEGIN(f);
	f->deadline = keel_now(cx) + 50 * KEEL_MS;
	KEEL_AWAIT(f, f->r, keel_timeout_at(cx, &f->t, f->deadline,
					    keel_ready_poll(cx, &f->never)));
	cr_assert_eq(f->r, -ETIMEDOUT);
	cr_assert_geq(keel_now(cx), f->deadline);
	cr_assert_lt(keel_now(cx), f->deadline + 10 * KEEL_MS);
	/* A deadline already passed: at once. */
	cr_assert_eq(keel_timeout_at(cx, &f->t, f->deadline, KEEL_PENDING), -ETIMEDOUT);
	/* Ready inner: passed through, timer disarmed. */
	cr_assert_eq(keel_timeout_at(cx, &f->t, keel_now(cx) + KEEL_SEC, 7), 7);
	cr_assert_not(keel_timer_armed(&f->t));
	/* Armed for one deadline, then asked for an earlier one: re-armed. */
	cr_assert_eq(keel_timeout_at(cx, &f->t, keel_now(cx) + KEEL_SEC, KEEL_PENDING),
		     KEEL_PENDING);
	f->deadline = keel_now(cx) + 20 * KEEL_MS;
	KEEL_AWAIT(f, f->r, keel_timeout_at(cx, &f->t, f->deadline,
					    keel_ready_poll(cx, &f->never)));
	cr_assert_eq(f->r, -ETIMEDOUT);
	cr_assert_lt(keel_now(cx), f->deadline + 10 * KEEL_MS);
	keel_ready_stop(&f->never);
	KEEL_END(f);
}

/* -------------------------------------------------------------- signals */

static atomic_int woke;

struct waiter {
	struct keel_co co;
	struct keel_signal *s;
	struct keel_waiter w;
	struct keel_ready never;
	int which;
	intptr_t r;
};

/* Waits in a select beside a source that never fires, as a server does. */
static intptr_t waiter(void *frame, struct keel_cx *cx)
{
	struct waiter *f = frame;

	KEEL_BEGIN(f);
	KEEL_SELECT(f, f->which, f->r, keel_ready_poll(cx, &f->never),
		    f->s ? keel_signal_wait(cx, f->s, &f->w)
			 : keel_shutdown_wait(cx, &f->w));
	keel_ready_stop(&f->never);
	if (f->which == 1 && f->r == 0)
		atomic_fetch_add(&woke, 1);
	KEEL_RETURN(f, f->which == 1 ? f->r : -EPROTO);
	KEEL_END(f);
}

#define NWAIT 40

struct sigf {
	struct keel_co co;
	struct keel_signal *s;
	struct keel_join *j[NWAIT];
	struct keel_join *gone;
	intptr_t res[NWAIT], r;
	int i;
};

KEEL_TEST(combine, signal_wakes_every_waiter, struct sigf)
{
	KEEL_BEGIN(f);
	atomic_store(&woke, 0);
	cr_assert_eq(keel_signal_create(&f->s), 0);
	for (f->i = 0; f->i < NWAIT; f->i++)
		cr_assert_eq(KEEL_SPAWN(cx, waiter, NULL, &f->j[f->i], struct waiter,
					.s = f->s), 0);
	/* One waiter is cancelled while it waits: its entry must not hurt. */
	cr_assert_eq(KEEL_SPAWN(cx, waiter, NULL, &f->gone, struct waiter, .s = f->s), 0);
	for (f->i = 0; f->i < 50; f->i++)
		KEEL_YIELD(f, cx);
	keel_join_cancel(f->gone);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->gone));
	cr_assert_eq(f->r, -ECANCELED);
	cr_assert_not(keel_signal_is_set(f->s));
	keel_signal_set(f->s);
	keel_signal_set(f->s); /* twice: nothing more */
	KEEL_AWAIT(f, f->r, keel_join_all(cx, f->j, NWAIT, f->res));
	for (f->i = 0; f->i < NWAIT; f->i++)
		cr_assert_eq(f->res[f->i], 0);
	cr_assert_eq(atomic_load(&woke), NWAIT);
	cr_assert(keel_signal_is_set(f->s));
	keel_signal_destroy(f->s);
	KEEL_END(f);
}

/* Any number of tasks await the shutdown; the root is one of them. */
struct shutf {
	struct keel_co co;
	struct keel_join *j[3];
	struct keel_waiter w;
	intptr_t res[3], r;
	int i;
};

KEEL_TEST(combine, shutdown_wakes_every_waiter, struct shutf)
{
	KEEL_BEGIN(f);
	atomic_store(&woke, 0);
	for (f->i = 0; f->i < 3; f->i++)
		cr_assert_eq(KEEL_SPAWN(cx, waiter, NULL, &f->j[f->i], struct waiter), 0);
	cr_assert_eq(keel_shutdown_wait(cx, &f->w), KEEL_PENDING);
	/* A request before the watcher awaits keel_shutdown_poll would stop
	 * the runtime outright: wait (bounded) until it does. */
	for (f->i = 0; !atomic_load(&keel_cx_runtime(cx)->graceful); f->i++) {
		cr_assert_lt(f->i, 1000000, "the shutdown watcher never ran");
		KEEL_YIELD(f, cx);
	}
	keel_runtime_shutdown(keel_cx_runtime(cx));
	KEEL_AWAIT(f, f->r, keel_shutdown_wait(cx, &f->w));
	cr_assert_eq(f->r, 0);
	KEEL_AWAIT(f, f->r, keel_join_all(cx, f->j, 3, f->res));
	for (f->i = 0; f->i < 3; f->i++)
		cr_assert_eq(f->res[f->i], 0);
	cr_assert_eq(atomic_load(&woke), 3);
	KEEL_END(f);
}
