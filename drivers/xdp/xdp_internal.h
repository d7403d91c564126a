/* SPDX-License-Identifier: MIT */
/*
 * What the files of the AF_XDP driver share: the driver instance (one per
 * worker: one queue, its UMEM and rings, its net/ instance, its sockets),
 * the UDP socket, the per-interface XDP program, and the frame accounting.
 *
 * UMEM layout: `nframes` frames of `frame_size` bytes (2048, or 4096 for
 * MTUs above 1714), aligned mode. Each frame starts with KEEL__XDP_HEADROOM
 * bytes of ours (struct keel__xdp_meta: net/'s classification of the
 * datagram in it), then the kernel's XDP_PACKET_HEADROOM, then the packet
 * at KEEL__XDP_DATA_OFF. Received and transmitted frames use the same
 * offset, so a received frame can be turned into its reply in place.
 *
 * Every frame is in exactly one place, tracked in `state`: the free stack,
 * the kernel (fill ring, RX ring), a socket (its receive queue, or lent to
 * the application: drivers/common/sock.h keeps which), or transmitting (TX
 * ring until the completion ring gives it back). The fill ring never takes
 * the last KEEL__XDP_TX_RESERVE free frames, so a flood cannot starve
 * transmission.
 *
 * Everything but unpark, the stats call and the program registry runs on
 * the worker's thread: no locks on the per-packet path.
 */
#ifndef KEEL_XDP_INTERNAL_H
#define KEEL_XDP_INTERNAL_H

#include <keel/driver.h>
#include <keel/list.h>
#include <keel/log.h>
#include <keel/net.h>
#include <keel/stats.h>
#include <keel/xdp.h>

#include <errno.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* libxdp's ring helpers are inline in its header and trip warnings keel
 * builds with; silence them for this include only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wpointer-arith"
#include <xdp/xsk.h>
#pragma GCC diagnostic pop

#include "keel_xdp_maps.h"
#include "sock.h"

#define KEEL__XDP_RING	       2048u /* entries of each ring */
#define KEEL__XDP_FRAMES       4096u /* default UMEM frames per worker */
#define KEEL__XDP_MIN_FRAMES   1024u
#define KEEL__XDP_MAX_FRAMES   65536u
#define KEEL__XDP_HEADROOM     64u   /* ours, at the frame's start */
#define KEEL__XDP_DATA_OFF     (KEEL__XDP_HEADROOM + XDP_PACKET_HEADROOM)
#define KEEL__XDP_BATCH	       64u   /* descriptors per ring peek */
#define KEEL__XDP_TX_RESERVE   256u  /* free frames the fill ring leaves */
#define KEEL__XDP_RXQ	       256u  /* default socket receive queue */
#define KEEL__XDP_MAX_RXQ      16384u
#define KEEL__XDP_PORT_BUCKETS 64u

/* Where a frame is (state[frame index]). */
enum {
	KEEL__F_FREE = 0, /* on the free stack */
	KEEL__F_BUSY,	  /* taken by the driver, being filled or handled */
	KEEL__F_KERNEL,	  /* fill ring or RX ring */
	KEEL__F_SOCK,	  /* a socket's: queued, or lent to the application */
	KEEL__F_TX,	  /* TX ring, until the completion ring */
};

/* In the headroom of a received frame: what net/ found in it. */
struct keel__xdp_meta {
	struct keel_net_rx_result rx;
};

_Static_assert(sizeof(struct keel__xdp_meta) <= KEEL__XDP_HEADROOM,
	       "frame metadata must fit the UMEM headroom");

enum keel__xdp_mode { KEEL__XDP_AUTO, KEEL__XDP_NATIVE, KEEL__XDP_GENERIC };

/* The XDP program of one interface, shared by the instances (queues) of
 * the process that use it; see prog.c. */
struct keel__xdp_prog;

/* Counters: relaxed loads and stores from the worker's thread only, so the
 * stats call from another thread reads them without a data race. */
struct keel__xdp_counters {
	_Atomic uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	_Atomic uint64_t rx_truncated, tx_errors;
	_Atomic uint64_t polls, events, parks, wakeups;
	_Atomic uint64_t no_socket, sock_queue_full, not_udp;
	_Atomic uint64_t tx_ring_full, no_frame, tx_arp_wait, tx_kicks;
	_Atomic uint64_t fill_short, fill_kicks, neigh_asks, neigh_updates;
};

#define KEEL__XSTAT_ADD(d, field, n) KEEL_STAT_ADD((d)->stats.field, n)

struct keel__xdp_udp;

/* The driver instance of one worker. */
struct keel__xdp {
	struct keel_worker *worker;

	/* configuration */
	char ifname[IF_NAMESIZE];
	int ifindex;
	unsigned queue;
	enum keel__xdp_mode mode;
	bool busy;
	unsigned nframes, frame_size, rxq_len, mtu;
	struct keel_net *net;
	struct keel__xdp_prog *prog;

	/* UMEM and rings */
	uint8_t *area;
	size_t area_size;
	struct xsk_umem *umem;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	int fd;
	bool zerocopy;
	bool tx_kick;	     /* descriptors submitted since the last kick */

	/* frames */
	uint64_t *free;	     /* stack of free frame addresses */
	unsigned nfree;
	unsigned in_kernel;  /* fill ring + RX ring */
	unsigned in_tx;	     /* TX ring + awaiting completion */
	uint8_t *state;	     /* KEEL__F_* per frame */

