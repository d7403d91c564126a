/* SPDX-License-Identifier: MIT */
/*
 * Spreading a service over the workers (keel/serve.h): a task placed on a
 * chosen worker on every scheduler, and keel_udp_serve, which runs one
 * receive-call-send loop per worker on the zero-copy calls.
 *
 * Placing a task: on an affine scheduler (local, shard) a task never
 * moves, so it is built for the target worker (keel_task_create) and
 * handed to that worker's thread (keel__worker_call). On a migrating one
 * (pool, steal) any worker may take a new task, so the frame is wrapped:
 * the wrapper's first step homes the task on the target (keel_cx_home)
 * before the application's poll runs, so the first socket it opens is
 * opened there.
 */
#include "core_internal.h"

#include <errno.h>
#include <keel/serve.h>
#include <stdlib.h>
#include <string.h>

unsigned keel_cx_workers(struct keel_cx *cx)
{
	return cx ? cx->worker->rt->nworkers : 0;
}

/* ------------------------------------------------------- placing a task */

/* Migrating: the application's frame behind a header saying where. */
struct homed {
	keel_poll_fn *poll;
	keel_drop_fn *drop;
	struct keel_worker *to;
	bool there;
	alignas(16) unsigned char frame[];
};

static intptr_t homed_poll(void *frame, struct keel_cx *cx)
{
	struct homed *h = frame;

	if (!h->there) {
		intptr_t r = keel_cx_home(cx, h->to);

		if (r != 0)
			return r; /* moved: polled next on h->to */
		h->there = true;
	}
	return h->poll(h->frame, cx);
}

static void homed_drop(void *frame)
{
	struct homed *h = frame;

	if (h->drop)
		h->drop(h->frame);
}

/* Affine: on the target's thread, make the task built for it runnable. */
static void adopt(void *arg)
{
	struct keel_task *t = arg;

	keel_task_adopt(t->worker, t);
}

int keel_spawn_on(struct keel_cx *cx, unsigned worker, keel_poll_fn *poll,
		  keel_drop_fn *drop, const void *frame, size_t size,
		  struct keel_join **join)
{
	struct keel_worker *to;
	struct keel_task *t;
	struct homed *h;
	int rc;

	if (!cx || !poll || (size && !frame) || worker >= cx->worker->rt->nworkers)
		return -EINVAL;
	to = cx->worker->rt->workers[worker];
	if (to == cx->worker)
		return keel_spawn(cx, poll, drop, frame, size, join);
	if (!to->shared) {
		rc = keel_task_create(cx->worker, to, poll, drop, frame, size,
				      join, &t);
		if (rc < 0)
			return rc;
		rc = keel__worker_call(to, adopt, t);
		if (rc < 0) {
			keel_task_discard(cx->worker, t);
			if (join)
				*join = NULL;
		}
		return rc;
	}
	h = malloc(sizeof(*h) + size);
	if (!h)
		return -ENOMEM;
	*h = (struct homed){ poll, drop, to, false };
	if (size)
		memcpy(h->frame, frame, size);
	rc = keel_spawn(cx, homed_poll, homed_drop, h, sizeof(*h) + size, join);
	free(h);
	return rc;
}

