/* SPDX-License-Identifier: MIT */
/*
 * The baseline executor (see baseline.h): the least an executor can do to
 * run keel-bench's workloads, so that the difference to a keel scheduler
 * is what keel's layers cost.
 */
#include "baseline.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/*
 * Single-threaded, so a task woken while it runs can go straight to the
 * back of the queue (it is polled again after it returns, once): no
 * RUNNING/NOTIFIED dance. A task that finishes while queued (it woke
 * itself, then completed) is skipped and released when popped; the queue
 * holds its "unfinished" reference until then.
 */
enum {
	B_QUEUED = 1u << 0,
	B_DONE = 1u << 1,
};

struct base_task {
	struct base_task *next; /* run queue */
	base_poll_fn *poll;
	uint32_t refs;	/* unfinished + join handle + waker clones */
	uint8_t state;
	bool big;	/* malloc'd, not a block */
	intptr_t result;
	struct keel_waker join_waker;
	alignas(16) unsigned char frame[];
};

struct base_cx {
	struct base_task *task;
	struct keel_waker waker;
};

/* Blocks of BLOCK bytes carved from SLAB-byte slabs, recycled through a
 * free list; the slabs live until exit (like a warm per-worker cache). */
#define BLOCK 256u
#define SLAB  (64u * 1024u)

static struct {
	struct base_task *head, *tail;	 /* run queue */
	struct base_ready *fired;	 /* readiness sources set, LIFO */
	void *free;			 /* free blocks */
	void *slabs;			 /* linked through their first word */
	char *carve;
	size_t carve_left;
	int epfd;			 /* base_event's epoll set; 0: none yet */
	unsigned events_open;
	bool atexit_done;
} ex;

/* ------------------------------------------------------------- blocks */

static void release_all(void)
{
	if (ex.epfd > 0)
		close(ex.epfd);
	ex.epfd = 0;
	while (ex.slabs) {
		void *next = *(void **)ex.slabs;

		free(ex.slabs);
		ex.slabs = next;
	}
	ex.free = NULL;
	ex.carve_left = 0;
}

static struct base_task *task_alloc(size_t size)
{
	struct base_task *t;
	void *p;

	if (sizeof(*t) + size > BLOCK) {
		t = aligned_alloc(16, (sizeof(*t) + size + 15) & ~(size_t)15);
		if (t)
			t->big = true;
		return t;
	}
	p = ex.free;
	if (p) {
		ex.free = *(void **)p;
	} else {
		if (ex.carve_left < BLOCK) {
			char *slab = aligned_alloc(64, SLAB);

			if (!slab)
				return NULL;
			if (!ex.atexit_done)
				ex.atexit_done = atexit(release_all) == 0;
			*(void **)slab = ex.slabs;
			ex.slabs = slab;
			ex.carve = slab + 64;
			ex.carve_left = SLAB - 64;
		}
		p = ex.carve;
		ex.carve += BLOCK;
		ex.carve_left -= BLOCK;
	}
	t = p;
	t->big = false;
	return t;
}

static void task_unref(struct base_task *t)
{
	if (--t->refs)
		return;
	if (t->big) {
		free(t);
		return;
	}
	*(void **)t = ex.free;
	ex.free = t;
}

/* -------------------------------------------------------------- wakers */

static void schedule(struct base_task *t)
{
	if (t->state & (B_QUEUED | B_DONE))
		return;
	t->state |= B_QUEUED;
	t->next = NULL;
	if (ex.tail)
		ex.tail->next = t;
	else
		ex.head = t;
	ex.tail = t;
}

static void waker_wake(void *data)
{
	schedule(data);
	task_unref(data);
}

static void waker_wake_by_ref(void *data)
{
	schedule(data);
}

static void *waker_clone(void *data)
{
	((struct base_task *)data)->refs++;
	return data;
}

static void waker_drop(void *data)
{
	task_unref(data);
}

