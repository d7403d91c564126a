/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets on the AF_XDP driver: the port map entry that makes the XDP
 * program redirect a port, delivery of received UMEM frames to their
 * socket's queue, and the send paths that build frames with net/. The
 * queue, the receives and the lent-frame table are drivers/common/sock.h's.
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
 * neighbour lookup), else with fresh headers. The shared layer's lent
 * table recognises the packets this socket lends (a stale or foreign one
 * is refused), and gives the frame address back when one is sent.
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
		if (s->sock.port == port &&
		    (!s->sock.ip || !ip || s->sock.ip == ip))
			return s;
	return NULL;
}

/* ---------------------------------------------------------------- receive */

static size_t max_payload(const struct keel__xdp *d)
{
	size_t by_mtu = d->mtu - 28;
	size_t by_frame = d->frame_size - KEEL__XDP_DATA_OFF - KEEL_NET_UDP_HDRS;

	return by_mtu < by_frame ? by_mtu : by_frame;
}

void keel__xdp_udp_deliver(struct keel__xdp *d, uint64_t addr,
			   const struct keel_net_rx_result *rx)
{
	struct keel__xdp_udp *s = sock_lookup(d, rx->dst_ip, rx->dst_port);
	/* net/ accepts no IP options and no VLAN tag: the payload is always
	 * at KEEL_NET_UDP_HDRS, where send_lent rebuilds, so the frame has
	 * room for the largest payload. */
	struct keel__dgram g = {
		.buf = addr,
		.data = d->area + addr + rx->payload_off,
		.len = rx->payload_len,
		.cap = (uint32_t)max_payload(d),
		.src_ip = rx->src_ip,
		.src_port = rx->src_port,
	};

	if (!s) {
		KEEL__XSTAT_ADD(d, no_socket, 1);
		keel__xdp_frame_put(d, addr);
		return;
	}
	if (!keel__sock_push(&s->sock, &g)) { /* full: counted */
		keel__xdp_frame_put(d, addr);
		return;
	}
	d->state[keel__xdp_index(d, addr)] = KEEL__F_SOCK;
	KEEL__XSTAT_ADD(d, rx_packets, 1);
	KEEL__XSTAT_ADD(d, rx_bytes, rx->payload_len);
}

/* The shared layer gives frames back: copied out, released, dropped. */
static void frames_put(void *drv, const uintptr_t *bufs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		keel__xdp_frame_put(drv, bufs[i]);
}

void keel__xdp_udp_init(struct keel__xdp *d)
{
	keel__socks_init(&d->socks, d, frames_put, &d->stats.rx_truncated,
			 &d->stats.sock_queue_full);
}

/* ------------------------------------------------------------------- send */

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
	if (freed && d->socks.wr_waiting)
		keel__socks_wake_writers(&d->socks);
	if (room > d->nfree) {
		if (!d->nfree)
			KEEL__XSTAT_ADD(d, no_frame, 1);
		room = d->nfree;
	}
	if (!room)
		keel__sock_wait_writer(&s->sock, cx);
	return room;
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
				       s->sock.broadcast);
}

/* Copy \p len bytes into a free frame and send them to \p to. */
static int send_copy(struct keel__xdp_udp *s, const void *buf, size_t len,
		     const struct keel_addr *to)
{
	struct keel__xdp *d = s->drv;
	uint64_t a = keel__xdp_frame_get(d) + KEEL__XDP_DATA_OFF;
	struct keel_net_udp_tx tx = {
		.src_ip = s->sock.ip,
		.dst_ip = to->in4.sin_addr.s_addr,
		.src_port = s->sock.port,
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
		.src_port = s->sock.port,
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

	rc = keel__sock_lent_check(&s->sock, pkts, n);
	if (rc == 0)
		rc = check_dest(s, &pkts[0].peer, pkts[0].len);
	if (rc < 0)
		return rc;
	k = tx_ready(s, cx, n);
	if (!k)
		return KEEL_PENDING;
	for (i = 0; i < k; i++) {
		struct keel_addr to = pkts[i].peer;
		size_t len = pkts[i].len;

		/* checked above: each one lent, and listed once */
		if (check_dest(s, &to, len) < 0)
			break; /* stays the caller's */
		/* Sent or dropped (no route), the frame is the driver's. */
		rc = send_in_place(s, keel__sock_unlend(&s->sock, &pkts[i]), len,
				   &to);
		if (rc < 0 && i == 0)
			return rc;
	}
	return i;
}

/* ---------------------------------------------------------------- control */

static void udp_close(void *impl)
{
	struct keel__xdp_udp *s = impl;
	struct keel__xdp *d = s->drv;
	struct keel__xdp_udp **pp = &d->by_port[bucket(s->sock.port)];

	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	keel__xdp_port_release(d->prog, ntohs(s->sock.port));
	close(s->resv_fd);
	keel__sock_close(&s->sock); /* queued and lent frames come back */
	free(s);
}

void keel__xdp_udp_close_all(struct keel__xdp *d)
{
	keel__socks_close_all(&d->socks, udp_close);
}

static const struct keel_udp_ops xdp_udp_ops = {
	.recv_from = keel__sock_recv_from,
	.send_to = udp_send_to,
	.recv_batch = keel__sock_recv_batch,
	.send_batch = udp_send_batch,
	.recv_lend = keel__sock_recv_lend,
	.send_lent = udp_send_lent,
	.release = keel__sock_release,
	.local_addr = keel__sock_local_addr,
	.setopt = keel__sock_setopt, /* broadcast; TTL, multicast...: -ENOTSUP */
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
	rc = keel__xdp_port_hold(d->prog, ntohs(port));
	if (rc < 0)
		goto err_sock;
	rc = keel__sock_open(&d->socks, &s->sock, d->rxq_len, ip, port);
	if (rc < 0)
		goto err_port;
	s->drv = d;
	s->resv_fd = fd;
	s->next = d->by_port[bucket(port)];
	d->by_port[bucket(port)] = s;
	u->ops = &xdp_udp_ops;
	u->impl = &s->sock;
	return 0;

err_port:
	keel__xdp_port_release(d->prog, ntohs(port));
err_sock:
	free(s);
err_fd:
	close(fd);
	return rc;
}
