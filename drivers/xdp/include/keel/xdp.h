/* SPDX-License-Identifier: MIT */
/** \file
 * The AF_XDP driver: keel's UDP API on AF_XDP sockets, one socket (one
 * NIC queue) per worker, with keel's own XDP program in front of them.
 *
 * The program redirects to the AF_XDP socket only the IPv4 UDP packets for
 * an address keel serves and a port a keel socket holds; ARP, ICMP, TCP,
 * other UDP ports and IPv6 go to the kernel as before, so the interface
 * keeps working for everything keel does not own. Frames for keel are
 * validated and classified by net/ (keel/net.h); every drop is counted.
 *
 * Link it with the `keel_drv_xdp` meson dependency; select it with
 * `--driver=xdp:IFACE[,OPTION...]`, options:
 *   queue=N        first NIC queue; worker i uses queue N+i (default 0)
 *   mode=M         XDP attach mode: native, generic, or auto (default:
 *                  native, falling back to generic)
 *   busy           busy-poll when idle instead of sleeping in poll(2)
 *   ip=A.B.C.D/P   our IPv4 address (default: the interface's addresses)
 *   gw=A.B.C.D     next hop for destinations off the subnet (default none)
 *   frames=N       UMEM frames per worker (default 4096, 1024..65536)
 *   rxq=N          datagrams a socket queues before dropping (default 256)
 * "xdp:IFACE:N" is accepted for "xdp:IFACE,queue=N".
 *
 * Privileges: CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN) to load and
 * attach the program and to create AF_XDP sockets (run as root); without
 * CAP_IPC_LOCK the UMEM counts against RLIMIT_MEMLOCK.
 *
 * Neighbours: the kernel keeps answering ARP on the interface (the program
 * passes ARP), so the kernel's neighbour table is the one source of MAC
 * addresses: the driver follows it over rtnetlink and, for a next hop the
 * kernel does not know yet, asks the kernel to resolve it (NTF_USE), while
 * net/ holds the datagrams waiting for the answer.
 *
 * A socket belongs to the worker it was bound on, and only that worker
 * touches it: on pool and steal a task that uses it is moved there first
 * (keel_cx_home); on local and shard, where tasks never move, a task of
 * another worker gets -EXDEV. Kernel-only socket options return -ENOTSUP.
 */
#ifndef KEEL_XDP_H
#define KEEL_XDP_H

#include <keel/driver.h>
#include <keel/net.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The driver, for keel_cx_driver() and for the link (see driver.h). */
extern const struct keel_driver_ops keel_drv_xdp;

/** Counters of one driver instance (one worker, one queue); monotonic. */
struct keel_xdp_stats {
	/** What every driver reports: rx/tx count datagrams handed to or
	 *  taken from sockets, rx_dropped sums every receive drop below,
	 *  tx_dropped the transmit ones. */
	struct keel_driver_stats base;

	/* receive drops, by reason */
	uint64_t no_socket;	  /**< UDP for a port no socket here holds */
	uint64_t sock_queue_full; /**< the socket's queue (rxq) was full */
	uint64_t not_udp;	  /**< valid frame but not UDP (ARP, ICMP) */
	uint64_t bad_frame;	  /**< net/ dropped it: net.drops says why */
	/* kernel-side (XDP_STATISTICS): frames the kernel could not hand us */
	uint64_t k_rx_dropped;	  /**< no frame for it (fill ring empty), or
				       too long for one */
	uint64_t k_rx_ring_full;  /**< RX ring full: poll did not keep up */
	uint64_t k_fill_empty;	  /**< of k_rx_dropped: fill ring was empty */
	uint64_t k_rx_invalid, k_tx_invalid; /**< bad descriptors */

	/* transmit */
	uint64_t tx_ring_full;	  /**< a send found the TX ring full */
	uint64_t no_frame;	  /**< a send found no free UMEM frame */
	uint64_t tx_arp_wait;	  /**< datagrams that waited for a MAC */
	uint64_t tx_kicks;	  /**< sendto(2) calls to start transmission */

	/* rings and neighbours */
	uint64_t fill_short;	  /**< refills that left the fill ring low */
	uint64_t fill_kicks;	  /**< fill-ring need_wakeup honoured */
	uint64_t neigh_asks;	  /**< next hops asked of the kernel */
	uint64_t neigh_updates;	  /**< kernel neighbour entries applied */

	/* where the UMEM frames are now (gauges, not counters; exact when
	 * read on the worker's own thread) */
	unsigned frames;	  /**< all of them (frames=) */
	unsigned frames_free;	  /**< on the driver's free stack */
	unsigned frames_kernel;	  /**< fill ring and RX ring */
	unsigned frames_tx;	  /**< TX ring until completed */
	unsigned frames_app;	  /**< queued on sockets or lent */

	/** net/'s own counters for this instance (drops by reason). */
	struct keel_net_stats net;

	/* how this instance runs */
	char ifname[IF_NAMESIZE];
	unsigned queue;
	bool native;   /**< XDP program in native (driver) mode, else generic */
	bool zerocopy; /**< AF_XDP zero-copy, else copy mode */
	bool busy;     /**< busy-polls instead of sleeping */
};

/**
 * Read the counters of the XDP driver instance of the worker polling \p cx.
 * \return 0, -EINVAL (NULL argument), -ENOTSUP (the runtime does not run
 *         the XDP driver).
 */
int keel_xdp_stats_get(struct keel_cx *cx, struct keel_xdp_stats *out);

/** Same, from the driver instance itself (keel_cx_driver's result). */
void keel_xdp_stats_read(void *drv, struct keel_xdp_stats *out);

/**
 * Print \p s to \p out: the driver-specific counters and net/'s nonzero
 * drop reasons, one line each, indented to follow
 * keel_runtime_print_stats. A runtime made with `stats` (--stats) prints
 * them at teardown.
 */
void keel_xdp_stats_print(const struct keel_xdp_stats *s, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_XDP_H */
