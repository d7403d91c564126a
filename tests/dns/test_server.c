/* SPDX-License-Identifier: MIT */
/*
 * dns-server end to end, asked by a real client (`dig`): on the kernel
 * driver over loopback (UDP and TCP, on a single-thread and a
 * multi-thread scheduler), and on the AF_XDP driver in a network namespace
 * of the test's own, dig asking from the peer namespace over the veth pair
 * (tests/fixtures/netns.h; UDP on AF_XDP, TCP on the kernel's sockets),
 * and on the DPDK driver over the same kind of pair (net_af_packet on our
 * end, which has no kernel address: UDP only). The server runs as a child
 * process with the test zone (tests/dns/example.zone); every wait is
 * bounded.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"

#define START_LIMIT_MS 10000
#define STOP_LIMIT_MS  10000

static pid_t server = -1;
static int server_fd = -1; /* its stdout */
static unsigned port;
static const char *host;

static char *env(const char *name)
{
	char *v = getenv(name);

	cr_assert_not_null(v, "%s is set (meson test sets it)", name);
	return v;
}

/* Start dns-server with \p args (NULL-ended); wait for its "Listening on
 * ADDR:PORT" line and keep the port. */
static void start(const char *const *args)
{
	const char *argv[16] = { env("DNS_SERVER") };
	char zone[512], buf[4096];
	size_t have = 0, n = 1;
	int fds[2];
	struct timespec t0, t;

	snprintf(zone, sizeof(zone), "--zone=%s", env("DNS_ZONE"));
	argv[n++] = zone;
	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	cr_assert_eq(pipe(fds), 0);
	fflush(NULL);
	server = fork();
	cr_assert_geq(server, 0);
	if (server == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2); /* keel's log too: the exit summary */
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fds[1]);
	server_fd = fds[0];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		char *line;
		ssize_t k;
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		cr_assert_lt(ms, START_LIMIT_MS, "dns-server said where it listens in time: '%.*s'",
			     (int)have, buf);
		if (poll(&p, 1, 100) <= 0)
			continue;
		k = read(fds[0], buf + have, sizeof(buf) - 1 - have);
		cr_assert_gt(k, 0, "dns-server exited early: '%.*s'", (int)have, buf);
		have += (size_t)k;
		buf[have] = 0;
		line = strstr(buf, "Listening on ");
		if (line && strchr(line, '\n')) {
			char *colon = strrchr(strtok(line, "\n"), ':');

			port = (unsigned)atoi(colon + 1);
			break;
		}
	}
	/* The rest of its output goes nowhere; the pipe is kept open (the
	 * server never writes more than its pipe holds). */
	cr_assert_gt(port, 0);
}

