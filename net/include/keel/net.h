/* SPDX-License-Identifier: MIT */
/** \file
 * The packet layer shared by the kernel-bypass drivers (AF_XDP, DPDK):
 * Ethernet, ARP, IPv4, UDP and ICMP echo as pure functions over frame
 * buffers. Nothing here does I/O, reads a clock or allocates after
 * keel_net_create: the driver hands in frames and the time, net/ classifies,
 * validates, counts and builds. Frames may sit at any alignment.
 *
 * Byte order: IPv4 addresses and UDP ports are carried in network byte order
 * everywhere in this API (as in struct sockaddr_in), so that the per-packet
 * path never swaps. MAC addresses are 6 bytes as on the wire.
 *
 * One struct keel_net belongs to one worker: no call is thread-safe against
 * another on the same object. A driver with one instance per queue can share
 * what one instance learned by ARP with keel_net_neigh_set on the others.
 */
#ifndef KEEL_NET_H
#define KEEL_NET_H

#include <keel/addr.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of Ethernet + IPv4 + UDP header before a datagram's payload. */
#define KEEL_NET_UDP_HDRS	42
/** Bytes of an ARP frame (Ethernet + ARP for IPv4); the NIC pads it to 60. */
#define KEEL_NET_ARP_LEN	42
/** Addresses one keel_net can own. */
#define KEEL_NET_MAX_ADDRS	4
/** Neighbours the ARP cache holds at most (the table has twice the slots). */
#define KEEL_NET_NEIGH_MAX	256

/** Why a frame was dropped: the index into keel_net_stats.drops. */
enum keel_net_drop {
	KEEL_NET_DROP_NONE = 0,		/**< not dropped (never counted) */
	/* receive: Ethernet */
	KEEL_NET_DROP_RUNT,		/**< shorter than an Ethernet header */
	KEEL_NET_DROP_DST_MAC,		/**< destination MAC not ours (nor broadcast, for ARP) */
	KEEL_NET_DROP_SRC_MAC,		/**< source MAC multicast or broadcast */
	KEEL_NET_DROP_VLAN,		/**< 802.1Q / 802.1ad tagged: not supported */
	KEEL_NET_DROP_ETHERTYPE,	/**< neither IPv4 nor ARP */
	/* receive: ARP */
	KEEL_NET_DROP_ARP_TRUNC,	/**< shorter than an ARP packet */
	KEEL_NET_DROP_ARP_BAD,		/**< not Ethernet/IPv4 ARP, bad opcode or sender MAC */
	KEEL_NET_DROP_ARP_NOT_FOR_US,	/**< asks for or answers someone else's address */
	KEEL_NET_DROP_ARP_CONFLICT,	/**< sender claims one of our addresses */
	/* receive: IPv4 */
	KEEL_NET_DROP_IP_TRUNC,		/**< shorter than an IPv4 header */
	KEEL_NET_DROP_IP_VERSION,	/**< version is not 4 */
	KEEL_NET_DROP_IP_HDR_LEN,	/**< IHL below 5 */
	KEEL_NET_DROP_IP_LEN,		/**< total length below the header or past the frame */
	KEEL_NET_DROP_IP_CSUM,		/**< header checksum wrong */
	KEEL_NET_DROP_IP_OPTIONS,	/**< IP options present: not supported */
	KEEL_NET_DROP_IP_FRAGMENT,	/**< MF set or offset nonzero: no reassembly */
	KEEL_NET_DROP_IP_SRC,		/**< martian source: 0/8, loopback, class E, or ours */
	KEEL_NET_DROP_IP_SRC_BCAST,	/**< source a broadcast: limited or our subnet's directed */
	KEEL_NET_DROP_IP_SRC_NET,	/**< source the network address of our subnet */
	KEEL_NET_DROP_IP_SRC_MCAST,	/**< source multicast (class D) */
	KEEL_NET_DROP_IP_DST,		/**< destination is not one of our addresses */
	KEEL_NET_DROP_IP_PROTO,		/**< neither UDP nor ICMP */
	/* receive: UDP */
	KEEL_NET_DROP_UDP_TRUNC,	/**< IP payload shorter than a UDP header */
	KEEL_NET_DROP_UDP_LEN,		/**< UDP length below 8 or past the IP payload */
	KEEL_NET_DROP_UDP_CSUM,		/**< UDP checksum wrong */
	KEEL_NET_DROP_UDP_SRC_PORT,	/**< UDP source port 0: no reply can reach it */
	/* receive: ICMP */
	KEEL_NET_DROP_ICMP_TRUNC,	/**< IP payload shorter than an ICMP header */
	KEEL_NET_DROP_ICMP_CSUM,	/**< ICMP checksum wrong */
	KEEL_NET_DROP_ICMP_TYPE,	/**< anything but an echo request */
	/* transmit */
	KEEL_NET_DROP_NO_ROUTE,		/**< destination off-link and no gateway */
	KEEL_NET_DROP_ARP_QUEUE_FULL,	/**< no room to wait for ARP resolution */
	KEEL_NET_DROP_ARP_TIMEOUT,	/**< waited for ARP resolution in vain */
	KEEL_NET_DROP_TOO_BIG,		/**< larger than a resolution-queue buffer */
	KEEL_NET_DROP_MAX
};

