/* SPDX-License-Identifier: MIT */
/*
 * net/arp.c: the neighbour cache (learning, ageing, eviction), resolution
 * with queued frames, retransmission and timeouts, on a fake clock.
 */
#include "net_test.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

static struct keel_net *net, *peer;
static uint8_t f[2048], arp[64];
static struct keel_net_rx_result r;

static struct keel_net *make(unsigned queue_len)
{
	struct keel_net_config c;
	struct keel_net *n;

	t_config(&c);
	c.arp_queue_len = queue_len;
	cr_assert_eq(keel_net_create(&c, &n), 0);
	return n;
}

static void setup(void)
{
	struct keel_net_config c;

	net = make(0);
	memset(&c, 0, sizeof(c));
	memcpy(c.mac, t_peer_mac, 6);
	c.n_addrs = 1;
	c.addrs[0].addr = T_PEER_IP;
	c.addrs[0].prefix_len = 24;
	cr_assert_eq(keel_net_create(&c, &peer), 0);
}

static void teardown(void)
{
	keel_net_destroy(net);
	keel_net_destroy(peer);
}

TestSuite(arp, .init = setup, .fini = teardown);

/* An outbound datagram to dst with a placeholder MAC; payload byte = tag. */
static size_t frame_to(uint8_t *buf, uint32_t dst, uint8_t tag)
{
	struct keel_net_udp_tx tx = { .dst_ip = dst, .src_port = htons(7), .dst_port = htons(9) };

	memset(buf + KEEL_NET_UDP_HDRS, tag, 16);
	cr_assert_eq(keel_net_udp_build(net, buf, 2048, &tx, 16, 0), 58);
	return 58;
}

static struct keel_net_stats stats(const struct keel_net *n)
{
	struct keel_net_stats st;

	keel_net_stats_get(n, &st);
	return st;
}

/* Check that arp holds a request for target, broadcast or to a MAC. */
static void check_request(uint32_t target, const uint8_t *eth_dst)
{
	cr_assert_arr_eq(arp, eth_dst, 6);
	cr_assert_arr_eq(arp + 6, t_our_mac, 6);
	cr_assert_eq(t_rd16(arp + 12), 0x0806);
	cr_assert_eq(t_rd16(arp + 20), 1);
	cr_assert_eq(memcmp(arp + 38, &target, 4), 0);
}

/* An ARP reply from who/mac to us. */
static enum keel_net_rx_kind reply_from(uint32_t who, const uint8_t *mac, uint64_t now)
{
	uint8_t a[64];
	size_t len = t_arp(a, t_our_mac, 2, mac, who, t_our_mac, T_OUR_IP);

	return keel_net_rx(net, a, len, 0, now, &r);
}

Test(arp, resolve_queue_release_in_order)
{
	size_t alen;
	uint8_t out[2048];
	struct keel_net_rx_result back;
	struct keel_net_stats st;

	/* Unknown peer: the frame waits and a request goes out. */
	frame_to(f, T_PEER_IP, 1);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(alen, KEEL_NET_ARP_LEN);
	check_request(T_PEER_IP, t_bcast_mac);
	cr_assert_eq(keel_net_neigh_count(net), 1);
	/* A second frame waits without asking again. */
	frame_to(f, T_PEER_IP, 2);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 1000, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(alen, 0);
	cr_assert_eq(keel_net_tx_pending(net, out, sizeof(out)), 0, "nothing ready yet");

	/* The peer answers our actual request. */
	cr_assert_eq(keel_net_rx(peer, arp, KEEL_NET_ARP_LEN, 0, 0, &back),
		     KEEL_NET_RX_ARP_REQUEST);
	cr_assert_eq(keel_net_reply(peer, arp, sizeof(arp), &back), KEEL_NET_ARP_LEN);
	cr_assert_eq(keel_net_rx(net, arp, KEEL_NET_ARP_LEN, 0, 2000, &r), KEEL_NET_RX_ARP);
	cr_assert_eq(r.tx_ready, 2);
	cr_assert_eq(r.src_ip, T_PEER_IP);
	cr_assert_arr_eq(r.src_mac, t_peer_mac, 6);

	for (uint8_t tag = 1; tag <= 2; tag++) {
		int len = keel_net_tx_pending(net, out, sizeof(out));

		cr_assert_eq(len, 58);
		cr_assert_arr_eq(out, t_peer_mac, 6);
		cr_assert_eq(out[KEEL_NET_UDP_HDRS], tag, "arrival order");
		cr_assert_eq(keel_net_rx(peer, out, 58, 0, 0, &back), KEEL_NET_RX_UDP);
	}
	cr_assert_eq(keel_net_tx_pending(net, out, sizeof(out)), 0);

	/* Now known: straight through. */
	frame_to(f, T_PEER_IP, 3);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 3000, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_SEND);
	cr_assert_eq(alen, 0);
	cr_assert_arr_eq(f, t_peer_mac, 6);

	st = stats(net);
	cr_assert_eq(st.tx_queued, 2);
	cr_assert_eq(st.tx_released, 2);
	cr_assert_eq(st.tx_arp_requests, 1);
	cr_assert_eq(st.neigh_learned, 1);
	cr_assert_eq(st.rx_arp, 1);
}

