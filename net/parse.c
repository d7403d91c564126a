/* SPDX-License-Identifier: MIT */
/*
 * The receive classifier: every field is checked before it is trusted, in
 * wire order, and the first failure is the reason counted. The common case
 * (an option-less IPv4/UDP datagram to our MAC) runs straight through with
 * one branch per check and touches the payload only to verify its checksum.
 */
#include "net_internal.h"

/*
 * Why a source cannot be answered, or NONE. A reply to a broadcast or
 * network address would go to the whole link (or leave a failed neighbour
 * entry behind): one spoofed datagram must not make us reflect to a LAN.
 * Broadcast is checked first: 255.255.255.255 is also class E.
 */
static enum keel_net_drop ip_src_check(const struct keel_net *n, uint32_t src)
{
	uint32_t a = ntohl(src);

	if (KEEL__UNLIKELY(src == 0xffffffffu))
		return KEEL_NET_DROP_IP_SRC_BCAST;
	if (KEEL__UNLIKELY((a >> 28) == 0xe))
		return KEEL_NET_DROP_IP_SRC_MCAST;
	if (KEEL__UNLIKELY(!keel__host_addr_ok(src)))
		return KEEL_NET_DROP_IP_SRC;
	for (unsigned i = 0; i < n->cfg.n_addrs; i++) {
		uint32_t ours = n->cfg.addrs[i].addr, m = n->masks[i];

		if (KEEL__UNLIKELY(src == ours))
			return KEEL_NET_DROP_IP_SRC;
		/* /31 and /32 have neither (RFC 3021). */
		if (((src ^ ours) & m) || n->cfg.addrs[i].prefix_len > 30)
			continue;
		if (KEEL__UNLIKELY((src & ~m) == ~m))
			return KEEL_NET_DROP_IP_SRC_BCAST;
		if (KEEL__UNLIKELY((src & ~m) == 0))
			return KEEL_NET_DROP_IP_SRC_NET;
	}
	return KEEL_NET_DROP_NONE;
}

static enum keel_net_rx_kind udp_rx(struct keel_net *n, const uint8_t *p, unsigned ip_pl,
				    unsigned flags, struct keel_net_rx_result *out)
{
	const uint8_t *ip = p + L3, *udp = p + L4;
	uint32_t src = keel__ld32(ip + IPH_SRC), dst = keel__ld32(ip + IPH_DST);
	unsigned ulen;

	if (KEEL__UNLIKELY(ip_pl < UDPH_HDR))
		return keel__rx_drop(n, out, KEEL_NET_DROP_UDP_TRUNC);
	/* Shorter than the IP payload is allowed (the rest is ignored), as
	 * Linux does; longer would read past what IP vouches for. */
	ulen = ntohs(keel__ld16(udp + UDPH_LEN));
	if (KEEL__UNLIKELY(ulen < UDPH_HDR || ulen > ip_pl))
		return keel__rx_drop(n, out, KEEL_NET_DROP_UDP_LEN);
	if (keel__ld16(udp + UDPH_CSUM) && !(flags & KEEL_NET_RX_L4_CSUM_OK)) {
		uint64_t sum = keel__csum_pseudo(src, dst, PROTO_UDP, htons((uint16_t)ulen));

		if (KEEL__UNLIKELY(keel__csum_fold(keel__csum_add(udp, ulen, sum)) != 0))
			return keel__rx_drop(n, out, KEEL_NET_DROP_UDP_CSUM);
	}
	/* Port 0 is reserved: a reply to it cannot be delivered, and the
	 * kernel's sockets cannot send from it. */
	if (KEEL__UNLIKELY(keel__ld16(udp + UDPH_SPORT) == 0))
		return keel__rx_drop(n, out, KEEL_NET_DROP_UDP_SRC_PORT);
	NET_COUNT(n, rx_udp);
	out->kind = KEEL_NET_RX_UDP;
	out->drop = KEEL_NET_DROP_NONE;
	out->payload_off = L4 + UDPH_HDR;
	out->payload_len = (uint16_t)(ulen - UDPH_HDR);
	out->src_port = keel__ld16(udp + UDPH_SPORT);
	out->dst_port = keel__ld16(udp + UDPH_DPORT);
	out->src_ip = src;
	out->dst_ip = dst;
	memcpy(out->src_mac, p + ETHH_SRC, 6);
	out->tx_ready = 0;
	return KEEL_NET_RX_UDP;
}

static enum keel_net_rx_kind icmp_rx(struct keel_net *n, const uint8_t *p, unsigned ip_pl,
				     struct keel_net_rx_result *out)
{
	const uint8_t *ip = p + L3, *icmp = p + L4;

	if (ip_pl < ICMPH_HDR)
		return keel__rx_drop(n, out, KEEL_NET_DROP_ICMP_TRUNC);
	if (keel__csum_fold(keel__csum_add(icmp, ip_pl, 0)) != 0)
		return keel__rx_drop(n, out, KEEL_NET_DROP_ICMP_CSUM);
	/* Echo replies, unreachables and the rest are the kernel's business
	 * on a shared interface and nobody's on a dedicated one. */
	if (icmp[ICMPH_TYPE] != ICMPH_ECHO || icmp[ICMPH_TYPE + 1] != 0)
		return keel__rx_drop(n, out, KEEL_NET_DROP_ICMP_TYPE);
	NET_COUNT(n, rx_icmp_echo);
	out->kind = KEEL_NET_RX_ICMP_ECHO;
	out->drop = KEEL_NET_DROP_NONE;
	out->payload_off = L4;
	out->payload_len = (uint16_t)ip_pl;
	out->src_port = 0;
	out->dst_port = 0;
	out->src_ip = keel__ld32(ip + IPH_SRC);
	out->dst_ip = keel__ld32(ip + IPH_DST);
	memcpy(out->src_mac, p + ETHH_SRC, 6);
	out->tx_ready = 0;
	return KEEL_NET_RX_ICMP_ECHO;
}

