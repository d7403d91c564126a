/* SPDX-License-Identifier: MIT */
/*
 * core/timer.c's wheel against a brute-force model: random arms, disarms
 * and advances over spans from 1 tick to years; every timer fires exactly
 * once, at the first advance past its expiry, never early, never late.
 */
#include "core_internal.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#define N 4000

static struct keel_timer timers[N];
static uint64_t when_of[N];
static bool armed[N];
static int fired_count[N];

/* The wheel wakes timers through their waker: count it. */
static void count_wake(void *data)
{
	fired_count[(struct keel_timer *)data - timers]++;
}
static void nop_drop(void *data) { (void)data; }
static void *same(void *data) { return data; }
static const struct keel_waker_ops counting = {
	count_wake, count_wake, same, nop_drop,
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

Test(timer_wheel, matches_model)
{
	static struct keel__wheel wh;
	uint64_t seed = 0x9e3779b97f4a7c15u, now = 1000;

	keel__wheel_init(&wh, now);
	for (int round = 0; round < 60000; round++) {
		uint64_t r = rnd(&seed);
		int i = (int)(r % N);

		switch ((r >> 20) % 4) {
		case 0:
		case 1: /* arm an idle timer, spans of every magnitude */
			if (!armed[i]) {
				unsigned bits = (unsigned)((r >> 30) % 41);
				uint64_t span = 1 + (rnd(&seed) & (((uint64_t)1 << bits) - 1));

				timers[i] = (struct keel_timer){ 0 };
				timers[i].when = now + span;
				timers[i].waker = (struct keel_waker){ &counting, &timers[i] };
				when_of[i] = timers[i].when;
				armed[i] = true;
				keel__wheel_insert(&wh, &timers[i]);
			}
			break;
		case 2: /* disarm */
			if (armed[i]) {
				keel__wheel_remove(&wh, &timers[i]);
				armed[i] = false;
			}
			break;
		default: { /* advance by a small or a large step */
			uint64_t step = (r >> 40) % 3 == 0 ? rnd(&seed) % 100000
							   : rnd(&seed) % 70;
			uint64_t next = keel__wheel_next(&wh);

			now += step;
			/* next is a lower bound of every armed expiry */
			for (int k = 0; k < N; k += 97)
				if (armed[k])
					cr_assert_leq(next, when_of[k]);
			keel__wheel_advance(&wh, now);
			for (int k = 0; k < N; k++) {
				if (!armed[k])
					continue;
				if (when_of[k] <= now) {
					cr_assert_eq(fired_count[k], 1,
						     "timer %d (when %llu, now %llu) fired %d times",
						     k, (unsigned long long)when_of[k],
						     (unsigned long long)now, fired_count[k]);
					fired_count[k] = 0;
					armed[k] = false;
				} else {
					cr_assert_eq(fired_count[k], 0, "timer %d fired early", k);
				}
			}
			break;
		}
		}
	}
	size_t left = 0;
	for (int k = 0; k < N; k++)
		left += armed[k];
	cr_assert_eq(wh.armed, left);
}
