/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets on the AF_XDP driver: the port map entry that makes the XDP
 * program redirect a port, a bounded receive queue of UMEM frames per
 * socket, and the send paths that build frames with net/.
 *
 * A bound port is also held in the kernel by an ordinary UDP socket bound
 * to the same address and port: the kernel then refuses it to its own
 * applications (and keel gets -EADDRINUSE for a port the kernel already
 * uses), and port 0 gets an ephemeral port chosen by the kernel. That
 * socket never reads: the program takes the port's datagrams first.
 *
 * Zero-copy: recv_lend lends the UMEM frames themselves (the payload in
 * place, net/'s classification in the frame's headroom); send_lent turns a
 * lent frame into its datagram in place, with keel_net_udp_reply when it
 * answers the datagram's sender (MACs, addresses and ports swapped, no
 * neighbour lookup), else with fresh headers. A lent packet is recognised
 * by priv[0] (its frame address) and priv[1] (its socket), checked against
 * the frame's state, so a stale or foreign packet is refused.
 */
#include "xdp_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned bucket(uint16_t port)
{
	return (unsigned)(port ^ (port >> 8)) % KEEL__XDP_PORT_BUCKETS;
}

static struct keel__xdp_udp *sock_lookup(const struct keel__xdp *d,
					 uint32_t ip, uint16_t port)
{
	struct keel__xdp_udp *s = d->by_port[bucket(port)];

	for (; s; s = s->next)
		if (s->port == port && (!s->ip || !ip || s->ip == ip))
			return s;
	return NULL;
}

/* ---------------------------------------------------------------- receive */

void keel__xdp_udp_deliver(struct keel__xdp *d, uint64_t addr,
			   const struct keel_net_rx_result *rx)
{
	struct keel__xdp_udp *s = sock_lookup(d, rx->dst_ip, rx->dst_port);

	if (!s) {
		KEEL__XSTAT_ADD(d, no_socket, 1);
		keel__xdp_frame_put(d, addr);
		return;
	}
	if (s->tail - s->head > s->qmask) {
		KEEL__XSTAT_ADD(d, sock_queue_full, 1);
		keel__xdp_frame_put(d, addr);
		return;
	}
	s->q[s->tail++ & s->qmask] = addr;
	d->state[keel__xdp_index(d, addr)] = KEEL__F_QUEUED;
	KEEL__XSTAT_ADD(d, rx_packets, 1);
	KEEL__XSTAT_ADD(d, rx_bytes, rx->payload_len);
	keel_waker_wake(&s->rd);
}

/* Nothing queued: leave the reader's waker for keel__xdp_udp_deliver. */
static bool q_wait(struct keel__xdp_udp *s, struct keel_cx *cx)
{
	if (s->head != s->tail)
		return false;
	keel_waker_register(&s->rd, cx);
	return true;
}

static uint64_t q_pop(struct keel__xdp_udp *s)
{
	return s->q[s->head++ & s->qmask];
}

static ssize_t udp_recv_from(void *impl, struct keel_cx *cx, void *buf,
			     size_t len, struct keel_addr *from)
{
	struct keel__xdp_udp *s = impl;
	struct keel__xdp *d = s->drv;
	const struct keel__xdp_meta *m;
	uint64_t a;
	size_t n;

	if (q_wait(s, cx))
		return KEEL_PENDING;
	a = q_pop(s);
	m = keel__xdp_meta(d, a);
	n = m->rx.payload_len;
	if (len && n) /* buf may be NULL when len is 0 */
		memcpy(buf, d->area + a + m->rx.payload_off, n < len ? n : len);
	if (from)
		keel_net_rx_src_addr(&m->rx, from);
	keel__xdp_frame_put(d, a);
	if (n > len) {
		KEEL__XSTAT_ADD(d, rx_truncated, 1);
		return -EMSGSIZE;
	}
	return (ssize_t)n;
}

static ssize_t udp_recv_batch(void *impl, struct keel_cx *cx,
			      struct keel_dgram *v, unsigned n)
{
	struct keel__xdp_udp *s = impl;
	struct keel__xdp *d = s->drv;
	unsigned k = 0;

