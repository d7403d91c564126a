/* SPDX-License-Identifier: MIT */
/*
 * The stats reader: every counter of a runtime as name/value pairs
 * (keel/stats.h), the application's counters, and the two ways they are
 * written out by keel itself: the text summary (--stats at exit,
 * keel_runtime_print_stats) and the Prometheus text format (--metrics).
 *
 * Reading is safe from any thread because every counter is a relaxed
 * atomic with one writer (the worker's, core_internal.h; the drivers keep
 * theirs the same way), and because what the reader walks (the workers,
 * their drivers) is fixed from keel_runtime_create to destroy. The
 * application's counters are a list under a mutex.
 */
#include "core_internal.h"
#include "monitor.h"

#include <errno.h>
#include <inttypes.h>
#include <keel/log.h>
#include <keel/stats.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- app counters */

/* One slot per worker, each on its own cache line: a worker writes only
 * its own. The last slot is shared by threads that are no worker. */
struct keel__slot {
	alignas(64) _Atomic uint64_t v;
};

struct keel_counter {
	struct keel_counter *next;
	struct keel_runtime *rt;
	char name[64];
	char *help;
	unsigned nslots; /* workers + 1 */
	struct keel__slot *slots;
};

static bool valid_name(const char *s)
{
	size_t n = 0;

	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return false;
	return n < 64;
}

int keel_counter_create(struct keel_runtime *rt, const char *name,
			const char *help, struct keel_counter **out)
{
	struct keel__monitor *m;
	struct keel_counter *c;
	int rc = 0;

	if (!rt || !out || !valid_name(name) || !(m = rt->monitor))
		return -EINVAL;
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->rt = rt;
	strcpy(c->name, name);
	c->nslots = rt->nworkers + 1;
	c->slots = aligned_alloc(alignof(struct keel__slot),
				 c->nslots * sizeof(*c->slots));
	if (!c->slots || (help && !(c->help = strdup(help)))) {
		free(c->slots);
		free(c);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < c->nslots; i++)
		atomic_init(&c->slots[i].v, 0);
	pthread_mutex_lock(&m->lock);
	for (struct keel_counter *o = m->counters; o; o = o->next)
		if (strcmp(o->name, name) == 0)
			rc = -EEXIST;
	if (!rc) {
		c->next = m->counters;
		m->counters = c;
	}
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		free(c->help);
		free(c->slots);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void keel_counter_add(struct keel_counter *c, uint64_t n)
{
	struct keel_worker *w = keel__tls_worker;

	if (!c)
		return;
	if (w && w->rt == c->rt && w->index < c->nslots - 1) {
		_Atomic uint64_t *v = &c->slots[w->index].v;

		atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
				      memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&c->slots[c->nslots - 1].v, n,
					  memory_order_relaxed);
	}
}

uint64_t keel_counter_value(const struct keel_counter *c)
{
	uint64_t sum = 0;

	if (!c)
		return 0;
	for (unsigned i = 0; i < c->nslots; i++)
		sum += atomic_load_explicit(&c->slots[i].v, memory_order_relaxed);
	return sum;
}

void keel__counters_free(struct keel__monitor *m)
{
	struct keel_counter *c = m->counters, *next;

	for (; c; c = next) {
		next = c->next;
		free(c->help);
		free(c->slots);
		free(c);
	}
	m->counters = NULL;
}

/* ----------------------------------------------------------------- reader */

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void worker_stats(const struct keel_worker *w, keel_stats_fn *fn,
			 void *arg)
{
	const struct keel_worker_stats *s = &w->stats;
	const struct {
		const char *name, *help;
		uint64_t v;
	} t[] = {
		{ "ticks", "turns of the worker loop", LOAD(s->ticks) },
		{ "polls", "task polls", LOAD(s->polls) },
		{ "spawns", "tasks spawned here", LOAD(s->spawns) },
		{ "completed", "tasks that completed here", LOAD(s->completed) },
		{ "cancelled", "tasks cancelled here", LOAD(s->cancelled) },
		{ "parks", "sleeps with nothing to do", LOAD(s->parks) },
		{ "remote_msgs", "tasks other threads woke, cancelled or freed here",
		  LOAD(s->remote_msgs) },
		{ "timers_fired", "timers fired", LOAD(s->timers_fired) },
		{ "budget_yields", "ticks that ended their poll budget with tasks "
		  "still ready", LOAD(s->budget_yields) },
		{ "moves", "tasks moved here to use this worker's handles",
		  LOAD(s->moves) },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct keel_stat st = { KEEL_STAT_WORKER, NULL, t[i].name, t[i].help,
					(int)w->index, 0, t[i].v };
		fn(arg, &st);
	}
}

