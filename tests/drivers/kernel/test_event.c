/* SPDX-License-Identifier: MIT */
/* drivers/kernel/event.c: the eventfd readiness source, set from this
 * thread and from others. */
#include "ktest.h"

#include <pthread.h>
#include <time.h>

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* -------------------------------------------------------- same thread */

struct ev_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_event ev, other;
	pthread_t th;
	unsigned total, rounds;
	struct keel_driver_stats before;
};

KEEL_TEST(event, sets_coalesce_into_a_count, struct ev_frame)
{
	KEEL_BEGIN(f);
	cr_assert_eq(keel_event_open(cx, &f->ev), 0);
	cr_assert_eq(keel_event_set(&f->ev), 0);
	cr_assert_eq(keel_event_set(&f->ev), 0);
	cr_assert_eq(keel_event_set(&f->ev), 0);
	KT_AWAIT(f, keel_event_poll(cx, &f->ev));
	cr_assert_eq(f->r, 3);
	/* Read: nothing left until the next set. */
	cr_assert_eq(keel_event_poll(cx, &f->ev), KEEL_PENDING);
	cr_assert_eq(keel_event_set(&f->ev), 0);
	KT_AWAIT(f, keel_event_poll(cx, &f->ev));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(keel_event_close(&f->ev), 0);
	KEEL_END(f);
}

/* The seed's poll_reactor_fd loop: set, pending, woken, ready; many
 * times, and each round is one epoll event. */
KEEL_TEST(event, round_trips, struct ev_frame)
{
	KEEL_BEGIN(f);
	cr_assert_eq(keel_event_open(cx, &f->ev), 0);
	f->before = kt_stats(cx);
	for (f->rounds = 0; f->rounds < 1000; f->rounds++) {
		cr_assert_eq(keel_event_poll(cx, &f->ev), KEEL_PENDING);
		cr_assert_eq(keel_event_set(&f->ev), 0);
		KT_AWAIT(f, keel_event_poll(cx, &f->ev));
		cr_assert_eq(f->r, 1);
	}
	cr_assert_geq(kt_stats(cx).events - f->before.events, 1000);
	cr_assert_eq(keel_event_close(&f->ev), 0);
	KEEL_END(f);
}

/* -------------------------------------------------------- other thread */

struct setter {
	struct keel_event *ev;
	int count;
	long gap_ms;
	int failures;
};

static void *setter_main(void *arg)
{
	struct setter *s = arg;

	for (int i = 0; i < s->count; i++) {
		nap_ms(s->gap_ms);
		if (keel_event_set(s->ev) != 0)
			s->failures++;
	}
	return NULL;
}

struct th_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_event ev;
	pthread_t th;
	struct setter s;
	unsigned total, rounds;
	struct keel_driver_stats before;
};

/* The worker parks in epoll_wait with no timer armed but the test's
 * timeout; the other thread's write must wake it, long before that. */
KEEL_TEST(event, set_from_another_thread_wakes, struct th_frame)
{
	KEEL_BEGIN(f);
	cr_assert_eq(keel_event_open(cx, &f->ev), 0);
	f->s = (struct setter){ .ev = &f->ev, .count = 1, .gap_ms = 20 };
	f->before = kt_stats(cx);
	cr_assert_eq(pthread_create(&f->th, NULL, setter_main, &f->s), 0);
	KT_AWAIT(f, keel_event_poll(cx, &f->ev));
	cr_assert_eq(f->r, 1, "got %ld (%s)", (long)f->r, keel_strerror(f->r));
	cr_assert_gt(kt_stats(cx).parks - f->before.parks, 0,
		     "the worker slept until the set");
	cr_assert_eq(pthread_join(f->th, NULL), 0);
	cr_assert_eq(f->s.failures, 0);
	cr_assert_eq(keel_event_close(&f->ev), 0);
	KEEL_END(f);
}

KEEL_TEST(event, many_sets_from_another_thread, struct th_frame)
{
	KEEL_BEGIN(f);
	cr_assert_eq(keel_event_open(cx, &f->ev), 0);
	f->s = (struct setter){ .ev = &f->ev, .count = 200, .gap_ms = 0 };
	cr_assert_eq(pthread_create(&f->th, NULL, setter_main, &f->s), 0);
	for (f->rounds = 0; f->total < 200 && f->rounds < 200; f->rounds++) {
		KT_AWAIT(f, keel_event_poll(cx, &f->ev));
		cr_assert_gt(f->r, 0, "got %ld", (long)f->r);
		f->total += (unsigned)f->r;
	}
	cr_assert_eq(f->total, 200, "every set counted once");
	cr_assert_eq(pthread_join(f->th, NULL), 0);
	cr_assert_eq(f->s.failures, 0);
	cr_assert_eq(keel_event_close(&f->ev), 0);
	KEEL_END(f);
}

/* ---------------------------------------------------------- bad input */

KEEL_TEST(event, bad_input_and_closed_handles, struct ev_frame)
{
	KEEL_BEGIN(f);
	cr_assert_eq(keel_event_open(NULL, &f->ev), -EINVAL);
	cr_assert_eq(keel_event_open(cx, NULL), -EINVAL);
	cr_assert_eq(keel_event_poll(cx, &f->ev), -EBADF, "never opened");
	cr_assert_eq(keel_event_set(&f->ev), -EBADF);
	cr_assert_eq(keel_event_close(&f->ev), -EBADF);
	cr_assert_eq(keel_event_open(cx, &f->ev), 0);
	cr_assert_eq(keel_event_open(cx, &f->ev), -EBUSY);
	cr_assert_eq(keel_event_poll(NULL, &f->ev), -EINVAL);
	cr_assert_eq(keel_event_poll(cx, NULL), -EINVAL);
	cr_assert_eq(keel_event_set(NULL), -EINVAL);
	cr_assert_eq(keel_event_close(NULL), -EINVAL);
	cr_assert_eq(keel_event_close(&f->ev), 0);
	cr_assert_eq(keel_event_close(&f->ev), -EBADF, "double close");
	cr_assert_eq(keel_event_set(&f->ev), -EBADF);
	cr_assert_eq(keel_event_poll(cx, &f->ev), -EBADF);
	KEEL_END(f);
}

/* Closing a source a task waits on: the waiter is not woken, and the
 * task's reference goes with the source (nothing leaks, nothing fires). */
KEEL_TEST(event, close_while_waited_on, struct ev_frame)
{
	KEEL_BEGIN(f);
	cr_assert_eq(keel_event_open(cx, &f->ev), 0);
	cr_assert_eq(keel_event_open(cx, &f->other), 0);
	cr_assert_eq(keel_event_poll(cx, &f->ev), KEEL_PENDING);
	cr_assert_eq(keel_event_close(&f->ev), 0);
	cr_assert_eq(keel_event_set(&f->other), 0);
	KT_AWAIT(f, keel_event_poll(cx, &f->other));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(keel_event_close(&f->other), 0);
	KEEL_END(f);
}
