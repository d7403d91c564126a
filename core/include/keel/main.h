/* SPDX-License-Identifier: MIT */
/** \file
 * The shared option parser of every keel program, and KEEL_MAIN.
 *
 * Every keel program takes the same options:
 *   --driver=SPEC   NAME[:ARGS] among the linked drivers (kernel, xdp:..)
 *   --sched=NAME    one of the linked schedulers (local, ...)
 *   --workers=N     worker count, for schedulers that have several
 *   --stats         print the runtime's counters at exit
 *   --verbose       let the application say more
 *   --help          print the usage, the options and what is linked
 * Anything else that starts with "--" is an error; the rest are the
 * program's positional arguments.
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
 *         option (a message on stderr).
 */
int keel_args_parse(int *argc, char **argv, const char *usage,
		    struct keel_config *cfg);

/** What KEEL_MAIN expands to: parse, create the runtime, block on the
 *  frame, destroy. SIGINT and SIGTERM shut the runtime down cleanly. */
int keel_main(int argc, char **argv, const char *usage, keel_poll_fn *poll,
	      keel_drop_fn *drop, size_t size, size_t args_offset);

/**
 * An async main. \p type is the frame (first member `struct keel_co co`,
 * and a `struct keel_args args` member that receives the positional
 * arguments); \p drop its destructor or NULL. The exit status is 0 when the
 * task returns >= 0, else 1 after printing the error.
 */
#define KEEL_MAIN(poll, drop, type, usage)                                     \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		return keel_main(argc, argv, (usage), (poll), (drop),          \
				 sizeof(type), offsetof(type, args));          \
	}

/* KEEL_BENCH is reserved for the benchmark harness (perf/). */

#ifdef __cplusplus
}
#endif
#endif /* KEEL_MAIN_H */
