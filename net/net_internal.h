/* SPDX-License-Identifier: MIT */
/*
 * What the files of net/ share: the instance, wire offsets, unaligned
 * loads and stores, and the inline checksum core the per-packet path uses.
 * Headers are read and written field by field with memcpy at byte offsets,
 * never through struct pointers: frames have any alignment, and a packed
 * struct cast is what UBSan flags as misaligned.
 */
#ifndef KEEL_NET_INTERNAL_H
#define KEEL_NET_INTERNAL_H

#include <keel/net.h>
#include <keel/stats.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define KEEL__LIKELY(x)		__builtin_expect(!!(x), 1)
#define KEEL__UNLIKELY(x)	__builtin_expect(!!(x), 0)

/* Ethernet */
#define ETHH_DST	0
#define ETHH_SRC	6
#define ETHH_TYPE	12
#define ETHH_HDR	14
#define ETYPE_IPV4	0x0800
#define ETYPE_ARP	0x0806
#define ETYPE_VLAN	0x8100
#define ETYPE_QINQ	0x88a8
#define ETYPE_QINQ_OLD	0x9100

/* IPv4, from the start of its header */
#define IPH_VIHL	0
#define IPH_TOS		1
#define IPH_TOTLEN	2
#define IPH_ID		4
#define IPH_FRAG	6
#define IPH_TTL		8
#define IPH_PROTO	9
#define IPH_CSUM	10
#define IPH_SRC		12
#define IPH_DST		16
#define IPH_HDR		20
#define IPH_DF		0x4000
#define IPH_MF_OFF	0x3fff	/* MF and the fragment offset */
#define PROTO_ICMP	1
#define PROTO_UDP	17

/* UDP and ICMP, from the start of their headers */
#define UDPH_SPORT	0
#define UDPH_DPORT	2
#define UDPH_LEN	4
#define UDPH_CSUM	6
#define UDPH_HDR	8
#define ICMPH_TYPE	0
#define ICMPH_CSUM	2
#define ICMPH_HDR	8
#define ICMPH_ECHO_REPLY	0
#define ICMPH_ECHO	8

/* ARP for Ethernet/IPv4, from the start of its header */
#define ARPH_HTYPE	0
#define ARPH_PTYPE	2
#define ARPH_HLEN	4
#define ARPH_PLEN	5
#define ARPH_OP		6
#define ARPH_SHA	8
#define ARPH_SPA	14
#define ARPH_THA	18
#define ARPH_TPA	24
#define ARPH_HDR	28

/* Frame offsets of the layers (no VLAN, no IP options: both are dropped). */
#define L3		ETHH_HDR
#define L4		(ETHH_HDR + IPH_HDR)

/* The neighbour table: open addressing, at most half full. */
#define KEEL__NEIGH_SLOTS	(2 * KEEL_NET_NEIGH_MAX)
#define KEEL__NIL	0xffffu

enum keel__neigh_state {
	KEEL__NEIGH_INCOMPLETE = 1,	/* asked, no answer yet */
	KEEL__NEIGH_REACHABLE,		/* learned; ages */
	KEEL__NEIGH_STATIC,		/* set by the driver; never ages */
};

struct keel__neigh {
	uint32_t ip;			/* 0: empty slot */
	uint8_t state;
	uint8_t ask_now;		/* a request is due whatever the time */
	uint8_t mac[6];
	uint16_t queued;		/* frames waiting for it */
	uint64_t updated;		/* when learned or last confirmed */
	uint64_t asked;			/* when the last request went out */
};

/* A frame in the resolution queue; its bytes are at pend_buf + index *
 * slot_size. It is on the waiting list until its next hop answers, then on
 * the ready list with the MAC filled in, until keel_net_tx_pending. */
struct keel__pending {
	uint32_t nh;			/* next hop it waits for */
	uint16_t len;
	uint16_t next;			/* list link, KEEL__NIL ends */
	uint64_t since;
};

struct keel__plist {
	uint16_t head, tail;
};

/* The counters are written by the instance's owner only and read from
 * any thread (a runtime's --stats, --metrics): relaxed atomic accesses,
 * plain moves on x86, seen by ThreadSanitizer for what they are. */
#define NET_ADD(n, field, v) KEEL_STAT_ADD((n)->stats.field, v)
#define NET_COUNT(n, field) NET_ADD(n, field, 1)

struct keel_net {
	struct keel_net_config cfg;
	/* Our MAC as two raw words, for a two-compare match per frame. */
	uint32_t mac_w0;
	uint16_t mac_w1;
	uint32_t masks[KEEL_NET_MAX_ADDRS];	/* network order */
	struct keel_net_stats stats; /* NET_COUNT: read from any thread */

	struct keel__neigh neigh[KEEL__NEIGH_SLOTS];
	unsigned neigh_count;
	unsigned evict_cursor;		/* where the next eviction looks first */

	struct keel__pending *pend;
	uint8_t *pend_buf;
	size_t slot_size;
	uint16_t pend_free;		/* free slots, linked through next */
	struct keel__plist waiting;	/* in arrival order */
	struct keel__plist ready;	/* in the order they became ready */
	unsigned n_waiting, n_ready;
	unsigned per_neigh_max;
	uint64_t next_ask;		/* no request is due before this */
};

static inline uint16_t keel__ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t keel__ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void keel__st16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void keel__st32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline bool keel__mac_is_multicast(const uint8_t *mac)
{
	return mac[0] & 1;	/* broadcast included */
}

static inline bool keel__mac_is_zero(const uint8_t *mac)
{
	return (keel__ld32(mac) | keel__ld16(mac + 4)) == 0;
}

