/* SPDX-License-Identifier: MIT */
/*
 * The DPDK driver on net_af_packet over a veth pair (tests/fixtures/netns):
 * keel on our end (no kernel address there), ordinary kernel sockets, ping
 * and a raw socket in the peer namespace. keel's net/ answers ARP and ICMP
 * echo itself; malformed frames are dropped with the right counter while
 * good traffic keeps flowing; examples/udp-echo serves the peer with
 * --driver=dpdk:... alone.
 */
#include "dtest.h"

#include <netns.h>

#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

static struct keel_netns_pair P;
static char spec[512];
static struct keel_addr keel_a, peer_a; /* keel's :7, the peer's :6000 */
static int kfd = -1;			/* the peer's kernel UDP socket */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Our end of a fresh pair, keel on it through net_af_packet. */
static void veth_setup(const char *park)
{
	struct keel_netns_opts o = { .no_addr = true, .queues = 1 };
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(6000) };
	char path[128], opts[32];
	int rc;

	dt_need_root();
	rc = keel_netns_pair_create(&P, 1, &o);
	KEEL_NETNS_SKIP_UNLESS(rc, &P);
	/* IPv6 chatter (router solicitations, MLD) would blur the counters. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 P.ifname);
	write_file(path, "1");
	keel_netns_peer_run(&P, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
	snprintf(opts, sizeof(opts), "park=%s", park);
	keel_netns_dpdk_spec(&P, opts, spec, sizeof(spec));
	keel_a = dt_addr(P.addr, 7);
	peer_a = dt_addr(P.peer_addr, 6000);
	kfd = keel_netns_peer_socket(&P, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(kfd, 0, "peer socket: %s", strerror(-kfd));
	me.sin_addr.s_addr = P.peer_addr_be;
	cr_assert_eq(bind(kfd, (struct sockaddr *)&me, sizeof(me)), 0);
}

static void veth_teardown(void)
{
	if (kfd >= 0)
		close(kfd);
	kfd = -1;
	keel_netns_cleanup();
}

/* The peer's kernel socket: one datagram to keel. */
static void peer_send(const void *msg, size_t len)
{
	cr_assert_eq(sendto(kfd, msg, len, 0, &keel_a.sa, keel_addr_len(&keel_a)),
		     (ssize_t)len, "peer sendto: %s", strerror(errno));
}

/* The peer's kernel socket: a datagram, without waiting. -1: none yet. */
static ssize_t peer_recv(void *buf, size_t cap)
{
	return recv(kfd, buf, cap, MSG_DONTWAIT);
}

/* --------------------------------------------------- datagrams both ways */

struct both {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr from;
	char buf[128], kbuf[128];
	intptr_t r;
	ssize_t kn;
	unsigned i;
	uint64_t spins, deadline;
};

static intptr_t keel_first_body(void *frame, struct keel_cx *cx)
{
	struct both *f = frame;
	char mac[32], text[KEEL_ADDR_STRLEN];

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &keel_a, NULL), 0);
	/* keel speaks first: it asks the kernel for the peer's MAC. */
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, "from keel", 9, &peer_a));
	cr_assert_eq(f->r, 9);
	DT_SPIN(f, cx, (f->kn = peer_recv(f->kbuf, sizeof(f->kbuf))) >= 0);
	cr_assert_eq(f->kn, 9, "the kernel socket got it: %s", strerror(errno));
	cr_assert_eq(memcmp(f->kbuf, "from keel", 9), 0);
	cr_assert_geq(dt_stats(cx).arp_requests, 1);
	/* The kernel answers; a few rounds both ways. */
	for (f->i = 0; f->i < 20; f->i++) {
		snprintf(f->kbuf, sizeof(f->kbuf), "kernel %u", f->i);
		peer_send(f->kbuf, strlen(f->kbuf));
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
			   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->from)));
		cr_assert_eq(f->r, (intptr_t)strlen(f->kbuf), "%s", keel_strerror(f->r));
		cr_assert(keel_addr_equal(&f->from, &peer_a), "from %s",
			  keel_addr_format(&f->from, text, sizeof(text)));
		memcpy(f->buf, "KERNEL", 6);
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->buf, (size_t)f->r, &f->from));
		DT_SPIN(f, cx, (f->kn = peer_recv(f->kbuf, sizeof(f->kbuf))) >= 0);
		cr_assert_gt(f->kn, 6, "echo %u came back", f->i);
		cr_assert_eq(memcmp(f->kbuf, "KERNEL", 6), 0);
	}
	/* The peer's neighbour table has keel's MAC, from ARP. */
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", P.mac[0],
		 P.mac[1], P.mac[2], P.mac[3], P.mac[4], P.mac[5]);
	cr_assert_eq(keel_netns_peer_run(&P, "ip neigh show %s | grep -q %s",
					 P.addr, mac), 0,
		     "the peer learned keel's MAC %s", mac);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(veth, keel_speaks_first_then_both_ways, .fini = veth_teardown)
{
	veth_setup("busy");
	dt_run(spec, keel_first_body, sizeof(struct both));
}

