/* SPDX-License-Identifier: MIT */
/*
 * keel_udp_serve on AF_XDP, once per scheduler: a veth pair with a queue
 * per worker on both ends (the peer's TX queue follows the flow hash, and
 * a frame sent on its TX queue i arrives on our RX queue i), so the flows
 * spread over the queues; every worker serves, no flow moves, and no
 * datagram finds a queue without a socket. Also: the driver raises the
 * interface's queue count to the worker count (ethtool channels), and a
 * driver that cannot start gives way to the next --driver.
 */
#include "core_internal.h"
#include "flows.h"
#include "xtest.h"

#include <keel/kernel.h>

static struct flows fl;

struct spread {
	struct keel_co co;
	struct keel_addr addr;
	struct keel_join *svc;
	struct keel_timer t;
	unsigned spin;
	intptr_t r, r2;
};

static void add_xstat(void *arg, const struct keel_stat *st)
{
	struct keel_xdp_stats *sum = arg;

	if (st->scope != KEEL_STAT_XSTAT)
		return;
	if (strcmp(st->name, "no_socket") == 0)
		sum->no_socket += st->value;
	else if (strcmp(st->name, "sock_queue_full") == 0)
		sum->sock_queue_full += st->value;
}

/* The XDP drop counters of every worker, summed: read the way any thread
 * may read another worker's (keel/stats.h). */
static struct keel_xdp_stats xdp_sum(struct keel_cx *cx)
{
	struct keel_xdp_stats sum = { 0 };

	cr_assert_eq(keel_stats_read(keel_cx_runtime(cx), add_xstat, &sum), 0);
	return sum;
}

static intptr_t spread_body(void *frame, struct keel_cx *cx)
{
	struct spread *f = frame;
	struct keel_xdp_stats s;

	KEEL_BEGIN(f);
	flows_init(&fl);
	f->addr = xt_ours(XT_PORT);
	KEEL_AWAIT(f, f->r, keel_udp_serve(cx, &f->addr, NULL, flows_tally, &fl, &f->svc));
	cr_assert_eq(f->r, 0, "serve: %s", keel_strerror(f->r));
	fl.n = 64;
	fl.rounds = 10;
	fl.dst = f->addr.in4;
	for (unsigned i = 0; i < fl.n; i++) {
		fl.fds[i] = keel_netns_peer_socket(&xt_pair, AF_INET, SOCK_DGRAM, 0);
		cr_assert_geq(fl.fds[i], 0);
	}
	cr_assert_eq(flows_start(&fl), 0);
	for (f->spin = 0; !atomic_load(&fl.done) && f->spin < 60000; f->spin++)
		XT_SLEEP(f, KEEL_MS);
	cr_assert(atomic_load(&fl.done), "the client finished in time");
	flows_finish(&fl);
	s = xdp_sum(cx);
	cr_assert_eq(s.no_socket, 0, "%llu datagrams found no socket",
		     (unsigned long long)s.no_socket);
	cr_assert_eq(fl.replies, fl.n * fl.rounds, "every datagram answered "
		     "(%u of %u)", fl.replies, fl.n * fl.rounds);
	cr_assert_eq(flows_seen(&fl), fl.n);
	cr_assert_eq(flows_busy_workers(&fl), keel_cx_workers(cx),
		     "every worker served (%u of %u)", flows_busy_workers(&fl),
		     keel_cx_workers(cx));
	cr_assert_eq(atomic_load(&fl.moved), 0, "each flow stays on one queue");
	keel_join_abort(f->svc);
	KEEL_END(f);
}

Test(spread, flows_are_served_by_every_worker, .timeout = 60, .fini = xt_fini)
{
	struct keel_netns_opts o = { .queues = xt_workers() };

	xt_up(&o); /* peer_queues 0: as many as ours */
	cr_assert_eq(xt_block_on(NULL, spread_body, NULL, sizeof(struct spread)), 0);
}

/* Our end made with a queue per worker, then cut to one: the driver asks
 * for them back. */
Test(spread, the_driver_sets_a_queue_per_worker, .timeout = 60, .fini = xt_fini)
{
	struct keel_netns_opts o = { .queues = xt_workers() + 1 };
	struct keel_runtime *rt;
	char cmd[128];

	if (xt_workers() < 2)
		cr_skip_test("one worker needs one queue");
	xt_up(&o);
	cr_assert_eq(keel_netns_run("ethtool -L %s rx 1 tx 1", xt_pair.ifname), 0);
	cr_assert_eq(xt_runtime(NULL, &rt), 0);
	snprintf(cmd, sizeof(cmd), "ethtool -l %s | tail -4 | grep -q 'RX:\\s*%u'",
		 xt_pair.ifname, xt_workers());
	cr_assert_eq(keel_netns_run("%s", cmd), 0, "%s has a queue per worker",
		     xt_pair.ifname);
	keel_runtime_destroy(rt);
}

Test(spread, a_missing_interface_falls_back_to_the_kernel, .timeout = 60)
{
	struct keel_config cfg = { 0 };
	struct keel_runtime *rt;

	cfg.sched = getenv("KEEL_SCHED");
	cfg.workers = xt_workers();
	cfg.driver = "xdp:keel-nosuch0";
	cfg.driver_fallback[0] = "kernel";
	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	cr_assert_str_eq(keel_runtime_config(rt)->driver, "kernel");
	keel_runtime_destroy(rt);
}