struct xstat_ctx {
	keel_stats_fn *fn;
	void *arg;
	const char *driver;
	int worker;
};

static void xstat_one(void *arg, const char *name, uint64_t value,
		      unsigned flags)
{
	const struct xstat_ctx *x = arg;
	struct keel_stat st = { KEEL_STAT_XSTAT, x->driver, name, NULL,
				x->worker, flags, value };

	x->fn(x->arg, &st);
}

static void driver_stats(const struct keel_worker *w, const struct keel__drv *d,
			 keel_stats_fn *fn, void *arg)
{
	struct keel_driver_stats ds = { 0 };
	const char *drv = d->ops->name;
	int wi = (int)w->index;

	if (d->ops->stats) {
		d->ops->stats(d->impl, &ds);
		const struct {
			const char *name, *help;
			uint64_t v;
			unsigned flags;
		} t[] = {
			{ "rx_packets", "datagrams received", ds.rx_packets, 0 },
			{ "rx_bytes", "bytes received", ds.rx_bytes, 0 },
			{ "tx_packets", "datagrams sent", ds.tx_packets, 0 },
			{ "tx_bytes", "bytes sent", ds.tx_bytes, 0 },
			{ "rx_truncated", "datagrams longer than the buffer given",
			  ds.rx_truncated, KEEL_STAT_DROP },
			{ "rx_dropped", "dropped before reaching a socket",
			  ds.rx_dropped, KEEL_STAT_DROP },
			{ "tx_dropped", "could not be sent (ring or buffer full)",
			  ds.tx_dropped, KEEL_STAT_DROP },
			{ "polls", "driver polls", ds.polls, 0 },
			{ "events", "readiness events or completions handled",
			  ds.events, 0 },
			{ "parks", "driver parks that could sleep", ds.parks, 0 },
			{ "wakeups", "unparks that were needed", ds.wakeups, 0 },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			struct keel_stat st = { KEEL_STAT_DRIVER, drv, t[i].name,
						t[i].help, wi, t[i].flags, t[i].v };
			fn(arg, &st);
		}
	}
	if (d->ops->xstats) {
		struct xstat_ctx x = { fn, arg, drv, wi };

		d->ops->xstats(d->impl, xstat_one, &x);
	}
}

static void app_stats(struct keel_runtime *rt, keel_stats_fn *fn, void *arg)
{
	struct keel__monitor *m = rt->monitor;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	for (struct keel_counter *c = m->counters; c; c = c->next)
		for (unsigned i = 0; i < c->nslots; i++) {
			bool outside = i == c->nslots - 1;
			struct keel_stat st = {
				KEEL_STAT_APP, NULL, c->name, c->help,
				outside ? -1 : (int)i, 0, LOAD(c->slots[i].v)
			};

			if (!outside || st.value)
				fn(arg, &st);
		}
	pthread_mutex_unlock(&m->lock);
}