Test(arp, off_link_goes_to_the_gateway)
{
	uint8_t out[2048];
	size_t alen;

	frame_to(f, T_FAR_IP, 5);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_QUEUED);
	check_request(T_GW_IP, t_bcast_mac);
	cr_assert_eq(reply_from(T_GW_IP, t_gw_mac, 10), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_tx_pending(net, out, sizeof(out)), 58);
	cr_assert_arr_eq(out, t_gw_mac, 6);
	cr_assert_eq(memcmp(out + 30, &(uint32_t){ T_FAR_IP }, 4), 0, "IP destination kept");
	/* Any other far address reuses the gateway's entry. */
	frame_to(f, t_ip(8, 8, 8, 8), 6);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 20, NULL, 0, NULL), KEEL_NET_TX_SEND);
	cr_assert_arr_eq(f, t_gw_mac, 6);
}

Test(arp, no_route)
{
	struct keel_net_config c;
	struct keel_net *n;
	struct keel_net_udp_tx tx = { .dst_ip = T_FAR_IP };

	t_config(&c);
	c.gateway = 0;
	cr_assert_eq(keel_net_create(&c, &n), 0);
	cr_assert_eq(keel_net_udp_build(n, f, sizeof(f), &tx, 0, 0), 42);
	cr_assert_eq(keel_net_tx_resolve(n, f, 42, 0, arp, sizeof(arp), NULL), -EHOSTUNREACH);
	/* Nor to ourselves: nothing would answer. */
	tx.dst_ip = T_OUR_IP2;
	cr_assert_eq(keel_net_udp_build(n, f, sizeof(f), &tx, 0, 0), 42);
	cr_assert_eq(keel_net_tx_resolve(n, f, 42, 0, arp, sizeof(arp), NULL), -EHOSTUNREACH);
	cr_assert_eq(stats(n).drops[KEEL_NET_DROP_NO_ROUTE], 2);
	cr_assert_eq(stats(n).tx_arp_requests, 0);
	keel_net_destroy(n);
}

Test(arp, bad_frames_to_resolve)
{
	frame_to(f, T_PEER_IP, 1);
	cr_assert_eq(keel_net_tx_resolve(net, f, 33, 0, NULL, 0, NULL), -EINVAL);
	t_wr16(f + 12, 0x0806);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, NULL, 0, NULL), -EINVAL);
}

Test(arp, broadcast_and_multicast_map_directly)
{
	static const struct {
		uint32_t ip;
		uint8_t mac[6];
	} cases[] = {
		{ 0xffffffffu, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
		{ 0, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },	/* 198.18.0.255 */
		{ 0, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },	/* 198.19.255.255 */
		{ 0, { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb } },	/* 224.0.0.251 */
		{ 0, { 0x01, 0x00, 0x5e, 0x7f, 0x80, 0x01 } },	/* 239.255.128.1 */
	};
	uint32_t ips[] = { 0xffffffffu, t_ip(198, 18, 0, 255), t_ip(198, 19, 255, 255),
			   t_ip(224, 0, 0, 251), t_ip(239, 255, 128, 1) };

	for (size_t i = 0; i < 5; i++) {
		frame_to(f, ips[i], 0);
		cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
			     KEEL_NET_TX_SEND);
		cr_assert_arr_eq(f, cases[i].mac, 6, "case %zu", i);
	}
	cr_assert_eq(keel_net_neigh_count(net), 0);
}

