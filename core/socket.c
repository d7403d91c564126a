/* SPDX-License-Identifier: MIT */
/*
 * The socket front end, the driver-independent socket API: argument
 * checks, ownership, the cooperative budget (keel_coop), then one indirect
 * call into the socket's driver. A handle that is not open gives -EBADF, a
 * NULL handle or bad argument -EINVAL, an op the driver lacks -ENOTSUP.
 *
 * Ownership: a handle belongs to the worker whose task opened it (an
 * accepted connection to its listener's). Every operation runs on that
 * worker's thread, so a driver is single-threaded: a task polled elsewhere
 * is first moved home (keel_cx_home: pending now, polled next on the
 * owner), and a close from another worker is run by the owner.
 */
#include "core_internal.h"

#include <errno.h>
#include <sys/socket.h>

static bool valid_family(const struct keel_addr *a)
{
	return a && (a->sa.sa_family == AF_INET || a->sa.sa_family == AF_INET6);
}

/* Run the rest of this operation on \p h's owner (see above). */
#define HOME(cx, h)                                                            \
	do {                                                                   \
		if ((h)->owner != (cx)->worker)                                \
			return keel_cx_home((cx), (h)->owner);                 \
	} while (0)

/* A handle just opened by the task of \p cx: it is the worker's, and the
 * task lives there from now on (migrating runtimes). */
static struct keel_worker *opened(struct keel_cx *cx)
{
	keel_cx_home(cx, cx->worker); /* 0: it runs there */
	return cx->worker;
}

/* Close \p impl with \p close on its owner's thread: 0, or -ENOMEM when
 * that could not be arranged (the handle stays open). */
static int close_on_owner(struct keel_worker *owner, void (*close)(void *),
			  void *impl)
{
	if (owner)
		return keel__worker_call(owner, close, impl);
	close(impl);
	return 0;
}

/* ------------------------------------------------------------------- UDP */

#define UDP_CHECK(s)                                                           \
	do {                                                                   \
		if (!(s))                                                      \
			return -EINVAL;                                        \
		if (!(s)->ops)                                                 \
			return -EBADF;                                         \
	} while (0)

int keel_udp_bind(struct keel_cx *cx, struct keel_udp *s,
		  const struct keel_addr *addr,
		  const struct keel_udp_opts *opts)
{
	static const struct keel_udp_opts defaults;
	struct keel__drv *d;
	int rc;

	if (!cx || !s || !valid_family(addr))
		return -EINVAL;
	if (s->ops)
		return -EBUSY;
	d = cx->worker->udp_drv;
	if (!d || !d->ops->udp_bind)
		return -ENOTSUP;
	rc = d->ops->udp_bind(d->impl, s, addr, opts ? opts : &defaults);
	if (rc == 0)
		s->owner = opened(cx);
	return rc;
}

int keel_udp_close(struct keel_udp *s)
{
	int rc;

	UDP_CHECK(s);
	rc = close_on_owner(s->owner, s->ops->close, s->impl);
	if (rc < 0)
		return rc;
	s->ops = NULL;
	s->impl = NULL;
	s->owner = NULL;
	return 0;
}

int keel_udp_local_addr(struct keel_udp *s, struct keel_addr *out)
{
	UDP_CHECK(s);
	if (!out)
		return -EINVAL;
	return s->ops->local_addr(s->impl, out);
}

ssize_t keel_udp_recv_from(struct keel_cx *cx, struct keel_udp *s, void *buf,
			   size_t len, struct keel_addr *from)
{
	UDP_CHECK(s);
	if (!cx || (!buf && len))
		return -EINVAL;
	HOME(cx, s);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return s->ops->recv_from(s->impl, cx, buf, len, from);
}

ssize_t keel_udp_send_to(struct keel_cx *cx, struct keel_udp *s,
			 const void *buf, size_t len,
			 const struct keel_addr *to)
{
	UDP_CHECK(s);
	if (!cx || (!buf && len) || !valid_family(to))
		return -EINVAL;
	HOME(cx, s);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return s->ops->send_to(s->impl, cx, buf, len, to);
}

ssize_t keel_udp_recv_batch(struct keel_cx *cx, struct keel_udp *s,
			    struct keel_dgram *v, unsigned n)
{
	UDP_CHECK(s);
	if (!cx || !v || !n)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!v[i].buf && v[i].cap)
			return -EINVAL;
	HOME(cx, s);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return s->ops->recv_batch(s->impl, cx, v, n);
}

