/* SPDX-License-Identifier: MIT */
/*
 * What keel's XDP program and the driver agree on: the maps' sizes and the
 * layout of their values. Included by the BPF C (clang -target bpf) and by
 * the driver, so only <linux/types.h> types.
 */
#ifndef KEEL_XDP_MAPS_H
#define KEEL_XDP_MAPS_H

#include <linux/types.h>

/* keel_xsks: XSKMAP, key the RX queue index, value an AF_XDP socket. */
#define KEEL_XDP_MAX_QUEUES 256

/* keel_ports: ARRAY indexed by the UDP destination port (host order); a
 * nonzero value (how many keel sockets hold the port) redirects. */
#define KEEL_XDP_PORTS 65536

/* keel_cfg: ARRAY of one struct keel_xdp_cfg: the IPv4 addresses keel
 * serves (network order, 0: unused slot). */
#define KEEL_XDP_MAX_ADDRS 4

struct keel_xdp_cfg {
	__u32 addr[KEEL_XDP_MAX_ADDRS];
};

#endif /* KEEL_XDP_MAPS_H */
