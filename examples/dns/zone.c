/* SPDX-License-Identifier: MIT */
/*
 * Zones: the master-file parser (RFC 1035 section 5, with RFC 2308's $TTL)
 * and the database the answers are looked up in.
 *
 * The parser reads one logical entry at a time: tokens up to a newline
 * that is outside parentheses, comments (";" to the end of the line)
 * dropped, quoted strings kept whole, a backslash keeping the next
 * character in the token. An entry is a directive ($ORIGIN, $TTL) or a
 * record: [owner] [TTL] [class] type RDATA, TTL and class in either order,
 * the owner omitted (the line starts with a blank) meaning the previous
 * one. Records are gathered per zone, then sorted into RRsets whose RDATA
 * lies together in the arena, so an answer copies an RRset in one pass.
 *
 * The database is one hash table of names (zone, wire name) -> node. The
 * ancestors of every owner down to the apex are nodes too (empty
 * non-terminals), so a name that is not in the table does not exist:
 * NXDOMAIN without a walk, unless the zone delegates (then the walk looks
 * for the cut above).
 */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 512
/* How much of a field an error message quotes. */
#define SHOWN(t) ((int)((t)->len > 80 ? 80 : (t)->len))

struct tok {
	const char *s;
	size_t len;
	bool quoted;
};

/* A record read from the file, before it joins its RRset. */
struct rec {
	uint32_t node;
	uint16_t type;
	uint16_t rdlen;
	uint32_t ttl;
	uint32_t rdata; /* offset in the parser's scratch */
	uint32_t seq;	/* file order */
};

struct parser {
	struct dns_db *db;
	const char *p, *end;
	unsigned line, entry_line;
	char *err;
	size_t errlen;
	struct tok tok[MAX_TOKENS];
	unsigned ntok;
	bool blank_start; /* the entry began with a blank: previous owner */
	uint8_t origin[DNS_NAME_MAX];
	bool have_origin;
	uint8_t owner[DNS_NAME_MAX];
	bool have_owner;
	uint32_t ttl_default, ttl_last;
	bool have_ttl_default, have_ttl_last;
	int zone; /* index, -1 until the SOA */
	struct rec *recs;
	size_t nrecs, recs_cap;
	uint8_t *scratch;
	size_t scratch_len, scratch_cap;
};