int keel_spawn_each(struct keel_cx *cx, struct keel_group *g,
		    keel_poll_fn *poll, keel_drop_fn *drop, const void *frame,
		    size_t size)
{
	if (!cx || !g)
		return -EINVAL;
	for (unsigned i = 0; i < cx->worker->rt->nworkers; i++) {
		struct keel_join *j;
		int rc = keel_spawn_on(cx, i, poll, drop, frame, size, &j);

		if (rc == 0)
			rc = keel_group_add(cx, g, j);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ----------------------------------------------------- keel_udp_serve */

/* One worker's loop: receive a batch (lent), call fn on each datagram,
 * send the replies in one call, give the rest back. */
struct serve_loop {
	struct keel_co co;
	struct keel_udp sock; /* open: the caller's bind, on its worker */
	struct keel_addr addr;
	struct keel_udp_opts opts;
	keel_udp_serve_fn *fn;
	void *ctx;
	unsigned nrep, sent; /* replies in pkts[0..nrep), sent so far */
	ssize_t n, k;
	struct keel_pkt pkts[KEEL_UDP_SERVE_BATCH];
	struct keel_pkt rel[KEEL_UDP_SERVE_BATCH];
};

/* Call fn on the n datagrams of pkts: replies stay at the front. */
static unsigned serve_batch(struct serve_loop *f, unsigned worker, size_t n)
{
	unsigned nrep = 0, nrel = 0;

	for (size_t i = 0; i < n; i++) {
		struct keel_pkt *p = &f->pkts[i];
		struct keel_udp_req q = { p->data, p->len, p->cap, p->peer, worker };
		ssize_t r = f->fn(f->ctx, &q);

		if (r >= 0 && (size_t)r <= p->cap) {
			p->len = (uint32_t)r;
			p->peer = q.peer;
			f->pkts[nrep++] = *p;
		} else {
			f->rel[nrel++] = *p;
		}
	}
	if (nrel)
		keel_udp_release(&f->sock, f->rel, nrel);
	return nrep;
}

static intptr_t serve_loop_poll(void *frame, struct keel_cx *cx)
{
	struct serve_loop *f = frame;
	intptr_t r;

	KEEL_BEGIN(f);
	if (!f->sock.ops &&
	    (r = keel_udp_bind(cx, &f->sock, &f->addr, &f->opts)) < 0)
		KEEL_RETURN(f, r);
	for (;;) {
		KEEL_AWAIT(f, f->n, keel_udp_recv_lend(cx, &f->sock, f->pkts,
						      KEEL_UDP_SERVE_BATCH));
		if (f->n <= 0)
			continue; /* counted by the driver; keep serving */
		f->nrep = serve_batch(f, keel_worker_index(cx->worker),
				      (size_t)f->n);
		for (f->sent = 0; f->sent < f->nrep; f->sent += (unsigned)f->k) {
			KEEL_AWAIT(f, f->k, keel_udp_send_lent(cx, &f->sock,
				   f->pkts + f->sent, f->nrep - f->sent));
			if (f->k <= 0) { /* refused: drop what is left */
				keel_udp_release(&f->sock, f->pkts + f->sent,
						 f->nrep - f->sent);
				break;
			}
		}
		f->nrep = f->sent = 0;
	}
	KEEL_END(f);
}

static void serve_loop_drop(void *frame)
{
	struct serve_loop *f = frame;

	if (f->sent < f->nrep) /* cancelled while sending */
		keel_udp_release(&f->sock, f->pkts + f->sent, f->nrep - f->sent);
	keel_udp_close(&f->sock);
}

/* The service: starts a loop per worker, ends at the first error. */
struct serve_main {
	struct keel_co co;
	struct serve_loop init; /* sock: the caller's bind */
	struct keel_join **joins;
	unsigned n;
	intptr_t err;
};

/* Pending while every loop runs; then ready with the first error. With
 * \p all, pending until every loop has ended. */
static intptr_t serve_watch(struct serve_main *f, struct keel_cx *cx, bool all)
{
	unsigned left = 0;

	for (unsigned i = 0; i < f->n; i++) {
		intptr_t r;

		if (!f->joins[i])
			continue;
		r = keel_join_poll(cx, f->joins[i]);
		if (r == KEEL_PENDING) {
			left++;
			continue;
		}
		f->joins[i] = NULL;
		if (!f->err)
			f->err = r < 0 && r != -ECANCELED ? r : -ECANCELED;
	}
	if (left && (all || !f->err))
		return KEEL_PENDING;
	return f->err;
}

static intptr_t serve_main_poll(void *frame, struct keel_cx *cx)
{
	struct serve_main *f = frame;
	intptr_t r;

	KEEL_BEGIN(f);
	f->n = cx->worker->rt->nworkers;
	f->joins = calloc(f->n, sizeof(*f->joins));
	if (!f->joins)
		KEEL_RETURN(f, -ENOMEM);
	for (unsigned i = 0; i < f->n; i++) {
		struct serve_loop loop = f->init;
		int rc;

		/* The caller's socket goes to the loop of its worker. */
		if (f->init.sock.owner != cx->worker->rt->workers[i])
			loop.sock = (struct keel_udp){ 0 };
		rc = keel_spawn_on(cx, i, serve_loop_poll, serve_loop_drop,
				   &loop, sizeof(loop), &f->joins[i]);
		if (rc == 0 && loop.sock.ops)
			f->init.sock = (struct keel_udp){ 0 }; /* handed over */
		if (rc < 0) {
			f->err = rc;
			break;
		}
	}
	if (!f->err)
		KEEL_AWAIT(f, r, serve_watch(f, cx, false));
	for (unsigned i = 0; i < f->n; i++)
		if (f->joins[i])
			keel_join_cancel(f->joins[i]);
	KEEL_AWAIT(f, r, serve_watch(f, cx, true));
	KEEL_RETURN(f, f->err);
	KEEL_END(f);
}

static void serve_main_drop(void *frame)
{
	struct serve_main *f = frame;

	for (unsigned i = 0; f->joins && i < f->n; i++)
		if (f->joins[i])
			keel_join_abort(f->joins[i]);
	free(f->joins);
	keel_udp_close(&f->init.sock);
}

int keel_udp_serve(struct keel_cx *cx, struct keel_addr *addr,
		   const struct keel_udp_opts *opts, keel_udp_serve_fn *fn,
		   void *ctx, struct keel_join **join)
{
	struct serve_main m = { 0 };
	int rc;

	if (!cx || !addr || !fn)
		return -EINVAL;
	if (opts)
		m.init.opts = *opts;
	m.init.opts.reuseport = 1;
	m.init.fn = fn;
	m.init.ctx = ctx;
	rc = keel_udp_bind(cx, &m.init.sock, addr, &m.init.opts);
	if (rc < 0)
		return rc;
	rc = keel_udp_local_addr(&m.init.sock, &m.init.addr);
	if (rc == 0)
		rc = keel_spawn(cx, serve_main_poll, serve_main_drop, &m,
				sizeof(m), join);
	if (rc < 0) {
		keel_udp_close(&m.init.sock);
		return rc;
	}
	*addr = m.init.addr;
	return 0;
}
