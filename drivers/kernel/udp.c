/* SPDX-License-Identifier: MIT */
/*
 * UDP on kernel sockets: one non-blocking socket per keel_udp, the batch
 * calls on recvmmsg/sendmmsg, and the zero-copy calls emulated with a pool
 * of buffers the driver owns.
 *
 * The one-datagram calls batch underneath, so that a service written with
 * recv_from/send_to costs what one written with the batch calls does:
 *
 * - recv_from with nothing in the socket's receive ring calls recvmmsg
 *   once, the first datagram straight into the caller's buffer (no copy:
 *   at one datagram per wake nothing changes), the others into the ring,
 *   which the next calls drain (one copy, from memory just written). The
 *   first call after one that found the socket empty uses recvmsg: at
 *   one datagram in flight that saves recvmmsg's look for a second, and
 *   the system calls are those of one datagram per call.
 *   recv_batch and recv_lend drain the ring first too, so datagrams come
 *   out in the order they came in, whatever call takes them. A ring slot
 *   is a compact KEEL__KERNEL_SLOT bytes plus a spill area up to the
 *   largest datagram, touched only by long datagrams: nothing is cut but
 *   by the caller's own buffer, reported as before (-EMSGSIZE,
 *   KEEL_DGRAM_TRUNC, rx_truncated).
 * - send_to queues while the socket is in a burst (its ring holds
 *   datagrams not yet taken, or sends are already queued), else sends at
 *   once, as before. The queue holds as many as one ring fill (65). The queue goes out in one sendmmsg at the socket's
 *   next receive that has to call the kernel, when it is full, before any
 *   other send call on the socket (order is kept), at close, and at the
 *   driver's poll, which the worker runs at the end of every tick and so
 *   always before it parks. A queued send_to is ready with its length; a
 *   datagram the kernel then refuses is dropped (tx_dropped) and its
 *   error is returned by the socket's next send call, which sends nothing
 *   (as the kernel reports a socket's asynchronous errors). A full queue
 *   the kernel has no room for (EAGAIN) makes send_to wait for
 *   writability; nothing waits forever.
 *
 * The kernel has no packet buffers to lend, so recv_lend receives straight
 * into free pool buffers (the one copy is the kernel's, as with recv_from)
 * and lends them; send_lent sends from them and takes back those sent.
 * An echo server that replies in place thus moves each payload through
 * user space without a copy of its own. A lent packet is recognised as
 * the bypass drivers' are (drivers/common/sock.h): priv[0] is its
 * buffer's index, priv[1] a ticket drawn at each lend and kept with the
 * buffer, and its data must lie in that buffer (which tells one socket's
 * packets from another's). So a packet that this socket does not lend
 * now (another socket's, one sent or released, or a stale copy of one
 * whose buffer was lent again) is refused by send_lent (-EINVAL) and left
 * alone by release, rather than corrupting the pool; a packet listed
 * twice in one send_lent is refused (-EINVAL) and nothing is sent.
 *
 * Datagrams the kernel drops at the socket (its receive buffer full) are
 * counted in rx_sockbuf_dropped (and rx_dropped) with SO_RXQ_OVFL: see
 * rx_drops.
 *
 * Every op runs on the thread of the worker that owns the socket (core
 * sees to it), so nothing here takes a lock.
 */
#include "kernel_internal.h"
#include "source.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for the one control message a receive asks for, on its first
 * datagram only: SO_RXQ_OVFL's 32-bit drop count (rx_drops). */
union rx_ctl {
	struct cmsghdr h;
	unsigned char b[CMSG_SPACE(sizeof(uint32_t))];
};

/* The receive ring: msgs[0] is the caller's buffer, msgs[1..] the slots;
 * the datagrams not yet taken are msgs[next..end). */
struct udp_ring {
	unsigned next, end;
	unsigned char *data;  /* KEEL__KERNEL_BATCH x KEEL__KERNEL_SLOT */
	unsigned char *spill; /* KEEL__KERNEL_BATCH x SPILL, mmap'd */
	struct mmsghdr msgs[1 + KEEL__KERNEL_BATCH];
	struct iovec iov[1 + KEEL__KERNEL_BATCH][2];
	struct keel_addr peer[1 + KEEL__KERNEL_BATCH];
	union rx_ctl ctl; /* msgs[0]'s */
};

#define SPILL (KEEL__KERNEL_DGRAM_MAX - KEEL__KERNEL_SLOT)
#define SPILL_BYTES ((size_t)KEEL__KERNEL_BATCH * SPILL)

/* The send queue: msgs[head..n) not yet sent, payloads in arena. As long
 * as one ring fill, so that an echo of a fill is one sendmmsg. */
#define TXQ_LEN (1 + KEEL__KERNEL_BATCH)

struct udp_txq {
	unsigned head, n;
	size_t used; /* arena bytes */
	struct mmsghdr msgs[TXQ_LEN];
	struct iovec iov[TXQ_LEN];
	struct keel_addr to[TXQ_LEN];
	unsigned char arena[TXQ_LEN * KEEL__KERNEL_SLOT];
};

/* A pool buffer's lending: the ticket of the packet that has it (0: not
 * lent), and the send_lent call that last checked it (a packet listed
 * twice in one call is found by it). */
struct pool_lent {
	uintptr_t ticket;
	uint64_t mark;
};

struct kernel_udp {
	struct keel__kio io; /* first: epoll's data.ptr points here too */
	int family;

	struct udp_ring *ring; /* at the first recv_from */
	struct udp_txq *txq;   /* at the first queued send_to */
	struct keel_list tx_link; /* on the driver's tx_pending while queued */
	int tx_err; /* a queued datagram's error, for the next send call */
	bool rd_drained; /* the last look found the socket empty */
	bool connected;	 /* keel_udp_connect: ICMP errors reach it */
	uint32_t drops;	 /* the kernel's drop count at the last look */

