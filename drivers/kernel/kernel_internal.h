/* SPDX-License-Identifier: MIT */
/*
 * What the files of the kernel driver share: the driver instance (one per
 * worker: an epoll set, an unpark eventfd, counters, the list of open
 * handles) and the header every registered file descriptor starts with.
 *
 * Every fd is registered once, edge-triggered, for both directions, in the
 * epoll set of the worker that opened it (its owner). Core runs every
 * operation on a handle on its owner's thread (keel_cx_home), the thread
 * that also dispatches the handle's edges, so the driver has no locks and
 * no atomic read-modify-write: an I/O op tries the syscall first and only
 * on EAGAIN leaves the task's waker in the handle's read or write slot
 * (keel__kernel_done). An edge that arrives after the EAGAIN waits in
 * epoll's ready list for the owner's next poll, which runs after the
 * registration, so none is lost.
 */
#ifndef KEEL_KERNEL_INTERNAL_H
#define KEEL_KERNEL_INTERNAL_H

#include <keel/driver.h>
#include <keel/kernel.h>
#include <keel/list.h>
#include <keel/stats.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The two directions of a handle: index of its waker slot and sequence. */
enum { KEEL__KIO_RD, KEEL__KIO_WR };

/*
 * The head of every handle registered in the driver's epoll set; epoll's
 * data.ptr points here. The driver owns it; it is freed by the handle's
 * close, or by the driver's destroy when the application leaked it. Every
 * handle is one allocation with this head first.
 */
struct keel__kio {
	struct keel_list link; /* on the owner's open list */
	struct keel__kernel *drv; /* the owner: its epoll set has the fd */
	int fd;
	bool ready;	       /* a read edge since the last look found it
				  empty (event sources, UDP sockets) */
	bool wr_lazy;	       /* EPOLLOUT only while a send waits (UDP) */
	bool wr_armed;	       /* EPOLLOUT is in the epoll set */
	/* Woken by EPOLLIN, RDHUP, PRI, HUP, ERR (RD); EPOLLOUT, HUP, ERR
	 * (WR). */
	struct keel_waker waker[2];
	void (*free)(struct keel__kio *io); /* close: keel__kernel_del, the
					       handle's own resources, then
					       free() */
};

/* Zero-copy buffers of a UDP socket (the kernel has no packet buffers to
 * lend, so the driver lends its own and copies once, in the syscall). */
#define KEEL__KERNEL_BUFS	 64u
#define KEEL__KERNEL_BUFSIZE	 2048u
#define KEEL__KERNEL_MAX_BUFS	 4096u
#define KEEL__KERNEL_MAX_BUFSIZE 65536u

/* Messages per recvmmsg/sendmmsg call (bounded stack use). */
#define KEEL__KERNEL_BATCH 64u

/*
 * recv_from and send_to batch underneath (udp.c): one recvmmsg fills a
 * per-socket receive ring of KEEL__KERNEL_BATCH slots that recv_from
 * drains, and send_to queues up to one fill (1 + KEEL__KERNEL_BATCH) for one
 * sendmmsg. A ring slot keeps KEEL__KERNEL_SLOT bytes in a compact array,
 * the rest of a long datagram in a spill area that only long datagrams
 * touch; a datagram up to KEEL__KERNEL_SLOT bytes is queued for sending
 * (a longer one is sent at once, after what is queued).
 */
#define KEEL__KERNEL_SLOT      2048u
#define KEEL__KERNEL_DGRAM_MAX 65536u

/* Events per epoll_wait: the bound on one poll's work. */
#define KEEL__KERNEL_EVENTS 64

/*
 * Counters are bumped with relaxed loads and stores, not read-modify-write:
 * plain moves, and no data race for the stats call made from another
 * thread. That is exact because each instance has one writer, its
 * worker's thread.
 */
struct keel__kernel_counters {
	_Atomic uint64_t rx_packets, rx_bytes;
	_Atomic uint64_t tx_packets, tx_bytes;
	_Atomic uint64_t rx_truncated, rx_dropped, tx_dropped;
	_Atomic uint64_t polls, events, parks, wakeups;
	/* datagrams the kernel dropped at a UDP socket, mostly for want of
	 * receive buffer (SO_RXQ_OVFL, udp.c); in rx_dropped too */
	_Atomic uint64_t rx_sockbuf_dropped;
};

#define KEEL__KSTAT_ADD(d, field, n) KEEL_STAT_ADD((d)->stats.field, n)

/* The driver instance of one worker. */
struct keel__kernel {
	struct keel_worker *worker;
	int epfd;
	int unpark_fd;		   /* eventfd, level-triggered in epfd */
	atomic_bool unpark_armed;  /* a write is in the eventfd, unread */
	struct keel_list open;	   /* every keel__kio not yet closed */
	unsigned nopen;		   /* its length */
	struct keel_list tx_pending; /* UDP sockets with queued sends */
	unsigned lend_bufs;	   /* zero-copy buffers per UDP socket */
	unsigned lend_bufsize;	   /* bytes each */
	struct keel__kernel_counters stats;
};

/* Register \p io (fd and free set) in \p d's epoll set and open list, on
 * \p d's worker's thread. 0 or -errno. */
int keel__kernel_add(struct keel__kernel *d, struct keel__kio *io);

/* Put EPOLLOUT in \p io's events, if it is not there: a send found no room.
 * A UDP socket (wr_lazy) has it only from then to the edge, so that the
 * room each sent datagram frees is not an edge that ends a park. */
void keel__kernel_want_wr(struct keel__kio *io, struct keel_cx *cx);

/* Deregister \p io, close its fd, drop its wakers. Does not free it. */
void keel__kernel_del(struct keel__kio *io);

/* Send what every UDP socket of \p d has queued (the end of a tick, and
 * before a park): udp.c. */
void keel__kernel_udp_flush(struct keel__kernel *d);

/* A syscall, again while a signal interrupts it. */
#define KEEL__NOINTR(res, call)                                                \
	do                                                                     \
		(res) = (call);                                                \
	while ((res) < 0 && errno == EINTR)

/*
 * The one wait-until-ready step of every I/O op: \p r is what a syscall on
 * \p io for direction \p dir returned (-1 with errno on failure). \return
 * \p r when it succeeded; KEEL_PENDING with the task's waker in the
 * handle's slot when it would block; else -errno.
 */
static inline intptr_t keel__kernel_done(struct keel__kio *io, int dir,
					 struct keel_cx *cx, intptr_t r)
{
	if (r >= 0)
		return r;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return errno > 0 ? -errno : -EIO;
	keel_waker_register(&io->waker[dir], cx);
	if (dir == KEEL__KIO_WR)
		keel__kernel_want_wr(io, cx);
	return KEEL_PENDING;
}

/* Negative errno of the last failed call, never 0. */
static inline int keel__kernel_err(int e)
{
	return e > 0 ? -e : -EIO;
}

int keel__kernel_udp_bind(void *drv, struct keel_udp *s,
			  const struct keel_addr *addr,
			  const struct keel_udp_opts *opts);
int keel__kernel_tcp_connect(void *drv, struct keel_tcp *c,
			     const struct keel_addr *addr);
int keel__kernel_tcp_listen(void *drv, struct keel_tcp *l,
			    const struct keel_addr *addr, int backlog);

/* The kernel driver's socket ops (to recognise its handles). */
extern const struct keel_udp_ops keel__kernel_udp_ops;
extern const struct keel_tcp_ops keel__kernel_tcp_ops;

#endif /* KEEL_KERNEL_INTERNAL_H */
