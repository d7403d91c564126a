/* SPDX-License-Identifier: MIT */
/*
 * Building frames to send: UDP datagrams from scratch or as in-place
 * replies to received ones, ARP packets, and the answers to ARP requests
 * and ICMP echo requests. Builders write every header field they own, so a
 * recycled receive buffer carries nothing stale into the reply.
 */
#include "net_internal.h"

#include <errno.h>

static const uint8_t mac_zero[6];
static const uint8_t mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void eth_write(const struct keel_net *n, uint8_t *p, const uint8_t *dst, uint16_t type)
{
	memcpy(p + ETHH_DST, dst, 6);
	memcpy(p + ETHH_SRC, n->cfg.mac, 6);
	keel__st16(p + ETHH_TYPE, htons(type));
}

/*
 * The UDP checksum over header and payload, or for offload the folded
 * pseudo-header sum the NIC starts from. A computed 0 goes out as 0xffff:
 * 0 means "no checksum" (RFC 768).
 */
static void udp_csum_write(uint8_t *udp, unsigned ulen, uint32_t src, uint32_t dst, bool offload)
{
	uint64_t sum = keel__csum_pseudo(src, dst, PROTO_UDP, htons((uint16_t)ulen));
	uint16_t c;

	if (offload) {
		keel__st16(udp + UDPH_CSUM, (uint16_t)~keel__csum_fold(sum));
		return;
	}
	keel__st16(udp + UDPH_CSUM, 0);
	c = keel__csum_fold(keel__csum_add(udp, ulen, sum));
	keel__st16(udp + UDPH_CSUM, c ? c : 0xffff);
}

int keel_net_udp_build(const struct keel_net *n, void *frame, size_t cap,
		       const struct keel_net_udp_tx *tx, size_t payload_len, unsigned flags)
{
	uint8_t *p = frame, *udp = p + L4;
	bool offload = flags & KEEL_NET_TX_CSUM_OFFLOAD;
	unsigned ulen;
	uint32_t src;

	if (!n || !p || !tx || !tx->dst_ip)
		return -EINVAL;
	if (payload_len > n->cfg.mtu - IPH_HDR - UDPH_HDR)
		return -EMSGSIZE;
	if (KEEL_NET_UDP_HDRS + payload_len > cap)
		return -ENOSPC;
	ulen = UDPH_HDR + (unsigned)payload_len;
	src = tx->src_ip ? tx->src_ip : keel_net_src_for(n, tx->dst_ip);
	eth_write(n, p, tx->dst_mac, ETYPE_IPV4);
	keel__ip_write(n, p + L3, (uint16_t)(IPH_HDR + ulen), PROTO_UDP, src, tx->dst_ip, offload);
	keel__st16(udp + UDPH_SPORT, tx->src_port);
	keel__st16(udp + UDPH_DPORT, tx->dst_port);
	keel__st16(udp + UDPH_LEN, htons((uint16_t)ulen));
	udp_csum_write(udp, ulen, src, tx->dst_ip, offload);
	return (int)(KEEL_NET_UDP_HDRS + payload_len);
}

int keel_net_udp_reply(const struct keel_net *n, void *frame, size_t cap,
		       const struct keel_net_rx_result *rx, size_t payload_len, unsigned flags)
{
	uint8_t *p = frame, *udp = p + L4;
	bool offload = flags & KEEL_NET_TX_CSUM_OFFLOAD;
	unsigned ulen;

	if (KEEL__UNLIKELY(!rx || rx->kind != KEEL_NET_RX_UDP))
		return -EINVAL;
	if (KEEL__UNLIKELY(payload_len > n->cfg.mtu - IPH_HDR - UDPH_HDR))
		return -EMSGSIZE;
	if (KEEL__UNLIKELY(KEEL_NET_UDP_HDRS + payload_len > cap))
		return -ENOSPC;
	ulen = UDPH_HDR + (unsigned)payload_len;
	/* Back to the MAC it came from: right for on-link peers and for
	 * peers behind the router that forwarded it, without an ARP lookup. */
	memcpy(p + ETHH_DST, rx->src_mac, 6);
	memcpy(p + ETHH_SRC, n->cfg.mac, 6);
	keel__ip_write(n, p + L3, (uint16_t)(IPH_HDR + ulen), PROTO_UDP, rx->dst_ip, rx->src_ip,
		       offload);
	keel__st16(udp + UDPH_SPORT, rx->dst_port);
	keel__st16(udp + UDPH_DPORT, rx->src_port);
	keel__st16(udp + UDPH_LEN, htons((uint16_t)ulen));
	/* Swapping addresses and ports permutes the summed words: the sum,
	 * and so the received checksum, still holds for an unchanged payload.
	 * A zero ("none") checksum is computed rather than kept. */
	if ((flags & KEEL_NET_TX_PAYLOAD_SAME) && !offload && payload_len == rx->payload_len &&
	    keel__ld16(udp + UDPH_CSUM) != 0)
		return (int)(KEEL_NET_UDP_HDRS + payload_len);
	udp_csum_write(udp, ulen, rx->dst_ip, rx->src_ip, offload);
	return (int)(KEEL_NET_UDP_HDRS + payload_len);
}

