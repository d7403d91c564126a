/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets on the DPDK driver. A socket is a slot in its instance's
 * port table and a bounded queue of received mbufs, each with what net/
 * found in it. Copying receives copy the payload out and free the mbuf;
 * zero-copy receives lend the mbuf itself (keel_pkt.priv[0] is the mbuf,
 * priv[1] its slot in the socket's lent table), and send_lent turns it into
 * the reply in place: to the sender it came from, keel_net_udp_reply swaps
 * the headers without an ARP lookup; to anyone else the headers are built
 * anew and the next hop resolved.
 *
 * A lent packet is recognised through the socket's own table (slot and
 * mbuf must match), so a packet that is not, or no longer, lent by this
 * socket is refused without touching memory it points to.
 */
#include "dpdk_internal.h"

#include <stdlib.h>
#include <string.h>

/* Largest UDP payload in one Ethernet frame at our MTU. */
static size_t max_payload(const struct keel__dpdk *d)
{
	return d->mtu - 28u;
}

static intptr_t wait_rd(struct keel__dpdk_sock *s, struct keel_cx *cx)
{
	keel_waker_register(&s->rd, cx);
	return KEEL_PENDING;
}

static intptr_t wait_wr(struct keel__dpdk_sock *s, struct keel_cx *cx)
{
	keel_waker_register(&s->wr, cx);
	s->d->tx_waiters++;
	return KEEL_PENDING;
}

void keel__dpdk_wake_writers(struct keel__dpdk *d)
{
	d->tx_waiters = 0;
	for (struct keel_list *n = d->socks.next; n != &d->socks; n = n->next)
		keel_waker_wake(&KEEL_CONTAINER_OF(n, struct keel__dpdk_sock, link)->wr);
}

static inline struct keel__dpdk_rxent pop(struct keel__dpdk_sock *s)
{
	struct keel__dpdk_rxent e = s->q[s->q_head];

	s->q_head = (s->q_head + 1) & s->q_mask;
	s->q_count--;
	return e;
}

static const uint8_t *payload(const struct keel__dpdk_rxent *e)
{
	return rte_pktmbuf_mtod(e->m, const uint8_t *) + e->rx.payload_off;
}

/* Errors a send can know before it consumes anything (net/'s rules, the
 * same as the xdp driver's). */
static int check_dst(const struct keel__dpdk_sock *s,
		     const struct keel_addr *to, size_t len)
{
	return keel_net_udp_send_check(s->d->net, to, len, max_payload(s->d),
				       s->broadcast);
}

/* -------------------------------------------------------- copied datagrams */

static ssize_t udp_recv_from(void *impl, struct keel_cx *cx, void *buf,
			     size_t len, struct keel_addr *from)
{
	struct keel__dpdk_sock *s = impl;
	struct keel__dpdk_rxent e;
	size_t n;

	if (!s->q_count)
		return wait_rd(s, cx);
	e = pop(s);
	n = e.rx.payload_len;
	if (len && n)
		memcpy(buf, payload(&e), n < len ? n : len);
	if (from)
		keel__dpdk_peer(&e.rx, from);
	rte_pktmbuf_free(e.m);
	if (n > len) {
		KEEL__DSTAT_ADD(s->d, rx_truncated, 1);
		return -EMSGSIZE;
	}
	return (ssize_t)n;
}

/* Build and queue one datagram from a copy; the caller checked TX room. */
static ssize_t send_one(struct keel__dpdk_sock *s, const void *buf, size_t len,
			const struct keel_addr *to, uint64_t now)
{
	struct keel__dpdk *d = s->d;
	struct keel_net_udp_tx tx = {
		.src_ip = s->ip,
		.dst_ip = to->in4.sin_addr.s_addr,
		.src_port = s->port,
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
		return wait_wr(s, cx);
	return send_one(s, buf, len, to, keel__dpdk_now(s->d));
}

/* ----------------------------------------------------------------- batches */

static ssize_t udp_recv_batch(void *impl, struct keel_cx *cx,
			      struct keel_dgram *v, unsigned n)
{
	struct keel__dpdk_sock *s = impl;
	struct rte_mbuf *done[KEEL__DPDK_BURST];
	unsigned k, nd = 0, trunc = 0;

	if (!s->q_count)
		return wait_rd(s, cx);
	k = n < s->q_count ? n : s->q_count;
	for (unsigned i = 0; i < k; i++) {
		struct keel__dpdk_rxent e = pop(s);
		size_t len = e.rx.payload_len;

		v[i].flags = 0;
		if (len > v[i].cap) {
			len = v[i].cap;
			v[i].flags = KEEL_DGRAM_TRUNC;
			trunc++;
		}
		if (len)
			memcpy(v[i].buf, payload(&e), len);
		v[i].len = len;
		keel__dpdk_peer(&e.rx, &v[i].peer);
		done[nd++] = e.m;
		if (nd == KEEL__DPDK_BURST) {
			rte_pktmbuf_free_bulk(done, nd);
			nd = 0;
		}
	}
	if (nd)
		rte_pktmbuf_free_bulk(done, nd);
	if (trunc)
		KEEL__DSTAT_ADD(s->d, rx_truncated, trunc);
	return k;
}

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
	return sent ? (ssize_t)sent : wait_wr(s, cx);
}