	/* Zero-copy pool, allocated at the first recv_lend. */
	unsigned char *bufs; /* nbufs * bufsize bytes */
	uint16_t *free_idx;  /* stack of free buffer indices */
	struct pool_lent *lent; /* per buffer */
	unsigned nbufs, bufsize, nfree;
	uintptr_t ticket; /* the last one drawn */
	uint64_t checks;  /* send_lent calls checked (pool_lent.mark) */
	struct keel__ksrc src; /* the reader's: sources not answered */
};

static struct kernel_udp *udp_of(void *impl)
{
	return impl;
}

/* A datagram from a source that cannot be answered (source port 0, a
 * broadcast or network address: source.h) is dropped, counted in
 * rx_dropped, as net/ does on the bypass drivers. */
static bool src_bad(struct kernel_udp *u, const struct keel_addr *a)
{
	return keel__ksrc_bad(&u->src, a);
}

/*
 * A receive asks the kernel only when there may be something to take:
 * io.ready is cleared when a look finds the socket empty (EAGAIN, or a
 * batch shorter than asked: recvmmsg stops at the first datagram it does
 * not find) and set again by the next read edge, which every datagram
 * that arrives at an empty socket brings. In between, a receive waits for
 * that edge without a system call: a server's loop costs one epoll_wait,
 * one recvmmsg and one sendmmsg per batch, not a second recvmmsg that
 * finds nothing. A connected socket always asks: the kernel also ends a
 * batch at a pending ICMP error, which it keeps for the next call
 * without a new edge.
 */
static intptr_t rd_wait(struct kernel_udp *u, struct keel_cx *cx)
{
	if (u->io.ready)
		return 0;
	keel_waker_register(&u->io.waker[KEEL__KIO_RD], cx);
	return KEEL_PENDING;
}

/* After a receive that asked for \p want datagrams and got \p r. */
static void rd_looked(struct kernel_udp *u, intptr_t r, size_t want)
{
	u->rd_drained = r == KEEL_PENDING || (r >= 0 && (size_t)r < want);
	u->io.ready = u->connected || !u->rd_drained;
}

/*
 * Datagrams the kernel dropped at the socket. With SO_RXQ_OVFL (set at
 * bind) the kernel puts the socket's drop count (cumulative, 32 bits), as
 * it was when a datagram was queued, on every datagram it delivers with
 * room for it once the count is not 0: its receive buffer was full (nearly
 * always), or a bad checksum or a socket filter dropped one. Each receive
 * gives room on its first datagram only, and counts what grew since the
 * last one seen: one look per system call, nothing to parse while no drop
 * ever happened, and the kernel writes one control message per call, not
 * one per datagram (which, once a socket had dropped one, would cost
 * every datagram after it ~50 ns). The count only grows along the queue,
 * so a drop shows at the first receive that begins with a datagram queued
 * after it; drops after the last datagram a socket receives are never
 * seen.
 */
static void rx_drops(struct kernel_udp *u, struct msghdr *mh)
{
	if (__builtin_expect(mh->msg_controllen == 0, 1))
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		uint32_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL ||
		    c->cmsg_len < CMSG_LEN(sizeof(n)))
			continue;
		memcpy(&n, CMSG_DATA(c), sizeof(n));
		if (n != u->drops) {
			KEEL__KSTAT_ADD(u->io.drv, rx_sockbuf_dropped,
					(uint32_t)(n - u->drops));
			u->drops = n;
		}
	}
}

static void rx_ctl_set(struct msghdr *mh, union rx_ctl *ctl)
{
	mh->msg_control = ctl;
	mh->msg_controllen = sizeof(*ctl);
}

/* ------------------------------------------------------------ receive ring */

static struct udp_ring *ring_new(void)
{
	struct udp_ring *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->data = malloc((size_t)KEEL__KERNEL_BATCH * KEEL__KERNEL_SLOT);
	/* Reserved, not committed: only a long datagram touches its pages. */
	g->spill = mmap(NULL, SPILL_BYTES, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!g->data || g->spill == MAP_FAILED) {
		if (g->spill != MAP_FAILED)
			munmap(g->spill, SPILL_BYTES);
		free(g->data);
		free(g);
		return NULL;
	}
	for (unsigned i = 1; i <= KEEL__KERNEL_BATCH; i++) {
		g->iov[i][0] = (struct iovec){
			g->data + (size_t)(i - 1) * KEEL__KERNEL_SLOT,
			KEEL__KERNEL_SLOT
		};
		g->iov[i][1] = (struct iovec){
			g->spill + (size_t)(i - 1) * SPILL, SPILL
		};
		g->msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &g->peer[i],
			.msg_namelen = sizeof(g->peer[i]),
			.msg_iov = g->iov[i],
			.msg_iovlen = 2,
		};
	}
	g->msgs[0].msg_hdr = (struct msghdr){
		.msg_name = &g->peer[0],
		.msg_iov = g->iov[0],
		.msg_iovlen = 1,
	};
	rx_ctl_set(&g->msgs[0].msg_hdr, &g->ctl);
	return g;
}

/* Close: datagrams taken from the kernel but never delivered are dropped
 * (rx_dropped). */
static void ring_free(struct kernel_udp *u)
{
	struct udp_ring *g = u->ring;

	if (!g)
		return;
	if (g->next < g->end)
		KEEL__KSTAT_ADD(u->io.drv, rx_dropped, g->end - g->next);
	munmap(g->spill, SPILL_BYTES);
	free(g->data);
	free(g);
	u->ring = NULL;
}

static bool ring_has(const struct kernel_udp *u)
{
	return u->ring && u->ring->next < u->ring->end;
}

/* Copy up to \p cap bytes of ring entry \p i into \p buf; \return how
 * many, with *cut set when the datagram was longer. */
