/* SPDX-License-Identifier: MIT */
/*
 * One UDP conformance suite for every driver (issue 12, item 4): the
 * socket API (core/include/keel/udp.h) answers the same on kernel, xdp,
 * dpdk and sim, on every scheduler. conform.h sets up each driver and its
 * peer; the cases below never ask which driver runs them, except where a
 * driver differs by design, and then ct_differs() names it:
 *
 * - IPv6 and the kernel-only options (TTL, multicast, connect) are the
 *   kernel driver's; the others answer -EAFNOSUPPORT / -ENOTSUP;
 * - the sim driver makes a host of any address it is asked to bind
 *   (nothing is "not ours"), and has no subnets (no directed broadcast);
 * - the largest payload is the link's: 65507 on loopback and sim, 1472 on
 *   a 1500-byte veth.
 *
 * The last case is item 5 at small scale: an echo overloaded by an open
 * loop, where every datagram sent is echoed or dropped in a named counter.
 */
#include "conform.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdatomic.h>

#define NB 32 /* datagrams per batch */

/* ----------------------------------------------------------------- bind */

struct bind_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin;
	struct keel_udp a, b, c;
	struct keel_addr aa, ba, x, from;
	struct ct_peer p;
	char buf[16];
};

CT_TEST(bind_errors, struct bind_frame)
{
	KEEL_BEGIN(f);
	/* a family that is no IP: refused before the driver sees it */
	f->x = ct_ours(0);
	f->x.sa.sa_family = AF_UNIX;
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->x, NULL), -EINVAL);
	f->x = (struct keel_addr){ 0 };
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->x, NULL), -EINVAL);
	cr_assert_eq(keel_udp_bind(cx, &f->a, NULL, NULL), -EINVAL);
	cr_assert_null(f->a.ops, "a failed bind leaves the handle closed");

	/* an address that is not ours */
	f->x = ct_not_ours();
	f->r = keel_udp_bind(cx, &f->c, &f->x, NULL);
	if (ct_differs(ct_drv() == CT_SIM, "any address binds (it becomes a host)")) {
		cr_assert_eq(f->r, 0);
		cr_assert_eq(keel_udp_close(&f->c), 0);
	} else {
		cr_assert_eq(f->r, -EADDRNOTAVAIL, "got %s", keel_strerror((int)f->r));
	}
	cr_assert_null(f->c.ops);

	/* port 0 picks a free port, and the socket is there */
	f->x = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->x, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->aa), 0);
	cr_assert_eq(f->aa.sa.sa_family, AF_INET);
	cr_assert_eq(f->aa.in4.sin_addr.s_addr, f->x.in4.sin_addr.s_addr);
	cr_assert_neq(keel_addr_port(&f->aa), 0, "a port was chosen");
	/* a second one gets another */
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->x, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	cr_assert_neq(keel_addr_port(&f->ba), keel_addr_port(&f->aa));

	/* that port is in use; the handles are busy */
	cr_assert_eq(keel_udp_bind(cx, &f->c, &f->aa, NULL), -EADDRINUSE);
	cr_assert_null(f->c.ops);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->x, NULL), -EBUSY);

	ct_peer_open(cx, &f->p);
	ct_psend_ok(cx, &f->p, "to a", 4, &f->aa);
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->a, f->buf, sizeof(f->buf), &f->from));
	cr_assert_eq(f->r, 4, "the chosen port receives: %s", keel_strerror((int)f->r));
	cr_assert(keel_addr_equal(&f->from, &f->p.addr), "from the peer");
	ct_psend_ok(cx, &f->p, "to b", 4, &f->ba);
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 4);
	cr_assert_arr_eq(f->buf, "to b", 4, "each port its own datagrams");
	ct_peer_close(&f->p);
	cr_assert_eq(keel_udp_close(&f->a), 0);
	cr_assert_eq(keel_udp_close(&f->b), 0);
	KEEL_END(f);
}

/* IPv6 is the kernel driver's; the bypass drivers and sim are IPv4. */
CT_TEST(ipv6_is_kernel_only, struct bind_frame)
{
	KEEL_BEGIN(f);
	f->x = ct_addr("::1", 0);
	f->r = keel_udp_bind(cx, &f->a, &f->x, NULL);
	if (ct_differs(ct_drv() == CT_KERNEL, "IPv6 sockets")) {
		cr_assert(f->r == 0 || f->r == -EADDRNOTAVAIL || f->r == -EAFNOSUPPORT,
			  "::1 binds where the host has IPv6: %s",
			  keel_strerror((int)f->r));
		if (f->r == 0)
			cr_assert_eq(keel_udp_close(&f->a), 0);
	} else {
		cr_assert_eq(f->r, -EAFNOSUPPORT, "got %s", keel_strerror((int)f->r));
		cr_assert_eq(keel_udp_bind(cx, &f->a, &f->aa, NULL), -EINVAL);
		f->aa = ct_ours(0);
		cr_assert_eq(keel_udp_bind(cx, &f->a, &f->aa, NULL), 0);
		CT_AWAIT(f, keel_udp_send_to(cx, &f->a, "x", 1, &f->x));
		cr_assert_eq(f->r, -EAFNOSUPPORT);
		cr_assert_eq(keel_udp_close(&f->a), 0);
	}
	KEEL_END(f);
}

