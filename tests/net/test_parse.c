/* SPDX-License-Identifier: MIT */
/* net/parse.c: the receive classifier, one crafted frame per drop reason. */
#include "net_test.h"

#include <criterion/criterion.h>
#include <errno.h>

static struct keel_net *net;
static uint8_t f[9100];
static struct keel_net_rx_result r;

static void setup(void)
{
	struct keel_net_config c;

	t_config(&c);
	cr_assert_eq(keel_net_create(&c, &net), 0);
	memset(f, 0, sizeof(f));
	memset(&r, 0xa5, sizeof(r));
}

static void teardown(void)
{
	keel_net_destroy(net);
}

TestSuite(parse, .init = setup, .fini = teardown);

static void set_ip(uint8_t *p, uint32_t ip)
{
	memcpy(p, &ip, 4);
}

/* Each crafts a frame into f and returns its length. */
static size_t runt(void)
{
	t_udp_simple(f, 10);
	return 13;
}

static size_t dst_mac_other(void)
{
	t_udp_simple(f, 10);
	f[5] ^= 1;
	return 52;
}

static size_t dst_mac_bcast_ip(void)
{
	t_udp_simple(f, 10);
	memset(f, 0xff, 6);
	return 52;
}

static size_t dst_mac_mcast_arp(void)
{
	static const uint8_t mc[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };

	return t_arp(f, mc, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP);
}
static size_t src_mac_mcast(void)
{
	t_udp_simple(f, 10);
	f[6] |= 1;
	return 52;
}

static size_t vlan(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 12, 0x8100);
	return 52;
}

static size_t qinq(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 12, 0x88a8);
	return 52;
}

static size_t ethertype(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 12, 0x86dd);
	return 52;
}

static size_t arp_trunc(void)
{
	return t_arp(f, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP) - 1;
}
static size_t arp_htype(void)
{
	size_t l = t_arp(f, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP);

	t_wr16(f + 14, 6);
	return l;
}
static size_t arp_op(void)
{
	return t_arp(f, t_bcast_mac, 3, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP);
}
static size_t arp_sha_mcast(void)
{
	size_t l = t_arp(f, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP);

	f[14 + 8] |= 1;
	return l;
}
static size_t arp_spa_mcast(void)
{
	return t_arp(f, t_bcast_mac, 1, t_peer_mac, t_ip(224, 0, 0, 9), t_bcast_mac, T_OUR_IP);
}
static size_t arp_not_for_us(void)
{
	return t_arp(f, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, t_ip(198, 18, 0, 77));
}
static size_t arp_conflict(void)
{
	return t_arp(f, t_bcast_mac, 1, t_peer_mac, T_OUR_IP, t_bcast_mac, T_OUR_IP);
}
static size_t ip_trunc(void)
{
	t_udp_simple(f, 10);
	return 14 + 19;
}

static size_t ip_version(void)
{
	t_udp_simple(f, 10);
	f[14] = 0x65;
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_hdr_len(void)
{
	t_udp_simple(f, 10);
	f[14] = 0x44;
	return 52;
}

static size_t ip_len_long(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 16, 39);
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_len_short(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 16, 19);
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_csum(void)
{
	t_udp_simple(f, 10);
	f[25] ^= 0x40;
	return 52;
}

static size_t ip_csum_options(void)
{
	/* A corrupted header with options counts as corrupted. */
	t_udp_simple(f, 10);
	f[14] = 0x46;
	f[25] ^= 1;
	return 52;
}
static size_t ip_options(void)
{
	/* IHL 6: a 4-byte option (NOPs), lengths and checksums consistent. */
	uint8_t tmp[64];
	size_t l = t_udp_simple(tmp, 10);

	memcpy(f, tmp, 34);
	memset(f + 34, 1, 4);
	memcpy(f + 38, tmp + 34, l - 34);
	f[14] = 0x46;
	t_wr16(f + 16, 24 + 18);
	t_fix_ip_csum(f);
	return l + 4;
}
static size_t ip_frag_mf(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 20, 0x2000);
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_frag_off(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 20, 0x0001);
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_src_zero(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, 0);
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_src_loop(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, t_ip(127, 0, 0, 1));
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_src_mcast(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, t_ip(224, 0, 0, 5));
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_src_bcast(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, 0xffffffffu);
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_src_dbcast(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, t_ip(198, 18, 0, 255));
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_src_dbcast16(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, t_ip(198, 19, 255, 255));
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_src_net(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, t_ip(198, 18, 0, 0));
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_src_class_e(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, t_ip(240, 0, 0, 1));
	t_fix_ip_csum(f);
	return 52;
}

