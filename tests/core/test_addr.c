/* SPDX-License-Identifier: MIT */
/* core/addr.c: parsing and printing socket addresses. */
#include <criterion/criterion.h>
#include <errno.h>
#include <keel/addr.h>
#include <string.h>

Test(addr, parse_v4)
{
	struct keel_addr a;
	char buf[KEEL_ADDR_STRLEN];

	cr_assert_eq(keel_addr_parse("127.0.0.1:8080", &a), 0);
	cr_assert_eq(a.sa.sa_family, AF_INET);
	cr_assert_eq(keel_addr_port(&a), 8080);
	cr_assert_eq(keel_addr_len(&a), sizeof(struct sockaddr_in));
	cr_assert_str_eq(keel_addr_format(&a, buf, sizeof(buf)), "127.0.0.1:8080");
}

Test(addr, parse_v6)
{
	struct keel_addr a, b;
	char buf[KEEL_ADDR_STRLEN];

	cr_assert_eq(keel_addr_parse("[::1]:53", &a), 0);
	cr_assert_eq(a.sa.sa_family, AF_INET6);
	cr_assert_eq(keel_addr_port(&a), 53);
	cr_assert_str_eq(keel_addr_format(&a, buf, sizeof(buf)), "[::1]:53");
	cr_assert_eq(keel_addr_parse("[fe80::1%1]:9", &b), 0);
	cr_assert_eq(b.in6.sin6_scope_id, 1);
	cr_assert_str_eq(keel_addr_format(&b, buf, sizeof(buf)), "[fe80::1%1]:9");
	cr_assert_not(keel_addr_equal(&a, &b));
	cr_assert(keel_addr_equal(&a, &a));
}

Test(addr, rejects_malformed)
{
	static const char *bad[] = {
		"", ":", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:+1", "127.0.0.1:80x", "256.0.0.1:1",
		"::1:80", "[::1]80", "[::1]:", "[::g]:1", "[]:1", "host:80",
		"[fe80::1%nosuchif0]:1", "1.2.3.4:99999999999999999999",
	};
	struct keel_addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(keel_addr_parse(bad[i], &a), -EINVAL, "accepted '%s'", bad[i]);
	cr_assert_eq(keel_addr_parse(NULL, &a), -EINVAL);
	cr_assert_eq(keel_addr_parse("1.2.3.4:5", NULL), -EINVAL);
	cr_assert_eq(keel_addr_from("1.2.3.4", 70000, &a), -EINVAL);
}

Test(addr, format_unknown_and_tiny_buffers)
{
	struct keel_addr a;
	char buf[8];

	memset(&a, 0, sizeof(a));
	cr_assert_str_eq(keel_addr_format(&a, buf, sizeof(buf)), "?");
	cr_assert_eq(keel_addr_len(&a), 0);
	cr_assert_eq(keel_addr_port(&a), 0);
	cr_assert_eq(keel_addr_parse("255.255.255.255:65535", &a), 0);
	keel_addr_format(&a, buf, sizeof(buf));
	cr_assert_eq(strlen(buf), sizeof(buf) - 1, "cut, and NUL-terminated");
}
