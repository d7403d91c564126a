/* SPDX-License-Identifier: MIT */
/* kv-store: a chained hash table with expiry, and the kv-server protocol.
 * The table doubles when it holds twice as many keys as buckets. */
#include "kv-store.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct entry *next;
	uint64_t expires;
	size_t klen;
	char *value;
	char key[]; /* klen bytes, then the value, each NUL-terminated */
};

struct kv_store {
	struct entry **bucket;
	size_t nbuckets, count;
};

static uint64_t hash(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (n--)
		h = (h ^ (unsigned char)*k++) * 1099511628211ull;
	return h;
}

int kv_store_create(struct kv_store **out)
{
	struct kv_store *s = calloc(1, sizeof(*s));

	if (!s || !(s->bucket = calloc(64, sizeof(*s->bucket)))) {
		free(s);
		return -ENOMEM;
	}
	s->nbuckets = 64;
	*out = s;
	return 0;
}

void kv_store_destroy(struct kv_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct entry *e = s->bucket[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(s->bucket);
	free(s);
}

size_t kv_store_count(const struct kv_store *s)
{
	return s->count;
}

/* The link that points at key \p k (or at the NULL ending its chain). */
static struct entry **find(struct kv_store *s, const char *k, size_t n)
{
	struct entry **p = &s->bucket[hash(k, n) & (s->nbuckets - 1)];

	while (*p && ((*p)->klen != n || memcmp((*p)->key, k, n) != 0))
		p = &(*p)->next;
	return p;
}

static void unlink_entry(struct kv_store *s, struct entry **p)
{
	struct entry *e = *p;

	*p = e->next;
	free(e);
	s->count--;
}

size_t kv_store_expire(struct kv_store *s, uint64_t now)
{
	size_t before = s->count;

	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct entry **p = &s->bucket[i]; *p;)
			if ((*p)->expires <= now)
				unlink_entry(s, p);
			else
				p = &(*p)->next;
	return before - s->count;
}

static void grow(struct kv_store *s)
{
	size_t n = s->nbuckets * 2;
	struct entry **b = calloc(n, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct entry *e = s->bucket[i], *next; e; e = next) {
			next = e->next;
			e->next = b[hash(e->key, e->klen) & (n - 1)];
			b[hash(e->key, e->klen) & (n - 1)] = e;
		}
	free(s->bucket);
	s->bucket = b;
	s->nbuckets = n;
}

static int set(struct kv_store *s, const char *k, size_t kn, const char *v,
	       size_t vn, uint64_t expires)
{
	struct entry **p = find(s, k, kn), *e;

	e = malloc(sizeof(*e) + kn + vn + 2);
	if (!e)
		return -ENOMEM;
	e->klen = kn;
	e->expires = expires;
	memcpy(e->key, k, kn);
	e->key[kn] = '\0';
	e->value = e->key + kn + 1;
	memcpy(e->value, v, vn);
	e->value[vn] = '\0';
	if (*p) { /* replace in place */
		e->next = (*p)->next;
		free(*p);
		*p = e;
		return 0;
	}
	e->next = NULL;
	*p = e;
	if (++s->count > 2 * s->nbuckets)
		grow(s);
	return 0;
}

/* The entry for a key, if it has not expired (an expired one goes now). */
static struct entry **lookup(struct kv_store *s, const char *k, size_t n,
			     uint64_t now)
{
	struct entry **p = find(s, k, n);

	if (*p && (*p)->expires <= now) {
		unlink_entry(s, p);
		return NULL;
	}
	return *p ? p : NULL;
}

static size_t reply(char *out, size_t size, const char *text, size_t n)
{
	if (n > size)
		n = size;
	memcpy(out, text, n);
	return n;
}

#define REPLY(text) reply(out, size, (text), strlen(text))

size_t kv_store_handle(struct kv_store *s, const char *req, size_t n,
		       uint64_t now, uint64_t ttl, char *out, size_t size)
{
	const char *end, *key, *arg;
	size_t cmdlen, klen;
	struct entry **p;

	if (n && req[n - 1] == '\n')
		n--;
	if (n && req[n - 1] == '\r')
		n--;
	end = req + n;
	if (memchr(req, '\0', n))
		return REPLY("ERR binary request");
	cmdlen = (size_t)((arg = memchr(req, ' ', n)) ? arg - req : (ptrdiff_t)n);
	key = arg ? arg + 1 : end;
	arg = memchr(key, ' ', (size_t)(end - key));
	klen = (size_t)((arg ? arg : end) - key);
	if (cmdlen == 3 && memcmp(req, "SET", 3) == 0) {
		if (!klen || !arg)
			return REPLY("ERR usage: SET key value");
		arg++;
		if (set(s, key, klen, arg, (size_t)(end - arg), now + ttl) < 0)
			return REPLY("ERR out of memory");
		return REPLY("OK");
	}
	if ((cmdlen == 3 && memcmp(req, "GET", 3) == 0) ||
	    (cmdlen == 3 && memcmp(req, "DEL", 3) == 0)) {
		bool get = req[0] == 'G';

		if (!klen || arg)
			return REPLY(get ? "ERR usage: GET key" : "ERR usage: DEL key");
		p = lookup(s, key, klen, now);
		if (!p)
			return REPLY("NOTFOUND");
		if (get)
			return REPLY((*p)->value);
		unlink_entry(s, p);
		return REPLY("OK");
	}
	if (n == 0)
		return REPLY("ERR empty request");
	return REPLY("ERR unknown command (SET, GET or DEL)");
}
