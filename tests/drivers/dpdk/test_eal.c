/* SPDX-License-Identifier: MIT */
/*
 * The DPDK driver starting EAL itself: --driver=dpdk:OPTIONS -- EAL-ARGS
 * with net_ring and net_null, the errors a user can make (bad EAL or keel
 * arguments, no port, too many queues, memory), EAL's once-per-process
 * life, park and unpark, several processes at once, and what a killed
 * process leaves behind.
 */
#include "dtest.h"

#include <keel/stats.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#define RING "ip=" DT_KEEL_IP "/24"
#define RING_EAL DT_EAL " --vdev=net_ring0"

/* ------------------------------------------------------------ net_ring */

struct loop {
	struct keel_co co;
	struct keel_udp s;
	struct keel_addr a;
	intptr_t r;
	uint64_t spins, deadline;
};

/* keel_stats_read: the dpdk instances' drop reasons, summed. */
static void sum_drops(void *arg, const struct keel_stat *st)
{
	if (st->scope == KEEL_STAT_XSTAT && strcmp(st->driver, "dpdk") == 0 &&
	    (st->flags & KEEL_STAT_DROP) && strncmp(st->name, "port_", 5) != 0)
		*(uint64_t *)arg += st->value;
}

static intptr_t loop_body(void *frame, struct keel_cx *cx)
{
	struct loop *f = frame;
	struct keel_dpdk_info info;
	struct keel_dpdk_stats st;

	KEEL_BEGIN(f);
	cr_assert_eq(keel_dpdk_info_get(cx, &info), 0);
	cr_assert(info.eal_owned, "keel started EAL");
	cr_assert_eq(info.queue, 0);
	cr_assert_eq(info.mtu, 1500);
	f->a = dt_addr("0.0.0.0", 0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->a), 0);
	cr_assert_geq(keel_addr_port(&f->a), 49152, "an ephemeral port");
	cr_assert_eq(keel_udp_set_ttl(&f->s, 5), -ENOTSUP);
	f->a = dt_addr("::1", 9);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->a), -EAFNOSUPPORT);
	f->a = dt_addr("10.1.2.3", 9);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->a), -EHOSTUNREACH,
		     "off-link without a gateway");
	f->a = dt_addr(DT_KEEL_IP, 9);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->a), -EHOSTUNREACH,
		     "our own address");
	/* broadcast needs the option, as the kernel's sendto does */
	f->a = dt_addr("255.255.255.255", 9);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->a), -EACCES);
	f->a = dt_addr("198.18.0.255", 9);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->a), -EACCES);
	cr_assert_eq(keel_udp_set_broadcast(&f->s, 1), 0);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->a), 1,
		     "directed broadcast with the option");
	cr_assert_eq(keel_udp_set_broadcast(&f->s, 0), 0);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->a), -EACCES);
	/* The ring loops keel's frames back: its ARP request for the peer
	 * returns as one from our own address, a conflict, counted. */
	f->a = dt_addr(DT_PEER_IP, 9);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->a), 1);
	DT_SPIN(f, cx, dt_stats(cx).net.drops[KEEL_NET_DROP_ARP_CONFLICT] >= 2);
	st = dt_stats(cx);
	cr_assert_geq(st.tx_frames, 2, "announcement and request sent");
	cr_assert_eq(st.rx_frames, st.tx_frames, "and looped back");
	cr_assert_geq(st.net.drops[KEEL_NET_DROP_ARP_CONFLICT], 2);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(eal, net_ring_loopback)
{
	dt_need_root();
	dt_run("dpdk:" RING ",park=busy -- " RING_EAL, loop_body, sizeof(struct loop));
}

/* ------------------------------------------------------------ net_null */

struct null {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
};

