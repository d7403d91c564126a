/* SPDX-License-Identifier: MIT */
/*
 * drivers/sim: the simulated network on the test clock. The same seed
 * gives the same run event for event (equal trace hashes); each fault is
 * drawn and counted; delay is exact on the virtual clock; the UDP API
 * behaves as on the other drivers; and keel's own retry-with-timeout code
 * recovers every datagram through heavy seeded loss.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <keel/keel.h>
#include <keel/sim.h>
#include <stdio.h>
#include <string.h>

#define ECHO "10.0.0.2"
#define ECHO_PORT 7

struct head {
	struct keel_co co;
	void *out;
};

/* Run \p body on a local runtime with the test clock and driver \p spec;
 * \return the body's result. */
static intptr_t run_sim(const char *spec, keel_poll_fn *body, void *frame, size_t size)
{
	/* block_on runs a copy of the frame: its `out` points back here
	 * (every frame here starts like struct head) */
	((struct head *)frame)->out = frame;
	struct keel_config cfg = { .sched = "local", .driver = spec, .test_clock = true };
	struct keel_runtime *rt;
	intptr_t r;
	int rc = keel_runtime_create(&cfg, &rt);

	cr_assert_eq(rc, 0, "runtime on %s: %s", spec, keel_strerror(rc));
	r = keel_runtime_block_on(rt, body, NULL, frame, size);
	keel_runtime_destroy(rt);
	return r;
}

static struct keel_addr addr(const char *host, unsigned port)
{
	struct keel_addr a;

	cr_assert_eq(keel_addr_from(host, port, &a), 0);
	return a;
}

/* ------------------------------------------------ retrying under faults */

/*
 * A client as keel services write them: send request i, wait for its echo
 * at most 50 ms, resend on timeout, skip answers that are not request i
 * (late or duplicated ones). Through loss, duplication, reordering, delay
 * and corruption every request is answered in the end.
 */
#define REQS 200

struct retry {
	struct keel_co co;
	void *out; /* the caller's copy, where the results go */
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr echo, from;
	unsigned i, tries, resends;
	intptr_t r;
	char req[32], in[64];
	struct keel_sim_stats st;
	uint64_t start, elapsed;
};

static intptr_t retry_body(void *frame, struct keel_cx *cx)
{
	struct retry *f = frame;
	struct keel_addr any = addr("0.0.0.0", 0);

	KEEL_BEGIN(f);
	f->echo = addr(ECHO, ECHO_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &any, NULL), 0);
	f->start = keel_now(cx);
	for (f->i = 0; f->i < REQS; f->i++) {
		snprintf(f->req, sizeof(f->req), "request %u", f->i);
		for (f->tries = 0;; f->tries++) {
			cr_assert_lt(f->tries, 100, "request %u never answered", f->i);
			if (f->tries)
				f->resends++;
			KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->req,
							     strlen(f->req), &f->echo));
			cr_assert_eq(f->r, (intptr_t)strlen(f->req));
			for (;;) {
				KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 50 * KEEL_MS,
						keel_udp_recv_from(cx, &f->s, f->in,
								   sizeof(f->in) - 1, &f->from)));
				if (f->r == -ETIMEDOUT || f->r < 0)
					break;
				f->in[f->r] = '\0';
				if (!strcmp(f->in, f->req))
					break; /* corrupted, late or duplicate: skip */
			}
			if (f->r >= 0)
				break;
			cr_assert_eq(f->r, -ETIMEDOUT);
		}
		cr_assert(keel_addr_equal(&f->from, &f->echo));
	}
	f->elapsed = keel_now(cx) - f->start;
	cr_assert_eq(keel_sim_stats_get(cx, &f->st), 0);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	memcpy(f->out, f, sizeof(*f)); /* block_on ran a copy */
	KEEL_END(f);
}

#define FAULTY "sim:loss=0.2,dup=0.1,reorder=0.2,delay=5,corrupt=0.05,echo=" ECHO ":7"

