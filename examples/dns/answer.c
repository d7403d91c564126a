/* SPDX-License-Identifier: MIT */
/*
 * The authoritative answer to one query (RFC 1034 section 4.3.2, no
 * recursion, no wildcards): find the zone (none: REFUSED), follow CNAMEs
 * inside it, answer the RRset asked for, or say NXDOMAIN or NODATA with
 * the zone's SOA in the authority section (RFC 2308), or refer below a
 * delegation. Names are compressed (RFC 1035 4.1.4) against every name
 * written before, the question's included.
 *
 * Space: over UDP the answer fits in 512 bytes, or in the client's EDNS0
 * size (RFC 6891). Room for our OPT record is kept aside; when the answer
 * or authority records do not fit, the answer goes out with TC set and no
 * records, and the client asks again over TCP. Additional records (glue,
 * the addresses of NS and MX targets) are only added while they fit.
 */
#include "dns.h"

#include <string.h>

#define OPT_LEN	   11 /* root owner, type, class, TTL, RDLENGTH */
#define MAX_CHAIN  8  /* CNAMEs followed in one answer */
#define MAX_COMP   64 /* names remembered for compression */
#define MAX_EXTRA  16 /* NS/MX targets whose addresses are added */

/* The response being written. */
struct out {
	uint8_t *buf;
	size_t pos, limit; /* limit: what records may fill */
	int full;	   /* a record did not fit */
	unsigned ncomp;
	struct {
		const uint8_t *name; /* lower-cased wire name (a suffix) */
		uint16_t len, off;   /* its length; where it is in buf */
	} comp[MAX_COMP];
};

static void wr16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v & 0xffff);
}

static int room(struct out *o, size_t n)
{
	if (o->pos + n > o->limit) {
		o->full = 1;
		return 0;
	}
	return 1;
}

/* Remember the suffixes of \p name that start at \p off in the buffer
 * (labels written in full there), for later pointers. */
static void comp_add(struct out *o, const uint8_t *name, size_t off)
{
	for (size_t i = 0; name[i] && o->ncomp < MAX_COMP && off + i < 0x4000;
	     i += 1u + name[i]) {
		o->comp[o->ncomp].name = name + i;
		o->comp[o->ncomp].len = (uint16_t)dns_name_len(name + i);
		o->comp[o->ncomp].off = (uint16_t)(off + i);
		o->ncomp++;
	}
}

/* Write \p name (lower-cased, wire form): the labels before the longest
 * suffix already written, then a pointer to it. */
static int put_name(struct out *o, const uint8_t *name)
{
	size_t len = dns_name_len(name);

	for (size_t i = 0; name[i]; i += 1u + name[i]) {
		size_t sl = len - i;

		for (unsigned k = 0; k < o->ncomp; k++) {
			if (o->comp[k].len != sl || memcmp(o->comp[k].name, name + i, sl))
				continue;
			if (!room(o, i + 2))
				return -1;
			memcpy(o->buf + o->pos, name, i);
			wr16(o->buf + o->pos + i, 0xc000u | o->comp[k].off);
			if (i) {
				/* Only the labels written in full, before the pointer. */
				unsigned n0 = o->ncomp;

				comp_add(o, name, o->pos);
				for (unsigned m = n0; m < o->ncomp; m++)
					if (o->comp[m].len <= sl) {
						o->ncomp = m;
						break;
					}
			}
			o->pos += i + 2;
			return 0;
		}
	}
	if (!room(o, len))
		return -1;
	memcpy(o->buf + o->pos, name, len);
	comp_add(o, name, o->pos);
	o->pos += len;
	return 0;
}

/* One record: owner, type, class IN, TTL, RDATA (names in it compressed
 * for the types of RFC 1035, as RFC 3597 allows). \p rd is the RDATA as
 * stored, \p rdlen its length. */
static int put_rr(struct out *o, const uint8_t *owner, uint16_t type,
		  uint32_t ttl, const uint8_t *rd, size_t rdlen)
{
	size_t start = o->pos, len_at;

	if (put_name(o, owner) < 0 || !room(o, 10))
		goto undo;
	wr16(o->buf + o->pos, type);
	wr16(o->buf + o->pos + 2, DNS_C_IN);
	wr32(o->buf + o->pos + 4, ttl);
	len_at = o->pos + 8;
	o->pos += 10;
	switch (type) {
	case DNS_T_NS:
	case DNS_T_CNAME:
		if (put_name(o, rd) < 0)
			goto undo;
		break;
	case DNS_T_MX:
		if (!room(o, 2))
			goto undo;
		memcpy(o->buf + o->pos, rd, 2);
		o->pos += 2;
		if (put_name(o, rd + 2) < 0)
			goto undo;
		break;
	case DNS_T_SOA: {
		size_t n1 = dns_name_len(rd), n2 = dns_name_len(rd + n1);

		if (put_name(o, rd) < 0 || put_name(o, rd + n1) < 0 || !room(o, 20))
			goto undo;
		memcpy(o->buf + o->pos, rd + n1 + n2, 20);
		o->pos += 20;
		break;
	}
	default:
		if (!room(o, rdlen))
			goto undo;
		memcpy(o->buf + o->pos, rd, rdlen);
		o->pos += rdlen;
	}
	wr16(o->buf + len_at, (unsigned)(o->pos - len_at - 2));
	return 0;
undo:
	/* Forget the names this record wrote: they are gone. */
	while (o->ncomp && o->comp[o->ncomp - 1].off >= start)
		o->ncomp--;
	o->pos = start;
	return -1;
}