static size_t udp_src_port0(void)
{
	uint8_t pl[10] = { 0 };

	return t_udp(f, T_PEER_IP, T_OUR_IP, 0, 7, pl, sizeof(pl));
}

static size_t ip_src_ours(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 26, T_OUR_IP2);
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_dst(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 30, t_ip(198, 18, 0, 9));
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_dst_bcast(void)
{
	t_udp_simple(f, 10);
	set_ip(f + 30, t_ip(198, 18, 0, 255));
	t_fix_ip_csum(f);
	return 52;
}

static size_t ip_proto(void)
{
	t_udp_simple(f, 10);
	f[23] = 6;
	t_fix_ip_csum(f);
	return 52;
}

static size_t udp_trunc(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 16, 27);
	t_fix_ip_csum(f);
	return 52;
}

static size_t udp_len_short(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 38, 7);
	return 52;
}

static size_t udp_len_long(void)
{
	t_udp_simple(f, 10);
	t_wr16(f + 38, 19);
	return 52;
}

static size_t udp_csum(void)
{
	t_udp_simple(f, 10);
	f[45] ^= 0x10;
	return 52;
}

static size_t udp_csum_hdr(void)
{
	t_udp_simple(f, 10);
	f[35] ^= 1;
	return 52;
}

static size_t udp_csum_pseudo(void)
{
	/* Another of our addresses: the pseudo-header no longer matches. */
	t_udp_simple(f, 10);
	set_ip(f + 30, T_OUR_IP2);
	t_fix_ip_csum(f);
	return 52;
}
static size_t icmp_trunc(void)
{
	t_icmp(f, 8, 0, 0);
	t_wr16(f + 16, 24);
	t_fix_ip_csum(f);
	return 42;
}
static size_t icmp_csum(void)
{
	size_t l = t_icmp(f, 8, 0, 20);
	f[50] ^= 2;
	return l;
}

static size_t icmp_echo_reply(void)
{
	return t_icmp(f, 0, 0, 20);
}

static size_t icmp_code(void)
{
	return t_icmp(f, 8, 1, 20);
}

static size_t icmp_unreach(void)
{
	return t_icmp(f, 3, 3, 28);
}

struct drop_case {
	const char *name;
	size_t (*craft)(void);
	enum keel_net_drop want;
};

