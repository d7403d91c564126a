/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for <criterion/criterion.h> in the ThreadSanitizer build only.
 *
 * Criterion cannot start under TSan on these machines: its sandbox maps an
 * "inheritable arena" at addresses TSan reserves, and every test binary
 * dies with "Could not initialize inheritable arena". So that the same test
 * sources still run under TSan, this header implements the part of
 * Criterion's API they use: Test() and TestSuite() with .init, .fini and
 * .timeout, the cr_assert family and cr_skip_test. Each test runs in a
 * forked child (the runner itself starts no thread before forking), like
 * Criterion's own isolation; a failed assertion returns to the child's
 * runner, which still runs the fini functions; the run ends with
 * Criterion's closing line and a non-zero status on any failure.
 */
#ifndef KEEL_TSAN_CRITERION_H
#define KEEL_TSAN_CRITERION_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct keel__crt_opts {
	void (*init)(void);
	void (*fini)(void);
	unsigned timeout;
	int sentinel_;
};

struct keel__crt_test {
	const char *suite, *name;
	void (*fn)(void);
	struct keel__crt_opts o;
};

struct keel__crt_suite {
	const char *name;
	struct keel__crt_opts o;
};

/* cr_assert(x) with no message expands to an empty format string. */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

#define KEEL__CRT_MAX 256
static struct keel__crt_test keel__crt_tests[KEEL__CRT_MAX];
static int keel__crt_count;
static struct keel__crt_suite keel__crt_suites[32];
static int keel__crt_nsuites;
static jmp_buf keel__crt_jmp;

static inline void keel__crt_register(const char *suite, const char *name,
				      void (*fn)(void),
				      struct keel__crt_opts o)
{
	if (keel__crt_count < KEEL__CRT_MAX)
		keel__crt_tests[keel__crt_count++] =
			(struct keel__crt_test){ suite, name, fn, o };
}

static inline void keel__crt_register_suite(const char *name,
					    struct keel__crt_opts o)
{
	if (keel__crt_nsuites < 32)
		keel__crt_suites[keel__crt_nsuites++] =
			(struct keel__crt_suite){ name, o };
}

#define TestSuite(suite, ...)                                                  \
	__attribute__((constructor)) static void keel__crt_suite_##suite(void) \
	{                                                                      \
		keel__crt_register_suite(#suite,                               \
					 (struct keel__crt_opts){ __VA_ARGS__ }); \
	}

#define Test(suite, name, ...)                                                 \
	static void keel__crt_fn_##suite##_##name(void);                       \
	__attribute__((constructor)) static void                               \
	keel__crt_reg_##suite##_##name(void)                                   \
	{                                                                      \
		keel__crt_register(#suite, #name,                              \
				   keel__crt_fn_##suite##_##name,              \
				   (struct keel__crt_opts){ __VA_ARGS__ });    \
	}                                                                      \
	static void keel__crt_fn_##suite##_##name(void)

#define KEEL__CRT_SKIPPED 77

__attribute__((format(printf, 4, 5))) static inline void
keel__crt_fail(const char *expr, const char *file, int line, const char *fmt,
	       ...)
{
	fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   %s\n", file,
		line, expr);
	if (fmt && *fmt) {
		va_list ap;

		fputs("[----]   ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fflush(stderr);
	longjmp(keel__crt_jmp, 1);
}

#define KEEL__CRT_CHECK(cond, text, ...)                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			keel__crt_fail(text, __FILE__, __LINE__, "" __VA_ARGS__); \
	} while (0)

#define cr_assert(c, ...)	     KEEL__CRT_CHECK((c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...)	     KEEL__CRT_CHECK(!(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...)	     KEEL__CRT_CHECK((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...)     KEEL__CRT_CHECK((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...)	     KEEL__CRT_CHECK((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...)     KEEL__CRT_CHECK((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...)	     KEEL__CRT_CHECK((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...)     KEEL__CRT_CHECK((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...)	     KEEL__CRT_CHECK((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...)   KEEL__CRT_CHECK((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)  KEEL__CRT_CHECK(strcmp((a), (b)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) KEEL__CRT_CHECK(strcmp((a), (b)) != 0, #a " != " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...)                                         \
	KEEL__CRT_CHECK(memcmp((a), (b), (n)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_assert_arr_neq(a, b, n, ...)                                        \
	KEEL__CRT_CHECK(memcmp((a), (b), (n)) != 0, #a " != " #b, __VA_ARGS__)

/* Criterion's expectations go on after a failure; here they end the test
 * (it fails either way). */
#define cr_expect(c, ...)	     cr_assert(c, __VA_ARGS__)
#define cr_expect_eq(a, b, ...)	     cr_assert_eq(a, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...)     cr_assert_neq(a, b, __VA_ARGS__)

#define cr_skip_test(...)                                                      \
	do {                                                                   \
		fprintf(stderr, "[SKIP] " __VA_ARGS__);                        \
		fputc('\n', stderr);                                           \
		_exit(KEEL__CRT_SKIPPED);                                      \
	} while (0)

static inline int keel__crt_run_one(const struct keel__crt_test *t)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		const struct keel__crt_opts *so = NULL;
		volatile int failed = 0;

		for (int i = 0; i < keel__crt_nsuites; i++)
			if (strcmp(keel__crt_suites[i].name, t->suite) == 0)
				so = &keel__crt_suites[i].o;
		alarm(t->o.timeout ? t->o.timeout : so && so->timeout ? so->timeout : 120);
		if (setjmp(keel__crt_jmp) == 0) {
			if (so && so->init)
				so->init();
			if (t->o.init)
				t->o.init();
			t->fn();
		} else {
			failed = 1;
		}
		if (t->o.fini)
			t->o.fini();
		if (so && so->fini)
			so->fini();
		exit(failed); /* not _exit: TSan turns reported races into 66 */
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "[----] %s::%s: killed by signal %d%s\n", t->suite,
		t->name, WTERMSIG(status),
		WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
	return 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;

	(void)argc;
	(void)argv;
	for (int i = 0; i < keel__crt_count; i++) {
		const struct keel__crt_test *t = &keel__crt_tests[i];
		int rc = keel__crt_run_one(t);

		if (rc == 0) {
			passed++;
		} else if (rc == KEEL__CRT_SKIPPED) {
			skipped++;
		} else {
			failed++;
			fprintf(stderr, "[FAIL] %s::%s\n", t->suite, t->name);
		}
	}
	printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0 \n",
	       passed + failed, passed, failed);
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}

#endif /* KEEL_TSAN_CRITERION_H */
