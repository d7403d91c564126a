/* SPDX-License-Identifier: MIT */
/*
 * What the net/ tests, the corpus generator and the fuzz target share: one
 * network (us at 198.18.0.1/24 and 198.19.0.1/16, gateway 198.18.0.254,
 * a peer at 198.18.0.2) and frame crafting written independently of net/'s
 * builders, with a byte-at-a-time reference checksum, so that the parser is
 * never only checked against the code it parses for.
 */
#ifndef KEEL_TESTS_NET_TEST_H
#define KEEL_TESTS_NET_TEST_H

#include <arpa/inet.h>
#include <keel/net.h>
#include <stdint.h>
#include <string.h>

static const uint8_t t_our_mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 };
static const uint8_t t_peer_mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02 };
static const uint8_t t_gw_mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0xfe };
static const uint8_t t_bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static inline uint32_t t_ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

#define T_OUR_IP	t_ip(198, 18, 0, 1)
#define T_OUR_IP2	t_ip(198, 19, 0, 1)
#define T_PEER_IP	t_ip(198, 18, 0, 2)
#define T_GW_IP		t_ip(198, 18, 0, 254)
#define T_FAR_IP	t_ip(203, 0, 113, 7)
#define T_NS		1000000000ull

static inline void t_config(struct keel_net_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->mac, t_our_mac, 6);
	c->n_addrs = 2;
	c->addrs[0].addr = T_OUR_IP;
	c->addrs[0].prefix_len = 24;
	c->addrs[1].addr = T_OUR_IP2;
	c->addrs[1].prefix_len = 16;
	c->gateway = T_GW_IP;
}

/* The reference: RFC 1071 over big-endian 16-bit words, one at a time.
 * Returns the checksum field value in host order (store with htons). */
static inline uint16_t t_csum(const uint8_t *p, size_t len, uint32_t init)
{
	uint32_t s = init;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline uint16_t t_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void t_wr16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Pseudo-header sum (host order, unfolded) for t_csum's init. */
static inline uint32_t t_pseudo(const uint8_t *ip, unsigned proto, unsigned len)
{
	return t_rd16(ip + 12) + t_rd16(ip + 14) + t_rd16(ip + 16) + t_rd16(ip + 18) + proto + len;
}

static inline void t_fix_ip_csum(uint8_t *f)
{
	unsigned hlen = (f[14] & 0xfu) * 4;

	t_wr16(f + 24, 0);
	t_wr16(f + 24, t_csum(f + 14, hlen, 0));
}

/* Recompute the UDP checksum of an option-less frame from its UDP length. */
static inline void t_fix_udp_csum(uint8_t *f)
{
	unsigned ulen = t_rd16(f + 38);
	uint16_t c;

	t_wr16(f + 40, 0);
	c = t_csum(f + 34, ulen, t_pseudo(f + 14, 17, ulen));
	t_wr16(f + 40, c ? c : 0xffff);
}

static inline size_t t_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, unsigned type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	t_wr16(f + 12, type);
	return 14;
}

/* An option-less IPv4 header at f + 14 with a correct checksum. */
static inline void t_ipv4(uint8_t *f, unsigned proto, uint32_t src, uint32_t dst, unsigned totlen)
{
	uint8_t *ip = f + 14;

	ip[0] = 0x45;
	ip[1] = 0;
	t_wr16(ip + 2, totlen);
	t_wr16(ip + 4, 0x1234);
	t_wr16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = (uint8_t)proto;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	t_fix_ip_csum(f);
}

/* A UDP datagram from the peer to us (ports host order). */
static inline size_t t_udp(uint8_t *f, uint32_t src, uint32_t dst, unsigned sport, unsigned dport,
			   const void *payload, size_t plen)
{
	t_eth(f, t_our_mac, t_peer_mac, 0x0800);
	t_ipv4(f, 17, src, dst, (unsigned)(28 + plen));
	t_wr16(f + 34, sport);
	t_wr16(f + 36, dport);
	t_wr16(f + 38, (unsigned)(8 + plen));
	if (plen)
		memcpy(f + 42, payload, plen);
	t_fix_udp_csum(f);
	return 42 + plen;
}

static inline size_t t_udp_simple(uint8_t *f, size_t plen)
{
	uint8_t payload[9000];

	for (size_t i = 0; i < plen && i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	return t_udp(f, T_PEER_IP, T_OUR_IP, 40000, 7, payload, plen);
}

/* An ICMP message of type/code with plen bytes of data after the 8. */
static inline size_t t_icmp(uint8_t *f, unsigned type, unsigned code, size_t plen)
{
	uint8_t *icmp = f + 34;

	t_eth(f, t_our_mac, t_peer_mac, 0x0800);
	t_ipv4(f, 1, T_PEER_IP, T_OUR_IP, (unsigned)(28 + plen));
	icmp[0] = (uint8_t)type;
	icmp[1] = (uint8_t)code;
	t_wr16(icmp + 2, 0);
	t_wr16(icmp + 4, 0x4242);	/* identifier */
	t_wr16(icmp + 6, 7);		/* sequence */
	for (size_t i = 0; i < plen; i++)
		icmp[8 + i] = (uint8_t)(0xa0 + i);
	t_wr16(icmp + 2, t_csum(icmp, 8 + plen, 0));
	return 42 + plen;
}

static inline size_t t_arp(uint8_t *f, const uint8_t *eth_dst, unsigned op, const uint8_t *sha,
			   uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	uint8_t *a = f + 14;

	t_eth(f, eth_dst, sha, 0x0806);
	t_wr16(a, 1);
	t_wr16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	t_wr16(a + 6, op);
	memcpy(a + 8, sha, 6);
	memcpy(a + 14, &spa, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, &tpa, 4);
	return 42;
}

#endif /* KEEL_TESTS_NET_TEST_H */
