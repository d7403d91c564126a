/* SPDX-License-Identifier: MIT */
/*
 * The UDP conformance suite's one seam: what differs between drivers is
 * set up here, once, and test_conform.c holds the cases, the same for
 * every driver. The source is compiled once per driver with CT_DRV_KERNEL,
 * CT_DRV_XDP, CT_DRV_DPDK or CT_DRV_SIM, linked with that driver alone,
 * and run once per scheduler (KEEL_SCHED, KEEL_WORKERS): udp/conform@DRIVER@SCHED.
 *
 *   driver  keel's address      the peer                        max payload
 *   kernel  127.0.0.1           a kernel socket on 127.0.0.1    65507
 *   xdp     198.18.1.1 (veth)   a kernel socket in the peer ns  1472
 *   dpdk    198.18.1.1 (veth,   a kernel socket in the peer ns  1472
 *           net_af_packet)
 *   sim     10.0.0.1            a sim socket at 10.0.0.2        65507
 *
 * The peer is driven synchronously from the test's async body: ct_psend
 * sends at once, ct_ptry takes a datagram if one is there, and CT_PRECV
 * waits for one with a bound (sleeping 1 ms on keel's clock between
 * tries, so the runtime keeps polling its driver). The sim peer is a keel
 * socket of the same simulated network, called through its ops table
 * (as a kernel socket is, without keel's cooperative budget).
 *
 * Where a driver differs by design, ct_differs() names the difference
 * and the case checks that driver's answer.
 *
 * Kernel sockets share the host's loopback with every other test process,
 * so every port here is chosen by the system (bind to port 0, then
 * keel_udp_local_addr). xdp and dpdk run in the test process's own
 * network namespace (tests/fixtures/netns.h), like their own suites; with
 * several workers xdp gets a queue per worker and the peer one, so
 * everything arrives on worker 0's queue, where the body runs; dpdk runs
 * on one worker (one queue on net_af_packet).
 */
#ifndef KEEL_TESTS_CONFORM_H
#define KEEL_TESTS_CONFORM_H

#include <criterion/criterion.h>
#include <errno.h>
#include <keel/driver.h>
#include <keel/keel.h>
#include <keel/sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(CT_DRV_KERNEL)
#include <keel/kernel.h>
#define CT_NAME	       "kernel"
#define CT_KPEER       1 /* the peer is a kernel socket */
#define CT_MAX_PAYLOAD 65507u
#elif defined(CT_DRV_XDP)
#include "netns.h"
#include <keel/xdp.h>
#define CT_NAME	       "xdp"
#define CT_KPEER       1
#define CT_NETNS       1
#define CT_MAX_PAYLOAD 1472u
#elif defined(CT_DRV_DPDK)
#include "netns.h"
#include <keel/dpdk.h>
#define CT_NAME	       "dpdk"
#define CT_KPEER       1
#define CT_NETNS       1
#define CT_MAX_PAYLOAD 1472u
#elif defined(CT_DRV_SIM)
#include <keel/sim.h>
#define CT_NAME	       "sim"
#define CT_KPEER       0
#define CT_MAX_PAYLOAD 65507u
#define CT_SIM_OURS    "10.0.0.1"
#define CT_SIM_PEER    "10.0.0.2"
#else
#error "compile with one of CT_DRV_KERNEL, CT_DRV_XDP, CT_DRV_DPDK, CT_DRV_SIM"
#endif

/* A socket that lends at most CT_LEND_MAX packets at once: its receive
 * queue made small (xdp, dpdk, sim: a socket lends at most a queue's
 * worth), or its lending pool (kernel). */
#define CT_LEND_MAX 8u
#if defined(CT_DRV_XDP)
#define CT_LEND_OPTS "rxq=8"
#elif defined(CT_DRV_DPDK)
#define CT_LEND_OPTS "sockq=8"
#elif defined(CT_DRV_SIM)
#define CT_LEND_OPTS "qlen=8"
#else
#define CT_LEND_OPTS "bufs=8"
#endif

/* Every wait is bounded: a hang fails in 5 s, not at the 60 s timeout. */
#define CT_LIMIT (5 * KEEL_SEC)
#define CT_SPINS 5000 /* 1 ms sleeps: CT_LIMIT on an idle machine */

enum ct_drv { CT_KERNEL, CT_XDP, CT_DPDK, CT_SIM };

