/* SPDX-License-Identifier: MIT */
/* examples/kv-store.c: the kv-server protocol and expiry, on a clock the
 * test sets (no waiting). */
#include "kv-store.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define SEC 1000000000ull

static struct kv_store *s;
static char out[256];

static void setup(void)
{
	cr_assert_eq(kv_store_create(&s), 0);
}

static void teardown(void)
{
	kv_store_destroy(s);
}

/* The reply to \p req at time \p now, with a 60 s TTL, as a C string. */
static const char *ask(const char *req, uint64_t now)
{
	size_t n = kv_store_handle(s, req, strlen(req), now, 60 * SEC, out,
				   sizeof(out) - 1);

	out[n] = '\0';
	return out;
}

TestSuite(kv_store, .init = setup, .fini = teardown);

Test(kv_store, protocol)
{
	cr_assert_str_eq(ask("GET a", 0), "NOTFOUND");
	cr_assert_str_eq(ask("SET a hello world", 0), "OK");
	cr_assert_str_eq(ask("GET a", 0), "hello world");
	cr_assert_str_eq(ask("SET a again\n", 0), "OK");
	cr_assert_str_eq(ask("GET a\r\n", 0), "again");
	cr_assert_eq(kv_store_count(s), 1u);
	cr_assert_str_eq(ask("DEL a", 0), "OK");
	cr_assert_str_eq(ask("DEL a", 0), "NOTFOUND");
	cr_assert_str_eq(ask("GET a", 0), "NOTFOUND");
	cr_assert_eq(kv_store_count(s), 0u);
}

Test(kv_store, errors)
{
	const char *bad[] = { "", "\n", "PUT a b", "get a", "SET", "SET a",
			      "SET  a", "GET", "GET a b", "DEL", "DEL a b", "SETa b" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(strncmp(ask(bad[i], 0), "ERR ", 4) == 0, "'%s' -> '%s'",
			  bad[i], out);
	cr_assert_eq(kv_store_count(s), 0u);
	cr_assert_eq(kv_store_handle(s, "SET a\0b", 7, 0, SEC, out, sizeof(out)), 18u);
}

Test(kv_store, expiry_after_last_set)
{
	cr_assert_str_eq(ask("SET k v", 0), "OK");
	cr_assert_str_eq(ask("GET k", 59 * SEC), "v");
	cr_assert_str_eq(ask("SET k w", 30 * SEC), "OK"); /* renews */
	cr_assert_str_eq(ask("GET k", 89 * SEC), "w");
	cr_assert_str_eq(ask("GET k", 90 * SEC), "NOTFOUND");
	cr_assert_str_eq(ask("DEL k", 90 * SEC), "NOTFOUND");
}

Test(kv_store, sweep_and_growth)
{
	char req[64];

	for (int i = 0; i < 1000; i++) {
		snprintf(req, sizeof(req), "SET key%d %d", i, i);
		cr_assert_str_eq(ask(req, i < 500 ? 0 : 10 * SEC), "OK");
	}
	cr_assert_eq(kv_store_count(s), 1000u);
	cr_assert_str_eq(ask("GET key999", 0), "999");
	cr_assert_eq(kv_store_expire(s, 60 * SEC), 500u);
	cr_assert_eq(kv_store_count(s), 500u);
	cr_assert_str_eq(ask("GET key1", 60 * SEC), "NOTFOUND");
	cr_assert_str_eq(ask("GET key500", 60 * SEC), "500");
}
