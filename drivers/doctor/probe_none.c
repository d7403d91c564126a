/* SPDX-License-Identifier: MIT */
/* keel-doctor built without libbpf/libxdp: the XDP probes cannot run. */
#include "doctor.h"

#include <errno.h>
#include <stdio.h>

int keel__doctor_probe_native(int ifindex, char *why, unsigned size)
{
	(void)ifindex;
	snprintf(why, size, "keel-doctor was built without libbpf");
	return -ENOTSUP;
}

int keel__doctor_probe_zerocopy(const char *ifname, char *why, unsigned size)
{
	(void)ifname;
	snprintf(why, size, "keel-doctor was built without libxdp");
	return -ENOTSUP;
}
