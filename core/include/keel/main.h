/* SPDX-License-Identifier: MIT */
/** \file
 * The shared option parser of every keel program, and KEEL_MAIN.
 *
 * Every keel program takes the same options:
 *   --driver=SPEC   NAME[:ARGS] among the linked drivers (kernel, xdp:..)
 *   --sched=NAME    one of the linked schedulers (local, ...)
 *   --workers=N     worker count, for schedulers that have several
 *   --stats         print the runtime's counters at exit
 *   --verbose       say more: keel_log at KEEL_LOG_DEBUG, and cfg.verbose
 *   --help          print the usage, the options and what is linked
 * A program's own options are declared in a table (struct keel_opt,
 * KEEL_MAIN_OPTS): keel parses them into the program's variables and lists
 * them in --help. Anything else that starts with "--" is an error, unless
 * the program describes its options with a help text instead of a table:
 * then they are passed on to it with the positional arguments, in order.
 */
#ifndef KEEL_MAIN_H
#define KEEL_MAIN_H

#include <keel/runtime.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Positional arguments left after keel's options (argv[0] included). */
struct keel_args {
	int argc;
	char **argv;
};

/**
 * Parse keel's options out of argv into \p cfg, compacting argv so that
 * only argv[0] and the positional arguments remain.
 * \return 0 to go on, 1 when --help was printed (exit 0), -EINVAL for a bad
 *         option (a message through keel_log).
 */
int keel_args_parse(int *argc, char **argv, const char *usage,
		    struct keel_config *cfg);

/**
 * keel_args_parse for a program with options of its own: \p app_options
 * (its help text, printed by --help) non-NULL lets unknown "--" options
 * through, in order, with the positional arguments.
 */
int keel_args_parse_opts(int *argc, char **argv, const char *usage,
			 const char *app_options, struct keel_config *cfg);

/** Kinds of struct keel_opt (use the KEEL_OPT_* initializers). */
enum keel_opt_kind {
	KEEL_OPT__END,
	KEEL_OPT__FLAG,	  /* --NAME: bool = true */
	KEEL_OPT__UINT,	  /* --NAME=N: uint64_t, decimal */
	KEEL_OPT__STRING, /* --NAME=TEXT: const char *, borrowed from argv */
};

/**
 * One option of a program, in a table ended by KEEL_OPT_END:
 *
 *     static uint64_t ttl = 60;                 // the default
 *     static const struct keel_opt options[] = {
 *         KEEL_OPT_UINT("ttl", "SECONDS", "expire keys after", &ttl),
 *         KEEL_OPT_END,
 *     };
 *     KEEL_MAIN_OPTS(kv, kv_drop, struct kv, "kv-server [ADDR:PORT]", options)
 *
 * --help lists each with its help and the variable's value as default.
 */
struct keel_opt {
	const char *name; /* without the leading "--" */
	const char *arg;  /* what --help calls the value, e.g. "SECONDS" */
	const char *help;
	enum keel_opt_kind kind;
	void *var;
};

/* The ternaries check the variable's type at compile time. */
#define KEEL_OPT_FLAG(name, help, var)                                         \
	{ (name), NULL, (help), KEEL_OPT__FLAG, (1 ? (var) : (bool *)0) }
#define KEEL_OPT_UINT(name, arg, help, var)                                    \
	{ (name), (arg), (help), KEEL_OPT__UINT, (1 ? (var) : (uint64_t *)0) }
#define KEEL_OPT_STRING(name, arg, help, var)                                  \
	{ (name), (arg), (help), KEEL_OPT__STRING,                            \
	  (void *)(1 ? (var) : (const char **)0) }
#define KEEL_OPT_END { NULL, NULL, NULL, KEEL_OPT__END, NULL }

/**
 * keel_args_parse with the program's own options in \p opts (NULL: none):
 * they are parsed into their variables and removed from argv.
 * \return 0, 1 after --help, -EINVAL for a bad or unknown option or value
 *         (a message on stderr).
 */
int keel_args_parse_table(int *argc, char **argv, const char *usage,
			  const struct keel_opt *opts, struct keel_config *cfg);

/** keel_main for a program with an option table. */
int keel_main_table(int argc, char **argv, const char *usage,
		    const struct keel_opt *opts, keel_poll_fn *poll,
		    keel_drop_fn *drop, size_t size, size_t args_offset);

/** What KEEL_MAIN and KEEL_MAIN_OPTS expand to: parse, create the runtime,
 *  block on the frame, destroy. SIGINT and SIGTERM shut the runtime down
 *  (see keel_runtime_shutdown and keel_shutdown_poll). */
int keel_main(int argc, char **argv, const char *usage,
	      const char *app_options, keel_poll_fn *poll, keel_drop_fn *drop,
	      size_t size, size_t args_offset);

/**
 * An async main. \p type is the frame (first member `struct keel_co co`,
 * and a `struct keel_args args` member that receives the positional
 * arguments); \p drop its destructor or NULL. The task's result is the
 * exit status: 0..255 as returned (so a program that printed its own error
 * returns e.g. 2), a negative errno is printed with keel_strerror and gives
 * 1. A shutdown by signal that was not handled gracefully exits 0.
 */
#define KEEL_MAIN(poll, drop, type, usage)                                     \
	KEEL_MAIN_OPTS(poll, drop, type, usage, NULL)

/**
 * KEEL_MAIN for a program with "--" options of its own. \p app_options is
 * either a table (const struct keel_opt[], ended by KEEL_OPT_END): keel
 * parses them and --help lists them; or a help text (const char *): they
 * reach the program in args, in order, for it to parse.
 */
#define KEEL_MAIN_OPTS(poll, drop, type, usage, app_options)                   \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		return _Generic((app_options),                                 \
			const struct keel_opt *: keel_main_table,              \
			struct keel_opt *: keel_main_table,                    \
			default: keel_main)(argc, argv, (usage),               \
					    (app_options), (poll), (drop),     \
					    sizeof(type),                      \
					    offsetof(type, args));             \
	}

/* KEEL_BENCH is reserved for the benchmark harness (perf/). */

#ifdef __cplusplus
}
#endif
#endif /* KEEL_MAIN_H */
