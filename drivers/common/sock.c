/* SPDX-License-Identifier: MIT */
/*
 * The bypass drivers' UDP socket (sock.h): the receive queue drained by
 * the three receives, the lent-packet table, the wakers.
 */
#include "sock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Buffers on their way back to the driver, KEEL__SOCK_PUT_MAX per put. */
struct put_burst {
	uintptr_t bufs[KEEL__SOCK_PUT_MAX];
	unsigned n;
};

static inline void put_add(struct keel__socks *set, struct put_burst *pb,
			   uintptr_t buf)
{
	pb->bufs[pb->n++] = buf;
	if (pb->n == KEEL__SOCK_PUT_MAX) {
		set->put(set->drv, pb->bufs, pb->n);
		pb->n = 0;
	}
}

static inline void put_flush(struct keel__socks *set, struct put_burst *pb)
{
	if (pb->n)
		set->put(set->drv, pb->bufs, pb->n);
}

void keel__socks_init(struct keel__socks *set, void *drv, keel__sock_put_fn *put,
		      _Atomic uint64_t *truncated, _Atomic uint64_t *queue_full)
{
	keel_list_init(&set->list);
	set->drv = drv;
	set->put = put;
	set->wr_waiting = 0;
	set->truncated = truncated;
	set->queue_full = queue_full;
}

int keel__sock_open(struct keel__socks *set, struct keel__sock *s,
		    unsigned qlen, uint32_t ip, uint16_t port)
{
	unsigned cap = 1;

	while (cap < qlen)
		cap <<= 1;
	memset(s, 0, sizeof(*s));
	s->q = malloc(cap * sizeof(*s->q));
	if (!s->q)
		return -ENOMEM;
	s->mask = cap - 1;
	s->set = set;
	s->ip = ip;
	s->port = port;
	keel_list_push_back(&set->list, &s->link);
	return 0;
}

void keel__sock_close(struct keel__sock *s)
{
	struct keel__socks *set = s->set;
	struct put_burst pb = { .n = 0 };

	keel_list_remove(&s->link);
	if (s->wr_waiting)
		set->wr_waiting--;
	while (s->head != s->tail)
		put_add(set, &pb, s->q[s->head++ & s->mask].buf);
	/* Lent packets die with the socket: their buffers come back. */
	for (unsigned i = 0; s->lent && i <= s->mask; i++)
		if (s->lent[i].g.data)
			put_add(set, &pb, s->lent[i].g.buf);
	put_flush(set, &pb);
	keel_waker_drop(&s->rd);
	keel_waker_drop(&s->wr);
	free(s->q);
	free(s->lent);
	free(s->lent_free);
	s->q = NULL;
	s->lent = NULL;
	s->lent_free = NULL;
}

void keel__socks_close_all(struct keel__socks *set, void (*close)(void *impl))
{
	while (!keel_list_empty(&set->list))
		close(KEEL_CONTAINER_OF(set->list.next, struct keel__sock, link));
}

/* Nothing queued: the reader's waker stays for keel__sock_push. */
static inline bool wait_rd(struct keel__sock *s, struct keel_cx *cx)
{
	if (s->head != s->tail)
		return false;
	keel_waker_register(&s->rd, cx);
	return true;
}

static inline void peer_of(const struct keel__dgram *g, struct keel_addr *out)
{
	*out = (struct keel_addr){ .in4 = { .sin_family = AF_INET,
					    .sin_port = g->src_port,
					    .sin_addr.s_addr = g->src_ip } };
}

ssize_t keel__sock_recv_batch(void *impl, struct keel_cx *cx,
			      struct keel_dgram *v, unsigned n)
{
	struct keel__sock *s = impl;
	struct keel__socks *set = s->set;
	struct put_burst pb = { .n = 0 };
	unsigned k, trunc = 0;

	if (wait_rd(s, cx))
		return KEEL_PENDING;
	if (n > keel__sock_queued(s))
		n = keel__sock_queued(s);
	for (k = 0; k < n; k++) {
		const struct keel__dgram *g = &s->q[s->head++ & s->mask];
		size_t len = g->len;

		v[k].flags = 0;
		if (len > v[k].cap) {
			len = v[k].cap;
			v[k].flags = KEEL_DGRAM_TRUNC;
			trunc++;
		}
		if (len)
			memcpy(v[k].buf, g->data, len);
		v[k].len = len;
		peer_of(g, &v[k].peer);
		put_add(set, &pb, g->buf);
	}
	put_flush(set, &pb);
	if (trunc)
		keel__sock_count(set->truncated, trunc);
	return (ssize_t)k;
}

