/* SPDX-License-Identifier: MIT */
/*
 * The DPDK driver against a wire the test controls: a ring port on an EAL
 * the test started (keel joins it), with the peer's side played by the test
 * through its own keel_net. Every frame keel sends is looked at, every
 * frame it receives is chosen: the deterministic path for the driver's RX
 * dispatch, replies, drops, TX ordering, backpressure and zero-copy.
 */
#include "dtest.h"

#include <keel/shard.h>
#include <pthread.h>

static struct dt_wire W;

/* Checksum of an IPv4 header, rewritten after a test changed it. */
static void fix_ip_csum(uint8_t *frame)
{
	uint8_t *ip = frame + 14;
	unsigned hlen = (ip[0] & 0xfu) * 4;
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = keel_net_csum_fold(keel_net_csum_partial(ip, hlen, 0));
	memcpy(ip + 10, &c, 2);
}

/* Number of mempools keel left in the EAL (they are freed when full). */
static void count_pool(struct rte_mempool *mp, void *arg)
{
	if (strncmp(mp->name, "keel", 4) == 0)
		(*(unsigned *)arg)++;
}

static unsigned keel_pools_left(void)
{
	unsigned n = 0;

	rte_mempool_walk(count_pool, &n);
	return n;
}

static void wire_run(unsigned nq, unsigned tx_ring, const char *extra,
		     keel_poll_fn *body, size_t size)
{
	dt_need_root();
	dt_wire_init(&W, nq, tx_ring, extra);
	dt_run(W.spec, body, size);
	cr_expect_eq(keel_pools_left(), 0, "keel's mbufs all came home");
	dt_wire_fini(&W);
}

/* Have keel learn the peer's MAC: one datagram out, ARP answered by the
 * peer, until it arrives. The frame needs spins, deadline, rd, nrd; one
 * use per line (the wait is a yield). */
#define RESOLVE_PEER(f, cx, sock, to)                                          \
	do {                                                                   \
		cr_assert_eq(keel_udp_send_to(cx, sock, "arp", 3, to), 3);     \
		DT_SPIN(f, cx, ((f)->nrd += dt_wire_pump(&W, &(f)->rd,          \
				1 - (f)->nrd, NULL)) >= 1);                    \
		cr_assert_eq((f)->nrd, 1, "peer resolved");                    \
		cr_assert_eq(dt_stats(cx).net.tx_released, 1);                 \
	} while (0)

/* ------------------------------------------------------- echo, copy path */

struct echo {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	char buf[2048];
	intptr_t r;
	uint64_t spins, deadline;
	struct dt_dgram got[2];
	unsigned ngot;
};

static intptr_t echo_body(void *frame, struct keel_cx *cx)
{
	struct echo *f = frame;
	struct keel_dpdk_stats st;
	struct keel_driver_stats ds;
	char text[KEEL_ADDR_STRLEN];

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	f->a = dt_addr(DT_KEEL_IP, 7);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	dt_wire_send_udp(&W, 0, 5555, 7, "hello", 5);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->a)));
	cr_assert_eq(f->r, 5, "recv_from: %s", keel_strerror(f->r));
	cr_assert_eq(memcmp(f->buf, "hello", 5), 0);
	cr_assert_str_eq(keel_addr_format(&f->a, text, sizeof(text)),
			 DT_PEER_IP ":5555");
	/* keel does not know the peer's MAC yet: ARP, then the datagram. */
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->buf, 5, &f->a));
	cr_assert_eq(f->r, 5, "send_to: %s", keel_strerror(f->r));
	DT_SPIN(f, cx, (f->ngot += dt_wire_pump(&W, f->got + f->ngot,
						2 - f->ngot, NULL)) >= 1);
	cr_assert_eq(f->ngot, 1, "the echo reached the peer");
	cr_assert_eq(f->got[0].len, 5);
	cr_assert_eq(memcmp(f->got[0].data, "hello", 5), 0);
	cr_assert_eq(f->got[0].sport, 7);
	cr_assert_eq(f->got[0].dport, 5555);
	st = dt_stats(cx);
	cr_assert_eq(st.rx_udp, 1);
	cr_assert_geq(st.arp_requests, 1, "keel asked who the peer is");
	cr_assert_eq(st.net.tx_queued, 1, "the datagram waited for ARP");
	cr_assert_eq(st.net.tx_released, 1);
	/* rx/tx_packets count datagrams and their payload, as on the other
	 * drivers; the ARP frames each way are frames only. */
	keel_drv_dpdk.stats(keel_cx_driver(cx, &keel_drv_dpdk), &ds);
	cr_assert_eq(ds.rx_packets, 1, "rx_packets %lu", (unsigned long)ds.rx_packets);
	cr_assert_eq(ds.rx_bytes, 5);
	cr_assert_eq(ds.tx_packets, 1, "tx_packets %lu", (unsigned long)ds.tx_packets);
	cr_assert_eq(ds.tx_bytes, 5);
	cr_assert_eq(st.tx_udp, 1);
	cr_assert_geq(st.rx_frames, 2, "the datagram and the ARP reply");
	cr_assert_geq(st.tx_frames, 2, "the ARP request and the echo");
	cr_assert_eq(st.net.rx_arp + st.rx_udp, st.rx_frames, "nothing else came");
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(wire, udp_echo_resolves_the_peer)
{
	wire_run(1, 1024, "park=busy", echo_body, sizeof(struct echo));
}

