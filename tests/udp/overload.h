/* SPDX-License-Identifier: MIT */
/*
 * Overload with nothing unaccounted (issue 12, item 5), at small scale:
 * the peer sends OL_ROUNDS bursts of OL_BURST datagrams, one burst per
 * millisecond of keel's clock, whatever comes back (an open loop), to an
 * echo task that answers at most OL_PER_TURN datagrams per millisecond
 * through a socket whose queue holds a handful: far more is sent than can
 * be echoed. Then, with a bound, until it holds:
 *
 *     sent by the peer = echoes the peer received + drops
 *
 * where every drop is in a named counter, on the way in or on the way
 * back: the driver's own (socket queue full, kernel ring full, fill ring
 * empty, no buffer), the kernel's socket buffers (SO_MEMINFO's drop count,
 * on keel's socket and on the peer's), the veth pair's drop counters, and
 * the echo's own refused sends. Nothing here times anything: the test
 * asserts the identity and that load was shed, and prints the counters.
 * perf/overload.sh is the same at full scale (10 s, twice what the echo
 * serves, peak memory) and docs/perf.md has its figures.
 *
 * Included at the end of test_conform.c.
 */
#include <inttypes.h>
#include <linux/sock_diag.h>
#include <stdint.h>

#ifdef CT_NETNS
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <pthread.h>
#include <sched.h>
#endif

#define OL_ROUNDS   40
#define OL_BURST    64
#define OL_PER_TURN 4
#define OL_NAMES    12

/* The driver's socket queue, small (and the kernel socket's receive
 * buffer, at its minimum). */
#if defined(CT_DRV_XDP)
#define OL_OPTS "rxq=8"
#elif defined(CT_DRV_DPDK)
#define OL_OPTS "sockq=8"
#elif defined(CT_DRV_SIM)
#define OL_OPTS "qlen=8"
#else
#define OL_OPTS NULL
#endif

struct ol_shared {
	atomic_bool stop;
	atomic_uint_fast64_t echoed;  /* sends the echo made */
	atomic_uint_fast64_t refused; /* sends the driver refused */
};

struct ol_drops {
	unsigned n;
	const char *name[OL_NAMES];
	uint64_t v[OL_NAMES];
};

static void ol_add(struct ol_drops *d, const char *name, uint64_t v)
{
	cr_assert_lt(d->n, OL_NAMES);
	d->name[d->n] = name;
	d->v[d->n++] = v;
}

/* A kernel socket's drop count (SO_MEMINFO: receive buffer full). */
static inline uint64_t ol_sock_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS] = { 0 };
	socklen_t len = sizeof(mi);

	if (fd < 0)
		return 0;
	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len), 0,
		     "SO_MEMINFO: %s", strerror(errno));
	cr_assert_gt(len, SK_MEMINFO_DROPS * sizeof(uint32_t));
	return mi[SK_MEMINFO_DROPS];
}

#ifdef CT_NETNS
/* tx_dropped of interface \p ifname in the calling thread's network
 * namespace: what it could not forward to the other end. (Its rx_dropped
 * counts what its XDP program could not redirect, which AF_XDP's own
 * counters have already.) */
static uint64_t ol_if_drops(const char *ifname)
{
	struct ifaddrs *all;
	uint64_t v = 0;

	cr_assert_eq(getifaddrs(&all), 0);
	for (struct ifaddrs *i = all; i; i = i->ifa_next) {
		const struct rtnl_link_stats *s = i->ifa_data;

		if (i->ifa_addr && i->ifa_addr->sa_family == AF_PACKET && s &&
		    !strcmp(i->ifa_name, ifname))
			v = s->tx_dropped;
	}
	freeifaddrs(all);
	return v;
}

struct ol_ns_read {
	const char *ns, *ifname;
	uint64_t v;
	int rc;
};

static void *ol_ns_thread(void *arg)
{
	struct ol_ns_read *q = arg;
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", q->ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		q->rc = -errno;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	q->v = ol_if_drops(q->ifname);
	return NULL;
}

/* The same in the peer namespace (a thread steps in, and ends there). */
static uint64_t ol_peer_if_drops(void)
{
	struct ol_ns_read q = { .ns = ct_pair.peer_ns, .ifname = ct_pair.peer_ifname };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, ol_ns_thread, &q), 0);
	pthread_join(t, NULL);
	cr_assert_eq(q.rc, 0, "entering %s: %s", q.ns, strerror(-q.rc));
	return q.v;
}
#endif