Test(sim, same_seed_same_run)
{
	struct retry a = { 0 }, b = { 0 }, c = { 0 };

	cr_assert_eq(run_sim(FAULTY ",seed=42", retry_body, &a, sizeof(a)), 0);
	cr_assert_eq(run_sim(FAULTY ",seed=42", retry_body, &b, sizeof(b)), 0);
	cr_assert_eq(run_sim(FAULTY ",seed=43", retry_body, &c, sizeof(c)), 0);
	cr_assert_neq(a.st.trace, 0);
	cr_assert_eq(a.st.trace, b.st.trace, "same seed, same events: %016llx %016llx",
		     (unsigned long long)a.st.trace, (unsigned long long)b.st.trace);
	cr_assert_eq(a.elapsed, b.elapsed, "same virtual time");
	cr_assert_eq(a.resends, b.resends);
	cr_assert_eq(memcmp(&a.st, &b.st, sizeof(a.st)), 0, "same counters");
	cr_assert_neq(a.st.trace, c.st.trace, "another seed, another run");
	/* Every kind of fault happened, and the retries got through them. */
	cr_assert_gt(a.st.lost, 0);
	cr_assert_gt(a.st.duplicated, 0);
	cr_assert_gt(a.st.reordered, 0);
	cr_assert_gt(a.st.corrupted, 0);
	cr_assert_gt(a.resends, 0, "loss made the client resend");
	cr_assert_eq(a.st.sent, REQS + a.resends);
	/* Each request and each echo makes a trip; a trip ends lost or as one
	 * or two copies, which reach the echo host or the client (some may
	 * still be on their way when the client stops). */
	cr_assert_leq(a.st.echoed + a.st.delivered + a.st.queue_full + a.st.no_socket,
		      a.st.sent + a.st.echoed - a.st.lost + a.st.duplicated);
	cr_assert_geq(a.st.delivered, REQS);
}

/* ---------------------------------------------------------- delay, order */

struct order {
	struct keel_co co;
	void *out; /* the caller's copy, where the results go */
	struct keel_udp a, b;
	struct keel_timer t;
	struct keel_addr aa, ba;
	unsigned i, inorder, got;
	int last;
	intptr_t r;
	uint64_t t0, t1;
	char buf[16];
	struct keel_sim_stats st;
};

static intptr_t order_body(void *frame, struct keel_cx *cx)
{
	struct order *f = frame;

	KEEL_BEGIN(f);
	f->aa = addr("10.0.0.5", 1000);
	f->ba = addr("10.0.0.6", 2000);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->aa, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->ba, NULL), 0);
	f->t0 = keel_now(cx);
	for (f->i = 0; f->i < 100; f->i++) {
		snprintf(f->buf, sizeof(f->buf), "%u", f->i);
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->a, f->buf, strlen(f->buf) + 1,
						     &f->ba));
	}
	f->last = -1;
	for (;;) {
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, KEEL_SEC,
				keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL)));
		if (f->r == -ETIMEDOUT)
			break;
		cr_assert_gt(f->r, 0);
		if (!f->got++)
			f->t1 = keel_now(cx);
		f->inorder += atoi(f->buf) > f->last;
		if (atoi(f->buf) > f->last)
			f->last = atoi(f->buf);
	}
	cr_assert_eq(keel_sim_stats_get(cx, &f->st), 0);
	keel_udp_close(&f->a);
	keel_udp_close(&f->b);
	memcpy(f->out, f, sizeof(*f)); /* block_on ran a copy */
	KEEL_END(f);
}

Test(sim, delay_is_exact_on_the_test_clock)
{
	struct order f = { 0 };

	cr_assert_eq(run_sim("sim:delay=30", order_body, &f, sizeof(f)), 0);
	cr_assert_eq(f.got, 100);
	cr_assert_eq(f.inorder, 100, "no reordering asked, none seen");
	cr_assert_eq(f.t1 - f.t0, 30 * KEEL_MS, "first datagram after exactly 30 ms");
}

