/* SPDX-License-Identifier: MIT */
/** \file
 * Futures, wakers and the coroutine macros.
 *
 * A future is a poll function over a caller-owned state struct (its
 * "frame"). Polling returns either a result (any value other than
 * KEEL_PENDING: >= 0 on success, a negative errno on failure) or
 * KEEL_PENDING, which promises that the waker of the polling context was
 * registered somewhere and will be woken when progress is possible. This is
 * Rust's Future::poll contract in C; no task has a stack of its own.
 *
 * Async functions read top to bottom with KEEL_BEGIN / KEEL_AWAIT / KEEL_END:
 *
 *     static intptr_t echo(void *frame, struct keel_cx *cx)
 *     {
 *         struct echo *f = frame;
 *         KEEL_BEGIN(f);
 *         for (;;) {
 *             KEEL_AWAIT(f, f->n, keel_udp_recv_from(cx, f->sock, f->buf,
 *                                                    sizeof f->buf, &f->peer));
 *             ...
 *         }
 *         KEEL_END(f);
 *     }
 *
 * Rules of the macros (they are a switch on a resume point, as in
 * protothreads): locals do not survive an await, keep them in the frame; no
 * user `switch` may enclose an await; the frame's first member is
 * `struct keel_co co`, zero-initialised.
 */
#ifndef KEEL_FUTURE_H
#define KEEL_FUTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The one result value that means "not ready yet". */
#define KEEL_PENDING INTPTR_MIN

struct keel_cx;

/**
 * A poll function: advance the future whose state is at \p frame.
 * \return KEEL_PENDING (the waker of \p cx is registered) or the result.
 */
typedef intptr_t keel_poll_fn(void *frame, struct keel_cx *cx);

/** Destructor of a frame: runs once when its task is done or cancelled. */
typedef void keel_drop_fn(void *frame);

/* --------------------------------------------------------------- wakers */

/**
 * How a waker wakes. Every op may be called from any thread. `wake` and
 * `drop` consume the reference the waker holds; `wake_by_ref` does not;
 * `clone` returns the data of a new reference.
 */
struct keel_waker_ops {
	void (*wake)(void *data);
	void (*wake_by_ref)(void *data);
	void *(*clone)(void *data);
	void (*drop)(void *data);
};

/** A waker: two words, copied by value. ops == NULL is the empty waker. */
struct keel_waker {
	const struct keel_waker_ops *ops;
	void *data;
};

/** Wake and release the reference; \p w becomes empty. No-op when empty. */
static inline void keel_waker_wake(struct keel_waker *w)
{
	const struct keel_waker_ops *ops = w->ops;

	if (ops) {
		w->ops = NULL;
		ops->wake(w->data);
	}
}

/** Wake, keeping the reference. No-op when empty. */
static inline void keel_waker_wake_by_ref(const struct keel_waker *w)
{
	if (w->ops)
		w->ops->wake_by_ref(w->data);
}

/** Release the reference without waking; \p w becomes empty. */
static inline void keel_waker_drop(struct keel_waker *w)
{
	const struct keel_waker_ops *ops = w->ops;

	if (ops) {
		w->ops = NULL;
		ops->drop(w->data);
	}
}

/** A new reference to the same task. */
static inline struct keel_waker keel_waker_clone(const struct keel_waker *w)
{
	struct keel_waker c = { w->ops, w->ops ? w->ops->clone(w->data) : NULL };
	return c;
}

/** Whether \p a and \p b wake the same thing. */
static inline bool keel_waker_will_wake(const struct keel_waker *a,
					const struct keel_waker *b)
{
	return a->ops == b->ops && a->data == b->data;
}

/** The waker of the task being polled through \p cx (borrowed). */
const struct keel_waker *keel_cx_waker(struct keel_cx *cx);

/** Socket operations one poll of a task may do before keel_coop yields. */
#define KEEL_COOP_BUDGET 128

/**
 * Cooperative budget: every socket operation of the API calls this first.
 * Ready with 0 while the polled task has budget left (one is used); once it
 * has done KEEL_COOP_BUDGET operations in this poll, it wakes the task and
 * returns KEEL_PENDING, so a task whose sockets always have data still lets
 * the others, the drivers and the timers run. The operation then happens
 * on the next poll: under KEEL_AWAIT nothing changes but the interleaving.
 */
intptr_t keel_coop(struct keel_cx *cx);

/**
 * Store the waker of \p cx in \p slot, releasing what was there; keeps the
 * slot as it is when it already wakes the same task (no refcount traffic).
 */
void keel_waker_register(struct keel_waker *slot, struct keel_cx *cx);

/* ------------------------------------------------------ coroutine macros */

/** Resume point of a coroutine frame: the frame's first member, zeroed. */
struct keel_co {
	unsigned line;
};

#define KEEL__CO_DONE 0xffffffffu

#if defined(__GNUC__) || defined(__clang__)
#define KEEL__FALLTHROUGH __attribute__((fallthrough))
#else
#define KEEL__FALLTHROUGH ((void)0)
#endif

/** Start of an async body; \p f is the frame pointer. */
#define KEEL_BEGIN(f)                                                          \
	switch ((f)->co.line) {                                                \
	case 0:

/**
 * Evaluate the poll expression \p expr until it is not KEEL_PENDING, then
 * store it in \p res (an intptr_t or ssize_t lvalue, normally in the frame).
 * While pending, the enclosing poll function returns KEEL_PENDING; on the next
 * poll, \p expr is evaluated again.
 */
#define KEEL_AWAIT(f, res, expr)                                               \
	do {                                                                   \
		_Static_assert(sizeof(res) == sizeof(intptr_t),                \
			       "KEEL_AWAIT: result must be intptr_t-sized");  \
		(f)->co.line = __LINE__;                                       \
		KEEL__FALLTHROUGH;                                             \
	case __LINE__:                                                         \
		if (((res) = (expr)) == KEEL_PENDING)                          \
			return KEEL_PENDING;                                   \
	} while (0)

/** Let the others run: wake self and return pending once. */
#define KEEL_YIELD(f, cx)                                                      \
	do {                                                                   \
		(f)->co.line = __LINE__;                                       \
		keel_waker_wake_by_ref(keel_cx_waker(cx));                     \
		return KEEL_PENDING;                                           \
	case __LINE__:;                                                        \
	} while (0)

/** Finish with result \p v (not KEEL_PENDING). */
#define KEEL_RETURN(f, v)                                                      \
	do {                                                                   \
		(f)->co.line = KEEL__CO_DONE;                                  \
		return (v);                                                    \
	} while (0)

/** End of an async body: falling off the end returns 0. */
#define KEEL_END(f)                                                            \
	}                                                                      \
	KEEL_RETURN(f, 0)

#ifdef __cplusplus
}
#endif
#endif /* KEEL_FUTURE_H */