/* ----------------------------------------------------------------- sizes */

struct size_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i;
	struct keel_driver_stats st;
	struct keel_udp s;
	struct keel_addr sa, from;
	struct ct_peer p;
	unsigned char want[CT_MAX_PAYLOAD + 1], buf[CT_MAX_PAYLOAD + 1];
};

static const size_t sizes[] = { 0,    1,    2,     17,    64,    100,   512,
				1000, 1024, 1400,  1471,  1472,  1473,  4096,
				8192, 9000, 16384, 32768, 65000, 65506, 65507 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Every size from 0 to the largest payload, both ways, byte for byte (a
 * kernel peer verifies the checksums of what it receives). */
CT_TEST(sizes_both_ways, struct size_frame)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	ct_peer_open(cx, &f->p);
	f->st = ct_stats(cx);
	for (f->i = 0; f->i < NSIZES && sizes[f->i] <= CT_MAX_PAYLOAD; f->i++) {
		ct_pattern(f->want, sizes[f->i], f->i);
		ct_psend_ok(cx, &f->p, f->want, sizes[f->i], &f->sa);
		CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf),
					       &f->from));
		cr_assert_eq(f->r, (intptr_t)sizes[f->i], "peer -> keel, %zu bytes: %ld",
			     sizes[f->i], (long)f->r);
		cr_assert_arr_eq(f->buf, f->want, sizes[f->i]);
		cr_assert(keel_addr_equal(&f->from, &f->p.addr));

		ct_pattern(f->want, sizes[f->i], f->i + 100);
		CT_AWAIT(f, keel_udp_send_to(cx, &f->s, f->want, sizes[f->i],
					     &f->p.addr));
		cr_assert_eq(f->r, (intptr_t)sizes[f->i], "keel -> peer, %zu bytes: %s",
			     sizes[f->i], keel_strerror((int)f->r));
		CT_PRECV(f, &f->p, f->buf, sizeof(f->buf), &f->from);
		cr_assert_eq(f->r, (intptr_t)sizes[f->i],
			     "%zu bytes reached the peer (got %ld)", sizes[f->i],
			     (long)f->r);
		cr_assert_arr_eq(f->buf, f->want, sizes[f->i]);
		cr_assert(keel_addr_equal(&f->from, &f->sa), "from keel's socket");
	}
	/* each datagram counted once, each way (the sim peer's own count
	 * too); ARP frames are not datagrams (dpdk counts them apart) */
	cr_assert_eq(ct_stats(cx).rx_packets - f->st.rx_packets,
		     f->i * (ct_drv() == CT_SIM ? 2 : 1));
	cr_assert_eq(ct_stats(cx).tx_packets - f->st.tx_packets,
		     f->i * (ct_drv() == CT_SIM ? 2 : 1));
	/* one byte more is refused, and nothing is sent */
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, f->want, CT_MAX_PAYLOAD + 1,
				     &f->p.addr));
	cr_assert_eq(f->r, -EMSGSIZE, "%u bytes: %s", CT_MAX_PAYLOAD + 1,
		     keel_strerror((int)f->r));
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, "end", 3, &f->p.addr));
	CT_PRECV(f, &f->p, f->buf, sizeof(f->buf), NULL);
	cr_assert_eq(f->r, 3, "the next datagram is the next one sent");
	ct_peer_close(&f->p);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

/* ------------------------------------------------------------ truncation */

struct trunc_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin;
	struct keel_driver_stats st;
	struct keel_udp s;
	struct keel_addr sa, from;
	struct ct_peer p;
	struct keel_dgram v[2];
	unsigned char want[200], buf[200], buf2[200];
};

/* A datagram longer than the buffer: cut, reported (-EMSGSIZE, or
 * KEEL_DGRAM_TRUNC in a batch), consumed whole; the next receive gets the
 * next datagram, never the rest of the cut one. */
