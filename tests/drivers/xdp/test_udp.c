/* SPDX-License-Identifier: MIT */
/* drivers/xdp/udp.c, what is the XDP driver's own: its UMEM frames through
 * zero-copy and close, its bounded socket queue and overload counters, the
 * kernel socket that holds each bound port, no sending to ourselves, one
 * socket per worker. The socket API itself (sizes, truncation, batches,
 * zero-copy, bind errors, broadcast) is the conformance suite's, the same
 * on every driver: tests/udp/test_conform.c. */
#include "xtest.h"

#include <arpa/inet.h>

#define BIG 1472 /* the largest payload of a 1500-byte MTU */
#define NB  32	 /* packets lent at once, at most */

struct io_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin, i, got;
	int pfd;
	struct keel_udp s;
	struct keel_addr ka, pa, from;
	struct keel_xdp_stats st;
	unsigned char buf[2048], want[2048];
};

static void io_setup(struct io_frame *f, struct keel_cx *cx)
{
	f->ka = xt_ours(XT_PORT);
	f->pa = xt_peer(XT_PEER_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);
}

/* -------------------------------------------------------- zero-copy */

static size_t batch_size(unsigned i)
{
	return i == 0 ? BIG : 1 + i * 45; /* 1472, then 46..1396 */
}

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
	struct keel_udp a, b;
	struct keel_addr addr, self;
	int kfd;
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

	/* (bind errors, IPv6, the kernel-only options, the largest payload
	 * and broadcast are the conformance suite's: tests/udp) */
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