/* Every record of \p s, owned by \p owner. \return records written, or
 * -1 when one did not fit. */
static int put_rrset(struct out *o, const struct dns_db *db,
		     const uint8_t *owner, const struct dns_rrset *s)
{
	const uint8_t *rd = db->arena + s->rdata;

	for (unsigned i = 0; i < s->count; i++) {
		size_t len = (size_t)rd[0] << 8 | rd[1];

		if (put_rr(o, owner, s->type, s->ttl, rd + 2, len) < 0)
			return -1;
		rd += 2 + len;
	}
	return s->count;
}

static const uint8_t *node_name(const struct dns_db *db, const struct dns_node *n)
{
	return db->arena + n->name;
}

/* The delegation \p name is at or below in zone \p z, or NULL. */
static const struct dns_node *find_cut(const struct dns_db *db, unsigned z,
				       const uint8_t *name)
{
	size_t apex_len = db->nodes[db->zones[z].apex].name_len;

	for (size_t i = 0; dns_name_len(name + i) > apex_len; i += 1u + name[i]) {
		const struct dns_node *n = dns_db_find(db, z, name + i, dns_name_len(name + i));

		if (n && n->cut)
			return n;
	}
	return NULL;
}

/* Targets of NS and MX records whose addresses go in the additional
 * section, if they are in our zone. */
struct extra {
	const uint8_t *name[MAX_EXTRA];
	unsigned n;
};

static void extra_from(struct extra *x, const struct dns_db *db,
		       const struct dns_rrset *s)
{
	const uint8_t *rd = db->arena + s->rdata;

	if (s->type != DNS_T_NS && s->type != DNS_T_MX)
		return;
	for (unsigned i = 0; i < s->count && x->n < MAX_EXTRA; i++) {
		size_t len = (size_t)rd[0] << 8 | rd[1];

		x->name[x->n++] = rd + 2 + (s->type == DNS_T_MX ? 2 : 0);
		rd += 2 + len;
	}
}

