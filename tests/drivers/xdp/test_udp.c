/* SPDX-License-Identifier: MIT */
/* drivers/xdp/udp.c: a keel socket on AF_XDP exchanges datagrams with a
 * kernel socket in the peer namespace, both ways, single, batch and
 * zero-copy, small and 1472-byte (the peer kernel verifies the checksums of
 * what keel sends: a datagram that arrives had good ones); the socket API's
 * edges and errors. */
#include "xtest.h"

#include <arpa/inet.h>

#define BIG 1472 /* the largest payload of a 1500-byte MTU */
#define NB  32	 /* datagrams per batch */

struct io_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i, got;
	int pfd;
	struct keel_udp s;
	struct keel_addr ka, pa, from;
	struct keel_xdp_stats st;
	struct keel_dgram v;
	unsigned char buf[2048], want[2048];
};

static void io_setup(struct io_frame *f, struct keel_cx *cx)
{
	f->ka = xt_ours(XT_PORT);
	f->pa = xt_peer(XT_PEER_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);
}

/* ------------------------------------------------------ peer -> keel */

XT_TEST(udp, peer_to_keel, struct io_frame, "")
{
	static const size_t sizes[] = { 1, 5, 64, 1000, BIG };

	KEEL_BEGIN(f);
	io_setup(f, cx);
	for (f->i = 0; f->i < 5; f->i++) {
		xt_pattern(f->want, sizes[f->i], f->i);
		xt_ksend(f->pfd, f->want, sizes[f->i], &f->ka);
		XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf),
					       &f->from));
		cr_assert_eq(f->r, (intptr_t)sizes[f->i], "size %zu: got %ld",
			     sizes[f->i], (long)f->r);
		cr_assert_arr_eq(f->buf, f->want, sizes[f->i]);
		cr_assert(keel_addr_equal(&f->from, &f->pa),
			  "the sender is the peer's socket");
	}
	f->st = xt_stats(cx);
	cr_assert_eq(f->st.base.rx_packets, 5);
	cr_assert_eq(f->st.bad_frame, 0);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* ------------------------------------------------------ keel -> peer */

XT_TEST(udp, keel_to_peer, struct io_frame, "")
{
	static const size_t sizes[] = { 0, 5, 64, 1000, BIG };

	KEEL_BEGIN(f);
	io_setup(f, cx);
	for (f->i = 0; f->i < 5; f->i++) {
		xt_pattern(f->want, sizes[f->i], f->i + 100);
		XT_AWAIT(f, keel_udp_send_to(cx, &f->s, f->want, sizes[f->i],
					     &f->pa));
		cr_assert_eq(f->r, (intptr_t)sizes[f->i]);
		XT_KRECV(f, f->pfd, f->buf, sizeof(f->buf));
		cr_assert_eq(f->r, (intptr_t)sizes[f->i],
			     "size %zu reached the peer's kernel (got %ld)",
			     sizes[f->i], (long)f->r);
		cr_assert_arr_eq(f->buf, f->want, sizes[f->i]);
	}
	f->st = xt_stats(cx);
	cr_assert_eq(f->st.base.tx_packets, 5);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* ---------------------------------------------------------- batches */

struct batch_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i, got, sent;
	int pfd;
	struct keel_udp s;
	struct keel_addr ka, pa;
	struct keel_dgram v[NB];
	unsigned char bufs[NB][BIG], want[BIG], rx[2048];
};

static size_t batch_size(unsigned i)
{
	return i == 0 ? BIG : 1 + i * 45; /* 1472, then 46..1396 */
}