Test(wire, udp_echo_software_checksums)
{
	wire_run(1, 1024, "park=sleep,csum=sw,mac=02:aa:bb:cc:dd:ee", echo_body,
		 sizeof(struct echo));
}

/* ----------------------------------------------------- ARP, ICMP answered */

struct answer {
	struct keel_co co;
	uint64_t spins, deadline;
	uint8_t f[256];
	size_t len;
};

static size_t take_non_garp(uint8_t *f, size_t cap)
{
	for (;;) {
		size_t len = dt_wire_take(&W, 0, f, cap);

		/* keel's gratuitous ARP at start: sender and target ours. */
		if (len >= 42 && f[12] == 0x08 && f[13] == 0x06 &&
		    memcmp(f + 28, f + 38, 4) == 0)
			continue;
		return len;
	}
}

static intptr_t arp_body(void *frame, struct keel_cx *cx)
{
	struct answer *f = frame;
	struct keel_net_arp_tx req = { .op = KEEL_NET_ARP_REQUEST,
				       .eth_dst = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	struct keel_dpdk_stats st;
	int n;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	req.spa = W.peer_ip;
	req.tpa = W.keel_ip;
	n = keel_net_arp_build(W.peer, f->f, sizeof(f->f), &req);
	cr_assert_eq(n, KEEL_NET_ARP_LEN);
	dt_wire_inject(&W, 0, f->f, (size_t)n);
	DT_SPIN(f, cx, (f->len = take_non_garp(f->f, sizeof(f->f))) > 0);
	cr_assert_geq(f->len, 60, "padded to the Ethernet minimum");
	cr_assert_eq(f->f[21], 2, "an ARP reply");
	cr_assert_eq(memcmp(f->f + 22, W.keel_mac, 6), 0, "with keel's MAC");
	cr_assert_eq(memcmp(f->f + 28, &W.keel_ip, 4), 0);
	cr_assert_eq(memcmp(f->f, W.peer_mac, 6), 0, "unicast to the asker");
	st = dt_stats(cx);
	cr_assert_eq(st.arp_replies, 1);
	cr_assert_eq(st.net.neigh_learned, 1, "keel learned the asker");
	KEEL_END(f);
}

Test(wire, arp_request_answered)
{
	wire_run(1, 1024, "", arp_body, sizeof(struct answer));
}

static intptr_t icmp_body(void *frame, struct keel_cx *cx)
{
	struct answer *f = frame;
	struct keel_net_udp_tx tx = { .src_ip = 0 };
	uint8_t *ip, *icmp;
	uint16_t c;
	int n;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	/* An echo request: a UDP frame rebuilt as ICMP (type 8, id, seq). */
	tx.src_ip = W.peer_ip;
	tx.dst_ip = W.keel_ip;
	memcpy(tx.dst_mac, W.keel_mac, 6);
	memcpy(f->f + 42, "pingdata", 8);
	n = keel_net_udp_build(W.peer, f->f, sizeof(f->f), &tx, 8, 0);
	cr_assert_eq(n, 42 + 8);
	ip = f->f + 14;
	icmp = f->f + 34;
	ip[9] = 1;
	fix_ip_csum(f->f);
	memcpy(icmp, "\x08\x00\x00\x00\x12\x34\x00\x01", 8);
	c = keel_net_csum_fold(keel_net_csum_partial(icmp, 16, 0));
	memcpy(icmp + 2, &c, 2);
	dt_wire_inject(&W, 0, f->f, (size_t)n);
	DT_SPIN(f, cx, (f->len = take_non_garp(f->f, sizeof(f->f))) > 0);
	cr_assert_eq(f->len, 60, "50 bytes, padded to 60");
	cr_assert_eq(f->f[23], 1, "ICMP");
	cr_assert_eq(f->f[34], 0, "an echo reply");
	cr_assert_eq(memcmp(f->f + 38, "\x12\x34\x00\x01pingdata", 12), 0,
		     "id, sequence and data echoed");
	cr_assert_eq(keel_net_csum_fold(keel_net_csum_partial(f->f + 34, 16, 0)), 0,
		     "ICMP checksum valid");
	cr_assert_eq(keel_net_csum_fold(keel_net_csum_partial(f->f + 14, 20, 0)), 0,
		     "IP checksum valid");
	cr_assert_eq(memcmp(f->f + 26, &W.keel_ip, 4), 0);
	cr_assert_eq(memcmp(f->f + 30, &W.peer_ip, 4), 0);
	cr_assert_eq(dt_stats(cx).icmp_replies, 1);
	KEEL_END(f);
}

Test(wire, icmp_echo_answered)
{
	wire_run(1, 1024, "", icmp_body, sizeof(struct answer));
}

/* ----------------------------------------------------------- bad frames */

struct bad {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	uint64_t spins, deadline;
	uint64_t frames;
	unsigned i;
	char buf[64];
	intptr_t r;
};

/* One malformed frame: how to spoil a good one and what it counts. */
struct spoil {
	const char *what;
	int reason; /* enum keel_net_drop, or -1: keel's rx_no_socket */
	size_t (*make)(uint8_t *f, size_t len);
};

static size_t sp_runt(uint8_t *f, size_t len) { (void)f; (void)len; return 10; }
static size_t sp_dst_mac(uint8_t *f, size_t len) { f[5] ^= 0x10; return len; }
static size_t sp_vlan(uint8_t *f, size_t len) { f[0] = 0xff; memset(f, 0xff, 6); f[12] = 0x81; f[13] = 0; return len; }
static size_t sp_ethertype(uint8_t *f, size_t len) { f[12] = 0x86; f[13] = 0xdd; return len; }
static size_t sp_ip_trunc(uint8_t *f, size_t len) { (void)f; (void)len; return 14 + 10; }
static size_t sp_ip_version(uint8_t *f, size_t len) { f[14] = 0x65; return len; }
static size_t sp_ip_len(uint8_t *f, size_t len) { f[16] = 0x40; fix_ip_csum(f); return len; }
static size_t sp_ip_csum(uint8_t *f, size_t len) { f[24] ^= 0xff; return len; }
static size_t sp_fragment(uint8_t *f, size_t len) { f[20] = 0x20; fix_ip_csum(f); return len; }
static size_t sp_ip_proto(uint8_t *f, size_t len) { f[23] = 6; fix_ip_csum(f); return len; }
static size_t sp_ip_dst(uint8_t *f, size_t len) { f[33] = 9; fix_ip_csum(f); return len; }
static size_t sp_udp_len(uint8_t *f, size_t len) { f[38] = 0x10; return len; }
static size_t sp_udp_csum(uint8_t *f, size_t len) { f[len - 1] ^= 0x5a; return len; }
static size_t sp_unbound(uint8_t *f, size_t len) { f[36] = 0x99; f[40] = f[41] = 0; return len; }

/* Reflection: sources a reply must never go to (the UDP checksum is left
 * out, 0, so that only the source is wrong). */
static size_t sp_src(uint8_t *f, size_t len, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	f[26] = a;
	f[27] = b;
	f[28] = c;
	f[29] = d;
	f[40] = f[41] = 0;
	fix_ip_csum(f);
	return len;
}
static size_t sp_src_bcast(uint8_t *f, size_t len) { return sp_src(f, len, 255, 255, 255, 255); }
static size_t sp_src_directed(uint8_t *f, size_t len) { return sp_src(f, len, 198, 18, 0, 255); }
static size_t sp_src_net(uint8_t *f, size_t len) { return sp_src(f, len, 198, 18, 0, 0); }
static size_t sp_src_mcast(uint8_t *f, size_t len) { return sp_src(f, len, 224, 0, 0, 5); }
static size_t sp_src_martian(uint8_t *f, size_t len) { return sp_src(f, len, 127, 0, 0, 1); }
static size_t sp_src_port0(uint8_t *f, size_t len) { f[34] = f[35] = 0; f[40] = f[41] = 0; return len; }

static size_t sp_options(uint8_t *f, size_t len)
{
	/* Four NOP option bytes after the IP header. */
	memmove(f + 38, f + 34, len - 34);
	memset(f + 34, 1, 4);
	f[14] = 0x46;
	f[17] = (uint8_t)(f[17] + 4);
	fix_ip_csum(f);
	return len + 4;
}

static const struct spoil spoils[] = {
	{ "runt", KEEL_NET_DROP_RUNT, sp_runt },
	{ "dst mac", KEEL_NET_DROP_DST_MAC, sp_dst_mac },
	{ "vlan", KEEL_NET_DROP_VLAN, sp_vlan },
	{ "ethertype", KEEL_NET_DROP_ETHERTYPE, sp_ethertype },
	{ "ip trunc", KEEL_NET_DROP_IP_TRUNC, sp_ip_trunc },
	{ "ip version", KEEL_NET_DROP_IP_VERSION, sp_ip_version },
	{ "ip len", KEEL_NET_DROP_IP_LEN, sp_ip_len },
	{ "ip csum", KEEL_NET_DROP_IP_CSUM, sp_ip_csum },
	{ "ip options", KEEL_NET_DROP_IP_OPTIONS, sp_options },
	{ "fragment", KEEL_NET_DROP_IP_FRAGMENT, sp_fragment },
	{ "ip proto", KEEL_NET_DROP_IP_PROTO, sp_ip_proto },
	{ "ip dst", KEEL_NET_DROP_IP_DST, sp_ip_dst },
	{ "udp len", KEEL_NET_DROP_UDP_LEN, sp_udp_len },
	{ "udp csum", KEEL_NET_DROP_UDP_CSUM, sp_udp_csum },
	{ "no socket", -1, sp_unbound },
	{ "source 255.255.255.255", KEEL_NET_DROP_IP_SRC_BCAST, sp_src_bcast },
	{ "source our directed broadcast", KEEL_NET_DROP_IP_SRC_BCAST, sp_src_directed },
	{ "source our network address", KEEL_NET_DROP_IP_SRC_NET, sp_src_net },
	{ "source multicast", KEEL_NET_DROP_IP_SRC_MCAST, sp_src_mcast },
	{ "source loopback", KEEL_NET_DROP_IP_SRC, sp_src_martian },
	{ "source port 0", KEEL_NET_DROP_UDP_SRC_PORT, sp_src_port0 },
};

static intptr_t bad_body(void *frame, struct keel_cx *cx)
{
	struct bad *f = frame;
	struct keel_dpdk_stats before, after;
	struct keel_driver_stats ds;
	uint8_t pkt[2048];
	size_t len;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	f->a = dt_addr(DT_KEEL_IP, 7);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	for (f->i = 0; f->i < sizeof(spoils) / sizeof(spoils[0]); f->i++) {
		before = dt_stats(cx);
		f->frames = before.rx_frames;
		len = dt_wire_udp_frame(&W, pkt, sizeof(pkt), 5555, 7, "0123456789", 10);
		len = spoils[f->i].make(pkt, len);
		dt_wire_inject(&W, 0, pkt, len);
		DT_SPIN(f, cx, dt_stats(cx).rx_frames > f->frames);
		after = dt_stats(cx);
		cr_assert_eq(after.rx_frames, f->frames + 1, "%s: received",
			     spoils[f->i].what);
		if (spoils[f->i].reason >= 0) {
			int r = spoils[f->i].reason;

			cr_assert_eq(after.net.drops[r], before.net.drops[r] + 1,
				     "%s: counted as %s", spoils[f->i].what,
				     keel_net_drop_name((enum keel_net_drop)r));
		} else {
			cr_assert_eq(after.rx_no_socket, before.rx_no_socket + 1,
				     "%s: counted", spoils[f->i].what);
		}
		cr_assert_eq(after.rx_udp, before.rx_udp, "%s: not delivered",
			     spoils[f->i].what);
		cr_assert_eq(after.tx_frames, before.tx_frames, "%s: not answered",
			     spoils[f->i].what);
		/* Good traffic keeps flowing between the bad frames. */
		dt_wire_send_udp(&W, 0, 5555, 7, "good", 4);
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
			   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL)));
		cr_assert_eq(f->r, 4, "after %s: %s", spoils[f->i].what,
			     keel_strerror(f->r));
	}
	keel_drv_dpdk.stats(keel_cx_driver(cx, &keel_drv_dpdk), &ds);
	cr_assert_geq(ds.rx_dropped, sizeof(spoils) / sizeof(spoils[0]));
	keel_udp_close(&f->s);
	dt_wire_pump(&W, NULL, 0, NULL);
	KEEL_END(f);
}

