/* SPDX-License-Identifier: MIT */
/* User-space readiness sources (keel/ready.h), on every scheduler. */
#include <errno.h>
#include <keel/test.h>

#define TASKS 64
#define TRIPS 300

/* The seed's poll_reactor: if ready, count; else set readiness through the
 * reactor and pend. */
struct tripper {
	struct keel_co co;
	struct keel_ready r;
	int trips;
};

static intptr_t trip_step(struct tripper *t, struct keel_cx *cx)
{
	if (keel_ready_poll(cx, &t->r) == 0)
		return 0;
	keel_ready_set(cx, &t->r);
	return KEEL_PENDING;
}

static intptr_t tripper_poll(void *frame, struct keel_cx *cx)
{
	struct tripper *t = frame;
	intptr_t r;

	KEEL_BEGIN(t);
	for (t->trips = 0; t->trips < TRIPS; t->trips++)
		KEEL_AWAIT(t, r, trip_step(t, cx));
	(void)r;
	KEEL_RETURN(t, t->trips);
	KEEL_END(t);
}

struct t_trips {
	struct keel_co co;
	struct keel_join *j[TASKS];
	struct keel_timer t;
	intptr_t r;
	int i;
};

/* Regression: a source set by a task that had moved to another worker was
 * queued on a parked worker's list without waking it, and the trip hung. */
KEEL_TEST(ready, set_from_another_worker_wakes_the_owner, struct t_trips)
{
	KEEL_BEGIN(f);
	for (f->i = 0; f->i < TASKS; f->i++)
		cr_assert_eq(KEEL_SPAWN(cx, tripper_poll, NULL, &f->j[f->i],
					struct tripper, .trips = 0), 0);
	for (f->i = 0; f->i < TASKS; f->i++) {
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 20 * KEEL_SEC,
						 keel_join_poll(cx, f->j[f->i])));
		cr_assert_eq(f->r, TRIPS, "task %d: %ld (-ETIMEDOUT: a lost wake)",
			     f->i, (long)f->r);
	}
	KEEL_END(f);
}

struct t_api {
	struct keel_co co;
	struct keel_ready r;
	intptr_t res;
};

KEEL_TEST(ready, set_before_poll_is_ready_once, struct t_api)
{
	KEEL_BEGIN(f);
	keel_ready_set(cx, &f->r);
	keel_ready_set(cx, &f->r); /* sets coalesce */
	cr_assert_eq(keel_ready_poll(cx, &f->r), 0);
	cr_assert_eq(keel_ready_poll(cx, &f->r), KEEL_PENDING, "readiness was cleared");
	keel_ready_stop(&f->r);
	cr_assert_eq(keel_ready_poll(NULL, &f->r), -EINVAL);
	KEEL_END(f);
}