Test(arp, queue_full)
{
	struct keel_net *n = make(8);
	struct keel_net_udp_tx tx = { .dst_ip = T_PEER_IP };

	/* With 8 buffers one neighbour may take them all (the floor is 8). */
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(keel_net_udp_build(n, f, sizeof(f), &tx, 0, 0), 42);
		cr_assert_eq(keel_net_tx_resolve(n, f, 42, 0, arp, sizeof(arp), NULL),
			     KEEL_NET_TX_QUEUED);
	}
	cr_assert_eq(keel_net_tx_resolve(n, f, 42, 0, arp, sizeof(arp), NULL), -ENOBUFS);
	tx.dst_ip = t_ip(198, 18, 0, 3);
	cr_assert_eq(keel_net_udp_build(n, f, sizeof(f), &tx, 0, 0), 42);
	cr_assert_eq(keel_net_tx_resolve(n, f, 42, 0, arp, sizeof(arp), NULL), -ENOBUFS);
	cr_assert_eq(stats(n).drops[KEEL_NET_DROP_ARP_QUEUE_FULL], 2);
	cr_assert_eq(stats(n).tx_queued, 8);
	keel_net_destroy(n);
}

Test(arp, one_neighbour_cannot_take_the_whole_queue)
{
	/* 64 buffers: 16 per neighbour. */
	for (int i = 0; i < 16; i++) {
		frame_to(f, T_PEER_IP, (uint8_t)i);
		cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
			     KEEL_NET_TX_QUEUED);
	}
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL), -ENOBUFS);
	frame_to(f, t_ip(198, 18, 0, 3), 0);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(stats(net).drops[KEEL_NET_DROP_ARP_QUEUE_FULL], 1);
}

Test(arp, frame_too_big_to_queue)
{
	static uint8_t big[1600];

	frame_to(big, T_PEER_IP, 0);
	cr_assert_eq(keel_net_tx_resolve(net, big, 1515, 0, arp, sizeof(arp), NULL), -EMSGSIZE);
	cr_assert_eq(stats(net).drops[KEEL_NET_DROP_TOO_BIG], 1);
	/* A known neighbour needs no queue: any size goes. */
	cr_assert_eq(keel_net_neigh_set(net, T_PEER_IP, t_peer_mac, 0, 0), 0);
	cr_assert_eq(keel_net_tx_resolve(net, big, 1515, 0, arp, sizeof(arp), NULL),
		     KEEL_NET_TX_SEND);
}

Test(arp, retransmit_then_time_out)
{
	size_t alen;

	frame_to(f, T_PEER_IP, 1);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(alen, KEEL_NET_ARP_LEN);
	cr_assert_eq(keel_net_tick(net, T_NS / 2, arp, sizeof(arp)), 0);
	cr_assert_eq(keel_net_tick(net, T_NS, arp, 10), -ENOSPC);
	memset(arp, 0, sizeof(arp));
	cr_assert_eq(keel_net_tick(net, T_NS, arp, sizeof(arp)), KEEL_NET_ARP_LEN);
	check_request(T_PEER_IP, t_bcast_mac);
	cr_assert_eq(keel_net_tick(net, T_NS, arp, sizeof(arp)), 0, "once per interval");
	cr_assert_eq(keel_net_tick(net, T_NS + T_NS / 2, arp, sizeof(arp)), 0);
	cr_assert_eq(keel_net_tick(net, 2 * T_NS, arp, sizeof(arp)), KEEL_NET_ARP_LEN);
	cr_assert_eq(stats(net).drops[KEEL_NET_DROP_ARP_TIMEOUT], 0);
	/* Three requests unanswered: the frame is dropped. */
	cr_assert_eq(keel_net_tick(net, 3 * T_NS, arp, sizeof(arp)), 0);
	cr_assert_eq(stats(net).drops[KEEL_NET_DROP_ARP_TIMEOUT], 1);
	cr_assert_eq(stats(net).tx_arp_requests, 3);
	cr_assert_eq(keel_net_tick(net, 10 * T_NS, arp, sizeof(arp)), 0);
	cr_assert_eq(stats(net).tx_arp_requests, 3, "nothing waits: no more asking");

	/* The next frame starts over at once. */
	frame_to(f, T_PEER_IP, 2);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 11 * T_NS, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(alen, KEEL_NET_ARP_LEN);
}