CT_TEST(truncation_then_next, struct trunc_frame)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	ct_peer_open(cx, &f->p);
	f->st = ct_stats(cx);

	ct_pattern(f->want, 100, 3);
	ct_psend_ok(cx, &f->p, f->want, 100, &f->sa);
	ct_psend_ok(cx, &f->p, "next", 4, &f->sa);
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, 10, NULL));
	cr_assert_eq(f->r, -EMSGSIZE, "got %ld", (long)f->r);
	cr_assert_arr_eq(f->buf, f->want, 10, "the first bytes are kept");
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 4, "then the next datagram (got %ld)", (long)f->r);
	cr_assert_arr_eq(f->buf, "next", 4);

	/* in a batch: the cut one flagged, the one after it whole */
	ct_psend_ok(cx, &f->p, f->want, 100, &f->sa);
	ct_psend_ok(cx, &f->p, "after", 5, &f->sa);
	f->v[0] = (struct keel_dgram){ .buf = f->buf, .cap = 20 };
	f->v[1] = (struct keel_dgram){ .buf = f->buf2, .cap = sizeof(f->buf2) };
	CT_AWAIT(f, keel_udp_recv_batch(cx, &f->s, f->v, 1));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->v[0].len, 20);
	cr_assert_eq(f->v[0].flags, KEEL_DGRAM_TRUNC);
	cr_assert_arr_eq(f->buf, f->want, 20);
	f->v[0] = (struct keel_dgram){ .buf = f->buf, .cap = sizeof(f->buf) };
	CT_AWAIT(f, keel_udp_recv_batch(cx, &f->s, f->v, 2));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->v[0].len, 5);
	cr_assert_eq(f->v[0].flags, 0);
	cr_assert_arr_eq(f->buf, "after", 5);

	/* no buffer at all: an empty datagram fits, a byte does not */
	ct_psend_ok(cx, &f->p, "", 0, &f->sa);
	ct_psend_ok(cx, &f->p, "z", 1, &f->sa);
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, NULL, 0, &f->from));
	cr_assert_eq(f->r, 0, "an empty datagram: %ld", (long)f->r);
	cr_assert(keel_addr_equal(&f->from, &f->p.addr));
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, 0, NULL));
	cr_assert_eq(f->r, -EMSGSIZE, "a byte into no room: %ld", (long)f->r);
	cr_assert_eq(ct_stats(cx).rx_truncated - f->st.rx_truncated, 3,
		     "each cut datagram counted");
	/* and sends one: an empty datagram from no buffer */
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, NULL, 0, &f->p.addr));
	cr_assert_eq(f->r, 0);
	CT_PRECV(f, &f->p, f->buf, sizeof(f->buf), NULL);
	cr_assert_eq(f->r, 0, "the peer got an empty datagram");
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, NULL, 3, &f->p.addr));
	cr_assert_eq(f->r, -EINVAL, "no buffer, three bytes");
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, NULL, 3, NULL));
	cr_assert_eq(f->r, -EINVAL);
	ct_peer_close(&f->p);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

/* --------------------------------------------------------------- batches */

struct batch_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i, got, sent;
	struct keel_udp s;
	struct keel_addr sa, from;
	struct ct_peer p;
	struct keel_dgram v[NB];
	unsigned char bufs[NB][1472], want[1472], rx[2048];
};

static size_t batch_size(unsigned i)
{
	return i == 0 ? 1472 : 1 + i * 45; /* 1472, then 46..1396 */
}

/* recv_batch and send_batch: many per call, in order, each its own size
 * and peer. */
CT_TEST(batch_both_ways, struct batch_frame)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	ct_peer_open(cx, &f->p);

	for (f->i = 0; f->i < NB; f->i++) {
		ct_pattern(f->want, batch_size(f->i), f->i);
		ct_psend_ok(cx, &f->p, f->want, batch_size(f->i), &f->sa);
	}
	while (f->got < NB) {
		for (unsigned i = 0; i < NB; i++)
			f->v[i] = (struct keel_dgram){ .buf = f->bufs[i], .cap = 1472 };
		CT_AWAIT(f, keel_udp_recv_batch(cx, &f->s, f->v, NB - f->got));
		cr_assert_gt(f->r, 0, "recv_batch: %s", keel_strerror((int)f->r));
		for (intptr_t k = 0; k < f->r; k++) {
			unsigned n = f->got + (unsigned)k;

			ct_pattern(f->want, batch_size(n), n);
			cr_assert_eq(f->v[k].len, batch_size(n), "datagram %u", n);
			cr_assert_eq(f->v[k].flags, 0);
			cr_assert_arr_eq(f->v[k].buf, f->want, batch_size(n));
			cr_assert(keel_addr_equal(&f->v[k].peer, &f->p.addr));
		}
		f->got += (unsigned)f->r;
	}

	for (f->i = 0; f->i < NB; f->i++) {
		ct_pattern(f->bufs[f->i], batch_size(f->i), f->i + 7);
		f->v[f->i] = (struct keel_dgram){ .buf = f->bufs[f->i],
						  .cap = batch_size(f->i),
						  .peer = f->p.addr };
	}
	while (f->sent < NB) {
		CT_AWAIT(f, keel_udp_send_batch(cx, &f->s, f->v + f->sent,
						NB - f->sent));
		cr_assert_gt(f->r, 0, "send_batch: %s", keel_strerror((int)f->r));
		f->sent += (unsigned)f->r;
	}
	for (f->i = 0; f->i < NB; f->i++) {
		CT_PRECV(f, &f->p, f->rx, sizeof(f->rx), &f->from);
		cr_assert_eq(f->r, (intptr_t)batch_size(f->i),
			     "datagram %u reached the peer (got %ld)", f->i, (long)f->r);
		ct_pattern(f->want, batch_size(f->i), f->i + 7);
		cr_assert_arr_eq(f->rx, f->want, batch_size(f->i));
		cr_assert(keel_addr_equal(&f->from, &f->sa));
	}
	/* bad batches */
	CT_AWAIT(f, keel_udp_recv_batch(cx, &f->s, f->v, 0));
	cr_assert_eq(f->r, -EINVAL);
	f->v[0] = (struct keel_dgram){ .buf = NULL, .cap = 4 };
	CT_AWAIT(f, keel_udp_recv_batch(cx, &f->s, f->v, 1));
	cr_assert_eq(f->r, -EINVAL);
	ct_peer_close(&f->p);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

/* ------------------------------------------------------------- zero-copy */

