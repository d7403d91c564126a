/* SPDX-License-Identifier: MIT */
/*
 * The runtime object: resolves the scheduler and driver named in the
 * configuration among those linked into the program, and drives a root
 * task to completion.
 *
 * Which modules are linked is read from two linker sections, keel_scheds
 * and keel_drivers, filled by KEEL_SCHED_EXPORT / KEEL_DRIVER_EXPORT in the
 * modules' own objects. Core knows no module by name.
 */
#include "core_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <keel/error.h>
#include <keel/log.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defined by the linker when at least one entry exists. */
extern const struct keel_sched_ops *const __start_keel_scheds[]
	__attribute__((weak));
extern const struct keel_sched_ops *const __stop_keel_scheds[]
	__attribute__((weak));
extern const struct keel_driver_ops *const __start_keel_drivers[]
	__attribute__((weak));
extern const struct keel_driver_ops *const __stop_keel_drivers[]
	__attribute__((weak));

size_t keel_scheds_linked(const struct keel_sched_ops *const **list)
{
	if (list)
		*list = __start_keel_scheds;
	if (!__start_keel_scheds)
		return 0;
	return (size_t)(__stop_keel_scheds - __start_keel_scheds);
}

size_t keel_drivers_linked(const struct keel_driver_ops *const **list)
{
	if (list)
		*list = __start_keel_drivers;
	if (!__start_keel_drivers)
		return 0;
	return (size_t)(__stop_keel_drivers - __start_keel_drivers);
}

/* Set by KEEL_SCHED_DEFAULT / KEEL_DRIVER_DEFAULT in an object of the
 * application, if it has one: a weak reference, not a weak definition. */
extern const struct keel_sched_ops *const keel_default_sched
	__attribute__((weak));
extern const struct keel_driver_ops *const keel_default_driver
	__attribute__((weak));

const struct keel_sched_ops *keel__sched_default(void)
{
	const struct keel_sched_ops *const *l;

	if (&keel_default_sched)
		return keel_default_sched;
	return keel_scheds_linked(&l) ? l[0] : NULL;
}

const struct keel_driver_ops *keel__driver_default(void)
{
	const struct keel_driver_ops *const *l;

	if (&keel_default_driver)
		return keel_default_driver;
	return keel_drivers_linked(&l) ? l[0] : NULL;
}

/* " name" appended to the list in \p buf (cut when it is full). */
static void append_name(char *buf, size_t size, const char *name)
{
	size_t used = strlen(buf);

	snprintf(buf + used, size - used, " %s", name);
}

static const struct keel_sched_ops *find_sched(const char *name)
{
	const struct keel_sched_ops *const *l;
	size_t n = keel_scheds_linked(&l);
	char buf[256] = "";

	if (!name && &keel_default_sched)
		return keel_default_sched;
	for (size_t i = 0; i < n; i++)
		if (!name || strcmp(l[i]->name, name) == 0)
			return l[i];
	for (size_t i = 0; i < n; i++)
		append_name(buf, sizeof(buf), l[i]->name);
	keel_log(KEEL_LOG_ERROR, "keel: scheduler '%s' is not linked into this "
		 "program; linked:%s", name ? name : "(default)",
		 n ? buf : " none (add a keel_sched_* dependency)");
	return NULL;
}

static const struct keel_driver_ops *find_driver(const char *name, size_t len)
{
	const struct keel_driver_ops *const *l;
	size_t n = keel_drivers_linked(&l);
	char buf[256] = "";

	for (size_t i = 0; i < n; i++)
		if (!name || (strlen(l[i]->name) == len &&
			      strncmp(l[i]->name, name, len) == 0))
			return l[i];
	for (size_t i = 0; i < n; i++)
		append_name(buf, sizeof(buf), l[i]->name);
	keel_log(KEEL_LOG_ERROR, "keel: driver '%.*s' is not linked into this "
		 "program; linked:%s", name ? (int)len : 9,
		 name ? name : "(default)",
		 n ? buf : " none");
	return NULL;
}

/* The chosen driver first (it parks and serves UDP), then any other linked
 * driver that provides TCP, so TCP keeps working under a bypass driver. */
