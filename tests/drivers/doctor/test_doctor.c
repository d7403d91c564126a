/* SPDX-License-Identifier: MIT */
/*
 * keel-doctor on the veth fixtures: a queue count too small for the
 * workers, enough queues, a missing interface, and not root — twice: the
 * capability and limit logic with injected capabilities (checks.c's env),
 * and the program itself run as the unprivileged user nobody (setpriv),
 * whose exit status must say that a check failed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doctor.h"
#include "netns.h"

static struct keel_netns_pair pair;

/* The report, one "STATUS check what" line per check. */
struct lines {
	char text[8192];
	size_t len;
};

static void keep(void *arg, enum keel__doctor_status st, const char *check,
		 const char *what, const char *fix)
{
	static const char *const tag[] = { "PASS", "WARN", "FAIL" };
	struct lines *l = arg;
	int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s %s %s%s%s\n",
			 tag[st], check, what, fix ? "; fix: " : "", fix ? fix : "");

	cr_assert(st == KEEL__DOC_PASS || (fix && *fix), "a warning or failure "
		  "says its fix: %s %s", check, what);
	if (n > 0)
		l->len += (size_t)n;
}

static int doctor(const char *driver, unsigned workers,
		  const struct keel__doctor_env *env, struct lines *l)
{
	struct keel__doctor_opts o = { driver, workers };

	memset(l, 0, sizeof(*l));
	return keel__doctor_run(&o, env, keep, l);
}

static void make_pair(unsigned queues)
{
	struct keel_netns_opts o = { .queues = queues };
	int rc = keel_netns_pair_create(&pair, 40, &o);

	KEEL_NETNS_SKIP_UNLESS(rc, &pair);
}

/* Run the program (its own copy, readable by anyone) with \p pre in front
 * (e.g. setpriv ...); its output in \p out. \return its exit status. */