Test(wire, malformed_frames_dropped_and_counted)
{
	wire_run(1, 1024, "", bad_body, sizeof(struct bad));
}

/* ------------------------------------------------------- zero-copy echo */

struct zc {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	struct keel_pkt p[8];
	intptr_t r;
	unsigned i, ngot;
	uint64_t spins, deadline;
	struct dt_dgram got[8];
};

static intptr_t zc_body(void *frame, struct keel_cx *cx)
{
	struct zc *f = frame;
	struct keel_pkt fake;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	f->a = dt_addr(DT_KEEL_IP, 9);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	for (f->i = 0; f->i < 4; f->i++) {
		char msg[16];

		snprintf(msg, sizeof(msg), "zc-%u", f->i);
		dt_wire_send_udp(&W, 0, 6000, 9, msg, strlen(msg));
	}
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_lend(cx, &f->s, f->p, 8)));
	cr_assert_eq(f->r, 4, "recv_lend: %s", keel_strerror(f->r));
	for (f->i = 0; f->i < 4; f->i++) {
		cr_assert_eq(f->p[f->i].len, 4);
		cr_assert_geq(f->p[f->i].cap, 1400);
		/* Rewrite in place: upper case, longer. */
		memcpy(f->p[f->i].data, "ZC-", 3);
		memcpy((char *)f->p[f->i].data + 4, "!", 1);
		f->p[f->i].len = 5;
	}
	/* A packet this socket did not lend is refused untouched. */
	fake = f->p[0];
	fake.priv[1] = 7;
	cr_assert_eq(keel_udp_send_lent(cx, &f->s, &fake, 1), -EINVAL);
	/* Three back to the sender (replies in place), one released. */
	KEEL_AWAIT(f, f->r, keel_udp_send_lent(cx, &f->s, f->p, 3));
	cr_assert_eq(f->r, 3, "send_lent: %s", keel_strerror(f->r));
	cr_assert_null(f->p[0].data, "sent packets go back to the driver");
	cr_assert_eq(keel_udp_release(&f->s, &f->p[3], 1), 0);
	cr_assert_eq(keel_udp_send_lent(cx, &f->s, &f->p[3], 1), -EINVAL,
		     "a released packet is no longer lent");
	/* keel learned nothing by ARP: the replies go to the MAC they came
	 * from, no lookup. */
	DT_SPIN(f, cx, (f->ngot += dt_wire_pump(&W, f->got + f->ngot,
						8 - f->ngot, NULL)) >= 3);
	cr_assert_eq(f->ngot, 3);
	for (f->i = 0; f->i < 3; f->i++) {
		char want[8];

		snprintf(want, sizeof(want), "ZC-%u!", f->i);
		cr_assert_eq(f->got[f->i].len, 5);
		cr_assert_eq(memcmp(f->got[f->i].data, want, 5), 0,
			     "reply %u in order and rewritten", f->i);
		cr_assert_eq(f->got[f->i].sport, 9);
		cr_assert_eq(f->got[f->i].dport, 6000);
	}
	cr_assert_eq(dt_stats(cx).arp_requests, 0);
	/* Lend one more and close with it lent: it dies with the socket. */
	dt_wire_send_udp(&W, 0, 6000, 9, "last", 4);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_lend(cx, &f->s, f->p, 1)));
	cr_assert_eq(f->r, 1);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(wire, zero_copy_reply_in_place)
{
	wire_run(1, 1024, "", zc_body, sizeof(struct zc));
}

