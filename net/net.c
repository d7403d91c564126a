/* SPDX-License-Identifier: MIT */
/*
 * The instance: configuration checks and defaults, routing between our
 * subnets and the gateway, counters and their names. The per-packet work is
 * in parse.c and build.c, ARP in arp.c.
 */
#include "net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#define NS_PER_S	1000000000ull

static const char *const drop_names[] = {
	[KEEL_NET_DROP_NONE] = "none",
	[KEEL_NET_DROP_RUNT] = "runt",
	[KEEL_NET_DROP_DST_MAC] = "dst_mac",
	[KEEL_NET_DROP_SRC_MAC] = "src_mac",
	[KEEL_NET_DROP_VLAN] = "vlan",
	[KEEL_NET_DROP_ETHERTYPE] = "ethertype",
	[KEEL_NET_DROP_ARP_TRUNC] = "arp_trunc",
	[KEEL_NET_DROP_ARP_BAD] = "arp_bad",
	[KEEL_NET_DROP_ARP_NOT_FOR_US] = "arp_not_for_us",
	[KEEL_NET_DROP_ARP_CONFLICT] = "arp_conflict",
	[KEEL_NET_DROP_IP_TRUNC] = "ip_trunc",
	[KEEL_NET_DROP_IP_VERSION] = "ip_version",
	[KEEL_NET_DROP_IP_HDR_LEN] = "ip_hdr_len",
	[KEEL_NET_DROP_IP_LEN] = "ip_len",
	[KEEL_NET_DROP_IP_CSUM] = "ip_csum",
	[KEEL_NET_DROP_IP_OPTIONS] = "ip_options",
	[KEEL_NET_DROP_IP_FRAGMENT] = "ip_fragment",
	[KEEL_NET_DROP_IP_SRC] = "ip_src",
	[KEEL_NET_DROP_IP_SRC_BCAST] = "ip_src_bcast",
	[KEEL_NET_DROP_IP_SRC_NET] = "ip_src_net",
	[KEEL_NET_DROP_IP_SRC_MCAST] = "ip_src_mcast",
	[KEEL_NET_DROP_IP_DST] = "ip_dst",
	[KEEL_NET_DROP_IP_PROTO] = "ip_proto",
	[KEEL_NET_DROP_UDP_TRUNC] = "udp_trunc",
	[KEEL_NET_DROP_UDP_LEN] = "udp_len",
	[KEEL_NET_DROP_UDP_CSUM] = "udp_csum",
	[KEEL_NET_DROP_UDP_SRC_PORT] = "udp_src_port",
	[KEEL_NET_DROP_ICMP_TRUNC] = "icmp_trunc",
	[KEEL_NET_DROP_ICMP_CSUM] = "icmp_csum",
	[KEEL_NET_DROP_ICMP_TYPE] = "icmp_type",
	[KEEL_NET_DROP_NO_ROUTE] = "no_route",
	[KEEL_NET_DROP_ARP_QUEUE_FULL] = "arp_queue_full",
	[KEEL_NET_DROP_ARP_TIMEOUT] = "arp_timeout",
	[KEEL_NET_DROP_TOO_BIG] = "too_big",
};

_Static_assert(sizeof(drop_names) / sizeof(drop_names[0]) == KEEL_NET_DROP_MAX,
	       "every drop reason needs a name");

const char *keel_net_drop_name(enum keel_net_drop d)
{
	if ((unsigned)d >= KEEL_NET_DROP_MAX || !drop_names[d])
		return "?";
	return drop_names[d];
}

static uint32_t prefix_mask(unsigned prefix_len)
{
	return htonl(prefix_len ? ~0u << (32 - prefix_len) : 0);
}

/* Check cfg and fill in its defaults. */
static int config_fix(struct keel_net_config *c)
{
	if (keel__mac_is_multicast(c->mac) || keel__mac_is_zero(c->mac))
		return -EINVAL;
	if (c->n_addrs == 0 || c->n_addrs > KEEL_NET_MAX_ADDRS)
		return -EINVAL;
	for (unsigned i = 0; i < c->n_addrs; i++) {
		if (!keel__host_addr_ok(c->addrs[i].addr))
			return -EINVAL;
		if (c->addrs[i].prefix_len < 1 || c->addrs[i].prefix_len > 32)
			return -EINVAL;
	}
	if (c->gateway) {
		bool on_link = false;

		for (unsigned i = 0; i < c->n_addrs; i++) {
			uint32_t m = prefix_mask(c->addrs[i].prefix_len);

			if (c->gateway == c->addrs[i].addr)
				return -EINVAL;
			if (((c->gateway ^ c->addrs[i].addr) & m) == 0)
				on_link = true;
		}
		if (!on_link || !keel__host_addr_ok(c->gateway))
			return -EINVAL;
	}
	if (!c->mtu)
		c->mtu = 1500;
	if (c->mtu < 68 || c->mtu > 9000)
		return -EINVAL;
	if (!c->ttl)
		c->ttl = 64;
	if (!c->neigh_ttl_ns)
		c->neigh_ttl_ns = 30 * NS_PER_S;
	if (!c->arp_retry_ns)
		c->arp_retry_ns = NS_PER_S;
	if (!c->arp_retries)
		c->arp_retries = 3;
	if (c->arp_retries > 255)
		return -EINVAL;
	if (!c->arp_queue_len)
		c->arp_queue_len = 64;
	if (c->arp_queue_len > 4096)
		return -EINVAL;
	return 0;
}