static size_t ring_copy(const struct udp_ring *g, unsigned i, void *buf,
			size_t cap, bool *cut)
{
	size_t len = g->msgs[i].msg_len, n = len < cap ? len : cap;
	size_t head = n < KEEL__KERNEL_SLOT ? n : KEEL__KERNEL_SLOT;

	if (head)
		memcpy(buf, g->iov[i][0].iov_base, head);
	if (n > head)
		memcpy((unsigned char *)buf + head, g->iov[i][1].iov_base,
		       n - head);
	/* A slot holds the largest datagram: MSG_TRUNC here cannot be, but
	 * would be reported. */
	*cut = len > cap || (g->msgs[i].msg_hdr.msg_flags & MSG_TRUNC);
	return n;
}

/* The next ring entry from a source that may be answered (the others are
 * dropped, counted), or 0 when the ring has none left. */
static unsigned ring_next(struct kernel_udp *u)
{
	struct udp_ring *g = u->ring;

	while (g->next < g->end) {
		unsigned i = g->next++;

		if (!src_bad(u, &g->peer[i]))
			return i;
		KEEL__KSTAT_ADD(u->io.drv, rx_dropped, 1);
	}
	return 0;
}

/* recv_from's result for a datagram of which \p n bytes were kept
 * (\p cut: it was longer), counted. */
static ssize_t delivered(struct keel__kernel *d, size_t n, bool cut)
{
	KEEL__KSTAT_ADD(d, rx_packets, 1);
	KEEL__KSTAT_ADD(d, rx_bytes, n);
	if (cut) {
		KEEL__KSTAT_ADD(d, rx_truncated, 1);
		return -EMSGSIZE;
	}
	return (ssize_t)n;
}