Test(arp, no_request_buffer_means_tick_asks)
{
	size_t alen = 99;

	frame_to(f, T_PEER_IP, 1);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 5, NULL, 0, &alen), KEEL_NET_TX_QUEUED);
	cr_assert_eq(alen, 0);
	cr_assert_eq(keel_net_tick(net, 5, arp, sizeof(arp)), KEEL_NET_ARP_LEN);
	check_request(T_PEER_IP, t_bcast_mac);
	cr_assert_eq(keel_net_tick(net, 6, arp, sizeof(arp)), 0);
}

Test(arp, several_neighbours_retransmit_each)
{
	int sent = 0, len;

	for (unsigned i = 0; i < 5; i++) {
		frame_to(f, t_ip(198, 18, 0, 10 + i), 0);
		cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
			     KEEL_NET_TX_QUEUED);
	}
	while ((len = keel_net_tick(net, T_NS, arp, sizeof(arp))) > 0)
		sent++;
	cr_assert_eq(len, 0);
	cr_assert_eq(sent, 5);
}

Test(arp, ready_frames_not_taken_age_out)
{
	uint8_t out[2048];

	frame_to(f, T_PEER_IP, 1);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(reply_from(T_PEER_IP, t_peer_mac, 1), KEEL_NET_RX_ARP);
	cr_assert_eq(r.tx_ready, 1);
	cr_assert_eq(keel_net_tx_pending(net, out, 57), -ENOSPC);
	cr_assert_eq(keel_net_tick(net, 4 * T_NS, arp, sizeof(arp)), 0);
	cr_assert_eq(stats(net).drops[KEEL_NET_DROP_ARP_TIMEOUT], 1);
	cr_assert_eq(keel_net_tx_pending(net, out, sizeof(out)), 0);
}

Test(arp, ageing_stale_reconfirm_expire)
{
	uint64_t ttl = 30 * T_NS, dead;
	size_t alen;
	uint8_t mac[6];

	cr_assert_eq(keel_net_neigh_set(net, T_PEER_IP, t_peer_mac, 0, 0), 0);
	frame_to(f, T_PEER_IP, 0);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, ttl - 1, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_SEND);
	cr_assert_eq(alen, 0);
	/* Stale: still used, and asked directly. */
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, ttl, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_SEND);
	cr_assert_arr_eq(f, t_peer_mac, 6);
	cr_assert_eq(alen, KEEL_NET_ARP_LEN);
	check_request(T_PEER_IP, t_peer_mac);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, ttl + T_NS / 2, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_SEND);
	cr_assert_eq(alen, 0);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, ttl + T_NS, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_SEND);
	cr_assert_eq(alen, KEEL_NET_ARP_LEN);
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, ttl + T_NS, mac), 0);

	/* The answer makes it fresh again. */
	cr_assert_eq(reply_from(T_PEER_IP, t_peer_mac, ttl + T_NS + 5), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 2 * ttl, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_SEND);
	cr_assert_eq(alen, 0);

	/* No answer for the whole stale window: forgotten, resolved afresh. */
	dead = ttl + T_NS + 5 + ttl + 3 * T_NS;
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, dead, mac), -ENOENT);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, dead, arp, sizeof(arp), &alen),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(alen, KEEL_NET_ARP_LEN);
	check_request(T_PEER_IP, t_bcast_mac);
}

