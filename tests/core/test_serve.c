/* SPDX-License-Identifier: MIT */
/*
 * core/serve.c and core/cpus.c on the kernel driver, once per scheduler:
 * keel_udp_serve spreads the flows of a port over every worker (one
 * SO_REUSEPORT socket each) and keeps each flow on one worker;
 * keel_spawn_on / keel_spawn_each place tasks; --cpus pins the workers;
 * a driver that cannot start gives way to the next one.
 */
#include "core_internal.h"
#include "../fixtures/flows.h"

#include <errno.h>
#include <keel/test.h>
#include <sched.h>
#include <stdlib.h>

static struct flows fl;

struct spread {
	struct keel_co co;
	struct keel_addr addr;
	struct keel_join *svc;
	struct keel_timer t;
	unsigned spin;
	intptr_t r;
};

KEEL_TEST(serve, spreads_flows_over_every_worker, struct spread)
{
	KEEL_BEGIN(f);
	flows_init(&fl);
	cr_assert_eq(keel_addr_from("127.0.0.1", 0, &f->addr), 0);
	KEEL_AWAIT(f, f->r, keel_udp_serve(cx, &f->addr, NULL, flows_tally, &fl, &f->svc));
	cr_assert_eq(f->r, 0, "serve: %s", keel_strerror(f->r));
	cr_assert_neq(f->addr.in4.sin_port, 0, "the port chosen comes back");
	fl.n = 64;
	fl.rounds = 20;
	fl.dst = f->addr.in4;
	for (unsigned i = 0; i < fl.n; i++) {
		fl.fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(fl.fds[i], 0);
	}
	cr_assert_eq(flows_start(&fl), 0);
	for (f->spin = 0; !atomic_load(&fl.done) && f->spin < 30000; f->spin++)
		KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, KEEL_MS));
	cr_assert(atomic_load(&fl.done), "the client finished in time");
	flows_finish(&fl);
	cr_assert_eq(fl.replies, fl.n * fl.rounds, "every datagram answered "
		     "(%u of %u)", fl.replies, fl.n * fl.rounds);
	cr_assert_eq(flows_seen(&fl), fl.n);
	cr_assert_eq(flows_busy_workers(&fl), keel_cx_workers(cx),
		     "every worker served (%u of %u)", flows_busy_workers(&fl),
		     keel_cx_workers(cx));
	cr_assert_eq(atomic_load(&fl.moved), 0, "each flow stays on one worker");
	keel_join_abort(f->svc);
	KEEL_END(f);
}

KEEL_TEST(serve, a_bind_refused_comes_back, struct spread)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd;

	KEEL_BEGIN(f);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	cr_assert_eq(keel_addr_from("127.0.0.1", ntohs(sin.sin_port), &f->addr), 0);
	f->r = keel_udp_serve(cx, &f->addr, NULL, flows_tally, &fl, &f->svc);
	close(fd);
	cr_assert_eq(f->r, -EADDRINUSE, "got %s", keel_strerror(f->r));
	cr_assert_null(f->svc);
	cr_assert_eq(keel_udp_serve(cx, NULL, NULL, flows_tally, NULL, &f->svc),
		     -EINVAL);
	KEEL_END(f);
}

/* keel_udp_serve_owned: the service owns its ctx, and lets go of it once,
 * after the last loop has ended, never while fn can still be called. */
static struct owned {
	atomic_bool released;
	atomic_int releases, calls, calls_after;
} own;

static ssize_t owned_echo(void *ctx, struct keel_udp_dgram *req)
{
	struct owned *o = ctx;

	atomic_fetch_add(&o->calls, 1);
	if (atomic_load(&o->released))
		atomic_fetch_add(&o->calls_after, 1);
	return (ssize_t)req->len;
}

static void owned_release(void *ctx)
{
	struct owned *o = ctx;

	atomic_store(&o->released, true);
	atomic_fetch_add(&o->releases, 1);
}

struct owned_run {
	struct keel_co co;
	struct keel_addr addr, any, from;
	struct keel_join *svc;
	struct keel_udp client;
	struct keel_timer t;
	unsigned spin;
	intptr_t r;
	char buf[8];
};