XT_TEST(udp, batch_both_ways, struct batch_frame, "")
{
	KEEL_BEGIN(f);
	f->ka = xt_ours(XT_PORT);
	f->pa = xt_peer(XT_PEER_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);

	/* peer -> keel: NB datagrams, received in batches, in order */
	for (f->i = 0; f->i < NB; f->i++) {
		xt_pattern(f->want, batch_size(f->i), f->i);
		xt_ksend(f->pfd, f->want, batch_size(f->i), &f->ka);
	}
	while (f->got < NB) {
		for (unsigned i = 0; i < NB; i++)
			f->v[i] = (struct keel_dgram){ .buf = f->bufs[i],
						       .cap = BIG };
		XT_AWAIT(f, keel_udp_recv_batch(cx, &f->s, f->v, NB - f->got));
		cr_assert_gt(f->r, 0, "recv_batch: %s", keel_strerror(f->r));
		for (intptr_t k = 0; k < f->r; k++) {
			unsigned n = f->got + (unsigned)k;

			xt_pattern(f->want, batch_size(n), n);
			cr_assert_eq(f->v[k].len, batch_size(n));
			cr_assert_eq(f->v[k].flags, 0);
			cr_assert_arr_eq(f->v[k].buf, f->want, batch_size(n));
			cr_assert_eq(f->v[k].peer.in4.sin_port, htons(XT_PEER_PORT));
		}
		f->got += (unsigned)f->r;
	}

	/* keel -> peer: NB datagrams in batches, all arrive, in order */
	for (f->i = 0; f->i < NB; f->i++) {
		xt_pattern(f->bufs[f->i], batch_size(f->i), f->i + 7);
		f->v[f->i] = (struct keel_dgram){ .buf = f->bufs[f->i],
						  .cap = batch_size(f->i),
						  .peer = f->pa };
	}
	while (f->sent < NB) {
		XT_AWAIT(f, keel_udp_send_batch(cx, &f->s, f->v + f->sent,
						NB - f->sent));
		cr_assert_gt(f->r, 0, "send_batch: %s", keel_strerror(f->r));
		f->sent += (unsigned)f->r;
	}
	for (f->i = 0; f->i < NB; f->i++) {
		XT_KRECV(f, f->pfd, f->rx, sizeof(f->rx));
		cr_assert_eq(f->r, (intptr_t)batch_size(f->i),
			     "datagram %u reached the peer (got %ld)", f->i,
			     (long)f->r);
		xt_pattern(f->want, batch_size(f->i), f->i + 7);
		cr_assert_arr_eq(f->rx, f->want, batch_size(f->i));
	}
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* -------------------------------------------------------- zero-copy */

struct zc_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i, got, sent;
	int pfd, pfd2;
	struct keel_udp s;
	struct keel_addr ka, pa, pa2;
	struct keel_pkt pk[NB];
	struct keel_xdp_stats st;
	unsigned char want[BIG], rx[2048];
};

/* The echo path of issue 5: lend the received frames, rewrite the payload
 * in place, send each back from its own frame (keel_net_udp_reply). */
XT_TEST(udp, zero_copy_reply_in_place, struct zc_frame, "")
{
	KEEL_BEGIN(f);
	f->ka = xt_ours(XT_PORT);
	f->pa = xt_peer(XT_PEER_PORT);
	f->pa2 = xt_peer(XT_PEER_PORT + 1);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);
	f->pfd2 = xt_peer_udp(XT_PEER_PORT + 1);

	for (f->i = 0; f->i < 16; f->i++) {
		xt_pattern(f->want, batch_size(f->i), f->i);
		xt_ksend(f->pfd, f->want, batch_size(f->i), &f->ka);
	}
	while (f->got < 16) {
		XT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, f->pk, 16 - f->got));
		cr_assert_gt(f->r, 0, "recv_lend: %s", keel_strerror(f->r));
		f->i = (unsigned)f->r;
		for (unsigned k = 0; k < f->i; k++) {
			unsigned char *p = f->pk[k].data;

			cr_assert_eq(f->pk[k].len, batch_size(f->got + k));
			cr_assert_geq(f->pk[k].cap, BIG);
			cr_assert(keel_addr_equal(&f->pk[k].peer, &f->pa));
			/* A changed payload: the UDP checksum must follow. */
			for (uint32_t j = 0; j < f->pk[k].len; j++)
				p[j] ^= 0x5a;
		}
		f->sent = 0;
		while (f->sent < f->i) {
			XT_AWAIT(f, keel_udp_send_lent(cx, &f->s, f->pk + f->sent,
						       f->i - f->sent));
			cr_assert_gt(f->r, 0, "send_lent: %s", keel_strerror(f->r));
			f->sent += (unsigned)f->r;
		}
		cr_assert_null(f->pk[0].data, "a sent packet is the driver's");
		f->got += f->i;
	}
	for (f->i = 0; f->i < 16; f->i++) {
		XT_KRECV(f, f->pfd, f->rx, sizeof(f->rx));
		cr_assert_eq(f->r, (intptr_t)batch_size(f->i),
			     "reply %u reached the peer (got %ld)", f->i, (long)f->r);
		xt_pattern(f->want, batch_size(f->i), f->i);
		for (size_t j = 0; j < batch_size(f->i); j++)
			f->want[j] ^= 0x5a;
		cr_assert_arr_eq(f->rx, f->want, batch_size(f->i));
	}

	/* A lent frame sent elsewhere (fresh headers, same frame), one
	 * grown to the full size, and one given back unsent. */
	xt_ksend(f->pfd, "abc", 3, &f->ka);
	xt_ksend(f->pfd, "def", 3, &f->ka);
	f->got = 0;
	while (f->got < 2) {
		XT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, f->pk + f->got,
					       2 - f->got));
		cr_assert_gt(f->r, 0);
		f->got += (unsigned)f->r;
	}
	f->pk[0].peer = f->pa2;
	xt_pattern(f->pk[0].data, BIG, 99);
	f->pk[0].len = BIG;
	XT_AWAIT(f, keel_udp_send_lent(cx, &f->s, f->pk, 1));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(keel_udp_release(&f->s, &f->pk[1], 1), 0);
	cr_assert_null(f->pk[1].data, "a released packet is the driver's");
	XT_AWAIT(f, keel_udp_send_lent(cx, &f->s, &f->pk[1], 1));
	cr_assert_eq(f->r, -EINVAL, "a packet given back cannot be sent");
	XT_KRECV(f, f->pfd2, f->rx, sizeof(f->rx));
	cr_assert_eq(f->r, BIG, "the redirected frame arrived (got %ld)",
		     (long)f->r);
	xt_pattern(f->want, BIG, 99);
	cr_assert_arr_eq(f->rx, f->want, BIG);

	/* Every frame back where it belongs once the TX ring is drained. */
	XT_UNTIL(f, xt_stats(cx).frames_tx == 0);
	f->st = xt_stats(cx);
	cr_assert_eq(f->st.frames_app, 0, "no frame left with the application");
	cr_assert_eq(f->st.frames_free + f->st.frames_kernel, f->st.frames);
	close(f->pfd);
	close(f->pfd2);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* Lent packets not given back are reclaimed when the socket closes. */
