/* SPDX-License-Identifier: MIT */
/* examples/dns/answer.c (and wire.c's query parse): what the server
 * answers, read back with the tests' own decoder (dtest.h). */
#include <criterion/criterion.h>

#include "dtest.h"

static struct dns_db db;
static uint8_t q[1024], out[70000];
static size_t qlen;
static struct t_resp r;

static void init(void)
{
	cr_assert_eq(t_load(&db, t_zone), 0);
}

static void fini(void)
{
	dns_db_free(&db);
}

TestSuite(answer, .init = init, .fini = fini);
TestSuite(malformed, .init = init, .fini = fini);

/* Answer q[0..qlen) into out (\p cap bytes); decode it into r. The same
 * query answered in place must give the same bytes. */
static size_t ask_cap(enum dns_transport tr, size_t cap)
{
	static uint8_t inplace[70000];
	size_t n = dns_answer(&db, q, qlen, out, cap, tr), m;

	memcpy(inplace, q, qlen);
	m = dns_answer(&db, inplace, qlen, inplace, cap, tr);
	cr_assert_eq(m, n, "in place: %zu bytes, apart: %zu", m, n);
	cr_assert(memcmp(inplace, out, n) == 0, "in place: the same answer");
	if (n) {
		cr_assert_leq(n, cap);
		cr_assert_eq(t_parse(out, n, &r), 0, "the answer decodes");
		cr_assert_eq(r.id, t_r16(q), "the query's id");
		cr_assert(r.flags & DNS_F_QR);
	}
	return n;
}

static size_t ask(void)
{
	return ask_cap(DNS_UDP, sizeof(out));
}

static void ask_ok(const char *name, unsigned type, unsigned rcode)
{
	qlen = t_query(q, name, type);
	cr_assert_gt(ask(), 0, "%s: an answer", name);
	cr_assert_eq(r.rcode, rcode, "%s: rcode %u, want %u", name, r.rcode, rcode);
}

/* ------------------------------------------------------------ answers */

Test(answer, a_hit_is_authoritative_and_compressed)
{
	ask_ok("www.example.com", DNS_T_A, DNS_R_NOERROR);
	cr_expect(r.flags & DNS_F_AA);
	cr_expect(r.flags & DNS_F_RD, "RD copied");
	cr_expect_eq(r.an, 2);
	cr_expect_eq(r.ns, 0);
	cr_expect_eq(r.ar, 0);
	cr_expect_eq(t_count(&r, 0, "www.example.com.", DNS_T_A), 2);
	/* Both owners are a pointer to the question's name at offset 12. */
	size_t first = 12 + 17 + 4;

	cr_expect_eq(out[first], 0xc0);
	cr_expect_eq(out[first + 1], 12);
	cr_expect_eq(r.rr[0].ttl, 3600);
	cr_expect_arr_eq(r.rr[0].rdata, ((uint8_t[]){ 192, 0, 2, 10 }), 4);
	cr_expect_arr_eq(r.rr[1].rdata, ((uint8_t[]){ 192, 0, 2, 11 }), 4);
	cr_expect_eq(qlen, 12 + 17 + 4);
	cr_expect_eq(ask(), qlen + 2 * 16, "two compressed A records: 16 bytes each");
}

Test(answer, names_compare_without_case_and_keep_it)
{
	ask_ok("WwW.ExAmPlE.CoM", DNS_T_AAAA, DNS_R_NOERROR);
	cr_expect_eq(r.an, 1);
	cr_expect(memcmp(out + 13, "WwW", 3) == 0, "the question as asked");
}

