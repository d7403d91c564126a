/* SPDX-License-Identifier: MIT */
/*
 * keel_udp_serve on DPDK, once per scheduler: net_af_packet with a queue
 * pair per worker (the driver's default: queues = workers) over a veth
 * pair; the kernel's packet fanout hashes each flow to one queue, as RSS
 * does on a NIC. Every worker serves, no flow moves, no datagram finds a
 * queue without a socket, and every worker's thread has an lcore id (the
 * driver registers the threads EAL did not start).
 */
#include "dtest.h"
#include "flows.h"
#include "netns.h"

#include <rte_lcore.h>

static struct keel_netns_pair P;
static char spec[512];
static struct flows fl;
static struct keel_dpdk_stats wstats[FLOWS_WMAX];
static unsigned lcore_of[FLOWS_WMAX];

static intptr_t read_worker(void *frame, struct keel_cx *cx)
{
	unsigned i = keel_worker_index(keel_cx_worker(cx));

	(void)frame;
	lcore_of[i] = rte_lcore_id();
	return keel_dpdk_stats_get(cx, &wstats[i]);
}

struct spread {
	struct keel_co co;
	struct keel_addr addr;
	struct keel_join *svc, *j;
	struct keel_timer t;
	unsigned spin, i;
	intptr_t r;
};

static intptr_t spread_body(void *frame, struct keel_cx *cx)
{
	struct spread *f = frame;
	uint64_t no_socket = 0;

	KEEL_BEGIN(f);
	flows_init(&fl);
	f->addr = dt_addr(P.addr, 7000);
	KEEL_AWAIT(f, f->r, keel_udp_serve(cx, &f->addr, NULL, flows_tally, &fl, &f->svc));
	cr_assert_eq(f->r, 0, "serve: %s", keel_strerror(f->r));
	fl.n = 64;
	fl.rounds = 10;
	fl.dst = f->addr.in4;
	for (unsigned i = 0; i < fl.n; i++) {
		fl.fds[i] = keel_netns_peer_socket(&P, AF_INET, SOCK_DGRAM, 0);
		cr_assert_geq(fl.fds[i], 0);
	}
	cr_assert_eq(flows_start(&fl), 0);
	for (f->spin = 0; !atomic_load(&fl.done) && f->spin < 60000; f->spin++)
		KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, KEEL_MS));
	cr_assert(atomic_load(&fl.done), "the client finished in time");
	flows_finish(&fl);
	for (f->i = 0; f->i < keel_cx_workers(cx); f->i++) {
		cr_assert_eq(keel_spawn_on(cx, f->i, read_worker, NULL, NULL, 0, &f->j), 0);
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
		cr_assert_eq(f->r, 0);
	}
	for (unsigned i = 0; i < keel_cx_workers(cx); i++) {
		no_socket += wstats[i].rx_no_socket;
		cr_assert_neq(lcore_of[i], LCORE_ID_ANY, "worker %u has an lcore id", i);
	}
	cr_assert_eq(no_socket, 0, "%llu datagrams found no socket",
		     (unsigned long long)no_socket);
	/* Replies to the first datagrams of a flow may wait on ARP: count
	 * those that came, and that every flow was served. */
	cr_assert_eq(flows_seen(&fl), fl.n);
	cr_assert_geq(fl.replies, fl.n * (fl.rounds - 1), "datagrams answered: "
		      "%u of %u", fl.replies, fl.n * fl.rounds);
	cr_assert_eq(flows_busy_workers(&fl), keel_cx_workers(cx),
		     "every worker served (%u of %u)", flows_busy_workers(&fl),
		     keel_cx_workers(cx));
	cr_assert_eq(atomic_load(&fl.moved), 0, "each flow stays on one queue");
	keel_join_abort(f->svc);
	KEEL_END(f);
}

Test(spread, flows_are_served_by_every_worker, .timeout = 120,
     .fini = keel_netns_cleanup)
{
	struct keel_netns_opts o = { .no_addr = true, .queues = 1 };
	const char *sched = getenv("KEEL_SCHED");
	unsigned workers = getenv("KEEL_WORKERS") ? (unsigned)atoi(getenv("KEEL_WORKERS")) : 1;
	int rc;

	dt_need_root();
	rc = keel_netns_pair_create(&P, 1, &o);
	KEEL_NETNS_SKIP_UNLESS(rc, &P);
	/* No queues=: one per worker. */
	snprintf(spec, sizeof(spec),
		 "dpdk:ip=%s/24 -- " DT_EAL " --vdev=net_af_packet0,iface=%s,qpairs=%u",
		 P.addr, P.ifname, workers);
	cr_assert_geq(dt_run_sched(sched ? sched : "local", workers, spec,
				   spread_body, sizeof(struct spread), NULL), 0);
}