int keel_stats_read(struct keel_runtime *rt, keel_stats_fn *fn, void *arg)
{
	uint64_t spawned = 0, finished = 0;

	if (!rt || !fn)
		return -EINVAL;
	/* Finished first, spawned second: a task counted finished was
	 * counted spawned before; still not a snapshot, so clamped. */
	for (unsigned i = 0; i < rt->nworkers; i++)
		finished += LOAD(rt->workers[i]->stats.completed) +
			    LOAD(rt->workers[i]->stats.cancelled);
	for (unsigned i = 0; i < rt->nworkers; i++)
		spawned += LOAD(rt->workers[i]->stats.spawns);
	{
		struct keel_stat st = { KEEL_STAT_RUNTIME, NULL, "tasks_live",
					"tasks spawned and not yet finished", -1,
					KEEL_STAT_GAUGE,
					spawned > finished ? spawned - finished : 0 };
		fn(arg, &st);
		st.name = "workers";
		st.help = "workers of the runtime";
		st.value = rt->nworkers;
		fn(arg, &st);
	}
	for (unsigned i = 0; i < rt->nworkers; i++) {
		const struct keel_worker *w = rt->workers[i];

		worker_stats(w, fn, arg);
		for (unsigned d = 0; d < w->ndrv; d++)
			driver_stats(w, &w->drv[d], fn, arg);
	}
	app_stats(rt, fn, arg);
	return 0;
}

/* ---------------------------------------------------------------- summary */

/* One line being built: "name=value" pairs appended. */
struct line {
	char text[1024];
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void addf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof(l->text) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->text + l->len, sizeof(l->text) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < sizeof(l->text) - l->len ? (size_t)n
							       : sizeof(l->text) - 1 - l->len;
}

struct summary {
	void (*out)(void *arg, const char *line);
	void *arg;
	struct line l;
	enum keel_stat_scope scope; /* of the line being built */
	const char *driver;
	int worker;
	bool open;
};

static void flush(struct summary *s)
{
	if (s->open)
		s->out(s->arg, s->l.text);
	s->open = false;
	s->l.len = 0;
	s->l.text[0] = '\0';
}

/* Workers, drivers and extended counters each on a line of their own. */
static void summary_one(void *arg, const struct keel_stat *st)
{
	struct summary *s = arg;

	if (st->scope == KEEL_STAT_RUNTIME)
		return; /* in the head line */
	if (!s->open || st->scope != s->scope || st->worker != s->worker ||
	    (st->driver && (!s->driver || strcmp(st->driver, s->driver) != 0))) {
		flush(s);
		s->open = true;
		s->scope = st->scope;
		s->driver = st->driver;
		s->worker = st->worker;
		if (st->scope == KEEL_STAT_WORKER)
			addf(&s->l, "  worker %d:", st->worker);
		else if (st->scope == KEEL_STAT_DRIVER)
			addf(&s->l, "    %s:", st->driver);
		else if (st->scope == KEEL_STAT_XSTAT)
			addf(&s->l, "    %s (own):", st->driver);
		else if (st->worker >= 0)
			addf(&s->l, "  app, worker %d:", st->worker);
		else
			addf(&s->l, "  app, other threads:");
	}
	addf(&s->l, " %s=%" PRIu64, st->name, st->value);
}

static void live_one(void *arg, const struct keel_stat *st)
{
	if (st->scope == KEEL_STAT_RUNTIME && strcmp(st->name, "tasks_live") == 0)
		*(uint64_t *)arg = st->value;
}

void keel__stats_lines(struct keel_runtime *rt,
		       void (*fn)(void *arg, const char *line), void *arg)
{
	struct summary s = { .out = fn, .arg = arg };
	uint64_t live = 0;

	keel_stats_read(rt, live_one, &live);
	addf(&s.l, "keel: sched=%s driver=%s workers=%u tasks_live=%" PRIu64,
	     rt->cfg.sched, rt->cfg.driver ? rt->cfg.driver : "none",
	     rt->nworkers, live);
	s.open = true;
	s.scope = KEEL_STAT_RUNTIME;
	flush(&s);
	keel_stats_read(rt, summary_one, &s);
	flush(&s);
}

static void line_to_file(void *arg, const char *line)
{
	fprintf(arg, "%s\n", line);
}

void keel_runtime_print_stats(struct keel_runtime *rt, FILE *out)
{
	if (rt && out)
		keel__stats_lines(rt, line_to_file, out);
}

/* ------------------------------------------------------------- Prometheus */

/* One sample, collected so that a family's samples can be written
 * together (the format wants them contiguous, under one HELP and TYPE). */
struct sample {
	char family[128];
	char labels[96];
	const char *help;
	bool gauge;
	uint64_t value;
	size_t order;
};