Test(answer, nxdomain_and_nodata_carry_the_soa)
{
	ask_ok("nope.example.com", DNS_T_A, DNS_R_NXDOMAIN);
	cr_expect(r.flags & DNS_F_AA);
	cr_expect_eq(r.an, 0);
	cr_expect_eq(r.ns, 1);
	cr_expect_eq(t_count(&r, 1, "example.com.", DNS_T_SOA), 1);
	cr_expect_eq(r.rr[0].ttl, 300, "min(SOA TTL, MINIMUM)");
	cr_expect_str_eq(r.rr[0].target, "ns1.example.com.");
	cr_expect(r.compressed);

	ask_ok("www.example.com", DNS_T_TXT, DNS_R_NOERROR); /* NODATA */
	cr_expect(r.flags & DNS_F_AA);
	cr_expect_eq(r.an, 0);
	cr_expect_eq(t_count(&r, 1, "example.com.", DNS_T_SOA), 1);

	ask_ok("b.c.example.com", DNS_T_A, DNS_R_NOERROR); /* empty non-terminal */
	cr_expect_eq(r.an, 0);
	cr_expect_eq(r.ns, 1);
	ask_ok("x.a.b.c.example.com", DNS_T_A, DNS_R_NXDOMAIN);
}

Test(answer, cnames_are_followed_inside_the_zone)
{
	ask_ok("chain.example.com", DNS_T_A, DNS_R_NOERROR);
	cr_assert_eq(r.an, 4);
	cr_expect_str_eq(r.rr[0].name, "chain.example.com.");
	cr_expect_str_eq(r.rr[0].target, "alias.example.com.");
	cr_expect_str_eq(r.rr[1].name, "alias.example.com.");
	cr_expect_str_eq(r.rr[1].target, "www.example.com.");
	cr_expect_eq(t_count(&r, 0, "www.example.com.", DNS_T_A), 2);

	ask_ok("alias.example.com", DNS_T_CNAME, DNS_R_NOERROR);
	cr_expect_eq(r.an, 1, "asked for the CNAME itself: not followed");

	ask_ok("outside.example.com", DNS_T_A, DNS_R_NOERROR);
	cr_expect_eq(r.an, 1, "out of the zone: the client goes on");
	cr_expect_str_eq(r.rr[0].target, "www.example.net.");

	ask_ok("dangling.example.com", DNS_T_A, DNS_R_NXDOMAIN);
	cr_expect_eq(r.an, 1, "RFC 6604: the CNAME, and the target's rcode");
	cr_expect_eq(r.ns, 1);

	ask_ok("alias.example.com", DNS_T_TXT, DNS_R_NOERROR);
	cr_expect_eq(r.an, 1);
	cr_expect_eq(t_count(&r, 1, NULL, DNS_T_SOA), 1, "NODATA at the target");

	ask_ok("loop1.example.com", DNS_T_A, DNS_R_NOERROR);
	cr_expect_leq(r.an, 8, "a loop ends");
}

Test(answer, mx_and_ns_bring_their_addresses)
{
	ask_ok("example.com", DNS_T_MX, DNS_R_NOERROR);
	cr_expect_eq(r.an, 2);
	cr_expect_eq(t_count(&r, 2, "mail.example.com.", DNS_T_A), 1);
	ask_ok("example.com", DNS_T_NS, DNS_R_NOERROR);
	cr_expect_eq(r.an, 2);
	cr_expect_eq(t_count(&r, 2, "ns1.example.com.", DNS_T_A), 1);
	cr_expect_eq(t_count(&r, 2, "ns2.example.com.", DNS_T_A), 1);
	cr_expect_eq(t_count(&r, 2, "ns2.example.com.", DNS_T_AAAA), 1);
	ask_ok("example.com", DNS_T_ANY, DNS_R_NOERROR);
	cr_expect_eq(r.an, 1 + 2 + 2 + 1, "ANY: SOA, NS, MX, A");
}

Test(answer, below_a_delegation_is_a_referral)
{
	ask_ok("www.sub.example.com", DNS_T_A, DNS_R_NOERROR);
	cr_expect_not(r.flags & DNS_F_AA, "a referral is not authoritative");
	cr_expect_eq(r.an, 0);
	cr_expect_eq(t_count(&r, 1, "sub.example.com.", DNS_T_NS), 1);
	cr_expect_eq(t_count(&r, 2, "ns.sub.example.com.", DNS_T_A), 1, "glue");
}

