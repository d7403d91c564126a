/* SPDX-License-Identifier: MIT */
/*
 * The KEEL_BENCH runner (keel_bench_main, declared in keel/bench.h).
 *
 * For every chosen benchmark and every runtime (the baseline executor,
 * then each linked scheduler: local with its one worker, the others with
 * 1 and with 2 workers), one "cell":
 *   - a fresh runtime (keel_runtime_create with .sched and .workers);
 *   - a probe iteration, then warm-up batches for --warmup-ms that also
 *     estimate the time per iteration, from which the iteration count of
 *     a sample is chosen (about --sample-ms per sample; --iters fixes it);
 *   - --samples samples, each one keel_runtime_block_on of a root task
 *     that runs the iterations back to back and reads CLOCK_MONOTONIC
 *     before the first and after the last (so the runtime's start and
 *     stop are not timed);
 *   - the median ns/iter, min, max, MAD and p10/p90 over the samples.
 * Then it prints the seed's comparison table (baseline against each
 * runtime), the spread of every cell and ns per operation, or, with
 * --json, one JSON object per cell. The tables are the program's output
 * (stdout); errors and progress go through keel_log.
 *
 * This file is the keel_bench library, installed with keel-bench.pc, so a
 * KEEL_BENCH program builds outside keel's tree too.
 */
#include <errno.h>
#include <keel/bench.h>
#include <keel/keel.h>
#include <keel/log.h>
#include <keel/sched.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 64
#define MAX_SAMPLES 1000
#define MAX_NAMES   64

struct options {
	unsigned samples;
	uint64_t sample_ns, warmup_ns;
	uint64_t iters; /* 0: calibrate */
	unsigned timeout_s;
	int pin;	/* -1: none */
	bool json, baseline, progress;
	const char *scheds;  /* comma list, NULL: all */
	const char *workers; /* comma list for multi-worker schedulers */
	const char *names[MAX_NAMES];
	unsigned nnames;
};

/* A runtime a cell runs on: the baseline (sched NULL) or a scheduler. */
struct target {
	char label[32];
	const char *sched;
	unsigned workers;
};

struct result {
	bool ran, failed;
	uint64_t iters;
	unsigned n;
	double median, min, max, mad, p10, p90; /* ns per iteration */
};

static struct options opt;
static cpu_set_t initial_mask;

/* ---------------------------------------------------------------- time */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * KEEL_SEC + (uint64_t)ts.tv_nsec;
}

/* Pin the calling thread (after the runtime's threads were started, so
 * they keep the mask they were born with). */
static int pin_self(int cpu)
{
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc) {
		keel_log(KEEL_LOG_WARN, "keel-bench: cannot pin to CPU %d: %s", cpu,
			strerror(rc));
		return -rc;
	}
	return 0;
}

static void unpin_self(void)
{
	pthread_setaffinity_np(pthread_self(), sizeof(initial_mask),
			       &initial_mask);
}

/* ---------------------------------------------------------- statistics */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Quantile \p q of sorted \p v (linear between order statistics). */
static double quantile(const double *v, unsigned n, double q)
{
	double pos = q * (double)(n - 1);
	unsigned i = (unsigned)pos;
	double frac = pos - (double)i;

	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (v[i + 1] - v[i]) * frac;
}

static void summarise(double *v, unsigned n, struct result *r)
{
	double dev[MAX_SAMPLES];

	qsort(v, n, sizeof(*v), cmp_double);
	r->n = n;
	r->min = v[0];
	r->max = v[n - 1];
	r->median = quantile(v, n, 0.5);
	r->p10 = quantile(v, n, 0.1);
	r->p90 = quantile(v, n, 0.9);
	for (unsigned i = 0; i < n; i++)
		dev[i] = fabs(v[i] - r->median);
	qsort(dev, n, sizeof(*dev), cmp_double);
	r->mad = quantile(dev, n, 0.5);
}

/* ------------------------------------------------------------ running */

