/* SPDX-License-Identifier: MIT */
/*
 * What the dns tests and the fuzz target share: the test zone, a query
 * builder and a response reader written apart from examples/dns (the
 * reader follows compression pointers itself, with a bound), so that the
 * server is never only checked against its own code.
 */
#ifndef KEEL_TESTS_DNS_TEST_H
#define KEEL_TESTS_DNS_TEST_H

#include "dns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The zone of the unit tests (tests/dns/example.zone is the integration
 * test's and the benchmark's; this one is small and inline). */
static const char t_zone[] =
	"$ORIGIN example.com.\n"
	"$TTL 3600\n"
	"@ IN SOA ns1 hostmaster (\n"
	"        2026120201 ; serial\n"
	"        7200 900 1209600\n"
	"        300 )      ; minimum\n"
	"  IN NS ns1\n"
	"  IN NS ns2.example.com.\n"
	"  IN MX 10 mail\n"
	"  IN MX 20 mail.example.net.\n"
	"  IN A 192.0.2.1\n"
	"ns1 IN A 192.0.2.53\n"
	"ns2 300 IN A 192.0.2.54\n"
	"ns2 IN 300 AAAA 2001:db8::54\n"
	"www IN A 192.0.2.10\n"
	"    IN A 192.0.2.11\n"
	"    IN AAAA 2001:db8::10\n"
	"mail 1h IN A 192.0.2.25\n"
	"alias IN CNAME www\n"
	"chain IN CNAME alias.example.com.\n"
	"outside IN CNAME www.example.net.\n"
	"dangling IN CNAME nothing\n"
	"loop1 IN CNAME loop2\n"
	"loop2 IN CNAME loop1\n"
	"a.b.c IN A 192.0.2.99\n"
	"txt IN TXT \"hello world\" \"semi;colon\"\n"
	"sub IN NS ns.sub\n"
	"ns.sub IN A 192.0.2.77\n"
	"big IN TXT \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"    IN TXT \"1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"    IN TXT \"2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"    IN TXT \"3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"    IN TXT \"4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"\n"
	"    IN TXT \"5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"\n";

static inline int t_load(struct dns_db *db, const char *text)
{
	char err[256];
	int rc = dns_zone_parse(db, text, strlen(text), err, sizeof(err));

	if (rc < 0)
		fprintf(stderr, "zone: %s\n", err);
	return rc;
}

static inline void t_w16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline unsigned t_r16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* "www.example.com" (dots only between labels) into wire form. */
static inline size_t t_name(uint8_t *out, const char *text)
{
	size_t o = 0;

	while (*text) {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);

		out[o++] = (uint8_t)l;
		memcpy(out + o, text, l);
		o += l;
		text += l + (dot ? 1 : 0);
	}
	out[o++] = 0;
	return o;
}

/* A query: header (id, RD), one question; an OPT record when
 * \p edns_size > 0 (version \p edns_version, DO when \p dnssec_ok). */
static inline size_t t_query_full(uint8_t *buf, unsigned id, const char *name,
				  unsigned type, int edns_size, unsigned edns_version,
				  int dnssec_ok)
{
	size_t n = 12;

	memset(buf, 0, 12);
	t_w16(buf, id);
	t_w16(buf + 2, DNS_F_RD);
	t_w16(buf + 4, 1);
	n += t_name(buf + n, name);
	t_w16(buf + n, type);
	t_w16(buf + n + 2, DNS_C_IN);
	n += 4;
	if (edns_size > 0) {
		t_w16(buf + 10, 1);
		buf[n] = 0;
		t_w16(buf + n + 1, DNS_T_OPT);
		t_w16(buf + n + 3, (unsigned)edns_size);
		buf[n + 5] = 0;
		buf[n + 6] = (uint8_t)edns_version;
		t_w16(buf + n + 7, dnssec_ok ? 0x8000u : 0);
		t_w16(buf + n + 9, 0);
		n += 11;
	}
	return n;
}

static inline size_t t_query(uint8_t *buf, const char *name, unsigned type)
{
	return t_query_full(buf, 0x1234, name, type, 0, 0, 0);
}

/* A decoded response. */
struct t_rr {
	char name[300];
	unsigned type, class_, ttl, rdlen, section; /* 0 answer, 1 authority, 2 additional */
	const uint8_t *rdata;
	size_t rdata_off;
	char target[300]; /* NS, CNAME, MX: the name in the RDATA, decoded */
};

