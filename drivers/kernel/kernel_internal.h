/* SPDX-License-Identifier: MIT */
/*
 * What the files of the kernel driver share: the driver instance (one per
 * worker: an epoll set, an unpark eventfd, counters, the list of open
 * handles) and the header every registered file descriptor starts with.
 *
 * Every fd is registered once, edge-triggered, for both directions. I/O
 * ops try the syscall first and only on EAGAIN leave the task's waker in
 * the handle's rd or wr slot; poll/park wake those slots when epoll reports
 * an edge. Both happen on the worker's thread, so an edge that arrives
 * between the EAGAIN and the registration waits in epoll's ready list for
 * the next poll: no wakeup is lost, and no lock is needed.
 */
#ifndef KEEL_KERNEL_INTERNAL_H
#define KEEL_KERNEL_INTERNAL_H

#include <keel/driver.h>
#include <keel/kernel.h>
#include <keel/list.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The head of every handle registered in the driver's epoll set; epoll's
 * data.ptr points here. The driver owns it; it is freed by the handle's
 * close, or by the driver's destroy when the application leaked it.
 */
struct keel__kio {
	struct keel_list link; /* on the driver's open list */
	struct keel__kernel *drv;
	int fd;
	bool ready;	       /* event sources: an edge since the last read */
	struct keel_waker rd;  /* woken by EPOLLIN, RDHUP, HUP, ERR */
	struct keel_waker wr;  /* woken by EPOLLOUT, HUP, ERR */
	void (*free)(struct keel__kio *io); /* teardown of a leaked handle */
};

/* Zero-copy buffers of a UDP socket (the kernel has no packet buffers to
 * lend, so the driver lends its own and copies once, in the syscall). */
#define KEEL__KERNEL_BUFS	 64u
#define KEEL__KERNEL_BUFSIZE	 2048u
#define KEEL__KERNEL_MAX_BUFS	 4096u
#define KEEL__KERNEL_MAX_BUFSIZE 65536u

/* Messages per recvmmsg/sendmmsg call (bounded stack use). */
#define KEEL__KERNEL_BATCH 64u

/* Events per epoll_wait: the bound on one poll's work. */
#define KEEL__KERNEL_EVENTS 64

/*
 * Counters are bumped with relaxed loads and stores, not read-modify-write:
 * plain moves on the worker's thread, and no data race for the stats call
 * made from another one.
 */
struct keel__kernel_counters {
	_Atomic uint64_t rx_packets, rx_bytes;
	_Atomic uint64_t tx_packets, tx_bytes;
	_Atomic uint64_t rx_truncated, rx_dropped, tx_dropped;
	_Atomic uint64_t polls, events, parks, wakeups;
};

#define KEEL__KSTAT_ADD(d, field, n)                                           \
	atomic_store_explicit(                                                 \
		&(d)->stats.field,                                             \
		atomic_load_explicit(&(d)->stats.field, memory_order_relaxed) + \
			(uint64_t)(n),                                         \
		memory_order_relaxed)

/* The driver instance of one worker. */
struct keel__kernel {
	struct keel_worker *worker;
	int epfd;
	int unpark_fd;		   /* eventfd, level-triggered in epfd */
	atomic_bool unpark_armed;  /* a write is in the eventfd, unread */
	struct keel_list open;	   /* every keel__kio not yet closed */
	unsigned lend_bufs;	   /* zero-copy buffers per UDP socket */
	unsigned lend_bufsize;	   /* bytes each */
	struct keel__kernel_counters stats;
};

/* Register \p io (fd and free set) in \p d's epoll set and open list.
 * 0 or -errno. */
int keel__kernel_add(struct keel__kernel *d, struct keel__kio *io);

/* Deregister \p io, close its fd, drop its wakers. Does not free it. */
void keel__kernel_del(struct keel__kio *io);

/*
 * Leave the waker of \p cx in \p slot and return KEEL_PENDING; -EXDEV when
 * \p cx runs on another worker than the one the handle was opened on (its
 * epoll set would wake it from the wrong thread, racing on the slot).
 */
intptr_t keel__kernel_wait(struct keel__kio *io, struct keel_waker *slot,
			   struct keel_cx *cx);

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