ssize_t keel_udp_send_batch(struct keel_cx *cx, struct keel_udp *s,
			    const struct keel_dgram *v, unsigned n)
{
	UDP_CHECK(s);
	if (!cx || !v || !n)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if ((!v[i].buf && v[i].cap) || !valid_family(&v[i].peer))
			return -EINVAL;
	HOME(cx, s);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return s->ops->send_batch(s->impl, cx, v, n);
}

ssize_t keel_udp_recv_lend(struct keel_cx *cx, struct keel_udp *s,
			   struct keel_pkt *pkts, unsigned n)
{
	UDP_CHECK(s);
	if (!cx || !pkts || !n)
		return -EINVAL;
	if (!s->ops->recv_lend)
		return -ENOTSUP;
	HOME(cx, s);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return s->ops->recv_lend(s->impl, cx, pkts, n);
}

ssize_t keel_udp_send_lent(struct keel_cx *cx, struct keel_udp *s,
			   struct keel_pkt *pkts, unsigned n)
{
	UDP_CHECK(s);
	if (!cx || !pkts || !n)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (pkts[i].len > pkts[i].cap || !valid_family(&pkts[i].peer))
			return -EINVAL;
	if (!s->ops->send_lent)
		return -ENOTSUP;
	HOME(cx, s);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return s->ops->send_lent(s->impl, cx, pkts, n);
}

int keel_udp_release(struct keel_udp *s, struct keel_pkt *pkts, unsigned n)
{
	UDP_CHECK(s);
	if (!pkts && n)
		return -EINVAL;
	if (!s->ops->release)
		return -ENOTSUP;
	s->ops->release(s->impl, pkts, n);
	return 0;
}

static int udp_setopt(struct keel_udp *s, int opt, const void *arg)
{
	UDP_CHECK(s);
	if (!s->ops->setopt)
		return -ENOTSUP;
	return s->ops->setopt(s->impl, opt, arg);
}

int keel_udp_connect(struct keel_udp *s, const struct keel_addr *peer)
{
	if (!valid_family(peer))
		return -EINVAL;
	return udp_setopt(s, KEEL_UDP_OPT_CONNECT, peer);
}

int keel_udp_set_ttl(struct keel_udp *s, int ttl)
{
	if (ttl < 1 || ttl > 255)
		return -EINVAL;
	return udp_setopt(s, KEEL_UDP_OPT_TTL, &ttl);
}

int keel_udp_set_broadcast(struct keel_udp *s, int on)
{
	on = !!on;
	return udp_setopt(s, KEEL_UDP_OPT_BROADCAST, &on);
}

int keel_udp_join(struct keel_udp *s, const struct keel_addr *group,
		  unsigned ifindex)
{
	struct keel_udp_mcast m = { group, ifindex };

	if (!valid_family(group))
		return -EINVAL;
	return udp_setopt(s, KEEL_UDP_OPT_MCAST_JOIN, &m);
}

int keel_udp_leave(struct keel_udp *s, const struct keel_addr *group,
		   unsigned ifindex)
{
	struct keel_udp_mcast m = { group, ifindex };

	if (!valid_family(group))
		return -EINVAL;
	return udp_setopt(s, KEEL_UDP_OPT_MCAST_LEAVE, &m);
}

int keel_udp_set_multicast_loop(struct keel_udp *s, int on)
{
	on = !!on;
	return udp_setopt(s, KEEL_UDP_OPT_MCAST_LOOP, &on);
}

int keel_udp_set_multicast_ttl(struct keel_udp *s, int ttl)
{
	if (ttl < 0 || ttl > 255)
		return -EINVAL;
	return udp_setopt(s, KEEL_UDP_OPT_MCAST_TTL, &ttl);
}

/* ------------------------------------------------------------------- TCP */

static struct keel__drv *tcp_driver(struct keel_cx *cx)
{
	return cx->worker->tcp_drv;
}

intptr_t keel_tcp_connect(struct keel_cx *cx, struct keel_tcp *c,
			  const struct keel_addr *addr)
{
	intptr_t r;

	if (!cx || !c)
		return -EINVAL;
	if (!c->connecting) {
		struct keel__drv *d = tcp_driver(cx);
		int rc;

		if (c->ops)
			return -EISCONN;
		if (!valid_family(addr))
			return -EINVAL;
		if (!d)
			return -ENOTSUP;
		rc = d->ops->tcp_connect(d->impl, c, addr);
		if (rc < 0)
			return rc;
		c->owner = opened(cx);
		c->connecting = 1;
	}
	HOME(cx, c);
	r = c->ops->connect_poll(c->impl, cx);
	if (r == KEEL_PENDING)
		return r;
	c->connecting = 0;
	if (r < 0) {
		c->ops->close(c->impl);
		c->ops = NULL;
		c->impl = NULL;
		c->owner = NULL;
	}
	return r;
}

