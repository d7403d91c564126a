/* SPDX-License-Identifier: MIT */
/*
 * Spreading a service over the workers (keel/serve.h): a task placed on a
 * chosen worker on every scheduler, and keel_udp_serve, which runs one
 * receive-call-send loop per worker on the zero-copy calls.
 *
 * Placing a task: on an affine scheduler (local, shard) a task never
 * moves, so it is built for the target worker (keel_task_create) and
 * handed to that worker's thread (keel__worker_call). On a migrating one
 * (pool, steal) any worker may take a new task, even one spawned on the
 * target itself (steal's thieves), so the frame is wrapped:
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
	if (!to->shared) {
		if (to == cx->worker)
			return keel_spawn(cx, poll, drop, frame, size, join);
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

/*
 * What the loops, the service task and the caller share: how many loops
 * have bound, the first error, and who waits for either. Freed by the
 * last of them to let go (a loop may outlive the service: it is
 * cancelled, and dropped later on its own worker).
 */
struct serve_state {
	pthread_mutex_t lock;
	unsigned n, bound;
	intptr_t err;
	struct keel_waker caller;  /* keel_udp_serve, until all bound */
	struct keel_waker service; /* the service task, until an error */
	unsigned refs;		   /* loops, the service, the caller */
	bool caller_ref;
	keel_drop_fn *release;	   /* called on ctx with the last ref */
	void *ctx;
};

static void state_unref(struct serve_state *st, bool caller)
{
	bool last;

	pthread_mutex_lock(&st->lock);
	if (caller) {
		if (!st->caller_ref) {
			pthread_mutex_unlock(&st->lock);
			return;
		}
		st->caller_ref = false;
	}
	last = --st->refs == 0;
	pthread_mutex_unlock(&st->lock);
	if (!last)
		return;
	keel_waker_drop(&st->caller);
	keel_waker_drop(&st->service);
	pthread_mutex_destroy(&st->lock);
	if (st->release) /* no loop is left to call fn */
		st->release(st->ctx);
	free(st);
}

/* A loop bound (r == 0) or could not (r < 0): tell who waits. */
static void state_report(struct serve_state *st, intptr_t r)
{
	struct keel_waker c = { 0 }, s = { 0 };

	pthread_mutex_lock(&st->lock);
	if (r < 0 && !st->err)
		st->err = r;
	if (r < 0 || ++st->bound == st->n) {
		c = st->caller;
		st->caller = (struct keel_waker){ 0 };
	}
	if (r < 0) {
		s = st->service;
		st->service = (struct keel_waker){ 0 };
	}
	pthread_mutex_unlock(&st->lock);
	keel_waker_wake(&c);
	keel_waker_wake(&s);
}

/* One worker's loop: receive a batch (lent), call fn on each datagram,
 * send the replies in one call, give the rest back. */
struct serve_loop {
	struct keel_co co;
	struct keel_udp sock; /* open: the caller's bind, on its worker */
	struct keel_addr addr;
	struct keel_udp_opts opts;
	keel_udp_serve_fn *fn;
	void *ctx;
	struct serve_state *st;
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
		struct keel_udp_dgram q = { p->data, p->len, p->cap, p->peer, worker };
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
	intptr_t r = 0;

	KEEL_BEGIN(f);
	if (!f->sock.ops)
		r = keel_udp_bind(cx, &f->sock, &f->addr, &f->opts);
	state_report(f->st, r);
	if (r < 0)
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
	state_unref(f->st, false);
}

/*
 * The service task: starts a loop per worker, then waits for an error.
 * It never awaits the loops' join handles, so cancelling them (its drop,
 * an error) cannot wake it.
 */
struct serve_main {
	struct keel_co co;
	struct serve_loop init; /* sock: the caller's bind */
	struct keel_join **joins;
	unsigned n;
	bool returned;
};

static intptr_t serve_wait_error(struct serve_state *st, struct keel_cx *cx)
{
	struct keel_waker old;
	intptr_t r = KEEL_PENDING;

	pthread_mutex_lock(&st->lock);
	if (st->err) {
		r = st->err;
		old = (struct keel_waker){ 0 };
	} else {
		old = keel__waker_swap(&st->service, cx);
	}
	pthread_mutex_unlock(&st->lock);
	keel_waker_drop(&old);
	return r;
}

