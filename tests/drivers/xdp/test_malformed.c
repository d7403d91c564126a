/* SPDX-License-Identifier: MIT */
/* Malformed frames for a keel port, injected from the peer namespace with a
 * raw AF_PACKET socket: keel's XDP program hands them to the AF_XDP socket
 * (it only looks for the port), net/ drops each one with the counter that
 * names what is wrong, and good datagrams keep flowing around them. */
#include "xtest.h"

#include <keel/stats.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>

/* What to break in an otherwise good frame. */
enum breakage {
	B_NONE,
	B_IP_CSUM,
	B_UDP_CSUM,
	B_IP_OPTIONS,
	B_FRAGMENT,
	B_UDP_LEN,
	B_IP_LEN,
	B_IP_VERSION,
	B_DST_MAC,
	B_SRC_IS_US,
	B_SRC_BCAST,
	B_SRC_DIRECTED,
	B_SRC_NET,
	B_SRC_MCAST,
	B_SRC_CLASS_E,
	B_SRC_PORT0,
	B_MAX
};

static const struct {
	const char *name;
	enum keel_net_drop drop;
} cases[B_MAX] = {
	[B_IP_CSUM] = { "IPv4 header checksum", KEEL_NET_DROP_IP_CSUM },
	[B_UDP_CSUM] = { "UDP checksum", KEEL_NET_DROP_UDP_CSUM },
	[B_IP_OPTIONS] = { "IP options", KEEL_NET_DROP_IP_OPTIONS },
	[B_FRAGMENT] = { "first fragment", KEEL_NET_DROP_IP_FRAGMENT },
	[B_UDP_LEN] = { "UDP length past the packet", KEEL_NET_DROP_UDP_LEN },
	[B_IP_LEN] = { "IP total length past the frame", KEEL_NET_DROP_IP_LEN },
	[B_IP_VERSION] = { "IP version 6 in an IPv4 frame", KEEL_NET_DROP_IP_VERSION },
	[B_DST_MAC] = { "someone else's MAC", KEEL_NET_DROP_DST_MAC },
	[B_SRC_IS_US] = { "our own address as source", KEEL_NET_DROP_IP_SRC },
	/* Reflection: a reply to these would go to the whole link. */
	[B_SRC_BCAST] = { "source 255.255.255.255", KEEL_NET_DROP_IP_SRC_BCAST },
	[B_SRC_DIRECTED] = { "source our subnet's broadcast", KEEL_NET_DROP_IP_SRC_BCAST },
	[B_SRC_NET] = { "source our subnet's network address", KEEL_NET_DROP_IP_SRC_NET },
	[B_SRC_MCAST] = { "multicast source", KEEL_NET_DROP_IP_SRC_MCAST },
	[B_SRC_CLASS_E] = { "class E source", KEEL_NET_DROP_IP_SRC },
	[B_SRC_PORT0] = { "UDP source port 0", KEEL_NET_DROP_UDP_SRC_PORT },
};

/* The source address a breakage uses (the fixture's subnet is a /24). */
static uint32_t src_of(enum breakage b)
{
	uint32_t subnet = ntohl(xt_pair.addr_be) & 0xffffff00u;

	switch (b) {
	case B_SRC_IS_US:
		return xt_pair.addr_be;
	case B_SRC_BCAST:
		return 0xffffffffu;
	case B_SRC_DIRECTED:
		return htonl(subnet | 0xff);
	case B_SRC_NET:
		return htonl(subnet);
	case B_SRC_MCAST:
		return htonl(0xe0000005u);
	case B_SRC_CLASS_E:
		return htonl(0xf0000001u);
	default:
		return xt_pair.peer_addr_be;
	}
}