static int resolve_drivers(struct keel_runtime *rt, const char *spec)
{
	const struct keel_driver_ops *const *l;
	size_t n = keel_drivers_linked(&l);
	const struct keel_driver_ops *d;

	if (spec && *spec) {
		const char *colon = strchr(spec, ':');
		size_t len = colon ? (size_t)(colon - spec) : strlen(spec);

		d = find_driver(spec, len);
		if (!d)
			return -ENOENT;
		if (colon) {
			rt->driver_args[0] = strdup(colon + 1);
			if (!rt->driver_args[0])
				return -ENOMEM;
		}
	} else if (&keel_default_driver) {
		d = keel_default_driver;
	} else if (n) {
		d = l[0];
	} else {
		return 0; /* compute only: no driver linked */
	}
	rt->drivers[rt->ndrivers++] = d;
	if (!d->tcp_connect) {
		for (size_t i = 0; i < n && rt->ndrivers < KEEL__MAX_DRIVERS; i++)
			if (l[i]->tcp_connect) {
				rt->drivers[rt->ndrivers++] = l[i];
				break;
			}
	}
	return 0;
}

/* The CPUs of cfg.cpus into rt->cpus, each one the process may run on. */
static int resolve_cpus(struct keel_runtime *rt, const char *text)
{
	const char *why;
	cpu_set_t allowed;
	int n;

	if (!text)
		return 0;
	n = keel__cpus_parse(text, rt->cpus, KEEL__MAX_WORKERS, &why);
	if (n < 0) {
		keel_log(KEEL_LOG_ERROR, "keel: --cpus=%s: %s", text, why);
		return n;
	}
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
		for (int i = 0; i < n; i++)
			if (!CPU_ISSET(rt->cpus[i], &allowed)) {
				keel_log(KEEL_LOG_ERROR, "keel: --cpus=%s: CPU %d is offline "
					"or not allowed to this process (see "
					"`taskset -p $$`)", text, rt->cpus[i]);
				return -EINVAL;
			}
	rt->ncpus = (unsigned)n;
	return 0;
}

/* Forget the drivers of a choice that could not start. */
static void forget_drivers(struct keel_runtime *rt)
{
	for (unsigned i = 0; i < KEEL__MAX_DRIVERS; i++) {
		free(rt->driver_args[i]);
		rt->driver_args[i] = NULL;
		rt->drivers[i] = NULL;
	}
	rt->ndrivers = 0;
}

/* Build the scheduler and its workers on the drivers of \p spec. */
static int start_on(struct keel_runtime *rt, const char *spec,
		    unsigned workers)
{
	int rc = resolve_drivers(rt, spec);

	if (rc < 0)
		return rc;
	rt->cfg.workers = workers;
	rc = rt->sched->create(rt, workers, &rt->sched_impl);
	if (rc < 0) {
		keel__runtime_teardown(rt);
		rt->tearing_down = false;
		return rc;
	}
	if (rt->ncpus && rt->nworkers > rt->ncpus) {
		keel_log(KEEL_LOG_ERROR, "keel: --cpus lists %u CPUs for %u workers: "
			"list one per worker", rt->ncpus, rt->nworkers);
		rt->sched->destroy(rt->sched_impl);
		keel__runtime_teardown(rt);
		return -EINVAL;
	}
	return 0;
}