static intptr_t serve_main_poll(void *frame, struct keel_cx *cx)
{
	struct serve_main *f = frame;
	struct serve_state *st = f->init.st;
	intptr_t r = 0;

	KEEL_BEGIN(f);
	f->n = st->n;
	f->joins = calloc(f->n, sizeof(*f->joins));
	for (unsigned i = 0; f->joins && i < f->n && r == 0; i++) {
		struct serve_loop loop = f->init;

		/* The caller's socket goes to the loop of its worker. */
		if (f->init.sock.owner != cx->worker->rt->workers[i])
			loop.sock = (struct keel_udp){ 0 };
		pthread_mutex_lock(&st->lock);
		st->refs++;
		pthread_mutex_unlock(&st->lock);
		r = keel_spawn_on(cx, i, serve_loop_poll, serve_loop_drop,
				  &loop, sizeof(loop), &f->joins[i]);
		if (r < 0)
			state_unref(st, false);
		else if (loop.sock.ops)
			f->init.sock = (struct keel_udp){ 0 }; /* handed over */
	}
	if (!f->joins)
		r = -ENOMEM;
	if (r < 0)
		state_report(st, r);
	KEEL_AWAIT(f, r, serve_wait_error(st, cx));
	f->returned = true;
	KEEL_RETURN(f, r);
	KEEL_END(f);
}

static void serve_main_drop(void *frame)
{
	struct serve_main *f = frame;

	for (unsigned i = 0; f->joins && i < f->n; i++)
		if (f->joins[i])
			keel_join_abort(f->joins[i]);
	free(f->joins);
	f->joins = NULL;
	keel_udp_close(&f->init.sock);
	/* Cancelled: the caller, who alone cancels it, waits no more. */
	if (!f->returned)
		state_unref(f->init.st, true);
	state_unref(f->init.st, false);
}

/* Pending until every loop bound or one could not. */
static intptr_t serve_wait_bound(struct keel_join *service, struct keel_cx *cx)
{
	struct keel_task *t = (struct keel_task *)service;
	struct serve_state *st;
	struct keel_waker old = { 0 };
	intptr_t r = KEEL_PENDING;
	bool answered = false;

	if (t->poll != serve_main_poll)
		return -EINVAL;
	st = ((struct serve_main *)(void *)t->frame)->init.st;
	pthread_mutex_lock(&st->lock);
	if (!st->caller_ref)
		r = -EALREADY; /* asked again after the answer */
	else if ((answered = st->err || st->bound == st->n))
		r = st->err;
	else
		old = keel__waker_swap(&st->caller, cx);
	pthread_mutex_unlock(&st->lock);
	keel_waker_drop(&old);
	if (answered)
		state_unref(st, true);
	return r;
}

intptr_t keel_udp_serve(struct keel_cx *cx, struct keel_addr *addr,
			const struct keel_udp_opts *opts, keel_udp_serve_fn *fn,
			void *ctx, struct keel_join **join)
{
	return keel_udp_serve_owned(cx, addr, opts, fn, ctx, NULL, join);
}

intptr_t keel_udp_serve_owned(struct keel_cx *cx, struct keel_addr *addr,
			      const struct keel_udp_opts *opts,
			      keel_udp_serve_fn *fn, void *ctx,
			      keel_drop_fn *release, struct keel_join **join)
{
	struct serve_main m = { 0 };
	struct serve_state *st;
	int rc;

	if (!cx || !addr || !fn || !join)
		return -EINVAL;
	if (*join)
		return serve_wait_bound(*join, cx);
	if (opts)
		m.init.opts = *opts;
	m.init.opts.reuseport = 1;
	m.init.fn = fn;
	m.init.ctx = ctx;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	st->n = cx->worker->rt->nworkers;
	st->refs = 2; /* the service and the caller */
	st->caller_ref = true;
	m.init.st = st;
	rc = keel_udp_bind(cx, &m.init.sock, addr, &m.init.opts);
	if (rc == 0)
		rc = keel_udp_local_addr(&m.init.sock, &m.init.addr);
	if (rc == 0)
		rc = keel_spawn(cx, serve_main_poll, serve_main_drop, &m,
				sizeof(m), join);
	if (rc < 0) {
		keel_udp_close(&m.init.sock);
		pthread_mutex_destroy(&st->lock);
		free(st);
		*join = NULL;
		return rc; /* not started: ctx stays the caller's */
	}
	st->release = release;
	st->ctx = ctx;
	*addr = m.init.addr;
	return serve_wait_bound(*join, cx);
}