static uint16_t csum(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* An Ethernet + IPv4 + UDP frame from the peer's port XT_PEER_PORT to our
 * port XT_PORT carrying \p payload, broken as \p b says. \return its length. */
static size_t craft(uint8_t *f, enum breakage b, const char *payload)
{
	size_t plen = strlen(payload), ihl = b == B_IP_OPTIONS ? 24 : 20;
	uint8_t *ip = f + 14, *udp = ip + ihl;
	uint16_t ulen = (uint16_t)(8 + plen), tot = (uint16_t)(ihl + ulen);
	uint32_t src = src_of(b);
	uint8_t pseudo[12];

	memcpy(f, xt_pair.mac, 6);
	if (b == B_DST_MAC)
		memcpy(f, "\x02\x00\x00\x00\x00\x99", 6);
	memcpy(f + 6, xt_pair.peer_mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;

	memset(ip, 0, ihl);
	ip[0] = (uint8_t)((b == B_IP_VERSION ? 0x60 : 0x40) | ihl / 4);
	*(uint16_t *)(void *)(ip + 2) = htons(b == B_IP_LEN ? tot + 100 : tot);
	*(uint16_t *)(void *)(ip + 6) = htons(b == B_FRAGMENT ? 0x2000 : 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &xt_pair.addr_be, 4);
	if (b == B_IP_OPTIONS)
		memset(ip + 20, 1, 4); /* four NOPs */
	*(uint16_t *)(void *)(ip + 10) = csum(ip, ihl, 0);
	if (b == B_IP_CSUM)
		ip[10] ^= 0x55;

	*(uint16_t *)(void *)(udp + 0) = htons(b == B_SRC_PORT0 ? 0 : XT_PEER_PORT);
	*(uint16_t *)(void *)(udp + 2) = htons(XT_PORT);
	*(uint16_t *)(void *)(udp + 4) = htons(b == B_UDP_LEN ? ulen + 40 : ulen);
	*(uint16_t *)(void *)(udp + 6) = 0;
	memcpy(udp + 8, payload, plen);
	memcpy(pseudo, &src, 4);
	memcpy(pseudo + 4, &xt_pair.addr_be, 4);
	pseudo[8] = 0;
	pseudo[9] = 17;
	*(uint16_t *)(void *)(pseudo + 10) = htons(ulen);
	{
		uint32_t sum = 0;

		for (int i = 0; i < 12; i += 2)
			sum += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
		*(uint16_t *)(void *)(udp + 6) = csum(udp, ulen, sum);
	}
	if (b == B_UDP_CSUM)
		udp[6] ^= 0x33;
	return 14 + tot;
}

struct mal_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, b;
	int raw, pfd;
	struct keel_udp s;
	struct keel_addr ka;
	struct keel_xdp_stats before, st;
	uint8_t frame[256];
	char buf[256];
};

static void inject(int raw, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = xt_pair.peer_ifindex,
		.sll_halen = 6,
	};

	memcpy(ll.sll_addr, xt_pair.mac, 6);
	cr_assert_eq(sendto(raw, frame, len, 0, (struct sockaddr *)&ll, sizeof(ll)),
		     (ssize_t)len, "raw send: %s", strerror(errno));
}

XT_TEST(malformed, each_is_dropped_and_counted, struct mal_frame, "")
{
	KEEL_BEGIN(f);
	f->raw = keel_netns_peer_socket(&xt_pair, AF_PACKET,
					SOCK_RAW | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->raw, 0, "raw socket: %s", strerror(-f->raw));
	f->pfd = xt_peer_udp(XT_PEER_PORT);
	f->ka = xt_ours(XT_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);

	/* The crafted frame unbroken is a good datagram: the crafting is
	 * right, and the peer's MAC is known to our side. */
	inject(f->raw, f->frame, craft(f->frame, B_NONE, "crafted"));
	XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 7, "the unbroken crafted frame is delivered");
	cr_assert_arr_eq(f->buf, "crafted", 7);

	for (f->b = B_NONE + 1; f->b < B_MAX; f->b++) {
		f->before = xt_stats(cx);
		inject(f->raw, f->frame,
		       craft(f->frame, (enum breakage)f->b, "bad"));
		XT_UNTIL(f, xt_stats(cx).net.drops[cases[f->b].drop] >
				    f->before.net.drops[cases[f->b].drop]);
		cr_assert_eq(f->r, 0, "%s: dropped as %s", cases[f->b].name,
			     keel_net_drop_name(cases[f->b].drop));
		f->st = xt_stats(cx);
		cr_assert_eq(f->st.bad_frame, f->before.bad_frame + 1,
			     "%s: exactly one drop", cases[f->b].name);
		cr_assert_eq(f->st.base.rx_packets, f->before.base.rx_packets,
			     "%s: nothing delivered", cases[f->b].name);
		cr_assert_eq(f->st.base.tx_packets, f->before.base.tx_packets,
			     "%s: nothing answered", cases[f->b].name);

		/* and a good datagram right after still gets through */
		xt_ksend(f->pfd, "good", 4, &f->ka);
		XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf),
					       NULL));
		cr_assert_eq(f->r, 4, "%s: good traffic flows", cases[f->b].name);
		cr_assert_arr_eq(f->buf, "good", 4);
	}
	close(f->raw);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* A datagram for a port keel holds, arriving on a queue whose instance has
 * no socket on it, is dropped as no_socket: the port is held by the
 * instance of queue 1 while queue 0's instance runs. Which queue a flow
 * lands on is veth's choice (by flow hash), so 16 flows are sent: at least
 * one lands on queue 0 (all 16 on queue 1: odds 2^-16). */