#if defined(CT_DRV_XDP) || defined(CT_DRV_DPDK)
/* net/'s transmit drops (no route, ARP queue full or timed out). */
static uint64_t ol_net_tx(const struct keel_net_stats *n)
{
	uint64_t t = 0;

	for (int i = KEEL_NET_DROP_NO_ROUTE; i < KEEL_NET_DROP_MAX; i++)
		t += n->drops[i];
	return t;
}
#endif

#ifdef CT_DRV_DPDK
#include <dirent.h>
#include <linux/if_packet.h>

/*
 * Frames the kernel dropped for want of room in the ring of a packet
 * socket of this process: net_af_packet's (DPDK 22.11's PMD does not
 * report them). PACKET_STATISTICS resets on read: the sum is kept here.
 */
static uint64_t ol_packet_drops(void)
{
	static uint64_t sum;
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;

	cr_assert_not_null(dir);
	while ((e = readdir(dir))) {
		int fd = atoi(e->d_name), dom = 0;
		socklen_t len = sizeof(dom);
		struct tpacket_stats_v3 st;

		if (fd <= 2 || fd == dirfd(dir) ||
		    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0 ||
		    dom != AF_PACKET)
			continue;
		len = sizeof(st);
		if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			sum += st.tp_drops;
	}
	closedir(dir);
	return sum;
}
#endif

/* Every drop counter on the way, now. */
static void ol_read(struct keel_cx *cx, struct keel_udp *s, struct ct_peer *p,
		    struct ol_shared *sh, struct ol_drops *d)
{
	(void)s;
	(void)p;
	memset(d, 0, sizeof(*d));
	ol_add(d, "echo: send refused", atomic_load(&sh->refused));
#if CT_KPEER
	ol_add(d, "peer: socket receive buffer (SO_MEMINFO)", ol_sock_drops(p->fd));
#endif
#if defined(CT_DRV_KERNEL)
	{
		struct keel_driver_stats ds;

		ol_add(d, "keel: socket receive buffer (SO_MEMINFO)",
		       ol_sock_drops(keel_kernel_udp_fd(s)));
		keel_drv_kernel.stats(keel_cx_driver(cx, &keel_drv_kernel), &ds);
		ol_add(d, "kernel driver: tx_dropped (ENOBUFS)", ds.tx_dropped);
	}
#elif defined(CT_DRV_XDP)
	{
		struct keel_xdp_stats xs;

		cr_assert_eq(keel_xdp_stats_get(cx, &xs), 0);
		ol_add(d, "xdp: socket queue full", xs.sock_queue_full);
		ol_add(d, "xdp: kernel, no frame (fill ring empty)", xs.k_rx_dropped);
		ol_add(d, "xdp: kernel, RX ring full", xs.k_rx_ring_full);
		ol_add(d, "xdp: net/ transmit drops", ol_net_tx(&xs.net));
		ol_add(d, "veth: our end tx_dropped", ol_if_drops(ct_pair.ifname));
		ol_add(d, "veth: the peer end tx_dropped", ol_peer_if_drops());
	}
#elif defined(CT_DRV_DPDK)
	{
		struct keel_dpdk_stats ds;

		cr_assert_eq(keel_dpdk_stats_get(cx, &ds), 0);
		ol_add(d, "dpdk: socket queue full", ds.rx_sock_full);
		ol_add(d, "dpdk: port missed (RX ring full)", ds.port_imissed);
		ol_add(d, "dpdk: port no mbuf", ds.port_rx_nombuf);
		ol_add(d, "dpdk: TX full", ds.tx_full);
		ol_add(d, "dpdk: net/ transmit drops", ol_net_tx(&ds.net));
		ol_add(d, "af_packet: ring full (tp_drops)", ol_packet_drops());
		ol_add(d, "veth: our end tx_dropped", ol_if_drops(ct_pair.ifname));
		ol_add(d, "veth: the peer end tx_dropped", ol_peer_if_drops());
	}
#else
	{
		struct keel_sim_stats ss;

		cr_assert_eq(keel_sim_stats_get(cx, &ss), 0);
		ol_add(d, "sim: socket queue full", ss.queue_full);
		ol_add(d, "sim: lost", ss.lost);
	}
#endif
}

static uint64_t ol_total(const struct ol_drops *d)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < d->n; i++)
		t += d->v[i];
	return t;
}

/* The echo: at most OL_PER_TURN datagrams per millisecond. */
struct ol_echo {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp *s;
	struct ol_shared *sh;
	struct keel_addr from;
	unsigned n;
	char buf[64];
};

