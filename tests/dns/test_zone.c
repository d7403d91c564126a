/* SPDX-License-Identifier: MIT */
/* examples/dns/zone.c: the master-file parser (RFC 1035 section 5) and
 * the database it builds. */
#include <criterion/criterion.h>

#include "dtest.h"

static struct dns_db db;

static void fini(void)
{
	dns_db_free(&db);
}

TestSuite(zone, .fini = fini);

static const struct dns_node *find(unsigned zone, const char *text)
{
	uint8_t n[DNS_NAME_MAX];
	size_t len = t_name(n, text);

	return dns_db_find(&db, zone, n, len);
}

/* The RRset of \p type at \p name; its count and its first RDATA. */
static const struct dns_rrset *rrset(const char *name, unsigned type,
				     const uint8_t **rd, size_t *rdlen)
{
	const struct dns_node *n = find(0, name);
	const struct dns_rrset *s;

	cr_assert_not_null(n, "%s is a node", name);
	s = dns_node_rrset(&db, n, (uint16_t)type);
	if (s && rd) {
		*rd = db.arena + s->rdata + 2;
		*rdlen = t_r16(db.arena + s->rdata);
	}
	return s;
}

/* Parse \p text, expecting failure whose message contains \p what. */
static void bad(const char *text, const char *what)
{
	char err[256];
	struct dns_db d = { 0 };
	int rc = dns_zone_parse(&d, text, strlen(text), err, sizeof(err));

	cr_expect_eq(rc, -EINVAL, "rejected: %s", text);
	cr_expect(strstr(err, what) != NULL, "message '%s' says '%s'", err, what);
	dns_db_free(&d);
}

Test(zone, the_test_zone)
{
	const struct dns_rrset *s;
	const uint8_t *rd;
	size_t len;

	cr_assert_eq(t_load(&db, t_zone), 0);
	cr_assert_eq(db.nzones, 1);
	s = rrset("www.example.com", DNS_T_A, &rd, &len);
	cr_assert_not_null(s);
	cr_expect_eq(s->count, 2, "the owner carries over to blank-started lines");
	cr_expect_eq(s->ttl, 3600, "$TTL");
	cr_assert_eq(len, 4);
	cr_expect_arr_eq(rd, ((uint8_t[]){ 192, 0, 2, 10 }), 4);
	s = rrset("www.example.com", DNS_T_AAAA, &rd, &len);
	cr_assert_not_null(s);
	cr_expect_eq(len, 16);
	cr_expect_eq(rd[0], 0x20);
	cr_expect_eq(rd[15], 0x10);
	s = rrset("ns2.example.com", DNS_T_A, NULL, NULL);
	cr_expect_eq(s->ttl, 300, "TTL before class");
	s = rrset("ns2.example.com", DNS_T_AAAA, NULL, NULL);
	cr_expect_eq(s->ttl, 300, "TTL after class");
	s = rrset("mail.example.com", DNS_T_A, NULL, NULL);
	cr_expect_eq(s->ttl, 3600, "1h is 3600 s");

	/* The SOA across parentheses and comments; relative names. */
	s = rrset("example.com", DNS_T_SOA, &rd, &len);
	cr_assert_not_null(s);
	uint8_t want[64];
	size_t w = t_name(want, "ns1.example.com");

	w += t_name(want + w, "hostmaster.example.com");
	cr_assert_eq(len, w + 20);
	cr_expect_arr_eq(rd, want, w);
	cr_expect_eq(t_r16(rd + w) << 16 | t_r16(rd + w + 2), 2026120201u, "serial");
	cr_expect_eq(t_r16(rd + w + 16) << 16 | t_r16(rd + w + 18), 300u, "minimum");
	cr_expect_eq(db.zones[0].min_ttl, 300, "negative TTL: min(SOA TTL, MINIMUM)");

	/* MX: preference, then a relative or an absolute name. */
	s = rrset("example.com", DNS_T_MX, &rd, &len);
	cr_assert_eq(s->count, 2);
	cr_expect_eq(t_r16(rd), 10);
	w = t_name(want, "mail.example.com");
	cr_expect_arr_eq(rd + 2, want, w);

	/* TXT: several strings; ';' inside quotes is not a comment. */
	s = rrset("txt.example.com", DNS_T_TXT, &rd, &len);
	cr_assert_not_null(s);
	cr_assert_eq(len, 1 + 11 + 1 + 10);
	cr_expect_eq(rd[0], 11);
	cr_expect(memcmp(rd + 1, "hello world", 11) == 0);
	cr_expect_eq(rd[12], 10);
	cr_expect(memcmp(rd + 13, "semi;colon", 10) == 0);

	/* Empty non-terminals are nodes, without RRsets. */
	cr_expect_not_null(find(0, "b.c.example.com"));
	cr_expect_not_null(find(0, "c.example.com"));
	cr_expect_eq(find(0, "c.example.com")->rrsets, 0);
	cr_expect_null(find(0, "d.example.com"));
	/* The delegation. */
	cr_expect_eq(find(0, "sub.example.com")->cut, 1);
	cr_expect_eq(find(0, "example.com")->cut, 0, "the apex's NS is no cut");
	cr_expect(db.zones[0].has_cuts);
}

