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
 * `struct keel_co co`, zero-initialised. What breaks a rule is made loud
 * where C allows it:
 *   - an await inside a user `switch` (its resume point is a case of the
 *     user's switch, not KEEL_BEGIN's), a frame that was not zeroed, or a
 *     frame polled again after it returned: the poll traps with a message
 *     naming the file and line (keel__co_trap), instead of returning 0;
 *   - a local declared with an initializer before an await and read after
 *     it: `-Wjump-misses-init` (GCC) warns, since resuming jumps past the
 *     initialization. Build with it (keel.pc's cflags carry it). A local
 *     declared without an initializer and assigned before an await is not
 *     caught by any flag: keep it in the frame.
 *
 * On top of KEEL_AWAIT: KEEL_TRY (await and return a negative result),
 * KEEL_AWAIT_CALL (await a child async function whose frame lives inside
 * this one, no spawn), KEEL_SELECT (the first of several poll expressions to
 * be ready). keel/combine.h has join-all, groups, signals and deadlines.
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

/**
 * The waker of the task being polled through \p cx (borrowed). Inline: it
 * is on every self-wake; core keeps the waker first in its context.
 */
static inline const struct keel_waker *keel_cx_waker(struct keel_cx *cx)
{
	return (const struct keel_waker *)(const void *)cx;
}

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

/**
 * Report a resume point KEEL_BEGIN does not know and abort: \p resume is
 * KEEL__CO_DONE for a frame polled again after it returned, else the line
 * of an await that is not a case of KEEL_BEGIN's switch (one inside a user
 * `switch`) or garbage (a frame that was not zeroed). A programming error,
 * never a result of input, so it does not return.
 */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn, cold))
#endif
void keel__co_trap(const char *file, unsigned line, unsigned resume);

