/* SPDX-License-Identifier: MIT */
/* net/checksum.c: RFC 1071 sums, folding, pseudo-header, RFC 1624 updates. */
#include "net_test.h"

#include <criterion/criterion.h>
#include <stdlib.h>

/* keel_net_csum_fold's result as the host-order value t_csum returns. */
static uint16_t field(uint16_t raw)
{
	return ntohs(raw);
}

Test(checksum, rfc1071_example)
{
	/* RFC 1071 section 3: the sum of these words is ddf2. */
	static const uint8_t d[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	cr_assert_eq(field(keel_net_csum_fold(keel_net_csum_partial(d, sizeof(d), 0))),
		     (uint16_t)~0xddf2);
}

Test(checksum, ipv4_header_example)
{
	/* A real header (Wikipedia's example): checksum b861. */
	uint8_t h[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			  0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };

	cr_assert_eq(field(keel_net_csum_fold(keel_net_csum_partial(h, 20, 0))), 0xb861);
	h[10] = 0xb8;
	h[11] = 0x61;
	cr_assert_eq(keel_net_csum_fold(keel_net_csum_partial(h, 20, 0)), 0);
}

Test(checksum, matches_reference_every_length_and_alignment)
{
	static uint8_t buf[2100];

	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 2048; len++) {
			uint16_t got = keel_net_csum_fold(keel_net_csum_partial(buf + off, len, 0));

			cr_assert_eq(field(got), t_csum(buf + off, len, 0), "off %zu len %zu", off,
				     len);
		}
}

Test(checksum, extremes_fold_right)
{
	static uint8_t ones[9000], zeros[64];

	memset(ones, 0xff, sizeof(ones));
	for (size_t len = 0; len < sizeof(ones); len += 97)
		cr_assert_eq(field(keel_net_csum_fold(keel_net_csum_partial(ones, len, 0))),
			     t_csum(ones, len, 0), "len %zu", len);
	/* All zero data sums to +0, whose checksum is 0xffff. */
	cr_assert_eq(keel_net_csum_fold(keel_net_csum_partial(zeros, sizeof(zeros), 0)), 0xffff);
	cr_assert_eq(keel_net_csum_fold(0), 0xffff);
	cr_assert_eq(keel_net_csum_fold(0xffff), 0);
	cr_assert_eq(keel_net_csum_fold(UINT64_MAX), 0);
	cr_assert_eq(keel_net_csum_fold(0xffffffffull), 0);
	/* A huge running sum passed back in cannot overflow. */
	cr_assert_eq(keel_net_csum_fold(keel_net_csum_partial(ones, 64, UINT64_MAX)), 0);
}

Test(checksum, running_sum_in_pieces)
{
	uint8_t buf[1000];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + 1);
	/* Splitting at even offsets gives the same sum. */
	for (size_t cut = 0; cut <= sizeof(buf); cut += 2) {
		uint64_t s = keel_net_csum_partial(buf, cut, 0);

		s = keel_net_csum_partial(buf + cut, sizeof(buf) - cut, s);
		cr_assert_eq(field(keel_net_csum_fold(s)), t_csum(buf, sizeof(buf), 0));
	}
}

Test(checksum, pseudo_header)
{
	uint8_t ip[20] = { 0 };
	uint32_t src = t_ip(10, 1, 2, 3), dst = t_ip(192, 168, 200, 201);
	uint64_t s;

	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	s = keel_net_csum_pseudo(src, dst, 17, htons(1234));
	cr_assert_eq(field(keel_net_csum_fold(s)), t_csum(NULL, 0, t_pseudo(ip, 17, 1234)));
}

Test(checksum, replace16_matches_recompute)
{
	uint8_t buf[64];

	srand(2);
	for (int round = 0; round < 200000; round++) {
		uint16_t before, after, from, to;
		size_t w = (size_t)(rand() % 32) * 2;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(round & 1 ? rand() : (rand() & 1) * 0xff);
		before = keel_net_csum_fold(keel_net_csum_partial(buf, sizeof(buf), 0));
		memcpy(&from, buf + w, 2);
		switch (round % 4) {
		case 0: to = 0; break;
		case 1: to = 0xffff; break;
		default: to = (uint16_t)rand(); break;
		}
		memcpy(buf + w, &to, 2);
		after = keel_net_csum_fold(keel_net_csum_partial(buf, sizeof(buf), 0));
		cr_assert_eq(keel_net_csum_replace16(before, from, to), after,
			     "round %d: %04x %04x->%04x", round, before, from, to);
	}
}