	/* sockets (socks.wr_waiting: sockets with a writer waiting for room) */
	struct keel__socks socks;
	struct keel__xdp_udp *by_port[KEEL__XDP_PORT_BUCKETS];

	/* park / unpark */
	int unpark_fd;
	int pfd;      /* epoll set: the wait beside other drivers; -1 */
	bool pfd_out; /* it asks for POLLOUT on the socket */
	atomic_bool unpark_armed;

	/* neighbours, from the kernel over rtnetlink (neigh.c) */
	int nl_fd;
	uint32_t nl_seq;
	uint64_t nl_next;	  /* next time poll reads the socket */
	uint64_t nl_asking_until; /* read it often until then */
	bool tx_released;	  /* net/ has frames ready to send */

	uint64_t now; /* CLOCK_MONOTONIC ns, taken each poll */
	atomic_bool stats_shown; /* the stats op ran: print ours at destroy */
	struct keel__xdp_counters stats;
};

/* A UDP socket: the shared part (queue of received frames, lent frames,
 * wakers, address), then the port's. keel_udp.impl points at sock. */
struct keel__xdp_udp {
	struct keel__sock sock;	     /* first */
	struct keel__xdp_udp *next;  /* port bucket chain */
	struct keel__xdp *drv;
	int resv_fd;		     /* kernel socket holding the port */
};

/* ------------------------------------------------------------- helpers */

/* CLOCK_MONOTONIC, ns. */
static inline uint64_t keel__xdp_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t keel__xdp_chunk(const struct keel__xdp *d,
				       uint64_t addr)
{
	return addr & ~(uint64_t)(d->frame_size - 1);
}

static inline unsigned keel__xdp_index(const struct keel__xdp *d,
				       uint64_t addr)
{
	return (unsigned)(addr / d->frame_size);
}

static inline struct keel__xdp_meta *keel__xdp_meta(const struct keel__xdp *d,
						    uint64_t addr)
{
	return (struct keel__xdp_meta *)(void *)(d->area +
						 keel__xdp_chunk(d, addr));
}

/* Bytes from \p addr to the end of its frame. */
static inline uint32_t keel__xdp_room(const struct keel__xdp *d,
				      uint64_t addr)
{
	return (uint32_t)(d->frame_size - (addr - keel__xdp_chunk(d, addr)));
}


/* ---------------------------------------------------------- umem.c */

/* Frames and rings: the bottom of the driver, calling nothing above it. */
int keel__xdp_umem_open(struct keel__xdp *d);
void keel__xdp_umem_close(struct keel__xdp *d);
/* A free frame's address (its start), or UINT64_MAX. */
uint64_t keel__xdp_frame_get(struct keel__xdp *d);
/* Back to the free stack: any address inside the frame. */
void keel__xdp_frame_put(struct keel__xdp *d, uint64_t addr);
/* Take back what the completion ring returned; how many. The caller
 * wakes writers waiting for room (keel__xdp_wake_writers). */
unsigned keel__xdp_complete(struct keel__xdp *d);
/* Give free frames to the fill ring. */
void keel__xdp_refill(struct keel__xdp *d);
/* Free TX ring slots (at most \p want). */
unsigned keel__xdp_tx_room(struct keel__xdp *d, unsigned want);
/* Put \p n frames on the TX ring (room checked by the caller). */
void keel__xdp_tx_submit(struct keel__xdp *d, const uint64_t *addr,
			 const uint32_t *len, unsigned n);
/* Tell the kernel to transmit what the TX ring holds, if it needs it;
 * how many completions that took back (wake writers as above). */
unsigned keel__xdp_kick(struct keel__xdp *d);

/* ---------------------------------------------------------- udp.c */

int keel__xdp_udp_bind(void *drv, struct keel_udp *s,
		       const struct keel_addr *addr,
		       const struct keel_udp_opts *opts);
/* Queue a classified datagram (frame at \p addr) on its socket, or drop. */
void keel__xdp_udp_deliver(struct keel__xdp *d, uint64_t addr,
			   const struct keel_net_rx_result *rx);
/* Set up d->socks (create). */
void keel__xdp_udp_init(struct keel__xdp *d);
/* Close what the application left open (destroy). */
void keel__xdp_udp_close_all(struct keel__xdp *d);

/* ---------------------------------------------------------- prog.c */

/* Load and attach the program on d's interface, or share the one this
 * process attached; register d's addresses. 0 or -errno (message printed). */
int keel__xdp_prog_get(struct keel__xdp *d);
void keel__xdp_prog_put(struct keel__xdp *d);
/* Whether the program runs in native mode. */
bool keel__xdp_prog_native(const struct keel__xdp_prog *p);
/* Point queue \p queue's XSKMAP slot at \p fd (-1: clear it). */
int keel__xdp_prog_set_xsk(struct keel__xdp_prog *p, unsigned queue, int fd);
/* Count a socket on \p port (host order) in the port map, or uncount it. */
int keel__xdp_port_hold(struct keel__xdp_prog *p, uint16_t port);
void keel__xdp_port_release(struct keel__xdp_prog *p, uint16_t port);

/* ---------------------------------------------------------- neigh.c */

int keel__xdp_neigh_open(struct keel__xdp *d);
void keel__xdp_neigh_close(struct keel__xdp *d);
/* Ask the kernel for the MAC of \p ip (network order). */
void keel__xdp_neigh_ask(struct keel__xdp *d, uint32_t ip);
/* Read what the kernel said; \return messages handled. */
unsigned keel__xdp_neigh_input(struct keel__xdp *d);

#endif /* KEEL_XDP_INTERNAL_H */