static int run_program(const char *pre, const char *args, char *out, size_t size)
{
	char dir[] = "/tmp/keel-doctor-XXXXXX", cmd[1024];
	FILE *p;
	size_t n;
	int st;

	cr_assert_not_null(mkdtemp(dir));
	chmod(dir, 0755);
	snprintf(cmd, sizeof(cmd), "cp %s %s/ && chmod 0755 %s/keel-doctor", KEEL_DOCTOR,
		 dir, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	snprintf(cmd, sizeof(cmd), "%s %s/keel-doctor %s 2>&1", pre, dir, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	st = pclose(p);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert(WIFEXITED(st), "%s", out);
	return WEXITSTATUS(st);
}

Test(doctor, queue_count_too_small, .fini = keel_netns_cleanup, .timeout = 60)
{
	struct keel__doctor_env env;
	struct lines l;
	char spec[64], args[128], out[8192];

	make_pair(1);
	cr_assert_eq(keel__doctor_env_read(&env), 0);
	snprintf(spec, sizeof(spec), "xdp:%s", pair.ifname);
	cr_assert_eq(doctor(spec, 2, &env, &l), 1, "%s", l.text);
	cr_assert(strstr(l.text, "FAIL queues"), "%s", l.text);
	cr_assert(strstr(l.text, "--workers=1"), "the fix names the count: %s", l.text);
	cr_assert(strstr(l.text, "PASS iface"), "%s", l.text);
	/* One queue named: one worker's worth is enough. */
	snprintf(spec, sizeof(spec), "xdp:%s,queue=0", pair.ifname);
	cr_assert_eq(doctor(spec, 2, &env, &l), 0, "%s", l.text);

	snprintf(args, sizeof(args), "--driver=xdp:%s --workers=2", pair.ifname);
	cr_assert_eq(run_program("", args, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "FAIL  queues"), "%s", out);
}

Test(doctor, enough_queues, .fini = keel_netns_cleanup, .timeout = 60)
{
	struct keel__doctor_env env;
	struct lines l;
	char spec[64], args[128], out[8192];

	make_pair(2);
	cr_assert_eq(keel__doctor_env_read(&env), 0);
	snprintf(spec, sizeof(spec), "xdp:%s", pair.ifname);
	cr_assert_eq(doctor(spec, 2, &env, &l), 0, "%s", l.text);
	cr_assert(strstr(l.text, "PASS queues"), "%s", l.text);
#ifdef KEEL_DOCTOR_PROBES
	/* veth: native XDP yes, zero-copy no (environment.md). */
	cr_assert(strstr(l.text, "PASS xdp-mode"), "%s", l.text);
	cr_assert(strstr(l.text, "WARN zerocopy"), "%s", l.text);
#endif
	snprintf(args, sizeof(args), "--driver=xdp:%s --workers=2", pair.ifname);
	cr_assert_eq(run_program("", args, out, sizeof(out)), 0, "%s", out);
}

Test(doctor, missing_interface, .timeout = 60)
{
	struct keel__doctor_env env;
	struct lines l;
	char out[8192];

	cr_assert_eq(keel__doctor_env_read(&env), 0);
	cr_assert_eq(doctor("xdp:keelnone0", 1, &env, &l), 1, "%s", l.text);
	cr_assert(strstr(l.text, "FAIL iface no interface keelnone0"), "%s", l.text);
	cr_assert_null(strstr(l.text, "queues"), "no queue check without it");
	cr_assert_eq(doctor("dpdk:ip=198.18.0.1/24 -- --no-huge --no-pci "
			    "--vdev=net_af_packet0,iface=keelnone0", 1, &env, &l), 1,
		     "%s", l.text);
	cr_assert(strstr(l.text, "FAIL iface"), "%s", l.text);
	cr_assert(strstr(l.text, "PASS hugepages not needed"), "%s", l.text);
	cr_assert(strstr(l.text, "PASS vfio not needed"), "%s", l.text);
	cr_assert_eq(run_program("", "--driver=xdp:keelnone0", out, sizeof(out)), 1, "%s", out);
	cr_assert_eq(run_program("", "--driver=warp", out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "FAIL  driver    unknown driver 'warp'"), "%s", out);
	cr_assert_eq(run_program("", "--workers=0", out, sizeof(out)), 2, "%s", out);
}

/* Not root, by injection: no capabilities, a 64 KiB memlock limit. */
Test(doctor, not_root_injected, .fini = keel_netns_cleanup, .timeout = 60)
{
	struct keel__doctor_env env = { .caps = 0, .cpus = 1, .memlock = 64 * 1024,
					.probe = true };
	struct lines l;
	char spec[64];

	make_pair(2);
	snprintf(spec, sizeof(spec), "xdp:%s", pair.ifname);
	cr_assert_eq(doctor(spec, 2, &env, &l), 4, "%s", l.text);
	cr_assert(strstr(l.text, "FAIL caps CAP_NET_ADMIN missing"), "%s", l.text);
	cr_assert(strstr(l.text, "FAIL caps CAP_NET_RAW missing"), "%s", l.text);
	cr_assert(strstr(l.text, "FAIL caps CAP_BPF (or CAP_SYS_ADMIN) missing"), "%s", l.text);
	cr_assert(strstr(l.text, "FAIL memlock locked memory limit 64 KiB"), "%s", l.text);
	cr_assert(strstr(l.text, "WARN cpus 1 CPUs for 2 workers"), "%s", l.text);
	cr_assert(strstr(l.text, "WARN xdp-mode not probed"), "%s", l.text);
	/* CAP_IPC_LOCK lifts the limit; CAP_SYS_ADMIN stands for CAP_BPF. */
	env.caps = 1ull << 14 /* IPC_LOCK */ | 1ull << 12 /* NET_ADMIN */ |
		   1ull << 13 /* NET_RAW */ | 1ull << 21 /* SYS_ADMIN */;
	env.cpus = 2;
	env.probe = false;
	cr_assert_eq(doctor(spec, 2, &env, &l), 0, "%s", l.text);
	cr_assert(strstr(l.text, "PASS caps CAP_SYS_ADMIN (load the XDP program)"), "%s", l.text);
	cr_assert(strstr(l.text, "PASS memlock no limit on locked memory (CAP_IPC_LOCK)"),
		  "%s", l.text);
	/* A limit large enough passes without the capability. */
	env.caps &= ~(1ull << 14);
	env.memlock = 2 * 4096ull * 4096ull;
	cr_assert_eq(doctor(spec, 2, &env, &l), 0, "%s", l.text);
	env.memlock -= 1;
	cr_assert_eq(doctor(spec, 2, &env, &l), 1, "%s", l.text);
}

/* Not root, for real: the program run as nobody, capabilities gone. */
Test(doctor, not_root_as_nobody, .fini = keel_netns_cleanup, .timeout = 60)
{
	char args[128], out[8192];

	make_pair(2);
	if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
		fprintf(stderr, KEEL_NETNS_SKIP_TAG "setpriv as root needed\n");
		cr_skip_test("setpriv as root needed");
	}
	snprintf(args, sizeof(args), "--driver=xdp:%s --workers=2", pair.ifname);
	cr_assert_eq(run_program("setpriv --reuid=65534 --regid=65534 --clear-groups "
				 "--inh-caps=-all", args, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "FAIL  caps      CAP_NET_ADMIN missing"), "%s", out);
	cr_assert(strstr(out, "FAIL  caps      CAP_NET_RAW missing"), "%s", out);
	cr_assert(strstr(out, "PASS  iface"), "%s", out);
	cr_assert(strstr(out, "WARN  xdp-mode  not probed"), "%s", out);
}
