/* SPDX-License-Identifier: MIT */
/* core/main.c: the option table of KEEL_MAIN_OPTS (keel_args_parse_table). */
#include <errno.h>
#include <keel/keel.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint64_t ttl;
static bool quiet;
static const char *name;

static const struct keel_opt opts[] = {
	KEEL_OPT_UINT("ttl", "SECONDS", "keys expire this long after a SET", &ttl),
	KEEL_OPT_FLAG("quiet", "say less", &quiet),
	KEEL_OPT_STRING("name", "TEXT", "who we are", &name),
	KEEL_OPT_END,
};

static void reset(void)
{
	ttl = 60;
	quiet = false;
	name = "kv";
}

Test(main, table_parses_own_and_keel_options, .init = reset)
{
	char *argv[] = { "prog", "--ttl=5", "a", "--workers=2", "--quiet",
			 "--name=x", "b", NULL };
	int argc = 7;
	struct keel_config cfg = { 0 };

	cr_assert_eq(keel_args_parse_table(&argc, argv, "prog", opts, &cfg), 0);
	cr_assert_eq(ttl, 5u);
	cr_assert(quiet);
	cr_assert_str_eq(name, "x");
	cr_assert_eq(cfg.workers, 2u);
	cr_assert_eq(argc, 3);
	cr_assert_str_eq(argv[1], "a");
	cr_assert_str_eq(argv[2], "b");
	cr_assert_null(argv[3]);
}

Test(main, table_keeps_defaults, .init = reset)
{
	char *argv[] = { "prog", NULL };
	int argc = 1;
	struct keel_config cfg = { 0 };

	cr_assert_eq(keel_args_parse_table(&argc, argv, "prog", opts, &cfg), 0);
	cr_assert_eq(ttl, 60u);
	cr_assert_not(quiet);
}

Test(main, table_rejects_bad_input, .init = reset)
{
	char *bad[] = { "--ttl=x", "--ttl=", "--ttl", "--ttl=-1",
			      "--quiet=1", "--tt=5", "--ttlx=5", "--nope" };
	struct keel_config cfg = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = { "prog", bad[i], NULL };
		int argc = 2;

		cr_assert_eq(keel_args_parse_table(&argc, argv, "prog", opts, &cfg),
			     -EINVAL, "%s was accepted", bad[i]);
	}
	cr_assert_eq(ttl, 60u, "a rejected value was stored");
}

/* --help lists the program's options with their defaults. */
Test(main, table_in_help, .init = reset)
{
	char *argv[] = { "prog", "--help", NULL };
	int argc = 2, p[2], saved;
	struct keel_config cfg = { 0 };
	char buf[8192] = { 0 };
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	fflush(stdout);
	saved = dup(1);
	dup2(p[1], 1);
	cr_assert_eq(keel_args_parse_table(&argc, argv, "prog [X]", opts, &cfg), 1);
	fflush(stdout);
	dup2(saved, 1);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	cr_assert_gt(n, 0);
	cr_assert(strstr(buf, "--ttl=SECONDS"), "%s", buf);
	cr_assert(strstr(buf, "keys expire this long after a SET (default 60)"), "%s", buf);
	cr_assert(strstr(buf, "--quiet"), "%s", buf);
	cr_assert(strstr(buf, "--name=TEXT"), "%s", buf);
}