/* ------------------------------------------------------------- batches */

#define NB 64

struct batch {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	struct keel_dgram v[NB];
	char bufs[NB][32];
	intptr_t r;
	unsigned i, nrecv, ngot, nrd;
	uint64_t spins, deadline;
	struct dt_dgram got[NB], rd;
};

static intptr_t batch_body(void *frame, struct keel_cx *cx)
{
	struct batch *f = frame;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	f->a = dt_addr(DT_KEEL_IP, 11);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	for (f->i = 0; f->i < NB; f->i++) {
		char msg[32];

		snprintf(msg, sizeof(msg), "batch-%02u", f->i);
		dt_wire_send_udp(&W, 0, 7000, 11, msg, strlen(msg));
	}
	while (f->nrecv < NB) {
		for (f->i = 0; f->i < NB; f->i++) {
			f->v[f->i].buf = f->bufs[f->i];
			f->v[f->i].cap = f->i == 0 && f->nrecv == 0 ? 4 : sizeof(f->bufs[0]);
		}
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
			   keel_udp_recv_batch(cx, &f->s, f->v, NB - f->nrecv)));
		cr_assert_gt(f->r, 0, "recv_batch: %s", keel_strerror(f->r));
		if (f->nrecv == 0) {
			cr_assert_eq(f->v[0].flags, KEEL_DGRAM_TRUNC);
			cr_assert_eq(f->v[0].len, 4);
		}
		f->nrecv += (unsigned)f->r;
	}
	cr_assert_eq(dt_stats(cx).rx_truncated, 1);
	/* Send 64 back in as few calls as the TX ring allows. */
	f->a = dt_addr(DT_PEER_IP, 7001);
	RESOLVE_PEER(f, cx, &f->s, &f->a);
	for (f->i = 0; f->i < NB; f->i++) {
		snprintf(f->bufs[f->i], sizeof(f->bufs[0]), "back-%02u", f->i);
		f->v[f->i].buf = f->bufs[f->i];
		f->v[f->i].cap = 7;
		f->v[f->i].peer = dt_addr(DT_PEER_IP, 7001);
	}
	f->i = 0;
	while (f->i < NB) {
		KEEL_AWAIT(f, f->r, keel_udp_send_batch(cx, &f->s, f->v + f->i, NB - f->i));
		cr_assert_gt(f->r, 0, "send_batch: %s", keel_strerror(f->r));
		f->i += (unsigned)f->r;
	}
	DT_SPIN(f, cx, (f->ngot += dt_wire_pump(&W, f->got + f->ngot,
						NB - f->ngot, NULL)) >= NB);
	cr_assert_eq(f->ngot, NB);
	for (f->i = 0; f->i < NB; f->i++) {
		char want[16];

		snprintf(want, sizeof(want), "back-%02u", f->i);
		cr_assert_eq(memcmp(f->got[f->i].data, want, 7), 0,
			     "datagram %u in order", f->i);
	}
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(wire, batches_in_order)
{
	wire_run(1, 1024, "", batch_body, sizeof(struct batch));
}