Test(arp, learning_policy)
{
	uint8_t a[64], mac[6];
	static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x77 };
	size_t len;

	/* Gratuitous ARP for an unknown address plants nothing. */
	len = t_arp(a, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_PEER_IP);
	cr_assert_eq(keel_net_rx(net, a, len, 0, 0, &r), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_neigh_count(net), 0);
	/* A request for someone else from an unknown sender: neither. */
	len = t_arp(a, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, t_ip(198, 18, 0, 50));
	cr_assert_eq(keel_net_rx(net, a, len, 0, 0, &r), KEEL_NET_RX_DROP);
	cr_assert_eq(keel_net_neigh_count(net), 0);
	/* A request for us teaches us the asker (RFC 826). */
	len = t_arp(a, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP);
	cr_assert_eq(keel_net_rx(net, a, len, 0, 0, &r), KEEL_NET_RX_ARP_REQUEST);
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, 0, mac), 0);
	cr_assert_arr_eq(mac, t_peer_mac, 6);
	/* ...but not from off our subnets. */
	len = t_arp(a, t_bcast_mac, 1, t_gw_mac, T_FAR_IP, t_bcast_mac, T_OUR_IP);
	cr_assert_eq(keel_net_rx(net, a, len, 0, 0, &r), KEEL_NET_RX_ARP_REQUEST);
	cr_assert_eq(keel_net_neigh_lookup(net, T_FAR_IP, 0, mac), -ENOENT);
	/* Gratuitous ARP moves a known address to its new MAC. */
	len = t_arp(a, t_bcast_mac, 2, other_mac, T_PEER_IP, t_bcast_mac, T_PEER_IP);
	cr_assert_eq(keel_net_rx(net, a, len, 0, 5, &r), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, 5, mac), 0);
	cr_assert_arr_eq(mac, other_mac, 6);
	/* A request for another host refreshes a known sender, and is dropped. */
	len = t_arp(a, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, t_ip(198, 18, 0, 50));
	cr_assert_eq(keel_net_rx(net, a, len, 0, 6, &r), KEEL_NET_RX_DROP);
	cr_assert_eq(r.drop, KEEL_NET_DROP_ARP_NOT_FOR_US);
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, 6, mac), 0);
	cr_assert_arr_eq(mac, t_peer_mac, 6);
	/* An unsolicited reply to us from an on-link sender is learned. */
	cr_assert_eq(reply_from(t_ip(198, 19, 3, 4), t_gw_mac, 7), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_neigh_lookup(net, t_ip(198, 19, 3, 4), 7, mac), 0);
	/* Someone claiming our address changes nothing. */
	len = t_arp(a, t_bcast_mac, 2, other_mac, T_OUR_IP, t_bcast_mac, T_OUR_IP);
	cr_assert_eq(keel_net_rx(net, a, len, 0, 8, &r), KEEL_NET_RX_DROP);
	cr_assert_eq(r.drop, KEEL_NET_DROP_ARP_CONFLICT);
	cr_assert_eq(keel_net_neigh_lookup(net, T_OUR_IP, 8, mac), -ENOENT);
	cr_assert_eq(stats(net).neigh_learned, 4, "new, moved, moved back, new");
}

Test(arp, static_entries)
{
	uint8_t mac[6];
	static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x77 };

	cr_assert_eq(keel_net_neigh_set(net, T_PEER_IP, t_peer_mac, 0, KEEL_NET_NEIGH_STATIC), 0);
	/* ARP cannot move it, time cannot age it. */
	cr_assert_eq(reply_from(T_PEER_IP, other_mac, 1), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, UINT64_MAX, mac), 0);
	cr_assert_arr_eq(mac, t_peer_mac, 6);
	frame_to(f, T_PEER_IP, 0);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, UINT64_MAX / 2, arp, sizeof(arp), NULL),
		     KEEL_NET_TX_SEND);
	cr_assert_arr_eq(f, t_peer_mac, 6);
	cr_assert_eq(keel_net_neigh_set(net, T_PEER_IP, other_mac, 0, 0), -EEXIST);
	cr_assert_eq(keel_net_neigh_set(net, T_PEER_IP, other_mac, 0, KEEL_NET_NEIGH_STATIC), 0);
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, 0, mac), 0);
	cr_assert_arr_eq(mac, other_mac, 6);
	cr_assert_eq(keel_net_neigh_del(net, T_PEER_IP), 0);
	cr_assert_eq(keel_net_neigh_del(net, T_PEER_IP), -ENOENT);
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, 0, mac), -ENOENT);
	/* Bad arguments. */
	cr_assert_eq(keel_net_neigh_set(net, 0, t_peer_mac, 0, 0), -EINVAL);
	cr_assert_eq(keel_net_neigh_set(net, t_ip(224, 0, 0, 1), t_peer_mac, 0, 0), -EINVAL);
	cr_assert_eq(keel_net_neigh_set(net, T_PEER_IP, t_bcast_mac, 0, 0), -EINVAL);
	cr_assert_eq(keel_net_neigh_set(net, T_PEER_IP, (const uint8_t[6]){ 0 }, 0, 0), -EINVAL);
}