XT_TEST(udp, close_reclaims_lent_frames, struct zc_frame, "")
{
	KEEL_BEGIN(f);
	f->ka = xt_ours(XT_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);
	for (f->i = 0; f->i < 8; f->i++)
		xt_ksend(f->pfd, "x", 1, &f->ka);
	while (f->got < 8) {
		XT_AWAIT(f, keel_udp_recv_lend(cx, &f->s, f->pk + f->got,
					       8 - f->got));
		cr_assert_gt(f->r, 0);
		f->got += (unsigned)f->r;
	}
	/* ... and 4 more left queued, unread */
	for (f->i = 0; f->i < 4; f->i++)
		xt_ksend(f->pfd, "y", 1, &f->ka);
	XT_UNTIL(f, xt_stats(cx).base.rx_packets == 12);
	cr_assert_eq(f->r, 0);
	cr_assert_eq(xt_stats(cx).frames_app, 12);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	f->st = xt_stats(cx);
	cr_assert_eq(f->st.frames_app, 0);
	cr_assert_eq(keel_udp_close(&f->s), -EBADF, "double close is an error");
	close(f->pfd);
	KEEL_END(f);
}

/* ------------------------------------------------------- truncation */

XT_TEST(udp, truncation_is_reported, struct io_frame, "")
{
	KEEL_BEGIN(f);
	io_setup(f, cx);
	xt_pattern(f->want, 100, 3);
	xt_ksend(f->pfd, f->want, 100, &f->ka);
	XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, 10, NULL));
	cr_assert_eq(f->r, -EMSGSIZE);
	cr_assert_arr_eq(f->buf, f->want, 10, "the first bytes are kept");
	xt_ksend(f->pfd, f->want, 100, &f->ka);
	f->v = (struct keel_dgram){ .buf = f->buf, .cap = 20 };
	XT_AWAIT(f, keel_udp_recv_batch(cx, &f->s, &f->v, 1));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->v.len, 20);
	cr_assert_eq(f->v.flags, KEEL_DGRAM_TRUNC);
	cr_assert_eq(xt_stats(cx).base.rx_truncated, 2);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* ------------------------------------------------- bounded receive queue */