/** What keel_net_rx found a frame to be. */
enum keel_net_rx_kind {
	/** Dropped; keel_net_rx_result.drop says why (already counted). */
	KEEL_NET_RX_DROP = 0,
	/** A UDP datagram for one of our addresses: hand it to the socket. */
	KEEL_NET_RX_UDP,
	/**
	 * ARP consumed: the neighbour cache was updated and there is nothing
	 * to answer. If tx_ready is nonzero, frames that waited for this
	 * neighbour can now be sent: call keel_net_tx_pending.
	 */
	KEEL_NET_RX_ARP,
	/** An ARP request for our address: keel_net_reply answers it. */
	KEEL_NET_RX_ARP_REQUEST,
	/** An ICMP echo request to our address: keel_net_reply answers it. */
	KEEL_NET_RX_ICMP_ECHO,
};

/**
 * What keel_net_rx found. Offsets, not pointers, so that a result stays
 * valid for a copy of the frame.
 */
struct keel_net_rx_result {
	enum keel_net_rx_kind kind;
	enum keel_net_drop drop;	/**< KEEL_NET_DROP_NONE unless kind is DROP */
	/** UDP: the payload; ICMP echo: the ICMP message. Bytes from the frame start. */
	uint16_t payload_off;
	uint16_t payload_len;
	uint16_t src_port;		/**< UDP, network order */
	uint16_t dst_port;		/**< UDP, network order */
	uint32_t src_ip;		/**< IPv4 source; ARP: sender address. Network order */
	uint32_t dst_ip;		/**< IPv4 destination; ARP: target address. Network order */
	/** Ethernet source; ARP: sender hardware address (with src_ip, what a
	 * driver running one instance per queue passes to keel_net_neigh_set
	 * on the others) */
	uint8_t src_mac[6];
	/** ARP kinds: frames now ready for keel_net_tx_pending. */
	uint16_t tx_ready;
};

/** One of our IPv4 addresses with its subnet. */
struct keel_net_ifaddr {
	uint32_t addr;			/**< network order */
	uint8_t prefix_len;		/**< 1..32 */
};

/**
 * Configuration, copied by keel_net_create. Zero fields take the defaults
 * in brackets.
 */
