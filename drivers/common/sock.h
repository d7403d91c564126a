/* SPDX-License-Identifier: MIT */
/*
 * The UDP socket of the drivers that own their packet buffers (xdp, dpdk,
 * sim), written once: the bound address and the broadcast option, a
 * bounded queue of received datagrams, the reader's and the writer's
 * wakers, the copying and lending receives, and the table of packets lent
 * to the application. What each driver keeps is its buffers (UMEM frames,
 * mbufs, the simulator's heap datagrams) and its send paths; the layer
 * hands buffers back through one callback, keel__sock_put_fn.
 *
 * A driver embeds struct keel__sock at the start of its socket and points
 * keel_udp.impl at it, so the receive, release, local_addr and setopt ops
 * of its table can be the functions below. The driver's poll path queues
 * what it receives with keel__sock_push; a full queue drops (counted), so
 * a slow reader costs datagrams, never memory.
 *
 * Lent packets live in a per-socket table as large as the queue: priv[0]
 * is the slot, priv[1] a ticket drawn at each lend, so a packet that this
 * socket did not lend, or no longer lends (sent, released, or a stale copy
 * of one whose slot was lent again), is refused with -EINVAL by send_lent
 * and left alone by release, on every driver, without touching memory it
 * points to; a packet listed twice in one send_lent is refused with
 * -EINVAL before anything is sent (each check marks its slot with the
 * call's number). With the table full, recv_lend answers -ENOBUFS (give some
 * back), as the kernel driver does.
 *
 * Everything runs on the worker that owns the socket, but the two drop
 * counters, which the driver's stats call reads from any thread.
 */
#ifndef KEEL_DRIVERS_COMMON_SOCK_H
#define KEEL_DRIVERS_COMMON_SOCK_H

#include <keel/driver.h>
#include <keel/list.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A received datagram, queued or lent. */
struct keel__dgram {
	uintptr_t buf;	   /* the driver's buffer (frame address, mbuf, ...) */
	uint8_t *data;	   /* the payload, inside it */
	uint32_t len;	   /* payload bytes */
	uint32_t cap;	   /* bytes the payload may grow to in place and send */
	uint32_t src_ip;   /* the sender, network order */
	uint16_t src_port; /* network order */
};

/* Give \p n buffers (at most KEEL__SOCK_PUT_MAX) back to the driver:
 * dropped, copied out, released. */
#define KEEL__SOCK_PUT_MAX 32u
typedef void keel__sock_put_fn(void *drv, const uintptr_t *bufs, unsigned n);

/* The sockets of one driver instance. */
struct keel__socks {
	struct keel_list list;	  /* struct keel__sock.link */
	void *drv;		  /* put's first argument */
	keel__sock_put_fn *put;
	unsigned wr_waiting;	  /* sockets with a writer waiting for room */
	/* the driver's counters (relaxed, plain moves): datagrams cut by a
	 * short buffer, and dropped because their socket's queue was full */
	_Atomic uint64_t *truncated, *queue_full;
};

struct keel__lent {
	struct keel__dgram g;	  /* g.data NULL: a free slot */
	uintptr_t ticket;
	uint64_t mark;		  /* the send_lent check that saw it last */
};

/* One socket; the driver's embeds it first. */
struct keel__sock {
	struct keel_list link;	  /* on set->list */
	struct keel__socks *set;
	uint32_t ip;		  /* network order; 0: any of ours */
	uint16_t port;		  /* network order */
	bool broadcast;		  /* may send to broadcast addresses */
	bool wr_waiting;
	struct keel_waker rd, wr;
	struct keel__dgram *q;	  /* the receive queue, a ring */
	unsigned head, tail, mask;
	struct keel__lent *lent;  /* mask + 1 slots, made at the first lend */
	uint32_t *lent_free;	  /* stack of free slots */
	unsigned lent_nfree;
	uintptr_t ticket;	  /* the last one drawn */
	uint64_t checks;	  /* send_lent calls checked (lent[].mark) */
};

static inline void keel__sock_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

void keel__socks_init(struct keel__socks *set, void *drv, keel__sock_put_fn *put,
		      _Atomic uint64_t *truncated, _Atomic uint64_t *queue_full);

/*
 * Open \p s in \p set, bound to \p ip and \p port (network order), with a
 * receive queue of at least \p qlen datagrams (a power of two).
 * \return 0 or -ENOMEM.
 */
int keel__sock_open(struct keel__socks *set, struct keel__sock *s,
		    unsigned qlen, uint32_t ip, uint16_t port);

/* Close: queued and lent buffers go back to the driver, the wakers are
 * dropped, \p s leaves its set (its memory is the driver's to free). */
void keel__sock_close(struct keel__sock *s);

