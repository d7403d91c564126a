/* SPDX-License-Identifier: MIT */
/*
 * The logging hook: one level and one callback for the whole process.
 *
 * The level is an atomic read on every call, so a filtered message costs
 * one load and no formatting. The callback is called under a mutex: calls
 * come one at a time (lines from several workers never interleave), and
 * keel_log_set_fn returning means the old callback is done with its arg.
 */
#include <keel/log.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int log_level = KEEL_LOG_DEFAULT_LEVEL;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static keel_log_fn *log_fn; /* NULL: stderr; under log_lock */
static void *log_arg;

void keel_log_set_level(enum keel_log_level level)
{
	if ((int)level > KEEL_LOG_DEBUG)
		level = KEEL_LOG_DEBUG;
	if ((int)level < KEEL_LOG_ERROR)
		level = KEEL_LOG_ERROR;
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum keel_log_level keel_log_get_level(void)
{
	return (enum keel_log_level)atomic_load_explicit(&log_level,
							 memory_order_relaxed);
}

bool keel_log_enabled(enum keel_log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level,
						  memory_order_relaxed);
}

void keel_log_set_fn(keel_log_fn *fn, void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

void keel_vlog(enum keel_log_level level, const char *fmt, va_list ap)
{
	char msg[KEEL_LOG_MAX];
	size_t n;

	if (!keel_log_enabled(level) || !fmt)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n') /* one line: the writer ends it */
		msg[--n] = '\0';
	pthread_mutex_lock(&log_lock);
	if (log_fn)
		log_fn(log_arg, level, msg);
	else
		fprintf(stderr, "%s\n", msg);
	pthread_mutex_unlock(&log_lock);
}

void keel_log(enum keel_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	keel_vlog(level, fmt, ap);
	va_end(ap);
}