/* --------------------------------------- TX ring full: queued in order */

#define NTX 400

struct sender {
	struct keel_co co;
	struct keel_udp *s;
	struct keel_addr to;
	unsigned i;
	intptr_t r;
	char msg[16];
};

static intptr_t sender_body(void *frame, struct keel_cx *cx)
{
	struct sender *f = frame;

	KEEL_BEGIN(f);
	for (f->i = 0; f->i < NTX; f->i++) {
		snprintf(f->msg, sizeof(f->msg), "%05u", f->i);
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, f->s, f->msg, 5, &f->to));
		if (f->r != 5)
			KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
	}
	KEEL_END(f);
}

struct txfull {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	struct keel_join *j;
	intptr_t r;
	unsigned ngot, rounds;
	uint64_t spins, deadline;
	struct dt_dgram got[NTX + 1], rd;
	unsigned nrd;
	char buf[8];
};

static intptr_t txfull_body(void *frame, struct keel_cx *cx)
{
	struct txfull *f = frame;
	struct keel_dpdk_stats st;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	f->a = dt_addr(DT_KEEL_IP, 13);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	/* Learn the peer's MAC first (one exchange), so the flood below is
	 * about the TX ring, not about ARP's queue. */
	dt_wire_send_udp(&W, 0, 8000, 13, "hi", 2);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->a)));
	cr_assert_eq(f->r, 2);
	RESOLVE_PEER(f, cx, &f->s, &f->a);
	cr_assert_eq(KEEL_SPAWN(cx, sender_body, NULL, &f->j, struct sender,
				.s = &f->s, .to = f->a), 0);
	/* The wire (63 frames) and keel's pending buffer (32) fill up: the
	 * sender must wait, then resume as the peer drains. */
	while (f->ngot < NTX && f->rounds < 1000) {
		DT_SPIN(f, cx, dt_stats(cx).tx_pending_hwm >= 32 ||
				       keel_join_is_finished(f->j));
		f->ngot += dt_wire_pump(&W, f->got + f->ngot, NTX + 1 - f->ngot, NULL);
		f->rounds++;
		KEEL_YIELD(f, cx);
	}
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
	cr_assert_eq(f->r, 0, "sender: %s", keel_strerror(f->r));
	DT_SPIN(f, cx, (f->ngot += dt_wire_pump(&W, f->got + f->ngot,
						NTX + 1 - f->ngot, NULL)) >= NTX);
	cr_assert_eq(f->ngot, NTX, "every datagram arrived");
	for (unsigned i = 0; i < NTX; i++) {
		char want[8];

		snprintf(want, sizeof(want), "%05u", i);
		cr_assert_eq(memcmp(f->got[i].data, want, 5), 0,
			     "datagram %u in order", i);
	}
	st = dt_stats(cx);
	cr_assert_eq(st.tx_full, 0, "nothing dropped: the sender waited");
	cr_assert_geq(st.tx_pending_hwm, 32, "the pending buffer filled");
	cr_assert_gt(f->rounds, 2, "the sender was held back");
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(wire, tx_ring_full_keeps_order_and_waits)
{
	wire_run(1, 64, "txbuf=32", txfull_body, sizeof(struct txfull));
}