/* --------------------------------------------------------------- zero-copy */

static int lent_init(struct keel__dpdk_sock *s)
{
	unsigned cap = s->d->sockq;

	s->lent = calloc(cap, sizeof(*s->lent));
	s->lent_free = malloc(cap * sizeof(*s->lent_free));
	if (!s->lent || !s->lent_free) {
		free(s->lent);
		free(s->lent_free);
		s->lent = NULL;
		s->lent_free = NULL;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < cap; i++)
		s->lent_free[i] = (uint16_t)(cap - 1 - i);
	s->lent_cap = s->lent_nfree = cap;
	return 0;
}

static ssize_t udp_recv_lend(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	struct keel__dpdk_sock *s = impl;
	size_t maxp = max_payload(s->d);
	unsigned k;

	if (!s->q_count)
		return wait_rd(s, cx);
	if (!s->lent && lent_init(s) < 0)
		return -ENOMEM;
	if (!s->lent_nfree)
		return -ENOBUFS; /* everything is lent: give some back */
	k = n < s->q_count ? n : s->q_count;
	if (k > s->lent_nfree)
		k = s->lent_nfree;
	for (unsigned i = 0; i < k; i++) {
		unsigned slot = s->lent_free[--s->lent_nfree];
		struct keel__dpdk_rxent *e = &s->lent[slot];
		struct keel_pkt *p = &pkts[i];
		size_t room;

		*e = pop(s);
		room = (size_t)e->m->buf_len - e->m->data_off - e->rx.payload_off;
		p->data = rte_pktmbuf_mtod(e->m, uint8_t *) + e->rx.payload_off;
		p->len = e->rx.payload_len;
		p->cap = (uint32_t)(room < maxp ? room : maxp);
		keel__dpdk_peer(&e->rx, &p->peer);
		p->priv[0] = (uintptr_t)e->m;
		p->priv[1] = slot;
	}
	return k;
}

/* The lent entry \p p refers to, or NULL when this socket did not lend it. */
static inline struct keel__dpdk_rxent *lent_of(struct keel__dpdk_sock *s,
					       const struct keel_pkt *p)
{
	struct keel__dpdk_rxent *e;

	if (!s->lent || p->priv[1] >= s->lent_cap)
		return NULL;
	e = &s->lent[p->priv[1]];
	if (!e->m || (uintptr_t)e->m != p->priv[0] ||
	    p->data != rte_pktmbuf_mtod(e->m, uint8_t *) + e->rx.payload_off)
		return NULL;
	return e;
}

static void lent_put(struct keel__dpdk_sock *s, struct keel_pkt *p)
{
	unsigned slot = (unsigned)p->priv[1];

	s->lent[slot].m = NULL;
	s->lent_free[s->lent_nfree++] = (uint16_t)slot;
	p->data = NULL;
	p->len = p->cap = 0;
	p->priv[0] = p->priv[1] = 0;
}

/* Whether lent packet \p p goes back to the sender of \p e. */
static inline bool is_reply(const struct keel__dpdk_rxent *e,
			    const struct keel_pkt *p)
{
	return p->peer.sa.sa_family == AF_INET &&
	       p->peer.in4.sin_addr.s_addr == e->rx.src_ip &&
	       p->peer.in4.sin_port == e->rx.src_port;
}

/* Turn lent packet \p e into its datagram in place and queue it; the mbuf
 * is the driver's again whatever happens. */
