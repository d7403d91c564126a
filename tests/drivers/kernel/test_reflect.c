/* SPDX-License-Identifier: MIT */
/*
 * What the kernel driver answers: crafted frames from the sources a reply
 * must never go to (broadcast, our subnet's directed broadcast and network
 * address, multicast, martians) and from UDP source port 0, injected from
 * a peer namespace with a raw AF_PACKET socket. The kernel drops the
 * martians itself; the driver drops the rest (counted in rx_dropped):
 * drivers/kernel/source.h. The same frames are
 * crafted for xdp (tests/drivers/xdp/test_malformed.c) and dpdk
 * (tests/drivers/dpdk/test_wire.c), where net/ drops them by reason.
 */
#include "ktest.h"
#include "netns.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>

#define PORT 7007
#define PEER_PORT 5555

static struct keel_netns_pair pair;

static uint16_t csum(const uint8_t *b, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* A frame from \p src:\p sport to our PORT carrying \p payload, UDP
 * checksum left out (0). \return its length. */
static size_t craft(uint8_t *f, uint32_t src, uint16_t sport, const char *payload)
{
	size_t plen = strlen(payload);
	uint8_t *ip = f + 14, *udp = ip + 20;
	uint16_t v;

	memcpy(f, pair.mac, 6);
	memcpy(f + 6, pair.peer_mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	v = htons((uint16_t)(28 + plen));
	memcpy(ip + 2, &v, 2);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &pair.addr_be, 4);
	v = csum(ip, 20, 0);
	memcpy(ip + 10, &v, 2);
	v = htons(sport);
	memcpy(udp, &v, 2);
	v = htons(PORT);
	memcpy(udp + 2, &v, 2);
	v = htons((uint16_t)(8 + plen));
	memcpy(udp + 4, &v, 2);
	memset(udp + 6, 0, 2);
	memcpy(udp + 8, payload, plen);
	return 42 + plen;
}

static void inject(int raw, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = pair.peer_ifindex,
		.sll_halen = 6,
	};

	memcpy(ll.sll_addr, pair.mac, 6);
	cr_assert_eq(sendto(raw, frame, len, 0, (struct sockaddr *)&ll, sizeof(ll)),
		     (ssize_t)len, "raw send: %s", strerror(errno));
}

struct rf_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	int raw;
	struct keel_udp s;
	struct keel_addr a, from;
	struct keel_driver_stats before;
	char buf[64];
};

static intptr_t reflect_body(void *frame, struct keel_cx *cx)
{
	struct rf_frame *f = frame;
	uint32_t subnet = ntohl(pair.addr_be) & 0xffffff00u;
	const struct {
		uint32_t src;
		uint16_t sport;
	} bad[] = {
		{ 0xffffffffu, PEER_PORT },		/* limited broadcast */
		{ htonl(subnet | 0xff), PEER_PORT },	/* directed broadcast */
		{ htonl(subnet), PEER_PORT },		/* network address */
		{ htonl(0xe0000005u), PEER_PORT },	/* multicast */
		{ htonl(0x7f000001u), PEER_PORT },	/* loopback */
		{ 0, PEER_PORT },			/* 0.0.0.0 */
		{ pair.peer_addr_be, 0 },		/* source port 0 */
	};
	uint8_t pkt[128];
	int one;

	KEEL_BEGIN(f);
	f->a = kt_addr(pair.addr, PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	f->raw = keel_netns_peer_socket(&pair, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->raw, 0, "raw socket: %s", strerror(-f->raw));
	f->before = kt_stats(cx);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		inject(f->raw, pkt, craft(pkt, bad[i].src, bad[i].sport, "bad"));
	/* One queue: the good one arrives after the bad ones were judged. */
	inject(f->raw, pkt, craft(pkt, pair.peer_addr_be, PEER_PORT, "good"));
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->from));
	{
		char ab[KEEL_ADDR_STRLEN];

		cr_assert_eq(f->r, 4, "the first datagram delivered: %.3s from %s",
			     f->r < 0 ? keel_strerror((int)f->r) : f->buf,
			     keel_addr_format(&f->from, ab, sizeof(ab)));
	}
	cr_assert_arr_eq(f->buf, "good", 4);
	cr_assert_eq(f->from.in4.sin_addr.s_addr, pair.peer_addr_be);
	/* port 0 by the driver always; the directed broadcast and network
	 * sources by the kernel with rp_filter on, else by the driver */
	cr_assert_geq(kt_stats(cx).rx_dropped, f->before.rx_dropped + 1,
		      "source port 0 dropped, counted");
	cr_assert_leq(kt_stats(cx).rx_dropped, f->before.rx_dropped + 3);
	cr_assert_eq(kt_stats(cx).rx_packets, f->before.rx_packets + 1);
	cr_assert_eq(kt_stats(cx).tx_packets, f->before.tx_packets, "nothing answered");
	cr_assert_eq(recv(keel_kernel_udp_fd(&f->s), f->buf, sizeof(f->buf), MSG_DONTWAIT), -1,
		     "nothing else queued");
	cr_assert_eq(errno, EAGAIN);

	/* Broadcast needs the option (the kernel's rule, kept). */
	f->a = kt_addr("0.0.0.0", 9);
	f->a.in4.sin_addr.s_addr = htonl(subnet | 0xff);
	KT_AWAIT(f, keel_udp_send_to(cx, &f->s, "x", 1, &f->a));
	cr_assert_eq(f->r, -EACCES);
	one = 1;
	cr_assert_eq(keel_udp_set_broadcast(&f->s, one), 0);
	KT_AWAIT(f, keel_udp_send_to(cx, &f->s, "x", 1, &f->a));
	cr_assert_eq(f->r, 1);
	close(f->raw);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

Test(reflect, bad_sources_get_no_reply, .timeout = 60, .fini = keel_netns_cleanup)
{
	struct keel_netns_opts o = { .queues = 1 };
	struct keel_config cfg = kt_config();
	struct keel_runtime *rt;
	struct rf_frame f = { 0 };
	int rc = keel_netns_pair_create(&pair, 40, &o);

	KEEL_NETNS_SKIP_UNLESS(rc, &pair);
	rc = keel_runtime_create(&cfg, &rt);
	cr_assert_eq(rc, 0, "runtime: %s", keel_strerror(rc));
	cr_assert_eq(keel_runtime_block_on(rt, reflect_body, NULL, &f, sizeof(f)), 0);
	keel_runtime_destroy(rt);
}
