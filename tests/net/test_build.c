/* SPDX-License-Identifier: MIT */
/*
 * net/build.c: every builder's output is parsed back (by a second instance
 * playing the peer) and its checksums are checked against the reference.
 */
#include "net_test.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

static struct keel_net *net, *peer;
static uint8_t f[9100];
static struct keel_net_rx_result r;

static void setup(void)
{
	struct keel_net_config c;

	t_config(&c);
	cr_assert_eq(keel_net_create(&c, &net), 0);
	memset(&c, 0, sizeof(c));
	memcpy(c.mac, t_peer_mac, 6);
	c.n_addrs = 1;
	c.addrs[0].addr = T_PEER_IP;
	c.addrs[0].prefix_len = 24;
	c.mtu = 9000;
	cr_assert_eq(keel_net_create(&c, &peer), 0);
	memset(f, 0, sizeof(f));
}

static void teardown(void)
{
	keel_net_destroy(net);
	keel_net_destroy(peer);
}

TestSuite(build, .init = setup, .fini = teardown);

/* The IPv4 header checksums to zero; UDP too when it has a checksum. */
static void check_csums(const uint8_t *p)
{
	unsigned ulen = t_rd16(p + 38);

	cr_assert_eq(t_csum(p + 14, 20, 0), 0, "IPv4 header checksum");
	if (p[23] == 17 && t_rd16(p + 40) != 0)
		cr_assert_eq(t_csum(p + 34, ulen, t_pseudo(p + 14, 17, ulen)), 0, "UDP checksum");
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 31);
}

Test(build, udp_parsed_back)
{
	struct keel_net_udp_tx tx = {
		.dst_ip = T_PEER_IP,
		.src_port = htons(7),
		.dst_port = htons(40000),
	};
	static const size_t sizes[] = { 0, 1, 2, 17, 64, 1000, 1471, 1472 };

	memcpy(tx.dst_mac, t_peer_mac, 6);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int len;

		memset(f, 0xcc, sizeof(f));
		fill(f + KEEL_NET_UDP_HDRS, sizes[i], (unsigned)i);
		len = keel_net_udp_build(net, f, sizeof(f), &tx, sizes[i], 0);
		cr_assert_eq(len, (int)(KEEL_NET_UDP_HDRS + sizes[i]));
		check_csums(f);
		cr_assert_arr_eq(f, t_peer_mac, 6);
		cr_assert_arr_eq(f + 6, t_our_mac, 6);
		cr_assert_eq(t_rd16(f + 12), 0x0800);
		cr_assert_eq(f[14], 0x45);
		cr_assert_eq(t_rd16(f + 16), 28 + sizes[i]);
		cr_assert_eq(t_rd16(f + 20), 0x4000, "DF, no fragments");
		cr_assert_eq(f[22], 64);
		cr_assert_eq(f[23], 17);

		cr_assert_eq(keel_net_rx(peer, f, (size_t)len, 0, 0, &r), KEEL_NET_RX_UDP,
			     "size %zu: %s", sizes[i], keel_net_drop_name(r.drop));
		cr_assert_eq(r.src_ip, T_OUR_IP);	/* chosen for the peer's subnet */
		cr_assert_eq(r.dst_ip, T_PEER_IP);
		cr_assert_eq(r.src_port, htons(7));
		cr_assert_eq(r.dst_port, htons(40000));
		cr_assert_arr_eq(r.src_mac, t_our_mac, 6);
		cr_assert_eq(r.payload_len, sizes[i]);
		cr_assert_eq(r.payload_off, KEEL_NET_UDP_HDRS);
	}
}

Test(build, udp_explicit_source_and_ttl)
{
	struct keel_net_config c;
	struct keel_net *n;
	struct keel_net_udp_tx tx = { .dst_ip = T_PEER_IP, .src_ip = T_OUR_IP2 };

	t_config(&c);
	c.ttl = 9;
	cr_assert_eq(keel_net_create(&c, &n), 0);
	cr_assert_eq(keel_net_udp_build(n, f, sizeof(f), &tx, 5, 0), 47);
	cr_assert_eq(memcmp(f + 26, &tx.src_ip, 4), 0);
	cr_assert_eq(f[22], 9);
	check_csums(f);
	keel_net_destroy(n);
}