/* ------------------------------------------------ socket queue overflow */

struct sockq {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	intptr_t r;
	unsigned i;
	uint64_t spins, deadline;
	char buf[32];
};

static intptr_t sockq_body(void *frame, struct keel_cx *cx)
{
	struct sockq *f = frame;
	struct keel_driver_stats ds;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	f->a = dt_addr("0.0.0.0", 15);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	for (f->i = 0; f->i < 40; f->i++) {
		char msg[8];

		snprintf(msg, sizeof(msg), "%02u", f->i);
		dt_wire_send_udp(&W, 0, 9000, 15, msg, 2);
	}
	DT_SPIN(f, cx, dt_stats(cx).rx_frames >= 40);
	cr_assert_eq(dt_stats(cx).rx_sock_full, 24, "16 queued, 24 dropped");
	keel_drv_dpdk.stats(keel_cx_driver(cx, &keel_drv_dpdk), &ds);
	cr_assert_eq(ds.rx_dropped, 24);
	for (f->i = 0; f->i < 16; f->i++) {
		char want[8];

		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
			   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL)));
		cr_assert_eq(f->r, 2);
		snprintf(want, sizeof(want), "%02u", f->i);
		cr_assert_eq(memcmp(f->buf, want, 2), 0, "the first 16 kept, in order");
	}
	keel_udp_close(&f->s);
	dt_wire_pump(&W, NULL, 0, NULL);
	KEEL_END(f);
}

Test(wire, socket_queue_overflow_counted)
{
	wire_run(1, 1024, "sockq=16", sockq_body, sizeof(struct sockq));
}

/* -------------------------------------------------- mempool exhaustion */

struct nomem {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	intptr_t r;
	unsigned i, sent, nrd;
	uint64_t spins, deadline;
	struct dt_dgram rd;
	char buf[8];
};

static intptr_t nomem_body(void *frame, struct keel_cx *cx)
{
	struct nomem *f = frame;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	f->a = dt_addr(DT_KEEL_IP, 17);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	dt_wire_send_udp(&W, 0, 9100, 17, "hi", 2);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->a)));
	cr_assert_eq(f->r, 2);
	RESOLVE_PEER(f, cx, &f->s, &f->a);
	/* Nobody drains the wire: keel's 64 mbufs end up in the ring. */
	for (f->i = 0; f->i < 200; f->i++) {
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, "x", 1, &f->a));
		if (f->r == -ENOBUFS)
			break;
		cr_assert_eq(f->r, 1, "send_to: %s", keel_strerror(f->r));
		f->sent++;
	}
	cr_assert_eq(f->r, -ENOBUFS, "the pool ran dry: ENOBUFS, no crash");
	cr_assert_leq(f->sent, 64, "sent %u before ENOBUFS (failed allocs %lu)",
		     f->sent, (unsigned long)dt_stats(cx).mbuf_alloc_failed);
	cr_assert_geq(dt_stats(cx).mbuf_alloc_failed, 1);
	/* The peer drains: mbufs come home, sends work again. */
	DT_SPIN(f, cx, dt_wire_pump(&W, NULL, 0, NULL) == 0 &&
			       rte_ring_count(W.tx[0]) == 0);
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, "y", 1, &f->a));
	cr_assert_eq(f->r, 1, "after the drain: %s", keel_strerror(f->r));
	keel_udp_close(&f->s);
	f->nrd = 0;
	DT_SPIN(f, cx, (f->nrd += dt_wire_pump(&W, &f->rd, 1 - f->nrd, NULL)) >= 1);
	cr_assert_eq(f->rd.data[0], 'y');
	KEEL_END(f);
}

Test(wire, mempool_exhaustion_is_enobufs)
{
	struct dt_capture c;

	dt_need_root();
	dt_wire_init(&W, 1, 1024, "mbufs=64,rxd=32,txd=32");
	dt_capture_begin(&c);
	dt_run(W.spec, nomem_body, sizeof(struct nomem));
	cr_assert_not_null(strstr(dt_capture_end(&c), "mempool exhausted"),
			   "the cause is named once");
	cr_expect_eq(keel_pools_left(), 0);
	dt_wire_fini(&W);
}

/* ------------------------------ two workers, two queues (sched/shard) */

struct mq_task {
	struct keel_co co;
	struct keel_udp s;
	struct keel_udp *other; /* bound on shard 0 */
	struct keel_timer t;
	struct keel_addr a;
	char buf[16];
	intptr_t r;
};

/* On shard 1: queue 1. Its ARP request leaves on queue 1, the answer
 * comes back on queue 0, and shard 0's instance passes it over. */
