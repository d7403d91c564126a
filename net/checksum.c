/* SPDX-License-Identifier: MIT */
/*
 * Internet checksums (RFC 1071, RFC 1624) for callers outside net/. The
 * arithmetic itself is inline in net_internal.h so that the per-packet path
 * gets it without a call.
 */
#include "net_internal.h"

uint64_t keel_net_csum_partial(const void *buf, size_t len, uint64_t sum)
{
	/* Reduce a caller's running sum first so that it cannot overflow. */
	sum = (sum & 0xffffffffu) + (sum >> 32);
	return keel__csum_add(buf, len, sum);
}

uint16_t keel_net_csum_fold(uint64_t sum)
{
	return keel__csum_fold(sum);
}

uint64_t keel_net_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	return keel__csum_pseudo(src, dst, proto, len);
}

uint16_t keel_net_csum_replace16(uint16_t csum, uint16_t from, uint16_t to)
{
	/* RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the form that agrees with
	 * a full recomputation, where RFC 1141's can leave -0 for +0. */
	uint32_t s = (uint32_t)(uint16_t)~csum + (uint16_t)~from + to;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}