struct keel_net_config {
	uint8_t mac[6];			/**< our unicast MAC */
	unsigned n_addrs;		/**< 1..KEEL_NET_MAX_ADDRS */
	struct keel_net_ifaddr addrs[KEEL_NET_MAX_ADDRS];
	uint32_t gateway;		/**< next hop off-link, network order; 0: none */
	unsigned mtu;			/**< largest IPv4 packet we send, 68..9000 [1500] */
	uint8_t ttl;			/**< TTL of what we send [64] */
	uint64_t neigh_ttl_ns;		/**< a learned neighbour is fresh this long [30 s] */
	uint64_t arp_retry_ns;		/**< between ARP requests for one address [1 s] */
	unsigned arp_retries;		/**< requests before giving up, 1..255 [3] */
	unsigned arp_queue_len;		/**< frames waiting for ARP, 1..4096 [64] */
};

/** Counters; drops are indexed by enum keel_net_drop. */
struct keel_net_stats {
	uint64_t rx_frames;		/**< every frame given to keel_net_rx */
	uint64_t rx_udp;		/**< KEEL_NET_RX_UDP results */
	uint64_t rx_arp;		/**< ARP frames consumed or to answer */
	uint64_t rx_icmp_echo;		/**< echo requests to answer */
	uint64_t tx_arp_requests;	/**< ARP requests built for resolution */
	uint64_t tx_queued;		/**< frames that waited for ARP */
	uint64_t tx_released;		/**< of those, handed back by keel_net_tx_pending */
	uint64_t neigh_learned;		/**< neighbours added or changed MAC */
	uint64_t neigh_evicted;		/**< neighbours pushed out by a full cache */
	uint64_t drops[KEEL_NET_DROP_MAX];
};

struct keel_net;

/**
 * Create a packet-layer instance.
 * \param cfg copied; not used after the call.
 * \param out receives the instance; free it with keel_net_destroy.
 * \return 0, -EINVAL (NULL argument, MAC not unicast, no address or more
 *         than KEEL_NET_MAX_ADDRS, an address 0/multicast/broadcast, prefix
 *         outside 1..32, gateway not on any of our subnets, a value out of
 *         its range), or -ENOMEM.
 */
int keel_net_create(const struct keel_net_config *cfg, struct keel_net **out);

/** Free \p n and the frames still waiting in it (NULL is a no-op). */
void keel_net_destroy(struct keel_net *n);

/** The configuration \p n runs with, defaults filled in. Borrowed. */
const struct keel_net_config *keel_net_config_get(const struct keel_net *n);

/** Copy the counters of \p n into \p out. */
void keel_net_stats_get(const struct keel_net *n, struct keel_net_stats *out);

/** Short stable name of a drop reason ("ip_csum"), "?" when out of range. */
const char *keel_net_drop_name(enum keel_net_drop d);

/** keel_net_rx flags: what the NIC already verified. */
#define KEEL_NET_RX_IP_CSUM_OK	0x1u	/**< IPv4 header checksum good */
#define KEEL_NET_RX_L4_CSUM_OK	0x2u	/**< UDP checksum good */

/**
 * Classify and validate one received frame (starting at the Ethernet
 * header, without FCS). Nothing is written to the frame; ARP updates the
 * neighbour cache; a drop is counted.
 * \param n the instance.
 * \param frame \p len bytes, any alignment; borrowed for the call.
 * \param flags KEEL_NET_RX_*_CSUM_OK, or 0 to verify everything here.
 * \param now monotonic time in ns (ARP ageing).
 * \param out filled with the result; on a drop only kind and drop are set.
 * \return out->kind.
 */
enum keel_net_rx_kind keel_net_rx(struct keel_net *n, const void *frame, size_t len,
				  unsigned flags, uint64_t now, struct keel_net_rx_result *out);

/**
 * Turn a frame that keel_net_rx classified as KEEL_NET_RX_ARP_REQUEST or
 * KEEL_NET_RX_ICMP_ECHO into its reply, in place.
 * \param frame the classified frame or a copy of it, at least \p cap bytes.
 * \param rx keel_net_rx's result for it.
 * \return the reply's length (to send from \p frame), -EINVAL (another
 *         kind of result) or -ENOSPC (\p cap shorter than the reply).
 */
