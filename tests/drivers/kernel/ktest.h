/* SPDX-License-Identifier: MIT */
/*
 * What the drivers/kernel tests share: loopback addresses, the driver's
 * counters, a bounded await, and an fd count for leak checks.
 */
#ifndef KEEL_TESTS_KTEST_H
#define KEEL_TESTS_KTEST_H

#include <dirent.h>
#include <errno.h>
#include <keel/driver.h>
#include <keel/kernel.h>
#include <keel/test.h>
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

static inline struct keel_driver_stats kt_stats(struct keel_cx *cx)
{
	struct keel_driver_stats s = { 0 };
	void *d = keel_cx_driver(cx, &keel_drv_kernel);

	cr_assert_not_null(d, "the kernel driver runs this test");
	keel_drv_kernel.stats(d, &s);
	return s;
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
