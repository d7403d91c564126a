/* SPDX-License-Identifier: MIT */
/** \file
 * TCP streams and listeners (the kernel driver provides them; a runtime
 * whose drivers have no TCP returns -ENOTSUP).
 *
 * Like the UDP calls, these are poll functions to KEEL_AWAIT. Async connect
 * keeps its progress in the handle.
 */
#ifndef KEEL_TCP_H
#define KEEL_TCP_H

#include <keel/addr.h>
#include <keel/future.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct keel_tcp_ops;

/**
 * A TCP stream or listener handle, caller-owned (embed it in the frame,
 * zero-initialised). Calls on a handle that is not open return -EBADF.
 */
struct keel_worker;

struct keel_tcp {
	const struct keel_tcp_ops *ops; /* NULL: not open */
	void *impl;			/* the driver's socket */
	struct keel_worker *owner;	/* the worker that opened it */
	int connecting;			/* keel_tcp_connect in progress */
};

/**
 * Connect \p c (a closed handle) to \p addr. The handle holds the connection
 * in progress between polls and the open stream once ready with 0. On
 * failure (-ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, -EINVAL, ...) it is
 * closed again.
 */
intptr_t keel_tcp_connect(struct keel_cx *cx, struct keel_tcp *c,
			  const struct keel_addr *addr);

/**
 * Listen on \p addr (SO_REUSEADDR set). \p backlog <= 0 means SOMAXCONN.
 * \return 0, -EADDRINUSE, -EINVAL, -EACCES, ...
 */
int keel_tcp_listen(struct keel_cx *cx, struct keel_tcp *l,
		    const struct keel_addr *addr, int backlog);

/**
 * Accept one connection on listener \p l into \p c (a closed handle).
 * Ready with 0; \p peer may be NULL.
 */
intptr_t keel_tcp_accept(struct keel_cx *cx, struct keel_tcp *l,
			 struct keel_tcp *c, struct keel_addr *peer);

/** Read up to \p len bytes. Ready with the count, 0 at end of stream. */
ssize_t keel_tcp_read(struct keel_cx *cx, struct keel_tcp *c, void *buf,
		      size_t len);

/** Write up to \p len bytes. Ready with the count written (may be short). */
ssize_t keel_tcp_write(struct keel_cx *cx, struct keel_tcp *c,
		       const void *buf, size_t len);

/**
 * Write all \p len bytes. \p *done counts progress between polls: set it to
 * 0 before the first poll. Ready with \p len, or a negative errno.
 */
ssize_t keel_tcp_write_all(struct keel_cx *cx, struct keel_tcp *c,
			   const void *buf, size_t len, size_t *done);

/** shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR. 0 or -errno. */
int keel_tcp_shutdown(struct keel_tcp *c, int how);

int keel_tcp_local_addr(struct keel_tcp *c, struct keel_addr *out);
int keel_tcp_peer_addr(struct keel_tcp *c, struct keel_addr *out);
int keel_tcp_set_nodelay(struct keel_tcp *c, int on);

/** Close a stream or listener. 0, -EBADF when not open, -EINVAL on NULL. */
int keel_tcp_close(struct keel_tcp *c);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_TCP_H */