Test(answer, refused_outside_the_zones)
{
	ask_ok("www.example.org", DNS_T_A, DNS_R_REFUSED);
	cr_expect_not(r.flags & DNS_F_AA);
	cr_expect_eq(r.qd, 1, "the question is echoed");
	cr_expect_eq(r.an + r.ns + r.ar, 0);
	ask_ok("com", DNS_T_A, DNS_R_REFUSED);
	qlen = t_query(q, "www.example.com", DNS_T_A);
	t_w16(q + qlen - 2, 3); /* class CH */
	cr_assert_gt(ask(), 0);
	cr_expect_eq(r.rcode, DNS_R_REFUSED);
	ask_ok("example.com", DNS_T_AXFR, DNS_R_REFUSED);
	ask_ok("example.com", 254, DNS_R_NOTIMP); /* MAILA */
}

Test(answer, edns_echoes_the_client_and_sets_the_size)
{
	qlen = t_query_full(q, 7, "www.example.com", DNS_T_A, 4096, 0, 1);
	cr_assert_gt(ask(), 0);
	cr_expect_eq(r.rcode, 0);
	cr_expect_eq(r.an, 2);
	cr_expect_eq(r.ar, 1);
	cr_expect(r.edns);
	cr_expect_eq(r.edns_size, DNS_EDNS_SIZE);
	cr_expect_eq(r.edns_do, 1, "DO echoed");

	qlen = t_query_full(q, 7, "www.example.com", DNS_T_A, 4096, 1, 0);
	cr_assert_gt(ask(), 0);
	cr_expect_eq(r.rcode | r.edns_ext_rcode << 4, DNS_R_BADVERS);
	cr_expect_eq(r.an, 0);

	qlen = t_query(q, "www.example.com", DNS_T_A);
	cr_assert_gt(ask(), 0);
	cr_expect_not(r.edns, "no OPT without one in the query");
}

Test(answer, truncation_sets_tc_and_tcp_gets_everything)
{
	qlen = t_query(q, "big.example.com", DNS_T_TXT);
	cr_assert_gt(ask(), 0);
	cr_expect(r.flags & DNS_F_TC, "6 x 101 bytes do not fit in 512");
	cr_expect_eq(r.an, 0);
	cr_expect_eq(r.rcode, 0);

	cr_assert_gt(ask_cap(DNS_TCP, sizeof(out)), 512);
	cr_expect_not(r.flags & DNS_F_TC);
	cr_expect_eq(r.an, 6);

	qlen = t_query_full(q, 9, "big.example.com", DNS_T_TXT, 1232, 0, 0);
	cr_assert_gt(ask(), 512, "the client's EDNS size");
	cr_expect_not(r.flags & DNS_F_TC);
	cr_expect_eq(r.an, 6);
	cr_expect(r.edns);

	qlen = t_query_full(q, 9, "big.example.com", DNS_T_TXT, 600, 0, 0);
	cr_assert_leq(ask(), 600);
	cr_expect(r.flags & DNS_F_TC);
	cr_expect(r.edns, "the OPT fits even in a truncated answer");

	/* The buffer smaller than the client's size: the buffer wins. */
	qlen = t_query_full(q, 9, "big.example.com", DNS_T_TXT, 4096, 0, 0);
	cr_assert_leq(ask_cap(DNS_UDP, 300), 300);
	cr_expect(r.flags & DNS_F_TC);

	/* Additional records that do not fit are left out, without TC. */
	qlen = t_query(q, "example.com", DNS_T_NS);
	size_t full = ask();

	cr_assert_gt(r.ar, 0);
	cr_assert_gt(ask_cap(DNS_UDP, full - 1), 0);
	cr_expect_not(r.flags & DNS_F_TC);
	cr_expect_eq(r.an, 2);
	cr_expect_lt(r.ar, 3);
}