XT_TEST(udp, full_socket_queue_drops_and_counts, struct io_frame, ",rxq=8")
{
	KEEL_BEGIN(f);
	io_setup(f, cx);
	for (f->i = 0; f->i < 32; f->i++)
		xt_ksend(f->pfd, &f->i, sizeof(f->i), &f->ka);
	/* Nobody reads: 8 wait in the queue, the rest are dropped. */
	XT_UNTIL(f, xt_stats(cx).base.rx_packets + xt_stats(cx).sock_queue_full == 32);
	cr_assert_eq(f->r, 0, "all 32 reached the driver");
	f->st = xt_stats(cx);
	cr_assert_eq(f->st.base.rx_packets, 8);
	cr_assert_eq(f->st.sock_queue_full, 24);
	cr_assert_geq(f->st.base.rx_dropped, 24);
	for (f->got = 0; f->got < 8; f->got++) {
		XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
		cr_assert_eq(f->r, sizeof(unsigned));
		memcpy(&f->i, f->buf, sizeof(f->i));
		cr_assert_eq(f->i, f->got, "the first 8, in order");
	}
	/* and it receives again */
	xt_ksend(f->pfd, "again", 5, &f->ka);
	XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 5);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* ------------------------------------------------------------ overload */

/* Nobody reads and the datagrams keep coming: the socket holds what the
 * UMEM lets it (the fill ring never gets the last 256 frames), the kernel
 * drops the rest for want of a frame, every drop is counted, memory does
 * not grow, and the service recovers once it reads. */
#define FLOOD 1500

XT_TEST(udp, overload_sheds_load, struct io_frame, ",frames=1024,rxq=4096")
{
	KEEL_BEGIN(f);
	io_setup(f, cx);
	for (f->i = 0; f->i < FLOOD; f->i++) {
		xt_ksend(f->pfd, "flood", 5, &f->ka);
		if (f->i % 50 == 49)
			XT_SLEEP(f, KEEL_MS);
	}
	XT_UNTIL(f, xt_stats(cx).base.rx_packets + xt_stats(cx).k_rx_dropped +
			    xt_stats(cx).k_rx_ring_full == FLOOD);
	f->st = xt_stats(cx);
	cr_assert_eq(f->r, 0, "all accounted for: %lu delivered, %lu dropped "
		     "by the kernel, %lu RX ring full",
		     (unsigned long)f->st.base.rx_packets,
		     (unsigned long)f->st.k_rx_dropped,
		     (unsigned long)f->st.k_rx_ring_full);
	cr_assert_leq(f->st.base.rx_packets, 1024 - 256,
		      "the TX reserve was never given to the fill ring");
	cr_assert_gt(f->st.k_rx_dropped, 0);
	cr_assert_eq(f->st.k_fill_empty, f->st.k_rx_dropped,
		     "dropped for want of a frame");
	cr_assert_geq(f->st.base.rx_dropped, f->st.k_rx_dropped);
	/* read it all back, then it receives again */
	for (f->got = 0; f->got < f->st.base.rx_packets; f->got++)
		XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf),
					       NULL));
	cr_assert_eq(xt_stats(cx).frames_app, 0);
	/* the frames go back to the fill ring at the driver's next poll */
	XT_UNTIL(f, xt_stats(cx).frames_kernel == 1024 - 256);
	xt_ksend(f->pfd, "after", 5, &f->ka);
	XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 5);
	cr_assert_arr_eq(f->buf, "after", 5);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* ------------------------------------------------------ API edges */

struct api_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	struct keel_udp a, b, c;
	struct keel_addr addr, v6, self, dst;
	int kfd;
	char buf[2048];
};