	if (q_wait(s, cx))
		return KEEL_PENDING;
	while (k < n && s->head != s->tail) {
		uint64_t a = q_pop(s);
		const struct keel__xdp_meta *m = keel__xdp_meta(d, a);
		size_t len = m->rx.payload_len;

		v[k].flags = 0;
		if (len > v[k].cap) {
			len = v[k].cap;
			v[k].flags = KEEL_DGRAM_TRUNC;
			KEEL__XSTAT_ADD(d, rx_truncated, 1);
		}
		if (len)
			memcpy(v[k].buf, d->area + a + m->rx.payload_off, len);
		v[k].len = len;
		keel_net_rx_src_addr(&m->rx, &v[k].peer);
		keel__xdp_frame_put(d, a);
		k++;
	}
	return (ssize_t)k;
}

static ssize_t udp_recv_lend(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	struct keel__xdp_udp *s = impl;
	struct keel__xdp *d = s->drv;
	unsigned k = 0;

	if (q_wait(s, cx))
		return KEEL_PENDING;
	while (k < n && s->head != s->tail) {
		uint64_t a = q_pop(s);
		const struct keel__xdp_meta *m = keel__xdp_meta(d, a);
		unsigned i = keel__xdp_index(d, a);

		/* net/ accepts no IP options and no VLAN tag: the payload is
		 * always at KEEL_NET_UDP_HDRS, where send_lent rebuilds. */
		pkts[k].data = d->area + a + m->rx.payload_off;
		pkts[k].len = m->rx.payload_len;
		pkts[k].cap = keel__xdp_room(d, a) - m->rx.payload_off;
		keel_net_rx_src_addr(&m->rx, &pkts[k].peer);
		pkts[k].priv[0] = (uintptr_t)a;
		pkts[k].priv[1] = (uintptr_t)s;
		d->state[i] = KEEL__F_LENT;
		d->owner[i] = s;
		s->lent++;
		k++;
	}
	return (ssize_t)k;
}

/* Whether \p p is a packet \p s lent and still lends, unmoved. */
static bool lent_by(const struct keel__xdp_udp *s, const struct keel_pkt *p)
{
	const struct keel__xdp *d = s->drv;
	uint64_t a = p->priv[0];
	unsigned i;

	if (p->priv[1] != (uintptr_t)s || a >= d->area_size)
		return false;
	i = keel__xdp_index(d, a);
	return d->state[i] == KEEL__F_LENT && d->owner[i] == s &&
	       p->data == d->area + a + keel__xdp_meta(d, a)->rx.payload_off;
}

/* The packet goes back to the driver: the frame is no longer lent. */
static uint64_t unlend(struct keel__xdp_udp *s, struct keel_pkt *p)
{
	struct keel__xdp *d = s->drv;
	uint64_t a = p->priv[0];
	unsigned i = keel__xdp_index(d, a);

	d->state[i] = KEEL__F_BUSY;
	d->owner[i] = NULL;
	s->lent--;
	p->data = NULL;
	p->len = p->cap = 0;
	p->priv[0] = p->priv[1] = 0;
	return a;
}

static void udp_release(void *impl, struct keel_pkt *pkts, unsigned n)
{
	struct keel__xdp_udp *s = impl;

	for (unsigned i = 0; i < n; i++)
		if (lent_by(s, &pkts[i]))
			keel__xdp_frame_put(s->drv, unlend(s, &pkts[i]));
}

/* ------------------------------------------------------------------- send */

static size_t max_payload(const struct keel__xdp *d)
{
	size_t by_mtu = d->mtu - 28;
	size_t by_frame = d->frame_size - KEEL__XDP_DATA_OFF - KEEL_NET_UDP_HDRS;

	return by_mtu < by_frame ? by_mtu : by_frame;
}

/* How many datagrams (up to \p want) can go now; 0: the writer's waker
 * is left and woken when completions free TX room or frames. */
