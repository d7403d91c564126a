/* SPDX-License-Identifier: MIT */
/* core/log.c: the level filter, the callback, the default writer, and
 * --verbose; and that a library message reaches the callback. */
#include <errno.h>
#include <keel/keel.h>
#include <keel/log.h>
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

/* stderr into a pipe while a test runs (the messages are small). */
static int saved_stderr = -1, pipe_rd = -1;

static void capture_stderr(void)
{
	int p[2];

	fflush(stderr);
	cr_assert_eq(pipe(p), 0);
	saved_stderr = dup(2);
	cr_assert_geq(saved_stderr, 0);
	cr_assert_eq(dup2(p[1], 2), 2);
	close(p[1]);
	pipe_rd = p[0];
}

/* Put stderr back; \p out gets what was written meanwhile. */
static void captured(char *out, size_t size)
{
	ssize_t n, got = 0;

	fflush(stderr);
	cr_assert_eq(dup2(saved_stderr, 2), 2);
	close(saved_stderr);
	while ((size_t)got < size - 1 &&
	       (n = read(pipe_rd, out + got, size - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(pipe_rd);
}

struct seen {
	unsigned n;
	enum keel_log_level level;
	char last[KEEL_LOG_MAX];
};

static void collect(void *arg, enum keel_log_level level, const char *msg)
{
	struct seen *s = arg;

	s->n++;
	s->level = level;
	snprintf(s->last, sizeof(s->last), "%s", msg);
}

static void restore(void)
{
	keel_log_set_fn(NULL, NULL);
	keel_log_set_level(KEEL_LOG_DEFAULT_LEVEL);
}

Test(log, callback_gets_one_line_per_message, .fini = restore)
{
	struct seen s = { 0 };

	keel_log_set_fn(collect, &s);
	keel_log(KEEL_LOG_ERROR, "keel: %s %d\n", "boom", 42);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.level, KEEL_LOG_ERROR);
	cr_assert_str_eq(s.last, "keel: boom 42", "no trailing newline");
	keel_log(KEEL_LOG_WARN, "second");
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.level, KEEL_LOG_WARN);
	cr_assert_str_eq(s.last, "second");
}

Test(log, level_filters, .fini = restore)
{
	struct seen s = { 0 };

	keel_log_set_fn(collect, &s);
	cr_assert_eq(keel_log_get_level(), KEEL_LOG_DEFAULT_LEVEL);
	keel_log(KEEL_LOG_DEBUG, "hidden by default");
	cr_assert_eq(s.n, 0, "debug is off by default");
	keel_log(KEEL_LOG_INFO, "info");
	cr_assert_eq(s.n, 1, "info passes by default");

	keel_log_set_level(KEEL_LOG_ERROR);
	cr_assert(!keel_log_enabled(KEEL_LOG_WARN));
	cr_assert(keel_log_enabled(KEEL_LOG_ERROR));
	keel_log(KEEL_LOG_WARN, "filtered");
	keel_log(KEEL_LOG_INFO, "filtered");
	cr_assert_eq(s.n, 1);
	keel_log(KEEL_LOG_ERROR, "passes");
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.last, "passes");

	keel_log_set_level((enum keel_log_level)99); /* clamped to DEBUG */
	cr_assert_eq(keel_log_get_level(), KEEL_LOG_DEBUG);
	keel_log(KEEL_LOG_DEBUG, "now shown");
	cr_assert_eq(s.n, 3);
}

Test(log, long_messages_are_cut, .fini = restore)
{
	static char big[3 * KEEL_LOG_MAX];
	struct seen s = { 0 };

	memset(big, 'x', sizeof(big) - 1);
	keel_log_set_fn(collect, &s);
	keel_log(KEEL_LOG_ERROR, "%s", big);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(strlen(s.last), KEEL_LOG_MAX - 1);
}

Test(log, default_writes_stderr, .fini = restore)
{
	char out[256];

	capture_stderr();
	keel_log(KEEL_LOG_ERROR, "keel: to stderr");
	keel_log(KEEL_LOG_DEBUG, "keel: not this one");
	captured(out, sizeof(out));
	cr_assert_str_eq(out, "keel: to stderr\n");
}

Test(log, verbose_raises_the_level, .fini = restore)
{
	char *argv[] = { "prog", "--verbose", NULL };
	int argc = 2;
	struct keel_config cfg = { 0 };

	cr_assert_eq(keel_log_get_level(), KEEL_LOG_INFO);
	cr_assert_eq(keel_args_parse(&argc, argv, "prog", &cfg), 0);
	cr_assert(cfg.verbose);
	cr_assert_eq(keel_log_get_level(), KEEL_LOG_DEBUG);
}

/* A library error (an unknown scheduler) reaches the application's
 * callback, not stderr. */
Test(log, library_messages_reach_the_callback, .fini = restore)
{
	char out[256];
	struct seen s = { 0 };
	struct keel_runtime *rt;
	struct keel_config cfg = { .sched = "nosuch" };

	keel_log_set_fn(collect, &s);
	capture_stderr();
	cr_assert_eq(keel_runtime_create(&cfg, &rt), -ENOENT);
	captured(out, sizeof(out));
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.level, KEEL_LOG_ERROR);
	cr_assert(strstr(s.last, "scheduler 'nosuch' is not linked"), "%s", s.last);
	cr_assert(strstr(s.last, " local"), "lists what is linked: %s", s.last);
	cr_assert_str_eq(out, "", "nothing written to stderr");
}

/* --stats at destroy goes through the log too. */
Test(log, stats_are_logged, .fini = restore)
{
	struct seen s = { 0 };
	struct keel_runtime *rt;
	struct keel_config cfg = { .sched = "local", .stats = true };

	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	keel_log_set_fn(collect, &s);
	keel_runtime_destroy(rt);
	cr_assert_geq(s.n, 2, "a header and a line per worker");
	cr_assert_eq(s.level, KEEL_LOG_INFO);
}