static intptr_t null_body(void *frame, struct keel_cx *cx)
{
	struct null *f = frame;
	struct keel_dpdk_stats st;
	struct keel_driver_stats ds;
	uint64_t drops = 0;

	KEEL_BEGIN(f);
	/* net_null hands out frames as fast as it can allocate them. */
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, 100 * KEEL_MS));
	st = dt_stats(cx);
	for (int i = 0; i < KEEL_NET_DROP_MAX; i++)
		drops += st.net.drops[i];
	cr_assert_gt(st.rx_frames, 10000, "frames came: %lu",
		     (unsigned long)st.rx_frames);
	cr_assert_eq(st.net.rx_frames, st.rx_frames, "every one went to net/");
	cr_assert_eq(drops + st.rx_no_socket, st.rx_frames,
		     "and was dropped with a reason");
	cr_assert_eq(st.rx_udp, 0);
	cr_assert_eq(st.port_rx_nombuf, 0, "mbufs always came back");
	cr_assert_eq(st.mbuf_alloc_failed, 0);
	keel_drv_dpdk.stats(keel_cx_driver(cx, &keel_drv_dpdk), &ds);
	cr_assert_eq(ds.rx_packets, 0, "frames, but not one datagram");
	cr_assert_geq(ds.rx_dropped, st.rx_frames - st.net.rx_arp);
	{
		/* The drops by reason through the name/value reader. */
		uint64_t sum = 0;

		keel_stats_read(keel_cx_runtime(cx), sum_drops, &sum);
		cr_assert_geq(sum, drops + st.rx_no_socket, "xstats drops %lu",
			      (unsigned long)sum);
	}
	KEEL_END(f);
}

Test(eal, net_null_receive_path)
{
	dt_need_root();
	dt_run("dpdk:" RING ",park=busy,garp=0 -- " DT_EAL " --vdev=net_null0",
	       null_body, sizeof(struct null));
}

/* --------------------------------------------------------------- errors */

struct nothing {
	struct keel_co co;
};

static intptr_t nothing_body(void *frame, struct keel_cx *cx)
{
	struct nothing *f = frame;

	(void)cx;
	KEEL_BEGIN(f);
	KEEL_END(f);
}

/* Create a runtime on \p spec that must fail with \p want and say \p msg. */
static void expect_error(const char *spec, int want, const char *msg)
{
	struct keel_config cfg = { .sched = "local", .driver = spec };
	struct keel_runtime *rt = NULL;
	struct dt_capture c;
	int rc;

	dt_capture_begin(&c);
	rc = keel_runtime_create(&cfg, &rt);
	dt_capture_end(&c);
	cr_assert_eq(rc, want, "%s: got %d (%s), want %d", spec, rc,
		     keel_strerror(rc), want);
	cr_assert_null(rt);
	cr_assert_not_null(strstr(c.text, msg), "%s: message '%s' not in:\n%s",
			   spec, msg, c.text);
}

Test(eal, bad_keel_options)
{
	static const struct {
		const char *spec, *msg;
	} cases[] = {
		{ "dpdk", "no arguments" },
		{ "dpdk:", "no arguments" },
		{ "dpdk:-- " RING_EAL, "no local address" },
		{ "dpdk:" RING_EAL, "no local address" },
		{ "dpdk:ip=198.18.0.1 -- " RING_EAL, "A.B.C.D/PREFIXLEN" },
		{ "dpdk:ip=198.18.0.1/33 -- " RING_EAL, "1..32" },
		{ "dpdk:ip=198.18.0.300/24 -- " RING_EAL, "IPv4 address" },
		{ "dpdk:" RING ",colour=blue -- " RING_EAL, "unknown option 'colour'" },
		{ "dpdk:" RING ",queues=0 -- " RING_EAL, "queues" },
		{ "dpdk:" RING ",rxd=8 -- " RING_EAL, "rxd" },
		{ "dpdk:" RING ",park=later -- " RING_EAL, "busy or sleep" },
		{ "dpdk:" RING ",mac=01:00:00:00:00:01 -- " RING_EAL, "unicast" },
		{ "dpdk:" RING " nonsense -- " RING_EAL, "'nonsense' is not a keel option" },
	};

	dt_need_root();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].spec, -EINVAL, cases[i].msg);
	/* None of that touched EAL: it still starts. */
	dt_run("dpdk:" RING " -- " RING_EAL, nothing_body, sizeof(struct nothing));
}