static enum keel_net_rx_kind ipv4_rx(struct keel_net *n, const uint8_t *p, size_t len,
				     unsigned flags, struct keel_net_rx_result *out)
{
	const uint8_t *ip = p + L3;
	unsigned hlen = IPH_HDR, totlen;
	enum keel_net_drop why;

	if (KEEL__UNLIKELY(len < L3 + IPH_HDR))
		return keel__rx_drop(n, out, KEEL_NET_DROP_IP_TRUNC);
	if (KEEL__UNLIKELY(ip[IPH_VIHL] != 0x45)) {
		if ((ip[IPH_VIHL] >> 4) != 4)
			return keel__rx_drop(n, out, KEEL_NET_DROP_IP_VERSION);
		hlen = (ip[IPH_VIHL] & 0xfu) * 4;
		if (hlen < IPH_HDR)
			return keel__rx_drop(n, out, KEEL_NET_DROP_IP_HDR_LEN);
	}
	/* Frames may carry Ethernet padding past the IP packet: only the
	 * other way round is an error. */
	totlen = ntohs(keel__ld16(ip + IPH_TOTLEN));
	if (KEEL__UNLIKELY(totlen < hlen || totlen > len - L3))
		return keel__rx_drop(n, out, KEEL_NET_DROP_IP_LEN);
	/* The checksum before anything else in the header is believed: a
	 * corrupted header must count as corrupted, not as "options". */
	if (!(flags & KEEL_NET_RX_IP_CSUM_OK)) {
		uint64_t sum = KEEL__LIKELY(hlen == IPH_HDR) ? keel__csum_ip20(ip)
							    : keel__csum_add(ip, hlen, 0);

		if (KEEL__UNLIKELY(keel__csum_fold(sum) != 0))
			return keel__rx_drop(n, out, KEEL_NET_DROP_IP_CSUM);
	}
	if (KEEL__UNLIKELY(hlen != IPH_HDR))
		return keel__rx_drop(n, out, KEEL_NET_DROP_IP_OPTIONS);
	if (KEEL__UNLIKELY(keel__ld16(ip + IPH_FRAG) & htons(IPH_MF_OFF)))
		return keel__rx_drop(n, out, KEEL_NET_DROP_IP_FRAGMENT);
	why = ip_src_check(n, keel__ld32(ip + IPH_SRC));
	if (KEEL__UNLIKELY(why != KEEL_NET_DROP_NONE))
		return keel__rx_drop(n, out, why);
	if (KEEL__UNLIKELY(keel__addr_index(n, keel__ld32(ip + IPH_DST)) < 0))
		return keel__rx_drop(n, out, KEEL_NET_DROP_IP_DST);
	if (KEEL__LIKELY(ip[IPH_PROTO] == PROTO_UDP))
		return udp_rx(n, p, totlen - IPH_HDR, flags, out);
	if (ip[IPH_PROTO] == PROTO_ICMP)
		return icmp_rx(n, p, totlen - IPH_HDR, out);
	return keel__rx_drop(n, out, KEEL_NET_DROP_IP_PROTO);
}

enum keel_net_rx_kind keel_net_rx(struct keel_net *n, const void *frame, size_t len,
				  unsigned flags, uint64_t now, struct keel_net_rx_result *out)
{
	const uint8_t *p = frame;
	uint16_t type;

	NET_COUNT(n, rx_frames);
	if (KEEL__UNLIKELY(len < ETHH_HDR))
		return keel__rx_drop(n, out, KEEL_NET_DROP_RUNT);
	type = keel__ld16(p + ETHH_TYPE);
	if (KEEL__LIKELY(type == htons(ETYPE_IPV4))) {
		/* IPv4 to broadcast or multicast MACs is not for a UDP service. */
		if (KEEL__UNLIKELY(!keel__mac_is_ours(n, p + ETHH_DST)))
			return keel__rx_drop(n, out, KEEL_NET_DROP_DST_MAC);
		if (KEEL__UNLIKELY(keel__mac_is_multicast(p + ETHH_SRC)))
			return keel__rx_drop(n, out, KEEL_NET_DROP_SRC_MAC);
		return ipv4_rx(n, p, len, flags, out);
	}
	if (!keel__mac_is_ours(n, p + ETHH_DST) && !keel__mac_is_broadcast(p + ETHH_DST))
		return keel__rx_drop(n, out, KEEL_NET_DROP_DST_MAC);
	if (keel__mac_is_multicast(p + ETHH_SRC))
		return keel__rx_drop(n, out, KEEL_NET_DROP_SRC_MAC);
	if (type == htons(ETYPE_ARP))
		return keel__arp_rx(n, p, len, now, out);
	if (type == htons(ETYPE_VLAN) || type == htons(ETYPE_QINQ) || type == htons(ETYPE_QINQ_OLD))
		return keel__rx_drop(n, out, KEEL_NET_DROP_VLAN);
	return keel__rx_drop(n, out, KEEL_NET_DROP_ETHERTYPE);
}