struct zc_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i, got, sent, n;
	struct keel_udp s;
	struct keel_addr sa, from;
	struct ct_peer p, p2;
	struct keel_pkt pk[16];
	unsigned char want[1472], rx[2048];
};

/* recv_lend / send_lent / release: lend received packets, rewrite them in
 * place, send each from its own buffer; send one elsewhere and grown;
 * give one back; a packet given back or sent is the driver's again. */
CT_TEST(zero_copy_lend_send_release, struct zc_frame)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	ct_peer_open(cx, &f->p);
	ct_peer_open(cx, &f->p2);

	for (f->i = 0; f->i < 16; f->i++) {
		ct_pattern(f->want, batch_size(f->i), f->i);
		ct_psend_ok(cx, &f->p, f->want, batch_size(f->i), &f->sa);
	}
	while (f->got < 16) {
		CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, f->pk, 16 - f->got));
		cr_assert_gt(f->r, 0, "recv_lend: %s", keel_strerror((int)f->r));
		f->n = (unsigned)f->r;
		for (unsigned k = 0; k < f->n; k++) {
			unsigned char *q = f->pk[k].data;

			ct_pattern(f->want, batch_size(f->got + k), f->got + k);
			cr_assert_eq(f->pk[k].len, batch_size(f->got + k));
			cr_assert_geq(f->pk[k].cap, f->pk[k].len);
			cr_assert_arr_eq(q, f->want, f->pk[k].len);
			cr_assert(keel_addr_equal(&f->pk[k].peer, &f->p.addr));
			for (uint32_t j = 0; j < f->pk[k].len; j++)
				q[j] ^= 0x5a;
		}
		for (f->sent = 0; f->sent < f->n; f->sent += (unsigned)f->r) {
			CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, f->pk + f->sent,
						       f->n - f->sent));
			cr_assert_gt(f->r, 0, "send_lent: %s", keel_strerror((int)f->r));
		}
		cr_assert_null(f->pk[0].data, "a sent packet is the driver's");
		f->got += f->n;
	}
	for (f->i = 0; f->i < 16; f->i++) {
		CT_PRECV(f, &f->p, f->rx, sizeof(f->rx), NULL);
		cr_assert_eq(f->r, (intptr_t)batch_size(f->i),
			     "reply %u reached the peer (got %ld)", f->i, (long)f->r);
		ct_pattern(f->want, batch_size(f->i), f->i);
		for (size_t j = 0; j < batch_size(f->i); j++)
			f->want[j] ^= 0x5a;
		cr_assert_arr_eq(f->rx, f->want, batch_size(f->i));
	}

	/* one sent elsewhere, grown; one given back unsent */
	ct_psend_ok(cx, &f->p, "abc", 3, &f->sa);
	ct_psend_ok(cx, &f->p, "def", 3, &f->sa);
	for (f->got = 0; f->got < 2; f->got += (unsigned)f->r) {
		CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, f->pk + f->got, 2 - f->got));
		cr_assert_gt(f->r, 0);
	}
	f->pk[0].peer = f->p2.addr;
	f->n = f->pk[0].cap < 1472 ? f->pk[0].cap : 1472;
	ct_pattern(f->pk[0].data, f->n, 99);
	f->pk[0].len = f->n;
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, f->pk, 1));
	cr_assert_eq(f->r, 1, "send_lent: %s", keel_strerror((int)f->r));
	cr_assert_eq(keel_udp_release(&f->s, &f->pk[1], 1), 0);
	cr_assert_null(f->pk[1].data, "a released packet is the driver's");
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->pk[1], 1));
	cr_assert_eq(f->r, -EINVAL, "a packet given back cannot be sent");
	CT_PRECV(f, &f->p2, f->rx, sizeof(f->rx), &f->from);
	cr_assert_eq(f->r, (intptr_t)f->n, "the redirected packet arrived (got %ld)",
		     (long)f->r);
	ct_pattern(f->want, f->n, 99);
	cr_assert_arr_eq(f->rx, f->want, f->n);
	cr_assert(keel_addr_equal(&f->from, &f->sa));

	/* packets still lent when the socket closes go back with it (ASan
	 * and each driver's teardown check nothing leaks) */
	for (f->i = 0; f->i < 4; f->i++)
		ct_psend_ok(cx, &f->p, "kept", 4, &f->sa);
	for (f->got = 0; f->got < 4; f->got += (unsigned)f->r) {
		CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, f->pk + f->got, 4 - f->got));
		cr_assert_gt(f->r, 0);
	}
	cr_assert_eq(keel_udp_close(&f->s), 0);
	cr_assert_eq(keel_udp_close(&f->s), -EBADF, "double close is an error");
	cr_assert_eq(keel_udp_release(&f->s, f->pk, 1), -EBADF);
	ct_peer_close(&f->p);
	ct_peer_close(&f->p2);
	KEEL_END(f);
}

struct zc_mistakes_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i, got;
	struct keel_udp s, s2;
	struct keel_addr sa, s2a, from;
	struct ct_peer p;
	struct keel_pkt pk[CT_LEND_MAX], extra, copy;
	unsigned char rx[64];
};