KEEL_TEST(serve, owned_ctx_is_released_after_the_last_loop, struct owned_run)
{
	int fd;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	KEEL_BEGIN(f);
	atomic_store(&own.released, false); /* the TSan runner: one process */
	atomic_store(&own.releases, 0);
	atomic_store(&own.calls, 0);
	atomic_store(&own.calls_after, 0);

	/* Not started (the port is taken): ctx stays the caller's. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	cr_assert_eq(keel_addr_from("127.0.0.1", ntohs(sin.sin_port), &f->addr), 0);
	f->r = keel_udp_serve_owned(cx, &f->addr, NULL, owned_echo, &own,
				    owned_release, &f->svc);
	close(fd);
	cr_assert_eq(f->r, -EADDRINUSE, "got %s", keel_strerror(f->r));
	cr_assert_null(f->svc);
	cr_assert_eq(atomic_load(&own.releases), 0, "a service that never started released ctx");

	/* Started: it serves, then is cancelled; ctx goes back once. */
	cr_assert_eq(keel_addr_from("127.0.0.1", 0, &f->addr), 0);
	KEEL_AWAIT(f, f->r, keel_udp_serve_owned(cx, &f->addr, NULL, owned_echo,
						 &own, owned_release, &f->svc));
	cr_assert_eq(f->r, 0, "serve: %s", keel_strerror(f->r));
	cr_assert_eq(keel_addr_from("127.0.0.1", 0, &f->any), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->client, &f->any, NULL), 0);
	for (f->spin = 0; f->spin < 50; f->spin++) { /* loopback: no loss, but bounded */
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->client, "ping", 4, &f->addr));
		cr_assert_eq(f->r, 4);
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 100 * KEEL_MS,
				keel_udp_recv_from(cx, &f->client, f->buf, sizeof(f->buf), &f->from)));
		if (f->r == 4)
			break;
	}
	cr_assert_eq(f->r, 4, "the service answered");
	cr_assert_not(atomic_load(&own.released), "released while serving");
	keel_join_abort(f->svc);
	f->svc = NULL;
	for (f->spin = 0; !atomic_load(&own.released) && f->spin < 5000; f->spin++)
		KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, KEEL_MS));
	cr_assert(atomic_load(&own.released), "ctx released after the loops ended");
	cr_assert_eq(atomic_load(&own.releases), 1);
	cr_assert_geq(atomic_load(&own.calls), 1);
	cr_assert_eq(atomic_load(&own.calls_after), 0, "fn called after release");
	keel_udp_close(&f->client);
	KEEL_END(f);
}

/* ------------------------------------------------------ placing tasks */

static atomic_uint ran_on[FLOWS_WMAX];

struct where {
	struct keel_co co;
	unsigned want;
};

static intptr_t where_poll(void *frame, struct keel_cx *cx)
{
	struct where *w = frame;
	unsigned i = keel_worker_index(keel_cx_worker(cx));

	atomic_fetch_add(&ran_on[i], 1);
	return i == w->want ? 0 : -EXDEV;
}

struct place {
	struct keel_co co;
	struct keel_group g;
	struct keel_join *j;
	unsigned i;
	intptr_t r;
};

KEEL_TEST(spawn, on_runs_on_that_worker, struct place)
{
	KEEL_BEGIN(f);
	for (f->i = 0; f->i < keel_cx_workers(cx); f->i++) {
		cr_assert_eq(KEEL_SPAWN(cx, where_poll, NULL, NULL, struct where), 0);
		cr_assert_eq(keel_spawn_on(cx, f->i, where_poll, NULL,
					   &(struct where){ .want = f->i },
					   sizeof(struct where), &f->j), 0);
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
		cr_assert_eq(f->r, 0, "ran on worker %u", f->i);
	}
	cr_assert_eq(keel_spawn_on(cx, keel_cx_workers(cx), where_poll, NULL,
				   &(struct where){ 0 }, sizeof(struct where),
				   NULL), -EINVAL);
	KEEL_END(f);
}

static intptr_t each_poll(void *frame, struct keel_cx *cx)
{
	(void)frame;
	atomic_fetch_add(&ran_on[keel_worker_index(keel_cx_worker(cx))], 1);
	return 0;
}

KEEL_TEST(spawn, each_runs_once_on_every_worker, struct place)
{
	KEEL_BEGIN(f);
	for (unsigned i = 0; i < FLOWS_WMAX; i++) /* the TSan runner: one process */
		atomic_store(&ran_on[i], 0);
	cr_assert_eq(KEEL_SPAWN_EACH(cx, &f->g, each_poll, NULL, struct where), 0);
	KEEL_AWAIT(f, f->r, keel_group_join(cx, &f->g));
	cr_assert_eq(f->r, 0);
	for (unsigned i = 0; i < keel_cx_workers(cx); i++)
		cr_assert_eq(atomic_load(&ran_on[i]), 1, "worker %u ran it once", i);
	keel_group_destroy(&f->g);
	KEEL_END(f);
}