static inline enum ct_drv ct_drv(void)
{
#if defined(CT_DRV_KERNEL)
	return CT_KERNEL;
#elif defined(CT_DRV_XDP)
	return CT_XDP;
#elif defined(CT_DRV_DPDK)
	return CT_DPDK;
#else
	return CT_SIM;
#endif
}

/* A difference by design: printed once per case, so a log shows it. */
static inline bool ct_differs(bool differs, const char *what)
{
	if (differs)
		fprintf(stderr, "conform@%s: differs by design: %s\n", CT_NAME, what);
	return differs;
}

static inline struct keel_addr ct_addr(const char *host, unsigned port)
{
	struct keel_addr a;

	cr_assert_eq(keel_addr_from(host, port, &a), 0, "bad address %s", host);
	return a;
}

/* ------------------------------------------------------------- fixture */

#ifdef CT_NETNS
static struct keel_netns_pair ct_pair;
#endif
static char ct_spec[512];

static inline unsigned ct_workers(void)
{
	const char *w = getenv("KEEL_WORKERS");

#ifdef CT_DRV_DPDK
	return 1; /* one queue on net_af_packet: one worker */
#endif
	return w && atoi(w) > 1 ? (unsigned)atoi(w) : 1;
}

static inline void ct_fini(void)
{
#ifdef CT_NETNS
	keel_netns_cleanup();
#endif
}