/* The mistakes of zero-copy, answered alike by every driver: a socket
 * lends at most so many packets at once (then -ENOBUFS, though a datagram
 * waits; one given back makes room); a packet another socket lent, or one
 * already sent, is refused by send_lent (-EINVAL) and left alone by
 * release, and the socket that lent it still sends it. */
CT_TEST_OPTS(zero_copy_mistakes, struct zc_mistakes_frame, CT_LEND_OPTS)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	f->s2a = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s2, &f->s2a, NULL), 0);
	ct_peer_open(cx, &f->p);

	for (f->i = 0; f->i < CT_LEND_MAX; f->i++)
		ct_psend_ok(cx, &f->p, "lend", 4, &f->sa);
	for (f->got = 0; f->got < CT_LEND_MAX; f->got += (unsigned)f->r) {
		CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, f->pk + f->got,
					       CT_LEND_MAX - f->got));
		cr_assert_gt(f->r, 0, "recv_lend: %s", keel_strerror((int)f->r));
	}
	/* all lent: the next datagram waits, the socket lends no more */
	ct_psend_ok(cx, &f->p, "more", 4, &f->sa);
	CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, &f->extra, 1));
	cr_assert_eq(f->r, -ENOBUFS, "a %uth lent packet: %s", CT_LEND_MAX + 1,
		     keel_strerror((int)f->r));
	cr_assert_eq(keel_udp_release(&f->s, &f->pk[0], 1), 0);
	CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, &f->extra, 1));
	cr_assert_eq(f->r, 1, "one given back, one lent: %s", keel_strerror((int)f->r));
	cr_assert_eq(f->extra.len, 4);
	cr_assert_arr_eq(f->extra.data, "more", 4);

	/* another socket's packet: refused, left alone */
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s2, &f->pk[1], 1));
	cr_assert_eq(f->r, -EINVAL, "sent on a socket that did not lend it: %s",
		     keel_strerror((int)f->r));
	cr_assert_eq(keel_udp_release(&f->s2, &f->pk[1], 1), 0);
	cr_assert_not_null(f->pk[1].data, "released by a socket that did not lend it");
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->pk[1], 1));
	cr_assert_eq(f->r, 1, "the socket that lent it sends it: %s",
		     keel_strerror((int)f->r));
	CT_PRECV(f, &f->p, f->rx, sizeof(f->rx), &f->from);
	cr_assert_eq(f->r, 4, "the peer got it (%ld)", (long)f->r);
	cr_assert(keel_addr_equal(&f->from, &f->sa));

	/* a copy of a packet already sent: refused, left alone */
	f->copy = f->pk[2];
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->pk[2], 1));
	cr_assert_eq(f->r, 1);
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->copy, 1));
	cr_assert_eq(f->r, -EINVAL, "a packet sent already: %s",
		     keel_strerror((int)f->r));
	cr_assert_eq(keel_udp_release(&f->s, &f->copy, 1), 0);
	CT_PRECV(f, &f->p, f->rx, sizeof(f->rx), NULL);
	cr_assert_eq(f->r, 4, "sent once (%ld)", (long)f->r);

	/* the rest go back; every slot is free again */
	cr_assert_eq(keel_udp_release(&f->s, f->pk + 3, CT_LEND_MAX - 3), 0);
	cr_assert_eq(keel_udp_release(&f->s, &f->extra, 1), 0);
	for (f->i = 0; f->i < CT_LEND_MAX; f->i++)
		ct_psend_ok(cx, &f->p, "again", 5, &f->sa);
	for (f->got = 0; f->got < CT_LEND_MAX; f->got += (unsigned)f->r) {
		CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, f->pk + f->got,
					       CT_LEND_MAX - f->got));
		cr_assert_gt(f->r, 0, "recv_lend: %s", keel_strerror((int)f->r));
	}
	cr_assert_eq(keel_udp_release(&f->s, f->pk, CT_LEND_MAX), 0);
	ct_peer_close(&f->p);
	cr_assert_eq(keel_udp_close(&f->s2), 0);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

struct zc_stale_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i, got;
	struct keel_udp s;
	struct keel_addr sa, from;
	struct ct_peer p;
	struct keel_pkt pk[CT_LEND_MAX], copy, twice[3];
	unsigned char rx[64];
};

/* Lend until all CT_LEND_MAX are lent, into f->pk[from..). */
#define ZC_LEND_ALL(f, from, what)                                             \
	do {                                                                   \
		for ((f)->i = (from); (f)->i < CT_LEND_MAX; (f)->i++)          \
			ct_psend_ok(cx, &(f)->p, what, 4, &(f)->sa);           \
		for ((f)->got = (from); (f)->got < CT_LEND_MAX;                \
		     (f)->got += (unsigned)(f)->r) {                           \
			CT_AWAIT(f, keel_udp_recv_lend(cx, &(f)->s,            \
						       (f)->pk + (f)->got,     \
						       CT_LEND_MAX - (f)->got)); \
			cr_assert_gt((f)->r, 0, "recv_lend: %s",               \
				     keel_strerror((int)(f)->r));              \
		}                                                              \
	} while (0)