static int fail(struct parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (ps->errlen) {
		n = snprintf(ps->err, ps->errlen, "line %u: ", ps->entry_line);
		if (n < 0 || (size_t)n >= ps->errlen)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

/* ------------------------------------------------------------ tokens */

/* Read the next logical entry's tokens. \return 1 with tokens, 0 at the
 * end of the text, or -EINVAL. */
static int next_entry(struct parser *ps)
{
	int depth = 0;

	for (;;) {
		const char *p = ps->p;

		ps->ntok = 0;
		ps->entry_line = ps->line;
		ps->blank_start = p < ps->end && (*p == ' ' || *p == '\t');
		depth = 0;
		for (;;) {
			if (p >= ps->end) {
				if (depth)
					return ps->p = p, fail(ps, "end of file inside parentheses");
				break;
			}
			if (*p == '\n') {
				ps->line++;
				p++;
				if (!depth)
					break;
				continue;
			}
			if (*p == ' ' || *p == '\t' || *p == '\r') {
				p++;
			} else if (*p == ';') {
				while (p < ps->end && *p != '\n')
					p++;
			} else if (*p == '(') {
				depth++;
				p++;
			} else if (*p == ')') {
				if (--depth < 0)
					return fail(ps, "')' without '('");
				p++;
			} else {
				struct tok *t = &ps->tok[ps->ntok];
				bool q = *p == '"';

				if (ps->ntok == MAX_TOKENS)
					return fail(ps, "more than %d fields", MAX_TOKENS);
				if (q)
					p++;
				t->s = p;
				t->quoted = q;
				while (p < ps->end) {
					if (*p == '\\' && p + 1 < ps->end) {
						if (p[1] == '\n')
							ps->line++;
						p += 2;
						continue;
					}
					if (q ? *p == '"' || *p == '\n'
					      : strchr(" \t\r\n;()\"", *p) != NULL)
						break;
					p++;
				}
				t->len = (size_t)(p - t->s);
				if (q) {
					if (p >= ps->end || *p != '"')
						return fail(ps, "unterminated string");
					p++;
				}
				ps->ntok++;
			}
		}
		ps->p = p;
		if (ps->ntok)
			return 1;
		if (p >= ps->end)
			return 0;
	}
}

static bool tok_is(const struct tok *t, const char *word)
{
	size_t n = strlen(word);

	if (t->quoted || t->len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t->s[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c != word[i])
			return false;
	}
	return true;
}

/* Decode the escapes of a token (\X, \DDD) into \p out (\p cap bytes).
 * \p dots, when non-NULL, marks which output bytes were unescaped '.'.
 * \return the length, or -1 (bad escape, too long). */
static int unescape(const struct tok *t, uint8_t *out, size_t cap, bool *dots)
{
	size_t o = 0;

	for (size_t i = 0; i < t->len; i++) {
		unsigned c = (uint8_t)t->s[i];
		bool dot = c == '.';

		if (c == '\\') {
			dot = false;
			if (i + 1 >= t->len)
				return -1;
			if (t->s[i + 1] >= '0' && t->s[i + 1] <= '9') {
				if (i + 3 >= t->len)
					return -1;
				c = 0;
				for (int k = 1; k <= 3; k++) {
					char d = t->s[i + (size_t)k];

					if (d < '0' || d > '9')
						return -1;
					c = c * 10 + (unsigned)(d - '0');
				}
				if (c > 255)
					return -1;
				i += 3;
			} else {
				c = (uint8_t)t->s[++i];
			}
		}
		if (o >= cap)
			return -1;
		if (dots)
			dots[o] = dot;
		out[o++] = (uint8_t)c;
	}
	return (int)o;
}

/* A domain name field: "@", absolute ("a.b."), or relative to $ORIGIN. */
static int parse_name(struct parser *ps, const struct tok *t, uint8_t *out)
{
	uint8_t text[4 * DNS_NAME_MAX];
	bool dots[4 * DNS_NAME_MAX];
	int n = t->quoted ? -1 : unescape(t, text, sizeof(text), dots);
	size_t o = 0, start = 0, end;
	bool absolute;

	if (n <= 0)
		return fail(ps, "bad name '%.*s'", SHOWN(t), t->s);
	if (n == 1 && text[0] == '@' && !dots[0]) {
		if (!ps->have_origin)
			return fail(ps, "'@' with no $ORIGIN");
		memcpy(out, ps->origin, dns_name_len(ps->origin));
		return 0;
	}
	if (n == 1 && dots[0]) {
		out[0] = 0;
		return 0;
	}
	absolute = dots[n - 1];
	end = (size_t)n - (absolute ? 1 : 0);
	for (size_t i = 0; i <= end; i++) {
		size_t l = i - start;

		if (i < end && !dots[i])
			continue;
		if (l == 0 || l > DNS_LABEL_MAX)
			return fail(ps, "bad label in '%.*s'", SHOWN(t), t->s);
		if (o + 1 + l >= DNS_NAME_MAX)
			return fail(ps, "name '%.*s' too long", SHOWN(t), t->s);
		out[o++] = (uint8_t)l;
		for (size_t k = start; k < i; k++)
			out[o++] = text[k] >= 'A' && text[k] <= 'Z' ? (uint8_t)(text[k] + 32) : text[k];
		start = i + 1;
	}
	if (absolute) {
		out[o] = 0;
		return 0;
	}
	if (!ps->have_origin)
		return fail(ps, "relative name '%.*s' with no $ORIGIN", SHOWN(t), t->s);
	size_t ol = dns_name_len(ps->origin);

	if (o + ol > DNS_NAME_MAX)
		return fail(ps, "name '%.*s' too long", SHOWN(t), t->s);
	memcpy(out + o, ps->origin, ol);
	return 0;
}

/* A TTL: seconds, or BIND's units (1h30m, 2d, 1w). \return 0 or -1. */
static int parse_ttl(const struct tok *t, uint32_t *out)
{
	uint64_t total = 0, v = 0;
	bool digits = false, unit = false;

	if (t->quoted || t->len == 0 || t->s[0] < '0' || t->s[0] > '9')
		return -1;
	for (size_t i = 0; i < t->len; i++) {
		char c = t->s[i];
		uint64_t mul;

		if (c >= '0' && c <= '9') {
			v = v * 10 + (uint64_t)(c - '0');
			if (v > UINT32_MAX)
				return -1;
			digits = true;
			continue;
		}
		switch (c | 0x20) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 604800; break;
		default: return -1;
		}
		if (!digits)
			return -1;
		total += v * mul;
		v = 0;
		digits = false;
		unit = true;
	}
	if (digits && unit)
		return -1; /* "1h30": a number after units needs its unit */
	total += v;
	if (total > UINT32_MAX)
		return -1;
	*out = (uint32_t)total;
	return 0;
}

static int parse_u16(const struct tok *t, uint16_t *out)
{
	uint32_t v = 0;

	if (t->quoted || t->len == 0 || t->len > 5)
		return -1;
	for (size_t i = 0; i < t->len; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return -1;
		v = v * 10 + (uint32_t)(t->s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* ------------------------------------------------------------- the db */

static uint32_t name_hash(const uint8_t *n, size_t len, unsigned zone)
{
	uint32_t h = 2166136261u ^ zone;

	for (size_t i = 0; i < len; i++)
		h = (h ^ n[i]) * 16777619u;
	return h;
}

static const uint8_t *node_name(const struct dns_db *db, const struct dns_node *n)
{
	return db->arena + n->name;
}

static int arena_put(struct dns_db *db, const void *p, size_t len, uint32_t *off)
{
	if (db->arena_len + len > UINT32_MAX ||
	    grow((void **)&db->arena, &db->arena_cap, db->arena_len + len, 1) < 0)
		return -ENOMEM;
	memcpy(db->arena + db->arena_len, p, len);
	*off = (uint32_t)db->arena_len;
	db->arena_len += len;
	return 0;
}

static void table_insert(struct dns_db *db, uint32_t idx)
{
	uint32_t i = db->nodes[idx].hash & db->table_mask;

	while (db->table[i])
		i = (i + 1) & db->table_mask;
	db->table[i] = idx + 1;
}

const struct dns_node *dns_db_find(const struct dns_db *db, unsigned zone,
				   const uint8_t *name, size_t name_len)
{
	uint32_t h = name_hash(name, name_len, zone), i;

	if (!db->table)
		return NULL;
	for (i = h & db->table_mask; db->table[i]; i = (i + 1) & db->table_mask) {
		const struct dns_node *n = &db->nodes[db->table[i] - 1];

		if (n->hash == h && n->zone == zone && n->name_len == name_len &&
		    memcmp(node_name(db, n), name, name_len) == 0)
			return n;
	}
	return NULL;
}

/* The node of \p name in \p zone, made if missing. \return its index or
 * -ENOMEM. */
static int64_t node_get(struct dns_db *db, unsigned zone, const uint8_t *name)
{
	size_t len = dns_name_len(name);
	const struct dns_node *found = dns_db_find(db, zone, name, len);
	struct dns_node *n;

	if (found)
		return found - db->nodes;
	if ((size_t)(db->nnodes + 1) * 2 > (size_t)db->table_mask + 1 || !db->table) {
		size_t size = db->table ? ((size_t)db->table_mask + 1) * 2 : 64;
		uint32_t *t = calloc(size, sizeof(*t));

		if (!t)
			return -ENOMEM;
		free(db->table);
		db->table = t;
		db->table_mask = (uint32_t)(size - 1);
		for (uint32_t i = 0; i < db->nnodes; i++)
			table_insert(db, i);
	}
	size_t cap = db->nodes_cap;

	if (grow((void **)&db->nodes, &cap, (size_t)db->nnodes + 1, sizeof(*db->nodes)) < 0)
		return -ENOMEM;
	db->nodes_cap = (uint32_t)cap;
	n = &db->nodes[db->nnodes];
	memset(n, 0, sizeof(*n));
	if (arena_put(db, name, len, &n->name) < 0)
		return -ENOMEM;
	n->name_len = (uint8_t)len;
	n->zone = (uint16_t)zone;
	n->hash = name_hash(name, len, zone);
	table_insert(db, db->nnodes);
	return db->nnodes++;
}

const struct dns_rrset *dns_node_rrset(const struct dns_db *db,
				       const struct dns_node *node,
				       uint16_t type)
{
	for (uint32_t i = node->rrsets; i; i = db->rrsets[i - 1].next)
		if (db->rrsets[i - 1].type == type)
			return &db->rrsets[i - 1];
	return NULL;
}

int dns_db_zone_of(const struct dns_db *db, const uint8_t *name)
{
	int best = -1;
	size_t best_len = 0;

	for (unsigned z = 0; z < db->nzones; z++) {
		const struct dns_node *apex = &db->nodes[db->zones[z].apex];

		if ((best < 0 || apex->name_len > best_len) &&
		    dns_name_is_under(name, node_name(db, apex))) {
			best = (int)z;
			best_len = apex->name_len;
		}
	}
	return best;
}

void dns_db_free(struct dns_db *db)
{
	free(db->arena);
	free(db->nodes);
	free(db->rrsets);
	free(db->table);
	free(db->zones);
	memset(db, 0, sizeof(*db));
}

/* ------------------------------------------------------------ records */

/* Append \p len bytes of RDATA to the scratch. */
static int rd_put(struct parser *ps, const void *p, size_t len)
{
	if (grow((void **)&ps->scratch, &ps->scratch_cap, ps->scratch_len + len, 1) < 0)
		return -ENOMEM;
	memcpy(ps->scratch + ps->scratch_len, p, len);
	ps->scratch_len += len;
	return 0;
}

static int rd_u16(struct parser *ps, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return rd_put(ps, b, 2);
}

static int rd_u32(struct parser *ps, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
			 (uint8_t)v };

	return rd_put(ps, b, 4);
}

static int rd_name(struct parser *ps, const struct tok *t)
{
	uint8_t n[DNS_NAME_MAX];
	int rc = parse_name(ps, t, n);

	return rc < 0 ? rc : rd_put(ps, n, dns_name_len(n));
}

static const struct {
	const char *name;
	uint16_t type;
} types[] = {
	{ "A", DNS_T_A },     { "NS", DNS_T_NS },   { "CNAME", DNS_T_CNAME },
	{ "SOA", DNS_T_SOA }, { "MX", DNS_T_MX },   { "TXT", DNS_T_TXT },
	{ "AAAA", DNS_T_AAAA },
};

/* The RDATA fields tok[0..n) of a record of \p type, into the scratch. */
static int parse_rdata(struct parser *ps, uint16_t type, const struct tok *t,
		       unsigned n)
{
	static const unsigned want[] = { [DNS_T_A] = 1,	   [DNS_T_NS] = 1,
					 [DNS_T_CNAME] = 1, [DNS_T_SOA] = 7,
					 [DNS_T_MX] = 2,    [DNS_T_AAAA] = 1 };
	uint8_t addr[16];
	char text[64];
	int rc = 0;

	if (type != DNS_T_TXT && n != want[type])
		return fail(ps, "%u RDATA fields, the type takes %u", n, want[type]);
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (t[0].quoted || t[0].len >= sizeof(text))
			return fail(ps, "bad address");
		memcpy(text, t[0].s, t[0].len);
		text[t[0].len] = 0;
		if (inet_pton(type == DNS_T_A ? AF_INET : AF_INET6, text, addr) != 1)
			return fail(ps, "bad address '%s'", text);
		return rd_put(ps, addr, type == DNS_T_A ? 4 : 16);
	case DNS_T_NS:
	case DNS_T_CNAME:
		return rd_name(ps, &t[0]);
	case DNS_T_MX: {
		uint16_t pref;

		if (parse_u16(&t[0], &pref) < 0)
			return fail(ps, "bad MX preference");
		rc = rd_u16(ps, pref);
		return rc < 0 ? rc : rd_name(ps, &t[1]);
	}
	case DNS_T_SOA:
		rc = rd_name(ps, &t[0]);
		if (rc == 0)
			rc = rd_name(ps, &t[1]);
		for (unsigned i = 2; i < 7 && rc == 0; i++) {
			uint32_t v;

			if (parse_ttl(&t[i], &v) < 0)
				return fail(ps, "bad SOA number '%.*s'", SHOWN(&t[i]), t[i].s);
			rc = rd_u32(ps, v);
		}
		return rc;
	case DNS_T_TXT:
		if (n == 0)
			return fail(ps, "TXT with no string");
		for (unsigned i = 0; i < n && rc == 0; i++) {
			uint8_t s[256];
			int l = unescape(&t[i], s + 1, 255, NULL);

			if (l < 0)
				return fail(ps, "bad or too long (> 255 bytes) TXT string");
			s[0] = (uint8_t)l;
			rc = rd_put(ps, s, (size_t)l + 1);
		}
		return rc;
	}
	return fail(ps, "unsupported type");
}

static int directive(struct parser *ps)
{
	const struct tok *t = ps->tok;

	if (tok_is(&t[0], "$ORIGIN")) {
		uint8_t n[DNS_NAME_MAX];

		if (ps->ntok != 2)
			return fail(ps, "$ORIGIN takes one name");
		if (parse_name(ps, &t[1], n) < 0)
			return -EINVAL;
		memcpy(ps->origin, n, dns_name_len(n));
		ps->have_origin = true;
		return 0;
	}
	if (tok_is(&t[0], "$TTL")) {
		if (ps->ntok != 2 || parse_ttl(&t[1], &ps->ttl_default) < 0)
			return fail(ps, "$TTL takes one TTL");
		ps->have_ttl_default = true;
		return 0;
	}
	return fail(ps, "unsupported directive '%.*s'", SHOWN(&t[0]), t[0].s);
}

static int record(struct parser *ps)
{
	struct dns_db *db = ps->db;
	const struct tok *t = ps->tok;
	unsigned i = 0;
	uint32_t ttl = 0;
	bool have_ttl = false, have_class = false;
	uint16_t type = 0;
	struct rec *r;
	size_t rd0 = ps->scratch_len;
	int64_t node;
	int rc;

	if (!ps->blank_start) {
		if (parse_name(ps, &t[i++], ps->owner) < 0)
			return -EINVAL;
		ps->have_owner = true;
	} else if (!ps->have_owner) {
		return fail(ps, "no owner name, and no previous one");
	}
	for (; i < ps->ntok; i++) {
		if (!have_ttl && parse_ttl(&t[i], &ttl) == 0) {
			have_ttl = true;
		} else if (!have_class && tok_is(&t[i], "IN")) {
			have_class = true;
		} else if (tok_is(&t[i], "CH") || tok_is(&t[i], "HS") || tok_is(&t[i], "CS")) {
			return fail(ps, "only class IN is served");
		} else {
			break;
		}
	}
	if (i == ps->ntok)
		return fail(ps, "no type");
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
		if (tok_is(&t[i], types[k].name))
			type = types[k].type;
	if (!type)
		return fail(ps, "unsupported type '%.*s' (SOA NS A AAAA CNAME MX TXT)",
			    SHOWN(&t[i]), t[i].s);
	i++;
	if (have_ttl) {
		ps->ttl_last = ttl;
		ps->have_ttl_last = true;
	} else if (ps->have_ttl_default) {
		ttl = ps->ttl_default;
	} else if (ps->have_ttl_last) {
		ttl = ps->ttl_last;
	} else if (type != DNS_T_SOA) {
		return fail(ps, "no TTL, no $TTL, and no earlier TTL");
	}
	rc = parse_rdata(ps, type, t + i, ps->ntok - i);
	if (rc < 0)
		return rc;
	if (type == DNS_T_SOA && !have_ttl && !ps->have_ttl_default && !ps->have_ttl_last)
		ttl = (uint32_t)ps->scratch[ps->scratch_len - 4] << 24 |
		      (uint32_t)ps->scratch[ps->scratch_len - 3] << 16 |
		      (uint32_t)ps->scratch[ps->scratch_len - 2] << 8 |
		      ps->scratch[ps->scratch_len - 1]; /* RFC 1035: the MINIMUM */
	if (ps->scratch_len - rd0 > 65535)
		return fail(ps, "RDATA over 65535 bytes");

	if (ps->zone < 0) {
		/* The first record is the SOA; its owner is the zone's apex. */
		struct dns_zone *z;
		size_t cap = db->nzones;

		if (type != DNS_T_SOA)
			return fail(ps, "the first record must be the zone's SOA");
		for (unsigned k = 0; k < db->nzones; k++)
			if (dns_name_len(node_name(db, &db->nodes[db->zones[k].apex])) ==
				    dns_name_len(ps->owner) &&
			    memcmp(node_name(db, &db->nodes[db->zones[k].apex]), ps->owner,
				   dns_name_len(ps->owner)) == 0)
				return fail(ps, "zone loaded twice");
		if (db->nzones == UINT16_MAX ||
		    grow((void **)&db->zones, &cap, (size_t)db->nzones + 1, sizeof(*z)) < 0)
			return -ENOMEM;
		z = &db->zones[db->nzones];
		memset(z, 0, sizeof(*z));
		node = node_get(db, db->nzones, ps->owner);
		if (node < 0)
			return (int)node;
		z->apex = (uint32_t)node;
		ps->zone = db->nzones++;
	} else {
		const uint8_t *apex = node_name(db, &db->nodes[db->zones[ps->zone].apex]);
		char text[1024];

		if (!dns_name_is_under(ps->owner, apex))
			return fail(ps, "'%s' is outside the zone",
				    dns_name_format(ps->owner, text, sizeof(text)));
		if (type == DNS_T_SOA)
			return fail(ps, "a second SOA");
		node = node_get(db, (unsigned)ps->zone, ps->owner);
		if (node < 0)
			return (int)node;
	}
	if (grow((void **)&ps->recs, &ps->recs_cap, ps->nrecs + 1, sizeof(*r)) < 0)
		return -ENOMEM;
	r = &ps->recs[ps->nrecs];
	*r = (struct rec){ .node = (uint32_t)node, .type = type,
			   .rdlen = (uint16_t)(ps->scratch_len - rd0), .ttl = ttl,
			   .rdata = (uint32_t)rd0, .seq = (uint32_t)ps->nrecs };
	ps->nrecs++;
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Ancestors down to the apex become nodes; records become RRsets. */
static int finish(struct parser *ps)
{
	struct dns_db *db = ps->db;
	struct dns_zone *z;
	uint32_t first_node, end_node;
	size_t apex_len;
	char text[1024];

	if (ps->zone < 0) {
		ps->entry_line = ps->line;
		return fail(ps, "no records (a zone starts with its SOA)");
	}
	z = &db->zones[ps->zone];
	first_node = z->apex;
	end_node = db->nnodes;
	apex_len = db->nodes[z->apex].name_len;
	for (uint32_t i = first_node; i < end_node; i++) {
		uint8_t name[DNS_NAME_MAX];

		/* Copied: node_get may move the arena. */
		memcpy(name, node_name(db, &db->nodes[i]), db->nodes[i].name_len);
		for (size_t off = name[0] + 1u; off < DNS_NAME_MAX &&
		     dns_name_len(name + off) > apex_len; off += name[off] + 1u) {
			int64_t rc = node_get(db, (unsigned)ps->zone, name + off);

			if (rc < 0)
				return (int)rc;
		}
	}
	qsort(ps->recs, ps->nrecs, sizeof(*ps->recs), rec_cmp);
	for (size_t i = 0; i < ps->nrecs;) {
		struct rec *r = &ps->recs[i];
		struct dns_node *n = &db->nodes[r->node];
		struct dns_rrset *s;
		size_t j = i, cap = db->rrsets_cap;

		if (grow((void **)&db->rrsets, &cap, (size_t)db->nrrsets + 1, sizeof(*s)) < 0)
			return -ENOMEM;
		db->rrsets_cap = (uint32_t)cap;
		s = &db->rrsets[db->nrrsets];
		*s = (struct dns_rrset){ .type = r->type, .ttl = r->ttl,
					 .rdata = (uint32_t)db->arena_len,
					 .next = n->rrsets };
		for (; j < ps->nrecs && ps->recs[j].node == r->node &&
		       ps->recs[j].type == r->type; j++) {
			const struct rec *x = &ps->recs[j];
			const uint8_t *rd = ps->scratch + x->rdata;
			bool dup = false;
			size_t o = s->rdata;

			/* An RRset is a set (RFC 2181 5): drop duplicates. */
			for (unsigned k = 0; k < s->count && !dup; k++) {
				size_t l = (size_t)db->arena[o] << 8 | db->arena[o + 1];

				dup = l == x->rdlen && memcmp(db->arena + o + 2, rd, l) == 0;
				o += 2 + l;
			}
			if (dup)
				continue;
			uint8_t len[2] = { (uint8_t)(x->rdlen >> 8), (uint8_t)x->rdlen };
			uint32_t off;

			if (s->count == UINT16_MAX)
				return -ENOMEM;
			if (arena_put(db, len, 2, &off) < 0 ||
			    arena_put(db, rd, x->rdlen, &off) < 0)
				return -ENOMEM;
			s->count++;
		}
		n->rrsets = ++db->nrrsets;
		if (r->type == DNS_T_CNAME && s->count > 1) {
			ps->entry_line = 0;
			return fail(ps, "two CNAMEs at '%s'",
				    dns_name_format(node_name(db, n), text, sizeof(text)));
		}
		if (r->type == DNS_T_SOA)
			z->soa = db->nrrsets - 1;
		i = j;
	}
	for (uint32_t i = first_node; i < db->nnodes; i++) {
		struct dns_node *n = &db->nodes[i];
		unsigned k = 0;

		for (uint32_t s = n->rrsets; s; s = db->rrsets[s - 1].next)
			k++;
		if (k > 1 && dns_node_rrset(db, n, DNS_T_CNAME)) {
			ps->entry_line = 0;
			return fail(ps, "CNAME and other data at '%s'",
				    dns_name_format(node_name(db, n), text, sizeof(text)));
		}
		if (i != z->apex && dns_node_rrset(db, n, DNS_T_NS)) {
			n->cut = 1;
			z->has_cuts = 1;
		}
	}
	const struct dns_rrset *soa = &db->rrsets[z->soa];
	const uint8_t *rd = db->arena + soa->rdata + 2;
	size_t l = dns_name_len(rd);
	uint32_t min;

	l += dns_name_len(rd + l) + 16;
	min = (uint32_t)rd[l] << 24 | (uint32_t)rd[l + 1] << 16 | (uint32_t)rd[l + 2] << 8 | rd[l + 3];
	z->min_ttl = min < soa->ttl ? min : soa->ttl;
	return 0;
}

int dns_zone_parse(struct dns_db *db, const char *text, size_t len,
		   char *err, size_t errlen)
{
	struct parser *ps = calloc(1, sizeof(*ps));
	int rc;

	if (!ps)
		return -ENOMEM;
	if (errlen)
		err[0] = 0;
	ps->db = db;
	ps->p = text;
	ps->end = text + len;
	ps->line = 1;
	ps->err = err;
	ps->errlen = errlen;
	ps->zone = -1;
	while ((rc = next_entry(ps)) > 0) {
		if (!ps->blank_start && ps->tok[0].len && ps->tok[0].s[0] == '$' &&
		    !ps->tok[0].quoted)
			rc = directive(ps);
		else
			rc = record(ps);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = finish(ps);
	if (rc == -ENOMEM && errlen)
		snprintf(err, errlen, "out of memory");
	free(ps->recs);
	free(ps->scratch);
	free(ps);
	return rc;
}
