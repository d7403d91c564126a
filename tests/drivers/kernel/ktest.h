/* SPDX-License-Identifier: MIT */
/*
 * What the drivers/kernel tests share: loopback addresses, the driver's
 * counters, a bounded await, a runtime configured like KEEL_TEST's, and an
 * fd count for leak checks.
 *
 * The tests run on any scheduler (KEEL_SCHED, KEEL_WORKERS). On a
 * migrating one, the tasks of a test run on several workers, so nothing
 * here assumes one: counters are summed over every worker, and what tasks
 * share goes through atomics, join handles or the runtime's wakes.
 */
#ifndef KEEL_TESTS_KTEST_H
#define KEEL_TESTS_KTEST_H

#include "core_internal.h" /* the workers' driver instances, for kt_stats */

#include <dirent.h>
#include <errno.h>
#include <keel/driver.h>
#include <keel/kernel.h>
#include <keel/test.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Every wait in these tests is bounded: a hang fails in 5 s, not 60. */
#define KT_LIMIT (5 * KEEL_SEC)

/* Await \p expr under the frame's timer `t`, into the frame's `r`. */
#define KT_AWAIT(f, expr)                                                      \
	KEEL_AWAIT(f, (f)->r, keel_timeout(cx, &(f)->t, KT_LIMIT, (expr)))

static inline struct keel_addr kt_addr(const char *host, unsigned port)
{
	struct keel_addr a;

	cr_assert_eq(keel_addr_from(host, port, &a), 0, "bad test address %s",
		     host);
	return a;
}

/*
 * The kernel driver's counters summed over every worker of the runtime:
 * on a migrating runtime an I/O call counts on the worker that ran it.
 * Each worker's are read with relaxed loads; what a test compares was
 * counted before something it awaited (a wake or a join) happened.
 */
static inline struct keel_driver_stats kt_stats(struct keel_cx *cx)
{
	struct keel_runtime *rt = keel_cx_runtime(cx);
	struct keel_driver_stats sum = { 0 };
	bool found = false;

	for (unsigned i = 0; i < rt->nworkers; i++) {
		struct keel_worker *w = rt->workers[i];

		for (unsigned d = 0; d < w->ndrv; d++) {
			struct keel_driver_stats s = { 0 };

			if (w->drv[d].ops != &keel_drv_kernel)
				continue;
			keel_drv_kernel.stats(w->drv[d].impl, &s);
			sum.rx_packets += s.rx_packets;
			sum.rx_bytes += s.rx_bytes;
			sum.tx_packets += s.tx_packets;
			sum.tx_bytes += s.tx_bytes;
			sum.rx_truncated += s.rx_truncated;
			sum.rx_dropped += s.rx_dropped;
			sum.tx_dropped += s.tx_dropped;
			sum.polls += s.polls;
			sum.events += s.events;
			sum.parks += s.parks;
			sum.wakeups += s.wakeups;
			found = true;
		}
	}
	cr_assert(found, "the kernel driver runs this test");
	return sum;
}

/* A runtime configuration read from the environment, as KEEL_TEST's
 * (KEEL_SCHED, KEEL_DRIVER, KEEL_WORKERS), for tests that build their own
 * runtime. */
static inline struct keel_config kt_config(void)
{
	struct keel_config cfg = { 0 };

	cfg.sched = getenv("KEEL_SCHED");
	cfg.driver = getenv("KEEL_DRIVER");
	if (getenv("KEEL_WORKERS"))
		cfg.workers = (unsigned)atoi(getenv("KEEL_WORKERS"));
	return cfg;
}

/* IPv6 tests skip, rather than fail, where the host has no ::1 (some
 * containers run with IPv6 disabled). */
static inline void kt_need_v6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	if (!ok)
		cr_skip_test("no IPv6 loopback on this host");
}

/* Open file descriptors of this process (what a leak check compares). */
static inline int kt_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(dir);
	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

#endif /* KEEL_TESTS_KTEST_H */
