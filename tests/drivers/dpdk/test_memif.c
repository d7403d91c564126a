/* SPDX-License-Identifier: MIT */
/*
 * Two processes, keel to keel over net_memif (shared memory between two
 * EALs, each with its own file prefix): this process is the memif server
 * and a UDP client; dpdk_echo, started with fork + exec once the server
 * listens, is the other end. The first datagrams also carry the ARP
 * exchange between the two keels.
 */
#include "dtest.h"

#include <signal.h>
#include <time.h>

#define N_ECHO 50

static char memif_arg[128];

struct client {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a, from;
	char buf[64], want[64];
	intptr_t r;
	unsigned i, tries;
};

/* Whether the datagram in f->buf answers the request in f->want. */
static bool is_reply(const struct client *f)
{
	size_t n = strlen(f->want);

	return f->r == (intptr_t)n && memcmp(f->buf, f->want, n) == 0;
}

static intptr_t client_body(void *frame, struct keel_cx *cx)
{
	struct client *f = frame;
	struct keel_dpdk_stats st;

	KEEL_BEGIN(f);
	f->a = dt_addr(DT_KEEL_IP, 0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	for (f->i = 0; f->i < N_ECHO; f->i++) {
		snprintf(f->want, sizeof(f->want), "memif %u", f->i);
		/* The link comes up when the other process connects: resend
		 * until the echo comes (bounded). A resent request may be
		 * answered twice; a reply that is not to this request is an
		 * earlier one's duplicate and is skipped. */
		f->r = -ETIMEDOUT;
		for (f->tries = 0; f->tries < 40 && f->r == -ETIMEDOUT; f->tries++) {
			f->a = dt_addr(DT_PEER_IP, 7);
			KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->want,
							     strlen(f->want), &f->a));
			cr_assert_gt(f->r, 0, "send_to: %s", keel_strerror(f->r));
			do {
				KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 500 * KEEL_MS,
					   keel_udp_recv_from(cx, &f->s, f->buf,
							      sizeof(f->buf), &f->from)));
			} while (f->r >= 0 && !is_reply(f));
		}
		cr_assert_eq(f->r, (intptr_t)strlen(f->want), "echo %u: %s", f->i,
			     keel_strerror(f->r));
	}
	st = dt_stats(cx);
	cr_assert_geq(st.rx_udp, N_ECHO);
	cr_assert_geq(st.arp_replies + st.net.neigh_learned, 1);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

static const char *echo_path(char *buf, size_t len)
{
	const char *env = getenv("DT_ECHO");
	ssize_t n;
	char *slash;

	if (env)
		return env;
	n = readlink("/proc/self/exe", buf, len - 16);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	strcpy(slash + 1, "dpdk_echo");
	return buf;
}

/* Wait for \p pid at most \p sec seconds; kill it after that. */
static int wait_bounded(pid_t pid, int sec)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int st;

	for (int i = 0; i < sec * 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void memif_case(const char *park)
{
	char path[512], drv[512], spec[512], count[16];
	struct keel_config cfg = { .sched = "local", .driver = spec };
	struct keel_runtime *rt;
	const char *exe;
	intptr_t r;
	pid_t pid;
	int st;

	dt_need_root();
	snprintf(memif_arg, sizeof(memif_arg), "socket=/run/keel-memif-%ld.sock",
		 (long)getpid());
	snprintf(drv, sizeof(drv),
		 "--driver=dpdk:ip=" DT_PEER_IP "/24,park=%s -- " DT_EAL
		 " --vdev=net_memif0,role=client,%s", park, memif_arg);
	snprintf(spec, sizeof(spec),
		 "dpdk:ip=" DT_KEEL_IP "/24,park=%s -- " DT_EAL
		 " --vdev=net_memif0,role=server,%s", park, memif_arg);
	snprintf(count, sizeof(count), "%d", N_ECHO);
	exe = echo_path(path, sizeof(path));
	/* The server first: a memif client connects once, when its port
	 * starts, and stays down if nobody listens yet. */
	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execl(exe, exe, drv, DT_PEER_IP ":7", count, (char *)NULL);
		_exit(127);
	}
	r = keel_runtime_block_on(rt, client_body, NULL, &(struct client){ .r = 0 },
				  sizeof(struct client));
	/* dpdk_echo exits first (200 ms after its last echo), while our port
	 * stays up: closing it first makes memif's control thread in
	 * dpdk_echo unmap the shared rings under a receive call of its
	 * worker, which then faults (1 run in about 7 with park=busy). Our
	 * end is not polled meanwhile, so its own disconnect is safe. */
	st = wait_bounded(pid, 20);
	keel_runtime_destroy(rt);
	cr_assert_eq(r, 0, "%s", keel_strerror(r));
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "dpdk_echo (%s): status 0x%x", exe, st);
}

Test(memif, two_processes_keel_to_keel_sleeping)
{
	memif_case("sleep");
}

Test(memif, two_processes_keel_to_keel_busy)
{
	memif_case("busy");
}