Test(sim, reorder_dup_loss_counted)
{
	struct order f = { 0 };

	cr_assert_eq(run_sim("sim:seed=7,reorder=0.5,dup=0.3,loss=0.2,delay=2", order_body, &f,
			     sizeof(f)), 0);
	cr_assert_eq(f.st.sent, 100);
	cr_assert_gt(f.st.lost, 0);
	cr_assert_gt(f.st.duplicated, 0);
	cr_assert_gt(f.st.reordered, 0);
	cr_assert_eq(f.got, f.st.delivered);
	cr_assert_eq(f.st.delivered, f.st.sent - f.st.lost + f.st.duplicated,
		     "every copy accounted for");
	cr_assert_lt(f.inorder, f.got, "some arrived out of order");
}

Test(sim, loss_one_delivers_nothing)
{
	struct order f = { 0 };

	cr_assert_eq(run_sim("sim:loss=1", order_body, &f, sizeof(f)), 0);
	cr_assert_eq(f.got, 0);
	cr_assert_eq(f.st.lost, 100);
}

/* ------------------------------------------------------------ partitions */

struct part {
	struct keel_co co;
	void *out; /* the caller's copy, where the results go */
	struct keel_udp a, b;
	struct keel_timer t;
	struct keel_addr aa, ba;
	intptr_t r;
	char buf[16];
	struct keel_sim_stats st;
};

static intptr_t part_body(void *frame, struct keel_cx *cx)
{
	struct part *f = frame;

	KEEL_BEGIN(f);
	f->aa = addr("10.0.0.5", 1000);
	f->ba = addr("10.0.0.6", 2000);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->aa, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->ba, NULL), 0);
	cr_assert_eq(keel_sim_partition(cx, &f->aa, &f->ba, true), 0);
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->a, "cut", 3, &f->ba));
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 100 * KEEL_MS,
			keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL)));
	cr_assert_eq(f->r, -ETIMEDOUT, "nothing crosses a partition");
	cr_assert_eq(keel_sim_partition(cx, &f->ba, &f->aa, false), 0);
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->a, "healed", 6, &f->ba));
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 100 * KEEL_MS,
			keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL)));
	cr_assert_eq(f->r, 6);
	cr_assert_eq(keel_sim_stats_get(cx, &f->st), 0);
	cr_assert_eq(f->st.partitioned, 1);
	keel_udp_close(&f->a);
	keel_udp_close(&f->b);
	memcpy(f->out, f, sizeof(*f)); /* block_on ran a copy */
	KEEL_END(f);
}

Test(sim, partition_and_heal)
{
	struct part f = { 0 };

	cr_assert_eq(run_sim("sim", part_body, &f, sizeof(f)), 0);
}

/* ---------------------------------------------------------- the UDP API */

struct api {
	struct keel_co co;
	void *out; /* the caller's copy, where the results go */
	struct keel_udp a, b, c;
	struct keel_timer t;
	struct keel_addr aa, ba, v6;
	struct keel_dgram v[4];
	struct keel_pkt p[4];
	intptr_t r;
	char big[100], small[8], bufs[4][16];
	struct keel_driver_stats ds;
};