int keel_net_create(const struct keel_net_config *cfg, struct keel_net **out)
{
	struct keel_net *n;
	int err;

	if (!cfg || !out)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->cfg = *cfg;
	err = config_fix(&n->cfg);
	if (err)
		goto err_free;
	memset(n->cfg.addrs + n->cfg.n_addrs, 0,
	       (KEEL_NET_MAX_ADDRS - n->cfg.n_addrs) * sizeof(n->cfg.addrs[0]));
	memcpy(&n->mac_w0, n->cfg.mac, 4);
	memcpy(&n->mac_w1, n->cfg.mac + 4, 2);
	for (unsigned i = 0; i < n->cfg.n_addrs; i++)
		n->masks[i] = prefix_mask(n->cfg.addrs[i].prefix_len);
	err = keel__arp_init(n);
	if (err)
		goto err_free;
	*out = n;
	return 0;

err_free:
	free(n);
	return err;
}

void keel_net_destroy(struct keel_net *n)
{
	if (!n)
		return;
	keel__arp_fini(n);
	free(n);
}

const struct keel_net_config *keel_net_config_get(const struct keel_net *n)
{
	return &n->cfg;
}

void keel_net_stats_get(const struct keel_net *n, struct keel_net_stats *out)
{
	const uint64_t *src = (const uint64_t *)&n->stats;
	uint64_t *dst = (uint64_t *)out;

	_Static_assert(sizeof(*out) % sizeof(uint64_t) == 0,
		       "keel_net_stats: counters only");
	/* Any thread: field by field, each a relaxed load (NET_COUNT). */
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

uint32_t keel_net_route(const struct keel_net *n, uint32_t dst)
{
	for (unsigned i = 0; i < n->cfg.n_addrs; i++)
		if (((dst ^ n->cfg.addrs[i].addr) & n->masks[i]) == 0)
			return dst;
	return n->cfg.gateway;
}

bool keel_net_is_broadcast(const struct keel_net *n, uint32_t ip)
{
	if (ip == 0xffffffffu)
		return true;
	for (unsigned i = 0; i < n->cfg.n_addrs; i++)
		if (n->cfg.addrs[i].prefix_len <= 30 &&
		    ip == (n->cfg.addrs[i].addr | ~n->masks[i]))
			return true;
	return false;
}

int keel_net_tx_check(const struct keel_net *n, uint32_t dst_ip, bool broadcast_ok)
{
	if (!broadcast_ok && keel_net_is_broadcast(n, dst_ip))
		return -EACCES;
	return 0;
}

bool keel_net_is_ours(const struct keel_net *n, uint32_t ip)
{
	for (unsigned i = 0; i < n->cfg.n_addrs; i++)
		if (n->cfg.addrs[i].addr == ip)
			return true;
	return false;
}

int keel_net_udp_bind_check(const struct keel_net *n, const struct keel_addr *addr)
{
	if (addr->sa.sa_family != AF_INET)
		return -EAFNOSUPPORT;
	if (addr->in4.sin_addr.s_addr != htonl(INADDR_ANY) &&
	    !keel_net_is_ours(n, addr->in4.sin_addr.s_addr))
		return -EADDRNOTAVAIL;
	return 0;
}

int keel_net_udp_send_check(const struct keel_net *n, const struct keel_addr *to,
			    size_t len, size_t max_payload, bool broadcast_ok)
{
	uint32_t ip = to->in4.sin_addr.s_addr;

	if (to->sa.sa_family != AF_INET)
		return -EAFNOSUPPORT;
	if (!ip || !to->in4.sin_port)
		return -EINVAL;
	if (len > max_payload)
		return -EMSGSIZE;
	if (keel_net_is_broadcast(n, ip)) /* to the link: no route needed */
		return broadcast_ok ? 0 : -EACCES;
	if (!keel_net_route(n, ip) || keel_net_is_ours(n, ip))
		return -EHOSTUNREACH;
	return 0;
}

uint32_t keel_net_src_for(const struct keel_net *n, uint32_t dst)
{
	unsigned i;

	for (i = 0; i < n->cfg.n_addrs; i++)
		if (((dst ^ n->cfg.addrs[i].addr) & n->masks[i]) == 0)
			return n->cfg.addrs[i].addr;
	for (i = 0; i < n->cfg.n_addrs && n->cfg.gateway; i++)
		if (((n->cfg.gateway ^ n->cfg.addrs[i].addr) & n->masks[i]) == 0)
			return n->cfg.addrs[i].addr;
	return n->cfg.addrs[0].addr;
}

static void addr_set(struct keel_addr *out, uint32_t ip, uint16_t port)
{
	memset(out, 0, sizeof(*out));
	out->in4.sin_family = AF_INET;
	out->in4.sin_addr.s_addr = ip;
	out->in4.sin_port = port;
}

void keel_net_rx_src_addr(const struct keel_net_rx_result *rx, struct keel_addr *out)
{
	addr_set(out, rx->src_ip, rx->src_port);
}

void keel_net_rx_dst_addr(const struct keel_net_rx_result *rx, struct keel_addr *out)
{
	addr_set(out, rx->dst_ip, rx->dst_port);
}