Test(build, udp_limits)
{
	struct keel_net_udp_tx tx = { .dst_ip = T_PEER_IP };

	cr_assert_eq(keel_net_udp_build(net, f, sizeof(f), &tx, 1472, 0), 1514);
	cr_assert_eq(keel_net_udp_build(net, f, sizeof(f), &tx, 1473, 0), -EMSGSIZE);
	cr_assert_eq(keel_net_udp_build(net, f, 1513, &tx, 1472, 0), -ENOSPC);
	cr_assert_eq(keel_net_udp_build(net, f, 42, &tx, 0, 0), 42);
	cr_assert_eq(keel_net_udp_build(net, f, 41, &tx, 0, 0), -ENOSPC);
	tx.dst_ip = 0;
	cr_assert_eq(keel_net_udp_build(net, f, sizeof(f), &tx, 0, 0), -EINVAL);
	cr_assert_eq(keel_net_udp_build(net, f, sizeof(f), NULL, 0, 0), -EINVAL);
}

/* What a NIC does with an offloaded frame: the IPv4 checksum from zero, the
 * UDP checksum over the segment starting from the seeded field. */
static void nic_finish(uint8_t *p)
{
	unsigned ulen = t_rd16(p + 38);
	uint16_t c;

	t_wr16(p + 24, t_csum(p + 14, 20, 0));
	c = t_csum(p + 34, ulen, 0);
	t_wr16(p + 40, c ? c : 0xffff);
}

Test(build, udp_checksum_offload)
{
	struct keel_net_udp_tx tx = {
		.dst_ip = T_PEER_IP,
		.src_port = htons(1),
		.dst_port = htons(2),
	};
	uint32_t pseudo;
	int len;

	memcpy(tx.dst_mac, t_peer_mac, 6);
	fill(f + 42, 333, 5);
	len = keel_net_udp_build(net, f, sizeof(f), &tx, 333, KEEL_NET_TX_CSUM_OFFLOAD);
	cr_assert_eq(len, 42 + 333);
	cr_assert_eq(t_rd16(f + 24), 0, "IPv4 checksum left to the NIC");
	/* The seed is the folded, non-inverted pseudo-header sum. */
	pseudo = t_pseudo(f + 14, 17, 341);
	cr_assert_eq(t_rd16(f + 40), (uint16_t)~t_csum(NULL, 0, pseudo));
	cr_assert_eq(keel_net_rx(peer, f, (size_t)len, 0, 0, &r), KEEL_NET_RX_DROP);
	nic_finish(f);
	check_csums(f);
	cr_assert_eq(keel_net_rx(peer, f, (size_t)len, 0, 0, &r), KEEL_NET_RX_UDP);
}

/* Receive a datagram from the peer into f, as the driver would. */
static size_t rx_from_peer(size_t plen, unsigned seed)
{
	uint8_t payload[2000];
	size_t len;

	fill(payload, plen, seed);
	len = t_udp(f, T_PEER_IP, T_OUR_IP, 40000 + seed, 7, payload, plen);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
	return len;
}

static void check_reply(int len, size_t plen)
{
	struct keel_net_rx_result back;

	cr_assert_eq(len, (int)(42 + plen));
	check_csums(f);
	cr_assert_arr_eq(f, t_peer_mac, 6);
	cr_assert_arr_eq(f + 6, t_our_mac, 6);
	cr_assert_eq(keel_net_rx(peer, f, (size_t)len, 0, 0, &back), KEEL_NET_RX_UDP, "%s",
		     keel_net_drop_name(back.drop));
	cr_assert_eq(back.src_ip, r.dst_ip);
	cr_assert_eq(back.dst_ip, r.src_ip);
	cr_assert_eq(back.src_port, r.dst_port);
	cr_assert_eq(back.dst_port, r.src_port);
	cr_assert_eq(back.payload_len, plen);
}