static const struct drop_case drop_cases[] = {
	{ "runt", runt, KEEL_NET_DROP_RUNT },
	{ "dst_mac_other", dst_mac_other, KEEL_NET_DROP_DST_MAC },
	{ "dst_mac_bcast_ip", dst_mac_bcast_ip, KEEL_NET_DROP_DST_MAC },
	{ "dst_mac_mcast_arp", dst_mac_mcast_arp, KEEL_NET_DROP_DST_MAC },
	{ "src_mac_mcast", src_mac_mcast, KEEL_NET_DROP_SRC_MAC },
	{ "vlan", vlan, KEEL_NET_DROP_VLAN },
	{ "qinq", qinq, KEEL_NET_DROP_VLAN },
	{ "ethertype", ethertype, KEEL_NET_DROP_ETHERTYPE },
	{ "arp_trunc", arp_trunc, KEEL_NET_DROP_ARP_TRUNC },
	{ "arp_htype", arp_htype, KEEL_NET_DROP_ARP_BAD },
	{ "arp_op", arp_op, KEEL_NET_DROP_ARP_BAD },
	{ "arp_sha_mcast", arp_sha_mcast, KEEL_NET_DROP_ARP_BAD },
	{ "arp_spa_mcast", arp_spa_mcast, KEEL_NET_DROP_ARP_BAD },
	{ "arp_not_for_us", arp_not_for_us, KEEL_NET_DROP_ARP_NOT_FOR_US },
	{ "arp_conflict", arp_conflict, KEEL_NET_DROP_ARP_CONFLICT },
	{ "ip_trunc", ip_trunc, KEEL_NET_DROP_IP_TRUNC },
	{ "ip_version", ip_version, KEEL_NET_DROP_IP_VERSION },
	{ "ip_hdr_len", ip_hdr_len, KEEL_NET_DROP_IP_HDR_LEN },
	{ "ip_len_long", ip_len_long, KEEL_NET_DROP_IP_LEN },
	{ "ip_len_short", ip_len_short, KEEL_NET_DROP_IP_LEN },
	{ "ip_csum", ip_csum, KEEL_NET_DROP_IP_CSUM },
	{ "ip_csum_options", ip_csum_options, KEEL_NET_DROP_IP_CSUM },
	{ "ip_options", ip_options, KEEL_NET_DROP_IP_OPTIONS },
	{ "ip_frag_mf", ip_frag_mf, KEEL_NET_DROP_IP_FRAGMENT },
	{ "ip_frag_off", ip_frag_off, KEEL_NET_DROP_IP_FRAGMENT },
	{ "ip_src_zero", ip_src_zero, KEEL_NET_DROP_IP_SRC },
	{ "ip_src_loop", ip_src_loop, KEEL_NET_DROP_IP_SRC },
	{ "ip_src_mcast", ip_src_mcast, KEEL_NET_DROP_IP_SRC_MCAST },
	{ "ip_src_bcast", ip_src_bcast, KEEL_NET_DROP_IP_SRC_BCAST },
	{ "ip_src_dbcast", ip_src_dbcast, KEEL_NET_DROP_IP_SRC_BCAST },
	{ "ip_src_dbcast16", ip_src_dbcast16, KEEL_NET_DROP_IP_SRC_BCAST },
	{ "ip_src_net", ip_src_net, KEEL_NET_DROP_IP_SRC_NET },
	{ "ip_src_class_e", ip_src_class_e, KEEL_NET_DROP_IP_SRC },
	{ "ip_src_ours", ip_src_ours, KEEL_NET_DROP_IP_SRC },
	{ "ip_dst", ip_dst, KEEL_NET_DROP_IP_DST },
	{ "ip_dst_bcast", ip_dst_bcast, KEEL_NET_DROP_IP_DST },
	{ "ip_proto", ip_proto, KEEL_NET_DROP_IP_PROTO },
	{ "udp_trunc", udp_trunc, KEEL_NET_DROP_UDP_TRUNC },
	{ "udp_len_short", udp_len_short, KEEL_NET_DROP_UDP_LEN },
	{ "udp_len_long", udp_len_long, KEEL_NET_DROP_UDP_LEN },
	{ "udp_csum", udp_csum, KEEL_NET_DROP_UDP_CSUM },
	{ "udp_csum_hdr", udp_csum_hdr, KEEL_NET_DROP_UDP_CSUM },
	{ "udp_csum_pseudo", udp_csum_pseudo, KEEL_NET_DROP_UDP_CSUM },
	{ "udp_src_port0", udp_src_port0, KEEL_NET_DROP_UDP_SRC_PORT },
	{ "icmp_trunc", icmp_trunc, KEEL_NET_DROP_ICMP_TRUNC },
	{ "icmp_csum", icmp_csum, KEEL_NET_DROP_ICMP_CSUM },
	{ "icmp_echo_reply", icmp_echo_reply, KEEL_NET_DROP_ICMP_TYPE },
	{ "icmp_code", icmp_code, KEEL_NET_DROP_ICMP_TYPE },
	{ "icmp_unreach", icmp_unreach, KEEL_NET_DROP_ICMP_TYPE },
};

