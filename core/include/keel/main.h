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
 * Anything else that starts with "--" is an error, unless the program
 * takes options of its own (KEEL_MAIN_OPTS): then it is passed on to the
 * program with the positional arguments, in order.
 */
#ifndef KEEL_MAIN_H
#define KEEL_MAIN_H

#include <keel/runtime.h>
#include <stddef.h>

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

/** KEEL_MAIN for a program with "--" options of its own, described by
 *  \p app_options for --help; they reach it in args, in order. */
#define KEEL_MAIN_OPTS(poll, drop, type, usage, app_options)                   \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		return keel_main(argc, argv, (usage), (app_options), (poll),   \
				 (drop), sizeof(type), offsetof(type, args));  \
	}

/* KEEL_BENCH is reserved for the benchmark harness (perf/). */

#ifdef __cplusplus
}
#endif
#endif /* KEEL_MAIN_H */