/* Runs \p iters iterations, returns the ns they took or a -errno. */
typedef int64_t run_fn(void *ctx, uint64_t iters);

struct root {
	struct keel_co co;
	const struct keel_bench *b;
	void *frame;
	uint64_t iters, i, t0;
	intptr_t r;
};

static intptr_t root_poll(void *frame, struct keel_cx *cx)
{
	struct root *f = frame;

	KEEL_BEGIN(f);
	f->t0 = now_ns();
	for (f->i = 0; f->i < f->iters; f->i++) {
		memset(f->frame, 0, f->b->size);
		KEEL_AWAIT(f, f->r, f->b->poll(f->frame, cx));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
	}
	KEEL_RETURN(f, (intptr_t)(now_ns() - f->t0));
	KEEL_END(f);
}

struct keel_ctx {
	const struct keel_bench *b;
	struct keel_runtime *rt;
	void *frame;
};

/*
 * The watchdog: a run that has not finished after --timeout seconds is a
 * hang (a lost wake in a scheduler, most likely). SIGALRM shuts the
 * runtime down (async-signal-safe), block_on returns -EINTR, and the cell
 * is reported as failed instead of the whole run hanging.
 */
static struct keel_runtime *volatile watched;

static void on_alarm(int sig)
{
	struct keel_runtime *rt = watched;

	(void)sig;
	if (rt)
		keel_runtime_shutdown(rt);
}

static void watchdog(struct keel_runtime *rt)
{
	struct itimerval it = { { 0, 0 }, { rt ? opt.timeout_s : 0, 0 } };

	watched = rt;
	setitimer(ITIMER_REAL, &it, NULL);
}

static int64_t run_keel(void *ctx, uint64_t iters)
{
	struct keel_ctx *k = ctx;
	struct root r = { .b = k->b, .frame = k->frame, .iters = iters };
	intptr_t res;

	watchdog(k->rt);
	res = keel_runtime_block_on(k->rt, root_poll, NULL, &r, sizeof(r));
	watchdog(NULL);
	return res == -EINTR ? -ETIMEDOUT : res;
}

static int64_t run_baseline(void *ctx, uint64_t iters)
{
	const struct keel_bench *b = ctx;

	return b->baseline(iters);
}

/* Probe, warm up, calibrate, sample: the cell's result in \p res. */
static int measure(run_fn *run, void *ctx, struct result *res)
{
	static double per[MAX_SAMPLES];
	int64_t el;
	uint64_t spent, iters;
	double est;

	el = run(ctx, 1);
	if (el < 0)
		return (int)el;
	/* Threads are started by now: pinning the calling thread leaves
	 * the runtime's other workers alone. */
	if (opt.pin >= 0) {
		int rc = pin_self(opt.pin);

		if (rc < 0)
			return rc;
	}
	spent = (uint64_t)el;
	est = el > 0 ? (double)el : 1.0;
	while (spent < opt.warmup_ns) {
		uint64_t k = (uint64_t)((double)opt.sample_ns / 4.0 / est);

		if (k < 1)
			k = 1;
		el = run(ctx, k);
		if (el < 0)
			return (int)el;
		spent += (uint64_t)el;
		est = el > 0 ? (double)el / (double)k : 1.0;
	}
	iters = opt.iters;
	if (!iters) {
		iters = (uint64_t)llround((double)opt.sample_ns / est);
		if (iters < 1)
			iters = 1;
	}
	for (unsigned s = 0; s < opt.samples; s++) {
		el = run(ctx, iters);
		if (el < 0)
			return (int)el;
		per[s] = (double)el / (double)iters;
	}
	res->iters = iters;
	summarise(per, opt.samples, res);
	return 0;
}

static int run_cell(const struct keel_bench *b, const struct target *t,
		    struct result *res)
{
	struct keel_ctx k = { .b = b };
	int rc;

