/* SPDX-License-Identifier: MIT */
/*
 * TCP on kernel sockets: streams and listeners, non-blocking, registered
 * once in the worker's epoll set like every other handle.
 *
 * An asynchronous connect is the one place with state across polls: the
 * socket is writable (or in error) once the handshake ended, and its
 * outcome is read with SO_ERROR then getpeername (SO_ERROR 0 alone does
 * not tell "connected" from "still trying").
 */
#include "kernel_internal.h"

#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct kernel_tcp {
	struct keel__kio io; /* first: epoll's data.ptr points here too */
	bool connecting;     /* connect(2) returned EINPROGRESS */
};

static struct kernel_tcp *tcp_of(void *impl)
{
	return impl;
}

static void tcp_free(struct keel__kio *io)
{
	keel__kernel_del(io);
	free(io);
}

/* Wrap an open fd in a handle registered in \p d; the fd is closed on
 * failure. */
static int tcp_wrap(struct keel__kernel *d, int fd, struct keel_tcp *c,
		    bool connecting);

/* ----------------------------------------------------------------- streams */

static intptr_t tcp_connect_poll(void *impl, struct keel_cx *cx)
{
	struct kernel_tcp *t = tcp_of(impl);
	struct keel_addr peer;
	socklen_t len;
	int err;

	if (!t->connecting)
		return 0;
	err = 0;
	len = sizeof(err);
	if (getsockopt(t->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return keel__kernel_err(errno);
	if (err) {
		t->connecting = false;
		return -err;
	}
	len = sizeof(peer);
	if (getpeername(t->io.fd, &peer.sa, &len) == 0) {
		t->connecting = false;
		return 0;
	}
	if (errno != ENOTCONN)
		return keel__kernel_err(errno);
	/* Still in the handshake: its end is an EPOLLOUT or EPOLLERR edge. */
	errno = EAGAIN;
	return keel__kernel_done(&t->io, KEEL__KIO_WR, cx, -1);
}

static ssize_t tcp_read(void *impl, struct keel_cx *cx, void *buf, size_t len)
{
	struct kernel_tcp *t = tcp_of(impl);
	ssize_t n;

	KEEL__NOINTR(n, recv(t->io.fd, buf, len, 0));
	n = keel__kernel_done(&t->io, KEEL__KIO_RD, cx, n);
	if (n >= 0)
		KEEL__KSTAT_ADD(t->io.drv, rx_bytes, n);
	return n;
}

static ssize_t tcp_write(void *impl, struct keel_cx *cx, const void *buf,
			 size_t len)
{
	struct kernel_tcp *t = tcp_of(impl);
	ssize_t n;

	KEEL__NOINTR(n, send(t->io.fd, buf, len, MSG_NOSIGNAL));
	n = keel__kernel_done(&t->io, KEEL__KIO_WR, cx, n);
	if (n >= 0)
		KEEL__KSTAT_ADD(t->io.drv, tx_bytes, n);
	return n;
}

static int tcp_shutdown(void *impl, int how)
{
	if (shutdown(tcp_of(impl)->io.fd, how) < 0)
		return keel__kernel_err(errno);
	return 0;
}

static int tcp_local_addr(void *impl, struct keel_addr *out)
{
	socklen_t len = sizeof(*out);

	memset(out, 0, sizeof(*out));
	if (getsockname(tcp_of(impl)->io.fd, &out->sa, &len) < 0)
		return keel__kernel_err(errno);
	return 0;
}

static int tcp_peer_addr(void *impl, struct keel_addr *out)
{
	socklen_t len = sizeof(*out);

	memset(out, 0, sizeof(*out));
	if (getpeername(tcp_of(impl)->io.fd, &out->sa, &len) < 0)
		return keel__kernel_err(errno);
	return 0;
}

static int tcp_set_nodelay(void *impl, int on)
{
	if (setsockopt(tcp_of(impl)->io.fd, IPPROTO_TCP, TCP_NODELAY, &on,
		       sizeof(on)) < 0)
		return keel__kernel_err(errno);
	return 0;
}

static void tcp_close(void *impl)
{
	tcp_free(impl);
}

/* -------------------------------------------------------------- listeners */

/* The connection belongs to the listener's worker, where accept runs. */
static intptr_t tcp_accept(void *impl, struct keel_cx *cx, struct keel_tcp *c,
			   struct keel_addr *peer)
{
	struct kernel_tcp *l = tcp_of(impl);
	struct keel_addr tmp;
	socklen_t len;
	intptr_t fd;

	/* A connection reset while it waited in the backlog is not the
	 * listener's failure: take the next one (bounded by the backlog). */
	do {
		len = sizeof(tmp);
		fd = accept4(l->io.fd, &tmp.sa, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
	} while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	fd = keel__kernel_done(&l->io, KEEL__KIO_RD, cx, fd);
	if (fd < 0)
		return fd;
	if (peer) {
		memset(peer, 0, sizeof(*peer));
		memcpy(peer, &tmp, len < sizeof(tmp) ? len : sizeof(tmp));
	}
	return tcp_wrap(l->io.drv, (int)fd, c, false);
}

const struct keel_tcp_ops keel__kernel_tcp_ops = {
	.connect_poll = tcp_connect_poll,
	.accept = tcp_accept,
	.read = tcp_read,
	.write = tcp_write,
	.shutdown = tcp_shutdown,
	.local_addr = tcp_local_addr,
	.peer_addr = tcp_peer_addr,
	.set_nodelay = tcp_set_nodelay,
	.close = tcp_close,
};

static int tcp_wrap(struct keel__kernel *d, int fd, struct keel_tcp *c,
		    bool connecting)
{
	struct kernel_tcp *t;
	int rc;

	t = calloc(1, sizeof(*t));
	if (!t) {
		rc = -ENOMEM;
		goto err_fd;
	}
	t->io.fd = fd;
	t->io.free = tcp_free;
	t->connecting = connecting;
	rc = keel__kernel_add(d, &t->io);
	if (rc < 0)
		goto err_free;
	c->ops = &keel__kernel_tcp_ops;
	c->impl = t;
	return 0;

err_free:
	free(t);
err_fd:
	close(fd);
	return rc;
}

/* ---------------------------------------------------- driver entry points */

int keel__kernel_tcp_connect(void *drv, struct keel_tcp *c,
			     const struct keel_addr *addr)
{
	socklen_t alen = keel_addr_len(addr);
	bool inprogress = false;
	int fd, rc;

	if (!alen)
		return -EINVAL;
	fd = socket(addr->sa.sa_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return keel__kernel_err(errno);
	/* EINTR on a non-blocking connect: the attempt goes on, like
	 * EINPROGRESS; a second connect(2) would only say EALREADY. */
	if (connect(fd, &addr->sa, alen) < 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			rc = keel__kernel_err(errno);
			close(fd);
			return rc;
		}
		inprogress = true;
	}
	return tcp_wrap(drv, fd, c, inprogress);
}

int keel__kernel_tcp_listen(void *drv, struct keel_tcp *l,
			    const struct keel_addr *addr, int backlog)
{
	socklen_t alen = keel_addr_len(addr);
	int fd, rc, one = 1;

	if (!alen)
		return -EINVAL;
	fd = socket(addr->sa.sa_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return keel__kernel_err(errno);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, &addr->sa, alen) < 0 ||
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		rc = keel__kernel_err(errno);
		close(fd);
		return rc;
	}
	return tcp_wrap(drv, fd, l, false);
}

int keel_kernel_tcp_fd(const struct keel_tcp *c)
{
	if (!c)
		return -EINVAL;
	if (!c->ops)
		return -EBADF;
	if (c->ops != &keel__kernel_tcp_ops)
		return -ENOTSUP;
	return ((const struct kernel_tcp *)c->impl)->io.fd;
}