static unsigned tx_ready(struct keel__xdp_udp *s, struct keel_cx *cx,
			 unsigned want)
{
	struct keel__xdp *d = s->drv;
	unsigned room, freed = 0;


	if (d->in_tx)
		freed = keel__xdp_complete(d);
	room = keel__xdp_tx_room(d, want);
	if (!room) {
		/* Copy mode only drains the TX ring when kicked. */
		KEEL__XSTAT_ADD(d, tx_ring_full, 1);
		d->tx_kick = true;
		freed += keel__xdp_kick(d);
		room = keel__xdp_tx_room(d, want);
	}
	if (freed && d->wr_waiting)
		keel__xdp_wake_writers(d);
	if (room > d->nfree) {
		if (!d->nfree)
			KEEL__XSTAT_ADD(d, no_frame, 1);
		room = d->nfree;
	}
	if (!room) {
		keel_waker_register(&s->wr, cx);
		if (!s->wr_waiting) {
			s->wr_waiting = true;
			d->wr_waiting++;
		}
	}
	return room;
}

void keel__xdp_wake_writers(struct keel__xdp *d)
{
	for (struct keel_list *n = d->socks.next; n != &d->socks; n = n->next) {
		struct keel__xdp_udp *s =
			KEEL_CONTAINER_OF(n, struct keel__xdp_udp, link);

		if (s->wr_waiting) {
			s->wr_waiting = false;
			keel_waker_wake(&s->wr);
		}
	}
	d->wr_waiting = 0;
}

/* Send the frame at \p addr through net/'s next-hop resolution: on the TX
 * ring now, or held in net/ while the kernel is asked for the MAC. */
static int send_frame(struct keel__xdp *d, uint64_t addr, uint32_t len)
{
	uint8_t arp[64];
	size_t arp_len = 0;
	int r;

	r = keel_net_tx_resolve(d->net, d->area + addr, len, d->now, arp,
				sizeof(arp), &arp_len);
	if (arp_len >= KEEL_NET_ARP_LEN) {
		uint32_t tpa;

		/* net/ wants the next hop asked for: the kernel does the
		 * asking, so its ARP state stays the only one (neigh.c). */
		memcpy(&tpa, arp + 14 + 24, sizeof(tpa));
		keel__xdp_neigh_ask(d, tpa);
	}
	if (r == KEEL_NET_TX_SEND) {
		keel__xdp_tx_submit(d, &addr, &len, 1);
		return 0;
	}
	keel__xdp_frame_put(d, addr);
	if (r == KEEL_NET_TX_QUEUED) {
		KEEL__XSTAT_ADD(d, tx_arp_wait, 1);
		return 0;
	}
	KEEL__XSTAT_ADD(d, tx_errors, 1);
	return r;
}

/* Errors a send can know before it consumes anything (net/'s rules, the
 * same as the dpdk driver's). */
static int check_dest(const struct keel__xdp_udp *s,
		      const struct keel_addr *to, size_t len)
{
	return keel_net_udp_send_check(s->drv->net, to, len, max_payload(s->drv),
				       s->broadcast);
}

/* Copy \p len bytes into a free frame and send them to \p to. */
static int send_copy(struct keel__xdp_udp *s, const void *buf, size_t len,
		     const struct keel_addr *to)
{
	struct keel__xdp *d = s->drv;
	uint64_t a = keel__xdp_frame_get(d) + KEEL__XDP_DATA_OFF;
	struct keel_net_udp_tx tx = {
		.src_ip = s->ip,
		.dst_ip = to->in4.sin_addr.s_addr,
		.src_port = s->port,
		.dst_port = to->in4.sin_port,
	};
	int rc;

	if (len)
		memcpy(d->area + a + KEEL_NET_UDP_HDRS, buf, len);
	rc = keel_net_udp_build(d->net, d->area + a, keel__xdp_room(d, a), &tx,
				len, 0);
	if (rc < 0) {
		keel__xdp_frame_put(d, a);
		return rc;
	}
	return send_frame(d, a, (uint32_t)rc);
}

static ssize_t udp_send_to(void *impl, struct keel_cx *cx, const void *buf,
			   size_t len, const struct keel_addr *to)
{
	struct keel__xdp_udp *s = impl;
	int rc;

	rc = check_dest(s, to, len);
	if (rc < 0)
		return rc;
	if (!tx_ready(s, cx, 1))
		return KEEL_PENDING;
	rc = send_copy(s, buf, len, to);
	return rc < 0 ? rc : (ssize_t)len;
}

