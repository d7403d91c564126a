/* SPDX-License-Identifier: MIT */
/* drivers/kernel/kernel.c: the instance, its arguments, poll, park and
 * unpark, driven directly through the ops table. */
#include "ktest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *make(const char *args)
{
	void *d = NULL;
	int rc = keel_drv_kernel.create(NULL, args, &d);

	cr_assert_eq(rc, 0, "create(%s): %s", args ? args : "NULL",
		     keel_strerror(rc));
	cr_assert_not_null(d);
	return d;
}

Test(driver, is_linked_and_named)
{
	const struct keel_driver_ops *const *l;
	size_t n = keel_drivers_linked(&l);
	bool found = false;

	for (size_t i = 0; i < n; i++)
		found |= l[i] == &keel_drv_kernel;
	cr_assert(found, "the -u link argument pulls the driver in");
	cr_assert_str_eq(keel_drv_kernel.name, "kernel");
	cr_assert_not_null(keel_drv_kernel.usage);
	cr_assert_not_null(keel_drv_kernel.udp_bind);
	cr_assert_not_null(keel_drv_kernel.tcp_connect);
	cr_assert_not_null(keel_drv_kernel.tcp_listen);
}

Test(driver, arguments)
{
	void *d = NULL;

	keel_drv_kernel.destroy(make(NULL));
	keel_drv_kernel.destroy(make(""));
	keel_drv_kernel.destroy(make("bufs=8"));
	keel_drv_kernel.destroy(make("bufs=8,bufsize=512"));
	cr_assert_eq(keel_drv_kernel.create(NULL, "bogus", &d), -EINVAL);
	cr_assert_eq(keel_drv_kernel.create(NULL, "bufs", &d), -EINVAL);
	cr_assert_eq(keel_drv_kernel.create(NULL, "bufs=0", &d), -EINVAL);
	cr_assert_eq(keel_drv_kernel.create(NULL, "bufs=-1", &d), -EINVAL);
	cr_assert_eq(keel_drv_kernel.create(NULL, "bufs=9x", &d), -EINVAL);
	cr_assert_eq(keel_drv_kernel.create(NULL, "bufsize=100000", &d),
		     -EINVAL);
	cr_assert_eq(keel_drv_kernel.create(NULL, "bufs=4,what=1", &d),
		     -EINVAL);
	cr_assert_null(d, "nothing created on error");
}

Test(driver, bad_arguments_fail_the_runtime)
{
	struct keel_runtime *rt = NULL;
	struct keel_config cfg = { .driver = "kernel:nosuch=1" };

	cr_assert_lt(keel_runtime_create(&cfg, &rt), 0);
	cr_assert_null(rt);
	cfg.driver = "kernel:bufs=16";
	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	keel_runtime_destroy(rt);
}

Test(driver, poll_idle_and_park_zero)
{
	void *d = make(NULL);
	struct keel_driver_stats s;
	int64_t t0;

	cr_assert_eq(keel_drv_kernel.poll(d), 0, "nothing registered");
	t0 = now_ns();
	cr_assert_eq(keel_drv_kernel.park(d, 0), 0);
	cr_assert_lt(now_ns() - t0, 50 * 1000000, "park(0) does not wait");
	keel_drv_kernel.stats(d, &s);
	cr_assert_eq(s.polls, 1);
	cr_assert_eq(s.parks, 0, "park(0) could not sleep");
	keel_drv_kernel.destroy(d);
}

/* The timeout rounds up to whole milliseconds: never an early return. */
Test(driver, park_never_wakes_early)
{
	void *d = make(NULL);
	static const int64_t waits[] = { 1, 999999, 1000001, 3500000 };
	struct keel_driver_stats s;

	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		int64_t t0 = now_ns();

		cr_assert_eq(keel_drv_kernel.park(d, waits[i]), 0);
		cr_assert_geq(now_ns() - t0, waits[i], "park(%lld) woke early",
			      (long long)waits[i]);
	}
	keel_drv_kernel.stats(d, &s);
	cr_assert_eq(s.parks, 4);
	keel_drv_kernel.destroy(d);
}