int keel_tcp_listen(struct keel_cx *cx, struct keel_tcp *l,
		    const struct keel_addr *addr, int backlog)
{
	struct keel__drv *d;
	int rc;

	if (!cx || !l || !valid_family(addr))
		return -EINVAL;
	if (l->ops)
		return -EBUSY;
	d = tcp_driver(cx);
	if (!d || !d->ops->tcp_listen)
		return -ENOTSUP;
	rc = d->ops->tcp_listen(d->impl, l, addr, backlog);
	if (rc == 0)
		l->owner = opened(cx);
	return rc;
}

#define TCP_CHECK(c)                                                           \
	do {                                                                   \
		if (!(c))                                                      \
			return -EINVAL;                                        \
		if (!(c)->ops || (c)->connecting)                              \
			return -EBADF;                                         \
	} while (0)

intptr_t keel_tcp_accept(struct keel_cx *cx, struct keel_tcp *l,
			 struct keel_tcp *c, struct keel_addr *peer)
{
	intptr_t r;

	TCP_CHECK(l);
	if (!cx || !c)
		return -EINVAL;
	if (c->ops)
		return -EBUSY;
	HOME(cx, l);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	r = l->ops->accept(l->impl, cx, c, peer);
	if (r >= 0)
		c->owner = l->owner;
	return r;
}

ssize_t keel_tcp_read(struct keel_cx *cx, struct keel_tcp *c, void *buf,
		      size_t len)
{
	TCP_CHECK(c);
	if (!cx || (!buf && len))
		return -EINVAL;
	HOME(cx, c);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return c->ops->read(c->impl, cx, buf, len);
}

ssize_t keel_tcp_write(struct keel_cx *cx, struct keel_tcp *c,
		       const void *buf, size_t len)
{
	TCP_CHECK(c);
	if (!cx || (!buf && len))
		return -EINVAL;
	HOME(cx, c);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return c->ops->write(c->impl, cx, buf, len);
}

ssize_t keel_tcp_write_all(struct keel_cx *cx, struct keel_tcp *c,
			   const void *buf, size_t len, size_t *done)
{
	TCP_CHECK(c);
	if (!cx || !done || (!buf && len) || *done > len)
		return -EINVAL;
	HOME(cx, c);
	if (keel_coop(cx) == KEEL_PENDING)
		return KEEL_PENDING;
	while (*done < len) {
		ssize_t n = c->ops->write(c->impl, cx, (const char *)buf + *done,
					  len - *done);
		if (n == KEEL_PENDING || n < 0)
			return n;
		*done += (size_t)n;
	}
	return (ssize_t)len;
}

int keel_tcp_shutdown(struct keel_tcp *c, int how)
{
	TCP_CHECK(c);
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	return c->ops->shutdown(c->impl, how);
}

int keel_tcp_local_addr(struct keel_tcp *c, struct keel_addr *out)
{
	TCP_CHECK(c);
	if (!out)
		return -EINVAL;
	return c->ops->local_addr(c->impl, out);
}

int keel_tcp_peer_addr(struct keel_tcp *c, struct keel_addr *out)
{
	TCP_CHECK(c);
	if (!out)
		return -EINVAL;
	if (!c->ops->peer_addr)
		return -ENOTCONN;
	return c->ops->peer_addr(c->impl, out);
}

int keel_tcp_set_nodelay(struct keel_tcp *c, int on)
{
	TCP_CHECK(c);
	if (!c->ops->set_nodelay)
		return -ENOTSUP;
	return c->ops->set_nodelay(c->impl, !!on);
}

int keel_tcp_close(struct keel_tcp *c)
{
	int rc;

	if (!c)
		return -EINVAL;
	if (!c->ops)
		return -EBADF;
	rc = close_on_owner(c->owner, c->ops->close, c->impl);
	if (rc < 0)
		return rc;
	c->ops = NULL;
	c->impl = NULL;
	c->owner = NULL;
	c->connecting = 0;
	return 0;
}