static intptr_t api_body(void *frame, struct keel_cx *cx)
{
	struct api *f = frame;

	KEEL_BEGIN(f);
	f->aa = addr("0.0.0.0", 0);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->aa, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->aa), 0);
	cr_assert_geq(keel_addr_port(&f->aa), 49152, "an ephemeral port");
	f->ba = addr("10.0.0.9", 53);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->ba, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->c, &f->ba, NULL), -EADDRINUSE);
	f->v6 = addr("::1", 53);
	cr_assert_eq(keel_udp_bind(cx, &f->c, &f->v6, NULL), -EAFNOSUPPORT);
	cr_assert_eq(keel_udp_set_ttl(&f->a, 3), -ENOTSUP);
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "x", 1, &f->v6), -EAFNOSUPPORT);

	/* broadcast needs the option */
	f->v6 = addr("255.255.255.255", 53);
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "x", 1, &f->v6), -EACCES);
	cr_assert_eq(keel_udp_set_broadcast(&f->a, 1), 0);
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "bcast", 5, &f->v6), 5);
	KEEL_AWAIT(f, f->r, keel_udp_recv_from(cx, &f->b, f->small, sizeof(f->small), NULL));
	cr_assert_eq(f->r, 5, "a broadcast reaches the port's sockets");

	/* truncation is reported */
	memset(f->big, 'b', sizeof(f->big));
	cr_assert_eq(keel_udp_send_to(cx, &f->a, f->big, sizeof(f->big), &f->ba), 100);
	KEEL_AWAIT(f, f->r, keel_udp_recv_from(cx, &f->b, f->small, sizeof(f->small), NULL));
	cr_assert_eq(f->r, -EMSGSIZE);
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "", 0, &f->ba), 0);
	KEEL_AWAIT(f, f->r, keel_udp_recv_from(cx, &f->b, f->small, sizeof(f->small), NULL));
	cr_assert_eq(f->r, 0, "an empty datagram");

	/* batches */
	for (int i = 0; i < 4; i++) {
		snprintf(f->bufs[i], sizeof(f->bufs[i]), "b%d", i);
		f->v[i] = (struct keel_dgram){ .buf = f->bufs[i], .cap = 3, .peer = f->ba };
	}
	cr_assert_eq(keel_udp_send_batch(cx, &f->a, f->v, 4), 4);
	for (int i = 0; i < 4; i++)
		f->v[i] = (struct keel_dgram){ .buf = f->bufs[i], .cap = sizeof(f->bufs[i]) };
	KEEL_AWAIT(f, f->r, keel_udp_recv_batch(cx, &f->b, f->v, 4));
	cr_assert_eq(f->r, 4);
	cr_assert_arr_eq(f->bufs[3], "b3", 3);
	cr_assert(keel_addr_equal(&f->v[0].peer, &(struct keel_addr){ .in4 = {
		.sin_family = AF_INET, .sin_port = f->aa.in4.sin_port,
		.sin_addr.s_addr = htonl(0x0a000001u) } }), "from the default host");

	/* zero-copy: lend, reply in place, release */
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "ping", 4, &f->ba), 4);
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "drop", 4, &f->ba), 4);
	KEEL_AWAIT(f, f->r, keel_udp_recv_lend(cx, &f->b, f->p, 4));
	cr_assert_eq(f->r, 2);
	memcpy(f->p[0].data, "pong", 4);
	cr_assert_eq(keel_udp_send_lent(cx, &f->b, f->p, 1), 1);
	cr_assert_eq(keel_udp_send_lent(cx, &f->b, f->p, 1), -EINVAL, "no longer lent");
	cr_assert_eq(keel_udp_release(&f->b, &f->p[1], 1), 0);
	KEEL_AWAIT(f, f->r, keel_udp_recv_from(cx, &f->a, f->small, sizeof(f->small), NULL));
	cr_assert_eq(f->r, 4);
	cr_assert_arr_eq(f->small, "pong", 4);
	/* a lent packet left at close is freed with the socket (ASan checks) */
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "kept", 4, &f->ba), 4);
	KEEL_AWAIT(f, f->r, keel_udp_recv_lend(cx, &f->b, f->p, 1));
	cr_assert_eq(f->r, 1);

	keel_drv_sim.stats(keel_cx_driver(cx, &keel_drv_sim), &f->ds);
	cr_assert_eq(f->ds.rx_truncated, 1);
	cr_assert_eq(keel_udp_close(&f->a), 0);
	cr_assert_eq(keel_udp_close(&f->b), 0);
	memcpy(f->out, f, sizeof(*f)); /* block_on ran a copy */
	KEEL_END(f);
}

Test(sim, udp_api)
{
	struct api f = { 0 };

	cr_assert_eq(run_sim("sim", api_body, &f, sizeof(f)), 0);
}