static intptr_t kernel_first_body(void *frame, struct keel_cx *cx)
{
	struct both *f = frame;
	struct keel_dpdk_stats st;

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &keel_a, NULL), 0);
	/* The kernel speaks first: it ARPs for keel, keel's net/ answers. */
	peer_send("hello keel", 10);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->from)));
	cr_assert_eq(f->r, 10, "%s", keel_strerror(f->r));
	st = dt_stats(cx);
	cr_assert_geq(st.arp_replies, 1, "keel answered the kernel's ARP");
	cr_assert_eq(st.arp_requests, 0, "and learned the peer from it");
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, "hello kernel", 12, &f->from));
	DT_SPIN(f, cx, (f->kn = peer_recv(f->kbuf, sizeof(f->kbuf))) >= 0);
	cr_assert_eq(f->kn, 12);
	cr_assert_eq(dt_stats(cx).arp_requests, 0);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(veth, kernel_speaks_first_arp_answered, .fini = veth_teardown)
{
	veth_setup("sleep");
	dt_run(spec, kernel_first_body, sizeof(struct both));
}

/* ------------------------------------------------------------- ping */

static atomic_int ping_status = -2;

static void *ping_thread(void *arg)
{
	(void)arg;
	atomic_store(&ping_status, keel_netns_peer_run(&P, "ping -c 5 -i 0.2 -W 2 -q %s",
						       P.addr));
	return NULL;
}

struct ping {
	struct keel_co co;
	pthread_t th;
	uint64_t spins, deadline;
	struct keel_timer t;
	intptr_t r;
};

static intptr_t ping_body(void *frame, struct keel_cx *cx)
{
	struct ping *f = frame;

	KEEL_BEGIN(f);
	pthread_create(&f->th, NULL, ping_thread, NULL);
	/* Sleep in steps (the worker parks): ping takes about a second. */
	for (f->spins = 0; f->spins < 100 && atomic_load(&ping_status) == -2; f->spins++)
		KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, 100 * KEEL_MS));
	pthread_join(f->th, NULL);
	cr_assert_eq(atomic_load(&ping_status), 0, "ping from the peer answered");
	cr_assert_geq(dt_stats(cx).icmp_replies, 5);
	KEEL_END(f);
}

Test(veth, ping_from_the_peer_answered, .fini = veth_teardown)
{
	veth_setup("sleep");
	dt_run(spec, ping_body, sizeof(struct ping));
}

/* ------------------------------------------- malformed, from a raw socket */

static void fix_ip_csum(uint8_t *frame)
{
	uint8_t *ip = frame + 14;
	unsigned hlen = (ip[0] & 0xfu) * 4;
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = keel_net_csum_fold(keel_net_csum_partial(ip, hlen, 0));
	memcpy(ip + 10, &c, 2);
}