/* The driver's fixture and --driver spec (\p extra: driver options). */
static inline void ct_up(const char *extra)
{
#if defined(CT_DRV_XDP)
	struct keel_netns_opts o = { 0 };
	int rc;

	if (ct_workers() > 1) {
		o.queues = ct_workers();
		o.peer_queues = 1;
	}
	rc = keel_netns_pair_create(&ct_pair, 1, &o);
	KEEL_NETNS_SKIP_UNLESS(rc, &ct_pair);
	snprintf(ct_spec, sizeof(ct_spec), "xdp:%s%s%s", ct_pair.ifname,
		 extra ? "," : "", extra ? extra : "");
#elif defined(CT_DRV_DPDK)
	struct keel_netns_opts o = { .no_addr = true, .queues = 1 };
	char opts[256];
	int rc = keel_netns_pair_create(&ct_pair, 1, &o);

	KEEL_NETNS_SKIP_UNLESS(rc, &ct_pair);
	/* IPv6 chatter on the link would only add frames to drop. */
	keel_netns_run("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", ct_pair.ifname);
	keel_netns_peer_run(&ct_pair, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
	snprintf(opts, sizeof(opts), "park=sleep%s%s", extra ? "," : "",
		 extra ? extra : "");
	keel_netns_dpdk_spec(&ct_pair, opts, ct_spec, sizeof(ct_spec));
#elif defined(CT_DRV_SIM)
	snprintf(ct_spec, sizeof(ct_spec), "sim%s%s", extra ? ":" : "",
		 extra ? extra : "");
#else
	snprintf(ct_spec, sizeof(ct_spec), "kernel%s%s", extra ? ":" : "",
		 extra ? extra : "");
#endif
}

/* keel's address (port 0 unless given) and the peer host's. */
static inline struct keel_addr ct_ours(unsigned port)
{
#if defined(CT_NETNS)
	return ct_addr(ct_pair.addr, port);
#elif defined(CT_DRV_SIM)
	return ct_addr(CT_SIM_OURS, port);
#else
	return ct_addr("127.0.0.1", port);
#endif
}

static inline struct keel_addr ct_peer_host(unsigned port)
{
#if defined(CT_NETNS)
	return ct_addr(ct_pair.peer_addr, port);
#elif defined(CT_DRV_SIM)
	return ct_addr(CT_SIM_PEER, port);
#else
	return ct_addr("127.0.0.1", port);
#endif
}

/* An address of no host here: the kernel refuses to bind it. */
static inline struct keel_addr ct_not_ours(void)
{
	return ct_addr("192.0.2.1", 0); /* TEST-NET-1 */
}

/* The directed broadcast address of keel's subnet; the sim driver has no
 * subnets (any address is a host), so there only the limited one. */
static inline struct keel_addr ct_directed_broadcast(unsigned port)
{
#if defined(CT_NETNS)
	return ct_addr("198.18.1.255", port);
#elif defined(CT_DRV_SIM)
	return ct_addr("255.255.255.255", port);
#else
	return ct_addr("127.255.255.255", port); /* lo's 127.0.0.0/8 */
#endif
}

/* The body runs on worker 0 (xdp: the queue the peer's frames reach). */
static inline intptr_t ct_home(struct keel_cx *cx)
{
#ifdef CT_DRV_XDP
	return keel_cx_home(cx, keel_runtime_worker(keel_cx_runtime(cx), 0));
#else
	(void)cx;
	return 0;
#endif
}

static inline int ct_runtime(struct keel_runtime **rt)
{
	struct keel_config cfg = { 0 };

	cfg.sched = getenv("KEEL_SCHED") ? getenv("KEEL_SCHED") : "local";
	cfg.workers = ct_workers();
	cfg.driver = ct_spec;
	return keel_runtime_create(&cfg, rt);
}

static inline void ct_run(keel_poll_fn *poll, size_t size, const char *extra)
{
	struct keel_runtime *rt;
	void *frame;
	intptr_t r;
	int rc;

	ct_up(extra);
	rc = ct_runtime(&rt);
	cr_assert_eq(rc, 0, "runtime on %s: %s", ct_spec, keel_strerror(rc));
	frame = calloc(1, size);
	cr_assert_not_null(frame);
	r = keel_runtime_block_on(rt, poll, NULL, frame, size);
	free(frame);
	keel_runtime_destroy(rt);
	cr_assert_geq(r, 0, "async body returned %ld (%s)", (long)r,
		      keel_strerror((int)r));
}

/*
 * CT_TEST_OPTS(name, type, extra): a case whose async body (seeing `f`, the
 * zeroed frame of \p type, and `cx`) runs on the driver under test, with
 * driver options \p extra (NULL: none). A negative result fails it.
 */
#define CT_TEST_OPTS(name, type, extra)                                        \
	static intptr_t ct__body_##name(type *f, struct keel_cx *cx);          \
	static intptr_t ct__poll_##name(void *frame, struct keel_cx *cx)       \
	{                                                                      \
		intptr_t h_ = ct_home(cx);                                     \
		if (h_ != 0)                                                   \
			return h_;                                             \
		return ct__body_##name((type *)frame, cx);                     \
	}                                                                      \
	Test(udp, name, .timeout = 60, .fini = ct_fini)                        \
	{                                                                      \
		ct_run(ct__poll_##name, sizeof(type), (extra));                \
	}                                                                      \
	static intptr_t ct__body_##name(type *f, struct keel_cx *cx)

#define CT_TEST(name, type) CT_TEST_OPTS(name, type, NULL)

/* Await a keel call under the frame's timer `t`, into the frame's `r`. */
#define CT_AWAIT(f, expr)                                                      \
	KEEL_AWAIT(f, (f)->r, keel_timeout(cx, &(f)->t, CT_LIMIT, (expr)))

/* Sleep \p ns on the frame's timer `t` (result in the frame's `r2`). */
#define CT_SLEEP(f, ns) KEEL_AWAIT(f, (f)->r2, keel_sleep_for(cx, &(f)->t, (ns)))

/* Wait until \p cond holds, at most CT_SPINS 1 ms sleeps; the frame's `r`
 * ends 0, or -ETIMEDOUT. The frame needs `r`, `r2`, `spin`, `t`. */
#define CT_UNTIL(f, cond)                                                      \
	do {                                                                   \
		for ((f)->spin = 0;; (f)->spin++) {                            \
			if (cond) {                                            \
				(f)->r = 0;                                    \
				break;                                         \
			}                                                      \
			if ((f)->spin >= CT_SPINS) {                           \
				(f)->r = -ETIMEDOUT;                           \
				break;                                         \
			}                                                      \
			CT_SLEEP(f, KEEL_MS);                                  \
		}                                                              \
	} while (0)

/* The counters every driver keeps (keel/driver.h), of the instance on the
 * worker polling \p cx: the body's, where its sockets are. */
static inline struct keel_driver_stats ct_stats(struct keel_cx *cx)
{
#if defined(CT_DRV_KERNEL)
	const struct keel_driver_ops *ops = &keel_drv_kernel;
#elif defined(CT_DRV_XDP)
	const struct keel_driver_ops *ops = &keel_drv_xdp;
#elif defined(CT_DRV_DPDK)
	const struct keel_driver_ops *ops = &keel_drv_dpdk;
#else
	const struct keel_driver_ops *ops = &keel_drv_sim;
#endif
	struct keel_driver_stats s = { 0 };
	void *d = keel_cx_driver(cx, ops);

	cr_assert_not_null(d, "the %s driver runs this test", CT_NAME);
	ops->stats(d, &s);
	return s;
}

/* ---------------------------------------------------------------- peer */

/* The other end: a kernel socket, or (sim) a socket of the simulation. */
struct ct_peer {
	int fd;
	struct keel_udp s;
	struct keel_addr addr; /* where it is bound */
};

static inline void ct_peer_open(struct keel_cx *cx, struct ct_peer *p)
{
	struct keel_addr a = ct_peer_host(0);
#if CT_KPEER
	socklen_t len = sizeof(p->addr);
	int big = 4 << 20;

	(void)cx;
#ifdef CT_NETNS
	p->fd = keel_netns_peer_socket(&ct_pair, AF_INET,
				       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#endif
	cr_assert_geq(p->fd, 0, "peer socket: %s", strerror(errno));
	/* room for a few of the largest datagrams */
	setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	cr_assert_eq(bind(p->fd, &a.sa, sizeof(a.in4)), 0, "peer bind: %s",
		     strerror(errno));
	cr_assert_eq(getsockname(p->fd, &p->addr.sa, &len), 0);
#else
	p->fd = -1;
	cr_assert_eq(keel_udp_bind(cx, &p->s, &a, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&p->s, &p->addr), 0);
#endif
}

static inline void ct_peer_close(struct ct_peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	if (p->s.ops)
		keel_udp_close(&p->s);
}

/* Send one datagram to \p to. \return 0, or a negative errno (the peer's
 * own buffer full: -EAGAIN/-ENOBUFS). */
static inline int ct_psend(struct keel_cx *cx, struct ct_peer *p,
			   const void *buf, size_t len,
			   const struct keel_addr *to)
{
#if CT_KPEER
	(void)cx;
	if (sendto(p->fd, buf, len, 0, &to->sa, sizeof(to->in4)) == (ssize_t)len)
		return 0;
	return -errno;
#else
	ssize_t n = p->s.ops->send_to(p->s.impl, cx, buf, len, to);

	return n == (ssize_t)len ? 0 : n < 0 ? (int)n : -EIO;
#endif
}

/* The same, asserting it went. */
static inline void ct_psend_ok(struct keel_cx *cx, struct ct_peer *p,
			       const void *buf, size_t len,
			       const struct keel_addr *to)
{
	int rc = ct_psend(cx, p, buf, len, to);

	cr_assert_eq(rc, 0, "peer send of %zu bytes: %s", len, strerror(-rc));
}

/* Take a datagram if one is there: its length, or -EAGAIN. */
static inline ssize_t ct_ptry(struct keel_cx *cx, struct ct_peer *p, void *buf,
			      size_t cap, struct keel_addr *from)
{
#if CT_KPEER
	struct keel_addr a;
	socklen_t alen = sizeof(a);
	ssize_t n;

	(void)cx;
	n = recvfrom(p->fd, buf, cap, MSG_DONTWAIT, &a.sa, &alen);
	if (n < 0)
		return -errno;
	if (from)
		*from = a;
	return n;
#else
	ssize_t n = p->s.ops->recv_from(p->s.impl, cx, buf, cap, from);

	return n == KEEL_PENDING ? -EAGAIN : n;
#endif
}

/* Wait for the peer to receive a datagram; the frame's `r` ends as its
 * length or -ETIMEDOUT. The frame needs `r`, `r2`, `spin`, `t`. */
#define CT_PRECV(f, p, buf, cap, from)                                         \
	do {                                                                   \
		for ((f)->spin = 0;; (f)->spin++) {                            \
			(f)->r = ct_ptry(cx, (p), (buf), (cap), (from));       \
			if ((f)->r != -EAGAIN)                                 \
				break;                                         \
			if ((f)->spin >= CT_SPINS) {                           \
				(f)->r = -ETIMEDOUT;                           \
				break;                                         \
			}                                                      \
			CT_SLEEP(f, KEEL_MS);                                  \
		}                                                              \
	} while (0)

/* Fill \p buf with a pattern that depends on \p seed. */
static inline void ct_pattern(void *buf, size_t len, unsigned seed)
{
	unsigned char *q = buf;

	for (size_t i = 0; i < len; i++)
		q[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
}

#endif /* KEEL_TESTS_CONFORM_H */
