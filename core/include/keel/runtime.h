/* SPDX-License-Identifier: MIT */
/** \file
 * The runtime: a scheduler and its workers, each worker with its drivers,
 * its timer wheel and its task cache.
 *
 * Which scheduler and driver a runtime uses is chosen by name among those
 * linked into the program; with no name, the first linked one of each kind
 * (link order, that is the order of the dependencies in meson.build).
 */
#ifndef KEEL_RUNTIME_H
#define KEEL_RUNTIME_H

#include <keel/future.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct keel_runtime;

/** Entries of keel_config.driver_fallback. */
#define KEEL_DRIVER_FALLBACKS 7

/** How to build a runtime. Zero-initialised means all defaults. */
struct keel_config {
	const char *sched;  /* scheduler name; NULL: the default linked */
	const char *driver; /* "NAME[:ARGS]"; NULL: the default linked */
	/**
	 * Drivers to try, in order, when the one before cannot start (its
	 * create fails on a worker): "NAME[:ARGS]" each, the list ended by
	 * NULL. Each one that fails prints a line with its reason, and the
	 * runtime says which one it runs on; `driver` then names it.
	 */
	const char *driver_fallback[KEEL_DRIVER_FALLBACKS];
	unsigned workers;   /* 0: the scheduler's default, or the length of
			       cpus; the count in use once created */
	/**
	 * Pin worker i to the i-th CPU of this list ("2,3", "0-3,8"; copied
	 * at create); NULL: not pinned. The main thread, which runs worker
	 * 0, stays pinned after the runtime is gone.
	 */
	const char *cpus;
	unsigned budget;    /* polls per worker tick before the drivers run;
			       0: KEEL_DEFAULT_BUDGET */
	bool stats;	    /* log the counters (KEEL_LOG_INFO) at destroy */
	/** --stats=INTERVAL: log one line of rates (datagrams in and out per
	 *  second, drops by reason) every interval; 0: none. keel/stats.h */
	uint64_t stats_interval_ns;
	bool stats_workers; /* --stats-workers: those lines per worker too */
	/** --metrics=ADDR:PORT: serve every counter over HTTP in the
	 *  Prometheus text format, from a thread of its own; NULL: no. The
	 *  address is logged (port 0 picks one). */
	const char *metrics;
	bool verbose;	    /* for the application: --verbose */
	/**
	 * Virtual time: the clock starts at 0 and only moves when the runtime
	 * has nothing to do, then it jumps to the next timer (tokio's paused
	 * clock). Timer tests run without waiting.
	 */
	bool test_clock;
};

#define KEEL_DEFAULT_BUDGET 128

/**
 * Create a runtime bound to the calling thread.
 * \return 0, -ENOENT (scheduler or driver not linked: the message on
 *         message logged lists those that are), -EINVAL (a bad cpus
 *         list, or fewer CPUs in it than workers), -ENOMEM, or the error
 *         of the last driver tried.
 */
int keel_runtime_create(const struct keel_config *cfg,
			struct keel_runtime **out);

/**
 * Run a root task (its frame copied from \p frame) to completion on the
 * calling thread and the scheduler's workers. \return its result.
 */
intptr_t keel_runtime_block_on(struct keel_runtime *rt, keel_poll_fn *poll,
			       keel_drop_fn *drop, const void *frame,
			       size_t size);

/**
 * Ask the runtime to shut down, from any thread or from a signal handler
 * (async-signal-safe; KEEL_MAIN calls it on SIGINT and SIGTERM). If a task
 * awaits keel_shutdown_poll, the first request wakes it and the program
 * ends when its root task returns; otherwise, and at a second request,
 * keel_runtime_block_on returns -EINTR soon and the tasks are cancelled at
 * destroy.
 */
void keel_runtime_shutdown(struct keel_runtime *rt);

/**
 * Ready with 0 once a shutdown was requested; pending until then. Awaiting
 * it (one task at a time) turns the first request into a graceful one: the
 * task gets to finish its work, print its summary, and return.
 */
intptr_t keel_shutdown_poll(struct keel_cx *cx);

/**
 * Destroy: every task still alive is cancelled (its drop runs), every
 * driver and cache is freed. NULL is a no-op.
 */
void keel_runtime_destroy(struct keel_runtime *rt);

/** The configuration the runtime was built with (names resolved). */
const struct keel_config *keel_runtime_config(const struct keel_runtime *rt);

/** Print every counter of every worker and driver to \p out (the
 *  --stats summary; any thread, see keel/stats.h). */
void keel_runtime_print_stats(struct keel_runtime *rt, FILE *out);

/** The runtime of the worker polling \p cx. */
struct keel_runtime *keel_cx_runtime(struct keel_cx *cx);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_RUNTIME_H */