/* A stale copy of a lent packet, kept after the packet was given back
 * (released or sent) and its buffer lent again, is no longer the
 * driver's to take: send_lent refuses it (-EINVAL) and release leaves it
 * alone, and the packet lent since in the same buffer is untouched. A
 * packet listed twice in one send_lent is refused (-EINVAL) and nothing
 * of that call is sent. The same answer on every driver. */
CT_TEST_OPTS(zero_copy_stale_copies_and_duplicates, struct zc_stale_frame,
	     CT_LEND_OPTS)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	ct_peer_open(cx, &f->p);

	/* Every buffer lent; one copied, then released: the only one free,
	 * so the next lend reuses it. */
	ZC_LEND_ALL(f, 0, "one!");
	f->copy = f->pk[0];
	cr_assert_eq(keel_udp_release(&f->s, &f->pk[0], 1), 0);
	ct_psend_ok(cx, &f->p, "two!", 4, &f->sa);
	CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, &f->pk[0], 1));
	cr_assert_eq(f->r, 1, "recv_lend: %s", keel_strerror((int)f->r));
	cr_assert_arr_eq(f->pk[0].data, "two!", 4);
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->copy, 1));
	cr_assert_eq(f->r, -EINVAL, "a stale copy (released, lent again) sent: %s",
		     keel_strerror((int)f->r));
	cr_assert_eq(keel_udp_release(&f->s, &f->copy, 1), 0);
	/* the packet lent since is still lent: it goes, and is what arrives
	 * first (so the stale copy sent nothing) */
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->pk[0], 1));
	cr_assert_eq(f->r, 1, "the packet lent again, after the stale copy's "
		     "release: %s", keel_strerror((int)f->r));
	CT_PRECV(f, &f->p, f->rx, sizeof(f->rx), &f->from);
	cr_assert_eq(f->r, 4, "the peer got it (%ld)", (long)f->r);
	cr_assert_arr_eq(f->rx, "two!", 4);

	/* the same with a copy of a packet sent, not released */
	ct_psend_ok(cx, &f->p, "thr!", 4, &f->sa);
	CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, &f->pk[0], 1));
	cr_assert_eq(f->r, 1, "recv_lend: %s", keel_strerror((int)f->r));
	f->copy = f->pk[1];
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->pk[1], 1));
	cr_assert_eq(f->r, 1, "send_lent: %s", keel_strerror((int)f->r));
	CT_PRECV(f, &f->p, f->rx, sizeof(f->rx), NULL);
	cr_assert_eq(f->r, 4, "the peer got it (%ld)", (long)f->r);
	cr_assert_arr_eq(f->rx, "one!", 4);
	ct_psend_ok(cx, &f->p, "fou!", 4, &f->sa);
	CT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, &f->pk[1], 1));
	cr_assert_eq(f->r, 1, "recv_lend: %s", keel_strerror((int)f->r));
	cr_assert_arr_eq(f->pk[1].data, "fou!", 4);
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->copy, 1));
	cr_assert_eq(f->r, -EINVAL, "a stale copy (sent, lent again) sent: %s",
		     keel_strerror((int)f->r));
	cr_assert_eq(keel_udp_release(&f->s, &f->copy, 1), 0);

	/* one packet listed twice: refused, nothing sent, all still lent */
	memcpy(f->pk[0].data, "bad0", 4);
	f->pk[0].len = 4;
	memcpy(f->pk[1].data, "bad1", 4);
	f->twice[0] = f->pk[0];
	f->twice[1] = f->pk[1];
	f->twice[2] = f->pk[0];
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, f->twice, 3));
	cr_assert_eq(f->r, -EINVAL, "a packet listed twice: %s",
		     keel_strerror((int)f->r));
	for (f->i = 0; f->i < 3; f->i++)
		cr_assert_not_null(f->twice[f->i].data, "refused, still lent");
	/* both still lent, and sent now, in order: the first datagram the
	 * peer gets is theirs, so the refused call sent nothing */
	memcpy(f->pk[0].data, "ok_0", 4);
	memcpy(f->pk[1].data, "ok_1", 4);
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, f->pk, 2));
	cr_assert_eq(f->r, 2, "send_lent: %s", keel_strerror((int)f->r));
	CT_PRECV(f, &f->p, f->rx, sizeof(f->rx), NULL);
	cr_assert_eq(f->r, 4, "the peer got it (%ld)", (long)f->r);
	cr_assert_arr_eq(f->rx, "ok_0", 4, "nothing of the refused call went");
	CT_PRECV(f, &f->p, f->rx, sizeof(f->rx), NULL);
	cr_assert_eq(f->r, 4, "the peer got it (%ld)", (long)f->r);
	cr_assert_arr_eq(f->rx, "ok_1", 4);
	/* and the stale copies of those two are refused too */
	CT_AWAIT(f, keel_udp_send_lent(cx, &f->s, f->twice, 1));
	cr_assert_eq(f->r, -EINVAL, "a packet sent already: %s",
		     keel_strerror((int)f->r));

	/* the rest go back; every buffer is lent again, and given back */
	cr_assert_eq(keel_udp_release(&f->s, f->pk + 2, CT_LEND_MAX - 2), 0);
	ZC_LEND_ALL(f, 0, "last");
	cr_assert_eq(keel_udp_release(&f->s, f->pk, CT_LEND_MAX), 0);
	ct_peer_close(&f->p);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