/* One recvmsg, for a socket whose ring could not be allocated. */
static ssize_t recv_one(struct kernel_udp *u, struct keel_cx *cx, void *buf,
			size_t len, struct keel_addr *from)
{
	struct keel__kernel *d = u->io.drv;
	struct keel_addr src;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	union rx_ctl ctl;
	struct msghdr mh = {
		.msg_name = &src,
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	/* Bounded: each turn consumes a datagram from the queue. */
	for (;;) {
		mh.msg_namelen = sizeof(src);
		rx_ctl_set(&mh, &ctl);
		KEEL__NOINTR(n, recvmsg(u->io.fd, &mh, 0));
		n = keel__kernel_done(&u->io, KEEL__KIO_RD, cx, n);
		if (n < 0)
			return n;
		rx_drops(u, &mh);
		if (!src_bad(u, &src))
			break;
		KEEL__KSTAT_ADD(d, rx_dropped, 1);
	}
	if (from)
		*from = src;
	return delivered(d, (size_t)n, mh.msg_flags & MSG_TRUNC);
}

static intptr_t txq_flush(struct kernel_udp *u, struct keel_cx *cx);

static bool txq_has(const struct kernel_udp *u)
{
	return u->txq && u->txq->head < u->txq->n;
}

static ssize_t udp_recv_from(void *impl, struct keel_cx *cx, void *buf,
			     size_t len, struct keel_addr *from)
{
	struct kernel_udp *u = udp_of(impl);
	struct keel__kernel *d = u->io.drv;
	struct udp_ring *g = u->ring;
	unsigned i;
	intptr_t r;

	if (!g) {
		g = u->ring = ring_new();
		if (!g)
			return recv_one(u, cx, buf, len, from);
	}
	for (;;) {
		if ((i = ring_next(u)) != 0) {
			bool cut;
			size_t n = ring_copy(g, i, buf, len, &cut);

			if (from)
				*from = g->peer[i];
			return delivered(d, n, cut);
		}
		/* Empty: the replies to what it held go out first, then one
		 * recvmmsg, its first datagram into the caller's buffer. */
		if (txq_has(u))
			txq_flush(u, NULL);
		if ((r = rd_wait(u, cx)) != 0)
			return r;
		/* what the last receive wrote back */
		g->msgs[0].msg_hdr.msg_namelen = sizeof(g->peer[0]);
		g->msgs[0].msg_hdr.msg_controllen = sizeof(g->ctl);
		for (unsigned k = 1; k < g->end; k++)
			g->msgs[k].msg_hdr.msg_namelen = sizeof(g->peer[k]);
		g->iov[0][0] = (struct iovec){ buf, len };
		g->next = g->end = 0;
		if (u->rd_drained) {
			/* The socket was empty at the last look: most likely
			 * one datagram came (one in flight), which recvmsg
			 * takes without recvmmsg's look for a second; if
			 * more came, the next call takes them in a batch. */
			KEEL__NOINTR(r, recvmsg(u->io.fd, &g->msgs[0].msg_hdr, 0));
			if (r >= 0) {
				g->msgs[0].msg_len = (unsigned)r;
				r = 1;
			}
			r = keel__kernel_done(&u->io, KEEL__KIO_RD, cx, r);
			rd_looked(u, r, 1);
		} else {
			KEEL__NOINTR(r, recvmmsg(u->io.fd, g->msgs,
						 1 + KEEL__KERNEL_BATCH, 0, NULL));
			r = keel__kernel_done(&u->io, KEEL__KIO_RD, cx, r);
			rd_looked(u, r, 1 + KEEL__KERNEL_BATCH);
		}
		if (r < 0)
			return r;
		rx_drops(u, &g->msgs[0].msg_hdr);
		g->next = 1;
		g->end = (unsigned)r;
		if (!src_bad(u, &g->peer[0])) {
			if (from)
				*from = g->peer[0];
			return delivered(d, g->msgs[0].msg_len,
					 g->msgs[0].msg_hdr.msg_flags & MSG_TRUNC);
		}
		KEEL__KSTAT_ADD(d, rx_dropped, 1);
		/* Each turn consumes datagrams, so this ends. */
	}
}

/* -------------------------------------------------------------- send queue */

/* A send failed with \p r: count what the kernel dropped for want of
 * buffer space. */
static intptr_t send_failed(struct kernel_udp *u, intptr_t r)
{
	if (r == -ENOBUFS)
		KEEL__KSTAT_ADD(u->io.drv, tx_dropped, 1);
	return r;
}

/* The error a queued datagram met, once: every send call asks first. */
static int tx_error(struct kernel_udp *u)
{
	int e = u->tx_err;

	u->tx_err = 0;
	return e;
}

/*
 * Send what is queued, in order. A datagram the kernel refuses is
 * dropped, counted in tx_dropped, its error kept for the next send call.
 * \return 0 when the queue is empty; KEEL_PENDING when the kernel has no
 * room (with \p cx's waker in the socket's write slot, when given; the
 * driver's poll tries again each tick, and the EPOLLOUT edge wakes a
 * parked worker).
 */
static intptr_t txq_flush(struct kernel_udp *u, struct keel_cx *cx)
{
	struct keel__kernel *d = u->io.drv;
	struct udp_txq *q = u->txq;
	uint64_t sent = 0, bytes = 0;
	intptr_t rc = 0;

	while (q->head < q->n) {
		int r;

		KEEL__NOINTR(r, sendmmsg(u->io.fd, q->msgs + q->head,
					 q->n - q->head, 0));
		if (r > 0) {
			for (unsigned i = q->head; i < q->head + (unsigned)r; i++)
				bytes += q->msgs[i].msg_len;
			sent += (unsigned)r;
			q->head += (unsigned)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (cx)
				keel_waker_register(&u->io.waker[KEEL__KIO_WR], cx);
			keel__kernel_want_wr(&u->io, cx);
			rc = KEEL_PENDING;
			break;
		}
		if (!u->tx_err)
			u->tx_err = r < 0 ? keel__kernel_err(errno) : -EIO;
		KEEL__KSTAT_ADD(d, tx_dropped, 1);
		q->head++;
	}
	if (sent) {
		KEEL__KSTAT_ADD(d, tx_packets, sent);
		KEEL__KSTAT_ADD(d, tx_bytes, bytes);
	}
	if (q->head == q->n) {
		q->head = q->n = 0;
		q->used = 0;
		if (keel_list_linked(&u->tx_link))
			keel_list_remove(&u->tx_link);
	}
	return rc;
}

void keel__kernel_udp_flush(struct keel__kernel *d)
{
	struct keel_list *n = d->tx_pending.next;

	/* A flush unlinks only its own socket. */
	while (n != &d->tx_pending) {
		struct keel_list *next = n->next;

		txq_flush(KEEL_CONTAINER_OF(n, struct kernel_udp, tx_link), NULL);
		n = next;
	}
}

/* What a send call that does not queue does first: return the error a
 * queued datagram met, if any, else send what is queued (order is kept).
 * 0 to go on, KEEL_PENDING (waiting for room), or that error. */
static intptr_t tx_first(struct kernel_udp *u, struct keel_cx *cx)
{
	if (!u->tx_err && txq_has(u) && txq_flush(u, cx) == KEEL_PENDING)
		return KEEL_PENDING;
	return tx_error(u);
}

/* Queue one datagram; \return its length, or KEEL_PENDING (the queue is
 * full and the kernel has no room). -ENOMEM: not queued, send at once. */
static ssize_t txq_push(struct kernel_udp *u, struct keel_cx *cx,
			const void *buf, size_t len, const struct keel_addr *to)
{
	struct udp_txq *q = u->txq;
	struct mmsghdr *m;
	unsigned char *p;

	if (!q) {
		q = u->txq = malloc(sizeof(*q));
		if (!q)
			return -ENOMEM;
		q->head = q->n = 0;
		q->used = 0;
	}
	if (q->n == TXQ_LEN && txq_flush(u, cx) == KEEL_PENDING)
		return KEEL_PENDING;
	p = q->arena + q->used;
	if (len)
		memcpy(p, buf, len);
	q->used += len;
	q->to[q->n] = *to;
	q->iov[q->n] = (struct iovec){ p, len };
	m = &q->msgs[q->n];
	m->msg_hdr = (struct msghdr){
		.msg_name = &q->to[q->n],
		.msg_namelen = keel_addr_len(to),
		.msg_iov = &q->iov[q->n],
		.msg_iovlen = 1,
	};
	m->msg_len = 0;
	if (q->n++ == q->head && !keel_list_linked(&u->tx_link))
		keel_list_push_back(&u->io.drv->tx_pending, &u->tx_link);
	return (ssize_t)len;
}

static ssize_t udp_send_to(void *impl, struct keel_cx *cx, const void *buf,
			   size_t len, const struct keel_addr *to)
{
	struct kernel_udp *u = udp_of(impl);
	ssize_t n;

	if (u->tx_err)
		return tx_error(u);
	/* In a burst, small datagrams to an address of the socket's family
	 * queue; anything else is sent now, and the kernel's answer
	 * returned, as it always was. */
	if (len <= KEEL__KERNEL_SLOT && to->sa.sa_family == u->family &&
	    (ring_has(u) || txq_has(u))) {
		n = txq_push(u, cx, buf, len, to);
		if (n != -ENOMEM)
			return n;
	}
	if ((n = tx_first(u, cx)) != 0)
		return n;
	KEEL__NOINTR(n, sendto(u->io.fd, buf, len, 0, &to->sa, keel_addr_len(to)));
	n = keel__kernel_done(&u->io, KEEL__KIO_WR, cx, n);
	if (n < 0)
		return send_failed(u, n);
	KEEL__KSTAT_ADD(u->io.drv, tx_packets, 1);
	KEEL__KSTAT_ADD(u->io.drv, tx_bytes, n);
	return n;
}

/* ----------------------------------------------------------------- batches */

/* Take the datagrams from port 0 out of a received batch, moving the
 * later ones down (their bytes into the earlier buffers, cut to fit).
 * \return how many are left. */
static int drop_bad_srcs(struct kernel_udp *u, struct keel_dgram *v,
			 struct mmsghdr *msgs, int r)
{
	int k = 0;

	for (int i = 0; i < r; i++) {
		size_t len = msgs[i].msg_len;

		if (src_bad(u, &v[i].peer))
			continue;
		if (k != i) {
			if (len > v[k].cap) {
				len = v[k].cap;
				msgs[i].msg_hdr.msg_flags |= MSG_TRUNC;
			}
			memmove(v[k].buf, v[i].buf, len);
			v[k].peer = v[i].peer;
			msgs[k].msg_len = (unsigned)len;
			msgs[k].msg_hdr.msg_flags = msgs[i].msg_hdr.msg_flags;
		}
		k++;
	}
	if (k != r)
		KEEL__KSTAT_ADD(u->io.drv, rx_dropped, r - k);
	return k;
}

/* recv_batch from what recv_from left in the ring: \return how many. */
static ssize_t batch_from_ring(struct kernel_udp *u, struct keel_dgram *v,
			       unsigned n)
{
	struct keel__kernel *d = u->io.drv;
	uint64_t bytes = 0, trunc = 0;
	unsigned k = 0, i;

	while (k < n && (i = ring_next(u)) != 0) {
		bool cut;

		v[k].len = ring_copy(u->ring, i, v[k].buf, v[k].cap, &cut);
		v[k].peer = u->ring->peer[i];
		v[k].flags = cut ? KEEL_DGRAM_TRUNC : 0;
		trunc += cut;
		bytes += v[k].len;
		k++;
	}
	KEEL__KSTAT_ADD(d, rx_packets, k);
	KEEL__KSTAT_ADD(d, rx_bytes, bytes);
	if (trunc)
		KEEL__KSTAT_ADD(d, rx_truncated, trunc);
	return k;
}

static ssize_t udp_recv_batch(void *impl, struct keel_cx *cx,
			      struct keel_dgram *v, unsigned n)
{
	struct kernel_udp *u = udp_of(impl);
	struct keel__kernel *d = u->io.drv;
	struct mmsghdr msgs[KEEL__KERNEL_BATCH];
	struct iovec iov[KEEL__KERNEL_BATCH];
	union rx_ctl ctl;
	uint64_t bytes = 0, trunc = 0;
	intptr_t r, k;

	if (n > KEEL__KERNEL_BATCH)
		n = KEEL__KERNEL_BATCH;
	/* What recv_from took from the kernel comes first. */
	if (ring_has(u) && (r = batch_from_ring(u, v, n)) > 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){ v[i].buf, v[i].cap };
		msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &v[i].peer,
			.msg_namelen = sizeof(v[i].peer),
			.msg_iov = &iov[i],
			.msg_iovlen = 1,
		};
		msgs[i].msg_len = 0;
	}
	rx_ctl_set(&msgs[0].msg_hdr, &ctl);
	do {
		if ((r = rd_wait(u, cx)) != 0)
			return r;
		KEEL__NOINTR(r, recvmmsg(u->io.fd, msgs, n, 0, NULL));
		r = keel__kernel_done(&u->io, KEEL__KIO_RD, cx, r);
		rd_looked(u, r, n);
		if (r < 0)
			return r;
		rx_drops(u, &msgs[0].msg_hdr);
		k = drop_bad_srcs(u, v, msgs, (int)r);
		/* All from unanswerable sources: read on, with what the
		 * kernel wrote back made as it was. */
		for (intptr_t i = 0; k == 0 && i < r; i++)
			msgs[i].msg_hdr.msg_namelen = sizeof(v[i].peer);
		msgs[0].msg_hdr.msg_controllen = sizeof(ctl);
		r = k;
	} while (r == 0);
	for (intptr_t i = 0; i < r; i++) {
		v[i].len = msgs[i].msg_len;
		v[i].flags = 0;
		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			v[i].flags = KEEL_DGRAM_TRUNC;
			trunc++;
		}
		bytes += msgs[i].msg_len;
	}
	KEEL__KSTAT_ADD(d, rx_packets, r);
	KEEL__KSTAT_ADD(d, rx_bytes, bytes);
	if (trunc)
		KEEL__KSTAT_ADD(d, rx_truncated, trunc);
	return r;
}