/*
 * DPDK 22.11 leaks on a failed rte_eal_init: eal_save_args (lib/eal/common/
 * eal_common_options.c) keeps a calloc'd copy of argv for telemetry, and
 * only rte_eal_cleanup frees it; init's error paths do not, and the next
 * init overwrites the pointer (80 + 100 bytes here). Under LeakSanitizer
 * that failed init alone is left out of the leak check.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define DT_DPDK_LEAKS_BEGIN() __lsan_disable()
#define DT_DPDK_LEAKS_END()   __lsan_enable()
#else
#define DT_DPDK_LEAKS_BEGIN() ((void)0)
#define DT_DPDK_LEAKS_END()   ((void)0)
#endif

Test(eal, bad_eal_arguments_then_good_ones)
{
	dt_need_root();
	DT_DPDK_LEAKS_BEGIN();
	expect_error("dpdk:" RING " -- " DT_EAL " --no-such-eal-option",
		     -EINVAL, "bad EAL arguments");
	DT_DPDK_LEAKS_END();
	/* EAL stops before it starts anything on bad arguments: a second
	 * attempt in the same process works. */
	dt_run("dpdk:" RING " -- " RING_EAL, nothing_body, sizeof(struct nothing));
}

Test(eal, gateway_off_subnet)
{
	dt_need_root();
	expect_error("dpdk:" RING ",gw=10.0.0.1 -- " RING_EAL, -EINVAL,
		     "gateway must be on one of our subnets");
	/* That failed after EAL started: it was cleaned up with the port. */
	expect_error("dpdk:" RING " -- " RING_EAL, -EALREADY, "cannot start twice");
}

Test(eal, no_port)
{
	dt_need_root();
	expect_error("dpdk:" RING " -- " DT_EAL, -ENODEV, "no Ethernet port found");
}

Test(eal, port_not_found)
{
	dt_need_root();
	expect_error("dpdk:" RING ",port=5 -- " RING_EAL, -ENODEV,
		     "ports: 0 (net_ring0)");
}

Test(eal, port_name_not_found)
{
	dt_need_root();
	expect_error("dpdk:" RING ",port=net_ring7 -- " RING_EAL, -ENODEV,
		     "no port named 'net_ring7'");
}

Test(eal, too_many_queues)
{
	dt_need_root();
	expect_error("dpdk:" RING ",queues=17 -- " RING_EAL, -EINVAL,
		     "at most 16 RX and 16 TX queues");
}

Test(eal, worker_without_a_queue)
{
	dt_need_root();
	expect_error("dpdk:" RING ",queue=3,queues=2 -- " RING_EAL, -EINVAL,
		     "needs queue 3");
}

Test(eal, stray_token_is_not_an_eal_argument)
{
	dt_need_root();
	expect_error("dpdk:" RING " -- " RING_EAL " stray", -EINVAL,
		     "'stray' is not an EAL argument");
}

Test(eal, mempool_larger_than_eal_memory)
{
	dt_need_root();
	expect_error("dpdk:" RING ",mbufs=200000 -- --no-huge --no-pci -m 64 "
		     "--vdev=net_ring0", -ENOMEM, "cannot allocate 200000 mbufs");
}

/* pool and steal start on DPDK: a task is moved to the worker whose
 * queue its socket is on (the wire tests run the UDP API on them). */
Test(eal, migrating_scheduler_starts)
{
	struct keel_config cfg = { .sched = "pool", .workers = 1,
				   .driver = "dpdk:" RING " -- " RING_EAL };
	struct keel_runtime *rt = NULL;
	int rc;

	dt_need_root();
	rc = keel_runtime_create(&cfg, &rt);
	cr_assert_eq(rc, 0, "%s", keel_strerror(rc));
	keel_runtime_destroy(rt);
}

/* ---------------------------------------------- EAL: once per process */

