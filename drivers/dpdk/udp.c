/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets on the DPDK driver. A socket is a slot in its instance's
 * port table around the shared socket layer (drivers/common/sock.h: the
 * bounded queue of received mbufs, the receives, the lent-packet table,
 * the wakers); what net/ found in each datagram waits in its mbuf's
 * headroom (keel__dpdk_meta). Copying receives copy the payload out and
 * free the mbuf; zero-copy receives lend the mbuf itself, and send_lent
 * turns it into the reply in place: to the sender it came from,
 * keel_net_udp_reply swaps the headers without an ARP lookup; to anyone
 * else the headers are built anew and the next hop resolved.
 */
#include "dpdk_internal.h"

#include <stdlib.h>
#include <string.h>

/* The socket layer gives mbufs back: copied out, released, dropped. */
static void mbufs_put(void *drv, const uintptr_t *bufs, unsigned n)
{
	struct rte_mbuf *m[KEEL__SOCK_PUT_MAX];

	(void)drv;
	for (unsigned i = 0; i < n; i++)
		m[i] = (struct rte_mbuf *)bufs[i];
	rte_pktmbuf_free_bulk(m, n);
}

void keel__dpdk_udp_init(struct keel__dpdk *d)
{
	keel__socks_init(&d->socks, d, mbufs_put, &d->stats.rx_truncated,
			 &d->stats.rx_sock_full);
}

/* Errors a send can know before it consumes anything (net/'s rules, the
 * same as the xdp driver's). */
static int check_dst(const struct keel__dpdk_sock *s,
		     const struct keel_addr *to, size_t len)
{
	return keel_net_udp_send_check(s->d->net, to, len,
				       keel__dpdk_max_payload(s->d),
				       s->sock.broadcast);
}

/* -------------------------------------------------------- copied datagrams */

/* Build and queue one datagram from a copy; the caller checked TX room. */
static ssize_t send_one(struct keel__dpdk_sock *s, const void *buf, size_t len,
			const struct keel_addr *to, uint64_t now)
{
	struct keel__dpdk *d = s->d;
	struct keel_net_udp_tx tx = {
		.src_ip = s->sock.ip,
		.dst_ip = to->in4.sin_addr.s_addr,
		.src_port = s->sock.port,
		.dst_port = to->in4.sin_port,
	};
	struct rte_mbuf *m;
	uint8_t *f;
	int r = check_dst(s, to, len);

	if (r < 0)
		return r;
	m = keel__dpdk_alloc(d);
	if (!m)
		return -ENOBUFS;
	f = rte_pktmbuf_mtod(m, uint8_t *);
	if (len)
		memcpy(f + KEEL_NET_UDP_HDRS, buf, len);
	r = keel_net_udp_build(d->net, f, rte_pktmbuf_tailroom(m), &tx, len,
			       d->tx_flags);
	if (r < 0) {
		rte_pktmbuf_free(m);
		return r;
	}
	m->data_len = (uint16_t)r;
	m->pkt_len = (uint32_t)r;
	keel__dpdk_tx_offload(d, m);
	r = keel__dpdk_tx_resolve(d, m, now);
	return r < 0 ? r : (ssize_t)len;
}

static ssize_t udp_send_to(void *impl, struct keel_cx *cx, const void *buf,
			   size_t len, const struct keel_addr *to)
{
	struct keel__dpdk_sock *s = impl;

	if (!keel__dpdk_tx_room(s->d))
		return keel__sock_wait_writer(&s->sock, cx);
	return send_one(s, buf, len, to, keel__dpdk_now(s->d));
}

/* ----------------------------------------------------------------- batches */

static ssize_t udp_send_batch(void *impl, struct keel_cx *cx,
			      const struct keel_dgram *v, unsigned n)
{
	struct keel__dpdk_sock *s = impl;
	uint64_t now = keel__dpdk_now(s->d);
	unsigned sent = 0;

	for (; sent < n && keel__dpdk_tx_room(s->d); sent++) {
		ssize_t r = send_one(s, v[sent].buf, v[sent].cap, &v[sent].peer, now);

		if (r < 0) {
			if (!sent)
				return r;
			break; /* the caller sees the error on its retry */
		}
	}
	return sent ? (ssize_t)sent : keel__sock_wait_writer(&s->sock, cx);
}

/* --------------------------------------------------------------- zero-copy */

/* Whether lent packet \p g goes back to its sender. */
static inline bool is_reply(const struct keel__dgram *g, const struct keel_pkt *p)
{
	return p->peer.sa.sa_family == AF_INET &&
	       p->peer.in4.sin_addr.s_addr == g->src_ip &&
	       p->peer.in4.sin_port == g->src_port;
}

/* Turn lent mbuf \p m into its datagram (\p p: payload, peer) in place
 * and queue it; the mbuf is the driver's again whatever happens. */