Test(arp, neigh_set_releases_waiting_frames)
{
	/* How a driver with one instance per queue shares what one learned. */
	uint8_t out[2048];

	frame_to(f, T_PEER_IP, 4);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(keel_net_neigh_set(net, T_PEER_IP, t_peer_mac, 1, 0), 0);
	cr_assert_eq(keel_net_tx_pending(net, out, sizeof(out)), 58);
	cr_assert_arr_eq(out, t_peer_mac, 6);
	cr_assert_eq(out[KEEL_NET_UDP_HDRS], 4);
	/* The same through a static entry. */
	frame_to(f, t_ip(198, 18, 0, 3), 5);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(keel_net_neigh_set(net, t_ip(198, 18, 0, 3), t_gw_mac, 1,
					 KEEL_NET_NEIGH_STATIC), 0);
	cr_assert_eq(keel_net_tx_pending(net, out, sizeof(out)), 58);
	cr_assert_arr_eq(out, t_gw_mac, 6);
}

static uint32_t nth_ip(unsigned i)
{
	return t_ip(198, 19, i >> 8, i & 0xff);
}

Test(arp, full_cache_evicts_one)
{
	uint8_t mac[6];
	unsigned missing = 0;

	for (unsigned i = 1; i <= KEEL_NET_NEIGH_MAX; i++)
		cr_assert_eq(keel_net_neigh_set(net, nth_ip(i), t_peer_mac, i, 0), 0);
	cr_assert_eq(keel_net_neigh_count(net), KEEL_NET_NEIGH_MAX);
	cr_assert_eq(keel_net_neigh_set(net, nth_ip(1000), t_peer_mac, 1000, 0), 0);
	cr_assert_eq(keel_net_neigh_count(net), KEEL_NET_NEIGH_MAX);
	cr_assert_eq(stats(net).neigh_evicted, 1);
	cr_assert_eq(keel_net_neigh_lookup(net, nth_ip(1000), 1000, mac), 0);
	for (unsigned i = 1; i <= KEEL_NET_NEIGH_MAX; i++)
		missing += keel_net_neigh_lookup(net, nth_ip(i), 1000, mac) == -ENOENT;
	cr_assert_eq(missing, 1);
	/* A flood of new senders keeps the size bounded. */
	for (unsigned i = 2000; i < 6000; i++)
		cr_assert_eq(keel_net_neigh_set(net, nth_ip(i), t_peer_mac, i, 0), 0);
	cr_assert_eq(keel_net_neigh_count(net), KEEL_NET_NEIGH_MAX);
}

Test(arp, eviction_spares_static_and_queued)
{
	uint8_t mac[6];
	unsigned i;

	/* All static but one learned and one waiting with a queued frame. */
	for (i = 1; i <= KEEL_NET_NEIGH_MAX - 2; i++)
		cr_assert_eq(keel_net_neigh_set(net, nth_ip(i), t_peer_mac, 0,
						KEEL_NET_NEIGH_STATIC), 0);
	cr_assert_eq(keel_net_neigh_set(net, nth_ip(i), t_peer_mac, 0, 0), 0);
	frame_to(f, T_PEER_IP, 1);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(keel_net_neigh_count(net), KEEL_NET_NEIGH_MAX);
	/* The learned one goes, though it is younger than the waiting one. */
	cr_assert_eq(keel_net_neigh_set(net, nth_ip(1000), t_peer_mac, 5, 0), 0);
	cr_assert_eq(keel_net_neigh_lookup(net, nth_ip(i), 5, mac), -ENOENT);
	for (unsigned k = 1; k <= KEEL_NET_NEIGH_MAX - 2; k++)
		cr_assert_eq(keel_net_neigh_lookup(net, nth_ip(k), 5, mac), 0);
	/* New ones push each other out; the waiting entry stays (its answer
	 * still releases the frame). */
	cr_assert_eq(keel_net_neigh_set(net, nth_ip(1001), t_peer_mac, 6, 0), 0);
	cr_assert_eq(keel_net_neigh_set(net, nth_ip(1002), t_peer_mac, 7, 0), 0);
	cr_assert_eq(stats(net).neigh_evicted, 3);
	cr_assert_eq(keel_net_neigh_count(net), KEEL_NET_NEIGH_MAX);
	cr_assert_eq(reply_from(T_PEER_IP, t_peer_mac, 8), KEEL_NET_RX_ARP);
	cr_assert_eq(r.tx_ready, 1);
	cr_assert_eq(stats(net).neigh_evicted, 3);
}