/* One datagram of a batch; one longer than \p len is cut and -EMSGSIZE. */
ssize_t keel__sock_recv_from(void *impl, struct keel_cx *cx, void *buf,
			     size_t len, struct keel_addr *from)
{
	struct keel_dgram v = { .buf = buf, .cap = len };
	ssize_t r = keel__sock_recv_batch(impl, cx, &v, 1);

	if (r <= 0)
		return r; /* KEEL_PENDING */
	if (from)
		*from = v.peer;
	return v.flags & KEEL_DGRAM_TRUNC ? -EMSGSIZE : (ssize_t)v.len;
}

/* The lent table, at the first lend: as many slots as the queue. */
static int lent_init(struct keel__sock *s)
{
	unsigned cap = s->mask + 1;

	s->lent = calloc(cap, sizeof(*s->lent));
	s->lent_free = malloc(cap * sizeof(*s->lent_free));
	if (!s->lent || !s->lent_free) {
		free(s->lent);
		free(s->lent_free);
		s->lent = NULL;
		s->lent_free = NULL;
		return -ENOMEM;
	}
	/* Lowest slot on top: a quiet socket reuses the same few. */
	for (unsigned i = 0; i < cap; i++)
		s->lent_free[i] = cap - 1 - i;
	s->lent_nfree = cap;
	return 0;
}

ssize_t keel__sock_recv_lend(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	struct keel__sock *s = impl;

	if (wait_rd(s, cx))
		return KEEL_PENDING;
	if (!s->lent && lent_init(s) < 0)
		return -ENOMEM;
	if (!s->lent_nfree)
		return -ENOBUFS; /* everything is lent: give some back */
	if (n > keel__sock_queued(s))
		n = keel__sock_queued(s);
	if (n > s->lent_nfree)
		n = s->lent_nfree;
	for (unsigned k = 0; k < n; k++) {
		uint32_t slot = s->lent_free[--s->lent_nfree];
		struct keel__lent *l = &s->lent[slot];
		struct keel_pkt *p = &pkts[k];

		l->g = s->q[s->head++ & s->mask];
		l->ticket = ++s->ticket;
		p->data = l->g.data;
		p->len = l->g.len;
		p->cap = l->g.cap;
		peer_of(&l->g, &p->peer);
		p->priv[0] = slot;
		p->priv[1] = l->ticket;
	}
	return (ssize_t)n;
}

/* Packets this socket does not lend are left alone: release has no way to
 * report them, and taking them would hand a buffer back twice. */
void keel__sock_release(void *impl, struct keel_pkt *pkts, unsigned n)
{
	struct keel__sock *s = impl;
	struct put_burst pb = { .n = 0 };

	for (unsigned i = 0; i < n; i++)
		if (keel__sock_lent(s, &pkts[i]))
			put_add(s->set, &pb, keel__sock_unlend(s, &pkts[i]));
	put_flush(s->set, &pb);
}

int keel__sock_local_addr(void *impl, struct keel_addr *out)
{
	const struct keel__sock *s = impl;

	memset(out, 0, sizeof(*out));
	out->in4.sin_family = AF_INET;
	out->in4.sin_addr.s_addr = s->ip;
	out->in4.sin_port = s->port;
	return 0;
}

int keel__sock_setopt(void *impl, int opt, const void *arg)
{
	struct keel__sock *s = impl;

	if (opt != KEEL_UDP_OPT_BROADCAST)
		return -ENOTSUP;
	s->broadcast = *(const int *)arg != 0;
	return 0;
}

intptr_t keel__sock_wait_writer(struct keel__sock *s, struct keel_cx *cx)
{
	keel_waker_register(&s->wr, cx);
	if (!s->wr_waiting) {
		s->wr_waiting = true;
		s->set->wr_waiting++;
	}
	return KEEL_PENDING;
}

void keel__socks_wake_writers(struct keel__socks *set)
{
	for (struct keel_list *n = set->list.next; n != &set->list; n = n->next) {
		struct keel__sock *s = KEEL_CONTAINER_OF(n, struct keel__sock, link);

		if (s->wr_waiting) {
			s->wr_waiting = false;
			keel_waker_wake(&s->wr);
		}
	}
	set->wr_waiting = 0;
}
