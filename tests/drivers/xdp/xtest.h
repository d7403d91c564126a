/* SPDX-License-Identifier: MIT */
/*
 * What the drivers/xdp tests share: the veth pair (tests/fixtures/netns.h)
 * made in each test's own process, a runtime on `xdp:<our end>` built in
 * the test body (the interface name is only known then), kernel sockets in
 * the peer namespace, and bounded waits.
 *
 * Every test runs in its own forked process (Criterion), in a network
 * namespace of its own: tests run in parallel without seeing each other,
 * and the addresses can be the same in all of them.
 */
#ifndef KEEL_TESTS_XTEST_H
#define KEEL_TESTS_XTEST_H

#include <criterion/criterion.h>
#include <errno.h>
#include <keel/keel.h>
#include <keel/sched.h>
#include <keel/xdp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns.h"

/* Every wait is bounded: a hang fails in 5 s, not at the 60 s timeout. */
#define XT_LIMIT (5 * KEEL_SEC)

#define XT_PORT	     7000 /* keel's port */
#define XT_PEER_PORT 9000 /* the peer's kernel socket */

/* The pair of this test process. */
static struct keel_netns_pair xt_pair;

static inline void xt_fini(void)
{
	keel_netns_cleanup();
}

/* Make the pair or skip the test, printing SKIP(bypass): why. */
/* The workers of this run (KEEL_WORKERS; 1 when unset). */
static inline unsigned xt_workers(void)
{
	const char *w = getenv("KEEL_WORKERS");

	return w && atoi(w) > 1 ? (unsigned)atoi(w) : 1;
}

/* Pair 1. With several workers, our end has a queue for each (each
 * worker's driver opens one) and the peer one, so all it sends arrives on
 * queue 0, worker 0's, where the test body runs (xt_on_queue0). */
static inline void xt_up(const struct keel_netns_opts *o)
{
	struct keel_netns_opts mq = o ? *o : (struct keel_netns_opts){ 0 };
	int rc;

	if (xt_workers() > 1 && !mq.queues) {
		mq.queues = xt_workers();
		mq.peer_queues = 1;
	}
	rc = keel_netns_pair_create(&xt_pair, 1, &mq);

	KEEL_NETNS_SKIP_UNLESS(rc, &xt_pair);
}

static inline struct keel_addr xt_addr(const char *host, unsigned port)
{
	struct keel_addr a;

	cr_assert_eq(keel_addr_from(host, port, &a), 0, "bad address %s", host);
	return a;
}

/* Our address and the peer's, with a port. */
static inline struct keel_addr xt_ours(unsigned port)
{
	return xt_addr(xt_pair.addr, port);
}

static inline struct keel_addr xt_peer(unsigned port)
{
	return xt_addr(xt_pair.peer_addr, port);
}

/* Create a runtime on "xdp:<ifname><extra>", or return its error. */
static inline int xt_runtime(const char *extra, struct keel_runtime **rt)
{
	struct keel_config cfg = { 0 };
	char spec[192];

	snprintf(spec, sizeof(spec), "xdp:%s%s", xt_pair.ifname,
		 extra ? extra : "");
	/* Every scheduler: the meson test says which (name@sched). */
	cfg.sched = getenv("KEEL_SCHED") ? getenv("KEEL_SCHED") : "local";
	cfg.workers = getenv("KEEL_WORKERS") ? (unsigned)atoi(getenv("KEEL_WORKERS")) : 0;
	cfg.driver = spec;
	return keel_runtime_create(&cfg, rt);
}

/* Run \p poll on a fresh runtime (frame zeroed, or copied from \p init)
 * and tear it down; \return the task's result. */
static inline intptr_t xt_block_on(const char *extra, keel_poll_fn *poll,
				   const void *init, size_t size)
{
	struct keel_runtime *rt;
	void *frame;
	intptr_t r;
	int rc = xt_runtime(extra, &rt);

	cr_assert_eq(rc, 0, "runtime on xdp:%s%s: %s", xt_pair.ifname,
		     extra ? extra : "", keel_strerror(rc));
	frame = calloc(1, size);
	cr_assert_not_null(frame);
	if (init)
		memcpy(frame, init, size);
	r = keel_runtime_block_on(rt, poll, NULL, frame, size);
	free(frame);
	keel_runtime_destroy(rt);
	return r;
}

/*
 * The veth delivers on queue 0, which is worker 0's: a test body runs
 * there on every scheduler (on pool and steal the task is moved there
 * before its first step; later polls find it there). 0 when it is there.
 */
static inline intptr_t xt_on_queue0(struct keel_cx *cx)
{
	return keel_cx_home(cx, keel_runtime_worker(keel_cx_runtime(cx), 0));
}

