/* SPDX-License-Identifier: MIT */
/*
 * Worker placement: the CPU list of --cpus (worker i runs on the i-th CPU
 * of the list), pinning a worker's thread when it starts to run, and the
 * worker count drivers size their queues by.
 *
 * Pinning is done by the thread itself, at the start of keel_worker_run,
 * so it needs nothing from the scheduler that made the thread; a driver
 * that wants to know its CPU (DPDK registers the thread as an lcore) asks
 * the thread afterwards.
 */
#include "core_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_cpu(const char **p, int *out)
{
	char *end;
	long v;

	if (**p < '0' || **p > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(*p, &end, 10);
	if (errno || v >= CPU_SETSIZE)
		return -EINVAL;
	*out = (int)v;
	*p = end;
	return 0;
}

int keel__cpus_parse(const char *text, int *out, unsigned max,
		     const char **why)
{
	const char *p = text;
	unsigned n = 0;

	*why = "a list of CPU numbers and ranges, e.g. 2,3 or 0-3,8";
	if (!p || !*p)
		return -EINVAL;
	for (;;) {
		int lo, hi;

		if (parse_cpu(&p, &lo) < 0)
			return -EINVAL;
		hi = lo;
		if (*p == '-') {
			p++;
			if (parse_cpu(&p, &hi) < 0 || hi < lo)
				return -EINVAL;
		}
		for (int c = lo; c <= hi; c++) {
			if (n == max) {
				*why = "more CPUs than keel has workers";
				return -EINVAL;
			}
			out[n++] = c;
		}
		if (*p == '\0')
			return (int)n;
		if (*p++ != ',')
			return -EINVAL;
	}
}

void keel__worker_pin(struct keel_worker *w)
{
	struct keel_runtime *rt = w->rt;
	cpu_set_t set;

	if (!rt->ncpus || w->index >= rt->ncpus)
		return;
	CPU_ZERO(&set);
	CPU_SET(rt->cpus[w->index], &set);
	/* Checked at create against the CPUs the process may use. */
	(void)sched_setaffinity(0, sizeof(set), &set);
}

void keel_runtime_plan_workers(struct keel_runtime *rt, unsigned workers)
{
	if (rt && workers)
		rt->cfg.workers = workers;
}

unsigned keel_worker_count(const struct keel_worker *w)
{
	unsigned n = w->rt->cfg.workers;

	return n > w->rt->nworkers ? n : w->rt->nworkers ? w->rt->nworkers : 1;
}
