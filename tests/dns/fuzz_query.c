/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the query path of examples/dns: each input is one
 * query, answered from the tests' zone over UDP (into a buffer of its own
 * and in place, which must agree) and over TCP. Besides ASan/UBSan
 * findings, invariants abort: an answer stays inside its buffer and
 * limit, carries the query's id and QR, and decodes with the tests' own
 * reader (counts match the records, pointers only go backwards, nothing
 * left over). Built with clang -fsanitize=fuzzer by tests/dns/meson.build.
 */
#include "dtest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                        \
	do {                                                                            \
		if (!(c)) {                                                             \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, \
				__LINE__);                                              \
			abort();                                                        \
		}                                                                       \
	} while (0)

static struct dns_db db;
static uint8_t out[65536 + 16], inplace[65536 + 16];
static struct t_resp r;

static void check(const uint8_t *data, size_t size, size_t n, size_t limit)
{
	CHECK(n <= limit);
	if (n == 0)
		return;
	CHECK(n >= 12 && size >= 12);
	CHECK(t_r16(out) == t_r16(data));
	CHECK(out[2] & 0x80);
	CHECK(t_parse(out, n, &r) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n, m;

	if (!db.nzones)
		CHECK(t_load(&db, t_zone) == 0);
	if (size > 65535)
		return 0;
	n = dns_answer(&db, data, size, out, sizeof(out), DNS_UDP);
	check(data, size, n, size >= 12 ? 65535 : 0);
	memcpy(inplace, data, size);
	m = dns_answer(&db, inplace, size, inplace, sizeof(inplace), DNS_UDP);
	CHECK(m == n && memcmp(inplace, out, n) == 0);
	n = dns_answer(&db, data, size, out, 512, DNS_UDP);
	check(data, size, n, 512);
	n = dns_answer(&db, data, size, out, 65535, DNS_TCP);
	check(data, size, n, 65535);
	return 0;
}