/* sendmmsg: the count sent, KEEL_PENDING (waiting for writability) or a
 * negative errno. */
static intptr_t send_msgs(struct kernel_udp *u, struct keel_cx *cx,
			  struct mmsghdr *msgs, unsigned n)
{
	intptr_t r;

	KEEL__NOINTR(r, sendmmsg(u->io.fd, msgs, n, 0));
	r = keel__kernel_done(&u->io, KEEL__KIO_WR, cx, r);
	return r < 0 ? send_failed(u, r) : r;
}

static ssize_t udp_send_batch(void *impl, struct keel_cx *cx,
			      const struct keel_dgram *v, unsigned n)
{
	struct kernel_udp *u = udp_of(impl);
	struct keel__kernel *d;
	struct mmsghdr msgs[KEEL__KERNEL_BATCH];
	struct iovec iov[KEEL__KERNEL_BATCH];
	uint64_t bytes = 0;
	intptr_t r;

	if (n > KEEL__KERNEL_BATCH)
		n = KEEL__KERNEL_BATCH;
	if ((r = tx_first(u, cx)) != 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		/* msghdr has no const members: the casts go through an
		 * integer, the kernel only reads these. */
		iov[i] = (struct iovec){ (void *)(uintptr_t)v[i].buf, v[i].cap };
		msgs[i].msg_hdr = (struct msghdr){
			.msg_name = (void *)(uintptr_t)&v[i].peer,
			.msg_namelen = keel_addr_len(&v[i].peer),
			.msg_iov = &iov[i],
			.msg_iovlen = 1,
		};
	}
	r = send_msgs(u, cx, msgs, n);
	if (r < 0)
		return r; /* KEEL_PENDING or an error */
	for (intptr_t i = 0; i < r; i++)
		bytes += msgs[i].msg_len;
	d = u->io.drv;
	KEEL__KSTAT_ADD(d, tx_packets, r);
	KEEL__KSTAT_ADD(d, tx_bytes, bytes);
	return r;
}

/* --------------------------------------------------------------- zero-copy */