Test(build, udp_reply_in_place_payload_same)
{
	for (size_t plen = 0; plen < 300; plen += 13) {
		uint8_t copy[400];
		size_t len = rx_from_peer(plen, (unsigned)plen);
		int out;

		memcpy(copy, f + 42, plen);
		out = keel_net_udp_reply(net, f, len, &r, plen, KEEL_NET_TX_PAYLOAD_SAME);
		check_reply(out, plen);
		cr_assert_arr_eq(f + 42, copy, plen);
	}
}

Test(build, udp_reply_incremental_equals_full)
{
	/* Keeping the checksum and recomputing it give the same bytes. */
	srand(3);
	for (int round = 0; round < 2000; round++) {
		uint8_t a[1600], b[1600];
		size_t plen = (size_t)(rand() % 1473), len = rx_from_peer(plen, (unsigned)rand());

		memcpy(a, f, len);
		memcpy(b, f, len);
		cr_assert_eq(keel_net_udp_reply(net, a, len, &r, plen, KEEL_NET_TX_PAYLOAD_SAME),
			     (int)len);
		cr_assert_eq(keel_net_udp_reply(net, b, len, &r, plen, 0), (int)len);
		cr_assert_arr_eq(a, b, len, "round %d plen %zu", round, plen);
	}
}

Test(build, udp_reply_new_payload)
{
	size_t len = rx_from_peer(100, 1);

	/* Shorter, longer and rewritten payloads: checksums recomputed. */
	fill(f + 42, 10, 77);
	check_reply(keel_net_udp_reply(net, f, sizeof(f), &r, 10, 0), 10);
	len = rx_from_peer(100, 2);
	fill(f + 42, 1472, 78);
	check_reply(keel_net_udp_reply(net, f, sizeof(f), &r, 1472, 0), 1472);
	len = rx_from_peer(100, 3);
	f[50] ^= 0xff;
	check_reply(keel_net_udp_reply(net, f, len, &r, 100, 0), 100);
	/* PAYLOAD_SAME with another length is recomputed regardless. */
	len = rx_from_peer(100, 4);
	check_reply(keel_net_udp_reply(net, f, len, &r, 50, KEEL_NET_TX_PAYLOAD_SAME), 50);
}

Test(build, udp_reply_to_zero_checksum)
{
	size_t len = rx_from_peer(40, 9);

	/* The peer sent no checksum: the reply gets a real one. */
	t_wr16(f + 40, 0);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
	check_reply(keel_net_udp_reply(net, f, len, &r, 40, KEEL_NET_TX_PAYLOAD_SAME), 40);
	cr_assert_neq(t_rd16(f + 40), 0);
}

Test(build, udp_reply_drops_padding_and_stale_fields)
{
	size_t len = rx_from_peer(4, 1);

	/* A padded frame with odd TOS and TTL: none of it survives. */
	memset(f + len, 0xee, 60 - len);
	f[15] = 0xb8;
	f[22] = 3;
	t_fix_ip_csum(f);
	cr_assert_eq(keel_net_rx(net, f, 60, 0, 0, &r), KEEL_NET_RX_UDP);
	check_reply(keel_net_udp_reply(net, f, 60, &r, 4, KEEL_NET_TX_PAYLOAD_SAME), 4);
	cr_assert_eq(f[15], 0);
	cr_assert_eq(f[22], 64);
}

Test(build, udp_reply_offload)
{
	size_t len = rx_from_peer(64, 5);

	cr_assert_eq(keel_net_udp_reply(net, f, len, &r, 64,
					KEEL_NET_TX_CSUM_OFFLOAD | KEEL_NET_TX_PAYLOAD_SAME),
		     (int)len);
	cr_assert_eq(t_rd16(f + 24), 0);
	nic_finish(f);
	check_reply((int)len, 64);
}

