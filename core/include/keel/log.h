/* SPDX-License-Identifier: MIT */
/** \file
 * Logging: the one way keel's library code says something.
 *
 * No module of keel writes to stderr or stdout itself: every message goes
 * through keel_log, which drops it when its level is above the current one
 * and otherwise hands the formatted text (one line, no trailing newline) to
 * the application's callback, or by default writes it to stderr with a
 * newline. KEEL_MAIN's `--verbose` raises the level to KEEL_LOG_DEBUG.
 *
 *     static void to_syslog(void *arg, enum keel_log_level lv, const char *msg)
 *     {
 *         syslog(lv == KEEL_LOG_ERROR ? LOG_ERR : LOG_INFO, "%s", msg);
 *     }
 *     keel_log_set_fn(to_syslog, NULL);
 *
 * The level and the callback are process-wide and may be changed from any
 * thread at any time; a message is formatted only when its level passes.
 */
#ifndef KEEL_LOG_H
#define KEEL_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How much a message matters; a lower value matters more. */
enum keel_log_level {
	KEEL_LOG_ERROR, /* something failed: the caller also gets an error code */
	KEEL_LOG_WARN,	/* works, but probably not as the user meant */
	KEEL_LOG_INFO,	/* what a program was asked to print (stats, startup) */
	KEEL_LOG_DEBUG, /* for the one debugging: --verbose */
};

/** The level a program starts with: errors, warnings and info pass. */
#define KEEL_LOG_DEFAULT_LEVEL KEEL_LOG_INFO

/** Longest message passed to a callback; longer ones are cut. */
#define KEEL_LOG_MAX 1024

/**
 * A log callback: \p msg is one line without its newline, valid for the
 * call only. Called on the thread that logs, one call at a time (calls are
 * serialised); it must not call keel_log itself.
 */
typedef void keel_log_fn(void *arg, enum keel_log_level level, const char *msg);

/** Let messages up to \p level through (values past DEBUG mean DEBUG). */
void keel_log_set_level(enum keel_log_level level);

/** The current level. */
enum keel_log_level keel_log_get_level(void);

/** Whether a message of \p level would be passed on now. */
bool keel_log_enabled(enum keel_log_level level);

/**
 * Route messages to \p fn with \p arg (borrowed until the next call);
 * NULL restores the default (stderr). Once this returns, the previous
 * callback is no longer running and will not be called again.
 */
void keel_log_set_fn(keel_log_fn *fn, void *arg);

/** Log a printf-style message (no trailing newline needed). */
void keel_log(enum keel_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** keel_log with a va_list. */
void keel_vlog(enum keel_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#ifdef __cplusplus
}
#endif
#endif /* KEEL_LOG_H */