int keel_net_reply(const struct keel_net *n, void *frame, size_t cap,
		   const struct keel_net_rx_result *rx);

/* Transmit flags. */
/** Leave checksums to the NIC: IPv4 header checksum 0, UDP checksum field
 * set to the folded pseudo-header sum (what DPDK's IP/UDP checksum offload
 * and Linux CHECKSUM_PARTIAL expect). */
#define KEEL_NET_TX_CSUM_OFFLOAD	0x1u
/** keel_net_udp_reply: the payload's bytes and length are those received,
 * so the received UDP checksum still holds and is kept. */
#define KEEL_NET_TX_PAYLOAD_SAME	0x2u

/** Addresses of an outbound datagram. */
struct keel_net_udp_tx {
	uint8_t dst_mac[6];		/**< next hop's MAC (any, if keel_net_tx_resolve sets it) */
	uint32_t src_ip;		/**< network order; 0: our address facing dst_ip */
	uint32_t dst_ip;		/**< network order */
	uint16_t src_port;		/**< network order */
	uint16_t dst_port;		/**< network order */
};

/**
 * Write Ethernet, IPv4 and UDP headers in front of a payload that is already
 * at \p frame + KEEL_NET_UDP_HDRS, with checksums (or for offload).
 * \param frame at least \p cap bytes.
 * \param flags KEEL_NET_TX_CSUM_OFFLOAD or 0.
 * \return the frame length, -EMSGSIZE (the IPv4 packet would exceed the
 *         MTU), -ENOSPC (longer than \p cap) or -EINVAL (NULL, dst_ip 0).
 */
int keel_net_udp_build(const struct keel_net *n, void *frame, size_t cap,
		       const struct keel_net_udp_tx *tx, size_t payload_len, unsigned flags);

/**
 * Turn a received datagram into the reply to its sender, in place: MACs, IP
 * addresses and ports swapped, lengths for \p payload_len bytes of payload
 * (already written at rx->payload_off), checksums. This is the zero-copy echo
 * path: with KEEL_NET_TX_PAYLOAD_SAME the UDP checksum is not recomputed
 * (swapping addresses and ports leaves the one's complement sum unchanged).
 * \param frame the classified frame, at least \p cap bytes.
 * \param rx keel_net_rx's result for it (kind KEEL_NET_RX_UDP).
 * \param flags KEEL_NET_TX_*.
 * \return the reply's length, -EINVAL (not a UDP result), -EMSGSIZE (over
 *         the MTU) or -ENOSPC (longer than \p cap).
 */
int keel_net_udp_reply(const struct keel_net *n, void *frame, size_t cap,
		       const struct keel_net_rx_result *rx, size_t payload_len, unsigned flags);

/** ARP opcodes. */
#define KEEL_NET_ARP_REQUEST	1
#define KEEL_NET_ARP_REPLY	2

/** An ARP packet to build; the sender hardware address is always ours. */
struct keel_net_arp_tx {
	uint16_t op;			/**< KEEL_NET_ARP_REQUEST or _REPLY */
	uint8_t eth_dst[6];		/**< Ethernet destination */
	uint32_t spa;			/**< sender address, network order */
	uint8_t tha[6];			/**< target hardware address (zero in requests) */
	uint32_t tpa;			/**< target address, network order */
};

/**
 * Build an ARP frame of KEEL_NET_ARP_LEN bytes.
 * \return KEEL_NET_ARP_LEN, -ENOSPC (\p cap too small) or -EINVAL (bad op).
 */
int keel_net_arp_build(const struct keel_net *n, void *frame, size_t cap,
		       const struct keel_net_arp_tx *a);

/**
 * Build a broadcast ARP request for \p target_ip (network order), from our
 * address facing it. Counted in tx_arp_requests.
 * \return KEEL_NET_ARP_LEN or -ENOSPC.
 */
int keel_net_arp_request(struct keel_net *n, void *frame, size_t cap, uint32_t target_ip);