Test(parse, every_receive_drop_reason)
{
	bool seen[KEEL_NET_DROP_MAX] = { false };

	for (size_t i = 0; i < sizeof(drop_cases) / sizeof(drop_cases[0]); i++) {
		const struct drop_case *c = &drop_cases[i];
		struct keel_net_stats before, after;
		size_t len;

		memset(f, 0, sizeof(f));
		len = c->craft();
		keel_net_stats_get(net, &before);
		cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_DROP, "%s", c->name);
		cr_assert_eq(r.kind, KEEL_NET_RX_DROP, "%s", c->name);
		cr_assert_eq(r.drop, c->want, "%s: dropped as %s, want %s", c->name,
			     keel_net_drop_name(r.drop), keel_net_drop_name(c->want));
		keel_net_stats_get(net, &after);
		for (int d = 0; d < KEEL_NET_DROP_MAX; d++)
			cr_assert_eq(after.drops[d] - before.drops[d], d == (int)c->want ? 1u : 0u,
				     "%s: counter %s", c->name, keel_net_drop_name(d));
		cr_assert_eq(after.rx_frames - before.rx_frames, 1);
		cr_assert_eq(after.rx_udp + after.rx_arp + after.rx_icmp_echo, 0);
		seen[c->want] = true;
	}
	/* Every receive reason has a case (the transmit ones are in test_arp). */
	for (int d = KEEL_NET_DROP_RUNT; d < KEEL_NET_DROP_NO_ROUTE; d++)
		cr_assert(seen[d], "no frame triggers %s", keel_net_drop_name(d));
}

/* Not every address in a subnet's range is special: only the two ends, and
 * only for prefixes up to /30. */
Test(parse, subnet_hosts_are_answered)
{
	static const unsigned last[] = { 1, 2, 128, 254 };
	uint8_t pl[4] = { 0 };
	size_t len;

	for (size_t i = 0; i < sizeof(last) / sizeof(last[0]); i++) {
		if (last[i] == 1)
			continue; /* ours */
		len = t_udp(f, t_ip(198, 18, 0, last[i]), T_OUR_IP, 5353, 7, pl, sizeof(pl));
		cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP, ".%u", last[i]);
	}
	/* 198.19.0.255 is a host of the /16, not a broadcast. */
	len = t_udp(f, t_ip(198, 19, 0, 255), T_OUR_IP, 5353, 7, pl, sizeof(pl));
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
}

