/* SPDX-License-Identifier: MIT */
/** \file
 * The scheduler interface: what a scheduler provides to keel, and the
 * worker API it builds on.
 *
 * Core owns the workers: their timer wheels, drivers, task caches, inboxes
 * and the worker loop (run ready tasks under a budget, poll the drivers,
 * fire timers, park until the next timer when idle). A scheduler decides
 * how many workers there are, which threads run them, how the root task is
 * driven to completion, and, if its tasks migrate between workers, where a
 * runnable task waits and which worker takes it next.
 *
 * Two kinds of scheduler:
 * - affine (`migrates` false: local, shard): a task stays on the worker that
 *   spawned it; core keeps that worker's run queue (FIFO);
 * - migrating (`migrates` true: pool, steal): any worker may poll any task
 *   that uses no I/O handle; core calls `push` whenever such a task
 *   becomes runnable and `pop` whenever a worker wants one.
 * The task state is the same on both: core keeps it in atomics.
 *
 * A scheduler makes itself available by exporting its ops table with
 * KEEL_SCHED_EXPORT in the same object file as the table.
 */
#ifndef KEEL_SCHED_H
#define KEEL_SCHED_H

#include <keel/runtime.h>
#include <keel/list.h>
#include <keel/task.h>

#ifdef __cplusplus
extern "C" {
#endif

struct keel_worker;
struct keel_task;

/** Why a task is pushed (keel_sched_ops.push). */
enum keel_push {
	KEEL_PUSH_SPAWN, /* new */
	KEEL_PUSH_WAKE,	 /* woken by someone else (a task, a driver, a timer) */
	KEEL_PUSH_YIELD, /* woke itself while it ran: to the back, for fairness */
};

struct keel_sched_ops {
	const char *name;    /* what --sched=NAME names */
	const char *summary; /* one line for --help */
	bool migrates;	     /* tasks move between workers (see above) */
	/**
	 * Build the scheduler for \p rt with \p workers workers (0: its
	 * default), creating them with keel_worker_create. Threads may be
	 * started here or in block_on.
	 */
	int (*create)(struct keel_runtime *rt, unsigned workers, void **out);
	/** Stop and join its threads, free its own state (not the workers:
	 *  the runtime tears those down afterwards). */
	void (*destroy)(void *sched);
	/** The worker a task spawned from outside (the root) starts on; the
	 *  calling thread runs it in block_on. */
	struct keel_worker *(*home)(void *sched);
	/**
	 * Run until \p root has finished or the runtime is shut down. Called
	 * on the thread that created the runtime.
	 */
	void (*block_on)(void *sched, struct keel_join *root);

	/**
	 * Optional, any scheduler: called once per tick of worker \p w, on
	 * its thread (e.g. to take tasks other threads sent it). \return the
	 * work done, 0 when none.
	 */
	size_t (*tick)(void *sched, struct keel_worker *w);

	/* Migrating schedulers only (has_work: any scheduler with a tick). */

	/**
	 * Queue runnable task \p t. \p w is the worker of the calling thread
	 * when it belongs to this runtime, else NULL (a foreign thread).
	 * \p why says where it comes from (enum keel_push). If a worker is
	 * parked (keel_runtime_idle), unpark one.
	 */
	void (*push)(void *sched, struct keel_worker *w, struct keel_task *t,
		     int why);
	/** The next task for worker \p w, or NULL. */
	struct keel_task *(*pop)(void *sched, struct keel_worker *w);
	/** Whether pop would find something for \p w (checked before w
	 *  parks, after it announced it is parking). */
	bool (*has_work)(void *sched, struct keel_worker *w);
};

/**
 * Say how many workers \p rt gets, once the scheduler knows (its default
 * resolved), before it creates them: drivers size their queues by it
 * (keel_worker_count).
 */
void keel_runtime_plan_workers(struct keel_runtime *rt, unsigned workers);

/** Create worker number \p index of \p rt, with its drivers. 0 or -errno.
 *  The runtime owns it and frees it at keel_runtime_destroy. */
int keel_worker_create(struct keel_runtime *rt, unsigned index,
		       struct keel_worker **out);

/**
 * The worker loop, on the calling thread, until \p until has finished
 * (NULL: until keel_worker_stop) or the runtime is shut down. The calling
 * thread is the worker's while it runs.
 */
void keel_worker_run(struct keel_worker *w, struct keel_join *until);

/** Any thread: make keel_worker_run(w, NULL) return. */
void keel_worker_stop(struct keel_worker *w);

/** Any thread: make \p w's park, in progress or next, return. */
void keel_worker_unpark(struct keel_worker *w);

/** Whether \p w is parked or about to park. */
bool keel_worker_parked(const struct keel_worker *w);

/** How many workers of \p rt are parked or about to park. */
unsigned keel_runtime_idle(const struct keel_runtime *rt);

/** Worker \p i of \p rt (in creation order), or NULL. */
struct keel_worker *keel_runtime_worker(const struct keel_runtime *rt,
					unsigned i);

/**
 * For affine schedulers that hand new tasks to other workers themselves
 * (sched/shard): build a task on the calling thread's worker \p from (its
 * cache) that will belong to worker \p to, without making it runnable.
 * Publish the pointer to \p to's thread (release/acquire), which calls
 * keel_task_adopt. The frame is copied now; \p join as in keel_spawn.
 * \return 0, -EINVAL (bad argument, or a migrating runtime), -ENOMEM.
 */
int keel_task_create(struct keel_worker *from, struct keel_worker *to,
		     keel_poll_fn *poll, keel_drop_fn *drop, const void *frame,
		     size_t size, struct keel_join **join,
		     struct keel_task **out);

/**
 * The run-queue link of \p t, for a scheduler's intrusive queues: a task
 * pushed to a scheduler is in no other queue until it is popped, so the
 * link is the scheduler's meanwhile (keel_task_of_link goes back).
 */
struct keel_list *keel_task_link(struct keel_task *t);
struct keel_task *keel_task_of_link(struct keel_list *link);

/** On \p to's thread (or at teardown): make a created task runnable. */
void keel_task_adopt(struct keel_worker *to, struct keel_task *t);

/** On \p from's thread: free a created task that was never published (its
 *  drop does not run: the caller still owns what the frame refers to). */
void keel_task_discard(struct keel_worker *from, struct keel_task *t);

/** The ops and the instance of \p rt's scheduler. */
const struct keel_sched_ops *keel_runtime_sched_ops(const struct keel_runtime *rt);
void *keel_runtime_sched(const struct keel_runtime *rt);

/** Put a scheduler's ops table in the program's list of linked ones. */
#define KEEL_SCHED_EXPORT(ops)                                                 \
	__attribute__((used, section("keel_scheds"))) const struct             \
		keel_sched_ops *const keel__sched_entry_##ops = &(ops)

/**
 * Make \p ops the program's default scheduler (the one used when none is
 * named). For a tiny object compiled into the application itself; two
 * defaults in one program are a link error (duplicate symbol).
 */
#define KEEL_SCHED_DEFAULT(ops)                                                \
	const struct keel_sched_ops *const keel_default_sched = &(ops)

/** The schedulers linked into this program, in link order. */
size_t keel_scheds_linked(const struct keel_sched_ops *const **list);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_SCHED_H */
