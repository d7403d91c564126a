/* SPDX-License-Identifier: MIT */
/*
 * What the drivers/dpdk tests share: the root check (and the skip line CI
 * looks for), runtimes built from a --driver spec, stderr capture for
 * error messages, bounded waits, and "the wire": a test-owned EAL whose
 * ring port connects keel to a peer stack played by the test itself
 * (another keel_net), one frame at a time, on one thread.
 *
 * Every wait is bounded in count and in time; addresses are in
 * 198.18.0.0/15 and traffic stays in rings, virtual devices and test
 * namespaces.
 */
#ifndef KEEL_TESTS_DTEST_H
#define KEEL_TESTS_DTEST_H

#include <criterion/criterion.h>
#include <keel/dpdk.h>
#include <keel/keel.h>
#include <keel/net.h>
#include <keel/sched.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

/*
 * The peer's side of TSan's view of an mbuf handoff: keel's driver
 * releases an mbuf as it hands it to DPDK and acquires it as it gets one
 * back (drivers/dpdk/dpdk_internal.h); the test, playing the peer on the
 * rings, does the same, and makes its pool with the ops keel registers
 * under TSan (drivers/dpdk/eal.c), which do it for the mempool's ring.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define DT_TSAN(op, m)	 __tsan_##op(m)
#define DT_POOL_OPS	 "keel_tsan_ring"
#else
#define DT_TSAN(op, m)	 ((void)(m))
#define DT_POOL_OPS	 NULL
#endif

/* EAL arguments every test uses (no hugepages, no PCI, virtual devices). */
#define DT_EAL	 "--no-huge --no-pci -m 256"
#define DT_LIMIT (5 * KEEL_SEC)
#define DT_SPINS 20000000u

#define DT_KEEL_IP "198.18.0.1"
#define DT_PEER_IP "198.18.0.2"

/* Skip, printing the line CI fails on, unless root. */
static inline void dt_need_root(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP(bypass): not root: DPDK's EAL needs root here\n");
		fflush(stderr);
		cr_skip_test("not root");
	}
}

static inline uint32_t dt_ip(const char *s)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1, "bad test address %s", s);
	return a.s_addr;
}

static inline struct keel_addr dt_addr(const char *host, unsigned port)
{
	struct keel_addr a;

	cr_assert_eq(keel_addr_from(host, port, &a), 0);
	return a;
}

/* ------------------------------------------------------------- runtimes */

/*
 * Build a runtime on \p driver, run \p poll on a zeroed frame of \p size,
 * destroy. \return the task's result, or the create error in *create_rc.
 */
static inline intptr_t dt_run_sched(const char *sched, unsigned workers,
				    const char *driver, keel_poll_fn *poll,
				    size_t size, int *create_rc)
{
	struct keel_config cfg = { .sched = sched, .workers = workers,
				   .driver = driver };
	struct keel_runtime *rt = NULL;
	void *frame;
	intptr_t r;
	int rc;

	rc = keel_runtime_create(&cfg, &rt);
	if (create_rc)
		*create_rc = rc;
	if (rc < 0) {
		cr_assert(create_rc, "keel_runtime_create(%s): %s", driver,
			  keel_strerror(rc));
		return rc;
	}
	frame = calloc(1, size);
	cr_assert_not_null(frame);
	r = keel_runtime_block_on(rt, poll, NULL, frame, size);
	free(frame);
	keel_runtime_destroy(rt);
	return r;
}

static inline intptr_t dt_run(const char *driver, keel_poll_fn *poll,
			      size_t size)
{
	/* Every scheduler (KEEL_SCHED, set by the meson test name@sched), on
	 * one worker: the port has one queue here. */
	const char *sched = getenv("KEEL_SCHED");
	intptr_t r = dt_run_sched(sched ? sched : "local", 1, driver, poll,
				  size, NULL);

	cr_assert_geq(r, 0, "test task returned %ld (%s)", (long)r,
		      keel_strerror(r));
	return r;
}

/* ------------------------------------------------------- stderr capture */

struct dt_capture {
	int saved, fd;
	char text[8192];
};

static inline void dt_capture_begin(struct dt_capture *c)
{
	fflush(stderr);
	c->fd = memfd_create("dt_stderr", 0);
	cr_assert_geq(c->fd, 0);
	c->saved = dup(2);
	dup2(c->fd, 2);
}

/* Stop capturing; the text is in c->text and echoed to the real stderr. */
static inline const char *dt_capture_end(struct dt_capture *c)
{
	ssize_t n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	n = pread(c->fd, c->text, sizeof(c->text) - 1, 0);
	close(c->fd);
	c->text[n > 0 ? n : 0] = '\0';
	fputs(c->text, stderr);
	return c->text;
}

/* --------------------------------------------------------------- waits */

/* Yield (each yield lets the worker poll its driver) until \p cond holds,
 * at most DT_SPINS times and DT_LIMIT. The frame needs `spins` and
 * `deadline` (uint64_t). */