/**
 * Build a gratuitous ARP announcing our address number \p index (a
 * broadcast request with sender and target both that address, RFC 5227):
 * drivers send one per address at start so neighbours update their caches.
 * \return KEEL_NET_ARP_LEN, -ENOSPC or -EINVAL (no such address).
 */
int keel_net_arp_announce(const struct keel_net *n, void *frame, size_t cap, unsigned index);

/**
 * The next hop for \p dst (network order): \p dst itself when on one of our
 * subnets, else the gateway.
 * \return the next hop, or 0 when off-link without a gateway.
 */
uint32_t keel_net_route(const struct keel_net *n, uint32_t dst);

/**
 * Whether \p ip (network order) is a broadcast address for \p n: the
 * limited broadcast 255.255.255.255 or the directed broadcast of one of our
 * subnets (prefixes up to /30: /31 and /32 have none, RFC 3021).
 */
bool keel_net_is_broadcast(const struct keel_net *n, uint32_t ip);

/**
 * The rule for an outbound datagram's destination, the same as the
 * kernel's sendto: a broadcast destination needs the socket's broadcast
 * option (SO_BROADCAST), \p broadcast_ok.
 * \return 0, or -EACCES (a broadcast without the option).
 */
int keel_net_tx_check(const struct keel_net *n, uint32_t dst_ip, bool broadcast_ok);

/*
 * The socket rules of the bypass drivers, written once so that xdp and
 * dpdk answer the same mistake with the same error.
 */

/** Whether \p ip (network order) is one of \p n's addresses. */
bool keel_net_is_ours(const struct keel_net *n, uint32_t ip);

/**
 * Whether a UDP socket may be bound to \p addr on \p n.
 * \return 0, -EAFNOSUPPORT (not IPv4), -EADDRNOTAVAIL (an address that is
 * neither the wildcard nor ours).
 */
int keel_net_udp_bind_check(const struct keel_net *n, const struct keel_addr *addr);

/**
 * What a send can be refused for before it takes a buffer: -EAFNOSUPPORT
 * (not IPv4), -EINVAL (address or port 0), -EMSGSIZE (a payload over
 * \p max_payload), -EACCES (a broadcast destination without the socket's
 * broadcast option, \p broadcast_ok), -EHOSTUNREACH (no route, or one of
 * our own addresses); 0: send.
 */
int keel_net_udp_send_check(const struct keel_net *n, const struct keel_addr *to,
			    size_t len, size_t max_payload, bool broadcast_ok);

/** Our address facing \p dst: on its subnet, else on the gateway's, else the first. */
uint32_t keel_net_src_for(const struct keel_net *n, uint32_t dst);

/** keel_net_tx_resolve results. */
#define KEEL_NET_TX_SEND	0	/**< destination MAC filled in: send the frame */
#define KEEL_NET_TX_QUEUED	1	/**< frame copied into the ARP queue: buffer free */

/**
 * Fill in the destination MAC of an outbound IPv4 frame (any dst MAC
 * written so far is replaced): broadcast and multicast destinations map
 * directly, others go through keel_net_route and the neighbour cache. When
 * the next hop is unknown, the frame is copied into the resolution queue
 * (released by keel_net_tx_pending once ARP answers, dropped after
 * arp_retries requests) and an ARP request is built into \p arp if one is
 * due. A neighbour past neigh_ttl_ns is still used while it is re-asked.
 * \param frame an Ethernet + IPv4 frame of \p len bytes.
 * \param now monotonic time in ns.
 * \param arp NULL, or a buffer of \p arp_cap bytes for an ARP request.
 * \param arp_len set to the length of the request in \p arp (send it too),
 *        or 0; may be NULL when \p arp is.
 * \return KEEL_NET_TX_SEND, KEEL_NET_TX_QUEUED, -EINVAL (not an IPv4 frame
 *         of at least 34 bytes), -EHOSTUNREACH (no route, or one of our own
 *         addresses), -ENOBUFS (queue full) or -EMSGSIZE (frame larger than
 *         a queue buffer: 14 + MTU). Drops are counted.
 */
