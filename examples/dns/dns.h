/* SPDX-License-Identifier: MIT */
/** \file
 * The DNS logic of examples/dns, apart from any I/O: pure functions over
 * buffers, so that the tests (tests/dns) drive them without a network.
 *
 * - wire.c:   names on the wire (RFC 1035 section 4.1.4) and the parse of a
 *             query (header, one question, an optional EDNS0 OPT record).
 * - zone.c:   the master-file parser (RFC 1035 section 5) and the database
 *             the answers are looked up in.
 * - answer.c: the authoritative answer to one query (RFC 1034 section
 *             4.3.2), written with name compression.
 *
 * Names inside the database are kept in wire form, lower-cased: a name is
 * length-prefixed labels ending in the root's zero byte, at most 255 bytes.
 */
#ifndef DNS_H
#define DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX  255 /* bytes of a name in wire form */
#define DNS_LABEL_MAX 63
#define DNS_HDR_LEN   12

/* Types, classes, response codes, header flags. */
enum {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_OPT = 41,
	DNS_T_IXFR = 251,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
	DNS_C_IN = 1,
};

enum {
	DNS_R_NOERROR = 0,
	DNS_R_FORMERR = 1,
	DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4,
	DNS_R_REFUSED = 5,
	DNS_R_BADVERS = 16, /* extended: needs EDNS */
};

#define DNS_F_QR 0x8000u
#define DNS_F_AA 0x0400u
#define DNS_F_TC 0x0200u
#define DNS_F_RD 0x0100u
#define DNS_F_CD 0x0010u
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xfu)

/* Our EDNS0 UDP payload size (the 2020 DNS flag day's value). */
#define DNS_EDNS_SIZE 1232

/* ------------------------------------------------------------- wire.c */

/**
 * Read the uncompressed name at \p p (at most \p len bytes) into \p out
 * (DNS_NAME_MAX bytes), lower-cased. A compression pointer is an error here:
 * in a query the question comes first and there is nothing to point back
 * to. \return the bytes consumed, or -1 when malformed (truncated, a label
 * over 63 bytes or of a reserved kind, a pointer, longer than 255 bytes).
 */
int dns_name_parse(const uint8_t *p, size_t len, uint8_t *out);

/** Length in bytes of the wire name \p n (which is well formed). */
size_t dns_name_len(const uint8_t *n);

/** Number of labels of the wire name \p n, the root not counted. */
unsigned dns_name_labels(const uint8_t *n);

/** Whether \p sub is \p apex or below it (both lower-cased wire names). */
int dns_name_is_under(const uint8_t *sub, const uint8_t *apex);

/** The name as text ("www.example.com."), for messages. */
char *dns_name_format(const uint8_t *n, char *buf, size_t cap);

/** A parsed query. Pointers point into the query buffer. */
struct dns_query {
	uint16_t id;
	uint16_t flags;	       /* the header's second word */
	uint16_t qtype, qclass;
	uint8_t qname[DNS_NAME_MAX]; /* lower-cased */
	uint16_t qname_len;
	uint16_t question_len; /* qname + type + class, as on the wire */
	uint8_t edns;	       /* an OPT record was there */
	uint8_t edns_version;
	uint8_t edns_do;       /* the DO bit, echoed */
	uint16_t edns_size;    /* the client's UDP payload size (>= 512) */
};

/** What dns_query_parse found. */
enum dns_parse {
	DNS_PARSE_OK = 0,
	DNS_PARSE_DROP,	   /* answer nothing: too short, or not a query */
	DNS_PARSE_HEADER,  /* answer with the header only (id, opcode, RD) */
	DNS_PARSE_FORMERR, /* malformed after a good header */
	DNS_PARSE_NOTIMP,  /* an opcode other than QUERY */
};

/**
 * Parse the query \p msg of \p len bytes into \p q. On DNS_PARSE_FORMERR
 * and DNS_PARSE_NOTIMP, q->id and q->flags are set (and question_len when
 * the question was readable), so that an error response can be written.
 */
enum dns_parse dns_query_parse(const uint8_t *msg, size_t len,
			       struct dns_query *q);

/* ------------------------------------------------------------- zone.c */

/** An RRset: the records of one name and type, their RDATA in the
 *  database's arena as [u16 length][bytes] each, names uncompressed. */
struct dns_rrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl;
	uint32_t rdata; /* offset in the arena */
	uint32_t next;	/* index of the node's next RRset + 1, 0: last */
};

/** A name of a zone, with its RRsets; an empty non-terminal has none. */
struct dns_node {
	uint32_t name;	  /* offset of its wire name in the arena */
	uint32_t hash;
	uint32_t rrsets;  /* first RRset index + 1, 0: none */
	uint16_t zone;	  /* index in the database's zones */
	uint8_t name_len;
	uint8_t cut;	  /* has NS and is not an apex: a delegation */
};

/** A zone: its apex and SOA. */
struct dns_zone {
	uint32_t apex;	   /* node index */
	uint32_t soa;	   /* RRset index */
	uint32_t min_ttl;  /* min(SOA TTL, SOA MINIMUM): negative answers */
	uint8_t has_cuts;
};

/**
 * The records of every zone loaded, read-only once loaded: workers on
 * several threads may share it. One allocation each for names, nodes,
 * RRsets and the hash table.
 */
struct dns_db {
	uint8_t *arena;
	size_t arena_len, arena_cap;
	struct dns_node *nodes;
	uint32_t nnodes, nodes_cap;
	struct dns_rrset *rrsets;
	uint32_t nrrsets, rrsets_cap;
	uint32_t *table; /* node index + 1, open addressing; 0: empty */
	uint32_t table_mask;
	struct dns_zone *zones;
	uint16_t nzones;
};

/**
 * Parse the master file \p text (\p len bytes) and add its zone to \p db
 * (zero-initialised for the first). The zone's apex is the owner of its
 * SOA record, which must come first. \p err receives "LINE: what" on
 * failure; \p db then holds part of the zone and is only fit for
 * dns_db_free. \return 0, -EINVAL (a syntax error, a record outside the
 * zone, CNAME and other data at one name, a zone loaded twice), -ENOMEM.
 */
int dns_zone_parse(struct dns_db *db, const char *text, size_t len,
		   char *err, size_t errlen);

/** Free what \p db holds (it can be reused, zeroed). */
void dns_db_free(struct dns_db *db);

/** The node of lower-cased wire name \p name in zone \p zone, or NULL. */
const struct dns_node *dns_db_find(const struct dns_db *db, unsigned zone,
				   const uint8_t *name, size_t name_len);

/** The RRset of \p type at \p node, or NULL. */
const struct dns_rrset *dns_node_rrset(const struct dns_db *db,
				       const struct dns_node *node,
				       uint16_t type);

/** The zone \p name is in (the one with the longest apex), or -1. */
int dns_db_zone_of(const struct dns_db *db, const uint8_t *name);

/* ----------------------------------------------------------- answer.c */

enum dns_transport { DNS_UDP, DNS_TCP };

/**
 * Answer the query \p msg (\p len bytes) from \p db into \p out (\p cap
 * bytes). \p out may be \p msg itself: the query is read in full before a
 * byte is written, so a lent packet buffer is answered in place. Over UDP
 * the answer fits in 512 bytes, or the client's EDNS0 size; when the
 * records do not, the answer has TC set and no records (the client asks
 * again over TCP). \return the answer's length, or 0: send nothing.
 */
size_t dns_answer(const struct dns_db *db, const uint8_t *msg, size_t len,
		  uint8_t *out, size_t cap, enum dns_transport tr);

#endif /* DNS_H */
