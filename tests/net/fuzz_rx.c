/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for net/'s receive path. Each input is one frame given
 * to keel_net_rx on a long-lived instance (so ARP state accumulates, with
 * the clock advancing 1 ms per input); then whatever the result allows is
 * done to it as a driver would: the in-place UDP reply (both checksum
 * paths, which must agree), the ICMP and ARP answers, sending back through
 * resolution, draining the queue, the timers. Besides ASan/UBSan findings,
 * invariants abort: counters move by exactly one, results stay inside the
 * frame, and every reply carries correct checksums by the reference sum.
 * Built with clang -fsanitize=fuzzer by tests/net/meson.build.
 */
#include "net_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                        \
	do {                                                                            \
		if (!(c)) {                                                             \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, \
				__LINE__);                                              \
			abort();                                                        \
		}                                                                       \
	} while (0)

#define BIG 10000

static struct keel_net *net;
static uint64_t now;
static uint8_t a_buf[BIG], b_buf[BIG], arp[64];

static void check_udp(const uint8_t *p, size_t len)
{
	unsigned ulen = t_rd16(p + 38);

	CHECK(len >= 42 && ulen + 34 <= len);
	CHECK(t_csum(p + 14, 20, 0) == 0);
	CHECK(t_rd16(p + 40) != 0);
	CHECK(t_csum(p + 34, ulen, t_pseudo(p + 14, 17, ulen)) == 0);
}

static void send_back(uint8_t *p, size_t len)
{
	size_t alen = 0;
	int rc = keel_net_tx_resolve(net, p, len, now, arp, sizeof(arp), &alen);

	CHECK(rc == KEEL_NET_TX_SEND || rc == KEEL_NET_TX_QUEUED || rc == -EHOSTUNREACH ||
	      rc == -ENOBUFS || rc == -EMSGSIZE);
	CHECK(alen == 0 || alen == KEEL_NET_ARP_LEN);
	if (rc == KEEL_NET_TX_SEND)
		CHECK(p[0] != 0 || p[1] != 0 || p[2] != 0 || p[3] != 0 || p[4] != 0 || p[5] != 0);
}

static void on_udp(const uint8_t *frame, size_t size, const struct keel_net_rx_result *r)
{
	int la, lb;

	CHECK(r->payload_off == KEEL_NET_UDP_HDRS);
	CHECK((size_t)r->payload_off + r->payload_len <= size);
	memcpy(a_buf, frame, size);
	memcpy(b_buf, frame, size);
	la = keel_net_udp_reply(net, a_buf, BIG, r, r->payload_len, KEEL_NET_TX_PAYLOAD_SAME);
	lb = keel_net_udp_reply(net, b_buf, BIG, r, r->payload_len, 0);
	CHECK(la == lb);
	if (la < 0) {
		CHECK(la == -EMSGSIZE);
		return;
	}
	CHECK((size_t)la == KEEL_NET_UDP_HDRS + r->payload_len);
	CHECK(memcmp(a_buf, b_buf, (size_t)la) == 0);
	check_udp(a_buf, (size_t)la);
	CHECK(memcmp(a_buf, r->src_mac, 6) == 0);
	send_back(a_buf, (size_t)la);
	/* A shorter reply, checksummed from scratch. */
	memcpy(b_buf, frame, size);
	lb = keel_net_udp_reply(net, b_buf, BIG, r, r->payload_len / 2, 0);
	CHECK(lb == (int)(KEEL_NET_UDP_HDRS + r->payload_len / 2));
	check_udp(b_buf, (size_t)lb);
}

static void on_icmp(const uint8_t *frame, size_t size, const struct keel_net_rx_result *r)
{
	int l;

	CHECK(r->payload_off == 34 && (size_t)r->payload_off + r->payload_len <= size);
	memcpy(a_buf, frame, size);
	l = keel_net_reply(net, a_buf, size, r);
	CHECK(l == 34 + r->payload_len);
	CHECK(t_csum(a_buf + 14, 20, 0) == 0);
	CHECK(t_csum(a_buf + 34, r->payload_len, 0) == 0);
	CHECK(a_buf[34] == 0 && a_buf[35] == 0);
	CHECK(memcmp(a_buf + 38, frame + 38, r->payload_len - 4) == 0);
}