Test(build, udp_reply_errors)
{
	size_t len = rx_from_peer(64, 5);
	struct keel_net_rx_result other = r;

	cr_assert_eq(keel_net_udp_reply(net, f, len, &r, 1473, 0), -EMSGSIZE);
	cr_assert_eq(keel_net_udp_reply(net, f, len, &r, 65, 0), -ENOSPC);
	cr_assert_eq(keel_net_udp_reply(net, f, len, NULL, 64, 0), -EINVAL);
	other.kind = KEEL_NET_RX_ICMP_ECHO;
	cr_assert_eq(keel_net_udp_reply(net, f, len, &other, 64, 0), -EINVAL);
	other.kind = KEEL_NET_RX_DROP;
	cr_assert_eq(keel_net_udp_reply(net, f, len, &other, 64, 0), -EINVAL);
}

Test(build, icmp_echo_reply)
{
	static const size_t sizes[] = { 0, 1, 56, 1472 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t req[1600];
		size_t len = t_icmp(f, 8, 0, sizes[i]), flen = len;
		int out;

		if (len < 60) {
			memset(f + len, 0xee, 60 - len);	/* Ethernet padding */
			flen = 60;
		}
		memcpy(req, f, flen);
		cr_assert_eq(keel_net_rx(net, f, flen, 0, 0, &r), KEEL_NET_RX_ICMP_ECHO);
		out = keel_net_reply(net, f, flen, &r);
		cr_assert_eq(out, (int)len, "padding is not echoed");
		cr_assert_arr_eq(f, t_peer_mac, 6);
		cr_assert_arr_eq(f + 6, t_our_mac, 6);
		cr_assert_eq(t_csum(f + 14, 20, 0), 0);
		cr_assert_eq(f[23], 1);
		cr_assert_eq(t_rd16(f + 16), 28 + sizes[i]);
		cr_assert_eq(memcmp(f + 26, req + 30, 4), 0);
		cr_assert_eq(memcmp(f + 30, req + 26, 4), 0);
		cr_assert_eq(f[34], 0, "echo reply");
		cr_assert_eq(f[35], 0);
		cr_assert_eq(t_csum(f + 34, 8 + sizes[i], 0), 0, "ICMP checksum");
		cr_assert_arr_eq(f + 38, req + 38, 4 + sizes[i], "id, seq and data echoed");
	}
}

Test(build, arp_reply_parsed_back)
{
	size_t len = t_arp(f, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP2);
	uint8_t mac[6];

	memset(f + len, 0, 60 - len);
	cr_assert_eq(keel_net_rx(net, f, 60, 0, 0, &r), KEEL_NET_RX_ARP_REQUEST);
	cr_assert_eq(r.src_ip, T_PEER_IP);
	cr_assert_eq(r.dst_ip, T_OUR_IP2);
	cr_assert_eq(keel_net_reply(net, f, 60, &r), KEEL_NET_ARP_LEN);
	cr_assert_arr_eq(f, t_peer_mac, 6, "unicast to the asker");
	cr_assert_arr_eq(f + 6, t_our_mac, 6);
	cr_assert_eq(t_rd16(f + 20), 2);
	cr_assert_arr_eq(f + 22, t_our_mac, 6);
	cr_assert_eq(memcmp(f + 28, &(uint32_t){ T_OUR_IP2 }, 4), 0);
	cr_assert_arr_eq(f + 32, t_peer_mac, 6);
	cr_assert_eq(memcmp(f + 38, &(uint32_t){ T_PEER_IP }, 4), 0);
	/* The peer takes it as the answer to its question. */
	cr_assert_eq(keel_net_rx(peer, f, KEEL_NET_ARP_LEN, 0, 0, &r), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_neigh_lookup(peer, T_OUR_IP2, 0, mac), -ENOENT,
		     "198.19.0.1 is off the peer's subnet: not learned");
}

Test(build, arp_probe_answered)
{
	/* RFC 5227 probe: sender address 0. The answer goes to 0.0.0.0. */
	size_t len = t_arp(f, t_bcast_mac, 1, t_peer_mac, 0, t_bcast_mac, T_OUR_IP);

	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_ARP_REQUEST);
	cr_assert_eq(keel_net_neigh_count(net), 0, "a probe teaches nothing");
	cr_assert_eq(keel_net_reply(net, f, len, &r), KEEL_NET_ARP_LEN);
	cr_assert_eq(memcmp(f + 38, &(uint32_t){ 0 }, 4), 0);
	cr_assert_arr_eq(f, t_peer_mac, 6);
}

