/* SPDX-License-Identifier: MIT */
/** \file
 * The scheduler interface: what a scheduler provides to keel, and the
 * worker API it builds on.
 *
 * Core owns the worker: its run queue, its timer wheel, its drivers, its
 * task cache and the worker loop (run ready tasks under a budget, poll the
 * drivers, fire timers, park until the next timer when idle). A scheduler
 * decides how many workers there are, which threads run them, and how the
 * root task is driven to completion.
 *
 * A scheduler makes itself available by exporting its ops table with
 * KEEL_SCHED_EXPORT in the same object file as the table.
 */
#ifndef KEEL_SCHED_H
#define KEEL_SCHED_H

#include <keel/runtime.h>
#include <keel/task.h>

#ifdef __cplusplus
extern "C" {
#endif

struct keel_worker;

struct keel_sched_ops {
	const char *name;    /* what --sched=NAME names */
	const char *summary; /* one line for --help */
	/**
	 * Build the scheduler for \p rt with \p workers workers (0: its
	 * default), creating them with keel_worker_create.
	 */
	int (*create)(struct keel_runtime *rt, unsigned workers, void **out);
	void (*destroy)(void *sched);
	/** The worker a task spawned from outside (the root) starts on. */
	struct keel_worker *(*home)(void *sched);
	/**
	 * Run until \p root has finished. Called on the thread that created
	 * the runtime.
	 */
	void (*block_on)(void *sched, struct keel_join *root);
};

/** Create worker number \p index of \p rt, with its drivers. 0 or -errno. */
int keel_worker_create(struct keel_runtime *rt, unsigned index,
		       struct keel_worker **out);

/** Cancel the worker's remaining tasks, free it and its drivers. */
void keel_worker_destroy(struct keel_worker *w);

/**
 * The worker loop, on the calling thread, until \p until has finished
 * (NULL: until keel_worker_stop). The calling thread becomes the worker's.
 */
void keel_worker_run(struct keel_worker *w, struct keel_join *until);

/** Any thread: make keel_worker_run(w, NULL) return. */
void keel_worker_stop(struct keel_worker *w);

/** Put a scheduler's ops table in the program's list of linked ones. */
#define KEEL_SCHED_EXPORT(ops)                                                 \
	__attribute__((used, section("keel_scheds"))) const struct             \
		keel_sched_ops *const keel__sched_entry_##ops = &(ops)

/** The schedulers linked into this program, in link order. */
size_t keel_scheds_linked(const struct keel_sched_ops *const **list);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_SCHED_H */