static size_t sp_dst_mac(uint8_t *f, size_t len) { f[5] ^= 0x10; return len; }
static size_t sp_vlan(uint8_t *f, size_t len) { f[12] = 0x81; f[13] = 0; return len; }
static size_t sp_ip_trunc(uint8_t *f, size_t len) { (void)len; f[12] = 0x08; return 14 + 10; }
static size_t sp_ip_csum(uint8_t *f, size_t len) { f[24] ^= 0xff; return len; }
static size_t sp_fragment(uint8_t *f, size_t len) { f[20] = 0x20; fix_ip_csum(f); return len; }
static size_t sp_ip_proto(uint8_t *f, size_t len) { f[23] = 6; fix_ip_csum(f); return len; }
static size_t sp_udp_len(uint8_t *f, size_t len) { f[38] = 0x10; return len; }
static size_t sp_udp_csum(uint8_t *f, size_t len) { f[len - 1] ^= 0x5a; return len; }
static size_t sp_unbound(uint8_t *f, size_t len) { f[36] = 0x99; f[40] = f[41] = 0; return len; }

static size_t sp_options(uint8_t *f, size_t len)
{
	memmove(f + 38, f + 34, len - 34);
	memset(f + 34, 1, 4);
	f[14] = 0x46;
	f[17] = (uint8_t)(f[17] + 4);
	fix_ip_csum(f);
	return len + 4;
}

static const struct {
	const char *what;
	int reason; /* enum keel_net_drop, -1: rx_no_socket, -2: not seen */
	size_t (*make)(uint8_t *f, size_t len);
} spoils[] = {
	{ "dst mac", KEEL_NET_DROP_DST_MAC, sp_dst_mac },
	{ "vlan", KEEL_NET_DROP_VLAN, sp_vlan },
	{ "ip trunc", KEEL_NET_DROP_IP_TRUNC, sp_ip_trunc },
	{ "ip csum", KEEL_NET_DROP_IP_CSUM, sp_ip_csum },
	{ "ip options", KEEL_NET_DROP_IP_OPTIONS, sp_options },
	/* net_af_packet's socket joins a PACKET_FANOUT group with
	 * PACKET_FANOUT_FLAG_DEFRAG: the kernel holds a lone fragment for
	 * reassembly and it never reaches keel (the wire test counts it). */
	{ "fragment", -2, sp_fragment },
	{ "ip proto", KEEL_NET_DROP_IP_PROTO, sp_ip_proto },
	{ "udp len", KEEL_NET_DROP_UDP_LEN, sp_udp_len },
	{ "udp csum", KEEL_NET_DROP_UDP_CSUM, sp_udp_csum },
	{ "no socket", -1, sp_unbound },
};

static int raw = -1;
static struct keel_net *peer_net;

struct bad {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	char buf[64];
	intptr_t r;
	unsigned i;
	uint64_t spins, deadline, count;
};

static uint64_t reason_count(struct keel_cx *cx, int reason)
{
	struct keel_dpdk_stats st = dt_stats(cx);

	return reason == -1 ? st.rx_no_socket : reason < 0 ? 0 : st.net.drops[reason];
}