/* ---------------------------------------------------- cancel and close */

struct waiter {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp *s;
	atomic_bool *blocked; /* set once a receive returned pending */
	bool retry;	      /* wait again after each short timeout */
	char buf[8];
};

static intptr_t note_pending(atomic_bool *flag, intptr_t r)
{
	if (r == KEEL_PENDING)
		atomic_store(flag, true);
	return r;
}

/* Wait in recv_from; with `retry`, in 20 ms turns until something other
 * than the timeout ends a turn. */
static intptr_t waiter_poll(void *frame, struct keel_cx *cx)
{
	struct waiter *f = frame;

	KEEL_BEGIN(f);
	do {
		KEEL_AWAIT(f, f->r,
			   keel_timeout(cx, &f->t, f->retry ? 20 * KEEL_MS : CT_LIMIT,
					note_pending(f->blocked,
						     keel_udp_recv_from(cx, f->s, f->buf,
									sizeof(f->buf),
									NULL))));
	} while (f->retry && f->r == -ETIMEDOUT);
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

struct cancel_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin;
	struct keel_udp s;
	struct keel_addr sa;
	struct ct_peer p;
	struct keel_join *join;
	atomic_bool blocked;
	char buf[8];
};

/* A task blocked in recv_from is cancelled: it ends -ECANCELED and lets go
 * of the socket, which then serves its owner. */
CT_TEST(cancel_blocked_recv, struct cancel_frame)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	atomic_init(&f->blocked, false);
	cr_assert_eq(KEEL_SPAWN(cx, waiter_poll, NULL, &f->join, struct waiter,
				.s = &f->s, .blocked = &f->blocked),
		     0);
	CT_UNTIL(f, atomic_load(&f->blocked));
	cr_assert_eq(f->r, 0, "the waiter blocked in recv_from");
	cr_assert_not(keel_join_is_finished(f->join));
	keel_join_cancel(f->join);
	CT_AWAIT(f, keel_join_poll(cx, f->join));
	cr_assert_eq(f->r, -ECANCELED);

	ct_peer_open(cx, &f->p);
	ct_psend_ok(cx, &f->p, "mine", 4, &f->sa);
	CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 4, "the owner receives: %s", keel_strerror((int)f->r));
	ct_peer_close(&f->p);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

/* A socket closed under a waiter: the waiter is not woken by the close (it
 * is the owner's business), nothing dangles (ASan), and its next receive
 * is -EBADF; a waiter cancelled after the close ends -ECANCELED. */
CT_TEST(close_under_a_waiter, struct cancel_frame)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	atomic_init(&f->blocked, false);
	cr_assert_eq(KEEL_SPAWN(cx, waiter_poll, NULL, &f->join, struct waiter,
				.s = &f->s, .blocked = &f->blocked, .retry = true),
		     0);
	CT_UNTIL(f, atomic_load(&f->blocked));
	cr_assert_eq(f->r, 0, "the waiter blocked in recv_from");
	cr_assert_eq(keel_udp_close(&f->s), 0);
	CT_AWAIT(f, keel_join_poll(cx, f->join));
	cr_assert_eq(f->r, -EBADF, "its next turn finds the socket closed: %s",
		     keel_strerror((int)f->r));

	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	atomic_store(&f->blocked, false);
	cr_assert_eq(KEEL_SPAWN(cx, waiter_poll, NULL, &f->join, struct waiter,
				.s = &f->s, .blocked = &f->blocked),
		     0);
	CT_UNTIL(f, atomic_load(&f->blocked));
	cr_assert_eq(f->r, 0);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	keel_join_cancel(f->join);
	CT_AWAIT(f, keel_join_poll(cx, f->join));
	cr_assert_eq(f->r, -ECANCELED);
	/* every call on the closed handle */
	cr_assert_eq(keel_udp_close(&f->s), -EBADF);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), -EBADF);
	cr_assert_eq(keel_udp_recv_from(cx, &f->s, f->buf, 8, NULL), -EBADF);
	cr_assert_eq(keel_udp_send_to(cx, &f->s, "x", 1, &f->sa), -EBADF);
	cr_assert_eq(keel_udp_set_broadcast(&f->s, 1), -EBADF);
	KEEL_END(f);
}

/* ---------------------------------------------------------- many sockets */

#define MANY 64

struct many_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i;
	struct keel_udp s[MANY];
	struct keel_addr a[MANY], from;
	struct ct_peer p;
	unsigned v;
};

/* MANY sockets at once, each with its own port and its own datagrams,
 * and answering from its own port. */
