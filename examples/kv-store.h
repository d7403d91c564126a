/* SPDX-License-Identifier: MIT */
/* kv-store: the data of examples/kv-server, plain C (no keel): a hash table
 * of string keys and values with an expiry time each, and the text protocol
 * over it. Not thread-safe: the server holds a lock around each call. */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <stddef.h>
#include <stdint.h>

struct kv_store;

/** \return 0 or -ENOMEM. */
int kv_store_create(struct kv_store **out);
void kv_store_destroy(struct kv_store *s);

/** Keys alive (expired ones not yet swept may count). */
size_t kv_store_count(const struct kv_store *s);

/** Remove every key whose expiry is at or before \p now; how many. */
size_t kv_store_expire(struct kv_store *s, uint64_t now);

/**
 * Answer one request of the protocol (one datagram, \p req of \p n bytes):
 *   SET key value  ->  OK          (the key expires at now + ttl)
 *   GET key        ->  the value, or NOTFOUND
 *   DEL key        ->  OK, or NOTFOUND
 *   anything else  ->  ERR <reason>
 * A trailing newline is ignored. The reply goes to \p out (at most
 * \p size bytes, not NUL-terminated); \return its length.
 */
size_t kv_store_handle(struct kv_store *s, const char *req, size_t n,
		       uint64_t now, uint64_t ttl, char *out, size_t size);

#endif /* KV_STORE_H */