/* Allocate the pool (at the first recv_lend). */
static int pool_init(struct kernel_udp *u)
{
	unsigned nb = u->io.drv->lend_bufs, bs = u->io.drv->lend_bufsize;
	unsigned char *bufs = malloc((size_t)nb * bs);
	uint16_t *free_idx = malloc(nb * sizeof(*free_idx));
	struct pool_lent *lent = calloc(nb, sizeof(*lent));

	if (!bufs || !free_idx || !lent) {
		free(bufs);
		free(free_idx);
		free(lent);
		return -ENOMEM;
	}
	/* Lowest index on top: a quiet socket keeps reusing the same few
	 * buffers, which stay in cache. */
	for (unsigned i = 0; i < nb; i++)
		free_idx[i] = (uint16_t)(nb - 1 - i);
	u->bufs = bufs;
	u->free_idx = free_idx;
	u->lent = lent;
	u->nbufs = nb;
	u->bufsize = bs;
	u->nfree = nb;
	return 0;
}

static void pool_fini(struct kernel_udp *u)
{
	free(u->bufs);
	free(u->free_idx);
	free(u->lent);
	u->bufs = NULL;
	u->free_idx = NULL;
	u->lent = NULL;
	u->nbufs = u->nfree = 0;
}

static unsigned char *pool_buf(const struct kernel_udp *u, unsigned idx)
{
	return u->bufs + (size_t)idx * u->bufsize;
}

/* Whether \p p is a packet this socket lends now: its buffer's ticket is
 * the packet's (not a stale copy's), and its data is in that buffer (not
 * another socket's packet, whose index and ticket may be the same). Only
 * the pool is read, not the memory \p p points to. */
static bool pool_owns(const struct kernel_udp *u, const struct keel_pkt *p)
{
	uintptr_t idx = p->priv[0];
	const unsigned char *base, *data = p->data;

	if (idx >= u->nbufs || !p->priv[1] || u->lent[idx].ticket != p->priv[1])
		return false;
	base = pool_buf(u, (unsigned)idx);
	/* compared as integers: data may point anywhere */
	return (uintptr_t)data >= (uintptr_t)base &&
	       (uintptr_t)data - (uintptr_t)base <= u->bufsize;
}

/* What send_lent refuses in \p p, as the bypass drivers do
 * (drivers/common/sock.h): -EINVAL, a packet this socket does not lend
 * now, or one already listed in this call (\p u->checks numbers it);
 * -EMSGSIZE, one grown past the buffer's end (data may move within it);
 * else 0. */
static int pool_check(struct kernel_udp *u, const struct keel_pkt *p)
{
	struct pool_lent *l;
	size_t off;

	if (!pool_owns(u, p))
		return -EINVAL;
	l = &u->lent[p->priv[0]];
	if (l->mark == u->checks)
		return -EINVAL; /* listed twice */
	l->mark = u->checks;
	off = (size_t)((const unsigned char *)p->data -
		       pool_buf(u, (unsigned)p->priv[0]));
	return p->len > u->bufsize - off ? -EMSGSIZE : 0;
}

static void pool_put(struct kernel_udp *u, struct keel_pkt *p)
{
	unsigned idx = (unsigned)p->priv[0];

	u->lent[idx].ticket = 0;
	u->free_idx[u->nfree++] = (uint16_t)idx;
	p->data = NULL;
	p->len = p->cap = 0;
	p->priv[0] = p->priv[1] = 0;
}

/* Up to \p n free buffers for a receive, top of the stack first, into
 * \p idx (making the pool at the first call); only looked at: the receive
 * takes those it filled. \return how many (0: all lent), or -ENOMEM. */
static int pool_take(struct kernel_udp *u, uint16_t *idx, unsigned n)
{
	if (!u->bufs && pool_init(u) < 0)
		return -ENOMEM;
	if (n > u->nfree)
		n = u->nfree;
	for (unsigned i = 0; i < n; i++)
		idx[i] = u->free_idx[u->nfree - 1 - i];
	return (int)n;
}

/* Receive once into free buffers; \return packets lent (0 when every
 * datagram received was too long and dropped), KEEL_PENDING, or -errno
 * (-ENOBUFS: all lent). */
static ssize_t lend_once(struct kernel_udp *u, struct keel_cx *cx,
			 struct keel_pkt *pkts, unsigned n)
{
	struct keel__kernel *d = u->io.drv;
	struct mmsghdr msgs[KEEL__KERNEL_BATCH];
	struct iovec iov[KEEL__KERNEL_BATCH];
	union rx_ctl ctl;
	uint16_t idx[KEEL__KERNEL_BATCH];
	uint64_t bytes = 0, trunc = 0, bad_src = 0;
	unsigned k = 0;
	intptr_t r;

	if ((r = rd_wait(u, cx)) != 0)
		return r;
	r = pool_take(u, idx, n);
	if (r <= 0)
		return r < 0 ? r : -ENOBUFS;
	n = (unsigned)r;
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){ pool_buf(u, idx[i]), u->bufsize };
		msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &pkts[i].peer,
			.msg_namelen = sizeof(pkts[i].peer),
			.msg_iov = &iov[i],
			.msg_iovlen = 1,
		};
	}
	rx_ctl_set(&msgs[0].msg_hdr, &ctl);
	KEEL__NOINTR(r, recvmmsg(u->io.fd, msgs, n, 0, NULL));
	r = keel__kernel_done(&u->io, KEEL__KIO_RD, cx, r);
	rd_looked(u, r, n);
	if (r < 0)
		return r;
	rx_drops(u, &msgs[0].msg_hdr);
	u->nfree -= (unsigned)r;
	for (intptr_t i = 0; i < r; i++) {
		if (src_bad(u, &pkts[i].peer)) {
			bad_src++;
			u->free_idx[u->nfree++] = idx[i];
			continue;
		}
		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			/* No flag in keel_pkt to carry the cut: drop. */
			trunc++;
			u->free_idx[u->nfree++] = idx[i];
			continue;
		}
		if (k != (unsigned)i)
			pkts[k].peer = pkts[i].peer;
		pkts[k].data = pool_buf(u, idx[i]);
		pkts[k].len = msgs[i].msg_len;
		pkts[k].cap = u->bufsize;
		pkts[k].priv[0] = idx[i];
		pkts[k].priv[1] = u->lent[idx[i]].ticket = ++u->ticket;
		bytes += msgs[i].msg_len;
		k++;
	}
	if (trunc) {
		KEEL__KSTAT_ADD(d, rx_truncated, trunc);
		KEEL__KSTAT_ADD(d, rx_dropped, trunc);
	}
	if (bad_src)
		KEEL__KSTAT_ADD(d, rx_dropped, bad_src);
	KEEL__KSTAT_ADD(d, rx_packets, k);
	KEEL__KSTAT_ADD(d, rx_bytes, bytes);
	return k;
}