/* SIGTERM, and the exit status (bounded wait; a hang is killed). */
static int stop(void)
{
	int st = 0;

	if (server_fd >= 0)
		close(server_fd);
	server_fd = -1;
	if (server < 0)
		return -1;
	kill(server, SIGTERM);
	for (int ms = 0; ms < STOP_LIMIT_MS; ms += 10) {
		pid_t w = waitpid(server, &st, WNOHANG);

		if (w == server) {
			server = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	kill(server, SIGKILL);
	waitpid(server, &st, 0);
	server = -1;
	return -1;
}

/* stop(), keeping what dns-server wrote until it exited (bounded). */
static int stop_reading(char *buf, size_t cap)
{
	size_t have = 0;

	kill(server, SIGTERM);
	for (int ms = 0; ms < STOP_LIMIT_MS && have < cap - 1; ms += 100) {
		struct pollfd p = { .fd = server_fd, .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, 100) <= 0)
			continue;
		k = read(server_fd, buf + have, cap - 1 - have);
		if (k <= 0)
			break; /* exited: the pipe's end */
		have += (size_t)k;
	}
	buf[have] = 0;
	return stop();
}

/* rx_packets of worker \p w's driver in a keel exit summary; -1: none. */
static long worker_rx(const char *summary, unsigned w)
{
	char tag[32];
	const char *at, *rx;

	snprintf(tag, sizeof(tag), "worker %u:", w);
	at = strstr(summary, tag);
	rx = at ? strstr(at, "rx_packets=") : NULL;
	return rx ? atol(rx + 11) : -1;
}

static void fini(void)
{
	stop();
	keel_netns_cleanup();
}

/* Run dig (in \p ns unless NULL) with \p fmt's arguments; its output. */
static char out[65536];

static const char *dig(const char *ns, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const char *dig(const char *ns, const char *fmt, ...)
{
	char args[512], cmd[1024];
	size_t n = 0;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s%s%s %s +time=2 +tries=3 -p %u @%s %s 2>&1",
		 ns ? "ip netns exec " : "", ns ? ns : "", ns ? " " : "",
		 env("DIG"), port, host, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (n < sizeof(out) - 1) {
		size_t k = fread(out + n, 1, sizeof(out) - 1 - n, p);

		if (k == 0)
			break;
		n += k;
	}
	out[n] = 0;
	pclose(p);
	return out;
}

#define HAS(text, what) cr_expect(strstr((text), (what)) != NULL, "'%s' in:\n%s", (what), (text))

/* What every driver must answer. */
static void check_udp_answers(const char *ns)
{
	const char *o;

	o = dig(ns, "+norec www.example.com A");
	HAS(o, "status: NOERROR");
	HAS(o, "flags: qr aa");
	HAS(o, "www.example.com.\t3600\tIN\tA\t192.0.2.10");
	HAS(o, "www.example.com.\t3600\tIN\tA\t192.0.2.11");
	HAS(o, "udp: 1232");
	o = dig(ns, "+norec WWW.EXAMPLE.COM AAAA");
	HAS(o, "IN\tAAAA\t2001:db8::10");
	o = dig(ns, "+norec nope.example.com A");
	HAS(o, "status: NXDOMAIN");
	HAS(o, "AUTHORITY: 1");
	HAS(o, "example.com.\t\t300\tIN\tSOA\tns1.example.com. hostmaster.example.com. 2026120201");
	o = dig(ns, "+norec www.example.com TXT");
	HAS(o, "status: NOERROR");
	HAS(o, "ANSWER: 0, AUTHORITY: 1");
	o = dig(ns, "+norec chain.example.com A");
	HAS(o, "chain.example.com.\t3600\tIN\tCNAME\talias.example.com.");
	HAS(o, "ANSWER: 4");
	o = dig(ns, "+norec example.com MX");
	HAS(o, "IN\tMX\t10 mail.example.com.");
	HAS(o, "mail.example.com.\t3600\tIN\tA\t192.0.2.25");
	o = dig(ns, "+norec www.example.org A");
	HAS(o, "status: REFUSED");
	o = dig(ns, "+norec +noedns +ignore big.example.com TXT");
	HAS(o, "flags: qr aa tc");
	HAS(o, "ANSWER: 0");
	o = dig(ns, "+norec +bufsize=4096 big.example.com TXT");
	HAS(o, "ANSWER: 6");
	o = dig(ns, "+norec +header-only +opcode=status example.com");
	HAS(o, "status: NOTIMP");
}

static void kernel_run(const char *const *extra)
{
	const char *o;

	host = "127.0.0.1";
	start(extra);
	check_udp_answers(NULL);
	/* TCP on the same port: asked directly, and as the retry of a
	 * truncated UDP answer. */
	o = dig(NULL, "+norec +tcp www.example.com A");
	HAS(o, "192.0.2.10");
	HAS(o, "(TCP)");
	o = dig(NULL, "+norec +noedns big.example.com TXT");
	HAS(o, "Truncated, retrying in TCP mode");
	HAS(o, "ANSWER: 6");
	o = dig(NULL, "+norec +tcp +keepopen www.example.com A nope.example.com A");
	HAS(o, "status: NXDOMAIN");
	cr_expect_eq(stop(), 0, "SIGTERM ends dns-server cleanly");
}

Test(server, kernel_local, .fini = fini, .timeout = 120)
{
	kernel_run((const char *const[]){ "127.0.0.1:0", NULL });
}

Test(server, kernel_steal_2_workers, .fini = fini, .timeout = 120)
{
	kernel_run((const char *const[]){ "--sched=steal", "--workers=2", "127.0.0.1:0", NULL });
}

/* Every worker serves: a socket each on one port (SO_REUSEPORT), the
 * kernel hashing each client's flow to one of them. 32 dig runs come from
 * 32 source ports; all of them landing on one socket has odds of 2^-31. */
Test(server, kernel_every_worker_answers, .fini = fini, .timeout = 120)
{
	static char summary[16384];
	unsigned answered = 0;

	host = "127.0.0.1";
	start((const char *const[]){ "--sched=shard", "--workers=2", "--stats", "127.0.0.1:0", NULL });
	for (int i = 0; i < 32; i++)
		answered += strstr(dig(NULL, "+norec host%d.example.com A", i),
				   "status: NXDOMAIN") != NULL;
	cr_expect_eq(answered, 32u);
	cr_expect_eq(stop_reading(summary, sizeof(summary)), 0, "SIGTERM ends dns-server cleanly");
	for (unsigned w = 0; w < 2; w++)
		cr_expect_gt(worker_rx(summary, w), 0, "worker %u answered queries:\n%s", w,
			     summary);
}

#ifdef DNS_XDP
Test(server, xdp_in_a_namespace, .fini = fini, .timeout = 120)
{
	struct keel_netns_pair pair;
	char drv[64], addr[64];
	int rc = keel_netns_pair_create(&pair, 1, NULL);

	KEEL_NETNS_SKIP_UNLESS(rc, &pair);
	snprintf(drv, sizeof(drv), "--driver=xdp:%s", pair.ifname);
	snprintf(addr, sizeof(addr), "%s:0", pair.addr);
	host = pair.addr;
	start((const char *const[]){ drv, addr, NULL });
	check_udp_answers(pair.peer_ns);
	/* TCP goes through the kernel (keel's XDP program passes it). */
	HAS(dig(pair.peer_ns, "+norec +tcp www.example.com A"), "192.0.2.10");
	HAS(dig(pair.peer_ns, "+norec +noedns big.example.com TXT"), "ANSWER: 6");
	cr_expect_eq(stop(), 0, "SIGTERM ends dns-server cleanly");
}
#endif

#ifdef DNS_DPDK
/* DPDK owns our end of the pair (net_af_packet; the kernel has no address
 * there), so keel's net/ answers the peer's ARP and there is no TCP: the
 * server says so and serves UDP alone. */
Test(server, dpdk_in_a_namespace, .fini = fini, .timeout = 120)
{
	struct keel_netns_opts o = { .no_addr = true, .queues = 1 };
	struct keel_netns_pair pair;
	char spec[400], drv[512], addr[64];
	int rc = keel_netns_pair_create(&pair, 1, &o);

	KEEL_NETNS_SKIP_UNLESS(rc, &pair);
	keel_netns_dpdk_spec(&pair, NULL, spec, sizeof(spec));
	snprintf(drv, sizeof(drv), "--driver=%s", spec);
	snprintf(addr, sizeof(addr), "%s:53", pair.addr);
	host = pair.addr;
	start((const char *const[]){ drv, addr, NULL });
	check_udp_answers(pair.peer_ns);
	cr_expect_eq(stop(), 0, "SIGTERM ends dns-server cleanly");
}
#endif