struct unparker {
	void *drv;
	long delay_ms;
};

static void *unparker_main(void *arg)
{
	struct unparker *u = arg;
	struct timespec ts = { 0, u->delay_ms * 1000000L };

	nanosleep(&ts, NULL);
	keel_drv_kernel.unpark(u->drv);
	return NULL;
}

Test(driver, unpark_from_another_thread)
{
	void *d = make(NULL);
	struct unparker u = { d, 20 };
	struct keel_driver_stats s;
	pthread_t th;
	int64_t t0 = now_ns();

	cr_assert_eq(pthread_create(&th, NULL, unparker_main, &u), 0);
	/* No limit: only the unpark can end this. The test's timeout
	 * catches a lost one. */
	cr_assert_eq(keel_drv_kernel.park(d, -1), 1);
	cr_assert_lt(now_ns() - t0, 10 * (int64_t)KEEL_SEC);
	cr_assert_eq(pthread_join(th, NULL), 0);
	keel_drv_kernel.stats(d, &s);
	cr_assert_eq(s.wakeups, 1);
	keel_drv_kernel.destroy(d);
}

/* Unparks before the park are not lost; repeated ones cost one wakeup;
 * and after the drain, the next unpark works again. */
Test(driver, unpark_before_park_and_again)
{
	void *d = make(NULL);
	struct keel_driver_stats s;

	keel_drv_kernel.unpark(d);
	keel_drv_kernel.unpark(d);
	keel_drv_kernel.unpark(d);
	cr_assert_eq(keel_drv_kernel.park(d, -1), 1, "returns at once");
	cr_assert_eq(keel_drv_kernel.park(d, 0), 0, "drained");
	keel_drv_kernel.unpark(d);
	cr_assert_eq(keel_drv_kernel.park(d, 2 * (int64_t)KEEL_SEC), 1);
	keel_drv_kernel.unpark(d);
	/* With no socket open, poll skips epoll_wait (a busy worker would
	 * pay that syscall every tick): the unpark waits for the park. */
	cr_assert_eq(keel_drv_kernel.poll(d), 0, "nothing registered: no syscall");
	cr_assert_eq(keel_drv_kernel.park(d, 2 * (int64_t)KEEL_SEC), 1, "still pending");
	cr_assert_eq(keel_drv_kernel.park(d, 0), 0);
	keel_drv_kernel.stats(d, &s);
	cr_assert_eq(s.wakeups, 3);
	keel_drv_kernel.destroy(d);
}

/* keel_runtime_shutdown from another thread ends a worker parked with no
 * timer at all (every worker, on a scheduler with several). */
struct park_frame {
	struct keel_co co;
	intptr_t r;
	struct keel_event ev;
};

static intptr_t park_forever(void *frame, struct keel_cx *cx)
{
	struct park_frame *f = frame;

	KEEL_BEGIN(f);
	cr_assert_eq(keel_event_open(cx, &f->ev), 0);
	KEEL_AWAIT(f, f->r, keel_event_poll(cx, &f->ev));
	KEEL_END(f);
}

static void *shutdown_main(void *arg)
{
	struct timespec ts = { 0, 30 * 1000000L };

	nanosleep(&ts, NULL);
	keel_runtime_shutdown(arg);
	return NULL;
}

Test(driver, shutdown_unparks_the_worker, .timeout = 30)
{
	struct keel_config cfg = kt_config();
	struct keel_runtime *rt;
	struct park_frame fr = { 0 };
	pthread_t th;
	int before = kt_open_fds();

	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	cr_assert_eq(pthread_create(&th, NULL, shutdown_main, rt), 0);
	cr_assert_eq(keel_runtime_block_on(rt, park_forever, NULL, &fr,
					   sizeof(fr)), -EINTR);
	cr_assert_eq(pthread_join(th, NULL), 0);
	keel_runtime_destroy(rt);
	cr_assert_eq(kt_open_fds(), before, "event source freed at destroy");
}