/* recv_lend from what recv_from left in the ring, copied into free
 * buffers: \return packets lent (0 when every one taken was too long and
 * dropped, as lend_once drops them), or -ENOBUFS (all lent). */
static ssize_t lend_from_ring(struct kernel_udp *u, struct keel_pkt *pkts,
			      unsigned n)
{
	struct keel__kernel *d = u->io.drv;
	struct udp_ring *g = u->ring;
	uint16_t idx[KEEL__KERNEL_BATCH];
	uint64_t bytes = 0, trunc = 0;
	unsigned k = 0, i;
	int r = pool_take(u, idx, n);

	if (r <= 0)
		return r < 0 ? r : -ENOBUFS;
	while (k < (unsigned)r && (i = ring_next(u)) != 0) {
		unsigned char *b = pool_buf(u, idx[k]);
		bool cut;
		size_t len = ring_copy(g, i, b, u->bufsize, &cut);

		if (cut) {
			trunc++;
			continue;
		}
		pkts[k] = (struct keel_pkt){
			.data = b,
			.len = (uint32_t)len,
			.cap = u->bufsize,
			.peer = g->peer[i],
			.priv = { idx[k], ++u->ticket },
		};
		u->lent[idx[k]].ticket = u->ticket;
		bytes += len;
		k++;
	}
	u->nfree -= k; /* idx[0..k) were the top of the free stack */
	if (trunc) {
		KEEL__KSTAT_ADD(d, rx_truncated, trunc);
		KEEL__KSTAT_ADD(d, rx_dropped, trunc);
	}
	KEEL__KSTAT_ADD(d, rx_packets, k);
	KEEL__KSTAT_ADD(d, rx_bytes, bytes);
	return k;
}

static ssize_t udp_recv_lend(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	struct kernel_udp *u = udp_of(impl);
	ssize_t k;

	if (n > KEEL__KERNEL_BATCH)
		n = KEEL__KERNEL_BATCH;
	/* What recv_from took from the kernel comes first. */
	while (ring_has(u))
		if ((k = lend_from_ring(u, pkts, n)) != 0)
			return k;
	/* Each round consumes datagrams, so this ends; the bound keeps a
	 * flood of oversized datagrams from holding the worker. */
	for (unsigned round = 0; round < 16; round++) {
		k = lend_once(u, cx, pkts, n);
		if (k != 0)
			return k;
	}
	keel_waker_wake_by_ref(keel_cx_waker(cx));
	return KEEL_PENDING;
}

static ssize_t udp_send_lent(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	struct kernel_udp *u = udp_of(impl);
	struct keel__kernel *d;
	struct mmsghdr msgs[KEEL__KERNEL_BATCH];
	struct iovec iov[KEEL__KERNEL_BATCH];
	uint64_t bytes = 0;
	intptr_t r;

	if (n > KEEL__KERNEL_BATCH)
		n = KEEL__KERNEL_BATCH;
	u->checks++; /* a new mark: 64 bits, it never comes round again */
	for (unsigned i = 0; i < n; i++) {
		if ((r = pool_check(u, &pkts[i])) != 0)
			return r;
		iov[i] = (struct iovec){ pkts[i].data, pkts[i].len };
		msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &pkts[i].peer,
			.msg_namelen = keel_addr_len(&pkts[i].peer),
			.msg_iov = &iov[i],
			.msg_iovlen = 1,
		};
	}
	if ((r = tx_first(u, cx)) != 0)
		return r;
	r = send_msgs(u, cx, msgs, n);
	if (r < 0)
		return r; /* KEEL_PENDING or an error */
	for (intptr_t i = 0; i < r; i++) {
		bytes += msgs[i].msg_len;
		pool_put(u, &pkts[i]); /* each listed once: pool_check */
	}
	d = u->io.drv;
	KEEL__KSTAT_ADD(d, tx_packets, r);
	KEEL__KSTAT_ADD(d, tx_bytes, bytes);
	return r;
}

/* Packets this socket did not lend are left alone: release has no way to
 * report them, and taking them would corrupt the pool. */
static void udp_release(void *impl, struct keel_pkt *pkts, unsigned n)
{
	struct kernel_udp *u = udp_of(impl);

	for (unsigned i = 0; i < n; i++)
		if (pool_owns(u, &pkts[i]))
			pool_put(u, &pkts[i]);
}

/* ----------------------------------------------------------------- control */

static int udp_local_addr(void *impl, struct keel_addr *out)
{
	struct kernel_udp *u = udp_of(impl);
	socklen_t len = sizeof(*out);

	memset(out, 0, sizeof(*out));
	if (getsockname(u->io.fd, &out->sa, &len) < 0)
		return keel__kernel_err(errno);
	return 0;
}

static int set_int(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)) < 0)
		return keel__kernel_err(errno);
	return 0;
}

/* The level of a membership follows the group: an IPv4 group on a
 * dual-stack IPv6 socket goes through the IPv4 options, as on Linux. */
