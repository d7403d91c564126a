/* SPDX-License-Identifier: MIT */
/*
 * What the files of the kernel driver share: the driver instance (one per
 * worker: an epoll set, an unpark eventfd, counters, the list of open
 * handles) and the header every registered file descriptor starts with.
 *
 * Every fd is registered once, edge-triggered, for both directions, in the
 * epoll set of the worker that opened it (its owner). I/O ops try the
 * syscall first and only on EAGAIN leave the task's waker in the handle's
 * read or write slot; the owner's poll/park wakes those slots when epoll
 * reports an edge. An edge that arrives between the EAGAIN and the
 * registration must not be lost; how that is guaranteed depends on the
 * runtime's scheduler:
 *
 * Affine (local, shard): a task stays on its worker, so every wait on a
 * handle comes from the owner's thread, the thread that dispatches its
 * edges. An edge that arrives after the EAGAIN waits in epoll's ready list
 * for the owner's next poll, which runs after the registration: no lock,
 * no atomic read-modify-write. A wait from another worker is a misuse
 * there, refused with -EXDEV.
 *
 * Migrating (pool, steal): a task may wait on any worker while the owner
 * dispatches, so each handle has a spinlock and a sequence number per
 * direction. The dispatch bumps the sequence and takes the waker out under
 * the lock, then wakes it. An I/O op reads the sequence before its
 * syscall; on EAGAIN it takes the lock and registers only if the sequence
 * is unchanged, else retries the syscall (an edge came in between, and
 * with it maybe data). Either the dispatch's critical section comes
 * first, and the op sees a new sequence, or the op's does, and the
 * dispatch finds its waker. A handle closed on another thread than its
 * owner's may still be in an event array the owner is dispatching: its
 * memory goes on the owner's dead list, freed by the owner before its next
 * epoll_wait (after EPOLL_CTL_DEL, so no later wait can return it).
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

/* A spinlock for critical sections of a few instructions (a waker slot, a
 * list link, a free-buffer stack); never held across a syscall. */
struct keel__kspin {
	atomic_flag f;
};

static inline void keel__kspin_lock(struct keel__kspin *l)
{
	while (atomic_flag_test_and_set_explicit(&l->f, memory_order_acquire)) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield");
#endif
	}
}

static inline void keel__kspin_unlock(struct keel__kspin *l)
{
	atomic_flag_clear_explicit(&l->f, memory_order_release);
}

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
	bool ready;	       /* affine, event sources: an edge since the
				  last read */
	/* Woken by EPOLLIN, RDHUP, PRI, HUP, ERR (RD); EPOLLOUT, HUP, ERR
	 * (WR). Migrating: under lock. */
	struct keel_waker waker[2];
	struct keel__kspin lock;   /* migrating: waker[], seq[] stores, the
				      UDP lend pool */
	_Atomic uint32_t seq[2];   /* migrating: edges dispatched */
	struct keel__kio *dead_next; /* migrating: on the owner's dead list */
	void (*free)(struct keel__kio *io); /* close: keel__kernel_del, the
					       handle's own resources, then
					       keel__kernel_retire */
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
 * plain moves, and no data race for the stats call made from another
 * thread. That is exact because each instance has one writer, its
 * worker's thread: the dispatch counters (polls, events, parks, wakeups)
 * are the owner's, and an I/O op counts in the instance of the worker it
 * runs on (keel__kernel_here), which on a migrating runtime need not be
 * the handle's owner.
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
	bool migrating;		   /* the runtime's tasks move between
				      workers (keel_worker_migrating) */
	int epfd;
	int unpark_fd;		   /* eventfd, level-triggered in epfd */
	atomic_bool unpark_armed;  /* a write is in the eventfd, unread */
	struct keel_list open;	   /* every keel__kio not yet closed */
	atomic_uint nopen;	   /* its length, read without the lock */
	struct keel__kspin open_lock; /* migrating: guards open */
	_Atomic(struct keel__kio *) dead; /* migrating: closed elsewhere,
					     to free before epoll_wait */
	unsigned lend_bufs;	   /* zero-copy buffers per UDP socket */
	unsigned lend_bufsize;	   /* bytes each */
	struct keel__kernel_counters stats;
};

/* Register \p io (fd and free set) in \p d's epoll set and open list, on
 * \p d's worker's thread. 0 or -errno. */
int keel__kernel_add(struct keel__kernel *d, struct keel__kio *io);

/* Deregister \p io, close its fd, drop its wakers. Does not free it. */
void keel__kernel_del(struct keel__kio *io);

/* Free the memory of \p io (deregistered), now on an affine runtime, on
 * its owner's thread before its next epoll_wait on a migrating one. */
void keel__kernel_retire(struct keel__kio *io);

/* keel__kernel_wait's "an edge came since the sequence was read: do the
 * syscall again" (no result of an op can take this value). */
#define KEEL__KERNEL_AGAIN (KEEL_PENDING + 1)

/* Syscall attempts before a wait that keeps seeing new edges yields. */
#define KEEL__KERNEL_TRIES 8u

/* The sequence of direction \p dir, read before the syscall whose EAGAIN
 * goes to keel__kernel_wait (0 on affine runtimes, which do not use it). */
static inline uint32_t keel__kernel_seq(struct keel__kio *io, int dir)
{
	if (!io->drv->migrating)
		return 0;
	return atomic_load_explicit(&io->seq[dir], memory_order_acquire);
}

/*
 * The syscall said EAGAIN: leave the waker of \p cx in \p io's \p dir slot
 * and return KEEL_PENDING. \p seq is keel__kernel_seq before the syscall,
 * \p tries the attempts made before this one. Migrating runtimes: returns
 * KEEL__KERNEL_AGAIN when an edge was dispatched since \p seq was read,
 * and after KEEL__KERNEL_TRIES such attempts wakes the task and returns
 * KEEL_PENDING (it polls again later). Affine runtimes: -EXDEV when \p cx
 * runs on another worker than the handle's owner (a misuse: the owner's
 * thread would touch the slot concurrently).
 */
intptr_t keel__kernel_wait(struct keel__kio *io, int dir, uint32_t seq,
			   unsigned tries, struct keel_cx *cx);

/* The instance whose counters the I/O of \p cx on \p io adds to: the
 * handle's owner on affine runtimes, the worker polling \p cx on migrating
 * ones (the same one on affine runtimes, without the lookup). */
static inline struct keel__kernel *keel__kernel_here(struct keel__kio *io,
						     struct keel_cx *cx)
{
	struct keel__kernel *d = io->drv;

	if (d->migrating) {
		struct keel__kernel *h = keel_cx_driver(cx, &keel_drv_kernel);

		if (h)
			d = h;
	}
	return d;
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