Test(arp, full_of_static_entries)
{
	for (unsigned i = 1; i <= KEEL_NET_NEIGH_MAX; i++)
		cr_assert_eq(keel_net_neigh_set(net, nth_ip(i), t_peer_mac, 0,
						KEEL_NET_NEIGH_STATIC), 0);
	cr_assert_eq(keel_net_neigh_set(net, nth_ip(999), t_peer_mac, 0, KEEL_NET_NEIGH_STATIC),
		     -ENOSPC);
	cr_assert_eq(keel_net_neigh_set(net, nth_ip(999), t_peer_mac, 0, 0), -ENOSPC);
	frame_to(f, nth_ip(999), 0);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL), -ENOBUFS);
}

Test(arp, evicted_incomplete_entry_frames_still_age_out)
{
	frame_to(f, T_PEER_IP, 1);
	cr_assert_eq(keel_net_tx_resolve(net, f, 58, 0, arp, sizeof(arp), NULL),
		     KEEL_NET_TX_QUEUED);
	cr_assert_eq(keel_net_neigh_del(net, T_PEER_IP), 0);
	cr_assert_eq(keel_net_tick(net, T_NS, arp, sizeof(arp)), 0, "nobody to ask for");
	cr_assert_eq(keel_net_tick(net, 3 * T_NS, arp, sizeof(arp)), 0);
	cr_assert_eq(stats(net).drops[KEEL_NET_DROP_ARP_TIMEOUT], 1);
}

/* 700 addresses over both subnets. */
static uint32_t churn_ip(unsigned i)
{
	return t_ip(198, 18 + (i & 1), (i >> 1) & 0xff, 1 + (i >> 9));
}

Test(arp, table_matches_a_reference_under_churn)
{
	/* Random adds and deletes over a small address range (so probe runs
	 * collide and wrap) checked against a plain array: exercises the
	 * backward-shift deletion. */
	enum { RANGE = 700 };
	static uint8_t ref[RANGE];	/* 0: absent, else the MAC's last byte */
	unsigned live = 0;
	uint8_t mac[6];

	srand(4);
	memset(ref, 0, sizeof(ref));
	for (int step = 0; step < 200000; step++) {
		unsigned i = (unsigned)rand() % RANGE;
		uint32_t ip = churn_ip(i);

		if (ref[i] && rand() % 2) {
			cr_assert_eq(keel_net_neigh_del(net, ip), 0);
			ref[i] = 0;
			live--;
		} else if (!ref[i] && live < KEEL_NET_NEIGH_MAX) {
			uint8_t m[6] = { 0x02, 0, 0, 0, 0, (uint8_t)(1 + rand() % 250) };

			cr_assert_eq(keel_net_neigh_set(net, ip, m, 0, 0), 0);
			ref[i] = m[5];
			live++;
		}
		if (step % 1000 == 0) {
			for (unsigned k = 0; k < RANGE; k++) {
				int got = keel_net_neigh_lookup(net, churn_ip(k), 0, mac);

				cr_assert_eq(got, ref[k] ? 0 : -ENOENT, "step %d ip %u", step, k);
				if (ref[k])
					cr_assert_eq(mac[5], ref[k]);
			}
			cr_assert_eq(keel_net_neigh_count(net), live);
		}
	}
	cr_assert_eq(stats(net).neigh_evicted, 0);
}