static intptr_t bad_body(void *frame, struct keel_cx *cx)
{
	struct bad *f = frame;
	struct keel_net_udp_tx tx = { .src_port = htons(6000), .dst_port = htons(7) };
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	uint8_t pkt[256];
	size_t len;
	int n;

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &keel_a, NULL), 0);
	/* Warm up: the kernel's ARP, one good datagram. */
	peer_send("warm", 4);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL)));
	cr_assert_eq(f->r, 4);
	for (f->i = 0; f->i < sizeof(spoils) / sizeof(spoils[0]); f->i++) {
		f->count = reason_count(cx, spoils[f->i].reason);
		tx.src_ip = P.peer_addr_be;
		tx.dst_ip = P.addr_be;
		memcpy(tx.dst_mac, P.mac, 6);
		memcpy(pkt + KEEL_NET_UDP_HDRS, "malformed!", 10);
		n = keel_net_udp_build(peer_net, pkt, sizeof(pkt), &tx, 10, 0);
		cr_assert_gt(n, 0);
		len = spoils[f->i].make(pkt, (size_t)n);
		to.sll_ifindex = P.peer_ifindex;
		memcpy(to.sll_addr, P.mac, 6);
		cr_assert_eq(sendto(raw, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)),
			     (ssize_t)len, "raw sendto: %s", strerror(errno));
		if (spoils[f->i].reason != -2) {
			DT_SPIN(f, cx, reason_count(cx, spoils[f->i].reason) > f->count);
			cr_assert_eq(reason_count(cx, spoils[f->i].reason), f->count + 1,
				     "%s: dropped and counted once (%lu -> %lu)",
				     spoils[f->i].what, (unsigned long)f->count,
				     (unsigned long)reason_count(cx, spoils[f->i].reason));
		}
		/* Good traffic keeps flowing; the bad frame never reached the
		 * socket (it would be read first). */
		peer_send("good", 4);
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
			   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL)));
		cr_assert_eq(f->r, 4, "after %s: %s", spoils[f->i].what,
			     keel_strerror(f->r));
		cr_assert_eq(memcmp(f->buf, "good", 4), 0, "after %s", spoils[f->i].what);
	}
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(veth, malformed_frames_from_a_raw_socket, .fini = veth_teardown)
{
	struct keel_net_config pc = { .n_addrs = 1 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };

	veth_setup("busy");
	memcpy(pc.mac, P.peer_mac, 6);
	pc.addrs[0].addr = P.peer_addr_be;
	pc.addrs[0].prefix_len = 24;
	cr_assert_eq(keel_net_create(&pc, &peer_net), 0);
	raw = keel_netns_peer_socket(&P, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC,
				     htons(ETH_P_ALL));
	cr_assert_geq(raw, 0, "raw socket: %s", strerror(-raw));
	sll.sll_ifindex = P.peer_ifindex;
	cr_assert_eq(bind(raw, (struct sockaddr *)&sll, sizeof(sll)), 0);
	dt_run(spec, bad_body, sizeof(struct bad));
	close(raw);
	keel_net_destroy(peer_net);
}

/* ------------------------------------- examples/udp-echo on --driver=dpdk */

Test(veth, udp_echo_example_serves_the_peer, .fini = veth_teardown)
{
	const char *exe = getenv("DT_UDP_ECHO");
	char drv[600], listen[64], buf[64];
	struct pollfd pfd = { .events = POLLIN };
	int st, ok = 0;
	pid_t pid;

	veth_setup("sleep");
	if (!exe) {
		/* Run by hand: the example is built next to this test. */
		static char path[512];
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);

		cr_assert_gt(n, 0);
		path[n] = '\0';
		strcpy(strrchr(path, '/') + 1, "udp_echo_dpdk");
		exe = path;
	}
	snprintf(drv, sizeof(drv), "--driver=%s", spec);
	snprintf(listen, sizeof(listen), "%s:7", P.addr);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execl(exe, exe, drv, listen, (char *)NULL);
		_exit(127);
	}
	pfd.fd = kfd;
	/* Retry until it listens (EAL takes ~150 ms, seconds under TSan on a
	 * loaded machine); echoes of earlier tries that come late are read
	 * and skipped. Every wait bounded: 300 tries of at most 200 ms. */
	for (int i = 0; i < 300 && ok < 10; i++) {
		char msg[32];
		ssize_t n;

		snprintf(msg, sizeof(msg), "echo %d", ok);
		peer_send(msg, strlen(msg));
		while (poll(&pfd, 1, 200) == 1 &&
		       (n = recv(kfd, buf, sizeof(buf), 0)) >= 0) {
			if (n == (ssize_t)strlen(msg) &&
			    memcmp(buf, msg, strlen(msg)) == 0) {
				ok++;
				break;
			}
		}
	}
	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert_eq(ok, 10, "echoes through net_af_packet: %d", ok);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "SIGTERM shuts it down cleanly: 0x%x", st);
}
