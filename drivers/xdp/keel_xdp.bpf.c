// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * keel's XDP program: hand to the AF_XDP socket of the receiving queue
 * only the IPv4 UDP packets for an address keel serves and a port a keel
 * socket holds; pass everything else (ARP, ICMP, TCP, other UDP ports,
 * IPv6, VLAN-tagged frames) to the kernel, so the interface keeps working
 * as before for everything keel does not own.
 *
 * It checks only what it needs to find the port: the frames it redirects
 * are validated in full by net/ (checksums, lengths, options, fragments),
 * which counts every drop by reason. So a malformed datagram for a keel
 * port is redirected on purpose: dropping it here would hide it from the
 * counters. Non-first fragments carry no port and go to the kernel.
 *
 * Built with: clang -O2 -g -target bpf (see meson.build).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "keel_xdp_maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, KEEL_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} keel_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KEEL_XDP_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} keel_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct keel_xdp_cfg);
} keel_cfg SEC(".maps");

static __always_inline int ours(const struct keel_xdp_cfg *c, __u32 daddr)
{
	int hit = 0;

#pragma unroll
	for (int i = 0; i < KEEL_XDP_MAX_ADDRS; i++)
		hit |= c->addr[i] != 0 && c->addr[i] == daddr;
	return hit;
}

SEC("xdp")
int keel_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	struct keel_xdp_cfg *c;
	__u32 key = 0, port, *held;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
		return XDP_PASS;
	if (ip->frag_off & bpf_htons(0x1fff))
		return XDP_PASS; /* a later fragment: no port in it */
	c = bpf_map_lookup_elem(&keel_cfg, &key);
	if (!c || !ours(c, ip->daddr))
		return XDP_PASS;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return XDP_PASS;
	port = bpf_ntohs(udp->dest);
	held = bpf_map_lookup_elem(&keel_ports, &port);
	if (!held || !*held)
		return XDP_PASS;
	/* No socket on this queue (yet): the kernel gets it. */
	return bpf_redirect_map(&keel_xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
