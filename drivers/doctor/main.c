/* SPDX-License-Identifier: MIT */
/*
 * keel-doctor: checks what a keel deployment needs before it runs.
 *
 *     keel-doctor --driver=xdp:eth0 --workers=4
 *
 * prints one line per check, PASS, WARN or FAIL, with the fix, and exits
 * 1 when any check failed (0 otherwise, 2 for a bad option).
 */
#include "doctor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: keel-doctor [--driver=SPEC] [--workers=N]\n"
	"  --driver=SPEC  the deployment's driver, as given to the program:\n"
	"                 kernel (default), xdp:IFACE[,...], dpdk:ARGS -- EAL-ARGS\n"
	"  --workers=N    its worker count (default 1)\n"
	"Prints one line per check (PASS, WARN, FAIL) with the fix; exits 1\n"
	"when a check failed.\n";

static void print(void *arg, enum keel__doctor_status st, const char *check,
		  const char *what, const char *fix)
{
	static const char *const tag[] = { "PASS", "WARN", "FAIL" };

	(void)arg;
	if (fix)
		printf("%s  %-9s %s; fix: %s\n", tag[st], check, what, fix);
	else
		printf("%s  %-9s %s\n", tag[st], check, what);
}

int main(int argc, char **argv)
{
	struct keel__doctor_opts o = { "kernel", 1 };
	struct keel__doctor_env env;
	int fails;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "--driver=", 9) == 0) {
			o.driver = a + 9;
		} else if (strncmp(a, "--workers=", 10) == 0) {
			char *end;
			unsigned long n = strtoul(a + 10, &end, 10);

			if (!a[10] || *end || n == 0 || n > 4096) {
				fprintf(stderr, "keel-doctor: --workers wants 1..4096, not '%s'\n",
					a + 10);
				return 2;
			}
			o.workers = (unsigned)n;
		} else if (strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "keel-doctor: unknown option '%s'\n%s", a, usage);
			return 2;
		}
	}
	if (keel__doctor_env_read(&env) < 0) {
		perror("keel-doctor: reading capabilities and limits");
		return 2;
	}
	printf("keel-doctor: --driver=%s --workers=%u\n", o.driver, o.workers);
	fails = keel__doctor_run(&o, &env, print, NULL);
	if (fails)
		printf("keel-doctor: %d check%s failed\n", fails < 0 ? 1 : fails,
		       fails == 1 ? "" : "s");
	return fails ? 1 : 0;
}