static intptr_t ol_echo_poll(void *frame, struct keel_cx *cx)
{
	struct ol_echo *f = frame;

	KEEL_BEGIN(f);
	for (;;) {
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 20 * KEEL_MS,
			   keel_udp_recv_from(cx, f->s, f->buf, sizeof(f->buf),
					      &f->from)));
		if (f->r == -ETIMEDOUT) {
			if (atomic_load(&f->sh->stop))
				break;
			continue;
		}
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, CT_LIMIT,
			   keel_udp_send_to(cx, f->s, f->buf, (size_t)f->r, &f->from)));
		if (f->r >= 0)
			atomic_fetch_add(&f->sh->echoed, 1);
		else
			atomic_fetch_add(&f->sh->refused, 1);
		if (++f->n % OL_PER_TURN == 0)
			KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, KEEL_MS));
	}
	KEEL_RETURN(f, 0);
	KEEL_END(f);
}

struct ol_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, round, k;
	struct keel_udp s;
	struct keel_addr sa;
	struct ct_peer p;
	struct keel_join *join;
	struct ol_shared sh;
	struct ol_drops d0, d;
	uint64_t sent, not_sent, got;
	char buf[64];
};

/* Drain what came back to the peer; true once everything sent is
 * accounted for. */
static bool ol_balanced(struct ol_frame *f, struct keel_cx *cx)
{
	while (ct_ptry(cx, &f->p, f->buf, sizeof(f->buf), NULL) >= 0)
		f->got++;
	ol_read(cx, &f->s, &f->p, &f->sh, &f->d);
	for (unsigned i = 0; i < f->d.n; i++)
		f->d.v[i] -= f->d0.v[i];
	return f->sent == f->got + ol_total(&f->d);
}

CT_TEST_OPTS(overload_every_datagram_accounted, struct ol_frame, OL_OPTS)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	/* the kernel socket's receive buffer at its minimum: a few datagrams */
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa,
				   &(struct keel_udp_opts){ .rcvbuf = 1 }), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	ct_peer_open(cx, &f->p);
	/* the path is warm (ARP done) before the counters start */
	ct_psend_ok(cx, &f->p, "warm", 4, &f->sa);
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 4);
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, "warm", 4, &f->p.addr));
	CT_PRECV(f, &f->p, f->buf, sizeof(f->buf), NULL);
	cr_assert_eq(f->r, 4);
	ol_read(cx, &f->s, &f->p, &f->sh, &f->d0);

	cr_assert_eq(KEEL_SPAWN(cx, ol_echo_poll, NULL, &f->join, struct ol_echo,
				.s = &f->s, .sh = &f->sh), 0);
	for (f->round = 0; f->round < OL_ROUNDS; f->round++) {
		for (f->k = 0; f->k < OL_BURST; f->k++) {
			if (ct_psend(cx, &f->p, &f->k, sizeof(f->k), &f->sa) == 0)
				f->sent++;
			else
				f->not_sent++; /* the peer's own buffer: never sent */
		}
		while (ct_ptry(cx, &f->p, f->buf, sizeof(f->buf), NULL) >= 0)
			f->got++;
		CT_SLEEP(f, KEEL_MS);
	}
	CT_UNTIL(f, ol_balanced(f, cx));
	fprintf(stderr, "conform@%s: overload: sent %" PRIu64 " = echoed %" PRIu64
		" + dropped %" PRIu64 " (peer could not send %" PRIu64 ")\n",
		CT_NAME, f->sent, f->got, ol_total(&f->d), f->not_sent);
	for (unsigned i = 0; i < f->d.n; i++)
		fprintf(stderr, "    %-44s %" PRIu64 "\n", f->d.name[i], f->d.v[i]);
	cr_assert_eq(f->r, 0, "%" PRIu64 " datagrams unaccounted for (sent %" PRIu64
		     ", echoed %" PRIu64 ", dropped %" PRIu64 ")",
		     f->sent - f->got - ol_total(&f->d), f->sent, f->got,
		     ol_total(&f->d));
	cr_assert_gt(ol_total(&f->d), 0, "load was shed");
	cr_assert_gt(f->got, 0, "and some was served");
	atomic_store(&f->sh.stop, true);
	CT_AWAIT(f, keel_join_poll(cx, f->join));
	cr_assert_eq(f->r, 0, "the echo ended well: %s", keel_strerror((int)f->r));
	ct_peer_close(&f->p);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}
