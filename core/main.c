/* SPDX-License-Identifier: MIT */
/* The option parser every keel program shares, and keel_main. --help is
 * the one text written to stdout (the user asked for it); every error goes
 * through keel_log. */
#include "core_internal.h"

#include <errno.h>
#include <keel/error.h>
#include <keel/log.h>
#include <keel/main.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void print_table(const struct keel_opt *table)
{
	int width = 15; /* as keel's own below, or the longest */

	for (const struct keel_opt *o = table; o->kind != KEEL_OPT__END; o++) {
		int w = 2 + (int)strlen(o->name) + (o->arg ? 1 + (int)strlen(o->arg) : 0);

		width = w > width && w < 40 ? w : width;
	}
	puts("options:");
	for (const struct keel_opt *o = table; o->kind != KEEL_OPT__END; o++) {
		char head[64];

		snprintf(head, sizeof(head), "--%s%s%s", o->name, o->arg ? "=" : "",
			 o->arg ? o->arg : "");
		printf("  %-*s %s", width, head, o->help ? o->help : "");
		if (o->kind == KEEL_OPT__UINT)
			printf(" (default %llu)",
			       (unsigned long long)*(const uint64_t *)o->var);
		else if (o->kind == KEEL_OPT__STRING && *(const char **)o->var)
			printf(" (default %s)", *(const char **)o->var);
		putchar('\n');
	}
	putchar('\n');
}

static void print_help(const char *prog, const char *usage,
		       const char *app_options, const struct keel_opt *table)
{
	const struct keel_sched_ops *const *s;
	const struct keel_driver_ops *const *d;
	size_t ns = keel_scheds_linked(&s), nd = keel_drivers_linked(&d);

	printf("usage: %s\n\n", usage ? usage : prog);
	if (table)
		print_table(table);
	else if (app_options)
		printf("options:\n%s\n", app_options);
	puts("keel options:\n"
	     "  --driver=SPEC   network driver: NAME[:ARGS]; give it several times\n"
	     "                  to fall back, in order, when one cannot start\n"
	     "  --sched=NAME    scheduler\n"
	     "  --workers=N     number of workers (multi-threaded schedulers)\n"
	     "  --cpus=LIST     pin worker i to the i-th CPU of LIST (2,3 or 0-3,8);\n"
	     "                  pick CPUs of the NIC's NUMA node (cat /sys/class/\n"
	     "                  net/IFACE/device/numa_node; lscpu) and leave CPU 0\n"
	     "                  to the system (docs/deploy.md)\n"
	     "  --stats[=INTERVAL]  print the counters at exit; with INTERVAL\n"
	     "                  (1, 2s, 500ms) also datagrams in/out per second\n"
	     "                  and drops by reason, one line per interval\n"
	     "  --stats-workers those lines per worker too\n"
	     "  --metrics=ADDR:PORT  serve the counters over HTTP, Prometheus\n"
	     "                  text format, at /metrics\n"
	     "  --verbose       say more\n"
	     "  --help          this text\n");
	puts("linked schedulers (* the default):");
	for (size_t i = 0; i < ns; i++)
		printf(" %c%-8s %s\n", s[i] == keel__sched_default() ? '*' : ' ',
		       s[i]->name, s[i]->summary);
	puts("linked drivers (* the default):");
	for (size_t i = 0; i < nd; i++)
		printf(" %c%-8s %s\n", d[i] == keel__driver_default() ? '*' : ' ',
		       d[i]->name, d[i]->usage);
}

static const char *opt_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) == 0 && arg[n] == '=')
		return arg + n + 1;
	return NULL;
}

int keel_args_parse(int *argc, char **argv, const char *usage,
		    struct keel_config *cfg)
{
	return keel_args_parse_opts(argc, argv, usage, NULL, cfg);
}

/* The program's own option \p a, if the table has it: 1 parsed, 0 not
 * in the table, -EINVAL a bad value (a message printed). */
static int parse_own(const char *prog, const char *a,
		     const struct keel_opt *o)
{
	for (; o && o->kind != KEEL_OPT__END; o++) {
		const char *v;
		size_t n = strlen(o->name);

		if (strncmp(a + 2, o->name, n) != 0 ||
		    (a[2 + n] != '\0' && a[2 + n] != '='))
			continue;
		v = a[2 + n] == '=' ? a + 3 + n : NULL;
		if (o->kind == KEEL_OPT__FLAG) {
			if (v) {
				keel_log(KEEL_LOG_ERROR, "%s: --%s takes no value", prog, o->name);
				return -EINVAL;
			}
			*(bool *)o->var = true;
			return 1;
		}
		if (!v) {
			keel_log(KEEL_LOG_ERROR, "%s: --%s wants a value: --%s=%s", prog,
				o->name, o->name, o->arg ? o->arg : "VALUE");
			return -EINVAL;
		}
		if (o->kind == KEEL_OPT__STRING) {
			*(const char **)o->var = v;
		} else {
			char *end;
			unsigned long long x;

			errno = 0;
			x = strtoull(v, &end, 10);
			if (!*v || *end || *v == '-' || errno) {
				keel_log(KEEL_LOG_ERROR, "%s: --%s wants a number, not '%s'",
					prog, o->name, v);
				return -EINVAL;
			}
			*(uint64_t *)o->var = x;
		}
		return 1;
	}
	return 0;
}

static int parse(int *argc, char **argv, const char *usage,
		 const char *app_options, const struct keel_opt *table,
		 struct keel_config *cfg);

int keel_args_parse_opts(int *argc, char **argv, const char *usage,
			 const char *app_options, struct keel_config *cfg)
{
	return parse(argc, argv, usage, app_options, NULL, cfg);
}