Test(sim, bad_specs_name_the_option)
{
	static const char *const bad[] = { "sim:loss=2", "sim:delay=x", "sim:frob=1",
					   "sim:echo=nowhere", "sim:seed" };
	struct keel_runtime *rt;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct keel_config cfg = { .sched = "local", .driver = bad[i] };

		cr_assert_eq(keel_runtime_create(&cfg, &rt), -EINVAL, "%s", bad[i]);
	}
}

/* ------------------------------------------- on the migrating schedulers */

/*
 * pool and steal: a task's sockets belong to the worker that opened them,
 * and each worker has its own network. Clients spawned anywhere (and
 * moved about by the scheduler between awaits) each talk to their
 * worker's echo host through faults; every request is answered, and every
 * client reads the counters of the network its socket is on.
 */
#define CLIENTS 8
#define CLIENT_REQS 40

struct client {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr echo, from;
	unsigned i, tries;
	intptr_t r;
	char req[32], in[64];
	struct keel_sim_stats st;
};

static intptr_t client_body(void *frame, struct keel_cx *cx)
{
	struct client *f = frame;
	struct keel_addr any = addr("0.0.0.0", 0);

	KEEL_BEGIN(f);
	f->echo = addr(ECHO, ECHO_PORT);
	if (keel_udp_bind(cx, &f->s, &any, NULL) != 0)
		KEEL_RETURN(f, -1);
	for (f->i = 0; f->i < CLIENT_REQS; f->i++) {
		snprintf(f->req, sizeof(f->req), "request %u", f->i);
		for (f->tries = 0; f->tries < 100; f->tries++) {
			KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->req,
							     strlen(f->req), &f->echo));
			if (f->r != (intptr_t)strlen(f->req))
				KEEL_RETURN(f, -2);
			KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 50 * KEEL_MS,
					keel_udp_recv_from(cx, &f->s, f->in,
							   sizeof(f->in) - 1, &f->from)));
			if (f->r >= 0) {
				f->in[f->r] = '\0';
				if (!strcmp(f->in, f->req))
					break;
				continue; /* a late duplicate: send again */
			}
			if (f->r != -ETIMEDOUT)
				KEEL_RETURN(f, -3);
		}
		if (f->tries == 100)
			KEEL_RETURN(f, -4);
	}
	/* the counters of this socket's network: it saw our requests */
	if (keel_sim_stats_get(cx, &f->st) != 0 || f->st.sent < CLIENT_REQS ||
	    f->st.echoed == 0)
		KEEL_RETURN(f, -5);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

static void client_drop(void *frame)
{
	struct client *f = frame;

	keel_udp_close(&f->s); /* idempotent */
}

struct spread {
	struct keel_co co;
	struct keel_group g;
	unsigned i;
	intptr_t r;
};

static intptr_t spread_body(void *frame, struct keel_cx *cx)
{
	struct spread *f = frame;

	KEEL_BEGIN(f);
	for (f->i = 0; f->i < CLIENTS; f->i++) {
		struct client c = { 0 };

		if (keel_group_spawn(cx, &f->g, client_body, client_drop, &c, sizeof(c)) < 0)
			KEEL_RETURN(f, -100);
	}
	KEEL_AWAIT(f, f->r, keel_group_join(cx, &f->g));
	keel_group_destroy(&f->g);
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

static void on_migrating(const char *sched)
{
	struct keel_config cfg = { .sched = sched, .workers = 2,
				   .driver = "sim:loss=0.1,dup=0.1,reorder=0.1,echo=" ECHO ":7" };
	struct keel_runtime *rt;
	struct spread f = { 0 };
	int rc = keel_runtime_create(&cfg, &rt);

	cr_assert_eq(rc, 0, "%s: %s", sched, keel_strerror(rc));
	cr_assert_eq(keel_runtime_block_on(rt, spread_body, NULL, &f, sizeof(f)), 0,
		     "%s: a client failed", sched);
	keel_runtime_destroy(rt);
}

Test(sim, pool_clients_each_on_their_workers_network)
{
	on_migrating("pool");
}

Test(sim, steal_clients_each_on_their_workers_network)
{
	on_migrating("steal");
}