Test(parse, point_to_point_has_no_broadcast)
{
	struct keel_net_config c;
	struct keel_net *p2p;
	uint8_t pl[4] = { 0 };
	size_t len;

	t_config(&c);
	c.n_addrs = 1;
	c.addrs[0].prefix_len = 31;
	c.gateway = 0;
	c.addrs[0].addr = t_ip(198, 18, 0, 0);
	cr_assert_eq(keel_net_create(&c, &p2p), 0);
	len = t_udp(f, t_ip(198, 18, 0, 1), t_ip(198, 18, 0, 0), 5353, 7, pl, sizeof(pl));
	cr_assert_eq(keel_net_rx(p2p, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
	cr_assert_not(keel_net_is_broadcast(p2p, t_ip(198, 18, 0, 1)));
	cr_assert_eq(keel_net_tx_check(p2p, t_ip(198, 18, 0, 1), false), 0);
	keel_net_destroy(p2p);
}

Test(parse, broadcast_needs_the_option)
{
	cr_assert(keel_net_is_broadcast(net, 0xffffffffu));
	cr_assert(keel_net_is_broadcast(net, t_ip(198, 18, 0, 255)));
	cr_assert(keel_net_is_broadcast(net, t_ip(198, 19, 255, 255)));
	cr_assert_not(keel_net_is_broadcast(net, t_ip(198, 18, 0, 0)));
	cr_assert_not(keel_net_is_broadcast(net, T_PEER_IP));
	cr_assert_not(keel_net_is_broadcast(net, t_ip(203, 0, 113, 255)));
	cr_assert_eq(keel_net_tx_check(net, t_ip(198, 18, 0, 255), false), -EACCES);
	cr_assert_eq(keel_net_tx_check(net, 0xffffffffu, false), -EACCES);
	cr_assert_eq(keel_net_tx_check(net, t_ip(198, 18, 0, 255), true), 0);
	cr_assert_eq(keel_net_tx_check(net, T_PEER_IP, false), 0);
	cr_assert_eq(keel_net_tx_check(net, t_ip(224, 0, 0, 9), false), 0);
}

Test(parse, udp_fields)
{
	uint8_t payload[100];
	struct keel_net_stats st;
	struct keel_addr a;
	char buf[KEEL_ADDR_STRLEN];
	size_t len;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	len = t_udp(f, T_PEER_IP, T_OUR_IP, 40000, 7, payload, sizeof(payload));
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
	cr_assert_eq(r.kind, KEEL_NET_RX_UDP);
	cr_assert_eq(r.drop, KEEL_NET_DROP_NONE);
	cr_assert_eq(r.payload_off, KEEL_NET_UDP_HDRS);
	cr_assert_eq(r.payload_len, sizeof(payload));
	cr_assert_arr_eq(f + r.payload_off, payload, sizeof(payload));
	cr_assert_eq(r.src_ip, T_PEER_IP);
	cr_assert_eq(r.dst_ip, T_OUR_IP);
	cr_assert_eq(ntohs(r.src_port), 40000);
	cr_assert_eq(ntohs(r.dst_port), 7);
	cr_assert_arr_eq(r.src_mac, t_peer_mac, 6);
	keel_net_rx_src_addr(&r, &a);
	cr_assert_str_eq(keel_addr_format(&a, buf, sizeof(buf)), "198.18.0.2:40000");
	keel_net_rx_dst_addr(&r, &a);
	cr_assert_str_eq(keel_addr_format(&a, buf, sizeof(buf)), "198.18.0.1:7");
	keel_net_stats_get(net, &st);
	cr_assert_eq(st.rx_frames, 1);
	cr_assert_eq(st.rx_udp, 1);
	for (int d = 0; d < KEEL_NET_DROP_MAX; d++)
		cr_assert_eq(st.drops[d], 0);
}

Test(parse, udp_sizes)
{
	/* Empty, odd, and the largest payload for a 1500 MTU, and jumbo. */
	static const size_t sizes[] = { 0, 1, 7, 8, 63, 64, 1471, 1472, 8972 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = t_udp_simple(f, sizes[i]);

		cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP, "%zu", sizes[i]);
		cr_assert_eq(r.payload_len, sizes[i]);
		/* One byte less of frame is a truncated packet. */
		cr_assert_eq(keel_net_rx(net, f, len - 1, 0, 0, &r), KEEL_NET_RX_DROP);
		cr_assert_eq(r.drop, KEEL_NET_DROP_IP_LEN);
	}
}

Test(parse, ethernet_padding_allowed)
{
	size_t len = t_udp_simple(f, 2);

	cr_assert_eq(len, 44);
	memset(f + len, 0xee, 60 - len);
	cr_assert_eq(keel_net_rx(net, f, 60, 0, 0, &r), KEEL_NET_RX_UDP);
	cr_assert_eq(r.payload_len, 2);
	/* ARP padded to the Ethernet minimum too. */
	len = t_arp(f, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP);
	cr_assert_eq(keel_net_rx(net, f, 60, 0, 0, &r), KEEL_NET_RX_ARP_REQUEST);
}

Test(parse, udp_length_below_ip_payload_is_trimmed)
{
	size_t len = t_udp_simple(f, 20);

	/* UDP says 10 bytes of payload, IP carries 20: the rest is ignored. */
	t_wr16(f + 38, 18);
	t_fix_udp_csum(f);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
	cr_assert_eq(r.payload_len, 10);
}

Test(parse, udp_zero_checksum_means_none)
{
	size_t len = t_udp_simple(f, 30);

	t_wr16(f + 40, 0);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
	/* ...even with a payload that the old checksum no longer covers. */
	f[50] ^= 0xff;
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
}

Test(parse, udp_checksum_ffff)
{
	/* Adjust two payload bytes until the computed checksum is 0, which
	 * goes on the wire as 0xffff. */
	size_t len = t_udp_simple(f, 20);
	uint16_t c;

	t_wr16(f + 60, 0);
	t_wr16(f + 40, 0);
	c = t_csum(f + 34, 28, t_pseudo(f + 14, 17, 28));
	t_wr16(f + 60, c);
	t_wr16(f + 40, 0);
	cr_assert_eq(t_csum(f + 34, 28, t_pseudo(f + 14, 17, 28)), 0);
	t_wr16(f + 40, 0xffff);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
}

Test(parse, second_address)
{
	uint8_t p[3] = { 1, 2, 3 };
	size_t len = t_udp(f, t_ip(198, 19, 200, 1), T_OUR_IP2, 5, 6, p, 3);

	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
	cr_assert_eq(r.dst_ip, T_OUR_IP2);
	/* Sources off our subnets are fine (they came through the gateway). */
	len = t_udp(f, T_FAR_IP, T_OUR_IP, 5, 6, p, 3);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
}

Test(parse, hardware_verified_checksums_are_skipped)
{
	size_t len = t_udp_simple(f, 30);

	f[25] ^= 1;
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_DROP);
	cr_assert_eq(keel_net_rx(net, f, len, KEEL_NET_RX_IP_CSUM_OK, 0, &r), KEEL_NET_RX_UDP);
	f[25] ^= 1;
	f[50] ^= 1;
	cr_assert_eq(keel_net_rx(net, f, len, KEEL_NET_RX_IP_CSUM_OK, 0, &r), KEEL_NET_RX_DROP);
	cr_assert_eq(r.drop, KEEL_NET_DROP_UDP_CSUM);
	cr_assert_eq(keel_net_rx(net, f, len, KEEL_NET_RX_L4_CSUM_OK, 0, &r), KEEL_NET_RX_UDP);
}