static void arp_write(const struct keel_net *n, uint8_t *p, uint16_t op, const uint8_t *eth_dst,
		      uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	uint8_t *arp = p + L3;

	eth_write(n, p, eth_dst, ETYPE_ARP);
	keel__st16(arp + ARPH_HTYPE, htons(1));
	keel__st16(arp + ARPH_PTYPE, htons(ETYPE_IPV4));
	arp[ARPH_HLEN] = 6;
	arp[ARPH_PLEN] = 4;
	keel__st16(arp + ARPH_OP, htons(op));
	memcpy(arp + ARPH_SHA, n->cfg.mac, 6);
	keel__st32(arp + ARPH_SPA, spa);
	memcpy(arp + ARPH_THA, tha, 6);
	keel__st32(arp + ARPH_TPA, tpa);
}

int keel_net_arp_build(const struct keel_net *n, void *frame, size_t cap,
		       const struct keel_net_arp_tx *a)
{
	if (!n || !frame || !a)
		return -EINVAL;
	if (a->op != KEEL_NET_ARP_REQUEST && a->op != KEEL_NET_ARP_REPLY)
		return -EINVAL;
	if (cap < KEEL_NET_ARP_LEN)
		return -ENOSPC;
	arp_write(n, frame, a->op, a->eth_dst, a->spa, a->tha, a->tpa);
	return KEEL_NET_ARP_LEN;
}

int keel_net_arp_request(struct keel_net *n, void *frame, size_t cap, uint32_t target_ip)
{
	if (cap < KEEL_NET_ARP_LEN)
		return -ENOSPC;
	arp_write(n, frame, KEEL_NET_ARP_REQUEST, mac_bcast, keel_net_src_for(n, target_ip),
		  mac_zero, target_ip);
	NET_COUNT(n, tx_arp_requests);
	return KEEL_NET_ARP_LEN;
}

int keel_net_arp_announce(const struct keel_net *n, void *frame, size_t cap, unsigned index)
{
	uint32_t ip;

	if (index >= n->cfg.n_addrs)
		return -EINVAL;
	if (cap < KEEL_NET_ARP_LEN)
		return -ENOSPC;
	ip = n->cfg.addrs[index].addr;
	arp_write(n, frame, KEEL_NET_ARP_REQUEST, mac_bcast, ip, mac_zero, ip);
	return KEEL_NET_ARP_LEN;
}

static int icmp_echo_reply(const struct keel_net *n, uint8_t *p, size_t cap,
			   const struct keel_net_rx_result *rx)
{
	uint8_t *icmp = p + L4;
	size_t flen = (size_t)L4 + rx->payload_len;
	uint16_t from, to;

	if (cap < flen)
		return -ENOSPC;
	memcpy(p + ETHH_DST, rx->src_mac, 6);
	memcpy(p + ETHH_SRC, n->cfg.mac, 6);
	keel__ip_write(n, p + L3, (uint16_t)(IPH_HDR + rx->payload_len), PROTO_ICMP, rx->dst_ip,
		       rx->src_ip, false);
	/* Only the type changes (the data is echoed): RFC 1624 instead of
	 * summing a possibly large payload again. */
	from = keel__ld16(icmp + ICMPH_TYPE);
	icmp[ICMPH_TYPE] = ICMPH_ECHO_REPLY;
	to = keel__ld16(icmp + ICMPH_TYPE);
	keel__st16(icmp + ICMPH_CSUM,
		   keel_net_csum_replace16(keel__ld16(icmp + ICMPH_CSUM), from, to));
	return (int)flen;
}

int keel_net_reply(const struct keel_net *n, void *frame, size_t cap,
		   const struct keel_net_rx_result *rx)
{
	if (!n || !frame || !rx)
		return -EINVAL;
	switch (rx->kind) {
	case KEEL_NET_RX_ARP_REQUEST:
		if (cap < KEEL_NET_ARP_LEN)
			return -ENOSPC;
		/* Unicast to the asker, from the address asked for (a probe
		 * from 0.0.0.0 gets its answer at target 0.0.0.0). */
		arp_write(n, frame, KEEL_NET_ARP_REPLY, rx->src_mac, rx->dst_ip, rx->src_mac,
			  rx->src_ip);
		return KEEL_NET_ARP_LEN;
	case KEEL_NET_RX_ICMP_ECHO:
		return icmp_echo_reply(n, frame, cap, rx);
	default:
		return -EINVAL;
	}
}
