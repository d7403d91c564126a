/* SPDX-License-Identifier: MIT */
/*
 * The baseline executor: the cost floor keel-bench compares keel against.
 *
 * A plain FIFO run queue of tasks and a loop that polls them, on the
 * calling thread; nothing else: no timers, no driver, no inbox, no stats,
 * no budget. Tasks come from one free list of fixed-size blocks. Wakers are
 * keel's `struct keel_waker` (so perf/oneshot.h serves both), with ops that
 * queue the task directly: single-threaded, no atomics. The user-space
 * readiness source (base_ready) is a flag, a waker and a fired list that
 * the loop drains whenever the run queue is empty. The eventfd source
 * (base_event) is the least a reactor can do: one epoll set, edge-
 * triggered, polled (up to 64 events a call) whenever the run queue is
 * empty and no user-space source fired; it is the floor for
 * poll_reactor_fd.
 *
 * It keeps the poll contract keel keeps: a task woken while it runs is
 * polled once more, many wakes before a poll coalesce into one, a join
 * handle yields the task's result once.
 */
#ifndef KEEL_PERF_BASELINE_H
#define KEEL_PERF_BASELINE_H

#include <keel/future.h>
#include <stdint.h>

struct base_cx;
struct base_task;

typedef intptr_t base_poll_fn(void *frame, struct base_cx *cx);

/* The waker of the task being polled (borrowed). */
const struct keel_waker *base_cx_waker(struct base_cx *cx);

/* KEEL_YIELD for baseline tasks: wake self, return pending once. */
#define BASE_YIELD(f, cx)                                                      \
	do {                                                                   \
		(f)->co.line = __LINE__;                                       \
		keel_waker_wake_by_ref(base_cx_waker(cx));                     \
		return KEEL_PENDING;                                           \
	case __LINE__:;                                                        \
	} while (0)

/* Spawn: the frame is copied; \p join receives a handle, or NULL to
 * detach. 0 or -ENOMEM. */
int base_spawn(struct base_cx *cx, base_poll_fn *poll, const void *frame,
	       size_t size, struct base_task **join);

/* Ready with the task's result (the handle is consumed), or pending. */
intptr_t base_join_poll(struct base_cx *cx, struct base_task *join);

/* A user-space readiness source, as keel_ready. Zero-initialise. */
struct base_ready {
	struct base_ready *next; /* on the fired list */
	struct keel_waker waker;
	bool ready, fired;
};

intptr_t base_ready_poll(struct base_cx *cx, struct base_ready *r);
void base_ready_set(struct base_ready *r);
void base_ready_stop(struct base_ready *r);

/* An eventfd readiness source, as keel_event. Zero-initialise, then open. */
struct base_event {
	int fd; /* valid once open */
	bool open, edge; /* edge: epoll said readable since the last read */
	struct keel_waker waker;
};

/* 0 or -errno. */
int base_event_open(struct base_event *e);
/* Ready with the count of sets since the last ready, or pending. */
intptr_t base_event_poll(struct base_cx *cx, struct base_event *e);
/* One write(2). 0 or -errno. */
int base_event_set(struct base_event *e);
/* Readiness without reading, as keel_fd: ready with 0 on an edge since the
 * last clear, or pending; the clear forgets it. */
intptr_t base_event_ready(struct base_cx *cx, struct base_event *e);
void base_event_clear(struct base_event *e);
void base_event_close(struct base_event *e);

/*
 * Run \p iters iterations of \p body (its frame of \p size bytes zeroed
 * before each) in one root task, and return the nanoseconds they took
 * (CLOCK_MONOTONIC, read in the root), or a negative errno. Frees every
 * task block afterwards.
 */
int64_t base_run(base_poll_fn *body, size_t size, uint64_t iters);

/*
 * BASE_BENCH(name, type) { body }: a baseline body over `f` (type *) and
 * `cx` (struct base_cx *), and `int64_t name(uint64_t iters)` to put in a
 * KEEL_BENCH's .baseline.
 */
#define BASE_BENCH(bname, type)                                                \
	static intptr_t bname##_body(type *f, struct base_cx *cx);             \
	static intptr_t bname##_poll(void *frame, struct base_cx *cx)          \
	{                                                                      \
		return bname##_body((type *)frame, cx);                        \
	}                                                                      \
	static int64_t bname(uint64_t iters)                                   \
	{                                                                      \
		return base_run(bname##_poll, sizeof(type), iters);            \
	}                                                                      \
	static intptr_t bname##_body(type *f, struct base_cx *cx)

#endif /* KEEL_PERF_BASELINE_H */
