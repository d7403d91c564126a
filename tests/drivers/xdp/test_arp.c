/* SPDX-License-Identifier: MIT */
/* drivers/xdp/neigh.c: keel sends to a neighbour whose MAC it has never
 * seen; the kernel resolves it (asked over rtnetlink), net/ holds the
 * datagram meanwhile, and it arrives. A neighbour nobody answers for costs
 * a counted drop, not a hang. */
#include "xtest.h"

#include <arpa/inet.h>

struct arp_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i;
	int pfd;
	struct keel_udp s;
	struct keel_addr ka, pa, nobody;
	struct keel_xdp_stats st;
	char buf[256];
};

/* Neither side has seen the other: empty neighbour tables. */
static void forget_neighbours(void)
{
	keel_netns_run("ip neigh flush dev %s", xt_pair.ifname);
	keel_netns_peer_run(&xt_pair, "ip neigh flush dev %s",
			    xt_pair.peer_ifname);
}

XT_TEST(arp, first_datagram_to_an_unknown_neighbour, struct arp_frame, "")
{
	KEEL_BEGIN(f);
	forget_neighbours();
	f->ka = xt_ours(XT_PORT);
	f->pa = xt_peer(XT_PEER_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);

	/* Three datagrams before any answer: all wait, all arrive, in order. */
	for (f->i = 0; f->i < 3; f->i++) {
		XT_AWAIT(f, keel_udp_send_to(cx, &f->s, &f->i, sizeof(f->i), &f->pa));
		cr_assert_eq(f->r, sizeof(f->i));
	}
	f->st = xt_stats(cx);
	cr_assert_eq(f->st.tx_arp_wait, 3, "they waited for the MAC");
	cr_assert_geq(f->st.neigh_asks, 1, "the kernel was asked");
	for (f->i = 0; f->i < 3; f->i++) {
		unsigned got;

		XT_KRECV(f, f->pfd, f->buf, sizeof(f->buf));
		cr_assert_eq(f->r, sizeof(unsigned), "datagram %u arrived", f->i);
		memcpy(&got, f->buf, sizeof(got));
		cr_assert_eq(got, f->i);
	}
	f->st = xt_stats(cx);
	cr_assert_geq(f->st.neigh_updates, 1);
	cr_assert_eq(f->st.net.tx_released, 3);
	cr_assert_eq(keel_netns_run("ip neigh show dev %s | grep -q '%s .*lladdr'",
				    xt_pair.ifname, xt_pair.peer_addr), 0,
		     "the kernel's own table has the peer");

	/* Now known: the next one goes straight out. */
	XT_AWAIT(f, keel_udp_send_to(cx, &f->s, "known", 5, &f->pa));
	XT_KRECV(f, f->pfd, f->buf, sizeof(f->buf));
	cr_assert_eq(f->r, 5);
	cr_assert_eq(xt_stats(cx).tx_arp_wait, 3);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* Nobody at 198.18.1.77: net/ asks three times, a second apart, then drops
 * the datagram (arp_timeout); the socket keeps working for others. */
XT_TEST(arp, unanswered_neighbour_times_out, struct arp_frame, "")
{
	KEEL_BEGIN(f);
	f->ka = xt_ours(XT_PORT);
	f->pa = xt_peer(XT_PEER_PORT);
	f->nobody = xt_addr("198.18.1.77", 9);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->s, "lost", 4, &f->nobody));
	cr_assert_eq(f->r, 4, "accepted: it waits for ARP");

	XT_AWAIT(f, keel_udp_send_to(cx, &f->s, "other", 5, &f->pa));
	XT_KRECV(f, f->pfd, f->buf, sizeof(f->buf));
	cr_assert_eq(f->r, 5, "others are not held up");

	for (f->spin = 0; f->spin < 60; f->spin++) {
		f->st = xt_stats(cx);
		if (f->st.net.drops[KEEL_NET_DROP_ARP_TIMEOUT])
			break;
		XT_SLEEP(f, 100 * KEEL_MS);
	}
	cr_assert_eq(f->st.net.drops[KEEL_NET_DROP_ARP_TIMEOUT], 1,
		     "dropped after the retries");
	cr_assert_geq(f->st.neigh_asks, 3, "asked again while waiting");
	cr_assert_eq(f->st.base.tx_dropped, 1);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* A gateway: off-subnet destinations go to its MAC. The peer plays the
 * gateway; the datagram for 203.0.113.9 lands on its interface, where a
 * raw socket sees it with the peer's MAC as destination. */
struct gw_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin;
	int raw;
	struct keel_udp s;
	struct keel_addr ka, far;
	unsigned char buf[2048];
};

XT_TEST(arp, gateway_for_off_subnet, struct gw_frame, ",gw=198.18.1.2")
{
	KEEL_BEGIN(f);
	f->raw = keel_netns_peer_socket(&xt_pair, AF_PACKET,
					SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
					htons(0x0800));
	cr_assert_geq(f->raw, 0);
	f->ka = xt_ours(XT_PORT);
	f->far = xt_addr("203.0.113.9", 4242);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->s, "via-gw", 6, &f->far));
	cr_assert_eq(f->r, 6);
	for (;;) {
		XT_KRECV(f, f->raw, f->buf, sizeof(f->buf));
		cr_assert_geq(f->r, 28, "an IPv4 packet reached the gateway");
		/* IPv4 header: destination at 16, UDP payload at 28 */
		if (memcmp(f->buf + 16, &f->far.in4.sin_addr, 4) == 0)
			break;
	}
	cr_assert_arr_eq(f->buf + 28, "via-gw", 6);
	close(f->raw);
	keel_udp_close(&f->s);
	KEEL_END(f);
}
