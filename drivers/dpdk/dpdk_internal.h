/* SPDX-License-Identifier: MIT */
/*
 * What the files of the DPDK driver share: the parsed --driver arguments,
 * the process-wide EAL and port state, the instance (one per worker, one
 * RX/TX queue pair of one port), the socket, and DPDK's own headers.
 *
 * DPDK's headers are included here and nowhere else, so the warnings they
 * trip are silenced in one place, and only for them.
 *
 * Threads: an instance and its sockets belong to the worker thread that
 * polls it; the only other entry points are unpark (any thread, signal
 * handlers included) and stats (any thread: counters are relaxed atomics,
 * net/'s counters are read from a snapshot refreshed every tick). What
 * instances share (EAL, ports, mempools) lives under one mutex and is only
 * touched at create and destroy, except the neighbour inboxes by which
 * the queues of one port tell each other what ARP taught them.
 */
#ifndef KEEL_DPDK_INTERNAL_H
#define KEEL_DPDK_INTERNAL_H

#include <keel/dpdk.h>
#include <keel/list.h>
#include <keel/log.h>
#include <keel/net.h>
#include <keel/stats.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * DPDK 22.11's headers are built with the same extra warnings keel uses
 * (-Wcast-qual, -Wpointer-arith, -Wundef, -Wstrict-prototypes, ...) and
 * compile clean under them with gcc 12, at -O0 to -O3 and with ASan/UBSan,
 * so nothing is silenced. They are included here only: this header is
 * the one place to add a "#pragma GCC diagnostic ignored" if a later DPDK
 * trips one.
 */
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "sock.h"

#define KEEL__DPDK_BURST      32u   /* frames per rx_burst */
#define KEEL__DPDK_MAX_QUEUES 64u   /* queue pairs per port keel uses */
#define KEEL__DPDK_NEIGH_IN   32u   /* neighbour updates waiting per queue */
#define KEEL__DPDK_TICK_NS    1000000u /* ARP timers, stats snapshot */
#define KEEL__DPDK_MIN_FRAME  60u   /* Ethernet minimum without FCS */

/*
 * ThreadSanitizer does not see inside DPDK's (uninstrumented) libraries,
 * so an mbuf handed to another thread through a ring (tx/rx burst, a
 * mempool's shared ring) carries no happens-before edge it knows of.
 * KEEL__DPDK_TSAN(release, m) where keel gives an mbuf away and
 * KEEL__DPDK_TSAN(acquire, m) where it gets one teach it that edge, per
 * mbuf, so races in keel's own code are still caught. Nothing otherwise.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define KEEL__DPDK_TSAN(op, m) __tsan_##op(m)
#else
#define KEEL__DPDK_TSAN(op, m) ((void)(m))
#endif

#define KEEL__DPDK_LIKELY(x)   __builtin_expect(!!(x), 1)
#define KEEL__DPDK_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------ arguments */

/* The --driver=dpdk:ARGS text, parsed (args.c). */
struct keel__dpdk_opts {
	struct keel_net_ifaddr addrs[KEEL_NET_MAX_ADDRS];
	unsigned n_addrs;
	uint32_t gw;		/* network order, 0: none */
	long port_id;		/* -1: by name (port_name) */
	char port_name[RTE_ETH_NAME_MAX_LEN];
	unsigned queues, queue;	/* queue pairs on the port; worker 0's */
	unsigned rxd, txd, mbufs, sockq, txbuf, mtu;
	uint8_t mac[6];
	bool has_mac, busy, csum_sw, garp;
	bool has_queues;	/* queues= given (else: what the port has) */

	/* EAL arguments; eal_argc == 0: none given */
	char *buf;		/* the tokens point into this copy */
	int eal_argc;
	char **eal_argv;
	char *eal_text;		/* as given, for messages and comparison */
	bool user_prefix, user_lcores, user_log;
};

int keel__dpdk_opts_parse(const char *args, struct keel__dpdk_opts *o);
void keel__dpdk_opts_free(struct keel__dpdk_opts *o);

/* ------------------------------------------------------------ EAL, ports */

struct keel__dpdk;