Test(zone, names_origin_escapes_case)
{
	static const char text[] =
		"$TTL 60\n"
		"$ORIGIN Example.ORG.\n"
		"@ SOA ns hm 1 2 3 4 5\n"
		"  NS ns\n"
		"$ORIGIN sub.example.org.\n"
		"x A 192.0.2.1 ; x.sub.example.org.\n"
		"dot\\.ted.example.org. A 192.0.2.2\n"
		"\\065bc A 192.0.2.3\n"
		"$ORIGIN example.org.\n"
		"tab\t60\tIN\tA\t192.0.2.4\n"
		"y ( A\n"
		"   192.0.2.5 )\n"
		"z.example.org. 1w2d3h4m5s TXT unquoted \"\\\"q\\\"\" \"\\\\\"\n";
	const struct dns_node *n;
	const struct dns_rrset *s;

	cr_assert_eq(t_load(&db, text), 0);
	cr_expect_not_null(find(0, "x.sub.example.org"), "$ORIGIN changes mid-file");
	cr_expect_not_null(find(0, "abc.sub.example.org"), "\\065 is 'A', lower-cased");
	cr_expect_not_null(find(0, "tab.example.org"));
	cr_expect_not_null(find(0, "y.example.org"), "parentheses across lines");
	/* "dot.ted" is one label */
	{
		uint8_t w[64] = { 7, 'd', 'o', 't', '.', 't', 'e', 'd' };
		size_t l = 8 + t_name(w + 8, "example.org");

		cr_expect_not_null(dns_db_find(&db, 0, w, l), "an escaped dot stays in its label");
	}
	n = find(0, "z.example.org");
	cr_assert_not_null(n);
	s = dns_node_rrset(&db, n, DNS_T_TXT);
	cr_assert_not_null(s);
	cr_expect_eq(s->ttl, 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
	cr_expect_eq(t_r16(db.arena + s->rdata), 9 + 4 + 2);
	cr_expect(memcmp(db.arena + s->rdata + 2, "\x08unquoted\x03\"q\"\x01\\", 15) == 0);
	/* No TTL on the SOA but $TTL: 60. */
	cr_expect_eq(dns_node_rrset(&db, find(0, "example.org"), DNS_T_SOA)->ttl, 60);
}

Test(zone, two_zones_and_the_longest_match)
{
	static const char parent[] = "$ORIGIN example.com.\n$TTL 1\n@ SOA a b 1 2 3 4 5\n";
	static const char child[] = "$ORIGIN sub.example.com.\n$TTL 1\n@ SOA a b 1 2 3 4 5\n";
	uint8_t n[DNS_NAME_MAX];

	cr_assert_eq(t_load(&db, parent), 0);
	cr_assert_eq(t_load(&db, child), 0);
	cr_assert_eq(db.nzones, 2);
	t_name(n, "www.sub.example.com");
	cr_expect_eq(dns_db_zone_of(&db, n), 1);
	t_name(n, "www.example.com");
	cr_expect_eq(dns_db_zone_of(&db, n), 0);
	t_name(n, "example.net");
	cr_expect_eq(dns_db_zone_of(&db, n), -1);
	t_name(n, "xexample.com");
	cr_expect_eq(dns_db_zone_of(&db, n), -1, "on label boundaries only");
	{
		char err[128];

		cr_expect_eq(dns_zone_parse(&db, parent, strlen(parent), err, sizeof(err)),
			     -EINVAL);
		cr_expect(strstr(err, "twice") != NULL);
	}
}

Test(zone, duplicates_are_one_record)
{
	static const char text[] = "$ORIGIN e.\n$TTL 1\n@ SOA a b 1 2 3 4 5\n"
				   "x A 192.0.2.1\nx A 192.0.2.1\nx A 192.0.2.2\n";

	cr_assert_eq(t_load(&db, text), 0);
	cr_expect_eq(dns_node_rrset(&db, find(0, "x.e"), DNS_T_A)->count, 2);
}

#define SOA "$ORIGIN e.\n$TTL 1\n@ SOA a b 1 2 3 4 5\n"

Test(zone, errors_name_their_line)
{
	bad("$TTL 1\nx.e. A 192.0.2.1\n", "line 2: the first record must be the zone's SOA");
	bad(SOA "x.f. A 192.0.2.1\n", "line 4: 'x.f.' is outside the zone");
	bad(SOA "x CNAME y\nx A 192.0.2.1\n", "CNAME and other data");
	bad(SOA "x CNAME y\nx CNAME z\n", "two CNAMEs");
	bad(SOA "x A 192.0.2.300\n", "bad address");
	bad(SOA "x AAAA 192.0.2.1\n", "bad address");
	bad(SOA "x A 192.0.2.1 1\n", "RDATA fields");
	bad(SOA "x MX mail\n", "RDATA fields");
	bad(SOA "x MX 70000 mail\n", "MX preference");
	bad(SOA "x SRV 0 0 1 y\n", "unsupported type");
	bad(SOA "x CH A 192.0.2.1\n", "class IN");
	bad(SOA "x A\n", "fields");
	bad(SOA "x\n", "no type");
	bad(SOA "x TXT \"open\n", "unterminated string");
	bad(SOA "x A ( 192.0.2.1\n", "inside parentheses");
	bad(SOA "x A 192.0.2.1 )\n", "without '('");
	bad(SOA "$INCLUDE other.zone\n", "unsupported directive");
	bad(SOA "$TTL\n", "$TTL takes");
	bad(SOA "@ SOA a b 1 2 3 4 5\n", "a second SOA");
	bad(SOA "x..y A 192.0.2.1\n", "bad label");
	bad(SOA "x\\99 A 192.0.2.1\n", "bad name");
	bad("@ SOA a b 1 2 3 4 5\n", "'@' with no $ORIGIN");
	bad("x.e. 1 SOA a b 1 2 3 4 5\n", "relative name 'a' with no $ORIGIN");
	bad(SOA "  A 192.0.2.1\n" "x 1q A 192.0.2.1\n", "line 5");
	bad("", "no records");
	bad("; only a comment\n\n", "no records");
	bad(SOA "x SOA a b 1 2 3 4\n", "RDATA fields");
	bad(SOA "x SOA a b 1 2 x 4 5\n", "bad SOA number");
	bad(SOA "x TXT \"" "0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789012345678901234567890123456789\"\n",
	    "too long");
}

Test(zone, labels_over_63_and_names_over_255)
{
	char text[1024], label[70];

	memset(label, 'a', 64);
	label[64] = 0;
	snprintf(text, sizeof(text), SOA "%s A 192.0.2.1\n", label);
	bad(text, "bad label");
	label[63] = 0;
	snprintf(text, sizeof(text), SOA "%s A 192.0.2.1\n", label);
	cr_expect_eq(t_load(&db, text), 0, "63 is fine");
	/* 4 x 63-byte labels + "e.": 4 * 64 + 2 + 1 = 259 bytes */
	snprintf(text, sizeof(text), SOA "%s.%s.%s.%s A 192.0.2.1\n", label, label, label, label);
	bad(text, "too long");
}