Test(eal, cannot_start_twice_in_one_process)
{
	dt_need_root();
	dt_run("dpdk:" RING " -- " RING_EAL, nothing_body, sizeof(struct nothing));
	/* The runtime's end cleaned EAL up; DPDK cannot start it again. */
	expect_error("dpdk:" RING " -- " RING_EAL, -EALREADY, "cannot start twice");
}

static intptr_t port1_body(void *frame, struct keel_cx *cx)
{
	struct nothing *f = frame;
	struct keel_dpdk_info info;

	KEEL_BEGIN(f);
	cr_assert_eq(keel_dpdk_info_get(cx, &info), 0);
	cr_assert_eq(info.port, 1);
	cr_assert(info.eal_owned);
	KEEL_END(f);
}

/* Two runtimes, two ports, one EAL: the second names no EAL arguments. */
Test(eal, two_runtimes_share_eal)
{
	struct keel_config a = { .sched = "local",
				 .driver = "dpdk:" RING " -- " DT_EAL
					   " --vdev=net_ring0 --vdev=net_ring1" };
	struct keel_config b = { .sched = "local",
				 .driver = "dpdk:ip=198.18.1.1/24,port=net_ring1" };
	struct keel_runtime *ra = NULL, *rb = NULL;
	int rc;

	dt_need_root();
	cr_assert_eq(keel_runtime_create(&a, &ra), 0);
	cr_assert_eq(keel_runtime_create(&b, &rb), 0);
	expect_error("dpdk:ip=198.18.2.1/24,port=net_ring1", -EBUSY,
		     "already used by another keel runtime");
	expect_error("dpdk:ip=198.18.2.1/24,port=net_ring1,rxd=1024", -EINVAL,
		     "already set up by another keel runtime");
	expect_error("dpdk:" RING " -- " RING_EAL, -EALREADY,
		     "give the same EAL arguments or none");
	rc = (int)keel_runtime_block_on(ra, nothing_body, NULL,
					&(struct nothing){ .co = { 0 } },
					sizeof(struct nothing));
	cr_assert_eq(rc, 0);
	keel_runtime_destroy(ra);
	/* EAL lives on for the second runtime. */
	rc = (int)keel_runtime_block_on(rb, port1_body, NULL,
					&(struct nothing){ .co = { 0 } },
					sizeof(struct nothing));
	cr_assert_eq(rc, 0);
	keel_runtime_destroy(rb);
}

/* -------------------------------------------------------- park, unpark */

struct idle {
	struct keel_co co;
	struct keel_udp s;
	struct keel_addr a;
	char buf[8];
	intptr_t r;
};

/* Wait for a datagram that never comes: the worker parks with no timer. */
static intptr_t idle_body(void *frame, struct keel_cx *cx)
{
	struct idle *f = frame;

	KEEL_BEGIN(f);
	f->a = dt_addr(DT_KEEL_IP, 5);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	KEEL_AWAIT(f, f->r, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	KEEL_END(f);
}

static void idle_drop(void *frame)
{
	keel_udp_close(&((struct idle *)frame)->s);
}

static void *shutdown_later(void *rt)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	keel_runtime_shutdown(rt);
	return NULL;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * KEEL_SEC + (uint64_t)ts.tv_nsec;
}

static void unpark_case(const char *spec)
{
	struct keel_config cfg = { .sched = "local", .driver = spec };
	struct keel_runtime *rt = NULL;
	pthread_t th;
	uint64_t t0, dt;
	intptr_t r;

	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	t0 = mono_ns();
	pthread_create(&th, NULL, shutdown_later, rt);
	r = keel_runtime_block_on(rt, idle_body, idle_drop, &(struct idle){ .r = 0 },
				  sizeof(struct idle));
	dt = mono_ns() - t0;
	pthread_join(th, NULL);
	cr_assert_eq(r, -EINTR, "shut down while parked");
	cr_assert_lt(dt, 600 * KEEL_MS, "unparked promptly: %lu ms",
		     (unsigned long)(dt / KEEL_MS));
	keel_runtime_destroy(rt);
}

Test(eal, unpark_wakes_a_busy_park)
{
	dt_need_root();
	unpark_case("dpdk:" RING ",park=busy -- " RING_EAL);
}

