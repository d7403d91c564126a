/* SPDX-License-Identifier: MIT */
/** \file
 * Tasks: spawning a future, joining it, cancelling it.
 *
 * keel_spawn copies a frame into a task block taken from the current
 * worker's cache (no malloc on the hot path) and makes it runnable. The
 * optional join handle is one reference to the task: await it with
 * keel_join_poll, or give it up with keel_join_detach (the task goes on, its
 * result is discarded). keel_join_cancel stops a task: it is not polled
 * again, its drop function runs, timers and readiness sources it armed are
 * disarmed, and a join yields -ECANCELED unless the task had already
 * finished.
 */
#ifndef KEEL_TASK_H
#define KEEL_TASK_H

#include <keel/future.h>

#ifdef __cplusplus
extern "C" {
#endif

struct keel_join;

/**
 * Spawn a task on the worker polling \p cx.
 *
 * \param poll  the task's poll function.
 * \param drop  destructor of the frame, or NULL; runs once, on the worker,
 *              after the task completed or was cancelled.
 * \param frame initial frame, copied (\p size bytes) into the task.
 * \param join  out: a join handle, or NULL to detach at once.
 * \return 0, -EINVAL (NULL poll or frame with size > 0), -ENOMEM.
 */
int keel_spawn(struct keel_cx *cx, keel_poll_fn *poll, keel_drop_fn *drop,
	       const void *frame, size_t size, struct keel_join **join);

/** Spawn a frame given as a compound literal: KEEL_SPAWN(cx, fn, NULL,
 *  &jh, struct t, .x = 1). */
#define KEEL_SPAWN(cx, poll, drop, join, type, ...)                            \
	keel_spawn((cx), (poll), (drop), &(type){ __VA_ARGS__ }, sizeof(type), \
		   (join))

/**
 * Await a task. Ready with the task's result (-ECANCELED if it was
 * cancelled), and then the handle is consumed; pending otherwise.
 * A handle may be awaited by one task at a time.
 */
intptr_t keel_join_poll(struct keel_cx *cx, struct keel_join *join);

/** Whether the task has finished (completed or cancelled). */
bool keel_join_is_finished(const struct keel_join *join);

/**
 * Cancel the task. Idempotent; the handle stays valid and must still be
 * awaited or detached. Cancelling a finished task changes nothing.
 */
void keel_join_cancel(struct keel_join *join);

/** Give up the handle; the task runs on. */
void keel_join_detach(struct keel_join *join);

/** Cancel and give up the handle in one call (what a frame's drop wants). */
void keel_join_abort(struct keel_join *join);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_TASK_H */