#define FLOWS 16

struct nosock_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin;
	int pfd[FLOWS];
	struct keel_addr ka;
};

static intptr_t bind_on_q1(void *frame, struct keel_cx *cx)
{
	struct keel_udp *s = *(struct keel_udp **)frame;
	struct keel_addr a = xt_ours(XT_PORT);

	return keel_udp_bind(cx, s, &a, NULL);
}

/* keel_stats_read: the xdp instance of worker 0's extended counter. */
struct xstat_find {
	const char *name;
	uint64_t value;
	unsigned flags;
	bool found;
};

static void xstat_find(void *arg, const struct keel_stat *st)
{
	struct xstat_find *x = arg;

	if (st->scope == KEEL_STAT_XSTAT && st->worker == 0 &&
	    strcmp(st->driver, "xdp") == 0 && strcmp(st->name, x->name) == 0) {
		x->value = st->value;
		x->flags = st->flags;
		x->found = true;
	}
}

static intptr_t watch_q0(void *frame, struct keel_cx *cx)
{
	struct nosock_frame *f = frame;

	KEEL_BEGIN(f);
	cr_assert_eq(xt_stats(cx).queue, 0);
	f->ka = xt_ours(XT_PORT);
	for (unsigned i = 0; i < FLOWS; i++) {
		f->pfd[i] = xt_peer_udp(XT_PEER_PORT + i);
		xt_ksend(f->pfd[i], "nobody", 6, &f->ka);
	}
	XT_UNTIL(f, xt_stats(cx).no_socket >= 1);
	cr_assert_eq(f->r, 0, "dropped as no_socket on queue 0");
	cr_assert_eq(xt_stats(cx).base.rx_packets, 0);
	{
		/* The same counter through the name/value reader. */
		struct xstat_find x = { .name = "no_socket" };

		keel_stats_read(keel_cx_runtime(cx), xstat_find, &x);
		cr_assert(x.found && x.value >= 1 && (x.flags & KEEL_STAT_DROP),
			  "xstats no_socket: found %d value %lu", x.found,
			  (unsigned long)x.value);
	}
	for (unsigned i = 0; i < FLOWS; i++)
		close(f->pfd[i]);
	KEEL_END(f);
}

Test(malformed, no_socket_on_this_queue, .timeout = 60, .fini = xt_fini)
{
	struct keel_netns_opts o = { .queues = 2 };
	struct keel_runtime *rt0, *rt1;
	struct keel_udp s = { 0 }, *sp = &s;
	struct nosock_frame f = { 0 };

	xt_up(&o);
	cr_assert_eq(xt_runtime(",queue=0", &rt0), 0);
	cr_assert_eq(xt_runtime(",queue=1", &rt1), 0);
	cr_assert_eq(keel_runtime_block_on(rt1, bind_on_q1, NULL, &sp, sizeof(sp)), 0);
	cr_assert_geq(keel_runtime_block_on(rt0, watch_q0, NULL, &f, sizeof(f)), 0);
	cr_assert_eq(keel_udp_close(&s), 0);
	keel_runtime_destroy(rt1);
	keel_runtime_destroy(rt0);
}
