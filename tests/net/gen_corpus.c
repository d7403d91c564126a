/* SPDX-License-Identifier: MIT */
/*
 * Seeds for the receive-path fuzzer: one file per kind of frame net/ knows
 * (datagrams of several sizes, ICMP echo, each ARP case) and a few of the
 * malformed ones, crafted with the same helpers as the unit tests so they
 * match the fuzz target's configuration. Usage: gen_corpus DIR
 */
#include "net_test.h"

#include <stdio.h>

static int put(const char *dir, const char *name, const uint8_t *f, size_t len)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (!fp || fwrite(f, 1, len, fp) != len) {
		perror(path);
		if (fp)
			fclose(fp);
		return 1;
	}
	return fclose(fp) != 0;
}

int main(int argc, char **argv)
{
	static const uint8_t zero_mac[6];
	static uint8_t f[2048];
	static const size_t udp_sizes[] = { 0, 1, 14, 18, 64, 512, 1472 };
	const char *dir;
	char name[64];
	size_t len;
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	for (size_t i = 0; i < sizeof(udp_sizes) / sizeof(udp_sizes[0]); i++) {
		len = t_udp_simple(f, udp_sizes[i]);
		snprintf(name, sizeof(name), "udp-%zu", udp_sizes[i]);
		err |= put(dir, name, f, len);
	}
	len = t_udp_simple(f, 8);
	t_wr16(f + 40, 0);
	err |= put(dir, "udp-nocsum", f, len);
	len = t_udp(f, T_FAR_IP, T_OUR_IP2, 53, 5353, "far", 3);
	err |= put(dir, "udp-far", f, len);
	len = t_icmp(f, 8, 0, 56);
	err |= put(dir, "icmp-echo", f, len);
	len = t_icmp(f, 0, 0, 8);
	err |= put(dir, "icmp-reply", f, len);
	len = t_arp(f, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, zero_mac, T_OUR_IP);
	err |= put(dir, "arp-request", f, len);
	len = t_arp(f, t_our_mac, 2, t_peer_mac, T_PEER_IP, t_our_mac, T_OUR_IP);
	err |= put(dir, "arp-reply", f, len);
	len = t_arp(f, t_bcast_mac, 1, t_peer_mac, T_PEER_IP, zero_mac, T_PEER_IP);
	err |= put(dir, "arp-gratuitous", f, len);
	len = t_arp(f, t_bcast_mac, 1, t_peer_mac, 0, zero_mac, T_OUR_IP);
	err |= put(dir, "arp-probe", f, len);
	len = t_udp_simple(f, 20);
	t_wr16(f + 20, 0x2000);
	t_fix_ip_csum(f);
	err |= put(dir, "ip-fragment", f, len);
	len = t_udp_simple(f, 20);
	t_wr16(f + 12, 0x8100);
	err |= put(dir, "vlan", f, len);
	return err;
}
