/* SPDX-License-Identifier: MIT */
/** \file
 * The DPDK driver: keel's UDP API on any DPDK poll-mode driver (a NIC bound
 * to vfio-pci, or a virtual device: net_af_packet, net_tap, net_af_xdp,
 * net_memif, net_ring, net_null). keel's net/ answers ARP and ICMP echo:
 * there is no kernel behind the port.
 *
 * Chosen with --driver=dpdk:ARGS. ARGS are whitespace-separated tokens:
 *
 *     dpdk:KEEL-OPTIONS -- EAL-ARGS    keel options, then rte_eal_init's
 *     dpdk:EAL-ARGS                    (first token starts with '-')
 *     dpdk:KEEL-OPTIONS                EAL already running in the process
 *
 * KEEL-OPTIONS are key=value, separated by commas or spaces:
 *
 *     ip=A.B.C.D/LEN   our address (required; up to 4 times)
 *     gw=A.B.C.D       next hop off-link
 *     port=N|NAME      ethdev port id or device name (0)
 *     queues=N         RX/TX queue pairs configured on the port (1)
 *     queue=N          queue of worker 0; worker i uses queue N+i (0)
 *     rxd=N txd=N      descriptors per queue (512, 512)
 *     mbufs=N          mbufs per queue (from rxd, txd, txbuf and sockq)
 *     sockq=N          datagrams a socket queues before dropping (512)
 *     txbuf=N          frames waiting for a full TX ring, per queue (256)
 *     mtu=N            largest IPv4 packet sent (the port's MTU, <= 1500)
 *     mac=XX:..:XX     our MAC (the port's)
 *     park=busy|sleep  idle workers spin, or sleep on RX interrupts where
 *                      the PMD has them, else nap with back-off (busy)
 *     csum=auto|sw     checksum offloads when advertised, or software (auto)
 *     garp=0|1         announce our addresses at start (1)
 *
 * EAL is started once per process, by the first instance, with the given
 * EAL-ARGS plus a generated --file-prefix=keel-PID (unless one is given;
 * its runtime directory is removed at cleanup, and those of dead keel
 * processes at the next start), -l CPU (unless an lcore option is given;
 * the thread's CPU affinity is restored afterwards) and --log-level=notice
 * (unless one is given). It is cleaned up (rte_eal_cleanup) when the last
 * instance is destroyed, and cannot be started again in that process: a
 * later runtime gets -EALREADY. When the application started EAL itself,
 * give keel options only: keel uses that EAL and the port, and leaves both
 * to the application (the port is stopped at the end, not closed).
 *
 * Sockets are IPv4, per worker (each worker binds its own, as with
 * SO_REUSEPORT): a datagram that RSS puts on a queue whose worker has no
 * socket for its port is dropped and counted. A handle is used on the
 * worker it was bound on: on pool and steal a task that uses it is moved
 * there first (keel_cx_home); on local and shard a task of another worker
 * gets -EXDEV. Kernel socket options return -ENOTSUP.
 */
#ifndef KEEL_DPDK_H
#define KEEL_DPDK_H

#include <keel/driver.h>
#include <keel/net.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The driver's ops table: --driver=dpdk:... */
extern const struct keel_driver_ops keel_drv_dpdk;

/** Counters of one instance (one queue of one port). */
struct keel_dpdk_stats {
	uint64_t rx_bursts;	     /**< rx_burst calls that returned frames */
	uint64_t tx_bursts;	     /**< tx_burst calls */
	/** every frame of this queue, ARP and ICMP too, and their bytes
	 * (keel_driver_stats' rx/tx_packets count datagrams) */
	uint64_t rx_frames, rx_bytes;
	uint64_t tx_frames, tx_bytes;
	uint64_t rx_udp;	     /**< datagrams queued to a socket */
	uint64_t tx_udp;	     /**< datagrams taken by tx_burst */
	uint64_t rx_no_socket;	     /**< UDP to a port no socket of this worker has */
	uint64_t rx_sock_full;	     /**< dropped: the socket's queue was full */
	uint64_t rx_multiseg;	     /**< dropped: frame in several mbufs */
	uint64_t rx_truncated;	     /**< datagrams cut to the caller's buffer */
	uint64_t tx_full;	     /**< dropped: TX ring and pending buffer full */
	uint64_t tx_pending_hwm;     /**< most frames ever waiting for the ring */
	uint64_t mbuf_alloc_failed;  /**< keel's own allocations: pool empty */
	uint64_t arp_replies;	     /**< ARP requests answered */
	uint64_t icmp_replies;	     /**< ICMP echo requests answered */
	uint64_t arp_requests;	     /**< ARP requests sent (resolution, retries) */
	uint64_t neigh_shared;	     /**< neighbours learned by another queue */
	/* port-wide (all queues), from rte_eth_stats_get */
	uint64_t port_rx_nombuf;     /**< PMD could not refill: pool empty */
	uint64_t port_imissed;	     /**< NIC dropped: RX ring full */
	uint64_t port_ierrors, port_oerrors;
	/** net/'s counters of this instance (drops by reason, ARP, ...) */
	struct keel_net_stats net;
};

/** What an instance runs with. */
struct keel_dpdk_info {
	uint16_t port;		/**< ethdev port id */
	uint16_t queue;		/**< RX/TX queue pair of this worker */
	uint16_t nb_queues;	/**< queue pairs on the port */
	uint8_t mac[6];		/**< our MAC */
	unsigned mtu;		/**< largest IPv4 packet sent */
	bool tx_csum_offload;	/**< IPv4/UDP checksums left to the NIC */
	bool rx_csum_offload;	/**< NIC-verified checksums trusted */
	bool rss;		/**< RSS spreads RX over the queues */
	bool rx_intr;		/**< park sleeps on RX interrupts */
	bool busy_poll;		/**< park spins */
	bool eal_owned;		/**< keel started EAL (and cleans it up) */
};

/**
 * Counters of the DPDK instance of the worker polling \p cx.
 * \return 0, -EINVAL (NULL), -ENOENT (the runtime has no DPDK driver).
 */
int keel_dpdk_stats_get(struct keel_cx *cx, struct keel_dpdk_stats *out);

/**
 * Setup of the DPDK instance of the worker polling \p cx.
 * \return 0, -EINVAL (NULL), -ENOENT (the runtime has no DPDK driver).
 */
int keel_dpdk_info_get(struct keel_cx *cx, struct keel_dpdk_info *out);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_DPDK_H */
