/* SPDX-License-Identifier: MIT */
/*
 * keel-doctor: what a deployment (a --driver spec and a worker count)
 * needs from the machine, checked before it runs. The checks read the
 * machine through `struct keel__doctor_env`, filled from the process by
 * keel__doctor_env_read; tests fill it by hand to check the capability and
 * limit logic without dropping privileges.
 */
#ifndef KEEL_DOCTOR_H
#define KEEL_DOCTOR_H

#include <stdbool.h>
#include <stdint.h>

enum keel__doctor_status { KEEL__DOC_PASS, KEEL__DOC_WARN, KEEL__DOC_FAIL };

/* What the checks look at, beside the interfaces and /proc, /sys. */
struct keel__doctor_env {
	uint64_t caps;	      /* effective capabilities: 1 << CAP_* */
	unsigned cpus;	      /* CPUs this process may run on */
	uint64_t memlock;     /* RLIMIT_MEMLOCK soft limit, bytes; UINT64_MAX: none */
	bool probe;	      /* the XDP probes may attach a program (real env) */
};

struct keel__doctor_opts {
	const char *driver; /* "kernel", "xdp:IFACE[,..]", "dpdk:ARGS -- EAL" */
	unsigned workers;
};

/* One line of the report: \p fix is NULL on a pass. */
typedef void keel__doctor_report_fn(void *arg, enum keel__doctor_status st,
				    const char *check, const char *what,
				    const char *fix);

/* The process's capabilities, CPUs and memlock limit. 0 or -errno. */
int keel__doctor_env_read(struct keel__doctor_env *env);

/* Run every check that \p o needs. \return how many failed, or -EINVAL
 * (an unknown driver: reported as a failed check too). */
int keel__doctor_run(const struct keel__doctor_opts *o,
		     const struct keel__doctor_env *env,
		     keel__doctor_report_fn *fn, void *arg);

/* probe_xdp.c (or its stand-in without libbpf): whether \p ifindex takes
 * an XDP program in native mode, and an AF_XDP socket in zero-copy mode on
 * queue 0. 1 yes, 0 no, negative errno: could not tell. \p why explains. */
int keel__doctor_probe_native(int ifindex, char *why, unsigned size);
int keel__doctor_probe_zerocopy(const char *ifname, char *why, unsigned size);

#endif /* KEEL_DOCTOR_H */