static intptr_t mq_body(void *frame, struct keel_cx *cx)
{
	struct mq_task *f = frame;
	struct keel_dpdk_info info;
	struct keel_dpdk_stats st;

	KEEL_BEGIN(f);
	cr_assert_eq(keel_dpdk_info_get(cx, &info), 0);
	if (info.queue != 1 || info.nb_queues != 2)
		KEEL_RETURN(f, -EINVAL);
	f->a = dt_addr("0.0.0.0", 0);
	/* A socket of another worker's queue: refused, not raced on. */
	if (keel_udp_send_to(cx, f->other, "x", 1, &f->a) != -EXDEV ||
	    keel_udp_recv_from(cx, f->other, f->buf, 1, NULL) != -EXDEV)
		KEEL_RETURN(f, -EPROTO);
	f->a = dt_addr(DT_KEEL_IP, 21);
	if (keel_udp_bind(cx, &f->s, &f->a, NULL) < 0)
		KEEL_RETURN(f, -EADDRINUSE);
	f->a = dt_addr(DT_PEER_IP, 7100);
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, "mq", 2, &f->a));
	if (f->r != 2)
		KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL)));
	keel_udp_close(&f->s);
	if (f->r != 5 || memcmp(f->buf, "reply", 5) != 0)
		KEEL_RETURN(f, f->r < 0 ? f->r : -EBADMSG);
	st = dt_stats(cx);
	if (st.neigh_shared != 1 || st.arp_replies != 0)
		KEEL_RETURN(f, -ENOENT);
	KEEL_END(f);
}

struct mq {
	struct keel_co co;
	struct keel_udp s;
	struct keel_join *j;
	struct keel_addr a;
	intptr_t r;
	unsigned ngot;
	uint64_t spins, deadline;
	struct dt_dgram got[2];
};

static intptr_t mq_root(void *frame, struct keel_cx *cx)
{
	struct mq *f = frame;

	KEEL_BEGIN(f);
	cr_assert_eq(keel_shard_count(cx), 2);
	dt_wire_learn_keel(&W, cx);
	W.arp_q = 0;
	f->a = dt_addr(DT_KEEL_IP, 22);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	cr_assert_eq(KEEL_SPAWN_ON(cx, 1, mq_body, NULL, &f->j, struct mq_task,
				   .other = &f->s), 0);
	DT_SPIN(f, cx, (f->ngot += dt_wire_pump(&W, f->got + f->ngot,
						2 - f->ngot, NULL)) >= 1);
	cr_assert_eq(f->ngot, 1, "shard 1's datagram got out");
	cr_assert_eq(f->got[0].q, 1, "on its own queue");
	cr_assert_eq(f->got[0].sport, 21);
	dt_wire_send_udp(&W, 1, 7100, 21, "reply", 5);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
	cr_assert_eq(f->r, 0, "shard 1: %s", keel_strerror(f->r));
	cr_assert_eq(dt_stats(cx).net.neigh_learned, 1, "queue 0 learned it");
	keel_udp_close(&f->s);
	KEEL_END(f);
}

Test(wire, two_queues_share_what_arp_learned)
{
	dt_need_root();
	dt_wire_init(&W, 2, 1024, "park=sleep");
	cr_assert_eq(dt_run_sched("shard", 2, W.spec, mq_root, sizeof(struct mq),
				  NULL), 0);
	cr_expect_eq(keel_pools_left(), 0);
	dt_wire_fini(&W);
}

/* ------------------------ keel to keel: two runtimes, crossed rings */

struct k2k {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	char buf[64];
	intptr_t r;
	unsigned i;
};

#define K2K_N 100

static intptr_t k2k_client(void *frame, struct keel_cx *cx)
{
	struct k2k *f = frame;

	KEEL_BEGIN(f);
	f->a = dt_addr("198.18.0.1", 30);
	if (keel_udp_bind(cx, &f->s, &f->a, NULL) < 0)
		KEEL_RETURN(f, -EADDRINUSE);
	for (f->i = 0; f->i < K2K_N; f->i++) {
		snprintf(f->buf, sizeof(f->buf), "ping %u", f->i);
		f->a = dt_addr("198.18.0.2", 31);
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->buf,
						     strlen(f->buf), &f->a));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
			   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->a)));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
		if (strncmp(f->buf, "pong", 4) != 0 || keel_addr_port(&f->a) != 31)
			KEEL_RETURN(f, -EBADMSG);
	}
	keel_udp_close(&f->s);
	KEEL_END(f);
}

static intptr_t k2k_server(void *frame, struct keel_cx *cx)
{
	struct k2k *f = frame;

	KEEL_BEGIN(f);
	f->a = dt_addr("198.18.0.2", 31);
	if (keel_udp_bind(cx, &f->s, &f->a, NULL) < 0)
		KEEL_RETURN(f, -EADDRINUSE);
	for (f->i = 0; f->i < K2K_N; f->i++) {
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
			   keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), &f->a)));
		if (f->r < 4)
			KEEL_RETURN(f, f->r < 0 ? f->r : -EBADMSG);
		memcpy(f->buf, "pong", 4);
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->buf, (size_t)f->r, &f->a));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
	}
	keel_udp_close(&f->s);
	KEEL_END(f);
}

struct k2k_side {
	const char *spec;
	keel_poll_fn *body;
	pthread_barrier_t *done;
	intptr_t r;
	int rc;
};

