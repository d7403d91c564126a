/* SPDX-License-Identifier: MIT */
/*
 * Reading a query off the wire. Everything from the network is checked
 * before it is trusted: a query is a 12-byte header, exactly one question
 * whose name has no compression pointer (nothing precedes it to point
 * to, so a pointer there is a loop or a forward jump), and optionally
 * one EDNS0 OPT record in the additional section; nothing after that.
 */
#include "dns.h"

#include <stdio.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

int dns_name_parse(const uint8_t *p, size_t len, uint8_t *out)
{
	size_t i = 0;

	for (;;) {
		unsigned l;

		if (i >= len)
			return -1;
		l = p[i];
		if (l == 0)
			break;
		if (l > DNS_LABEL_MAX) /* a pointer, or a reserved label kind */
			return -1;
		if (i + 1 + l >= DNS_NAME_MAX || i + 1 + l >= len)
			return -1; /* too long, or no room for the root after */
		out[i] = (uint8_t)l;
		for (unsigned k = 1; k <= l; k++)
			out[i + k] = lower(p[i + k]);
		i += 1 + l;
	}
	out[i] = 0;
	return (int)(i + 1);
}

size_t dns_name_len(const uint8_t *n)
{
	size_t i = 0;

	while (n[i])
		i += 1u + n[i];
	return i + 1;
}

unsigned dns_name_labels(const uint8_t *n)
{
	unsigned k = 0;

	for (size_t i = 0; n[i]; i += 1u + n[i])
		k++;
	return k;
}

int dns_name_is_under(const uint8_t *sub, const uint8_t *apex)
{
	size_t ls = dns_name_len(sub), la = dns_name_len(apex), i = 0;

	if (la > ls)
		return 0;
	/* The suffix must start on a label boundary of sub. */
	while (ls - i > la)
		i += 1u + sub[i];
	return ls - i == la && memcmp(sub + i, apex, la) == 0;
}

char *dns_name_format(const uint8_t *n, char *buf, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return buf;
	if (!n[0])
		snprintf(buf, cap, ".");
	for (size_t i = 0; n[i] && o < cap; i += 1u + n[i]) {
		for (unsigned k = 1; k <= n[i] && o + 5 < cap; k++) {
			uint8_t c = n[i + k];

			if (c == '.' || c == '\\')
				o += (size_t)snprintf(buf + o, cap - o, "\\%c", c);
			else if (c > 32 && c < 127)
				buf[o++] = (char)c;
			else
				o += (size_t)snprintf(buf + o, cap - o, "\\%03u", c);
		}
		if (o + 1 < cap)
			buf[o++] = '.';
		buf[o < cap ? o : cap - 1] = 0;
	}
	return buf;
}

/* Skip a record's owner name (pointers allowed, only backwards, not
 * followed). \return the offset after it, or 0 when malformed. */
static size_t skip_name(const uint8_t *msg, size_t len, size_t off)
{
	size_t start = off, total = 0;

	for (;;) {
		unsigned l;

		if (off >= len)
			return 0;
		l = msg[off];
		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0) {
			if (off + 1 >= len || (size_t)((l & 0x3f) << 8 | msg[off + 1]) >= start)
				return 0;
			return off + 2;
		}
		if (l > DNS_LABEL_MAX)
			return 0;
		total += 1 + l;
		if (total >= DNS_NAME_MAX)
			return 0;
		off += 1 + l;
	}
}

/* The OPT record's RDATA: options of {code, length, data}, exactly. */
static int opt_options_ok(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (len - i < 4 || rd16(p + i + 2) > len - i - 4)
			return 0;
		i += 4u + rd16(p + i + 2);
	}
	return 1;
}

enum dns_parse dns_query_parse(const uint8_t *msg, size_t len,
			       struct dns_query *q)
{
	size_t off;
	unsigned ar;
	int n;

	memset(q, 0, offsetof(struct dns_query, qname));
	q->qname_len = q->question_len = 0;
	q->edns = q->edns_version = q->edns_do = 0;
	q->edns_size = 512;
	if (len < DNS_HDR_LEN)
		return DNS_PARSE_DROP;
	q->id = rd16(msg);
	q->flags = rd16(msg + 2);
	if (q->flags & DNS_F_QR)
		return DNS_PARSE_DROP; /* a response: never answer one */
	if (DNS_OPCODE(q->flags) != 0)
		return DNS_PARSE_NOTIMP;
	if (rd16(msg + 4) != 1 || rd16(msg + 6) != 0 || rd16(msg + 8) != 0)
		return DNS_PARSE_FORMERR; /* one question, no answers */
	n = dns_name_parse(msg + DNS_HDR_LEN, len - DNS_HDR_LEN, q->qname);
	if (n < 0 || len - DNS_HDR_LEN - (size_t)n < 4)
		return DNS_PARSE_FORMERR;
	q->qname_len = (uint16_t)n;
	off = DNS_HDR_LEN + (size_t)n;
	q->qtype = rd16(msg + off);
	q->qclass = rd16(msg + off + 2);
	off += 4;
	q->question_len = (uint16_t)(off - DNS_HDR_LEN);

	for (ar = rd16(msg + 10); ar > 0; ar--) {
		size_t name = off;
		uint16_t type, rdlen;

		off = skip_name(msg, len, off);
		if (off == 0 || len - off < 10)
			return DNS_PARSE_FORMERR;
		type = rd16(msg + off);
		rdlen = rd16(msg + off + 8);
		if (len - off - 10 < rdlen)
			return DNS_PARSE_FORMERR;
		if (type == DNS_T_OPT) {
			/* RFC 6891 6.1.1: one OPT, owned by the root. */
			if (q->edns || msg[name] != 0 ||
			    !opt_options_ok(msg + off + 10, rdlen))
				return DNS_PARSE_FORMERR;
			q->edns = 1;
			q->edns_size = rd16(msg + off + 2);
			if (q->edns_size < 512)
				q->edns_size = 512;
			q->edns_version = msg[off + 5];
			q->edns_do = msg[off + 6] >> 7;
		}
		/* Other additional records (TSIG, ...) are not ours: ignored. */
		off += 10u + rdlen;
	}
	return off == len ? DNS_PARSE_OK : DNS_PARSE_FORMERR;
}