/* ------------------------------------------------------------- --cpus */

/* On worker w->want: is this thread pinned to exactly CPU w->want's? */
static int pinned_to[FLOWS_WMAX];

static intptr_t cpu_poll(void *frame, struct keel_cx *cx)
{
	struct where *w = frame;
	cpu_set_t set;

	(void)cx;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return CPU_COUNT(&set) == 1 && CPU_ISSET(pinned_to[w->want], &set) ? 0 : -EXDEV;
}

struct pins {
	struct keel_co co;
	struct keel_join *j;
	unsigned i;
	intptr_t r;
};

static intptr_t pins_poll(void *frame, struct keel_cx *cx)
{
	struct pins *f = frame;

	KEEL_BEGIN(f);
	for (f->i = 0; f->i < keel_cx_workers(cx); f->i++) {
		cr_assert_eq(keel_spawn_on(cx, f->i, cpu_poll, NULL,
					   &(struct where){ .want = f->i },
					   sizeof(struct where), &f->j), 0);
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
		cr_assert_eq(f->r, 0, "worker %u is pinned to CPU %d", f->i,
			     pinned_to[f->i]);
	}
	KEEL_END(f);
}

static struct keel_config env_config(void)
{
	struct keel_config cfg = { 0 };

	cfg.sched = getenv("KEEL_SCHED");
	if (getenv("KEEL_WORKERS"))
		cfg.workers = (unsigned)atoi(getenv("KEEL_WORKERS"));
	return cfg;
}

Test(cpus, each_worker_runs_on_its_cpu)
{
	struct keel_config cfg = env_config();
	struct keel_runtime *rt;
	struct pins frame = { 0 };
	char list[64] = "";
	cpu_set_t set;
	unsigned n = cfg.workers ? cfg.workers : 1, k = 0;

	/* The CPUs this process may use, last first: worker 0 off CPU 0. */
	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = CPU_SETSIZE - 1; c >= 0 && k < n; c--)
		if (CPU_ISSET(c, &set))
			pinned_to[k++] = c;
	for (unsigned i = 0; i < n; i++)
		pinned_to[i] = pinned_to[i % k]; /* fewer CPUs than workers */
	for (unsigned i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d",
			 i ? "," : "", pinned_to[i]);
	cfg.cpus = list;
	cfg.workers = 0; /* the list's length */
	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0, "--cpus=%s", list);
	cr_assert_eq(keel_runtime_config(rt)->workers, n);
	cr_assert_eq(keel_runtime_block_on(rt, pins_poll, NULL, &frame,
					   sizeof(frame)), 0);
	keel_runtime_destroy(rt);
}

Test(cpus, a_bad_list_is_refused)
{
	struct keel_config cfg = env_config();
	struct keel_runtime *rt;

	cfg.cpus = "1-0";
	cr_assert_eq(keel_runtime_create(&cfg, &rt), -EINVAL);
	cfg.cpus = "0,x";
	cr_assert_eq(keel_runtime_create(&cfg, &rt), -EINVAL);
	cfg.cpus = "100000";
	cr_assert_eq(keel_runtime_create(&cfg, &rt), -EINVAL);
	if (cfg.workers > 1) {
		cfg.cpus = "0"; /* one CPU for two workers */
		cr_assert_eq(keel_runtime_create(&cfg, &rt), -EINVAL);
	}
}

/* ----------------------------------------------------- driver fallback */

Test(fallback, a_driver_that_cannot_start_gives_way)
{
	struct keel_config cfg = env_config();
	struct keel_runtime *rt;

	cfg.driver = "nosuch:eth9";
	cfg.driver_fallback[0] = "kernel:bufs=0"; /* refused: bad argument */
	cfg.driver_fallback[1] = "kernel";
	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	cr_assert_str_eq(keel_runtime_config(rt)->driver, "kernel");
	keel_runtime_destroy(rt);

	cfg.driver_fallback[1] = NULL; /* nothing left to try */
	cr_assert_lt(keel_runtime_create(&cfg, &rt), 0);
}