Test(answer, no_room_for_the_question_means_no_answer)
{
	qlen = t_query(q, "www.example.com", DNS_T_A);
	cr_expect_eq(ask_cap(DNS_UDP, qlen - 1), 0);
	cr_expect_eq(ask_cap(DNS_UDP, 11), 0);
}

/* ---------------------------------------------------------- malformed */

/* A query must get FORMERR (\p rcode) with only the header, or nothing
 * (\p rcode < 0). */
static void expect(int rcode, const char *what)
{
	size_t n = ask();

	if (rcode < 0) {
		cr_expect_eq(n, 0, "%s: silence", what);
		return;
	}
	cr_assert_eq(n, 12, "%s: the header alone (%zu bytes)", what, n);
	cr_expect_eq(r.rcode, (unsigned)rcode, "%s: rcode %u", what, r.rcode);
	cr_expect_eq(r.qd + r.an + r.ns + r.ar, 0);
}

Test(malformed, truncated_headers_get_silence)
{
	qlen = t_query(q, "www.example.com", DNS_T_A);
	for (qlen = 0; qlen < 12; qlen++)
		expect(-1, "short header");
}

Test(malformed, truncated_questions)
{
	size_t full = t_query(q, "www.example.com", DNS_T_A);

	for (qlen = 12; qlen < full; qlen++)
		expect(DNS_R_FORMERR, "truncated question");
}

Test(malformed, responses_are_never_answered)
{
	qlen = t_query(q, "www.example.com", DNS_T_A);
	q[2] |= 0x80;
	expect(-1, "QR set");
}

Test(malformed, qdcount_other_than_one)
{
	qlen = t_query(q, "www.example.com", DNS_T_A);
	t_w16(q + 4, 0);
	expect(DNS_R_FORMERR, "qdcount 0");
	t_w16(q + 4, 2);
	expect(DNS_R_FORMERR, "qdcount 2");
	t_w16(q + 4, 1);
	t_w16(q + 6, 1);
	expect(DNS_R_FORMERR, "ancount 1");
}

Test(malformed, other_opcodes_are_notimp)
{
	qlen = t_query(q, "www.example.com", DNS_T_A);
	q[2] = (uint8_t)(q[2] | 5 << 3); /* UPDATE */
	expect(DNS_R_NOTIMP, "opcode 5");
	cr_expect_eq((r.flags >> 11) & 0xf, 5, "the opcode echoed");
}

Test(malformed, compression_pointers_in_the_question)
{
	/* A pointer to itself (a loop), forward, and into the header. */
	static const uint8_t names[][8] = {
		{ 0xc0, 12 },
		{ 3, 'w', 'w', 'w', 0xc0, 12 },
		{ 0xc0, 20 },
		{ 0xc0, 0 },
		{ 0x80, 1, 'x', 0 }, /* a reserved label kind */
		{ 0x40, 1, 'x', 0 }, /* EDNS0 extended label (obsolete) */
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memset(q, 0, 12);
		t_w16(q, 0x4242);
		t_w16(q + 4, 1);
		memcpy(q + 12, names[i], 8);
		memset(q + 20, 1, 4); /* type and class */
		qlen = 24;
		expect(DNS_R_FORMERR, "pointer or reserved label");
	}
}

Test(malformed, labels_over_63_and_names_over_255)
{
	size_t n = 12;

	memset(q, 0, sizeof(q));
	t_w16(q + 4, 1);
	q[n++] = 64;
	memset(q + n, 'a', 64);
	n += 64;
	q[n++] = 0;
	n += 4;
	qlen = n;
	expect(DNS_R_FORMERR, "label of 64");

	/* 4 labels of 63 bytes: 256 bytes with the root */
	n = 12;
	for (int i = 0; i < 4; i++) {
		q[n++] = 63;
		memset(q + n, 'a', 63);
		n += 63;
	}
	q[n++] = 0;
	t_w16(q + n, DNS_T_A);
	t_w16(q + n + 2, DNS_C_IN);
	qlen = n + 4;
	expect(DNS_R_FORMERR, "a name of 257 bytes");
	/* 3 x 63 + 62 = 255 with the root: allowed (REFUSED: not ours) */
	q[12 + 3 * 64] = 61;
	memmove(q + 12 + 3 * 64 + 62, q + 12 + 3 * 64 + 64, 5);
	qlen -= 2;
	cr_assert_gt(ask(), 12);
	cr_expect_eq(r.rcode, DNS_R_REFUSED);
}

