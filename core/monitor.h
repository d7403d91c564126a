/* SPDX-License-Identifier: MIT */
/*
 * What stats.c and monitor.c share: the runtime's monitor, which holds the
 * application's counters and the two threads --stats=INTERVAL and
 * --metrics=ADDR:PORT start.
 */
#ifndef KEEL_CORE_MONITOR_H
#define KEEL_CORE_MONITOR_H

#include "core_internal.h"

struct keel_counter;

struct keel__monitor {
	struct keel_runtime *rt;
	pthread_mutex_t lock;	      /* guards counters */
	struct keel_counter *counters; /* keel_counter_create, newest first */

	/* The threads, stopped by `stopping` (under stop_lock) and, for
	 * the HTTP thread, a write to stop_fd[1]. */
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond; /* CLOCK_MONOTONIC */
	bool stopping;
	int stop_fd[2];
	bool interval_running, http_running;
	pthread_t interval_th, http_th;
	int listen_fd; /* --metrics; -1 */
};

/* stats.c: free the application's counters. */
void keel__counters_free(struct keel__monitor *m);

#endif /* KEEL_CORE_MONITOR_H */