int keel_net_tx_resolve(struct keel_net *n, void *frame, size_t len, uint64_t now,
			void *arp, size_t arp_cap, size_t *arp_len);

/**
 * Take the oldest queued frame whose next hop is now resolved, with its
 * destination MAC filled in. Call until it returns 0 after an rx result
 * with tx_ready set.
 * \param buf receives the frame, \p cap bytes.
 * \return the frame's length, 0 when none is ready, -ENOSPC when the next
 *         one does not fit in \p cap (it stays queued).
 */
int keel_net_tx_pending(struct keel_net *n, void *buf, size_t cap);

/**
 * Timers of the resolution queue: drop frames that have waited too long
 * (counted ARP_TIMEOUT) and build a retransmitted ARP request when one is
 * due. Call it every few ms with the current time, and again while it
 * returns a request. Cheap when nothing waits.
 * \return the length of an ARP request written to \p arp (send it), 0 when
 *         nothing is due, -ENOSPC when one is due and \p arp is NULL or
 *         shorter than KEEL_NET_ARP_LEN.
 */
int keel_net_tick(struct keel_net *n, uint64_t now, void *arp, size_t arp_cap);

/** keel_net_neigh_set flags. */
#define KEEL_NET_NEIGH_STATIC	0x1u	/**< never expires, ARP does not change it */

/**
 * Add or update a neighbour, as if ARP had answered (releasing frames that
 * waited for it), or as a static entry.
 * \return 0, -EINVAL (address not a unicast host address, MAC not
 *         unicast), -EEXIST (a static entry is there and \p flags does not
 *         replace it with another) or -ENOSPC (the cache is full of static
 *         entries).
 */
int keel_net_neigh_set(struct keel_net *n, uint32_t ip, const uint8_t mac[6], uint64_t now,
		       unsigned flags);

/**
 * Look up a resolved neighbour (network-order \p ip); does not queue or ask.
 * \return 0 with \p mac filled, -ENOENT (unknown, unresolved or expired).
 */
int keel_net_neigh_lookup(const struct keel_net *n, uint32_t ip, uint64_t now, uint8_t mac[6]);

/** Forget a neighbour. \return 0 or -ENOENT. */
int keel_net_neigh_del(struct keel_net *n, uint32_t ip);

/** Neighbours in the cache, resolved or not. */
unsigned keel_net_neigh_count(const struct keel_net *n);

/** Sender of a classified datagram as a socket address (AF_INET). */
void keel_net_rx_src_addr(const struct keel_net_rx_result *rx, struct keel_addr *out);

/** Destination of a classified datagram as a socket address (AF_INET). */
void keel_net_rx_dst_addr(const struct keel_net_rx_result *rx, struct keel_addr *out);

/**
 * One's complement sum (RFC 1071) of \p len bytes at any alignment, added to
 * \p sum, not folded and not inverted. Eight bytes per step; the result is in
 * the byte order of the data (store it with memcpy, not htons).
 * \return the running sum, to feed back in or to keel_net_csum_fold.
 */
uint64_t keel_net_csum_partial(const void *buf, size_t len, uint64_t sum);

/** Fold a running sum to 16 bits and invert it: the checksum field value. */
uint16_t keel_net_csum_fold(uint64_t sum);

/**
 * Running sum of the IPv4 pseudo-header: addresses and \p len (the UDP
 * length) in network order, \p proto a protocol number.
 */
uint64_t keel_net_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/**
 * Update checksum field \p csum for one 16-bit word of the covered data
 * changing from \p from to \p to (RFC 1624 eqn. 3). All three as read from
 * the packet with memcpy (network order).
 * \return the new checksum field value.
 */
uint16_t keel_net_csum_replace16(uint16_t csum, uint16_t from, uint16_t to);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_NET_H */