/* One runtime per thread: create, run, wait for the other, destroy (so
 * neither frees its pool while the other still holds its mbufs). */
static void *k2k_thread(void *arg)
{
	struct k2k_side *s = arg;
	struct keel_config cfg = { .sched = "local", .driver = s->spec };
	struct keel_runtime *rt = NULL;

	s->rc = keel_runtime_create(&cfg, &rt);
	if (s->rc == 0)
		s->r = keel_runtime_block_on(rt, s->body, NULL,
					     &(struct k2k){ .r = 0 },
					     sizeof(struct k2k));
	pthread_barrier_wait(s->done);
	keel_runtime_destroy(rt);
	return NULL;
}

Test(wire, keel_to_keel_over_crossed_rings)
{
	struct rte_ring *r1, *r2;
	pthread_barrier_t done;
	struct k2k_side a = { .spec = "dpdk:ip=198.18.0.1/24,port=net_ring_ka,park=sleep",
			      .body = k2k_client, .done = &done };
	struct k2k_side b = { .spec = "dpdk:ip=198.18.0.2/24,port=net_ring_kb,park=sleep",
			      .body = k2k_server, .done = &done };
	pthread_t ta, tb;

	dt_need_root();
	dt_eal_init();
	r1 = rte_ring_create("k2k_1", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	r2 = rte_ring_create("k2k_2", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	cr_assert(r1 && r2);
	cr_assert_geq(rte_eth_from_rings("ka", &r1, 1, &r2, 1, SOCKET_ID_ANY), 0);
	cr_assert_geq(rte_eth_from_rings("kb", &r2, 1, &r1, 1, SOCKET_ID_ANY), 0);
	pthread_barrier_init(&done, NULL, 2);
	pthread_create(&ta, NULL, k2k_thread, &a);
	pthread_create(&tb, NULL, k2k_thread, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&done);
	cr_assert_eq(a.rc, 0, "runtime a: %s", keel_strerror(a.rc));
	cr_assert_eq(b.rc, 0, "runtime b: %s", keel_strerror(b.rc));
	cr_assert_eq(a.r, 0, "client: %s", keel_strerror(a.r));
	cr_assert_eq(b.r, 0, "server: %s", keel_strerror(b.r));
	for (void *m = NULL; rte_ring_dequeue(r1, &m) == 0;)
		rte_pktmbuf_free(m);
	for (void *m = NULL; rte_ring_dequeue(r2, &m) == 0;)
		rte_pktmbuf_free(m);
	cr_expect_eq(keel_pools_left(), 0);
	rte_eth_dev_close(0);
	rte_eth_dev_close(1);
	rte_ring_free(r1);
	rte_ring_free(r2);
	dt_eal_fini();
}

/* --------------------------------------------- empty and cut datagrams */

struct edge {
	struct keel_co co;
	struct keel_udp s;
	struct keel_timer t;
	struct keel_addr a;
	char buf[8];
	intptr_t r;
	unsigned ngot, nrd;
	uint64_t spins, deadline;
	struct dt_dgram got[2], rd;
};

static intptr_t edge_body(void *frame, struct keel_cx *cx)
{
	static const char big[1473];
	struct edge *f = frame;

	KEEL_BEGIN(f);
	dt_wire_learn_keel(&W, cx);
	f->a = dt_addr(DT_KEEL_IP, 23);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->a, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &(struct keel_udp){ 0 }, &f->a, NULL),
		     -EADDRINUSE);
	f->a = dt_addr("198.18.0.77", 23);
	cr_assert_eq(keel_udp_bind(cx, &(struct keel_udp){ 0 }, &f->a, NULL),
		     -EADDRNOTAVAIL, "not one of keel's addresses");
	/* An empty datagram, into no buffer. */
	dt_wire_send_udp(&W, 0, 4000, 23, "", 0);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_from(cx, &f->s, NULL, 0, &f->a)));
	cr_assert_eq(f->r, 0, "%s", keel_strerror(f->r));
	RESOLVE_PEER(f, cx, &f->s, &f->a);
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, NULL, 0, &f->a));
	cr_assert_eq(f->r, 0);
	DT_SPIN(f, cx, (f->ngot += dt_wire_pump(&W, f->got + f->ngot,
						2 - f->ngot, NULL)) >= 1);
	cr_assert_eq(f->ngot, 1);
	cr_assert_eq(f->got[0].len, 0);
	/* Longer than the buffer: cut, reported, consumed. */
	dt_wire_send_udp(&W, 0, 4000, 23, "0123456789", 10);
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DT_LIMIT,
		   keel_udp_recv_from(cx, &f->s, f->buf, 4, NULL)));
	cr_assert_eq(f->r, -EMSGSIZE);
	cr_assert_eq(memcmp(f->buf, "0123", 4), 0);
	cr_assert_eq(dt_stats(cx).rx_truncated, 1);
	/* Too big for one frame: refused before anything is sent. */
	f->r = keel_udp_send_to(cx, &f->s, big, 1473, &f->a);
	cr_assert_eq(f->r, -EMSGSIZE);
	keel_udp_close(&f->s);
	cr_assert_eq(keel_udp_close(&f->s), -EBADF);
	KEEL_END(f);
}

Test(wire, empty_and_cut_datagrams)
{
	wire_run(1, 1024, "", edge_body, sizeof(struct edge));
}