/* The driver's destroy: \p close (its keel_udp_ops.close) each socket the
 * application left open. */
void keel__socks_close_all(struct keel__socks *set, void (*close)(void *impl));

static inline unsigned keel__sock_queued(const struct keel__sock *s)
{
	return s->tail - s->head;
}

/* Queue a received datagram and wake the reader; false (counted): the
 * queue is full and \p g->buf is still the caller's. */
static inline bool keel__sock_push(struct keel__sock *s,
				   const struct keel__dgram *g)
{
	if (__builtin_expect(s->tail - s->head > s->mask, 0)) {
		keel__sock_count(s->set->queue_full, 1);
		return false;
	}
	s->q[s->tail++ & s->mask] = *g;
	keel_waker_wake(&s->rd);
	return true;
}

/* keel_udp_ops entries, \p impl being the struct keel__sock. */
ssize_t keel__sock_recv_from(void *impl, struct keel_cx *cx, void *buf,
			     size_t len, struct keel_addr *from);
ssize_t keel__sock_recv_batch(void *impl, struct keel_cx *cx,
			      struct keel_dgram *v, unsigned n);
ssize_t keel__sock_recv_lend(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n);
void keel__sock_release(void *impl, struct keel_pkt *pkts, unsigned n);
int keel__sock_local_addr(void *impl, struct keel_addr *out);
/* SO_BROADCAST's rule is the only one that applies: the rest -ENOTSUP. */
int keel__sock_setopt(void *impl, int opt, const void *arg);

/* The slot of lent packet \p p, or NULL when \p s does not lend it now. */
static inline struct keel__lent *keel__sock_lent_slot(const struct keel__sock *s,
						      const struct keel_pkt *p)
{
	struct keel__lent *l;

	if (!s->lent || p->priv[0] > s->mask)
		return NULL;
	l = &s->lent[p->priv[0]];
	if (l->ticket != p->priv[1] || !l->g.data || l->g.data != p->data)
		return NULL;
	return l;
}

/* The lent datagram \p p is, or NULL when \p s does not lend it now. */
static inline struct keel__dgram *keel__sock_lent(const struct keel__sock *s,
						  const struct keel_pkt *p)
{
	struct keel__lent *l = keel__sock_lent_slot(s, p);

	return l ? &l->g : NULL;
}

/* A send_lent call begins its checks (keel__sock_lent_check1): a new
 * mark, 64 bits, so it never comes round again. */
static inline void keel__sock_lent_check_start(struct keel__sock *s)
{
	s->checks++;
}

/*
 * What send_lent refuses in \p p before it sends anything, the same on
 * every driver: -EINVAL (a packet \p s does not lend, or one already
 * checked since keel__sock_lent_check_start: listed twice), -EMSGSIZE (one
 * grown past its cap); 0 and its datagram in \p *g. The driver adds its
 * destination rules.
 */
static inline int keel__sock_lent_check1(struct keel__sock *s,
					 const struct keel_pkt *p,
					 const struct keel__dgram **g)
{
	struct keel__lent *l = keel__sock_lent_slot(s, p);

	*g = NULL;
	if (!l || l->mark == s->checks) /* not lent, or listed twice */
		return -EINVAL;
	l->mark = s->checks;
	*g = &l->g;
	return p->len > l->g.cap ? -EMSGSIZE : 0;
}

/* The same for the \p n packets of one call: 0, or the first one's
 * error. */
static inline int keel__sock_lent_check(struct keel__sock *s,
					const struct keel_pkt *pkts, unsigned n)
{
	const struct keel__dgram *g;

	keel__sock_lent_check_start(s);
	for (unsigned i = 0; i < n; i++) {
		int rc = keel__sock_lent_check1(s, &pkts[i], &g);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Take lent packet \p p back (keel__sock_lent said yes): its slot is free,
 * \p p is emptied, and its buffer, returned, is the driver's again. */
static inline uintptr_t keel__sock_unlend(struct keel__sock *s,
					  struct keel_pkt *p)
{
	struct keel__lent *l = &s->lent[p->priv[0]];

	l->g.data = NULL;
	s->lent_free[s->lent_nfree++] = (uint32_t)p->priv[0];
	p->data = NULL;
	p->len = p->cap = 0;
	p->priv[0] = p->priv[1] = 0;
	return l->g.buf;
}

/* Leave the writer's waker until keel__socks_wake_writers; KEEL_PENDING. */
intptr_t keel__sock_wait_writer(struct keel__sock *s, struct keel_cx *cx);

/* Wake the writers that waited for room. */
void keel__socks_wake_writers(struct keel__socks *set);

#endif /* KEEL_DRIVERS_COMMON_SOCK_H */
