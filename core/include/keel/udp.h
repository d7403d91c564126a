/* SPDX-License-Identifier: MIT */
/** \file
 * The UDP socket API, the same on every driver.
 *
 * A socket is bound on the worker polling the given cx, through the driver
 * chosen for the runtime (--driver=...). The I/O calls are poll functions:
 * they do the work when they can and return its result, or register the
 * caller's waker and return KEEL_PENDING; KEEL_AWAIT them. One task waits
 * for reading and one for writing at a time (the last registered is woken).
 *
 * Three ways to move datagrams, all on every driver:
 * - recv_from / send_to: one datagram, copied;
 * - recv_batch / send_batch: many datagrams per call, copied
 *   (recvmmsg/sendmmsg on the kernel driver);
 * - recv_lend / send_lent / release: zero-copy, the driver lends its packet
 *   buffers; a reply can be written in place and sent from the same buffer.
 *
 * Kernel-specific options (TTL, multicast, SO_REUSEPORT) work on the
 * kernel driver and return -ENOTSUP on the others. The broadcast option is
 * on every driver: a send to a broadcast address without it is -EACCES.
 */
#ifndef KEEL_UDP_H
#define KEEL_UDP_H

#include <keel/addr.h>
#include <keel/future.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct keel_udp_ops;
struct keel_worker;

/**
 * A UDP socket handle, caller-owned (embed it in the frame). keel_udp_bind
 * opens it, keel_udp_close closes it; every call on a handle that is not
 * open (never bound, or closed) returns -EBADF, so a double close is an
 * error, not a crash. The socket itself belongs to the driver.
 */
struct keel_udp {
	const struct keel_udp_ops *ops; /* NULL: not open */
	void *impl;			/* the driver's socket */
	struct keel_worker *owner;	/* the worker that opened it */
};

/** Options of keel_udp_bind. Zero-initialised means defaults. */
struct keel_udp_opts {
	unsigned reuseport : 1; /* SO_REUSEPORT (kernel driver) */
	unsigned v6only : 1;	/* IPV6_V6ONLY on an IPv6 socket */
	unsigned rcvbuf;	/* SO_RCVBUF bytes, 0: system default */
	unsigned sndbuf;	/* SO_SNDBUF bytes, 0: system default */
};

/** One datagram of a batch: the caller's buffer and the peer. */
struct keel_dgram {
	void *buf;		/* in: buffer */
	size_t cap;		/* in: its capacity (recv) / bytes to send */
	size_t len;		/* out (recv): bytes received */
	struct keel_addr peer;	/* out (recv) / in (send) */
	unsigned flags;		/* out (recv): KEEL_DGRAM_TRUNC */
};

/** The datagram was longer than the buffer; len is what was kept. */
#define KEEL_DGRAM_TRUNC 1u

/**
 * A packet buffer lent by the driver (zero-copy). data/len describe the
 * payload; the application may rewrite it in place, up to cap bytes, and
 * set len and peer before send_lent.
 */
struct keel_pkt {
	void *data;
	uint32_t len;
	uint32_t cap;
	struct keel_addr peer;
	uintptr_t priv[2]; /* the driver's */
};

/**
 * Bind a UDP socket to \p addr on the runtime's driver; \p opts may be NULL.
 * \return 0, -EINVAL (bad argument), -EBUSY (\p s already open),
 *         -EADDRINUSE, -EACCES, -EAFNOSUPPORT, -ENOMEM, or another negative
 *         errno from the driver.
 */
int keel_udp_bind(struct keel_cx *cx, struct keel_udp *s,
		  const struct keel_addr *addr,
		  const struct keel_udp_opts *opts);

/**
 * Close. A task waiting on the socket is not woken (it owns the socket and
 * is the one closing it, or it is being cancelled).
 * \return 0, -EBADF when \p s is not open, -EINVAL when NULL.
 */
int keel_udp_close(struct keel_udp *s);

/** The bound address (with the port the system chose). 0 or -errno. */
int keel_udp_local_addr(struct keel_udp *s, struct keel_addr *out);

/**
 * Receive one datagram into \p buf. Ready with its length; a datagram longer
 * than \p len is cut to \p len and -EMSGSIZE is returned (the datagram is
 * consumed: truncation is reported, never silent). \p from may be NULL.
 * -EINVAL for a NULL buffer with len > 0, -EBADF on a closed socket.
 */
ssize_t keel_udp_recv_from(struct keel_cx *cx, struct keel_udp *s, void *buf,
			   size_t len, struct keel_addr *from);

/** Send one datagram. Ready with the bytes sent. -EINVAL, -EMSGSIZE, ... */
ssize_t keel_udp_send_to(struct keel_cx *cx, struct keel_udp *s,
			 const void *buf, size_t len,
			 const struct keel_addr *to);

/**
 * Receive up to \p n datagrams. Ready with the count received (>= 1);
 * truncated ones carry KEEL_DGRAM_TRUNC.
 */
ssize_t keel_udp_recv_batch(struct keel_cx *cx, struct keel_udp *s,
			    struct keel_dgram *v, unsigned n);

/** Send up to \p n datagrams. Ready with the count sent (>= 1). */
ssize_t keel_udp_send_batch(struct keel_cx *cx, struct keel_udp *s,
			    const struct keel_dgram *v, unsigned n);

/**
 * Zero-copy receive: lend up to \p n received packets. Ready with the count.
 * Each lent packet goes back through send_lent or release.
 */
ssize_t keel_udp_recv_lend(struct keel_cx *cx, struct keel_udp *s,
			   struct keel_pkt *pkts, unsigned n);

/**
 * Send lent packets as they are now (data, len, peer). Ready with the count
 * sent; those sent go back to the driver, the rest stay the caller's.
 */
ssize_t keel_udp_send_lent(struct keel_cx *cx, struct keel_udp *s,
			   struct keel_pkt *pkts, unsigned n);

/** Give lent packets back without sending them. */
int keel_udp_release(struct keel_udp *s, struct keel_pkt *pkts, unsigned n);

/**
 * Connect \p s to \p peer (connect(2) on the kernel driver): the socket
 * then receives only \p peer's datagrams, and an ICMP "port unreachable"
 * from it makes the next receive fail with -ECONNREFUSED. send_to still
 * takes an address. Only the kernel driver has it: the others return
 * -ENOTSUP, and a client there filters by peer itself (keel_udp_request
 * always does, so it works the same with or without a connect).
 * \return 0, -EINVAL, -EBADF, -ENOTSUP, or connect(2)'s errno.
 */
int keel_udp_connect(struct keel_udp *s, const struct keel_addr *peer);

/* Kernel-specific options: -ENOTSUP on drivers without them. */
int keel_udp_set_ttl(struct keel_udp *s, int ttl);
int keel_udp_set_broadcast(struct keel_udp *s, int on);
/** Join/leave \p group (IPv4 or IPv6) on interface \p ifindex (0: any). */
int keel_udp_join(struct keel_udp *s, const struct keel_addr *group,
		  unsigned ifindex);
int keel_udp_leave(struct keel_udp *s, const struct keel_addr *group,
		   unsigned ifindex);
int keel_udp_set_multicast_loop(struct keel_udp *s, int on);
int keel_udp_set_multicast_ttl(struct keel_udp *s, int ttl);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_UDP_H */