/* A port keel has configured, shared by the instances on its queues. */
struct keel__dpdk_port {
	uint16_t id;
	char name[RTE_ETH_NAME_MAX_LEN];
	unsigned refs;			/* instances on it */
	uint16_t nb_queues;
	unsigned rxd, txd, mbufs;	/* as configured (compared by later users) */
	bool csum_sw;
	uint64_t claimed;		/* queues with an instance */
	struct rte_mempool *pools[KEEL__DPDK_MAX_QUEUES];
	struct rte_ether_addr mac;
	bool mac_generated;		/* the port had none */
	uint16_t mtu;
	bool tx_csum;			/* IPv4 + UDP checksum offload on TX */
	bool rx_ip_csum, rx_l4_csum;	/* RX checksum flags trusted */
	bool rss;
	bool intr_conf;			/* configured with RX queue interrupts */
	bool reported;			/* the startup line was printed */

	/* Neighbour sharing: an instance that learns a MAC by ARP leaves it
	 * in the inbox of the others (ARP replies reach one queue only). */
	pthread_mutex_t neigh_lock;
	struct keel__dpdk *inst[KEEL__DPDK_MAX_QUEUES];
};

/*
 * Start (or join) EAL and get the port \p o names, configured, with queue
 * \p queue claimed for the caller. Prints the cause of any failure.
 * \return 0 or -errno; on success the caller owns one reference, given
 *         back by keel__dpdk_port_release.
 */
int keel__dpdk_port_acquire(const struct keel__dpdk_opts *o, unsigned queue,
			    bool want_intr, struct keel__dpdk_port **out);

/* Give back queue \p queue of \p p; the last user stops the port, and the
 * last user of an EAL keel started cleans it up. */
void keel__dpdk_port_release(struct keel__dpdk_port *p, unsigned queue);

/* Whether keel started EAL in this process (rather than the application). */
bool keel__dpdk_eal_owned(void);

/* ------------------------------------------------------------- instance */

/* Counters bumped on the worker's thread with relaxed load + store (plain
 * moves), read from any thread without a data race. */
struct keel__dpdk_counters {
	_Atomic uint64_t rx_bursts, tx_bursts;
	_Atomic uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
	_Atomic uint64_t rx_udp, rx_udp_bytes, tx_udp, tx_udp_bytes;
	_Atomic uint64_t rx_no_socket, rx_sock_full, rx_multiseg;
	_Atomic uint64_t rx_truncated, tx_full, tx_pending_hwm;
	_Atomic uint64_t mbuf_alloc_failed;
	_Atomic uint64_t arp_replies, icmp_replies, arp_requests, neigh_shared;
	_Atomic uint64_t polls, events, parks, wakeups;
};

#define KEEL__DSTAT_ADD(d, field, n) KEEL_STAT_ADD((d)->stats.field, n)

#define KEEL__NET_STATS_WORDS (sizeof(struct keel_net_stats) / sizeof(uint64_t))

/* A UDP socket of one instance: the shared part (receive queue of mbufs,
 * lent mbufs, wakers, address; keel_udp.impl points at it), then ours. */
struct keel__dpdk_sock {
	struct keel__sock sock;		/* first */
	struct keel__dpdk *d;
};

/*
 * What net/ found in a received datagram, kept for its reply in the
 * mbuf's headroom, just before the frame (as the AF_XDP driver keeps it in
 * its frames' headroom): a reply is written from the frame's start on,
 * never before it. dpdk.c's writable() makes sure the room is there.
 */
#define KEEL__DPDK_META_ROOM                                                   \
	(sizeof(struct keel_net_rx_result) + _Alignof(struct keel_net_rx_result))

static inline struct keel_net_rx_result *keel__dpdk_meta(const struct rte_mbuf *m)
{
	uintptr_t at = rte_pktmbuf_mtod(m, uintptr_t) -
		       sizeof(struct keel_net_rx_result);

	at &= ~(uintptr_t)(_Alignof(struct keel_net_rx_result) - 1);
	return (struct keel_net_rx_result *)at;
}

/* The instance of one worker: queue `queue` of port `port_id`. */
struct keel__dpdk {
	/* hot: the per-packet path */
	uint16_t port_id, queue;
	bool rx_ip_ok, rx_l4_ok;	/* trust the NIC's checksum flags */
	unsigned tx_flags;		/* KEEL_NET_TX_CSUM_OFFLOAD or 0 */
	uint64_t tx_ol_flags;		/* mbuf flags of offloaded UDP frames */
	struct keel_net *net;
	struct rte_mempool *pool;
	struct keel__dpdk_sock **by_port; /* 65536, by port in network order */
	struct rte_mbuf **txq;		/* frames waiting for the TX ring */
	unsigned tx_head, tx_count, tx_mask;
	uint64_t tick_next;		/* TSC of the next keel_net_tick */
	uint64_t tick_period;
	uint64_t ns_mult;		/* ns = tsc * ns_mult >> 32 */
	atomic_bool neigh_pending;

