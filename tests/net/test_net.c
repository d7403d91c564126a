/* SPDX-License-Identifier: MIT */
/* net/net.c: configuration, routing, counters and their names. */
#include "net_test.h"

#include <criterion/criterion.h>
#include <errno.h>

Test(net, create_defaults)
{
	struct keel_net_config c;
	const struct keel_net_config *got;
	struct keel_net *n;

	t_config(&c);
	cr_assert_eq(keel_net_create(&c, &n), 0);
	got = keel_net_config_get(n);
	cr_assert_eq(got->mtu, 1500);
	cr_assert_eq(got->ttl, 64);
	cr_assert_eq(got->neigh_ttl_ns, 30 * T_NS);
	cr_assert_eq(got->arp_retry_ns, T_NS);
	cr_assert_eq(got->arp_retries, 3);
	cr_assert_eq(got->arp_queue_len, 64);
	cr_assert_arr_eq(got->mac, t_our_mac, 6);
	cr_assert_eq(keel_net_neigh_count(n), 0);
	keel_net_destroy(n);
	keel_net_destroy(NULL);
}

Test(net, create_rejects_bad_config)
{
	struct keel_net_config c;
	struct keel_net *n = NULL;

	cr_assert_eq(keel_net_create(NULL, &n), -EINVAL);
	t_config(&c);
	cr_assert_eq(keel_net_create(&c, NULL), -EINVAL);

#define BAD(stmt)                                                         \
	do {                                                              \
		t_config(&c);                                             \
		stmt;                                                     \
		cr_assert_eq(keel_net_create(&c, &n), -EINVAL, "%s", #stmt); \
	} while (0)
	BAD(c.mac[0] |= 1);
	BAD(memset(c.mac, 0, 6));
	BAD(c.n_addrs = 0);
	BAD(c.n_addrs = KEEL_NET_MAX_ADDRS + 1);
	BAD(c.addrs[0].addr = 0);
	BAD(c.addrs[0].addr = t_ip(127, 0, 0, 1));
	BAD(c.addrs[0].addr = t_ip(224, 1, 2, 3));
	BAD(c.addrs[1].addr = 0xffffffffu);
	BAD(c.addrs[0].prefix_len = 0);
	BAD(c.addrs[0].prefix_len = 33);
	BAD(c.gateway = t_ip(10, 0, 0, 1));	/* not on any of our subnets */
	BAD(c.gateway = T_OUR_IP);
	BAD(c.mtu = 67);
	BAD(c.mtu = 9001);
	BAD(c.arp_retries = 256);
	BAD(c.arp_queue_len = 4097);
#undef BAD
	cr_assert_null(n);
}

Test(net, create_minimal)
{
	struct keel_net_config c;
	struct keel_net *n;

	memset(&c, 0, sizeof(c));
	memcpy(c.mac, t_our_mac, 6);
	c.n_addrs = 1;
	c.addrs[0].addr = t_ip(10, 0, 0, 1);
	c.addrs[0].prefix_len = 32;
	c.mtu = 9000;
	c.arp_queue_len = 1;
	cr_assert_eq(keel_net_create(&c, &n), 0);
	cr_assert_eq(keel_net_route(n, t_ip(10, 0, 0, 2)), 0);
	cr_assert_eq(keel_net_src_for(n, t_ip(10, 0, 0, 2)), t_ip(10, 0, 0, 1));
	keel_net_destroy(n);
}

Test(net, route_and_source)
{
	struct keel_net_config c;
	struct keel_net *n;

	t_config(&c);
	cr_assert_eq(keel_net_create(&c, &n), 0);
	cr_assert_eq(keel_net_route(n, T_PEER_IP), T_PEER_IP);
	cr_assert_eq(keel_net_route(n, t_ip(198, 19, 44, 5)), t_ip(198, 19, 44, 5));
	cr_assert_eq(keel_net_route(n, T_FAR_IP), T_GW_IP);
	cr_assert_eq(keel_net_src_for(n, T_PEER_IP), T_OUR_IP);
	cr_assert_eq(keel_net_src_for(n, t_ip(198, 19, 44, 5)), T_OUR_IP2);
	cr_assert_eq(keel_net_src_for(n, T_FAR_IP), T_OUR_IP);
	keel_net_destroy(n);

	/* The gateway on the second subnet: off-link traffic leaves from it. */
	t_config(&c);
	c.gateway = t_ip(198, 19, 0, 254);
	cr_assert_eq(keel_net_create(&c, &n), 0);
	cr_assert_eq(keel_net_src_for(n, T_FAR_IP), T_OUR_IP2);
	keel_net_destroy(n);

	/* No gateway: no route off-link. */
	t_config(&c);
	c.gateway = 0;
	cr_assert_eq(keel_net_create(&c, &n), 0);
	cr_assert_eq(keel_net_route(n, T_FAR_IP), 0);
	keel_net_destroy(n);
}

Test(net, drop_names)
{
	for (int d = 0; d < KEEL_NET_DROP_MAX; d++) {
		const char *name = keel_net_drop_name(d);

		cr_assert_not_null(name);
		cr_assert_str_neq(name, "?", "reason %d has no name", d);
		for (int e = 0; e < d; e++)
			cr_assert_str_neq(name, keel_net_drop_name(e), "%d and %d share a name", d,
					  e);
		cr_assert_eq(strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_"), strlen(name));
	}
	cr_assert_str_eq(keel_net_drop_name(KEEL_NET_DROP_IP_CSUM), "ip_csum");
	cr_assert_str_eq(keel_net_drop_name(KEEL_NET_DROP_MAX), "?");
	cr_assert_str_eq(keel_net_drop_name((enum keel_net_drop)-1), "?");
}

/* The socket rules both bypass drivers use: one error per mistake. */
static struct keel_addr t_to(uint32_t ip, uint16_t port)
{
	struct keel_addr a;

	memset(&a, 0, sizeof(a));
	a.in4.sin_family = AF_INET;
	a.in4.sin_addr.s_addr = ip;
	a.in4.sin_port = htons(port);
	return a;
}

Test(net, socket_rules)
{
	struct keel_net_config c;
	struct keel_net *n;
	struct keel_addr a, v6;

	t_config(&c);
	c.gateway = 0;
	cr_assert_eq(keel_net_create(&c, &n), 0);
	memset(&v6, 0, sizeof(v6));
	v6.in6.sin6_family = AF_INET6;

	cr_assert(keel_net_is_ours(n, T_OUR_IP));
	cr_assert_not(keel_net_is_ours(n, T_PEER_IP));

	a = t_to(0, 53);
	cr_assert_eq(keel_net_udp_bind_check(n, &a), 0, "the wildcard");
	a = t_to(T_OUR_IP, 53);
	cr_assert_eq(keel_net_udp_bind_check(n, &a), 0);
	a = t_to(T_PEER_IP, 53);
	cr_assert_eq(keel_net_udp_bind_check(n, &a), -EADDRNOTAVAIL);
	cr_assert_eq(keel_net_udp_bind_check(n, &v6), -EAFNOSUPPORT);

	a = t_to(T_PEER_IP, 7);
	cr_assert_eq(keel_net_udp_send_check(n, &a, 100, 1472, false), 0);
	cr_assert_eq(keel_net_udp_send_check(n, &v6, 1, 1472, false), -EAFNOSUPPORT);
	cr_assert_eq(keel_net_udp_send_check(n, &a, 1473, 1472, false), -EMSGSIZE);
	a = t_to(T_PEER_IP, 0);
	cr_assert_eq(keel_net_udp_send_check(n, &a, 1, 1472, false), -EINVAL);
	a = t_to(0, 7);
	cr_assert_eq(keel_net_udp_send_check(n, &a, 1, 1472, false), -EINVAL);
	a = t_to(0xffffffffu, 7);
	cr_assert_eq(keel_net_udp_send_check(n, &a, 1, 1472, false), -EACCES);
	cr_assert_eq(keel_net_udp_send_check(n, &a, 1, 1472, true), 0);
	a = t_to(T_OUR_IP, 7);
	cr_assert_eq(keel_net_udp_send_check(n, &a, 1, 1472, false), -EHOSTUNREACH,
		     "not to ourselves");
	a = t_to(T_FAR_IP, 7);
	cr_assert_eq(keel_net_udp_send_check(n, &a, 1, 1472, false), -EHOSTUNREACH,
		     "off-link without a gateway");
	keel_net_destroy(n);
}
