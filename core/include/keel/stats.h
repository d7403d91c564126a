/* SPDX-License-Identifier: MIT */
/** \file
 * Live statistics: every counter of a runtime as name/value pairs, read
 * from any thread while the runtime runs, without side effects.
 *
 * One call, keel_stats_read, walks the counters of each worker (polls,
 * parks, tasks spawned...), of each driver instance (datagrams in and out,
 * drops; DPDK's xstats idea: the common set every driver has, then the
 * driver's own extended counters through its optional `xstats` op), the
 * counters the application registered (keel_counter_create), and a few
 * runtime-wide values (tasks alive). Workers write their counters with
 * relaxed atomic stores, each counter by one thread, so a reader sees each
 * value whole and never slows a worker down; two counters read one after
 * the other are not a snapshot of one instant. A worker adds up its polls
 * in a register and stores them once per run of its queue, so `polls` may
 * be a run behind the tasks it polled (a self-wake costs ~80 instructions:
 * one store more per poll would be felt).
 *
 * KEEL_MAIN programs print them with --stats (at exit) and --stats=INTERVAL
 * (one line of rates per interval), and serve them in the Prometheus text
 * format with --metrics=ADDR:PORT (keel_stats_write_prometheus).
 *
 *     static struct keel_counter *answers;
 *     keel_counter_create(rt, "dns_answers", "answers sent", &answers);
 *     ...
 *     keel_counter_add(answers, 1);   // on any worker's thread: cheap
 */
#ifndef KEEL_STATS_H
#define KEEL_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct keel_runtime;

/** Where a counter comes from. */
enum keel_stat_scope {
	KEEL_STAT_RUNTIME, /* the runtime as a whole (worker is -1) */
	KEEL_STAT_WORKER,  /* one worker's loop: polls, parks, spawns... */
	KEEL_STAT_DRIVER,  /* one driver instance: struct keel_driver_stats */
	KEEL_STAT_XSTAT,   /* one driver instance: its own extended counters */
	KEEL_STAT_APP,	   /* registered by the application */
};

/** Flags of a counter (also those of a driver's xstats callback). */
#define KEEL_STAT_GAUGE 0x1u /* a level that goes up and down, not a count */
#define KEEL_STAT_DROP	0x2u /* a drop reason: datagrams or frames lost */

/** One counter, as keel_stats_read hands it over (valid for the call). */
struct keel_stat {
	enum keel_stat_scope scope;
	const char *driver; /* DRIVER, XSTAT: the driver's name; else NULL */
	const char *name;   /* lower_case_with_underscores, e.g. "rx_packets" */
	const char *help;   /* one line, or NULL */
	int worker;	    /* the worker's index; -1: not one worker's */
	unsigned flags;	    /* KEEL_STAT_* */
	uint64_t value;
};

/** Receives each counter of keel_stats_read in turn. */
typedef void keel_stats_fn(void *arg, const struct keel_stat *s);

/**
 * Call \p fn for every counter of \p rt: the runtime's, then for each
 * worker its own, its drivers' and the application's. Any thread, any
 * time between keel_runtime_create and keel_runtime_destroy; nothing is
 * changed by reading. \return 0, or -EINVAL (NULL argument).
 */
int keel_stats_read(struct keel_runtime *rt, keel_stats_fn *fn, void *arg);

/**
 * Write every counter of \p rt to \p out in the Prometheus text
 * exposition format (version 0.0.4): families keel_worker_*_total,
 * keel_driver_*_total{driver=}, keel_<driver>_* (extended counters),
 * keel_tasks_live, and the application's under the names it gave, each
 * with a worker="N" label. \return 0, -EINVAL, -ENOMEM, or -EIO.
 */
int keel_stats_write_prometheus(struct keel_runtime *rt, FILE *out);

/** A counter of the application's, one slot per worker. */
struct keel_counter;

/**
 * Register a counter named \p name (letters, digits and '_', not starting
 * with a digit; at most 63 characters) in \p rt; it is read with the
 * rest and freed by keel_runtime_destroy. \p help is copied (NULL: none).
 * \return 0, -EINVAL (bad name or argument), -EEXIST (the name is taken),
 *         -ENOMEM.
 */
int keel_counter_create(struct keel_runtime *rt, const char *name,
			const char *help, struct keel_counter **out);

/**
 * Add \p n to \p c. On a worker of c's runtime it is a relaxed load and
 * store of that worker's slot (no atomic read-modify-write); on any other
 * thread an atomic add to a shared slot.
 */
void keel_counter_add(struct keel_counter *c, uint64_t n);

/** The sum of \p c's slots (any thread). */
uint64_t keel_counter_value(const struct keel_counter *c);

/**
 * Add \p n to \p counter (an lvalue: a uint64_t or _Atomic uint64_t
 * field) that one thread writes and any thread reads: a relaxed load and
 * a relaxed store, plain moves on x86 with no locked instruction, seen by
 * ThreadSanitizer for what they are. Readers load it relaxed
 * (KEEL_STAT_LOAD). Every counter keel_stats_read reports is kept so.
 */
#define KEEL_STAT_ADD(counter, n)                                              \
	__atomic_store_n(&(counter),                                           \
			 __atomic_load_n(&(counter), __ATOMIC_RELAXED) +       \
				 (uint64_t)(n),                                \
			 __ATOMIC_RELAXED)

/** Read a counter kept with KEEL_STAT_ADD, from any thread. */
#define KEEL_STAT_LOAD(counter) __atomic_load_n(&(counter), __ATOMIC_RELAXED)

#ifdef __cplusplus
}
#endif
#endif /* KEEL_STATS_H */