CT_TEST(many_sockets, struct many_frame)
{
	KEEL_BEGIN(f);
	ct_peer_open(cx, &f->p);
	for (f->i = 0; f->i < MANY; f->i++) {
		f->a[f->i] = ct_ours(0);
		cr_assert_eq(keel_udp_bind(cx, &f->s[f->i], &f->a[f->i], NULL), 0,
			     "socket %u", f->i);
		cr_assert_eq(keel_udp_local_addr(&f->s[f->i], &f->a[f->i]), 0);
	}
	for (f->i = 0; f->i < MANY; f->i++)
		ct_psend_ok(cx, &f->p, &f->i, sizeof(f->i), &f->a[f->i]);
	for (f->i = 0; f->i < MANY; f->i++) {
		CT_AWAIT(f, keel_udp_recv_from(cx, &f->s[f->i], &f->v, sizeof(f->v),
					       NULL));
		cr_assert_eq(f->r, sizeof(f->v), "socket %u: %s", f->i,
			     keel_strerror((int)f->r));
		cr_assert_eq(f->v, f->i, "socket %u got its own datagram", f->i);
		CT_AWAIT(f, keel_udp_send_to(cx, &f->s[f->i], &f->i, sizeof(f->i),
					     &f->p.addr));
		cr_assert_eq(f->r, sizeof(f->i));
	}
	for (f->i = 0; f->i < MANY; f->i++) {
		CT_PRECV(f, &f->p, &f->v, sizeof(f->v), &f->from);
		cr_assert_eq(f->r, sizeof(f->v));
		cr_assert(keel_addr_equal(&f->from, &f->a[f->v]),
			  "reply %u from its socket's port", f->v);
	}
	for (f->i = 0; f->i < MANY; f->i++)
		cr_assert_eq(keel_udp_close(&f->s[f->i]), 0);
	ct_peer_close(&f->p);
	KEEL_END(f);
}

/* ------------------------------------------------------------- rebind */

struct rebind_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, round;
	struct keel_udp s;
	struct keel_addr sa, x;
	struct ct_peer p;
	unsigned v;
};

/* A port just closed binds again at once (no TIME_WAIT for UDP, no port
 * kept by the driver), and the new socket receives. */
CT_TEST(rebind_a_port_just_closed, struct rebind_frame)
{
	KEEL_BEGIN(f);
	ct_peer_open(cx, &f->p);
	f->x = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->x, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
	for (f->round = 0; f->round < 5; f->round++) {
		ct_psend_ok(cx, &f->p, &f->round, sizeof(f->round), &f->sa);
		CT_AWAIT(f, keel_udp_recv_from(cx, &f->s, &f->v, sizeof(f->v), NULL));
		cr_assert_eq(f->r, sizeof(f->v), "round %u: %s", f->round,
			     keel_strerror((int)f->r));
		cr_assert_eq(f->v, f->round);
		cr_assert_eq(keel_udp_close(&f->s), 0);
		cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0,
			     "round %u: the port binds again", f->round);
	}
	cr_assert_eq(keel_udp_close(&f->s), 0);
	ct_peer_close(&f->p);
	KEEL_END(f);
}

/* ---------------------------------------------------------- broadcast */

struct bcast_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	struct keel_udp s;
	struct keel_addr sa, to;
};

/* Sending to a broadcast address needs the socket's broadcast option on
 * every driver (-EACCES without it), as the kernel's sendto does. */
CT_TEST(broadcast_needs_the_option, struct bcast_frame)
{
	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	f->to = ct_addr("255.255.255.255", 9);
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, "b", 1, &f->to));
	cr_assert_eq(f->r, -EACCES, "limited broadcast without the option: %ld",
		     (long)f->r);
	f->to = ct_directed_broadcast(9);
	ct_differs(ct_drv() == CT_SIM, "no subnets: the limited broadcast stands "
				       "for the directed one");
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, "b", 1, &f->to));
	cr_assert_eq(f->r, -EACCES, "broadcast without the option: %ld", (long)f->r);
	cr_assert_eq(keel_udp_set_broadcast(&f->s, 1), 0);
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, "b", 1, &f->to));
	cr_assert_eq(f->r, 1, "with the option: %s", keel_strerror((int)f->r));
	cr_assert_eq(keel_udp_set_broadcast(&f->s, 0), 0);
	CT_AWAIT(f, keel_udp_send_to(cx, &f->s, "b", 1, &f->to));
	cr_assert_eq(f->r, -EACCES, "option cleared");
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

/* --------------------------------------------------- kernel-only options */

struct opt_frame {
	struct keel_co co;
	struct keel_udp s;
	struct keel_addr sa, g, peer;
};

/* TTL, multicast and connect are the kernel driver's; every other driver
 * says -ENOTSUP, the same for each option. */
CT_TEST(kernel_only_options, struct opt_frame)
{
	bool k = ct_differs(ct_drv() == CT_KERNEL, "TTL, multicast and connect");
	int want = k ? 0 : -ENOTSUP;

	KEEL_BEGIN(f);
	f->sa = ct_ours(0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->sa, NULL), 0);
	f->g = ct_addr("239.1.2.3", 0);
	f->peer = ct_peer_host(9);
	cr_assert_eq(keel_udp_set_ttl(&f->s, 7), want);
	cr_assert_eq(keel_udp_set_multicast_ttl(&f->s, 3), want);
	cr_assert_eq(keel_udp_set_multicast_loop(&f->s, 0), want);
	cr_assert_eq(keel_udp_join(&f->s, &f->g, k ? if_nametoindex("lo") : 0), want);
	cr_assert_eq(keel_udp_leave(&f->s, &f->g, k ? if_nametoindex("lo") : 0), want);
	cr_assert_eq(keel_udp_connect(&f->s, &f->peer), want);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

#include "overload.h"