struct samples {
	struct sample *v;
	size_t n, cap;
	bool nomem;
};

/* Family names: [a-zA-Z_:][a-zA-Z0-9_:]*; ours are built from names that
 * are already that, but a driver's name may hold other characters. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
			*s = '_';
}

static void collect_one(void *arg, const struct keel_stat *st)
{
	struct samples *ss = arg;
	struct sample *p;
	bool gauge = st->flags & KEEL_STAT_GAUGE;
	const char *total = gauge ? "" : "_total";

	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 256;
		struct sample *v = realloc(ss->v, cap * sizeof(*v));

		if (!v) {
			ss->nomem = true;
			return;
		}
		ss->v = v;
		ss->cap = cap;
	}
	p = &ss->v[ss->n];
	memset(p, 0, sizeof(*p));
	switch (st->scope) {
	case KEEL_STAT_RUNTIME:
		snprintf(p->family, sizeof(p->family), "keel_%s%s", st->name, total);
		break;
	case KEEL_STAT_WORKER:
		snprintf(p->family, sizeof(p->family), "keel_worker_%s%s", st->name,
			 total);
		break;
	case KEEL_STAT_DRIVER:
		snprintf(p->family, sizeof(p->family), "keel_driver_%s%s", st->name,
			 total);
		break;
	case KEEL_STAT_XSTAT:
		snprintf(p->family, sizeof(p->family), "keel_%s_%s%s", st->driver,
			 st->name, total);
		break;
	case KEEL_STAT_APP: {
		size_t n = strlen(st->name);

		if (!gauge && n > 6 && strcmp(st->name + n - 6, "_total") == 0)
			total = "";
		snprintf(p->family, sizeof(p->family), "%s%s", st->name, total);
		break;
	}
	}
	sanitize(p->family);
	if (st->scope == KEEL_STAT_DRIVER)
		snprintf(p->labels, sizeof(p->labels), "{driver=\"%s\",worker=\"%d\"}",
			 st->driver, st->worker);
	else if (st->worker >= 0)
		snprintf(p->labels, sizeof(p->labels), "{worker=\"%d\"}", st->worker);
	else if (st->scope == KEEL_STAT_APP)
		snprintf(p->labels, sizeof(p->labels), "{worker=\"none\"}");
	p->help = st->help;
	p->gauge = gauge;
	p->value = st->value;
	p->order = ss->n++;
}

static int by_family(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;
	int c = strcmp(x->family, y->family);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* HELP text: backslash and newline escaped, as the format says. */
static void put_help(FILE *out, const char *help)
{
	for (; *help; help++) {
		if (*help == '\\')
			fputs("\\\\", out);
		else if (*help == '\n')
			fputs("\\n", out);
		else
			fputc(*help, out);
	}
}

int keel_stats_write_prometheus(struct keel_runtime *rt, FILE *out)
{
	struct samples ss = { 0 };
	int rc = 0;

	if (!rt || !out)
		return -EINVAL;
	keel_stats_read(rt, collect_one, &ss);
	if (ss.nomem) {
		free(ss.v);
		return -ENOMEM;
	}
	qsort(ss.v, ss.n, sizeof(*ss.v), by_family);
	fprintf(out, "# HELP keel_info the scheduler and driver of this runtime\n"
		"# TYPE keel_info gauge\n"
		"keel_info{sched=\"%s\",driver=\"%s\"} 1\n", rt->cfg.sched,
		rt->cfg.driver ? rt->cfg.driver : "none");
	for (size_t i = 0; i < ss.n; i++) {
		const struct sample *p = &ss.v[i];

		if (i == 0 || strcmp(p->family, ss.v[i - 1].family) != 0) {
			fprintf(out, "# HELP %s ", p->family);
			put_help(out, p->help ? p->help : p->family);
			fprintf(out, "\n# TYPE %s %s\n", p->family,
				p->gauge ? "gauge" : "counter");
		}
		fprintf(out, "%s%s %" PRIu64 "\n", p->family, p->labels, p->value);
	}
	free(ss.v);
	if (ferror(out))
		rc = -EIO;
	return rc;
}