struct t_resp {
	unsigned id, flags, rcode, qd, an, ns, ar;
	char qname[300];
	unsigned qtype;
	unsigned nrr;
	struct t_rr rr[64];
	int edns;		/* an OPT record was there */
	unsigned edns_size, edns_ext_rcode, edns_do;
	int compressed;		/* some name used a pointer */
};

/* Read the name at \p *off into dotted text, following pointers (only
 * backwards, at most 64). \return 0, -1 when malformed. */
static inline int t_read_name(const uint8_t *m, size_t len, size_t *off, char *out,
			      int *compressed)
{
	size_t p = *off, o = 0;
	int jumps = 0, jumped = 0;

	out[0] = 0;
	for (;;) {
		unsigned l;

		if (p >= len)
			return -1;
		l = m[p];
		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (p + 1 >= len || ++jumps > 64)
				return -1;
			to = (l & 0x3f) << 8 | m[p + 1];
			if (to >= p)
				return -1;
			if (!jumped)
				*off = p + 2;
			jumped = 1;
			if (compressed)
				*compressed = 1;
			p = to;
			continue;
		}
		if (l > 63 || p + 1 + l > len || o + l + 2 > 290)
			return -1;
		if (l == 0) {
			if (!jumped)
				*off = p + 1;
			if (o == 0)
				strcpy(out, ".");
			else
				out[o] = 0;
			return 0;
		}
		for (unsigned k = 0; k < l; k++) {
			char c = (char)m[p + 1 + k];

			out[o++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		out[o++] = '.';
		p += 1 + l;
	}
}

/* Decode a whole response; \return 0, or -1 when it is malformed (a
 * count that does not match the records, a bad name, bytes left over). */
static inline int t_parse(const uint8_t *m, size_t len, struct t_resp *r)
{
	size_t off = 12;

	memset(r, 0, sizeof(*r));
	if (len < 12)
		return -1;
	r->id = t_r16(m);
	r->flags = t_r16(m + 2);
	r->rcode = r->flags & 0xf;
	r->qd = t_r16(m + 4);
	r->an = t_r16(m + 6);
	r->ns = t_r16(m + 8);
	r->ar = t_r16(m + 10);
	if (r->qd > 1)
		return -1;
	if (r->qd == 1) {
		if (t_read_name(m, len, &off, r->qname, &r->compressed) < 0 || off + 4 > len)
			return -1;
		r->qtype = t_r16(m + off);
		off += 4;
	}
	for (unsigned i = 0; i < r->an + r->ns + r->ar; i++) {
		struct t_rr *rr = &r->rr[r->nrr];

		if (r->nrr == 64)
			return -1;
		if (t_read_name(m, len, &off, rr->name, &r->compressed) < 0 || off + 10 > len)
			return -1;
		rr->type = t_r16(m + off);
		rr->class_ = t_r16(m + off + 2);
		rr->ttl = (unsigned)t_r16(m + off + 4) << 16 | t_r16(m + off + 6);
		rr->rdlen = t_r16(m + off + 8);
		rr->section = i < r->an ? 0 : i < r->an + r->ns ? 1 : 2;
		off += 10;
		if (off + rr->rdlen > len)
			return -1;
		rr->rdata = m + off;
		rr->rdata_off = off;
		if (rr->type == DNS_T_NS || rr->type == DNS_T_CNAME || rr->type == DNS_T_MX) {
			size_t t = off + (rr->type == DNS_T_MX ? 2 : 0);

			if (t_read_name(m, off + rr->rdlen, &t, rr->target, &r->compressed) < 0 ||
			    t != off + rr->rdlen)
				return -1;
		}
		if (rr->type == DNS_T_SOA) {
			size_t t = off;
			char a[300];

			if (t_read_name(m, len, &t, rr->target, &r->compressed) < 0 ||
			    t_read_name(m, len, &t, a, &r->compressed) < 0 ||
			    t + 20 != off + rr->rdlen)
				return -1;
		}
		if (rr->type == DNS_T_OPT) {
			r->edns = 1;
			r->edns_size = rr->class_;
			r->edns_ext_rcode = rr->ttl >> 24;
			r->edns_do = (rr->ttl >> 15) & 1;
		}
		off += rr->rdlen;
		r->nrr++;
	}
	return off == len ? 0 : -1;
}

/* The number of records of \p type named \p name in \p section. */
static inline unsigned t_count(const struct t_resp *r, unsigned section,
			       const char *name, unsigned type)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->nrr; i++)
		n += r->rr[i].section == section && r->rr[i].type == type &&
		     (!name || strcmp(r->rr[i].name, name) == 0);
	return n;
}

#endif /* KEEL_TESTS_DNS_TEST_H */
