/* SPDX-License-Identifier: MIT */
/** \file
 * KEEL_TEST: a Criterion test whose body is async and runs on a runtime.
 *
 *     struct t { struct keel_co co; struct keel_timer tm; intptr_t r; };
 *     KEEL_TEST(timer, sleep, struct t)
 *     {
 *         KEEL_BEGIN(f);
 *         KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->tm, 5 * KEEL_MS));
 *         cr_assert_eq(f->r, 0);
 *         KEEL_END(f);
 *     }
 *
 * The body sees `f` (the zeroed frame) and `cx`. The runtime uses the
 * scheduler and driver named by the environment variables KEEL_SCHED and
 * KEEL_DRIVER (default: the first linked), so one test binary runs on every
 * scheduler by running it again with another KEEL_SCHED. KEEL_TEST_PAUSED
 * runs on the test clock: time only moves when the runtime is idle, and then
 * straight to the next timer. A body that returns a negative value fails.
 * Each test has a 60 s Criterion timeout.
 */
#ifndef KEEL_TEST_H
#define KEEL_TEST_H

#include <criterion/criterion.h>
#include <keel/keel.h>
#include <stdlib.h>

static inline void keel__test_run(keel_poll_fn *poll, size_t size,
				  bool paused)
{
	struct keel_config cfg = { 0 };
	struct keel_runtime *rt;
	void *frame;
	intptr_t r;
	int rc;

	cfg.sched = getenv("KEEL_SCHED");
	cfg.driver = getenv("KEEL_DRIVER");
	if (getenv("KEEL_WORKERS"))
		cfg.workers = (unsigned)atoi(getenv("KEEL_WORKERS"));
	cfg.test_clock = paused;
	rc = keel_runtime_create(&cfg, &rt);
	cr_assert_eq(rc, 0, "keel_runtime_create: %s", keel_strerror(rc));
	frame = calloc(1, size);
	cr_assert_not_null(frame);
	r = keel_runtime_block_on(rt, poll, NULL, frame, size);
	free(frame);
	keel_runtime_destroy(rt);
	cr_assert_geq(r, 0, "async test body returned %ld (%s)", (long)r,
		      keel_strerror(r));
}

#define KEEL__TEST(suite, name, type, paused)                                  \
	static intptr_t keel__tbody_##suite##_##name(type *f,                  \
						     struct keel_cx *cx);      \
	static intptr_t keel__tpoll_##suite##_##name(void *frame,              \
						     struct keel_cx *cx)       \
	{                                                                      \
		return keel__tbody_##suite##_##name((type *)frame, cx);       \
	}                                                                      \
	Test(suite, name, .timeout = 60)                                       \
	{                                                                      \
		keel__test_run(keel__tpoll_##suite##_##name, sizeof(type),     \
			       (paused));                                      \
	}                                                                      \
	static intptr_t keel__tbody_##suite##_##name(type *f,                  \
						     struct keel_cx *cx)

#define KEEL_TEST(suite, name, type)	    KEEL__TEST(suite, name, type, false)
#define KEEL_TEST_PAUSED(suite, name, type) KEEL__TEST(suite, name, type, true)

#endif /* KEEL_TEST_H */
