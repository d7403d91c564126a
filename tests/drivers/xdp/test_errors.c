/* SPDX-License-Identifier: MIT */
/* drivers/xdp/xdp.c, prog.c, umem.c: what goes wrong at startup gives a
 * negative errno and one clear line naming the cause and what to do,
 * never a crash: bad arguments, a missing interface, an interface without
 * an address, no privileges, an XDP program already attached, a queue
 * that does not exist. */
#include "xtest.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

/* keel_runtime_create on \p spec with stderr captured into \p msg. */
static int create_capturing(const char *spec, char *msg, size_t cap)
{
	struct keel_config cfg = { .sched = "local", .driver = spec };
	struct keel_runtime *rt = NULL;
	int saved, fd, rc;
	ssize_t n;

	fflush(stderr);
	saved = dup(2);
	fd = memfd_create("stderr", MFD_CLOEXEC);
	cr_assert_geq(fd, 0);
	dup2(fd, 2);
	rc = keel_runtime_create(&cfg, &rt);
	keel_runtime_destroy(rt);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, msg, cap - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fd);
	fprintf(stderr, "[%s] rc=%d: %s", spec, rc, msg); /* for the log */
	return rc;
}

#define EXPECT(spec, err, text)                                                \
	do {                                                                   \
		char m_[1024];                                                 \
		int rc_ = create_capturing((spec), m_, sizeof(m_));            \
		cr_assert_eq(rc_, (err), "%s: got %d (%s)", (spec), rc_,       \
			     keel_strerror(rc_));                              \
		cr_assert(strstr(m_, (text)), "%s: message '%s' names '%s'",   \
			  (spec), m_, (text));                                 \
	} while (0)

/* No privileges needed: these fail before anything is attached. */
Test(errors, bad_arguments)
{
	EXPECT("xdp", -EINVAL, "name the interface");
	EXPECT("xdp:", -EINVAL, "name the interface");
	EXPECT("xdp:lo,mode=warp", -EINVAL, "bad mode 'warp'");
	EXPECT("xdp:lo,queue=x", -EINVAL, "bad queue 'x'");
	EXPECT("xdp:lo,frames=12", -EINVAL, "bad frames");
	EXPECT("xdp:lo,turbo", -EINVAL, "bad option 'turbo'");
	EXPECT("xdp:lo,ip=300.1.1.1/24", -EINVAL, "bad ip");
	EXPECT("xdp:averyveryverylongname0", -EINVAL, "too long");
}

Test(errors, bad_interface_name)
{
	EXPECT("xdp:nosuchif0", -ENODEV, "no network interface named 'nosuchif0'");
}

Test(errors, interface_without_address, .timeout = 60, .fini = xt_fini)
{
	struct keel_netns_opts o = { .no_addr = true };
	char spec[64];

	xt_up(&o);
	snprintf(spec, sizeof(spec), "xdp:%s", xt_pair.ifname);
	EXPECT(spec, -EADDRNOTAVAIL, "has no IPv4 address");
	/* ip= supplies one */
	snprintf(spec, sizeof(spec), "xdp:%s,ip=198.18.1.1/24", xt_pair.ifname);
	{
		char m[1024];

		cr_assert_eq(create_capturing(spec, m, sizeof(m)), 0);
	}
}

Test(errors, queue_that_does_not_exist, .timeout = 60, .fini = xt_fini)
{
	struct keel_netns_opts o = { .queues = 2 };
	char spec[64];

	xt_up(&o);
	snprintf(spec, sizeof(spec), "xdp:%s,queue=7", xt_pair.ifname);
	/* Said at start, for the interface as a whole (ensure_queues). */
	EXPECT(spec, -EINVAL, "fewer than the 8 its workers need");
}

/* Not root: the child gives up every capability (setuid to nobody) in
 * our namespace, where the interface is, and tries. */
Test(errors, missing_privileges, .timeout = 60, .fini = xt_fini)
{
	char spec[64];
	pid_t pid;
	int st;

	xt_up(NULL);
	snprintf(spec, sizeof(spec), "xdp:%s", xt_pair.ifname);
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char m[1024];
		int rc;

		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(10);
		rc = create_capturing(spec, m, sizeof(m));
		if (rc != -EPERM)
			_exit(11);
		if (!strstr(m, "CAP_BPF") || !strstr(m, "run as root"))
			_exit(12);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "the unprivileged attempt did not crash");
	cr_assert_eq(WEXITSTATUS(st), 0,
		     "unprivileged: -EPERM with a message naming CAP_BPF and "
		     "root (child status %d)", WEXITSTATUS(st));
}

/* Another process holds the interface: EBUSY, and how to see and free it. */
Test(errors, program_already_attached, .timeout = 60, .fini = xt_fini)
{
	char spec[64];
	int ready[2], stop[2];
	pid_t pid;
	char c = 0;
	int st;

	xt_up(NULL);
	snprintf(spec, sizeof(spec), "xdp:%s", xt_pair.ifname);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(stop), 0);
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct keel_config cfg = { .sched = "local", .driver = spec };
		struct keel_runtime *rt;

		close(ready[0]);
		close(stop[1]);
		c = keel_runtime_create(&cfg, &rt) == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		if (read(stop[0], &c, 1) < 0) /* until the parent is done */
			_exit(1);
		keel_runtime_destroy(rt);
		_exit(0);
	}
	close(ready[1]);
	close(stop[0]);
	cr_assert_eq(read(ready[0], &c, 1), 1);
	cr_assert_eq(c, 'y', "the other process attached");
	EXPECT(spec, -EBUSY, "another XDP program is attached");
	close(stop[1]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* and once it is gone, the interface is free again */
	{
		char m[1024];

		cr_assert_eq(create_capturing(spec, m, sizeof(m)), 0);
	}
}

/* A migrating scheduler is no reason to refuse: a task is moved to the
 * worker of the socket it uses (the UDP suite runs on pool and steal). A
 * queue per worker is all it takes. */
Test(errors, migrating_scheduler_starts, .timeout = 60, .fini = xt_fini)
{
	struct keel_netns_opts o = { .queues = 2 };
	struct keel_config cfg = { .sched = "pool", .workers = 2 };
	struct keel_runtime *rt = NULL;
	char spec[64];
	int rc;

	xt_up(&o);
	snprintf(spec, sizeof(spec), "xdp:%s", xt_pair.ifname);
	cfg.driver = spec;
	rc = keel_runtime_create(&cfg, &rt);
	cr_assert_eq(rc, 0, "%s", keel_strerror(rc));
	keel_runtime_destroy(rt);
}