Test(malformed, trailing_junk)
{
	qlen = t_query(q, "www.example.com", DNS_T_A);
	q[qlen++] = 0;
	expect(DNS_R_FORMERR, "a byte after the question");
	qlen = t_query_full(q, 1, "www.example.com", DNS_T_A, 1232, 0, 0);
	memcpy(q + qlen, "junk", 4);
	qlen += 4;
	expect(DNS_R_FORMERR, "bytes after the OPT");
}

Test(malformed, bad_opt_records)
{
	size_t base = t_query_full(q, 1, "www.example.com", DNS_T_A, 1232, 0, 0);

	/* Two OPT records. */
	memcpy(q + base, q + base - 11, 11);
	t_w16(q + 10, 2);
	qlen = base + 11;
	expect(DNS_R_FORMERR, "two OPTs");
	/* An OPT not owned by the root (a pointer to the qname). */
	qlen = t_query_full(q, 1, "www.example.com", DNS_T_A, 1232, 0, 0);
	memmove(q + qlen - 10, q + qlen - 11, 11);
	q[qlen - 11] = 0xc0;
	q[qlen - 10] = 12;
	qlen++;
	expect(DNS_R_FORMERR, "OPT owner not the root");
	/* An option longer than the RDATA. */
	qlen = t_query_full(q, 1, "www.example.com", DNS_T_A, 1232, 0, 0);
	t_w16(q + qlen - 2, 4);
	memcpy(q + qlen, "\x00\x0a\x00\x08", 4);
	qlen += 4;
	expect(DNS_R_FORMERR, "option overruns");
	/* RDLENGTH past the end. */
	qlen = t_query_full(q, 1, "www.example.com", DNS_T_A, 1232, 0, 0);
	t_w16(q + qlen - 2, 100);
	expect(DNS_R_FORMERR, "RDLENGTH overruns");
	/* arcount 1, nothing there. */
	qlen = t_query(q, "www.example.com", DNS_T_A);
	t_w16(q + 10, 1);
	expect(DNS_R_FORMERR, "a missing additional record");
	/* An OPT asked as a question type. */
	qlen = t_query(q, "www.example.com", DNS_T_OPT);
	cr_assert_gt(ask(), 0);
	cr_expect_eq(r.rcode, DNS_R_FORMERR);
}

Test(malformed, a_tiny_edns_size_means_512)
{
	qlen = t_query_full(q, 1, "big.example.com", DNS_T_TXT, 1, 0, 0);
	cr_assert_gt(ask(), 0);
	cr_expect(r.flags & DNS_F_TC);
}

/* Every prefix and every single-byte change of a few queries: an answer
 * that decodes, or silence; never a crash (ASan watches the rest). */
Test(malformed, every_prefix_and_byte_flip)
{
	static const char *names[] = { "www.example.com", "chain.example.com", "nope.example.com",
				       "example.com", "big.example.com" };
	static uint8_t orig[512];

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		size_t len = t_query_full(orig, 3, names[k], k == 3 ? DNS_T_MX : DNS_T_A,
					  k & 1 ? 1232 : 0, 0, 0);

		for (qlen = 0; qlen <= len; qlen++) {
			memcpy(q, orig, qlen);
			ask();
		}
		for (size_t i = 0; i < len; i++)
			for (unsigned v = 0; v < 256; v += 17) {
				memcpy(q, orig, len);
				q[i] = (uint8_t)v;
				qlen = len;
				ask();
			}
	}
}