int keel_runtime_create(const struct keel_config *cfg,
			struct keel_runtime **out)
{
	static const struct keel_config defaults;
	const char *choice[1 + KEEL_DRIVER_FALLBACKS];
	struct keel_runtime *rt;
	unsigned nchoices = 1, c;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg)
		cfg = &defaults;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->cfg = *cfg;
	pthread_mutex_init(&rt->clock_lock, NULL);
	pthread_mutex_init(&rt->shutdown_lock, NULL);
	if (!rt->cfg.budget)
		rt->cfg.budget = KEEL_DEFAULT_BUDGET;
	rt->sched = find_sched(cfg->sched);
	if (!rt->sched) {
		rc = -ENOENT;
		goto err;
	}
	rt->cfg.sched = rt->sched->name;
	rt->cfg.cpus = NULL; /* borrowed: the list is in rt->cpus */
	rc = resolve_cpus(rt, cfg->cpus);
	if (rc < 0)
		goto err;
	rt->shared = rt->sched->migrates;
	choice[0] = cfg->driver;
	for (unsigned i = 0; i < KEEL_DRIVER_FALLBACKS && cfg->driver_fallback[i]; i++)
		choice[nchoices++] = cfg->driver_fallback[i];
	for (c = 0; c < nchoices; c++) {
		rc = start_on(rt, choice[c], cfg->workers ? cfg->workers : rt->ncpus);
		if (rc == 0)
			break;
		forget_drivers(rt);
		if (c + 1 < nchoices)
			keel_log(KEEL_LOG_WARN, "keel: driver %s cannot start (%s); trying %s",
				choice[c] ? choice[c] : "(default)",
				keel_strerror(rc), choice[c + 1]);
	}
	if (rc < 0)
		goto err;
	if (nchoices > 1)
		keel_log(KEEL_LOG_INFO, "keel: running on driver %s",
			choice[c] ? choice[c] : rt->drivers[0]->name);
	memset(rt->cfg.driver_fallback, 0, sizeof(rt->cfg.driver_fallback));
	rt->cfg.driver = rt->ndrivers ? rt->drivers[0]->name : NULL;
	rt->cfg.workers = rt->nworkers;
	rt->home = rt->sched->home(rt->sched_impl);
	rc = keel__monitor_start(rt); /* --stats=INTERVAL, --metrics= */
	if (rc < 0) {
		keel_runtime_destroy(rt);
		return rc;
	}
	*out = rt;
	return 0;
err:
	for (unsigned i = 0; i < KEEL__MAX_DRIVERS; i++)
		free(rt->driver_args[i]);
	pthread_mutex_destroy(&rt->clock_lock);
	pthread_mutex_destroy(&rt->shutdown_lock);
	free(rt);
	return rc;
}

intptr_t keel_runtime_block_on(struct keel_runtime *rt, keel_poll_fn *poll,
			       keel_drop_fn *drop, const void *frame,
			       size_t size)
{
	struct keel_worker *home, *prev = keel__tls_worker;
	struct keel_join *root;
	intptr_t r;
	int rc;

	if (!rt || !poll)
		return -EINVAL;
	home = rt->home;
	keel__tls_worker = home;
	rc = keel__task_spawn(home, poll, drop, frame, size, &root, true);
	keel__tls_worker = prev;
	if (rc < 0)
		return rc;
	rt->sched->block_on(rt->sched_impl, root);

	keel__tls_worker = home;
	if (keel_join_is_finished(root)) {
		struct keel_task *t = (struct keel_task *)root;

		r = t->result;
		keel_join_detach(root);
	} else {
		/* Shut down from outside (a signal): the root is cancelled
		 * with the rest at destroy. */
		keel_join_abort(root);
		r = -EINTR;
	}
	keel__tls_worker = prev;
	return r;
}

/* Async-signal-safe with a driver: atomics and the driver's unpark (a
 * write). Without one the fallback takes a mutex. The first request goes
 * to a task awaiting keel_shutdown_poll, if there is one; otherwise, and
 * at the second request, the workers stop. */
void keel_runtime_shutdown(struct keel_runtime *rt)
{
	unsigned before = atomic_fetch_add(&rt->shutdown_requests, 1);

	if (before || !atomic_load(&rt->graceful))
		atomic_store(&rt->shutdown, true);
	for (unsigned i = 0; i < rt->nworkers; i++)
		keel__worker_unpark(rt->workers[i]);
}

void keel_runtime_destroy(struct keel_runtime *rt)
{
	if (!rt)
		return;
	keel__monitor_stop(rt);
	rt->sched->destroy(rt->sched_impl);
	keel__monitor_fini(rt); /* --stats: the counters, final */
	keel_waker_drop(&rt->shutdown_waker); /* its message is taken below */
	keel__runtime_teardown(rt);
	for (unsigned i = 0; i < KEEL__MAX_DRIVERS; i++)
		free(rt->driver_args[i]);
	pthread_mutex_destroy(&rt->clock_lock);
	pthread_mutex_destroy(&rt->shutdown_lock);
	free(rt);
}

const struct keel_sched_ops *keel_runtime_sched_ops(const struct keel_runtime *rt)
{
	return rt->sched;
}

void *keel_runtime_sched(const struct keel_runtime *rt)
{
	return rt->sched_impl;
}

const struct keel_config *keel_runtime_config(const struct keel_runtime *rt)
{
	return &rt->cfg;
}