	res->ran = true;
	if (!t->sched) {
		rc = measure(run_baseline, (void *)(uintptr_t)b, res);
		goto out;
	}
	rc = keel_runtime_create(&(struct keel_config){ .sched = t->sched,
							.workers = t->workers },
				 &k.rt);
	if (rc < 0)
		goto out;
	k.frame = aligned_alloc(16, (b->size + 15) & ~(size_t)15);
	if (!k.frame) {
		rc = -ENOMEM;
	} else {
		rc = measure(run_keel, &k, res);
		free(k.frame);
	}
	keel_runtime_destroy(k.rt);
out:
	if (opt.pin >= 0)
		unpin_self();
	if (rc == -ETIMEDOUT) {
		res->failed = true;
		keel_log(KEEL_LOG_ERROR, "keel-bench: %s on %s: a run took more than %u s; "
				"stopped (a lost wake?)",
			b->name, t->label, opt.timeout_s);
	} else if (rc < 0) {
		res->failed = true;
		keel_log(KEEL_LOG_ERROR, "keel-bench: %s on %s: %s", b->name, t->label,
			keel_strerror(rc));
	}
	return rc;
}

/* ------------------------------------------------------------- choices */

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		if (len == n && strncmp(list, name, n) == 0)
			return true;
		list = end ? end + 1 : NULL;
	}
	return false;
}

/* Check that every name of comma list \p list satisfies \p ok. */
static int check_list(const char *what, const char *list,
		      bool (*ok)(const char *, size_t))
{
	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		if (!ok(list, len)) {
			keel_log(KEEL_LOG_ERROR, "keel-bench: %s: unknown '%.*s' (try --list)",
				what, (int)len, list);
			return -EINVAL;
		}
		list = end ? end + 1 : NULL;
	}
	return 0;
}

static bool sched_known(const char *name, size_t len)
{
	const struct keel_sched_ops *const *s;
	size_t n = keel_scheds_linked(&s);

	if (len == 8 && strncmp(name, "baseline", 8) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strlen(s[i]->name) == len && strncmp(s[i]->name, name, len) == 0)
			return true;
	return false;
}

static bool workers_ok(const char *v, size_t len)
{
	unsigned long n = 0;

	if (len == 0 || len > 3)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		n = n * 10 + (unsigned long)(v[i] - '0');
	}
	return n >= 1 && n <= 256;
}

static unsigned make_targets(struct target *t)
{
	const struct keel_sched_ops *const *s;
	size_t ns = keel_scheds_linked(&s);
	const char *wl = opt.workers ? opt.workers : "1,2";
	unsigned n = 0;

	if (opt.baseline) {
		snprintf(t[n].label, sizeof(t[n].label), "baseline");
		t[n].sched = NULL;
		t[n++].workers = 1;
	}
	for (size_t i = 0; i < ns && n < MAX_TARGETS; i++) {
		const char *name = s[i]->name;

		if (opt.scheds && !in_list(opt.scheds, name))
			continue;
		/* sched/local runs one worker by definition. */
		if (strcmp(name, "local") == 0) {
			snprintf(t[n].label, sizeof(t[n].label), "%s", name);
			t[n].sched = name;
			t[n++].workers = 1;
			continue;
		}
		for (const char *p = wl; p && *p && n < MAX_TARGETS;) {
			unsigned w = (unsigned)strtoul(p, NULL, 10);

			snprintf(t[n].label, sizeof(t[n].label), "%s/%u", name, w);
			t[n].sched = name;
			t[n++].workers = w;
			p = strchr(p, ',');
			p = p ? p + 1 : NULL;
		}
	}
	return n;
}

/* ------------------------------------------------------------- output */

/* \p v rounded, with thousands separators, optionally signed. */
static const char *group(char *buf, size_t size, double v, bool sign)
{
	char digits[32], *o = buf;
	long long x = llround(v);
	unsigned long long a = x < 0 ? 0ull - (unsigned long long)x : (unsigned long long)x;
	int len, lead;

	len = snprintf(digits, sizeof(digits), "%llu", a);
	if (x < 0)
		*o++ = '-';
	else if (sign)
		*o++ = '+';
	lead = len % 3 ? len % 3 : 3;
	for (int i = 0; i < len && (size_t)(o - buf) + 2 < size; i++) {
		if (i && (i - lead) % 3 == 0)
			*o++ = ',';
		*o++ = digits[i];
	}
	*o = '\0';
	return buf;
}