static void send_in_place(struct keel__dpdk_sock *s, struct keel__dpdk_rxent *e,
			  const struct keel_pkt *p, uint64_t now)
{
	struct keel__dpdk *d = s->d;
	struct rte_mbuf *m = e->m;
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	size_t cap = (size_t)m->buf_len - m->data_off;
	bool reply = is_reply(e, p);
	int r;

	if (reply) {
		/* Back where it came from: swap, no lookup. */
		r = keel_net_udp_reply(d->net, f, cap, &e->rx, p->len, d->tx_flags);
	} else {
		struct keel_net_udp_tx tx = {
			.src_ip = s->ip ? s->ip : e->rx.dst_ip,
			.dst_ip = p->peer.in4.sin_addr.s_addr,
			.src_port = s->port,
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
	uint64_t now;
	unsigned sent = 0;
	int rc;

	for (unsigned i = 0; i < n; i++) {
		const struct keel__dpdk_rxent *e = lent_of(s, &pkts[i]);

		if (!e)
			return -EINVAL;
		/* A reply goes to an address net/ already accepted. */
		if (KEEL__DPDK_LIKELY(is_reply(e, &pkts[i])))
			rc = pkts[i].len > max_payload(s->d) ? -EMSGSIZE : 0;
		else
			rc = check_dst(s, &pkts[i].peer, pkts[i].len);
		if (rc < 0)
			return rc;
	}
	now = keel__dpdk_now(s->d);
	for (; sent < n && keel__dpdk_tx_room(s->d); sent++) {
		struct keel__dpdk_rxent *e = lent_of(s, &pkts[sent]);

		if (!e)
			continue; /* listed twice: sent once */
		send_in_place(s, e, &pkts[sent], now);
		lent_put(s, &pkts[sent]);
	}
	return sent ? (ssize_t)sent : wait_wr(s, cx);
}

/* Packets this socket did not lend are left alone. */
static void udp_release(void *impl, struct keel_pkt *pkts, unsigned n)
{
	struct keel__dpdk_sock *s = impl;

	for (unsigned i = 0; i < n; i++) {
		struct keel__dpdk_rxent *e = lent_of(s, &pkts[i]);

		if (e) {
			rte_pktmbuf_free(e->m);
			lent_put(s, &pkts[i]);
		}
	}
}

/* ----------------------------------------------------------------- control */

static int udp_local_addr(void *impl, struct keel_addr *out)
{
	struct keel__dpdk_sock *s = impl;

	memset(out, 0, sizeof(*out));
	out->in4.sin_family = AF_INET;
	out->in4.sin_addr.s_addr = s->ip;
	out->in4.sin_port = s->port;
	return 0;
}

/* Close: queued datagrams and lent packets go back to the pool. */
void keel__dpdk_sock_free(struct keel__dpdk_sock *s)
{
	struct keel__dpdk *d = s->d;

	if (keel_list_linked(&s->link))
		keel_list_remove(&s->link);
	if (d->by_port[s->port] == s)
		d->by_port[s->port] = NULL;
	while (s->q_count)
		rte_pktmbuf_free(pop(s).m);
	for (unsigned i = 0; s->lent && i < s->lent_cap; i++)
		if (s->lent[i].m)
			rte_pktmbuf_free(s->lent[i].m);
	keel_waker_drop(&s->rd);
	keel_waker_drop(&s->wr);
	free(s->q);
	free(s->lent);
	free(s->lent_free);
	free(s);
}

static void udp_close(void *impl)
{
	keel__dpdk_sock_free(impl);
}

/* Only SO_BROADCAST's rule applies here: the rest is the kernel's. */
static int udp_setopt(void *impl, int opt, const void *arg)
{
	struct keel__dpdk_sock *s = impl;

	if (opt != KEEL_UDP_OPT_BROADCAST)
		return -ENOTSUP;
	s->broadcast = *(const int *)arg != 0;
	return 0;
}

static const struct keel_udp_ops dpdk_udp_ops = {
	.recv_from = udp_recv_from,
	.send_to = udp_send_to,
	.recv_batch = udp_recv_batch,
	.send_batch = udp_send_batch,
	.recv_lend = udp_recv_lend,
	.send_lent = udp_send_lent,
	.release = udp_release,
	.local_addr = udp_local_addr,
	.setopt = udp_setopt, /* broadcast; the others -ENOTSUP */
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
	s->q = calloc(d->sockq, sizeof(*s->q));
	if (!s->q) {
		free(s);
		return -ENOMEM;
	}
	s->d = d;
	s->ip = ip;
	s->port = port;
	s->q_mask = d->sockq - 1;
	d->by_port[port] = s;
	keel_list_push_back(&d->socks, &s->link);
	sock->ops = &dpdk_udp_ops;
	sock->impl = s;
	return 0;
}
