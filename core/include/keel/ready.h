/* SPDX-License-Identifier: MIT */
/** \file
 * User-space readiness sources, the reactor path of the seed's poll_reactor.
 */
#ifndef KEEL_READY_H
#define KEEL_READY_H

#include <keel/future.h>
#include <keel/list.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A user-space readiness source, as in the seed's poll_reactor: user code
 * sets readiness, the reactor wakes the waiting task in its next poll phase.
 * Zero-initialise; owner-thread only (use the driver's eventfd source across
 * threads). A source that is waited on is disarmed when its task ends.
 */
struct keel_ready {
	struct keel_list link; /* on the worker's fired list */
	struct keel_list task_link;
	struct keel_waker waker;
	void *worker;
	bool ready;
};

/** Ready with 0 (and readiness cleared) if set; else register and pend. */
intptr_t keel_ready_poll(struct keel_cx *cx, struct keel_ready *r);

/** Set readiness through the reactor of the worker polling \p cx. */
void keel_ready_set(struct keel_cx *cx, struct keel_ready *r);

/** Stop waiting on \p r (frees nothing: \p r is caller-owned). */
void keel_ready_stop(struct keel_ready *r);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_READY_H */