int keel_args_parse_table(int *argc, char **argv, const char *usage,
			  const struct keel_opt *opts, struct keel_config *cfg)
{
	return parse(argc, argv, usage, NULL, opts, cfg);
}

/* A --driver: the first choice, then the fallbacks in order. */
static int add_driver(const char *prog, struct keel_config *cfg, const char *v)
{
	if (!cfg->driver) {
		cfg->driver = v;
		return 0;
	}
	for (unsigned i = 0; i < KEEL_DRIVER_FALLBACKS; i++)
		if (!cfg->driver_fallback[i]) {
			cfg->driver_fallback[i] = v;
			return 0;
		}
	keel_log(KEEL_LOG_ERROR, "%s: at most %d --driver options", prog,
		1 + KEEL_DRIVER_FALLBACKS);
	return -EINVAL;
}

static int parse(int *argc, char **argv, const char *usage,
		 const char *app_options, const struct keel_opt *table,
		 struct keel_config *cfg)
{
	int out = 1, rc;
	bool positional_only = false;

	if (!argc || !argv || !cfg || *argc < 1)
		return -EINVAL;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i], *v;

		if (positional_only || strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (!positional_only && strcmp(a, "--") == 0) {
				positional_only = true;
				continue;
			}
			argv[out++] = argv[i];
		} else if ((v = opt_value(a, "--driver"))) {
			if ((rc = add_driver(argv[0], cfg, v)) < 0)
				return rc;
		} else if ((v = opt_value(a, "--cpus"))) {
			int cpus[KEEL__MAX_WORKERS];
			const char *why;

			if (keel__cpus_parse(v, cpus, KEEL__MAX_WORKERS, &why) < 0) {
				keel_log(KEEL_LOG_ERROR, "%s: --cpus wants %s, not '%s'",
					argv[0], why, v);
				return -EINVAL;
			}
			cfg->cpus = v;
		} else if ((v = opt_value(a, "--sched"))) {
			cfg->sched = v;
		} else if ((v = opt_value(a, "--workers"))) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (!*v || *end || n == 0 || n > KEEL__MAX_WORKERS) {
				keel_log(KEEL_LOG_ERROR, "%s: --workers wants 1..%d, not '%s'",
					 argv[0], KEEL__MAX_WORKERS, v);
				return -EINVAL;
			}
			cfg->workers = (unsigned)n;
		} else if ((rc = keel__monitor_option(argv[0], a, cfg)) != 0) {
			if (rc < 0)
				return rc; /* --stats, --metrics: monitor.c */
		} else if (strcmp(a, "--verbose") == 0) {
			cfg->verbose = true;
			keel_log_set_level(KEEL_LOG_DEBUG);
		} else if (strcmp(a, "--help") == 0) {
			print_help(argv[0], usage, app_options, table);
			return 1;
		} else if ((rc = parse_own(argv[0], a, table)) != 0) {
			if (rc < 0)
				return rc;
		} else if (app_options) {
			argv[out++] = argv[i]; /* the program's own option */
		} else {
			keel_log(KEEL_LOG_ERROR, "%s: unknown option '%s' (try --help)",
				 argv[0], a);
			return -EINVAL;
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

static struct keel_runtime *volatile signal_rt;

static void on_signal(int sig)
{
	(void)sig;
	if (signal_rt)
		keel_runtime_shutdown(signal_rt);
}

static int run(int argc, char **argv, const char *usage,
	       const char *app_options, const struct keel_opt *table,
	       keel_poll_fn *poll, keel_drop_fn *drop, size_t size,
	       size_t args_offset);

int keel_main(int argc, char **argv, const char *usage,
	      const char *app_options, keel_poll_fn *poll, keel_drop_fn *drop,
	      size_t size, size_t args_offset)
{
	return run(argc, argv, usage, app_options, NULL, poll, drop, size,
		   args_offset);
}

int keel_main_table(int argc, char **argv, const char *usage,
		    const struct keel_opt *opts, keel_poll_fn *poll,
		    keel_drop_fn *drop, size_t size, size_t args_offset)
{
	return run(argc, argv, usage, NULL, opts, poll, drop, size, args_offset);
}

static int run(int argc, char **argv, const char *usage,
	       const char *app_options, const struct keel_opt *table,
	       keel_poll_fn *poll, keel_drop_fn *drop, size_t size,
	       size_t args_offset)
{
	struct keel_config cfg = { 0 };
	struct keel_runtime *rt;
	struct sigaction sa;
	intptr_t r;
	void *frame;
	int rc;

	rc = parse(&argc, argv, usage, app_options, table, &cfg);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	frame = calloc(1, size);
	if (!frame)
		return 1;
	*(struct keel_args *)(void *)((char *)frame + args_offset) =
		(struct keel_args){ argc, argv };
	rc = keel_runtime_create(&cfg, &rt);
	if (rc < 0) {
		/* -ENOENT: the message listing what is linked was printed. */
		if (rc != -ENOENT)
			keel_log(KEEL_LOG_ERROR, "%s: cannot start the runtime: %s",
				 argv[0], keel_strerror(rc));
		free(frame);
		return 2;
	}
	signal_rt = rt;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	r = keel_runtime_block_on(rt, poll, drop, frame, size);
	signal_rt = NULL;
	keel_runtime_destroy(rt);
	free(frame);
	if (r == -EINTR)
		return 0; /* stopped by a signal: a clean exit */
	if (r < 0) {
		keel_log(KEEL_LOG_ERROR, "%s: %s", argv[0], keel_strerror(r));
		return 1;
	}
	return r > 255 ? 1 : (int)r; /* the program's own exit status */
}