static ssize_t udp_send_batch(void *impl, struct keel_cx *cx,
			      const struct keel_dgram *v, unsigned n)
{
	struct keel__xdp_udp *s = impl;
	unsigned k, i;
	int rc;

	rc = check_dest(s, &v[0].peer, v[0].cap);
	if (rc < 0)
		return rc;
	k = tx_ready(s, cx, n);
	if (!k)
		return KEEL_PENDING;
	/* As sendmmsg: a datagram that cannot go ends the batch, and its
	 * error is the result only when it is the first. */
	for (i = 0; i < k; i++) {
		rc = check_dest(s, &v[i].peer, v[i].cap);
		if (rc == 0)
			rc = send_copy(s, v[i].buf, v[i].cap, &v[i].peer);
		if (rc < 0)
			return i ? (ssize_t)i : rc;
	}
	return i;
}

/* Turn lent frame \p a (payload \p len bytes, in place) into a datagram
 * to \p to and send it. */
static int send_in_place(struct keel__xdp_udp *s, uint64_t a, size_t len,
			 const struct keel_addr *to)
{
	struct keel__xdp *d = s->drv;
	const struct keel_net_rx_result *rx = &keel__xdp_meta(d, a)->rx;
	struct keel_net_udp_tx tx;
	uint32_t flen;
	int rc;

	if (to->in4.sin_addr.s_addr == rx->src_ip &&
	    to->in4.sin_port == rx->src_port) {
		/* A reply: its next hop is the MAC it came from. */
		rc = keel_net_udp_reply(d->net, d->area + a,
					keel__xdp_room(d, a), rx, len, 0);
		if (rc < 0) {
			keel__xdp_frame_put(d, a);
			return rc;
		}
		flen = (uint32_t)rc;
		keel__xdp_tx_submit(d, &a, &flen, 1);
		return 0;
	}
	tx = (struct keel_net_udp_tx){
		.src_ip = rx->dst_ip,
		.dst_ip = to->in4.sin_addr.s_addr,
		.src_port = s->port,
		.dst_port = to->in4.sin_port,
	};
	rc = keel_net_udp_build(d->net, d->area + a, keel__xdp_room(d, a), &tx,
				len, 0);
	if (rc < 0) {
		keel__xdp_frame_put(d, a);
		return rc;
	}
	return send_frame(d, a, (uint32_t)rc);
}

static ssize_t udp_send_lent(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	struct keel__xdp_udp *s = impl;
	unsigned k, i;
	int rc;

	for (i = 0; i < n; i++)
		if (!lent_by(s, &pkts[i]))
			return -EINVAL;
	rc = check_dest(s, &pkts[0].peer, pkts[0].len);
	if (rc < 0)
		return rc;
	k = tx_ready(s, cx, n);
	if (!k)
		return KEEL_PENDING;
	for (i = 0; i < k; i++) {
		struct keel_addr to = pkts[i].peer;
		size_t len = pkts[i].len;

		if (check_dest(s, &to, len) < 0)
			break; /* stays the caller's */
		/* Sent or dropped (no route), the frame is the driver's. */
		rc = send_in_place(s, unlend(s, &pkts[i]), len, &to);
		if (rc < 0 && i == 0)
			return rc;
	}
	return i;
}

/* ---------------------------------------------------------------- control */

static int udp_local_addr(void *impl, struct keel_addr *out)
{
	struct keel__xdp_udp *s = impl;

	memset(out, 0, sizeof(*out));
	out->in4.sin_family = AF_INET;
	out->in4.sin_addr.s_addr = s->ip;
	out->in4.sin_port = s->port;
	return 0;
}

