/* SPDX-License-Identifier: MIT */
/* core/runtime.c and core/main.c: module lookup, options, shutdown. */
#include <errno.h>
#include <keel/driver.h>
#include <keel/sched.h>
#include <keel/test.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

Test(runtime, linked_modules_are_listed)
{
	const struct keel_sched_ops *const *s;
	const struct keel_driver_ops *const *d;
	size_t ns = keel_scheds_linked(&s), nd = keel_drivers_linked(&d);
	bool local = false, kernel = false;

	for (size_t i = 0; i < ns; i++)
		local |= strcmp(s[i]->name, "local") == 0;
	for (size_t i = 0; i < nd; i++)
		kernel |= strcmp(d[i]->name, "kernel") == 0;
	cr_assert(local, "sched/local is linked through its dependency");
	cr_assert(kernel, "drivers/kernel is linked through its dependency");
}

Test(runtime, unknown_modules_are_refused)
{
	struct keel_runtime *rt = (void *)1;
	struct keel_config cfg = { .sched = "nosuch" };

	cr_assert_eq(keel_runtime_create(&cfg, &rt), -ENOENT);
	cr_assert_null(rt);
	cfg = (struct keel_config){ .driver = "nosuch:arg" };
	cr_assert_eq(keel_runtime_create(&cfg, &rt), -ENOENT);
	cfg = (struct keel_config){ .sched = "local", .workers = 4 };
	cr_assert_eq(keel_runtime_create(&cfg, &rt), -EINVAL);
	cr_assert_eq(keel_runtime_create(&cfg, NULL), -EINVAL);
}

Test(runtime, defaults_resolve_to_linked)
{
	struct keel_runtime *rt;

	cr_assert_eq(keel_runtime_create(NULL, &rt), 0);
	cr_assert_str_eq(keel_runtime_config(rt)->sched, "local");
	cr_assert_str_eq(keel_runtime_config(rt)->driver, "kernel");
	keel_runtime_destroy(rt);
	keel_runtime_destroy(NULL);
}

Test(runtime, options_are_parsed_and_removed)
{
	char *argv[] = { "prog", "--sched=local", "1.2.3.4:5", "--workers=3",
			 "--driver=kernel", "--stats", "--verbose", "--",
			 "--literal", NULL };
	int argc = 9;
	struct keel_config cfg = { 0 };

	cr_assert_eq(keel_args_parse(&argc, argv, "prog", &cfg), 0);
	cr_assert_eq(argc, 3);
	cr_assert_str_eq(argv[1], "1.2.3.4:5");
	cr_assert_str_eq(argv[2], "--literal");
	cr_assert_null(argv[3]);
	cr_assert_str_eq(cfg.sched, "local");
	cr_assert_str_eq(cfg.driver, "kernel");
	cr_assert_eq(cfg.workers, 3);
	cr_assert(cfg.stats && cfg.verbose);
}

Test(runtime, bad_options_are_errors)
{
	struct keel_config cfg = { 0 };
	char *a1[] = { "prog", "--bogus", NULL };
	char *a2[] = { "prog", "--workers=0", NULL };
	char *a3[] = { "prog", "--workers=x", NULL };
	int argc = 2;

	cr_assert_eq(keel_args_parse(&argc, a1, NULL, &cfg), -EINVAL);
	argc = 2;
	cr_assert_eq(keel_args_parse(&argc, a2, NULL, &cfg), -EINVAL);
	argc = 2;
	cr_assert_eq(keel_args_parse(&argc, a3, NULL, &cfg), -EINVAL);
}

/* keel_runtime_shutdown from another thread ends block_on with -EINTR,
 * and destroy cancels the task that was still running. */
struct forever {
	struct keel_co co;
	int *drops;
};

static intptr_t forever_poll(void *frame, struct keel_cx *cx)
{
	(void)frame;
	(void)cx;
	return KEEL_PENDING;
}

static void forever_drop(void *frame)
{
	(*((struct forever *)frame)->drops)++;
}