Test(eal, unpark_wakes_a_backoff_park)
{
	dt_need_root();
	unpark_case("dpdk:" RING ",park=sleep -- " RING_EAL);
}

/* --------------------------------------------- processes: parallel, killed */

static void runtime_dir(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, "/var/run/dpdk/keel-%ld", (long)pid);
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* In a child: start keel on net_ring, send, exit with the result. */
static int child_run(const char *spec)
{
	struct keel_config cfg = { .sched = "local", .driver = spec };
	struct keel_runtime *rt = NULL;
	intptr_t r;

	if (keel_runtime_create(&cfg, &rt) < 0)
		_exit(2);
	r = keel_runtime_block_on(rt, loop_body, NULL, &(struct loop){ .r = 0 },
				  sizeof(struct loop));
	keel_runtime_destroy(rt);
	_exit(r == 0 ? 0 : 3);
}

Test(eal, parallel_processes_do_not_collide)
{
	pid_t pids[4];
	char dir[64];

	dt_need_root();
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0)
			child_run("dpdk:" RING " -- " RING_EAL);
	}
	for (int i = 0; i < 4; i++) {
		int st;

		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "child %d: status 0x%x", i, st);
		runtime_dir(pids[i], dir, sizeof(dir));
		cr_assert_not(exists(dir), "%s removed at cleanup", dir);
	}
}

Test(eal, killed_process_leaves_nothing_that_breaks_the_next)
{
	char dir[160], prefix[96], spec[256];
	pid_t pid;
	int st;

	dt_need_root();
	/* A process killed with EAL up, on keel's generated prefix... */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct keel_config cfg = { .sched = "local",
					   .driver = "dpdk:" RING " -- " RING_EAL };
		struct keel_runtime *rt;

		if (keel_runtime_create(&cfg, &rt) == 0)
			raise(SIGKILL);
		_exit(2);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "killed: 0x%x", st);
	runtime_dir(pid, dir, sizeof(dir));
	cr_assert(exists(dir), "a killed process leaves %s", dir);
	/* ...and one on a prefix of the user's. */
	snprintf(prefix, sizeof(prefix), "keel-killed-%ld", (long)getpid());
	snprintf(spec, sizeof(spec), "dpdk:" RING " -- " RING_EAL " --file-prefix=%s",
		 prefix);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct keel_config cfg = { .sched = "local", .driver = spec };
		struct keel_runtime *rt;

		if (keel_runtime_create(&cfg, &rt) == 0)
			raise(SIGKILL);
		_exit(2);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st));
	/* The next run on that same prefix works... */
	pid = fork();
	if (pid == 0)
		child_run(spec);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "same prefix again: 0x%x", st);
	/* ...and the next on a generated one sweeps the dead process's. */
	pid = fork();
	if (pid == 0)
		child_run("dpdk:" RING " -- " RING_EAL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_not(exists(dir), "%s swept", dir);
	snprintf(dir, sizeof(dir), "/var/run/dpdk/%s", prefix);
	dt_remove_dir(dir);
}

/* ------------------------------------------- net_tap: kernel on the other end */

#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

struct tapk {
	int fd;		/* kernel UDP socket, 198.18.0.2:6000 */
	int n, ok;
	char got[64];
};

/* The kernel's side, on its own thread: datagrams to keel, echoes back. */
static void *tap_kernel(void *arg)
{
	struct tapk *k = arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(7) };
	struct timespec gap = { 0, 20 * 1000 * 1000 };

	inet_pton(AF_INET, DT_KEEL_IP, &to.sin_addr);
	for (int i = 0; i < k->n; i++) {
		struct pollfd p = { .fd = k->fd, .events = POLLIN };
		char msg[32];

		snprintf(msg, sizeof(msg), "tap %d", i);
		/* Spaced out, so keel's worker parks between them. */
		nanosleep(&gap, NULL);
		if (sendto(k->fd, msg, strlen(msg), 0, (struct sockaddr *)&to,
			   sizeof(to)) < 0)
			break;
		if (poll(&p, 1, 3000) != 1)
			break;
		if (recv(k->fd, k->got, sizeof(k->got), 0) != (ssize_t)strlen(msg) ||
		    memcmp(k->got, msg, strlen(msg)) != 0)
			break;
		k->ok++;
	}
	return NULL;
}