static int udp_membership(struct kernel_udp *u,
			  const struct keel_udp_mcast *m, bool join)
{
	const struct keel_addr *g = m->group;
	int rc;

	if (g->sa.sa_family == AF_INET) {
		struct ip_mreqn mr = {
			.imr_multiaddr = g->in4.sin_addr,
			.imr_address.s_addr = htonl(INADDR_ANY),
			.imr_ifindex = (int)m->ifindex,
		};

		rc = setsockopt(u->io.fd, IPPROTO_IP,
				join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP,
				&mr, sizeof(mr));
	} else if (g->sa.sa_family == AF_INET6) {
		struct ipv6_mreq mr = {
			.ipv6mr_multiaddr = g->in6.sin6_addr,
			.ipv6mr_interface = m->ifindex,
		};

		rc = setsockopt(u->io.fd, IPPROTO_IPV6,
				join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP,
				&mr, sizeof(mr));
	} else {
		return -EINVAL;
	}
	return rc < 0 ? keel__kernel_err(errno) : 0;
}

static int udp_setopt(void *impl, int opt, const void *arg)
{
	struct kernel_udp *u = udp_of(impl);
	bool v6 = u->family == AF_INET6;
	int fd = u->io.fd;

	if (!arg)
		return -EINVAL;
	switch (opt) {
	case KEEL_UDP_OPT_TTL:
		return v6 ? set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS,
				    *(const int *)arg)
			  : set_int(fd, IPPROTO_IP, IP_TTL, *(const int *)arg);
	case KEEL_UDP_OPT_BROADCAST:
		return set_int(fd, SOL_SOCKET, SO_BROADCAST, *(const int *)arg);
	case KEEL_UDP_OPT_MCAST_JOIN:
		return udp_membership(u, arg, true);
	case KEEL_UDP_OPT_MCAST_LEAVE:
		return udp_membership(u, arg, false);
	case KEEL_UDP_OPT_MCAST_LOOP:
		return v6 ? set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP,
				    *(const int *)arg)
			  : set_int(fd, IPPROTO_IP, IP_MULTICAST_LOOP,
				    *(const int *)arg);
	case KEEL_UDP_OPT_MCAST_TTL:
		return v6 ? set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS,
				    *(const int *)arg)
			  : set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL,
				    *(const int *)arg);
	case KEEL_UDP_OPT_CONNECT: /* keel_udp_connect */
		if (connect(fd, &((const struct keel_addr *)arg)->sa,
			    keel_addr_len(arg)) < 0)
			return keel__kernel_err(errno);
		u->connected = true;
		u->io.ready = true;
		return 0;
	default:
		return -ENOTSUP;
	}
}

/* Close: what is queued gets one try, and what the kernel has no room
 * for is dropped (tx_dropped); datagrams left in the ring are dropped
 * (rx_dropped); lent packets die with the socket (their buffers are
 * freed). */
static void udp_free(struct keel__kio *io)
{
	struct kernel_udp *u = (struct kernel_udp *)io;

	if (txq_has(u) && io->fd >= 0)
		txq_flush(u, NULL);
	if (txq_has(u))
		KEEL__KSTAT_ADD(io->drv, tx_dropped, u->txq->n - u->txq->head);
	if (keel_list_linked(&u->tx_link))
		keel_list_remove(&u->tx_link);
	free(u->txq);
	ring_free(u);
	keel__kernel_del(io);
	pool_fini(u);
	free(u);
}

static void udp_close(void *impl)
{
	udp_free(impl);
}

const struct keel_udp_ops keel__kernel_udp_ops = {
	.recv_from = udp_recv_from,
	.send_to = udp_send_to,
	.recv_batch = udp_recv_batch,
	.send_batch = udp_send_batch,
	.recv_lend = udp_recv_lend,
	.send_lent = udp_send_lent,
	.release = udp_release,
	.local_addr = udp_local_addr,
	.setopt = udp_setopt,
	.close = udp_close,
};

/* -------------------------------------------------------------------- bind */

static int apply_opts(int fd, int family, const struct keel_udp_opts *o)
{
	int rc;

	if (o->reuseport && (rc = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
		return rc;
	if (family == AF_INET6 && o->v6only &&
	    (rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)) < 0)
		return rc;
	if (o->rcvbuf > INT_MAX || o->sndbuf > INT_MAX)
		return -EINVAL;
	if (o->rcvbuf &&
	    (rc = set_int(fd, SOL_SOCKET, SO_RCVBUF, (int)o->rcvbuf)) < 0)
		return rc;
	if (o->sndbuf &&
	    (rc = set_int(fd, SOL_SOCKET, SO_SNDBUF, (int)o->sndbuf)) < 0)
		return rc;
	return 0;
}

int keel__kernel_udp_bind(void *drv, struct keel_udp *s,
			  const struct keel_addr *addr,
			  const struct keel_udp_opts *opts)
{
	struct keel__kernel *d = drv;
	socklen_t alen = keel_addr_len(addr);
	struct kernel_udp *u;
	int fd, rc;

	if (!alen)
		return -EINVAL;
	fd = socket(addr->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return keel__kernel_err(errno);
	rc = apply_opts(fd, addr->sa.sa_family, opts);
	if (rc < 0)
		goto err_fd;
	/* Drops at the socket counted (rx_drops); since Linux 2.6.33, and
	 * without it only that counter would stay 0. */
	(void)set_int(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
	if (bind(fd, &addr->sa, alen) < 0) {
		rc = keel__kernel_err(errno);
		goto err_fd;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		rc = -ENOMEM;
		goto err_fd;
	}
	u->io.fd = fd;
	u->io.ready = true; /* nothing known yet: the first receive asks */
	u->io.wr_lazy = true;
	u->io.free = udp_free;
	u->family = addr->sa.sa_family;
	rc = keel__kernel_add(d, &u->io);
	if (rc < 0)
		goto err_sock;
	s->ops = &keel__kernel_udp_ops;
	s->impl = u;
	return 0;

err_sock:
	free(u);
err_fd:
	close(fd);
	return rc;
}

int keel_kernel_udp_fd(const struct keel_udp *s)
{
	if (!s)
		return -EINVAL;
	if (!s->ops)
		return -EBADF;
	if (s->ops != &keel__kernel_udp_ops)
		return -ENOTSUP;
	return ((const struct kernel_udp *)s->impl)->io.fd;
}