static void *shut_later(void *rt)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	keel_runtime_shutdown(rt);
	return NULL;
}

Test(runtime, shutdown_from_another_thread)
{
	struct keel_runtime *rt;
	pthread_t th;
	int drops = 0;
	struct forever fr = { .drops = &drops };

	cr_assert_eq(keel_runtime_create(NULL, &rt), 0);
	pthread_create(&th, NULL, shut_later, rt);
	cr_assert_eq(keel_runtime_block_on(rt, forever_poll, forever_drop, &fr,
					   sizeof(fr)), -EINTR);
	pthread_join(th, NULL);
	cr_assert_eq(drops, 1, "the root was cancelled and dropped");
	keel_runtime_destroy(rt);
	cr_assert_eq(drops, 1);
}

Test(runtime, strerror_texts)
{
	cr_assert_str_eq(keel_strerror(0), "success");
	cr_assert_str_eq(keel_strerror(-EINVAL), strerror(EINVAL));
	cr_assert_str_eq(keel_strerror(-100000), "not a keel error code");
}

Test(runtime, program_options_pass_through_when_asked)
{
	char *argv[] = { "prog", "--flows=4", "--sched=local", "host:1", "--x",
			 "--", "--after", NULL };
	int argc = 7;
	struct keel_config cfg = { 0 };

	cr_assert_eq(keel_args_parse_opts(&argc, argv, "prog", "  --flows=N\n", &cfg), 0);
	cr_assert_eq(argc, 5);
	cr_assert_str_eq(argv[1], "--flows=4");
	cr_assert_str_eq(argv[2], "host:1");
	cr_assert_str_eq(argv[3], "--x");
	cr_assert_str_eq(argv[4], "--after");
	cr_assert_str_eq(cfg.sched, "local", "keel's own options are still keel's");
}

/* Graceful shutdown: the first request wakes the task awaiting
 * keel_shutdown_poll, which finishes and returns its result. */
struct graceful {
	struct keel_co co;
	intptr_t r;
};

static intptr_t graceful_poll(void *frame, struct keel_cx *cx)
{
	struct graceful *g = frame;

	KEEL_BEGIN(g);
	KEEL_AWAIT(g, g->r, keel_shutdown_poll(cx));
	KEEL_RETURN(g, 7);
	KEEL_END(g);
}

Test(runtime, shutdown_is_graceful_when_awaited)
{
	struct keel_runtime *rt;
	struct graceful g = { 0 };
	pthread_t th;

	cr_assert_eq(keel_runtime_create(NULL, &rt), 0);
	pthread_create(&th, NULL, shut_later, rt);
	cr_assert_eq(keel_runtime_block_on(rt, graceful_poll, NULL, &g, sizeof(g)), 7);
	pthread_join(th, NULL);
	keel_runtime_destroy(rt);
}

/* A second request stops the runtime even if the task ignores the first. */
struct stubborn {
	struct keel_co co;
	intptr_t r;
};

static intptr_t stubborn_poll(void *frame, struct keel_cx *cx)
{
	struct stubborn *s = frame;

	KEEL_BEGIN(s);
	KEEL_AWAIT(s, s->r, keel_shutdown_poll(cx));
	KEEL_AWAIT(s, s->r, KEEL_PENDING + 0 * s->r); /* never finishes */
	KEEL_END(s);
}

static void *shut_twice(void *rt)
{
	shut_later(rt);
	shut_later(rt);
	return NULL;
}

Test(runtime, second_shutdown_request_stops)
{
	struct keel_runtime *rt;
	struct stubborn s = { 0 };
	pthread_t th;

	cr_assert_eq(keel_runtime_create(NULL, &rt), 0);
	pthread_create(&th, NULL, shut_twice, rt);
	cr_assert_eq(keel_runtime_block_on(rt, stubborn_poll, NULL, &s, sizeof(s)), -EINTR);
	pthread_join(th, NULL);
	keel_runtime_destroy(rt);
}