/*
 * XT_TEST(suite, name, type, extra): a test on pair 1 whose async body
 * (seeing `f`, the zeroed frame of \p type, and `cx`) runs on a runtime
 * with driver "xdp:<ifname><extra>". The body fails with a negative result.
 */
#define XT_TEST(suite, name, type, extra)                                      \
	static intptr_t xt__body_##suite##_##name(type *f, struct keel_cx *cx); \
	static intptr_t xt__poll_##suite##_##name(void *frame,                 \
						  struct keel_cx *cx)          \
	{                                                                      \
		intptr_t h_ = xt_on_queue0(cx);                                \
		if (h_ != 0)                                                   \
			return h_;                                             \
		return xt__body_##suite##_##name((type *)frame, cx);          \
	}                                                                      \
	Test(suite, name, .timeout = 60, .fini = xt_fini)                      \
	{                                                                      \
		intptr_t r;                                                    \
		xt_up(NULL);                                                   \
		r = xt_block_on((extra), xt__poll_##suite##_##name, NULL,      \
				sizeof(type));                                 \
		cr_assert_geq(r, 0, "async body returned %ld (%s)", (long)r,   \
			      keel_strerror(r));                               \
	}                                                                      \
	static intptr_t xt__body_##suite##_##name(type *f, struct keel_cx *cx)

/* Await a keel call under the frame's timer `t`, into the frame's `r`. */
#define XT_AWAIT(f, expr)                                                      \
	KEEL_AWAIT(f, (f)->r, keel_timeout(cx, &(f)->t, XT_LIMIT, (expr)))

/* Sleep \p ns on the frame's timer `t` (result in the frame's `r2`). */
#define XT_SLEEP(f, ns) KEEL_AWAIT(f, (f)->r2, keel_sleep_for(cx, &(f)->t, (ns)))

/*
 * Receive on a (non-blocking) kernel socket while the runtime keeps
 * running: try, else sleep 1 ms on keel's clock, at most XT_LIMIT. The
 * frame needs `r`, `r2`, `spin` and `t`; `r` ends as recv's result, or
 * -ETIMEDOUT.
 */
#define XT_KRECV(f, fd, buf, cap)                                              \
	do {                                                                   \
		for ((f)->spin = 0;; (f)->spin++) {                            \
			(f)->r = recv((fd), (buf), (cap), MSG_DONTWAIT);       \
			if ((f)->r >= 0)                                       \
				break;                                         \
			if ((f)->spin >= 5000) {                               \
				(f)->r = -ETIMEDOUT;                           \
				break;                                         \
			}                                                      \
			XT_SLEEP(f, KEEL_MS);                                  \
		}                                                              \
	} while (0)

/* Wait (as XT_KRECV) until \p cond holds; `r` is 0, or -ETIMEDOUT. */
#define XT_UNTIL(f, cond)                                                      \
	do {                                                                   \
		for ((f)->spin = 0;; (f)->spin++) {                            \
			if (cond) {                                            \
				(f)->r = 0;                                    \
				break;                                         \
			}                                                      \
			if ((f)->spin >= 5000) {                               \
				(f)->r = -ETIMEDOUT;                           \
				break;                                         \
			}                                                      \
			XT_SLEEP(f, KEEL_MS);                                  \
		}                                                              \
	} while (0)

/* A UDP socket in the peer namespace, bound to the peer's address and
 * \p port, non-blocking. */
static inline int xt_peer_udp(unsigned port)
{
	struct keel_addr a = xt_peer(port);
	int fd = keel_netns_peer_socket(&xt_pair, AF_INET,
					SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
					0);

	cr_assert_geq(fd, 0, "peer socket: %s", strerror(-fd));
	cr_assert_eq(bind(fd, &a.sa, sizeof(a.in4)), 0, "peer bind: %s",
		     strerror(errno));
	return fd;
}

/* Send from a kernel socket to \p to; asserts it went. */
static inline void xt_ksend(int fd, const void *buf, size_t len,
			    const struct keel_addr *to)
{
	ssize_t n = sendto(fd, buf, len, 0, &to->sa, sizeof(to->in4));

	cr_assert_eq(n, (ssize_t)len, "peer sendto: %s", strerror(errno));
}

/* The XDP driver's counters on the worker polling \p cx. */
static inline struct keel_xdp_stats xt_stats(struct keel_cx *cx)
{
	struct keel_xdp_stats s;

	cr_assert_eq(keel_xdp_stats_get(cx, &s), 0, "the xdp driver runs");
	return s;
}

/* Fill \p buf with a pattern that depends on \p seed. */
static inline void xt_pattern(void *buf, size_t len, unsigned seed)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
}

#endif /* KEEL_TESTS_XTEST_H */