static const struct keel_waker_ops base_waker_ops = {
	.wake = waker_wake,
	.wake_by_ref = waker_wake_by_ref,
	.clone = waker_clone,
	.drop = waker_drop,
};

const struct keel_waker *base_cx_waker(struct base_cx *cx)
{
	return &cx->waker;
}

static void register_waker(struct keel_waker *slot, struct base_cx *cx)
{
	if (keel_waker_will_wake(slot, &cx->waker))
		return;
	keel_waker_drop(slot);
	*slot = keel_waker_clone(&cx->waker);
}

/* --------------------------------------------------------------- tasks */

int base_spawn(struct base_cx *cx, base_poll_fn *poll, const void *frame,
	       size_t size, struct base_task **join)
{
	struct base_task *t = task_alloc(size);

	(void)cx;
	if (!t)
		return -ENOMEM;
	t->poll = poll;
	t->refs = join ? 2 : 1;
	t->state = 0;
	t->result = 0;
	t->join_waker = (struct keel_waker){ 0 };
	if (size)
		memcpy(t->frame, frame, size);
	if (join)
		*join = t;
	schedule(t);
	return 0;
}

intptr_t base_join_poll(struct base_cx *cx, struct base_task *t)
{
	if (t->state & B_DONE) {
		intptr_t r = t->result;

		task_unref(t);
		return r;
	}
	register_waker(&t->join_waker, cx);
	return KEEL_PENDING;
}

/* Poll \p t, just taken off the queue. */
static void task_run(struct base_task *t)
{
	struct base_cx cx = { t, { &base_waker_ops, t } };
	intptr_t r;

	if (t->state & B_DONE) {
		task_unref(t); /* finished while queued: the queue's reference */
		return;
	}
	t->state &= (uint8_t)~B_QUEUED;
	r = t->poll(t->frame, &cx);
	if (r != KEEL_PENDING) {
		bool queued = t->state & B_QUEUED;

		t->state = (uint8_t)(B_DONE | (queued ? B_QUEUED : 0));
		t->result = r;
		keel_waker_wake(&t->join_waker);
		if (!queued)
			task_unref(t);
	}
}

/* ----------------------------------------------------------- readiness */

intptr_t base_ready_poll(struct base_cx *cx, struct base_ready *r)
{
	if (r->ready) {
		r->ready = false;
		return 0;
	}
	register_waker(&r->waker, cx);
	return KEEL_PENDING;
}

void base_ready_set(struct base_ready *r)
{
	if (r->ready)
		return;
	r->ready = true;
	if (r->waker.ops && !r->fired) {
		r->fired = true;
		r->next = ex.fired;
		ex.fired = r;
	}
}

void base_ready_stop(struct base_ready *r)
{
	if (r->fired) {
		struct base_ready **p = &ex.fired;

		while (*p != r)
			p = &(*p)->next;
		*p = r->next;
		r->fired = false;
	}
	keel_waker_drop(&r->waker);
}

/* Wake what was set; \return how many. */
static size_t fire_ready(void)
{
	size_t n = 0;

	while (ex.fired) {
		struct base_ready *r = ex.fired;

		ex.fired = r->next;
		r->fired = false;
		keel_waker_wake(&r->waker);
		n++;
	}
	return n;
}

/* ------------------------------------------------------------- eventfd */

int base_event_open(struct base_event *e)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = e };

	if (ex.epfd <= 0) {
		ex.epfd = epoll_create1(EPOLL_CLOEXEC);
		if (ex.epfd < 0) {
			ex.epfd = 0;
			return -errno;
		}
		if (!ex.atexit_done)
			ex.atexit_done = atexit(release_all) == 0;
	}
	e->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->fd < 0)
		return -errno;
	if (epoll_ctl(ex.epfd, EPOLL_CTL_ADD, e->fd, &ev) < 0) {
		int rc = -errno;

		close(e->fd);
		return rc;
	}
	e->open = true;
	e->edge = true; /* nothing known yet: the first poll reads */
	ex.events_open++;
	return 0;
}