XT_TEST(udp, api_edges, struct api_frame, "")
{
	KEEL_BEGIN(f);
	/* port 0: a port the kernel chose, held in the kernel */
	f->addr = xt_addr("0.0.0.0", 0);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->addr, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->addr), 0);
	cr_assert_eq(f->addr.sa.sa_family, AF_INET);
	cr_assert_eq(f->addr.in4.sin_addr.s_addr, 0);
	cr_assert_neq(keel_addr_port(&f->addr), 0);
	f->addr = xt_ours(keel_addr_port(&f->addr));
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->addr, NULL), -EADDRINUSE);

	/* a port a kernel socket of our namespace holds */
	f->kfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	f->addr = xt_ours(XT_PORT + 5);
	cr_assert_eq(bind(f->kfd, &f->addr.sa, sizeof(f->addr.in4)), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->addr, NULL), -EADDRINUSE);
	close(f->kfd);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->addr, NULL), 0,
		     "free once the kernel socket is gone");

	f->v6 = xt_addr("::1", 9);
	f->self = xt_addr("10.9.9.9", 0);
	cr_assert_eq(keel_udp_bind(cx, &f->c, &f->v6, NULL), -EAFNOSUPPORT);
	cr_assert_eq(keel_udp_bind(cx, &f->c, &f->self, NULL), -EADDRNOTAVAIL);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &f->self, NULL), -EBUSY);

	/* kernel-only options */
	cr_assert_eq(keel_udp_set_ttl(&f->a, 5), -ENOTSUP);
	cr_assert_eq(keel_udp_join(&f->a, &f->self, 0), -ENOTSUP);

	/* broadcast needs the option, as the kernel's sendto does */
	f->dst = xt_addr("255.255.255.255", 9);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->a, "x", 1, &f->dst));
	cr_assert_eq(f->r, -EACCES, "limited broadcast without the option");
	f->dst.in4.sin_addr.s_addr = xt_pair.addr_be | htonl(0xff);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->a, "x", 1, &f->dst));
	cr_assert_eq(f->r, -EACCES, "directed broadcast without the option");
	cr_assert_eq(keel_udp_set_broadcast(&f->a, 1), 0);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->a, "x", 1, &f->dst));
	cr_assert_eq(f->r, 1, "directed broadcast with the option");
	cr_assert_eq(keel_udp_set_broadcast(&f->a, 0), 0);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->a, "x", 1, &f->dst));
	cr_assert_eq(f->r, -EACCES, "option cleared");

	/* bad sends */
	XT_AWAIT(f, keel_udp_send_to(cx, &f->a, "x", 1, &f->v6));
	cr_assert_eq(f->r, -EAFNOSUPPORT);
	f->dst = xt_peer(9);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->a, f->buf, 1473, &f->dst));
	cr_assert_eq(f->r, -EMSGSIZE);
	f->self = xt_ours(9);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->a, "x", 1, &f->self));
	cr_assert_eq(f->r, -EHOSTUNREACH, "no sending to ourselves");
	cr_assert_eq(keel_udp_close(&f->a), 0);
	cr_assert_eq(keel_udp_close(&f->b), 0);
	/* the port is the kernel's again */
	f->kfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(f->kfd, &f->addr.sa, sizeof(f->addr.in4)), 0);
	close(f->kfd);
	KEEL_END(f);
}

/* ------------------------------------------------- one socket, one worker */

struct xdev_frame {
	struct keel_co co;
	intptr_t r;
	struct keel_udp *s;
	char buf[16];
};

static intptr_t bind_only(void *frame, struct keel_cx *cx)
{
	struct xdev_frame *f = frame;
	struct keel_addr a = xt_ours(XT_PORT);

	return keel_udp_bind(cx, f->s, &a, NULL);
}

static intptr_t use_elsewhere(void *frame, struct keel_cx *cx)
{
	struct xdev_frame *f = frame;
	struct keel_addr to = xt_peer(XT_PEER_PORT);
	struct keel_pkt pk = { 0 };

	cr_assert_eq(keel_udp_recv_from(cx, f->s, f->buf, sizeof(f->buf), NULL),
		     -EXDEV);
	cr_assert_eq(keel_udp_send_to(cx, f->s, "x", 1, &to), -EXDEV);
	cr_assert_eq(keel_udp_recv_lend(cx, f->s, &pk, 1), -EXDEV);
	return 0;
}

/* A socket used from another worker than its own gets -EXDEV: two
 * runtimes on two queues of one interface stand in for two workers. */
Test(udp, other_worker_gets_exdev, .timeout = 60, .fini = xt_fini)
{
	struct keel_netns_opts o = { .queues = 2 * xt_workers() };
	struct keel_runtime *rt0, *rt1;
	struct keel_udp s = { 0 };
	struct xdev_frame f = { .s = &s };
	char second[32];

	xt_up(&o);
	snprintf(second, sizeof(second), ",queue=%u", xt_workers());
	cr_assert_eq(xt_runtime(",queue=0", &rt0), 0);
	cr_assert_eq(xt_runtime(second, &rt1), 0);
	cr_assert_eq(keel_runtime_block_on(rt0, bind_only, NULL, &f, sizeof(f)), 0);
	cr_assert_eq(keel_runtime_block_on(rt1, use_elsewhere, NULL, &f, sizeof(f)), 0);
	cr_assert_eq(keel_udp_close(&s), 0);
	keel_runtime_destroy(rt1);
	keel_runtime_destroy(rt0);
}