static void send_in_place(struct keel__dpdk_sock *s, struct rte_mbuf *m,
			  const struct keel_pkt *p, bool reply, uint64_t now)
{
	struct keel__dpdk *d = s->d;
	const struct keel_net_rx_result *rx = keel__dpdk_meta(m);
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	size_t cap = (size_t)m->buf_len - m->data_off;
	int r;

	if (reply) {
		/* Back where it came from: swap, no lookup. */
		r = keel_net_udp_reply(d->net, f, cap, rx, p->len, d->tx_flags);
	} else {
		struct keel_net_udp_tx tx = {
			.src_ip = s->sock.ip ? s->sock.ip : rx->dst_ip,
			.dst_ip = p->peer.in4.sin_addr.s_addr,
			.src_port = s->sock.port,
			.dst_port = p->peer.in4.sin_port,
		};

		r = keel_net_udp_build(d->net, f, cap, &tx, p->len, d->tx_flags);
	}
	if (r < 0) { /* checked before: cannot happen */
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = (uint16_t)r;
	m->pkt_len = (uint32_t)r;
	keel__dpdk_tx_offload(d, m);
	if (reply)
		keel__dpdk_tx_push(d, m);
	else
		keel__dpdk_tx_resolve(d, m, now); /* ARP queue full: counted */
}

static ssize_t udp_send_lent(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	struct keel__dpdk_sock *s = impl;
	const struct keel__dgram *g;
	uint64_t now;
	unsigned sent = 0;

	keel__sock_lent_check_start(&s->sock);
	for (unsigned i = 0; i < n; i++) {
		int rc = keel__sock_lent_check1(&s->sock, &pkts[i], &g);

		/* A reply goes to an address net/ already accepted. */
		if (rc == 0 && KEEL__DPDK_UNLIKELY(!is_reply(g, &pkts[i])))
			rc = check_dst(s, &pkts[i].peer, pkts[i].len);
		if (rc < 0)
			return rc;
	}
	now = keel__dpdk_now(s->d);
	for (; sent < n && keel__dpdk_tx_room(s->d); sent++) {
		struct keel_pkt *p = &pkts[sent];
		bool reply;

		g = keel__sock_lent(&s->sock, p); /* checked: lent, once */
		reply = is_reply(g, p);
		send_in_place(s, (struct rte_mbuf *)g->buf, p, reply, now);
		keel__sock_unlend(&s->sock, p);
	}
	return sent ? (ssize_t)sent : keel__sock_wait_writer(&s->sock, cx);
}

/* ----------------------------------------------------------------- control */

static void udp_close(void *impl)
{
	struct keel__dpdk_sock *s = impl;
	struct keel__dpdk *d = s->d;

	if (d->by_port[s->sock.port] == s)
		d->by_port[s->sock.port] = NULL;
	keel__sock_close(&s->sock); /* queued and lent mbufs go back */
	free(s);
}

/* Sockets the application leaked: their wakers hold task refs. */
void keel__dpdk_udp_close_all(struct keel__dpdk *d)
{
	keel__socks_close_all(&d->socks, udp_close);
}

static const struct keel_udp_ops dpdk_udp_ops = {
	.recv_from = keel__sock_recv_from,
	.send_to = udp_send_to,
	.recv_batch = keel__sock_recv_batch,
	.send_batch = udp_send_batch,
	.recv_lend = keel__sock_recv_lend,
	.send_lent = udp_send_lent,
	.release = keel__sock_release,
	.local_addr = keel__sock_local_addr,
	.setopt = keel__sock_setopt, /* broadcast; the others -ENOTSUP */
	.close = udp_close,
};

/* -------------------------------------------------------------------- bind */

/* A free port from the ephemeral range (49152..65535), network order. */
static int pick_port(struct keel__dpdk *d, uint16_t *out)
{
	for (unsigned tries = 0; tries < 16384; tries++) {
		uint16_t p = d->next_ephemeral;

		d->next_ephemeral = p == 65535 ? 49152 : (uint16_t)(p + 1);
		if (!d->by_port[htons(p)]) {
			*out = htons(p);
			return 0;
		}
	}
	return -EADDRINUSE;
}

int keel__dpdk_udp_bind(void *drv, struct keel_udp *sock,
			const struct keel_addr *addr,
			const struct keel_udp_opts *opts)
{
	struct keel__dpdk *d = drv;
	struct keel__dpdk_sock *s;
	uint32_t ip;
	uint16_t port;
	int rc;

	(void)opts; /* buffer sizes and SO_REUSEPORT have no meaning here:
		     * each worker binds its own socket anyway */
	rc = keel_net_udp_bind_check(d->net, addr);
	if (rc < 0)
		return rc;
	ip = addr->in4.sin_addr.s_addr;
	port = addr->in4.sin_port;
	if (!port) {
		rc = pick_port(d, &port);
		if (rc < 0)
			return rc;
	} else if (d->by_port[port]) {
		return -EADDRINUSE;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rc = keel__sock_open(&d->socks, &s->sock, d->sockq, ip, port);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->d = d;
	d->by_port[port] = s;
	sock->ops = &dpdk_udp_ops;
	sock->impl = &s->sock;
	return 0;
}