#define DT_SPIN(f, cx, cond)                                                   \
	for ((f)->spins = 0, (f)->deadline = keel_now(cx) + DT_LIMIT;           \
	     !(cond) && (f)->spins < DT_SPINS && keel_now(cx) < (f)->deadline;  \
	     (f)->spins++)                                                      \
	KEEL_YIELD(f, cx)

/* ------------------------------------------------------------- the wire */

#define DT_WIRE_MAXQ 2

struct dt_wire {
	unsigned nq;
	struct rte_ring *rx[DT_WIRE_MAXQ]; /* into keel */
	struct rte_ring *tx[DT_WIRE_MAXQ]; /* out of keel */
	struct rte_mempool *pool;	   /* the peer's mbufs */
	uint16_t port;
	struct keel_net *peer;		   /* the peer's stack */
	uint8_t peer_mac[6], keel_mac[6];
	uint32_t peer_ip, keel_ip;
	char spec[512];			   /* --driver for keel */
	int arp_q;			   /* queue for ARP answers; -1: same */
	uint64_t frames_out;		   /* frames keel sent */
};

/*
 * Start a test-owned EAL and a ring port with \p nq queue pairs whose TX
 * rings hold \p tx_ring frames; keel joins that EAL (no EAL arguments in
 * its spec), and \p extra keel options are appended.
 */
/* Start EAL the way an application would (keel then joins it). */
static inline void dt_eal_init(void)
{
	char prefix[64];
	char *argv[] = { "test", "--no-huge", "--no-pci", "-m", "256",
			 prefix, "--log-level=notice", NULL };

	snprintf(prefix, sizeof(prefix), "--file-prefix=keel-%ld", (long)getpid());
	cr_assert_geq(rte_eal_init(7, argv), 0, "rte_eal_init: %s",
		      rte_strerror(rte_errno));
}

static inline void dt_wire_init(struct dt_wire *w, unsigned nq,
				unsigned tx_ring, const char *extra)
{
	struct keel_net_config pc = { .mac = { 0x02, 0, 0, 0, 0, 0x02 },
				      .n_addrs = 1 };

	memset(w, 0, sizeof(*w));
	w->arp_q = -1;
	dt_eal_init();
	w->nq = nq;
	for (unsigned q = 0; q < nq; q++) {
		char name[32];

		snprintf(name, sizeof(name), "dt_rx%u", q);
		w->rx[q] = rte_ring_create(name, 1024, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "dt_tx%u", q);
		w->tx[q] = rte_ring_create(name, tx_ring, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
		cr_assert(w->rx[q] && w->tx[q], "rte_ring_create: %s",
			  rte_strerror(rte_errno));
	}
	{
		int id = rte_eth_from_rings("dtw", w->rx, nq, w->tx, nq,
					    SOCKET_ID_ANY);

		cr_assert_geq(id, 0, "rte_eth_from_rings: %s",
			      rte_strerror(rte_errno));
		w->port = (uint16_t)id;
	}
	w->pool = rte_pktmbuf_pool_create_by_ops("dt_peer", 4095, 0, 0,
						 RTE_MBUF_DEFAULT_BUF_SIZE,
						 SOCKET_ID_ANY, DT_POOL_OPS);
	cr_assert_not_null(w->pool);
	w->peer_ip = dt_ip(DT_PEER_IP);
	w->keel_ip = dt_ip(DT_KEEL_IP);
	memcpy(w->peer_mac, pc.mac, 6);
	pc.addrs[0].addr = w->peer_ip;
	pc.addrs[0].prefix_len = 24;
	cr_assert_eq(keel_net_create(&pc, &w->peer), 0);
	snprintf(w->spec, sizeof(w->spec),
		 "dpdk:ip=" DT_KEEL_IP "/24,port=net_ring_dtw,queues=%u%s%s", nq,
		 extra && *extra ? "," : "", extra ? extra : "");
}

static inline void dt_wire_drain(struct dt_wire *w)
{
	void *m;

	for (unsigned q = 0; q < w->nq; q++) {
		while (rte_ring_dequeue(w->rx[q], &m) == 0)
			rte_pktmbuf_free(m);
		while (rte_ring_dequeue(w->tx[q], &m) == 0)
			rte_pktmbuf_free(m);
	}
}

/* EAL leaves its runtime directory behind after rte_eal_cleanup. */
static inline void dt_remove_dir(const char *path)
{
	DIR *d = opendir(path);

	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(path);
}

static inline void dt_eal_fini(void)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	dt_remove_dir(dir);
}

/* After keel's runtime is destroyed. */
static inline void dt_wire_fini(struct dt_wire *w)
{
	dt_wire_drain(w);
	rte_eth_dev_close(w->port);
	for (unsigned q = 0; q < w->nq; q++) {
		rte_ring_free(w->rx[q]);
		rte_ring_free(w->tx[q]);
	}
	cr_expect(rte_mempool_full(w->pool), "the peer's mbufs all came home");
	rte_mempool_free(w->pool);
	keel_net_destroy(w->peer);
	dt_eal_fini();
}