/* ns with 3 significant-ish digits: 2.61, 48.3, 1,234 */
static const char *short_ns(char *buf, size_t size, double v)
{
	if (v < 10)
		snprintf(buf, size, "%.2f", v);
	else if (v < 100)
		snprintf(buf, size, "%.1f", v);
	else
		group(buf, size, v, false);
	return buf;
}

static double ops_of(const struct keel_bench *b)
{
	return b->ops ? (double)b->ops : 1.0;
}

static void print_compare(const struct keel_bench *const *b, unsigned nb,
			  const struct target *t, unsigned nt,
			  struct result (*res)[MAX_TARGETS], unsigned ti)
{
	char head[64], a[32], c[32], d[32];
	int w = 4;

	for (unsigned i = 0; i < nb; i++)
		if ((int)strlen(b[i]->name) > w)
			w = (int)strlen(b[i]->name);
	snprintf(head, sizeof(head), "%.31s:: ns/iter", t[ti].label);
	printf(" %-*s  %-18s  %-18s  %12s  %9s  %7s\n", w, "name",
	       "baseline:: ns/iter", head, "diff ns/iter", "diff %", "speedup");
	for (unsigned i = 0; i < nb; i++) {
		const struct result *base = &res[i][0], *r = &res[i][ti];

		if (!r->ran)
			continue;
		if (r->failed) {
			printf(" %-*s  %-18s  %-18s\n", w, b[i]->name, "-", "failed");
			continue;
		}
		group(c, sizeof(c), r->median, false);
		if (!opt.baseline || !base->ran || base->failed || t[0].sched) {
			printf(" %-*s  %-18s  %-18s  %12s  %9s  %7s\n", w,
			       b[i]->name, "n/a", c, "", "", "");
			continue;
		}
		group(a, sizeof(a), base->median, false);
		group(d, sizeof(d), r->median - base->median, true);
		printf(" %-*s  %-18s  %-18s  %12s  %+8.2f%%  x %5.2f\n", w,
		       b[i]->name, a, c, d,
		       100.0 * (r->median - base->median) / base->median,
		       base->median / r->median);
	}
	(void)nt;
}

static void print_tables(const struct keel_bench *const *b, unsigned nb,
			 const struct target *t, unsigned nt,
			 struct result (*res)[MAX_TARGETS])
{
	char v[8][32];
	int w = 4;

	for (unsigned i = 0; i < nb; i++)
		if ((int)strlen(b[i]->name) > w)
			w = (int)strlen(b[i]->name);
	printf("keel-bench: %u samples per cell, ns per iteration "
	       "(median of the samples)\n", opt.samples);
	for (unsigned ti = 0; ti < nt; ti++) {
		if (!t[ti].sched)
			continue;
		printf("\n");
		print_compare(b, nb, t, nt, res, ti);
	}

	printf("\nspread: ns per iteration over the samples\n");
	printf(" %-*s  %-9s %9s %13s %13s %13s %9s %13s %13s\n", w, "name",
	       "runtime", "iters", "median", "min", "max", "MAD", "p10", "p90");
	for (unsigned i = 0; i < nb; i++)
		for (unsigned ti = 0; ti < nt; ti++) {
			const struct result *r = &res[i][ti];

			if (!r->ran || r->failed)
				continue;
			printf(" %-*s  %-9s %9llu %13s %13s %13s %9s %13s %13s\n",
			       w, b[i]->name, t[ti].label,
			       (unsigned long long)r->iters,
			       group(v[0], 32, r->median, false),
			       group(v[1], 32, r->min, false),
			       group(v[2], 32, r->max, false),
			       short_ns(v[3], 32, r->mad),
			       group(v[4], 32, r->p10, false),
			       group(v[5], 32, r->p90, false));
		}