static void on_arp_request(const uint8_t *frame, size_t size, const struct keel_net_rx_result *r)
{
	memcpy(a_buf, frame, size);
	CHECK(keel_net_reply(net, a_buf, size, r) == KEEL_NET_ARP_LEN);
	CHECK(t_rd16(a_buf + 20) == 2);
	CHECK(memcmp(a_buf, r->src_mac, 6) == 0);
	CHECK(memcmp(a_buf + 28, &r->dst_ip, 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keel_net_stats before, after;
	struct keel_net_rx_result r;
	enum keel_net_rx_kind k;
	uint8_t *frame;
	int l;

	if (size > BIG)
		return -1;	/* not kept in the corpus */
	if (!net) {
		struct keel_net_config c;

		t_config(&c);
		c.mtu = 9000;
		c.arp_queue_len = 16;
		if (keel_net_create(&c, &net))
			abort();
	}
	/* 1 ms per input; a last byte of 0xff adds 400 ms, so that ARP
	 * retries (1 s), timeouts (3 s) and neighbour ageing (30 s) are
	 * reached too, in steps small enough to see each of them. */
	now += size && data[size - 1] == 0xff ? 401000000 : 1000000;
	/* Exactly size bytes on the heap: one byte over is an ASan report. */
	frame = malloc(size ? size : 1);
	memcpy(frame, data, size);
	keel_net_stats_get(net, &before);
	memset(&r, 0x5a, sizeof(r));
	k = keel_net_rx(net, frame, size, 0, now, &r);
	keel_net_stats_get(net, &after);
	CHECK(k == r.kind);
	CHECK(after.rx_frames == before.rx_frames + 1);
	if (k == KEEL_NET_RX_DROP) {
		CHECK(r.drop > KEEL_NET_DROP_NONE && r.drop < KEEL_NET_DROP_NO_ROUTE);
		CHECK(after.drops[r.drop] == before.drops[r.drop] + 1);
	} else {
		CHECK(r.drop == KEEL_NET_DROP_NONE);
	}
	switch (k) {
	case KEEL_NET_RX_UDP:
		CHECK(after.rx_udp == before.rx_udp + 1);
		on_udp(frame, size, &r);
		break;
	case KEEL_NET_RX_ICMP_ECHO:
		on_icmp(frame, size, &r);
		break;
	case KEEL_NET_RX_ARP_REQUEST:
		on_arp_request(frame, size, &r);
		break;
	case KEEL_NET_RX_ARP:
		break;
	case KEEL_NET_RX_DROP:
		/* Drops must not depend on hardware checksum flags except for
		 * the checksum reasons themselves. */
		if (r.drop != KEEL_NET_DROP_IP_CSUM && r.drop != KEEL_NET_DROP_UDP_CSUM) {
			struct keel_net_rx_result r2;

			CHECK(keel_net_rx(net, frame, size,
					  KEEL_NET_RX_IP_CSUM_OK | KEEL_NET_RX_L4_CSUM_OK, now,
					  &r2) == KEEL_NET_RX_DROP);
			CHECK(r2.drop == r.drop);
		}
		break;
	default:
		CHECK(0);
	}
	if (size >= 34) {
		/* Send to the frame's source address whatever it was, valid or
		 * not: drives routing, resolution and the cache from any bytes. */
		struct keel_net_udp_tx tx = { .src_port = 1, .dst_port = 2 };

		memcpy(&tx.dst_ip, data + 26, 4);
		l = keel_net_udp_build(net, b_buf, BIG, &tx, 8, 0);
		CHECK(l == (tx.dst_ip ? 50 : -EINVAL));
		if (l > 0)
			send_back(b_buf, (size_t)l);
	}
	while ((l = keel_net_tx_pending(net, a_buf, BIG)) > 0)
		CHECK(l >= 34);
	CHECK(l == 0);
	while ((l = keel_net_tick(net, now, arp, sizeof(arp))) > 0)
		CHECK(l == KEEL_NET_ARP_LEN);
	CHECK(l == 0);
	CHECK(keel_net_neigh_count(net) <= KEEL_NET_NEIGH_MAX);
	free(frame);
	return 0;
}