/* Put a raw frame on the wire towards keel, on queue \p q. */
static inline void dt_wire_inject(struct dt_wire *w, unsigned q,
				  const void *frame, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(w->pool);

	cr_assert_not_null(m, "the peer's pool is empty");
	cr_assert_not_null(rte_pktmbuf_append(m, (uint16_t)len));
	memcpy(rte_pktmbuf_mtod(m, void *), frame, len);
	DT_TSAN(release, m);
	cr_assert_eq(rte_ring_enqueue(w->rx[q], m), 0, "wire full");
}

/* Build a datagram from the peer to keel. \return the frame length. */
static inline size_t dt_wire_udp_frame(struct dt_wire *w, uint8_t *frame,
				       size_t cap, uint16_t sport,
				       uint16_t dport, const void *payload,
				       size_t len)
{
	struct keel_net_udp_tx tx = {
		.src_ip = w->peer_ip,
		.dst_ip = w->keel_ip,
		.src_port = htons(sport),
		.dst_port = htons(dport),
	};
	int r;

	memcpy(tx.dst_mac, w->keel_mac, 6);
	memcpy(frame + KEEL_NET_UDP_HDRS, payload, len);
	r = keel_net_udp_build(w->peer, frame, cap, &tx, len, 0);
	cr_assert_gt(r, 0, "keel_net_udp_build: %d", r);
	return (size_t)r;
}

static inline void dt_wire_send_udp(struct dt_wire *w, unsigned q,
				    uint16_t sport, uint16_t dport,
				    const void *payload, size_t len)
{
	uint8_t f[2048];

	dt_wire_inject(w, q, f, dt_wire_udp_frame(w, f, sizeof(f), sport,
						  dport, payload, len));
}

/* Take one frame keel sent on queue \p q. \return its length, 0: none. */
static inline size_t dt_wire_take(struct dt_wire *w, unsigned q, uint8_t *buf,
				  size_t cap)
{
	struct rte_mbuf *m;
	size_t len;

	if (rte_ring_dequeue(w->tx[q], (void **)&m) != 0)
		return 0;
	DT_TSAN(acquire, m);
	len = rte_pktmbuf_data_len(m);
	cr_assert_leq(len, cap);
	cr_assert_eq(m->nb_segs, 1);
	memcpy(buf, rte_pktmbuf_mtod(m, void *), len);
	rte_pktmbuf_free(m);
	w->frames_out++;
	return len;
}

/* A datagram the peer received. */
struct dt_dgram {
	unsigned q;			/* the queue keel sent it on */
	uint16_t sport, dport;
	uint32_t src_ip;
	size_t len;
	uint8_t data[1500];
};

/*
 * Play the peer for everything keel sent: answer ARP requests for the
 * peer (on the queue they came from), keep datagrams (up to \p max in
 * \p out, verified by the peer's stack: checksums included), count the
 * rest (other frames, datagrams past \p max) in *other. \return datagrams
 * kept.
 */
static inline unsigned dt_wire_pump(struct dt_wire *w, struct dt_dgram *out,
				    unsigned max, unsigned *other)
{
	uint8_t f[2048];
	unsigned got = 0;

	for (unsigned q = 0; q < w->nq; q++) {
		size_t len;

		while ((len = dt_wire_take(w, q, f, sizeof(f)))) {
			struct keel_net_rx_result r;
			int n;

			switch (keel_net_rx(w->peer, f, len, 0, 0, &r)) {
			case KEEL_NET_RX_ARP_REQUEST:
				n = keel_net_reply(w->peer, f, sizeof(f), &r);
				cr_assert_gt(n, 0);
				dt_wire_inject(w, w->arp_q < 0 ? q : (unsigned)w->arp_q,
					       f, (size_t)n);
				break;
			case KEEL_NET_RX_UDP:
				if (got == max) {
					if (other)
						(*other)++;
					break;
				}
				out[got].q = q;
				out[got].sport = ntohs(r.src_port);
				out[got].dport = ntohs(r.dst_port);
				out[got].src_ip = r.src_ip;
				out[got].len = r.payload_len;
				memcpy(out[got].data, f + r.payload_off, r.payload_len);
				got++;
				break;
			default:
				if (other)
					(*other)++;
				break;
			}
		}
	}
	return got;
}

/* keel's MAC, from inside a task (keel's instance is up by then). */
static inline void dt_wire_learn_keel(struct dt_wire *w, struct keel_cx *cx)
{
	struct keel_dpdk_info info;

	cr_assert_eq(keel_dpdk_info_get(cx, &info), 0);
	memcpy(w->keel_mac, info.mac, 6);
	keel_net_neigh_set(w->peer, w->keel_ip, w->keel_mac, 0,
			   KEEL_NET_NEIGH_STATIC);
}

static inline struct keel_dpdk_stats dt_stats(struct keel_cx *cx)
{
	struct keel_dpdk_stats s;

	cr_assert_eq(keel_dpdk_stats_get(cx, &s), 0);
	return s;
}

#endif /* KEEL_TESTS_DTEST_H */