	struct keel_worker *worker;
	struct keel__dpdk_port *port;
	unsigned sockq;			/* receive queue length of a socket */
	unsigned mtu;
	uint16_t next_ephemeral;	/* host order */
	struct keel__socks socks;	/* .wr_waiting: senders waiting for room */
	bool sharing;			/* other queues exist: share neighbours */
	bool warned_nomem;

	/* park */
	bool busy, rx_intr;
	int epfd, efd;			/* rx_intr: epoll set, unpark eventfd */
	struct rte_epoll_event efd_ev;
	atomic_bool unparked;		/* unpark since the last park */
	atomic_bool sleeping;		/* in epoll_wait: unpark writes efd */

	/* neighbours learned by other queues (port->neigh_lock) */
	struct {
		uint32_t ip;
		uint8_t mac[6];
	} neigh_in[KEEL__DPDK_NEIGH_IN];
	unsigned neigh_n;

	struct keel__dpdk_counters stats;
	_Atomic uint64_t net_snap[KEEL__NET_STATS_WORDS];
	pthread_t owner;		/* the thread that polls */
	atomic_bool has_owner;
	bool said_lcore;		/* rte_thread_register failed, said */
	atomic_bool stats_shown;	/* --stats: drops by name at destroy */
};

/* Monotonic nanoseconds from the TSC. */
static inline uint64_t keel__dpdk_ns(const struct keel__dpdk *d, uint64_t tsc)
{
	return (uint64_t)(((unsigned __int128)tsc * d->ns_mult) >> 32);
}

/* Send what waits, as far as the ring takes it; wakes blocked senders. */
void keel__dpdk_tx_flush(struct keel__dpdk *d);

/* Room for one more frame in the pending TX buffer (flushing first). */
static inline bool keel__dpdk_tx_room(struct keel__dpdk *d)
{
	if (KEEL__DPDK_LIKELY(d->tx_count <= d->tx_mask))
		return true;
	keel__dpdk_tx_flush(d);
	return d->tx_count <= d->tx_mask;
}

/* Queue \p m for transmission; keel__dpdk_tx_room must have said yes. A
 * full burst goes out at once, the rest at the end of the next poll. */
static inline void keel__dpdk_tx_push(struct keel__dpdk *d, struct rte_mbuf *m)
{
	d->txq[(d->tx_head + d->tx_count) & d->tx_mask] = m;
	if (++d->tx_count >= KEEL__DPDK_BURST)
		keel__dpdk_tx_flush(d);
}

/* Largest UDP payload in one Ethernet frame at our MTU. */
static inline size_t keel__dpdk_max_payload(const struct keel__dpdk *d)
{
	return d->mtu - 28u;
}

/* An mbuf from the instance's pool, or NULL (counted, reported once). */
struct rte_mbuf *keel__dpdk_alloc(struct keel__dpdk *d);

/* Set the TX offload fields of a UDP frame keel built. */
static inline void keel__dpdk_tx_offload(const struct keel__dpdk *d,
					 struct rte_mbuf *m)
{
	m->ol_flags = d->tx_ol_flags;
	if (d->tx_ol_flags) {
		m->l2_len = 14;
		m->l3_len = 20;
	}
}

/* Hand a frame net/ resolved (or queued for ARP) to the wire: \p m holds
 * an Ethernet + IPv4 frame of its data_len; consumed in every case.
 * \return 0 or the negative errno of keel_net_tx_resolve. */
int keel__dpdk_tx_resolve(struct keel__dpdk *d, struct rte_mbuf *m,
			  uint64_t now);

/* Current time for net/. */
uint64_t keel__dpdk_now(const struct keel__dpdk *d);


/* Sockets (udp.c). */
void keel__dpdk_udp_init(struct keel__dpdk *d);
int keel__dpdk_udp_bind(void *drv, struct keel_udp *s,
			const struct keel_addr *addr,
			const struct keel_udp_opts *opts);
/* Close what the application left open (destroy). */
void keel__dpdk_udp_close_all(struct keel__dpdk *d);

#endif /* KEEL_DPDK_INTERNAL_H */
