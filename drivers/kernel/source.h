/* SPDX-License-Identifier: MIT */
/*
 * Sources the kernel driver does not answer: the rule net/ applies on the
 * bypass drivers (no reply to a broadcast, network, multicast or martian
 * source, nor to UDP source port 0), for what the kernel lets through. The
 * kernel drops multicast, limited-broadcast and martian sources itself; it
 * delivers port 0 always, and a source that is the directed broadcast or
 * network address of one of our subnets unless rp_filter is on. Those need
 * the interfaces' subnets: a small table read with getifaddrs, refreshed
 * at most once a second and only when a source could be one of them.
 */
#ifndef KEEL_DRV_KERNEL_SOURCE_H
#define KEEL_DRV_KERNEL_SOURCE_H

#include <keel/addr.h>
#include <stdbool.h>
#include <stdint.h>

#define KEEL__KSRC_MAX 16

/* The subnets of one socket's reader (only the reading task touches it). */
struct keel__ksrc {
	uint64_t read_at; /* CLOCK_MONOTONIC_COARSE ns of the last refresh; 0: never */
	unsigned n;
	struct {
		uint32_t net, mask; /* network order, prefixes up to /30 */
	} sub[KEEL__KSRC_MAX];
};

/* Whether a datagram from \p from must be dropped unanswered. */
bool keel__ksrc_bad(struct keel__ksrc *c, const struct keel_addr *from);

#endif /* KEEL_DRV_KERNEL_SOURCE_H */