Test(build, arp_request_and_announce)
{
	uint8_t mac[6];
	struct keel_net_stats st;

	cr_assert_eq(keel_net_arp_request(net, f, sizeof(f), T_PEER_IP), KEEL_NET_ARP_LEN);
	cr_assert_arr_eq(f, t_bcast_mac, 6);
	cr_assert_eq(t_rd16(f + 20), 1);
	cr_assert_eq(memcmp(f + 28, &(uint32_t){ T_OUR_IP }, 4), 0);
	cr_assert_eq(memcmp(f + 32, "\0\0\0\0\0\0", 6), 0);
	keel_net_stats_get(net, &st);
	cr_assert_eq(st.tx_arp_requests, 1);
	/* The peer answers, and learns us on the way (RFC 826). */
	cr_assert_eq(keel_net_rx(peer, f, KEEL_NET_ARP_LEN, 0, 0, &r), KEEL_NET_RX_ARP_REQUEST);
	cr_assert_eq(keel_net_neigh_lookup(peer, T_OUR_IP, 0, mac), 0);
	cr_assert_arr_eq(mac, t_our_mac, 6);
	cr_assert_eq(keel_net_reply(peer, f, sizeof(f), &r), KEEL_NET_ARP_LEN);
	cr_assert_eq(keel_net_rx(net, f, KEEL_NET_ARP_LEN, 0, 0, &r), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_neigh_lookup(net, T_PEER_IP, 0, mac), 0);
	cr_assert_arr_eq(mac, t_peer_mac, 6);

	/* A gratuitous announcement of our second address. */
	cr_assert_eq(keel_net_arp_announce(net, f, sizeof(f), 1), KEEL_NET_ARP_LEN);
	cr_assert_eq(memcmp(f + 28, &(uint32_t){ T_OUR_IP2 }, 4), 0);
	cr_assert_eq(memcmp(f + 38, &(uint32_t){ T_OUR_IP2 }, 4), 0);
	cr_assert_eq(keel_net_rx(peer, f, KEEL_NET_ARP_LEN, 0, 0, &r), KEEL_NET_RX_ARP);
	cr_assert_eq(keel_net_arp_announce(net, f, sizeof(f), 2), -EINVAL);
	cr_assert_eq(keel_net_arp_announce(net, f, 41, 0), -ENOSPC);
	cr_assert_eq(keel_net_arp_request(net, f, 41, T_PEER_IP), -ENOSPC);
}

Test(build, arp_build_checks)
{
	struct keel_net_arp_tx a = { .op = KEEL_NET_ARP_REPLY, .spa = T_OUR_IP, .tpa = T_PEER_IP };

	memcpy(a.eth_dst, t_peer_mac, 6);
	memcpy(a.tha, t_peer_mac, 6);
	cr_assert_eq(keel_net_arp_build(net, f, sizeof(f), &a), KEEL_NET_ARP_LEN);
	cr_assert_eq(keel_net_rx(peer, f, KEEL_NET_ARP_LEN, 0, 0, &r), KEEL_NET_RX_ARP);
	cr_assert_eq(r.src_ip, T_OUR_IP);
	cr_assert_arr_eq(r.src_mac, t_our_mac, 6);
	a.op = 3;
	cr_assert_eq(keel_net_arp_build(net, f, sizeof(f), &a), -EINVAL);
	a.op = KEEL_NET_ARP_REQUEST;
	cr_assert_eq(keel_net_arp_build(net, f, 41, &a), -ENOSPC);
	cr_assert_eq(keel_net_arp_build(net, f, sizeof(f), NULL), -EINVAL);
}

Test(build, reply_rejects_other_kinds)
{
	size_t len = rx_from_peer(10, 1);

	cr_assert_eq(keel_net_reply(net, f, len, &r), -EINVAL);
	len = t_icmp(f, 8, 0, 10);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_ICMP_ECHO);
	cr_assert_eq(keel_net_reply(net, f, len - 1, &r), -ENOSPC);
}
