/* SPDX-License-Identifier: MIT */
/** \file
 * Time: the worker's clock, sleeps, intervals, timeouts.
 *
 * Time is a uint64_t count of nanoseconds on the worker's clock (monotonic,
 * or the test clock). Timers are caller-allocated (embed them in the frame,
 * zero-initialised) and live on the polling worker's timer wheel: arming,
 * disarming and firing cost O(1) whatever the number of armed timers; the
 * wheel's resolution is KEEL_TIMER_TICK_NS and a timer never fires early.
 * Timers armed by a task are disarmed when the task ends or is cancelled.
 */
#ifndef KEEL_TIME_H
#define KEEL_TIME_H

#include <keel/future.h>
#include <keel/list.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_NS  ((uint64_t)1)
#define KEEL_US  ((uint64_t)1000)
#define KEEL_MS  ((uint64_t)1000000)
#define KEEL_SEC ((uint64_t)1000000000)

/** Granularity of the timer wheel. */
#define KEEL_TIMER_TICK_NS KEEL_MS

/** A timer. Zero-initialise; owned by the frame, armed through a cx. */
struct keel_timer {
	struct keel_list wheel_link; /* in a wheel slot */
	struct keel_list task_link;  /* in its task's armed list */
	uint64_t deadline;	     /* ns */
	uint64_t when;		     /* deadline in ticks */
	struct keel_waker waker;
	void *wheel;		     /* the wheel it was last armed on */
	uint8_t state;		     /* idle, armed, fired */
	uint8_t level, slot;	     /* where in the wheel */
};

/**
 * Now, on the clock of the worker polling \p cx, as read at the start of
 * the worker's current tick: free to call, the same for every task of the
 * tick, and what the timers compare against. It does not move within one
 * poll: a loop waiting for it inside a poll never ends; use a timer.
 */
uint64_t keel_now(struct keel_cx *cx);

/**
 * Read the worker's clock now (one clock_gettime, or the test clock): for
 * timestamps that must be exact, such as a latency measured in a payload.
 */
uint64_t keel_clock_now(struct keel_cx *cx);

/**
 * Sleep until \p deadline (ns on keel_now's clock). The first call arms
 * \p t; later calls (KEEL_AWAIT re-evaluates) only check it. Ready with 0
 * once the deadline passed, and \p t is idle again, ready for reuse.
 */
intptr_t keel_sleep_until(struct keel_cx *cx, struct keel_timer *t,
			  uint64_t deadline);

/** Sleep for \p ns from the first call. */
intptr_t keel_sleep_for(struct keel_cx *cx, struct keel_timer *t, uint64_t ns);

/** Disarm \p t if armed (the task's waker is not called). */
void keel_timer_stop(struct keel_timer *t);

/** Whether \p t is armed. */
#define KEEL__TIMER_ARMED 1
static inline bool keel_timer_armed(const struct keel_timer *t)
{
	return __atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == KEEL__TIMER_ARMED;
}

/**
 * Timeout around any poll expression:
 *
 *     KEEL_AWAIT(f, f->n, keel_timeout(cx, &f->t, 5 * KEEL_SEC,
 *                keel_udp_recv_from(cx, ...)));
 *
 * \p inner is the value the inner expression just returned. Ready with
 * \p inner (the timer disarmed) when it is not KEEL_PENDING; ready with
 * -ETIMEDOUT when \p ns passed since the first pending poll; else pending.
 */
intptr_t keel_timeout(struct keel_cx *cx, struct keel_timer *t, uint64_t ns,
		      intptr_t inner);

/**
 * keel_timeout with an absolute deadline (ns on keel_now's clock): one
 * deadline for a whole exchange, however many awaits it takes:
 *
 *     f->deadline = keel_now(cx) + 2 * KEEL_SEC;
 *     for (;;) {
 *         KEEL_AWAIT(f, f->n, keel_timeout_at(cx, &f->t, f->deadline,
 *                    keel_udp_recv_from(cx, ...)));
 *         ...
 *
 * Ready with \p inner (the timer disarmed) when it is not KEEL_PENDING,
 * with -ETIMEDOUT once \p deadline passed; else pending. A timer armed
 * for another deadline is re-armed for this one.
 */
intptr_t keel_timeout_at(struct keel_cx *cx, struct keel_timer *t,
			 uint64_t deadline, intptr_t inner);

/** A periodic timer whose ticks do not drift: tick k is at start + k*period. */
struct keel_interval {
	struct keel_timer timer;
	uint64_t period;
	uint64_t next;
};

/**
 * Wait for the next tick of \p iv. The first call starts the interval:
 * its first tick is one period later. Ready with the number of ticks that
 * passed since the last ready (>= 1: more when the task fell behind; missed
 * ticks are reported, not replayed). -EINVAL if period is 0.
 */
intptr_t keel_interval_tick(struct keel_cx *cx, struct keel_interval *iv,
			    uint64_t period);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_TIME_H */