	printf("\nns per operation (median; an iteration is ops operations)\n");
	printf(" %-*s  %-10s %6s", w, "name", "op", "ops");
	for (unsigned ti = 0; ti < nt; ti++)
		printf(" %9s", t[ti].label);
	printf("\n");
	for (unsigned i = 0; i < nb; i++) {
		printf(" %-*s  %-10s %6llu", w, b[i]->name,
		       b[i]->op ? b[i]->op : "op",
		       (unsigned long long)(b[i]->ops ? b[i]->ops : 1));
		for (unsigned ti = 0; ti < nt; ti++) {
			const struct result *r = &res[i][ti];

			if (!r->ran)
				printf(" %9s", "n/a");
			else if (r->failed)
				printf(" %9s", "failed");
			else
				printf(" %9s", short_ns(v[0], 32, r->median / ops_of(b[i])));
		}
		printf("\n");
	}
}

static void print_json(const struct keel_bench *b, const struct target *t,
		       const struct result *r, const struct result *base)
{
	printf("{\"bench\":\"%s\",\"runtime\":\"%s\",", b->name, t->label);
	if (t->sched)
		printf("\"sched\":\"%s\",\"workers\":%u,", t->sched, t->workers);
	else
		printf("\"sched\":null,\"workers\":1,");
	printf("\"op\":\"%s\",\"ops_per_iter\":%llu,", b->op ? b->op : "op",
	       (unsigned long long)(b->ops ? b->ops : 1));
	if (r->failed) {
		printf("\"failed\":true}\n");
		return;
	}
	printf("\"iters\":%llu,\"samples\":%u,\"median_ns\":%.1f,"
	       "\"min_ns\":%.1f,\"max_ns\":%.1f,\"mad_ns\":%.1f,"
	       "\"p10_ns\":%.1f,\"p90_ns\":%.1f,\"ns_per_op\":%.3f",
	       (unsigned long long)r->iters, r->n, r->median, r->min, r->max,
	       r->mad, r->p10, r->p90, r->median / ops_of(b));
	if (t->sched && base && base->ran && !base->failed)
		printf(",\"baseline_median_ns\":%.1f,\"diff_ns\":%.1f,"
		       "\"diff_pct\":%.2f,\"speedup\":%.3f",
		       base->median, r->median - base->median,
		       100.0 * (r->median - base->median) / base->median,
		       base->median / r->median);
	printf("}\n");
	fflush(stdout);
}

/* ------------------------------------------------------------- options */

static const char usage[] =
	"usage: keel-bench [options] [NAME...]\n"
	"\n"
	"Runs the linked KEEL_BENCH workloads (all, or those NAMEd) on the\n"
	"baseline executor and on a fresh runtime per linked scheduler, and\n"
	"prints the median ns/iter with its spread.\n"
	"\n"
	"  --sched=LIST      schedulers to run (comma list; default all linked;\n"
	"                    the baseline runs too, unless --no-baseline;\n"
	"                    --sched=baseline runs the baseline alone)\n"
	"  --workers=LIST    worker counts for multi-threaded schedulers\n"
	"                    (default 1,2; local always runs 1)\n"
	"  --no-baseline     skip the baseline executor\n"
	"  --pin=CPU         pin the thread that drives the root task (the\n"
	"                    baseline, worker 0) to CPU, after the probe run\n"
	"                    that starts the runtime's other threads (they\n"
	"                    keep the process's mask)\n"
	"  --samples=N       samples per cell (default 11, max 1000)\n"
	"  --sample-ms=MS    target length of a sample (default 25)\n"
	"  --warmup-ms=MS    warm-up per cell, also used to calibrate (default 100)\n"
	"  --iters=N         iterations per sample, instead of calibrating\n"
	"  --timeout=S       a run (one sample) taking longer is a hang: the\n"
	"                    cell is stopped and reported failed (default 20)\n"
	"  --json            one JSON object per workload x runtime, one per line\n"
	"  --progress        log which cell runs (default: if stderr is a tty)\n"
	"  --list            list the workloads and runtimes, and exit\n"
	"  --help            this text\n";

