/* SPDX-License-Identifier: MIT */
/* core/timer.c: sleeps, intervals and timeouts, on the test clock. */
#include <errno.h>
#include <keel/test.h>

/* Sleepers record the order in which they wake. */
struct sleeper {
	struct keel_co co;
	struct keel_timer t;
	uint64_t ms;
	int id;
	int *order;
	int *n;
	uint64_t *woke_at;
	intptr_t r;
};

static intptr_t sleeper_poll(void *frame, struct keel_cx *cx)
{
	struct sleeper *s = frame;

	KEEL_BEGIN(s);
	KEEL_AWAIT(s, s->r, keel_sleep_for(cx, &s->t, s->ms * KEEL_MS));
	s->order[(*s->n)++] = s->id;
	s->woke_at[s->id] = keel_now(cx);
	KEEL_END(s);
}

struct t_order {
	struct keel_co co;
	struct keel_join *j[6];
	int order[6], n, i;
	uint64_t woke_at[6], start;
	intptr_t r;
};

KEEL_TEST_PAUSED(timer, sleeps_wake_in_deadline_order, struct t_order)
{
	static const uint64_t ms[6] = { 300, 5, 70000, 64, 1, 4096 };
	static const int expect[6] = { 4, 1, 3, 0, 5, 2 };

	KEEL_BEGIN(f);
	f->start = keel_now(cx);
	for (f->i = 0; f->i < 6; f->i++)
		cr_assert_eq(KEEL_SPAWN(cx, sleeper_poll, NULL, &f->j[f->i],
					struct sleeper, .ms = ms[f->i], .id = f->i,
					.order = f->order, .n = &f->n,
					.woke_at = f->woke_at), 0);
	for (f->i = 0; f->i < 6; f->i++)
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j[f->i]));
	cr_assert_eq(f->n, 6);
	for (int i = 0; i < 6; i++) {
		uint64_t slept = f->woke_at[i] - f->start;

		cr_assert_eq(f->order[i], expect[i], "wake %d: %d, want %d", i,
			     f->order[i], expect[i]);
		/* Never early; on the test clock, exactly on the tick. */
		cr_assert_geq(slept, ms[i] * KEEL_MS);
		cr_assert_lt(slept, ms[i] * KEEL_MS + KEEL_TIMER_TICK_NS);
	}
	KEEL_END(f);
}

struct t_sleep {
	struct keel_co co;
	struct keel_timer t;
	uint64_t start;
	intptr_t r;
	int i;
};

KEEL_TEST_PAUSED(timer, sleep_until_and_reuse, struct t_sleep)
{
	KEEL_BEGIN(f);
	f->start = keel_now(cx);
	KEEL_AWAIT(f, f->r, keel_sleep_until(cx, &f->t, f->start + 3 * KEEL_SEC));
	cr_assert_eq(f->r, 0);
	cr_assert_geq(keel_now(cx), f->start + 3 * KEEL_SEC);
	cr_assert_not(keel_timer_armed(&f->t));
	/* A deadline in the past is ready at once. */
	cr_assert_eq(keel_sleep_until(cx, &f->t, f->start), 0);
	/* The same timer again, for an hour: virtual time does not wait. */
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, 3600 * KEEL_SEC));
	cr_assert_geq(keel_now(cx), f->start + 3603 * KEEL_SEC);
	KEEL_END(f);
}

KEEL_TEST_PAUSED(timer, interval_does_not_drift, struct t_sleep)
{
	static struct keel_interval iv;

	KEEL_BEGIN(f);
	iv = (struct keel_interval){ 0 };
	f->start = keel_now(cx);
	for (f->i = 1; f->i <= 100; f->i++) {
		KEEL_AWAIT(f, f->r, keel_interval_tick(cx, &iv, 7 * KEEL_MS));
		cr_assert_eq(f->r, 1);
		/* Tick k at start + k*period, to the tick, for all k. */
		cr_assert_geq(keel_now(cx), f->start + (uint64_t)f->i * 7 * KEEL_MS);
		cr_assert_lt(keel_now(cx),
			     f->start + (uint64_t)f->i * 7 * KEEL_MS + KEEL_TIMER_TICK_NS);
	}
	/* Fall behind by 3.5 periods: the next tick reports the missed ones. */
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, 7 * KEEL_MS * 7 / 2));
	KEEL_AWAIT(f, f->r, keel_interval_tick(cx, &iv, 7 * KEEL_MS));
	cr_assert_eq(f->r, 3, "ticks at +7, +14, +21 ms passed: %ld", (long)f->r);
	cr_assert_eq(keel_interval_tick(cx, &(struct keel_interval){ 0 }, 0), -EINVAL);
	KEEL_END(f);
}

/* A future that never completes, to wrap in a timeout. */
static intptr_t never(struct keel_cx *cx, int *polls)
{
	(void)cx;
	(*polls)++;
	return KEEL_PENDING;
}

struct t_timeout {
	struct keel_co co;
	struct keel_timer t, t2;
	struct keel_join *j;
	uint64_t start;
	intptr_t r;
	int polls;
};

KEEL_TEST_PAUSED(timer, timeout_fires, struct t_timeout)
{
	KEEL_BEGIN(f);
	f->start = keel_now(cx);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 250 * KEEL_MS, never(cx, &f->polls)));
	cr_assert_eq(f->r, -ETIMEDOUT);
	cr_assert_geq(keel_now(cx) - f->start, 250 * KEEL_MS);
	cr_assert_not(keel_timer_armed(&f->t));
	KEEL_END(f);
}

/* The inner future wins: the timer is disarmed and does not fire later. */
struct ready_later {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
};

static intptr_t ready_later_poll(void *frame, struct keel_cx *cx)
{
	struct ready_later *s = frame;

	KEEL_BEGIN(s);
	KEEL_AWAIT(s, s->r, keel_sleep_for(cx, &s->t, 10 * KEEL_MS));
	KEEL_RETURN(s, 99);
	KEEL_END(s);
}

KEEL_TEST_PAUSED(timer, timeout_not_fired, struct t_timeout)
{
	KEEL_BEGIN(f);
	f->start = keel_now(cx);
	cr_assert_eq(KEEL_SPAWN(cx, ready_later_poll, NULL, &f->j,
				struct ready_later, .r = 0), 0);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 5 * KEEL_SEC, keel_join_poll(cx, f->j)));
	cr_assert_eq(f->r, 99);
	cr_assert_not(keel_timer_armed(&f->t));
	cr_assert_lt(keel_now(cx) - f->start, KEEL_SEC);
	/* Nothing else is armed: the next sleep is the only timer. */
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t2, 20 * KEEL_MS));
	cr_assert_lt(keel_now(cx) - f->start, KEEL_SEC);
	KEEL_END(f);
}

/* On the real clock: a short sleep is not early. */
KEEL_TEST(timer, real_clock_sleep_not_early, struct t_sleep)
{
	KEEL_BEGIN(f);
	f->start = keel_now(cx);
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, 20 * KEEL_MS));
	cr_assert_geq(keel_now(cx) - f->start, 20 * KEEL_MS);
	KEEL_END(f);
}