Test(parse, df_is_not_a_fragment)
{
	size_t len = t_udp_simple(f, 10);

	cr_assert_eq(t_rd16(f + 20), 0x4000);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
	t_wr16(f + 20, 0);
	t_fix_ip_csum(f);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_UDP);
}

Test(parse, icmp_echo_request)
{
	size_t len = t_icmp(f, 8, 0, 56);
	struct keel_net_stats st;

	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_ICMP_ECHO);
	cr_assert_eq(r.payload_off, 34);
	cr_assert_eq(r.payload_len, 64);
	cr_assert_eq(r.src_ip, T_PEER_IP);
	cr_assert_eq(r.dst_ip, T_OUR_IP);
	cr_assert_arr_eq(r.src_mac, t_peer_mac, 6);
	/* An odd-sized one too. */
	len = t_icmp(f, 8, 0, 3);
	cr_assert_eq(keel_net_rx(net, f, len, 0, 0, &r), KEEL_NET_RX_ICMP_ECHO);
	keel_net_stats_get(net, &st);
	cr_assert_eq(st.rx_icmp_echo, 2);
}

Test(parse, never_reads_past_len)
{
	/* Every prefix of every valid frame is classified without reading
	 * beyond it (ASan builds check this: the copy is exactly len bytes). */
	size_t lens[4];
	uint8_t frames[4][200];

	lens[0] = t_udp_simple(frames[0], 100);
	lens[1] = t_icmp(frames[1], 8, 0, 40);
	lens[2] = t_arp(frames[2], t_bcast_mac, 1, t_peer_mac, T_PEER_IP, t_bcast_mac, T_OUR_IP);
	lens[3] = t_arp(frames[3], t_our_mac, 2, t_peer_mac, T_PEER_IP, t_our_mac, T_OUR_IP);
	for (int k = 0; k < 4; k++)
		for (size_t l = 0; l <= lens[k]; l++) {
			uint8_t *copy = malloc(l ? l : 1);

			memcpy(copy, frames[k], l);
			keel_net_rx(net, copy, l, 0, 0, &r);
			cr_assert_eq(r.kind == KEEL_NET_RX_DROP, l < lens[k], "frame %d len %zu", k,
				     l);
			free(copy);
		}
}