/** Start of an async body; \p f is the frame pointer. */
#define KEEL_BEGIN(f)                                                          \
	switch ((f)->co.line) {                                                \
	default:                                                               \
		keel__co_trap(__FILE__, __LINE__, (f)->co.line);              \
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

/**
 * Await \p expr into \p res, and return from the async function with it
 * when it is negative (an error): Rust's `expr.await?`.
 *
 *     KEEL_TRY(f, f->n, keel_udp_send_to(cx, &f->sock, buf, len, &peer));
 *
 * \p expr may also be a plain call that never pends (keel_udp_bind): the
 * check is the same.
 */
#define KEEL_TRY(f, res, expr)                                                 \
	do {                                                                   \
		KEEL_AWAIT(f, res, expr);                                      \
		if ((res) < 0)                                                 \
			KEEL_RETURN(f, res);                                   \
	} while (0)

/**
 * Forget what the child frame at \p frame (\p size bytes, inside the frame
 * of the task polling \p cx) had armed, and zero it: its timers are
 * disarmed and its readiness sources stopped, so the memory can be
 * reused. For a child that lost a KEEL_SELECT, or that is abandoned.
 * Sockets and join handles in it are its drop function's to release.
 */
void keel_frame_drop(struct keel_cx *cx, void *frame, size_t size);

/**
 * (Re)start a child frame in place: keel_frame_drop it, then set it to its
 * zeroed type with the designated initializers given (its arguments):
 *
 *     KEEL_FRAME_INIT(cx, f->hi, .name = "world");
 */
#define KEEL_FRAME_INIT(cx, child, ...)                                        \
	do {                                                                   \
		keel_frame_drop((cx), &(child), sizeof(child));                \
		(child) = (__typeof__(child)){ .co = { 0 }, __VA_ARGS__ };     \
	} while (0)

/**
 * Await an async function inline: its frame \p child is a member of this
 * frame (no spawn, no allocation), started fresh with the initializers
 * given, then polled through \p fn until it returns; its result goes to
 * \p res. The seed's `say_hi(name).await`:
 *
 *     KEEL_AWAIT_CALL(f, cx, f->r, say_hi, f->hi, .name = "world");
 *
 * The child is zeroed before its first poll, so awaiting it again (in a
 * loop) runs its body again. Its drop, if it has one, is the parent's
 * drop's to call.
 */
#define KEEL_AWAIT_CALL(f, cx, res, fn, child, ...)                           \
	do {                                                                   \
		KEEL_FRAME_INIT(cx, child, __VA_ARGS__);                       \
		KEEL_AWAIT(f, res, fn(&(child), (cx)));                        \
	} while (0)

/* KEEL__SELn: poll the branches in order, stop at the first ready one. */
#define KEEL__SEL1(w, r, e)                                                    \
	if (((r) = (e)) == KEEL_PENDING)                                       \
		return KEEL_PENDING;
#define KEEL__SEL2(w, r, e, ...)                                               \
	if (((r) = (e)) == KEEL_PENDING) {                                     \
		(w)++;                                                         \
		KEEL__SEL1(w, r, __VA_ARGS__)                                  \
	}
#define KEEL__SEL3(w, r, e, ...)                                               \
	if (((r) = (e)) == KEEL_PENDING) {                                     \
		(w)++;                                                         \
		KEEL__SEL2(w, r, __VA_ARGS__)                                  \
	}
#define KEEL__SEL4(w, r, e, ...)                                               \
	if (((r) = (e)) == KEEL_PENDING) {                                     \
		(w)++;                                                         \
		KEEL__SEL3(w, r, __VA_ARGS__)                                  \
	}
#define KEEL__SEL5(w, r, e, ...)                                               \
	if (((r) = (e)) == KEEL_PENDING) {                                     \
		(w)++;                                                         \
		KEEL__SEL4(w, r, __VA_ARGS__)                                  \
	}
#define KEEL__SEL6(w, r, e, ...)                                               \
	if (((r) = (e)) == KEEL_PENDING) {                                     \
		(w)++;                                                         \
		KEEL__SEL5(w, r, __VA_ARGS__)                                  \
	}
#define KEEL__SEL7(w, r, e, ...)                                               \
	if (((r) = (e)) == KEEL_PENDING) {                                     \
		(w)++;                                                         \
		KEEL__SEL6(w, r, __VA_ARGS__)                                  \
	}
#define KEEL__SEL8(w, r, e, ...)                                               \
	if (((r) = (e)) == KEEL_PENDING) {                                     \
		(w)++;                                                         \
		KEEL__SEL7(w, r, __VA_ARGS__)                                  \
	}
#define KEEL__SEL_N(_1, _2, _3, _4, _5, _6, _7, _8, n, ...) KEEL__SEL##n
#define KEEL__SEL_PICK(...)                                                    \
	KEEL__SEL_N(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)

/**
 * Select: await the first of 2 to 8 poll expressions to be ready. Each
 * poll, the branches are evaluated in order and the first that is not
 * KEEL_PENDING wins: its index goes to \p which (an int lvalue), its
 * result to \p res; the branches after it are not evaluated that poll.
 *
 *     KEEL_SELECT(f, f->which, f->n,
 *                 keel_signal_wait(cx, f->stop, &f->sw),
 *                 keel_udp_recv_from(cx, &f->sock, f->buf, sizeof(f->buf),
 *                                    &f->peer));
 *
 * The losers are dropped by not being polled again, which is clean for
 * every poll function of keel: sockets and join handles keep nothing (a
 * waker left registered wakes once, for nothing), a signal wait keeps no
 * pointer into the frame. Two cases want a call: a timer of a losing
 * keel_sleep_until/keel_sleep_for stays armed until it fires (stop it with
 * keel_timer_stop before arming it for another deadline; keel_timeout_at
 * re-arms by itself), and a losing child frame is keel_frame_drop'ped (or
 * restarted by KEEL_FRAME_INIT / KEEL_AWAIT_CALL, which drop it first).
 */
#define KEEL_SELECT(f, which, res, ...)                                        \
	do {                                                                   \
		_Static_assert(sizeof(res) == sizeof(intptr_t),                \
			       "KEEL_SELECT: result must be intptr_t-sized"); \
		(f)->co.line = __LINE__;                                       \
		KEEL__FALLTHROUGH;                                             \
	case __LINE__:                                                         \
		(which) = 0;                                                   \
		KEEL__SEL_PICK(__VA_ARGS__)(which, res, __VA_ARGS__)           \
	} while (0)

#ifdef __cplusplus
}
#endif
#endif /* KEEL_FUTURE_H */