intptr_t base_event_poll(struct base_cx *cx, struct base_event *e)
{
	uint64_t v;

	if (e->edge) {
		if (read(e->fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
			e->edge = false;
			return v > (uint64_t)INTPTR_MAX ? INTPTR_MAX : (intptr_t)v;
		}
		if (errno != EAGAIN)
			return -errno;
		e->edge = false;
	}
	register_waker(&e->waker, cx);
	return KEEL_PENDING;
}

intptr_t base_event_ready(struct base_cx *cx, struct base_event *e)
{
	if (e->edge)
		return 0;
	register_waker(&e->waker, cx);
	return KEEL_PENDING;
}

void base_event_clear(struct base_event *e)
{
	e->edge = false;
}

int base_event_set(struct base_event *e)
{
	uint64_t one = 1;

	return write(e->fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -errno;
}

void base_event_close(struct base_event *e)
{
	if (!e->open)
		return;
	/* close() removes it from the epoll set (no dup of it exists). */
	close(e->fd);
	e->open = false;
	ex.events_open--;
	keel_waker_drop(&e->waker);
}

/* The reactor: wake the tasks whose eventfds were written. \p block: wait
 * for one (nothing else can run). \return how many were woken. */
static size_t poll_events(bool block)
{
	struct epoll_event evs[64];
	int n;

	if (!ex.events_open)
		return 0;
	n = epoll_wait(ex.epfd, evs, 64, block ? -1 : 0);
	for (int i = 0; i < n; i++) {
		struct base_event *e = evs[i].data.ptr;

		e->edge = true;
		keel_waker_wake(&e->waker);
	}
	return n > 0 ? (size_t)n : 0;
}

/* ---------------------------------------------------------------- loop */

/* Until \p root is done (or nothing can run: a bug in a workload). */
static void run_until(struct base_task *root)
{
	while (!(root->state & B_DONE)) {
		struct base_task *t = ex.head;

		if (!t) {
			if (!fire_ready() && !poll_events(false) &&
			    !poll_events(true))
				return;
			continue;
		}
		ex.head = t->next;
		if (!ex.head)
			ex.tail = NULL;
		task_run(t);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct root {
	struct keel_co co;
	base_poll_fn *body;
	void *frame;
	size_t size;
	uint64_t iters, i, t0;
	intptr_t r;
};

static intptr_t root_poll(void *frame, struct base_cx *cx)
{
	struct root *f = frame;

	KEEL_BEGIN(f);
	f->t0 = now_ns();
	for (f->i = 0; f->i < f->iters; f->i++) {
		memset(f->frame, 0, f->size);
		KEEL_AWAIT(f, f->r, f->body(f->frame, cx));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
	}
	KEEL_RETURN(f, (intptr_t)(now_ns() - f->t0));
	KEEL_END(f);
}

int64_t base_run(base_poll_fn *body, size_t size, uint64_t iters)
{
	struct root r = { .body = body, .size = size, .iters = iters };
	struct base_task *root;
	intptr_t res;

	r.frame = calloc(1, size ? size : 1);
	if (!r.frame)
		return -ENOMEM;
	if (base_spawn(NULL, root_poll, &r, sizeof(r), &root) < 0) {
		free(r.frame);
		return -ENOMEM;
	}
	run_until(root);
	if (root->state & B_DONE) {
		res = root->result;
	} else {
		res = -EDEADLK; /* nothing left to run: a lost wake */
		root->refs--; /* the "unfinished" reference: leaked with it */
	}
	task_unref(root);
	/* Detached tasks that are still runnable finish outside the time. */
	while (ex.head || ex.fired) {
		struct base_task *t = ex.head;

		if (!t) {
			fire_ready();
			continue;
		}
		ex.head = t->next;
		if (!ex.head)
			ex.tail = NULL;
		task_run(t);
	}
	free(r.frame);
	return res;
}