static inline bool keel__mac_is_ours(const struct keel_net *n, const uint8_t *mac)
{
	return keel__ld32(mac) == n->mac_w0 && keel__ld16(mac + 4) == n->mac_w1;
}

static inline bool keel__mac_is_broadcast(const uint8_t *mac)
{
	return keel__ld32(mac) == 0xffffffffu && keel__ld16(mac + 4) == 0xffff;
}

/* Unicast, routable as a host address: not 0/8, loopback, class D or E. */
static inline bool keel__host_addr_ok(uint32_t be)
{
	uint32_t a = ntohl(be);

	return (a >> 24) != 0 && (a >> 24) != 127 && (a >> 28) < 0xe;
}

/* Index of our address equal to ip, or -1. */
static inline int keel__addr_index(const struct keel_net *n, uint32_t ip)
{
	for (unsigned i = 0; i < n->cfg.n_addrs; i++)
		if (n->cfg.addrs[i].addr == ip)
			return (int)i;
	return -1;
}

/*
 * The checksum core: one's complement sums only need the total modulo
 * 0xffff, and 2^32 = 1 mod 0xffff, so adding the two 32-bit halves of each
 * 8-byte word into a 64-bit accumulator is exact without carry handling.
 * Each step adds under 2^34: the accumulator cannot overflow for any frame.
 * Two accumulators halve the dependency chain.
 */
static inline uint64_t keel__csum_add(const uint8_t *p, size_t len, uint64_t sum)
{
	uint64_t a = sum, b = 0, w0, w1, w2, w3;

	while (len >= 32) {
		memcpy(&w0, p, 8);
		memcpy(&w1, p + 8, 8);
		memcpy(&w2, p + 16, 8);
		memcpy(&w3, p + 24, 8);
		a += (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32);
		b += (w2 & 0xffffffffu) + (w2 >> 32) + (w3 & 0xffffffffu) + (w3 >> 32);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		memcpy(&w0, p, 8);
		a += (w0 & 0xffffffffu) + (w0 >> 32);
		p += 8;
		len -= 8;
	}
	/* Fixed-size pieces: a variable-length memcpy costs a call. The
	 * pieces start at even offsets, so a last odd byte is the high byte
	 * of a word padded with zero, in memory: right in either byte order. */
	if (len & 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		a += v;
		p += 4;
	}
	if (len & 2) {
		uint16_t v;

		memcpy(&v, p, 2);
		a += v;
		p += 2;
	}
	if (len & 1) {
		uint16_t v = 0;

		memcpy(&v, p, 1);
		a += v;
	}
	return a + b;
}

static inline uint16_t keel__csum_fold(uint64_t s)
{
	uint32_t lo = (uint32_t)s, t = lo + (uint32_t)(s >> 32);

	t += t < lo;	/* end-around carry */
	/* The upper half of t + ror(t, 16) is the two halves' one's
	 * complement sum, carry included (Linux's csum_fold). */
	t += t << 16 | t >> 16;
	return (uint16_t)~(t >> 16);
}

static inline uint64_t keel__csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto,
					 uint16_t len_be)
{
	return (uint64_t)src + dst + htons(proto) + len_be;
}

/* The 20-byte IPv4 header with its checksum field, unrolled. */
static inline uint64_t keel__csum_ip20(const uint8_t *ip)
{
	uint64_t w0, w1;
	uint32_t w2;

	memcpy(&w0, ip, 8);
	memcpy(&w1, ip + 8, 8);
	memcpy(&w2, ip + 16, 4);
	return (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32) + w2;
}

/* Write a fresh IPv4 header (no options, DF, ID 0: RFC 6864 atomic
 * datagram) with its checksum, or 0 there for offload. */
static inline void keel__ip_write(const struct keel_net *n, uint8_t *ip, uint16_t totlen,
				  uint8_t proto, uint32_t src, uint32_t dst, bool offload)
{
	/* version/IHL, TOS, length | ID, flags+offset | TTL, proto, csum 0 */
	ip[IPH_VIHL] = 0x45;
	ip[IPH_TOS] = 0;
	keel__st16(ip + IPH_TOTLEN, htons(totlen));
	keel__st16(ip + IPH_ID, 0);
	keel__st16(ip + IPH_FRAG, htons(IPH_DF));
	ip[IPH_TTL] = n->cfg.ttl;
	ip[IPH_PROTO] = proto;
	keel__st16(ip + IPH_CSUM, 0);
	keel__st32(ip + IPH_SRC, src);
	keel__st32(ip + IPH_DST, dst);
	if (!offload)
		keel__st16(ip + IPH_CSUM, keel__csum_fold(keel__csum_ip20(ip)));
}

static inline void keel__drop_count(struct keel_net *n, enum keel_net_drop why)
{
	NET_COUNT(n, drops[why]);
}

/* Count a receive drop and say so in the result (other fields unset). */
static inline enum keel_net_rx_kind keel__rx_drop(struct keel_net *n,
						  struct keel_net_rx_result *out,
						  enum keel_net_drop why)
{
	keel__drop_count(n, why);
	out->kind = KEEL_NET_RX_DROP;
	out->drop = why;
	return KEEL_NET_RX_DROP;
}

/* arp.c: the ARP half of keel_net_rx, after the Ethernet checks. */
enum keel_net_rx_kind keel__arp_rx(struct keel_net *n, const uint8_t *p, size_t len,
				   uint64_t now, struct keel_net_rx_result *out);

/* arp.c: set up and tear down the neighbour table and resolution queue. */
int keel__arp_init(struct keel_net *n);
void keel__arp_fini(struct keel_net *n);

#endif /* KEEL_NET_INTERNAL_H */