static const char *opt_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) == 0 && arg[n] == '=')
		return arg + n + 1;
	return NULL;
}

static int parse_num(const char *name, const char *v, uint64_t lo,
		     uint64_t hi, uint64_t *out)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (!*v || *end || *v == '-' || errno || n < lo || n > hi) {
		keel_log(KEEL_LOG_ERROR, "keel-bench: %s wants %llu..%llu, not '%s'",
			name, (unsigned long long)lo, (unsigned long long)hi, v);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static void list(const struct keel_bench *const *b, size_t nb)
{
	struct target t[MAX_TARGETS];
	unsigned nt = make_targets(t);

	printf("workloads:\n");
	for (size_t i = 0; i < nb; i++)
		printf("  %-16s %-10s x%-6llu %s%s\n", b[i]->name,
		       b[i]->op ? b[i]->op : "op",
		       (unsigned long long)(b[i]->ops ? b[i]->ops : 1),
		       b[i]->what ? b[i]->what : "",
		       b[i]->baseline ? "" : " (no baseline)");
	printf("runtimes:\n");
	for (unsigned i = 0; i < nt; i++)
		printf("  %s\n", t[i].label);
}

static int parse(int argc, char **argv, bool *list_only)
{
	uint64_t v = 0;
	const char *s;
	int rc = 0;

	opt.samples = 11;
	opt.sample_ns = 25 * KEEL_MS;
	opt.warmup_ns = 100 * KEEL_MS;
	opt.pin = -1;
	opt.timeout_s = 20;
	opt.baseline = true;
	opt.progress = isatty(2);
	for (int i = 1; i < argc && rc == 0; i++) {
		const char *a = argv[i];

		if ((s = opt_value(a, "--sched")))
			opt.scheds = s;
		else if ((s = opt_value(a, "--workers")))
			rc = check_list("--workers", (opt.workers = s), workers_ok);
		else if ((s = opt_value(a, "--pin"))) {
			rc = parse_num("--pin", s, 0, CPU_SETSIZE - 1, &v);
			opt.pin = (int)v;
		} else if ((s = opt_value(a, "--samples"))) {
			rc = parse_num("--samples", s, 1, MAX_SAMPLES, &v);
			opt.samples = (unsigned)v;
		} else if ((s = opt_value(a, "--sample-ms"))) {
			rc = parse_num("--sample-ms", s, 1, 60000, &v);
			opt.sample_ns = v * KEEL_MS;
		} else if ((s = opt_value(a, "--warmup-ms"))) {
			rc = parse_num("--warmup-ms", s, 0, 600000, &v);
			opt.warmup_ns = v * KEEL_MS;
		} else if ((s = opt_value(a, "--timeout"))) {
			rc = parse_num("--timeout", s, 1, 3600, &v);
			opt.timeout_s = (unsigned)v;
		} else if ((s = opt_value(a, "--iters")))
			rc = parse_num("--iters", s, 1, UINT32_MAX, &opt.iters);
		else if (strcmp(a, "--no-baseline") == 0)
			opt.baseline = false;
		else if (strcmp(a, "--json") == 0)
			opt.json = true;
		else if (strcmp(a, "--progress") == 0)
			opt.progress = true;
		else if (strcmp(a, "--list") == 0)
			*list_only = true;
		else if (strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 1;
		} else if (strncmp(a, "--", 2) == 0) {
			keel_log(KEEL_LOG_ERROR, "keel-bench: unknown option '%s' (try --help)", a);
			rc = -EINVAL;
		} else if (opt.nnames == MAX_NAMES) {
			keel_log(KEEL_LOG_ERROR, "keel-bench: at most %d names", MAX_NAMES);
			rc = -EINVAL;
		} else {
			opt.names[opt.nnames++] = a;
		}
	}
	if (rc == 0 && opt.scheds)
		rc = check_list("--sched", opt.scheds, sched_known);
	if (rc == 0 && opt.scheds && !opt.baseline && in_list(opt.scheds, "baseline"))
		opt.baseline = true;
	return rc;
}

/* ---------------------------------------------------------------- main */

/* Source order: files as linked, then lines (insertion sort: a few). */
static void sort_benches(const struct keel_bench **b, unsigned n)
{
	unsigned file_rank[MAX_NAMES];

	for (unsigned i = 0; i < n; i++) {
		file_rank[i] = i;
		for (unsigned k = 0; k < i; k++)
			if (strcmp(b[k]->file, b[i]->file) == 0) {
				file_rank[i] = file_rank[k];
				break;
			}
	}
	for (unsigned i = 1; i < n; i++)
		for (unsigned k = i; k > 0 &&
		     (file_rank[k - 1] > file_rank[k] ||
		      (file_rank[k - 1] == file_rank[k] &&
		       b[k - 1]->line > b[k]->line)); k--) {
			const struct keel_bench *tb = b[k - 1];
			unsigned tr = file_rank[k - 1];

			b[k - 1] = b[k];
			b[k] = tb;
			file_rank[k - 1] = file_rank[k];
			file_rank[k] = tr;
		}
}

int keel_bench_main(int argc, char **argv)
{
	static struct result res[MAX_NAMES][MAX_TARGETS];
	const struct keel_bench *const *all;
	const struct keel_bench *sorted[MAX_NAMES], *chosen[MAX_NAMES];
	struct target t[MAX_TARGETS];
	size_t na = keel_benches_linked(&all);
	unsigned nb = 0, nt;
	bool list_only = false, failed = false;
	int rc;

	rc = parse(argc, argv, &list_only);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (na > MAX_NAMES)
		na = MAX_NAMES;
	for (size_t i = 0; i < na; i++)
		sorted[i] = all[i];
	sort_benches(sorted, (unsigned)na);
	if (list_only) {
		list(sorted, na);
		return 0;
	}
	for (unsigned k = 0; k < opt.nnames; k++) {
		bool found = false;

		for (size_t i = 0; i < na; i++)
			found |= strcmp(opt.names[k], sorted[i]->name) == 0;
		if (!found) {
			keel_log(KEEL_LOG_ERROR, "keel-bench: no workload '%s' (try --list)",
				opt.names[k]);
			return 2;
		}
	}
	for (size_t i = 0; i < na; i++) {
		bool want = opt.nnames == 0;

		for (unsigned k = 0; k < opt.nnames; k++)
			want |= strcmp(opt.names[k], sorted[i]->name) == 0;
		if (want)
			chosen[nb++] = sorted[i];
	}
	nt = make_targets(t);
	if (!nb || !nt) {
		keel_log(KEEL_LOG_ERROR, "keel-bench: nothing to run (try --list)");
		return 2;
	}
	pthread_getaffinity_np(pthread_self(), sizeof(initial_mask), &initial_mask);
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_alarm;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
	}

	for (unsigned i = 0; i < nb; i++)
		for (unsigned ti = 0; ti < nt; ti++) {
			if (!t[ti].sched && !chosen[i]->baseline)
				continue;
			if (opt.progress)
				keel_log(KEEL_LOG_INFO, "keel-bench: %s on %s...",
					chosen[i]->name, t[ti].label);
			if (run_cell(chosen[i], &t[ti], &res[i][ti]) < 0)
				failed = true;
			if (opt.json)
				print_json(chosen[i], &t[ti], &res[i][ti],
					   t[0].sched ? NULL : &res[i][0]);
		}
	if (!opt.json)
		print_tables(chosen, nb, t, nt, res);
	return failed ? 1 : 0;
}
