/* SPDX-License-Identifier: MIT */
/** \file
 * Combinators and structure: join-all, task groups, periodic tasks and
 * signals that any number of tasks can await (shutdown among them).
 *
 * Select, error propagation and inline awaits are macros in keel/future.h
 * (KEEL_SELECT, KEEL_TRY, KEEL_AWAIT_CALL); the deadline form of the
 * timeout is keel_timeout_at in keel/time.h. Everything here is built on
 * the public task API: a group is a set of join handles, a periodic task
 * is a task around an interval, the shutdown signal is a signal set by a
 * task that awaits keel_shutdown_poll.
 */
#ifndef KEEL_COMBINE_H
#define KEEL_COMBINE_H

#include <keel/future.h>
#include <keel/task.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ join-all */

/**
 * Await every join handle of \p joins (\p n of them; NULL entries are
 * skipped). Each one that finishes is consumed: its result goes to
 * results[i] (when \p results is not NULL) and joins[i] becomes NULL, so
 * the call can be re-evaluated by KEEL_AWAIT and a drop function aborts
 * only what is left. Ready with 0 once all are done; -EINVAL if \p joins
 * is NULL with n > 0.
 */
intptr_t keel_join_all(struct keel_cx *cx, struct keel_join **joins, size_t n,
		       intptr_t *results);

/* --------------------------------------------------------------- groups */

/**
 * A task group: tasks spawned into it are cancelled and awaited together.
 * Zero-initialise; it lives in the frame of one task, which alone calls
 * the functions below (spawn into it from that task). Handles of finished
 * tasks are consumed as the group grows, so a long-lived group (one task
 * per request) stays as large as its live tasks. Release it with
 * keel_group_destroy in the frame's drop.
 */
struct keel_group {
	struct keel_join **joins;
	size_t n, cap;
	intptr_t err; /* the first error a member returned */
};

/** keel_spawn into \p g. \return 0, -EINVAL, -ENOMEM. */
int keel_group_spawn(struct keel_cx *cx, struct keel_group *g,
		     keel_poll_fn *poll, keel_drop_fn *drop, const void *frame,
		     size_t size);

/** KEEL_SPAWN into a group: KEEL_GROUP_SPAWN(cx, &f->g, fn, NULL,
 *  struct t, .x = 1). */
#define KEEL_GROUP_SPAWN(cx, g, poll, drop, type, ...)                         \
	keel_group_spawn((cx), (g), (poll), (drop), &(type){ __VA_ARGS__ },   \
			 sizeof(type))

/**
 * Hand \p join over to \p g (e.g. from keel_spawn_periodic). On -ENOMEM
 * the task is aborted. \return 0, -EINVAL, -ENOMEM.
 */
int keel_group_add(struct keel_cx *cx, struct keel_group *g,
		   struct keel_join *join);

/** Tasks of \p g not yet awaited (finished ones may still count). */
size_t keel_group_size(const struct keel_group *g);

/** Cancel every task of \p g (idempotent; they are awaited by join). */
void keel_group_cancel(struct keel_group *g);

/**
 * Await every task of \p g. Ready with 0, or with the first negative
 * result a member returned other than -ECANCELED; the group is then empty
 * and can be used again.
 */
intptr_t keel_group_join(struct keel_cx *cx, struct keel_group *g);

/** Cancel the whole group and await it, in one call (keel_group_cancel,
 *  then keel_group_join). */
intptr_t keel_group_shutdown(struct keel_cx *cx, struct keel_group *g);

/** Abort what is left (cancel, give up the handles) and free: for drops. */
void keel_group_destroy(struct keel_group *g);

/* ------------------------------------------------------ periodic tasks */

/**
 * The body of a periodic task: called once per tick on the task's worker;
 * \p ticks is how many periods passed since the last call (> 1 when the
 * worker fell behind). Return 0 to go on; anything else ends the task with
 * that result.
 */
typedef intptr_t keel_periodic_fn(struct keel_cx *cx, void *arg,
				  uint64_t ticks);

/**
 * Spawn a task that calls \p fn every \p period ns (first call one period
 * from now, no drift, keel_interval_tick). \p arg is borrowed: it must
 * outlive the task (cancel the task before freeing it).
 * \return 0, -EINVAL (period 0, NULL fn), -ENOMEM.
 */
int keel_spawn_periodic(struct keel_cx *cx, uint64_t period,
			keel_periodic_fn *fn, void *arg,
			struct keel_join **join);

/** keel_spawn_periodic into \p g. \return 0, -EINVAL, -ENOMEM. */
int keel_group_spawn_periodic(struct keel_cx *cx, struct keel_group *g,
			      uint64_t period, keel_periodic_fn *fn,
			      void *arg);

/* -------------------------------------------------------------- signals */

/**
 * A signal: set once, from any thread; any number of tasks await it
 * (tokio's CancellationToken, a closed channel in Go).
 */
struct keel_signal;

/**
 * What a task keeps while it awaits a signal: zero-initialise, one per
 * await site in the frame. It holds no pointer into the signal nor the
 * signal into it, so a frame can be dropped while waiting, and a wait that
 * lost a KEEL_SELECT needs no cleanup.
 */
struct keel_waiter {
	size_t slot; /* 1 + index of its entry in the signal, 0: none yet */
	unsigned long gen;
};

/** \return 0, -EINVAL, -ENOMEM. */
int keel_signal_create(struct keel_signal **out);

/** Free \p s; tasks still waiting are not woken. NULL is a no-op. */
void keel_signal_destroy(struct keel_signal *s);

/** Set \p s and wake every task that waits on it. Any thread; not from a
 *  signal handler (it takes a mutex). Setting twice changes nothing. */
void keel_signal_set(struct keel_signal *s);

/** Whether \p s was set. */
bool keel_signal_is_set(const struct keel_signal *s);

/**
 * Ready with 0 once \p s is set; pending until then. \p w is the task's
 * waiter (see struct keel_waiter). -EINVAL for NULL arguments, -ENOMEM
 * when the signal cannot grow.
 */
intptr_t keel_signal_wait(struct keel_cx *cx, struct keel_signal *s,
			  struct keel_waiter *w);

/**
 * The runtime's shutdown signal: set at the first shutdown request
 * (SIGINT, SIGTERM, keel_runtime_shutdown). The first call spawns a small
 * task that awaits keel_shutdown_poll for every task of the runtime, so a
 * program that uses it must not await keel_shutdown_poll itself. The
 * signal lives until keel_runtime_destroy. NULL when out of memory.
 */
struct keel_signal *keel_shutdown_signal(struct keel_cx *cx);

/** keel_signal_wait on the shutdown signal: any number of tasks may await
 *  it. -ENOMEM if it could not be created. */
intptr_t keel_shutdown_wait(struct keel_cx *cx, struct keel_waiter *w);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_COMBINE_H */
