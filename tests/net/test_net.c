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