struct tap {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	char buf[64];
	intptr_t r;
	unsigned i;
};

static intptr_t tap_body(void *frame, struct keel_cx *cx)
{
	struct tap *f = frame;

	KEEL_BEGIN(f);
	f->a = dt_addr(DT_KEEL_IP, 7);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	for (f->i = 0; f->i < 10; f->i++) {
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
			   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->a)));
		cr_assert_gt(f->r, 0, "recv %u: %s", f->i, keel_strerror(f->r));
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->buf, (size_t)f->r, &f->a));
		cr_assert_gt(f->r, 0);
	}
	keel_udp_close(&f->s);
	KEEL_END(f);
}

static bool tap_want_intr;

static intptr_t tap_info_body(void *frame, struct keel_cx *cx)
{
	struct keel_dpdk_info info;
	struct keel_dpdk_stats st;
	struct keel_driver_stats ds;
	intptr_t r = tap_body(frame, cx);

	if (r != 0)
		return r;
	cr_assert_eq(keel_dpdk_info_get(cx, &info), 0);
	st = dt_stats(cx);
	cr_assert(info.tx_csum_offload, "tap advertises IPv4/UDP TX checksums");
	cr_assert(info.rx_csum_offload);
	cr_assert_geq(st.arp_replies, 1, "the kernel asked for keel's MAC");
	cr_assert_eq(st.rx_udp, 10);
	cr_assert_eq(info.rx_intr, tap_want_intr, "parks on RX interrupts: %d",
		     info.rx_intr);
	keel_drv_dpdk.stats(keel_cx_driver(cx, &keel_drv_dpdk), &ds);
	cr_assert_gt(ds.parks, 0, "the worker parked between datagrams");
	return 0;
}

/* The kernel's end of the tap: our peer address, up. */
static int tap_kernel_setup(pid_t pid)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "ip link set lo up && ip addr add " DT_PEER_IP "/24 dev ktap%ld "
		 "&& ip link set ktap%ld up", (long)pid % 100000, (long)pid % 100000);
	return system(cmd);
}

static void tap_case(const char *park, bool want_intr)
{
	char spec[256];
	struct tapk k = { .n = 10 };
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(6000) };
	pthread_t th;
	pid_t pid = getpid();

	dt_need_root();
	tap_want_intr = want_intr;
	/* A namespace of our own: the tap and its traffic stay in it. */
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	snprintf(spec, sizeof(spec),
		 "dpdk:" RING ",park=%s -- " DT_EAL " --vdev=net_tap0,iface=ktap%ld",
		 park, (long)pid % 100000);
	{
		struct keel_config cfg = { .sched = "local", .driver = spec };
		struct keel_runtime *rt;
		intptr_t r;

		cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
		cr_assert_eq(tap_kernel_setup(pid), 0);
		k.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		inet_pton(AF_INET, DT_PEER_IP, &me.sin_addr);
		cr_assert_eq(bind(k.fd, (struct sockaddr *)&me, sizeof(me)), 0,
			     "bind: %s", strerror(errno));
		pthread_create(&th, NULL, tap_kernel, &k);
		r = keel_runtime_block_on(rt, tap_info_body, NULL,
					  &(struct tap){ .r = 0 }, sizeof(struct tap));
		pthread_join(th, NULL);
		keel_runtime_destroy(rt);
		close(k.fd);
		cr_assert_eq(r, 0);
		cr_assert_eq(k.ok, 10, "the kernel got its echoes: %d", k.ok);
	}
}

Test(tap, kernel_peer_busy_poll)
{
	tap_case("busy", false);
}

Test(tap, kernel_peer_sleeps_on_rx_interrupts)
{
	tap_case("sleep", true);
}
