/* SPDX-License-Identifier: MIT */
/** \file
 * The kernel-socket driver: non-blocking sockets and one epoll set per
 * worker. It serves the UDP API (recvmmsg/sendmmsg for batches; the
 * zero-copy calls lend buffers of the driver's own), TCP, and an eventfd
 * readiness source that other threads can set.
 *
 * Link it with the `keel_drv_kernel` meson dependency; select it with
 * `--driver=kernel[:ARGS]`, ARGS a comma-separated list of
 *   bufs=N        zero-copy buffers per UDP socket (default 64, 1..4096)
 *   bufsize=BYTES size of each (default 2048, 64..65536)
 *
 * A handle (socket or event source) is registered in the epoll set of the
 * worker it was opened on (an accepted connection: the worker that
 * accepted it), and that worker's poll wakes the tasks that wait on it.
 * Which tasks may wait depends on the runtime's scheduler:
 * - affine (local, shard): tasks never change worker, so a handle is used
 *   by tasks of its own worker only. A task of another worker that has to
 *   wait on it gets -EXDEV; its other calls on it (close, zero-copy
 *   release, ...) would race with the owner's, and are a misuse too;
 * - migrating (pool, steal): any task on any worker may use the handle, as
 *   on a single worker. Each direction still has one waiting task at a
 *   time (one reads, one writes: the two may run on two workers at once);
 *   a close must not race with other calls on the same handle.
 *
 * Counters (keel_driver_stats) are per worker: an I/O call counts in the
 * instance of the worker that ran it (on a migrating runtime, not always
 * the handle's), the poll/park counters in the handle's worker's. rx/tx
 * packets and bytes count UDP datagrams; TCP reads and writes add to the
 * byte counters only. A datagram longer than a zero-copy buffer is
 * dropped, counted in both rx_truncated and rx_dropped (a lent packet has
 * no room to say it was cut). A datagram from a source that cannot take a
 * reply (UDP port 0, the directed broadcast or network address of one of
 * the host's subnets: what the kernel lets through) is dropped, counted
 * in rx_dropped. A datagram the kernel dropped at a UDP socket, nearly
 * always because its receive buffer was full (SO_RCVBUF, keel_udp_opts.
 * rcvbuf), is counted in the driver's extended counter rx_sockbuf_dropped
 * (keel_stats_read, --stats, --metrics) and in rx_dropped; the kernel
 * reports it with the datagrams it queues after it (SO_RXQ_OVFL), read on
 * the first datagram of each receive, so a drop shows at the first
 * receive that begins with a datagram queued after it, and drops after
 * the last datagram a socket receives are never counted.
 *
 * recv_from and send_to batch underneath (docs/drivers.md): recv_from
 * drains a per-socket ring that one recvmmsg fills, and while a socket is
 * in a burst (datagrams left in its ring, or sends queued) send_to queues
 * datagrams up to 2 KiB and is ready with the length; the queue goes out
 * in one sendmmsg before the worker's tick ends, before any other send
 * call on the socket, and at close. A queued datagram the kernel refuses
 * is dropped (tx_dropped) and its error returned, once, by the socket's
 * next send call, which sends nothing.
 */
#ifndef KEEL_KERNEL_H
#define KEEL_KERNEL_H

#include <keel/driver.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The driver, for keel_cx_driver() and for the link (see driver.h). */
extern const struct keel_driver_ops keel_drv_kernel;

/**
 * An eventfd readiness source: any thread (or a signal handler) sets it,
 * one task at a time waits for it (on an affine runtime, a task of the
 * worker that opened it; on a migrating one, any task). Sets coalesce: the
 * wait is ready with how many happened since the last one. Caller-owned
 * handle, zero-initialised; the eventfd behind it belongs to the driver.
 */
struct keel_event {
	void *impl; /* NULL: not open */
};

/**
 * Open \p ev on the kernel driver of the worker polling \p cx.
 * \return 0, -EINVAL (NULL argument), -EBUSY (\p ev already open),
 *         -ENOTSUP (the kernel driver is not in the runtime), -EMFILE,
 *         -ENOMEM.
 */
int keel_event_open(struct keel_cx *cx, struct keel_event *ev);

/**
 * Wait for \p ev to be set. Ready with the number of sets since the last
 * ready (>= 1; the count is reset); else the waker of \p cx is registered
 * and KEEL_PENDING returned. -EBADF when not open, -EINVAL on NULL, -EXDEV
 * from a task on another worker than the opener's on an affine runtime.
 */
intptr_t keel_event_poll(struct keel_cx *cx, struct keel_event *ev);

/**
 * Set \p ev: one write(2). Any thread; async-signal-safe. Must not race
 * with keel_event_close.
 * \return 0, -EBADF when not open, -EINVAL on NULL.
 */
int keel_event_set(struct keel_event *ev);

/**
 * Close \p ev; a task waiting on it is not woken.
 * \return 0, -EBADF when not open, -EINVAL on NULL.
 */
int keel_event_close(struct keel_event *ev);

/**
 * Readiness of a file descriptor of the application's (a pipe, an eventfd,
 * a device), in the manner of tokio's AsyncFd: keel reports that the fd
 * became readable and never reads it; the application does its own I/O
 * and, when that says EAGAIN, clears the readiness and waits again. So a
 * wake costs no syscall beyond the application's own. Caller-owned handle,
 * zero-initialised.
 */
struct keel_fd {
	void *impl; /* NULL: not open */
};

/**
 * Watch \p fd (borrowed: it stays the caller's, open until after
 * keel_fd_close; it should be non-blocking) on the kernel driver of the
 * worker polling \p cx. It starts not ready: epoll reports at once an fd
 * that is readable already.
 * \return 0, -EINVAL (NULL, fd < 0), -EBUSY (\p h already open), -ENOTSUP
 *         (the kernel driver is not in the runtime), -EMFILE, -ENOMEM,
 *         -EPERM (an fd epoll cannot watch, such as a regular file).
 */
int keel_fd_open(struct keel_cx *cx, struct keel_fd *h, int fd);

/**
 * Ready with 0 when the fd became readable (an edge since the last
 * keel_fd_clear_read_ready); else the waker of \p cx is registered and
 * KEEL_PENDING returned. No syscall. -EBADF when not open, -EINVAL on NULL,
 * -EXDEV from another worker's task on an affine runtime.
 */
intptr_t keel_fd_read_ready(struct keel_cx *cx, struct keel_fd *h);

/**
 * The application's read said EAGAIN: forget the readiness that the last
 * ready keel_fd_read_ready reported. An edge that came after that report
 * is kept (the next poll is ready at once), so no wake is lost. Call it
 * in the same poll as the keel_fd_read_ready it answers.
 */
void keel_fd_clear_read_ready(struct keel_fd *h);

/** Stop watching (the fd itself is not closed). 0, -EBADF, -EINVAL. */
int keel_fd_close(struct keel_fd *h);

/**
 * The file descriptor behind a kernel-driver socket, for options keel does
 * not wrap (borrowed: do not close it, do not change O_NONBLOCK).
 * \return the fd, -EBADF when \p s is not open, -ENOTSUP when it belongs to
 *         another driver, -EINVAL on NULL.
 */
int keel_kernel_udp_fd(const struct keel_udp *s);
int keel_kernel_tcp_fd(const struct keel_tcp *c);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_KERNEL_H */