size_t dns_answer(const struct dns_db *db, const uint8_t *msg, size_t len,
		  uint8_t *out, size_t cap, enum dns_transport tr)
{
	struct dns_query q;
	struct out o;
	struct extra extra = { .n = 0 };
	const uint8_t *name;
	unsigned rcode = DNS_R_NOERROR, an = 0, ns = 0, ar = 0, aa = 1;
	size_t max, qend;
	int z = -1, r;

	switch (dns_query_parse(msg, len, &q)) {
	case DNS_PARSE_DROP:
		return 0;
	case DNS_PARSE_OK:
		break;
	case DNS_PARSE_NOTIMP:
		rcode = DNS_R_NOTIMP;
		goto header_only;
	default:
		rcode = DNS_R_FORMERR;
		goto header_only;
	}
	max = tr == DNS_TCP ? 65535 : q.edns ? q.edns_size : 512;
	if (max > cap)
		max = cap;
	qend = DNS_HDR_LEN + q.question_len;
	if (max < qend + (q.edns ? OPT_LEN : 0))
		return 0; /* no room even for the question */
	memmove(out + DNS_HDR_LEN, msg + DNS_HDR_LEN, q.question_len);
	o.buf = out;
	o.pos = qend;
	o.limit = max - (q.edns ? OPT_LEN : 0);
	o.full = 0;
	o.ncomp = 0;
	comp_add(&o, q.qname, DNS_HDR_LEN);

	if (q.edns && q.edns_version != 0) {
		rcode = DNS_R_BADVERS; /* RFC 6891 6.1.3 */
		aa = 0;
		goto done;
	}
	if (q.qclass != DNS_C_IN || q.qtype == DNS_T_AXFR || q.qtype == DNS_T_IXFR) {
		rcode = DNS_R_REFUSED; /* other classes; no zone transfers */
		aa = 0;
		goto done;
	}
	if (q.qtype == DNS_T_OPT || (q.qtype >= 128 && q.qtype != DNS_T_ANY &&
				     q.qtype < 256)) {
		rcode = q.qtype == DNS_T_OPT ? DNS_R_FORMERR : DNS_R_NOTIMP;
		aa = 0;
		goto done;
	}
	z = dns_db_zone_of(db, q.qname);
	if (z < 0) {
		rcode = DNS_R_REFUSED;
		aa = 0;
		goto done;
	}

	name = q.qname;
	for (unsigned chain = 0;; chain++) {
		const struct dns_node *n = dns_db_find(db, (unsigned)z, name, dns_name_len(name));
		const struct dns_node *cut = NULL;
		const struct dns_rrset *s;
		unsigned hits = 0;

		if (db->zones[z].has_cuts)
			cut = find_cut(db, (unsigned)z, name);
		if (cut) {
			/* A referral: the child's NS, and their glue. */
			s = dns_node_rrset(db, cut, DNS_T_NS);
			aa = 0;
			if ((r = put_rrset(&o, db, node_name(db, cut), s)) < 0)
				goto full;
			ns += (unsigned)r;
			extra_from(&extra, db, s);
			break;
		}
		if (!n) {
			rcode = DNS_R_NXDOMAIN;
			goto negative;
		}
		s = dns_node_rrset(db, n, DNS_T_CNAME);
		if (s && q.qtype != DNS_T_CNAME && q.qtype != DNS_T_ANY) {
			const uint8_t *target = db->arena + s->rdata + 2;

			if ((r = put_rrset(&o, db, name, s)) < 0)
				goto full;
			an += (unsigned)r;
			name = target;
			/* Out of our zone, or too long a chain: the client
			 * goes on from here. */
			if (chain + 1 == MAX_CHAIN || !dns_name_is_under(target, node_name(db, &db->nodes[db->zones[z].apex])))
				break;
			continue;
		}
		for (uint32_t i = n->rrsets; i; i = db->rrsets[i - 1].next) {
			s = &db->rrsets[i - 1];
			if (s->type != q.qtype && q.qtype != DNS_T_ANY)
				continue;
			if ((r = put_rrset(&o, db, name, s)) < 0)
				goto full;
			an += (unsigned)r;
			hits++;
			extra_from(&extra, db, s);
		}
		if (hits == 0)
			goto negative; /* NODATA */
		break;
	}
	goto additional;

negative: {
		/* RFC 2308: the SOA, with the TTL the negative answer may be
		 * cached for. */
		const struct dns_zone *zz = &db->zones[z];
		const struct dns_rrset *soa = &db->rrsets[zz->soa];
		const uint8_t *rd = db->arena + soa->rdata;

		if (put_rr(&o, node_name(db, &db->nodes[zz->apex]), DNS_T_SOA, zz->min_ttl,
			   rd + 2, (size_t)rd[0] << 8 | rd[1]) < 0)
			goto full;
		ns++;
	}
additional:
	for (unsigned i = 0; i < extra.n; i++) {
		static const uint16_t addr_types[] = { DNS_T_A, DNS_T_AAAA };
		const uint8_t *t = extra.name[i];
		const struct dns_node *n = dns_db_find(db, (unsigned)z, t, dns_name_len(t));

		for (unsigned k = 0; n && k < 2; k++) {
			const struct dns_rrset *s = dns_node_rrset(db, n, addr_types[k]);

			if (s && (r = put_rrset(&o, db, t, s)) >= 0)
				ar += (unsigned)r;
			else if (s) {
				o.full = 0; /* no room: stop, without TC */
				goto done;
			}
		}
	}
	goto done;

full:
	/* The records that must be there do not fit: TC, none of them. */
	an = ns = ar = 0;
	o.pos = qend;
	o.full = 1;
done:
	if (q.edns) {
		uint8_t *p = out + o.pos;

		p[0] = 0;
		wr16(p + 1, DNS_T_OPT);
		wr16(p + 3, DNS_EDNS_SIZE);
		p[5] = (uint8_t)(rcode >> 4); /* extended RCODE */
		p[6] = 0;		      /* version */
		wr16(p + 7, q.edns_do ? 0x8000u : 0);
		wr16(p + 9, 0);
		o.pos += OPT_LEN;
		ar++;
	}
	wr16(out, q.id);
	wr16(out + 2, DNS_F_QR | (aa ? DNS_F_AA : 0) | (o.full ? DNS_F_TC : 0) |
			      (q.flags & (DNS_F_RD | DNS_F_CD)) | (rcode & 0xf));
	wr16(out + 4, 1);
	wr16(out + 6, an);
	wr16(out + 8, ns);
	wr16(out + 10, ar);
	return o.pos;

header_only:
	/* FORMERR, NOTIMP: the header, with the id, opcode and RD. */
	if (cap < DNS_HDR_LEN)
		return 0;
	wr16(out, q.id);
	wr16(out + 2, DNS_F_QR | (q.flags & (0x7800u | DNS_F_RD)) | rcode);
	memset(out + 4, 0, 8);
	return DNS_HDR_LEN;
}