static void udp_free(struct keel__xdp_udp *s)
{
	struct keel__xdp *d = s->drv;
	struct keel__xdp_udp **pp = &d->by_port[bucket(s->port)];
	uint64_t a;

	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	keel_list_remove(&s->link);
	if (s->wr_waiting)
		d->wr_waiting--;
	keel__xdp_port_release(d->prog, ntohs(s->port));
	close(s->resv_fd);
	while (s->head != s->tail) {
		a = s->q[s->head++ & s->qmask];
		keel__xdp_frame_put(d, a);
	}
	/* Lent packets die with the socket: their frames come back. */
	for (unsigned i = 0; s->lent && i < d->nframes; i++)
		if (d->state[i] == KEEL__F_LENT && d->owner[i] == s) {
			keel__xdp_frame_put(d, (uint64_t)i * d->frame_size);
			s->lent--;
		}
	keel_waker_drop(&s->rd);
	keel_waker_drop(&s->wr);
	free(s->q);
	free(s);
}

static void udp_close(void *impl)
{
	udp_free(impl);
}

void keel__xdp_udp_close_all(struct keel__xdp *d)
{
	struct keel_list *n;

	while ((n = d->socks.next) != &d->socks)
		udp_free(KEEL_CONTAINER_OF(n, struct keel__xdp_udp, link));
}

/* Only SO_BROADCAST's rule applies here: the rest is the kernel's. */
static int udp_setopt(void *impl, int opt, const void *arg)
{
	struct keel__xdp_udp *s = impl;

	if (opt != KEEL_UDP_OPT_BROADCAST)
		return -ENOTSUP;
	s->broadcast = *(const int *)arg != 0;
	return 0;
}

static const struct keel_udp_ops xdp_udp_ops = {
	.recv_from = udp_recv_from,
	.send_to = udp_send_to,
	.recv_batch = udp_recv_batch,
	.send_batch = udp_send_batch,
	.recv_lend = udp_recv_lend,
	.send_lent = udp_send_lent,
	.release = udp_release,
	.local_addr = udp_local_addr,
	.setopt = udp_setopt, /* broadcast; TTL, multicast...: -ENOTSUP */
	.close = udp_close,
};

/* ------------------------------------------------------------------- bind */

/* The kernel socket that holds the port; \p port receives it (network
 * order). An address keel serves that the kernel does not have (ip=) is
 * held on the wildcard address. */
static int hold_port(const struct keel_addr *addr,
		     const struct keel_udp_opts *opts, uint16_t *port)
{
	struct sockaddr_in sin = addr->in4;
	socklen_t len = sizeof(sin);
	int fd, one = 1, small = 1, rc;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (opts->reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto err;
	/* It never reads: keep what strays into it (later fragments of a
	 * keel port's datagrams) small. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (rc < 0 && errno == EADDRNOTAVAIL) {
		sin.sin_addr.s_addr = htonl(INADDR_ANY);
		rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	if (rc < 0 || getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		goto err;
	*port = sin.sin_port;
	return fd;
err:
	rc = -errno;
	close(fd);
	return rc;
}

int keel__xdp_udp_bind(void *drv, struct keel_udp *u,
		       const struct keel_addr *addr,
		       const struct keel_udp_opts *opts)
{
	struct keel__xdp *d = drv;
	struct keel__xdp_udp *s;
	uint32_t ip;
	uint16_t port = 0;
	unsigned cap;
	int fd, rc;

	rc = keel_net_udp_bind_check(d->net, addr);
	if (rc < 0)
		return rc;
	ip = addr->in4.sin_addr.s_addr;
	fd = hold_port(addr, opts, &port);
	if (fd < 0)
		return fd;
	if (sock_lookup(d, ip, port)) {
		rc = -EADDRINUSE; /* reuseport: one socket per worker */
		goto err_fd;
	}
	rc = -ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto err_fd;
	for (cap = 1; cap < d->rxq_len; cap <<= 1)
		;
	s->q = malloc(cap * sizeof(*s->q));
	if (!s->q)
		goto err_sock;
	s->qmask = cap - 1;
	s->drv = d;
	s->ip = ip;
	s->port = port;
	s->resv_fd = fd;
	rc = keel__xdp_port_hold(d->prog, ntohs(port));
	if (rc < 0)
		goto err_q;
	s->next = d->by_port[bucket(port)];
	d->by_port[bucket(port)] = s;
	keel_list_push_back(&d->socks, &s->link);
	u->ops = &xdp_udp_ops;
	u->impl = s;
	return 0;

err_q:
	free(s->q);
err_sock:
	free(s);
err_fd:
	close(fd);
	return rc;
}
