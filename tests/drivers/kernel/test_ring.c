/* SPDX-License-Identifier: MIT */
/* drivers/kernel/udp.c: the batching under recv_from and send_to. One
 * recvmmsg fills a per-socket ring that recv_from drains (and recv_batch
 * and recv_lend, in order); send_to queues while the socket is in a burst
 * and the queue goes out in one sendmmsg at the end of the tick, before
 * any other send call, or at close.
 *
 * A socket is "in a burst" once a recv_from has left datagrams in its
 * ring: each test below first puts several datagrams in the socket's
 * kernel queue from a plain socket (feed), then takes one with recv_from.
 * Whether the others moved to the ring, or a send is still queued, is
 * seen on the kernel's queues themselves (MSG_PEEK on the fds). */
#include "ktest.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>

/* ------------------------------------------------------------------ helpers */

/* A plain non-blocking UDP socket on 127.0.0.1, for feeding datagrams. */
static int feed_open(void)
{
	struct keel_addr a = kt_addr("127.0.0.1", 0);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, &a.sa, keel_addr_len(&a)), 0);
	return fd;
}

static void feed(int fd, const struct keel_addr *to, const void *buf,
		 size_t len)
{
	cr_assert_eq(sendto(fd, buf, len, 0, &to->sa, keel_addr_len(to)),
		     (ssize_t)len, "feed: %s", strerror(errno));
}

/* Datagram i of a numbered run: "#<i>" then bytes that depend on i. */
static size_t numbered(char *buf, size_t len, unsigned i)
{
	int n = snprintf(buf, len, "#%u:", i);

	for (size_t k = (size_t)n; k < len; k++)
		buf[k] = (char)('a' + (i + k) % 26);
	return len;
}

static void assert_numbered(const char *buf, size_t len, unsigned i)
{
	char want[64];

	cr_assert_leq(len, sizeof(want));
	numbered(want, len, i);
	cr_assert_arr_eq(buf, want, len, "datagram %u out of order or mixed up",
			 i);
}

/* Whether the kernel holds no datagram for keel socket \p s. */
static bool kernel_queue_empty(const struct keel_udp *s)
{
	char c;
	int fd = keel_kernel_udp_fd(s);

	cr_assert_geq(fd, 0);
	return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* A pattern that shows a misplaced or missing byte in a long datagram. */
static void pattern(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (unsigned char)((k * 7 + seed + k / 251) & 0xff);
}

/* ------------------------------------------------------- long datagrams */

#define BIG1 9000u
#define BIG2 30000u

struct long_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	int fd;
	struct keel_udp b;
	struct keel_addr ba, peer, fa;
	struct keel_driver_stats before;
	unsigned char want[BIG2], buf[65536];
};

/* Datagrams longer than a ring slot (2 KiB) come out whole. */
KEEL_TEST(ring, long_datagrams_come_out_whole, struct long_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);
	socklen_t alen = sizeof(f->fa);

	KEEL_BEGIN(f);
	f->fd = feed_open();
	cr_assert_eq(getsockname(f->fd, &f->fa.sa, &alen), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	feed(f->fd, &f->ba, "s", 1);
	pattern(f->want, BIG1, 1);
	feed(f->fd, &f->ba, f->want, BIG1);
	pattern(f->want, BIG2, 2);
	feed(f->fd, &f->ba, f->want, BIG2);
	feed(f->fd, &f->ba, "e", 1);
	f->before = kt_stats(cx);

	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 1);
	cr_assert(kernel_queue_empty(&f->b), "the rest went to the ring");
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf),
				       &f->peer));
	cr_assert_eq(f->r, BIG1);
	cr_assert(keel_addr_equal(&f->peer, &f->fa));
	pattern(f->want, BIG1, 1);
	cr_assert_arr_eq(f->buf, f->want, BIG1);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, BIG2);
	pattern(f->want, BIG2, 2);
	cr_assert_arr_eq(f->buf, f->want, BIG2);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->buf[0], 'e');
	cr_assert_eq(kt_stats(cx).rx_packets - f->before.rx_packets, 4);
	cr_assert_eq(kt_stats(cx).rx_bytes - f->before.rx_bytes,
		     2 + BIG1 + BIG2);
	cr_assert_eq(kt_stats(cx).rx_truncated, f->before.rx_truncated);
	keel_udp_close(&f->b);
	close(f->fd);
	KEEL_END(f);
}

/* A datagram longer than the caller's buffer is cut and reported, from
 * the ring exactly as from the kernel: -EMSGSIZE from recv_from,
 * KEEL_DGRAM_TRUNC from recv_batch, dropped by recv_lend; each counted
 * in rx_truncated, and consumed. */
struct cut_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	int fd;
	struct keel_udp b;
	struct keel_addr ba;
	struct keel_driver_stats before;
	struct keel_dgram d;
	struct keel_pkt p;
	unsigned char big[3000], small[10], dbuf[16];
};

KEEL_TEST(ring, truncation_is_reported_as_before, struct cut_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	f->fd = feed_open();
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	pattern(f->big, sizeof(f->big), 3);
	feed(f->fd, &f->ba, "x", 1);
	feed(f->fd, &f->ba, f->big, 1000);
	feed(f->fd, &f->ba, "next", 4);
	feed(f->fd, &f->ba, f->big, 100);
	feed(f->fd, &f->ba, f->big, sizeof(f->big)); /* > bufsize 2048 */
	feed(f->fd, &f->ba, "last", 4);
	f->before = kt_stats(cx);

	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->small, sizeof(f->small),
				       NULL));
	cr_assert_eq(f->r, 1);
	cr_assert(kernel_queue_empty(&f->b), "the rest went to the ring");
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->small, sizeof(f->small),
				       NULL));
	cr_assert_eq(f->r, -EMSGSIZE, "got %ld", (long)f->r);
	cr_assert_arr_eq(f->small, f->big, sizeof(f->small), "the head kept");
	cr_assert_eq(kt_stats(cx).rx_truncated - f->before.rx_truncated, 1);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->small, sizeof(f->small),
				       NULL));
	cr_assert_eq(f->r, 4, "the cut one was consumed");
	cr_assert_arr_eq(f->small, "next", 4);

	f->d = (struct keel_dgram){ .buf = f->dbuf, .cap = sizeof(f->dbuf) };
	KT_AWAIT(f, keel_udp_recv_batch(cx, &f->b, &f->d, 1));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->d.flags, KEEL_DGRAM_TRUNC);
	cr_assert_eq(f->d.len, sizeof(f->dbuf), "len is what was kept");
	cr_assert_arr_eq(f->dbuf, f->big, sizeof(f->dbuf));
	cr_assert_eq(kt_stats(cx).rx_truncated - f->before.rx_truncated, 2);

	/* Longer than a zero-copy buffer: dropped, the next one lent. */
	KT_AWAIT(f, keel_udp_recv_lend(cx, &f->b, &f->p, 1));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->p.len, 4);
	cr_assert_arr_eq(f->p.data, "last", 4);
	cr_assert_eq(kt_stats(cx).rx_truncated - f->before.rx_truncated, 3);
	cr_assert_eq(kt_stats(cx).rx_dropped - f->before.rx_dropped, 1);
	cr_assert_eq(keel_udp_release(&f->b, &f->p, 1), 0);
	keel_udp_close(&f->b);
	close(f->fd);
	KEEL_END(f);
}

/* ------------------------------------------------- many datagrams at once */

#define MANY 150u /* more than two ring fills (1 + 64 each) */
#define MSZ 24u

struct many_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	int fd;
	struct keel_udp b;
	struct keel_addr ba;
	struct keel_driver_stats before;
	unsigned i;
	char buf[64];
};

KEEL_TEST(ring, many_datagrams_in_one_wake, struct many_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);
	struct keel_udp_opts o = { .rcvbuf = 1u << 20 };

	KEEL_BEGIN(f);
	f->fd = feed_open();
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, &o), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	for (unsigned i = 0; i < MANY; i++) {
		char m[MSZ];

		feed(f->fd, &f->ba, m, numbered(m, MSZ, i));
	}
	f->before = kt_stats(cx);
	for (f->i = 0; f->i < MANY; f->i++) {
		KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf,
					       sizeof(f->buf), NULL));
		cr_assert_eq(f->r, MSZ, "datagram %u: %ld", f->i, (long)f->r);
		assert_numbered(f->buf, MSZ, f->i);
	}
	cr_assert(kernel_queue_empty(&f->b));
	cr_assert_eq(kt_stats(cx).rx_packets - f->before.rx_packets, MANY);
	cr_assert_eq(kt_stats(cx).rx_bytes - f->before.rx_bytes, MANY * MSZ);
	keel_udp_close(&f->b);
	close(f->fd);
	KEEL_END(f);
}

/* ------------------------------------------------------ interleaved calls */

#define NI 12u

struct mix_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	int fd;
	struct keel_udp b;
	struct keel_addr ba;
	unsigned next, k;
	struct keel_dgram d[8];
	struct keel_pkt p[2];
	char dbuf[8][32], buf[32];
};

static void mix_batch_init(struct mix_frame *f)
{
	for (unsigned i = 0; i < 8; i++)
		f->d[i] = (struct keel_dgram){ .buf = f->dbuf[i],
					       .cap = sizeof(f->dbuf[i]) };
}

/* recv_from, recv_batch and recv_lend on one socket take datagrams in the
 * order they came, whoever took them from the kernel. */
KEEL_TEST(ring, interleaved_calls_keep_order, struct mix_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	f->fd = feed_open();
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	for (unsigned i = 0; i < NI; i++) {
		char m[MSZ];

		feed(f->fd, &f->ba, m, numbered(m, MSZ, i));
	}
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, MSZ);
	assert_numbered(f->buf, MSZ, f->next++);
	cr_assert(kernel_queue_empty(&f->b), "the rest went to the ring");

	mix_batch_init(f);
	KT_AWAIT(f, keel_udp_recv_batch(cx, &f->b, f->d, 3));
	cr_assert_eq(f->r, 3);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(f->d[i].len, MSZ);
		cr_assert_eq(f->d[i].flags, 0);
		assert_numbered(f->dbuf[i], MSZ, f->next++);
	}
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	assert_numbered(f->buf, MSZ, f->next++);
	KT_AWAIT(f, keel_udp_recv_lend(cx, &f->b, f->p, 2));
	cr_assert_eq(f->r, 2);
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_eq(f->p[i].len, MSZ);
		assert_numbered(f->p[i].data, MSZ, f->next++);
	}
	cr_assert_eq(keel_udp_release(&f->b, f->p, 2), 0);
	/* A batch larger than what the ring holds gets the ring's rest. */
	mix_batch_init(f);
	KT_AWAIT(f, keel_udp_recv_batch(cx, &f->b, f->d, 8));
	cr_assert_eq(f->r, NI - f->next);
	for (f->k = 0; f->k < (unsigned)f->r; f->k++)
		assert_numbered(f->dbuf[f->k], MSZ, f->next++);
	cr_assert_eq(f->next, NI);

	/* The ring is empty: the next calls read the kernel again. */
	for (unsigned i = NI; i < NI + 3; i++) {
		char m[MSZ];

		feed(f->fd, &f->ba, m, numbered(m, MSZ, i));
	}
	KT_AWAIT(f, keel_udp_recv_lend(cx, &f->b, f->p, 1));
	cr_assert_eq(f->r, 1);
	assert_numbered(f->p[0].data, MSZ, f->next++);
	cr_assert_eq(keel_udp_release(&f->b, f->p, 1), 0);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	assert_numbered(f->buf, MSZ, f->next++);
	mix_batch_init(f);
	KT_AWAIT(f, keel_udp_recv_batch(cx, &f->b, f->d, 8));
	cr_assert_eq(f->r, 1);
	assert_numbered(f->dbuf[0], MSZ, f->next++);
	keel_udp_close(&f->b);
	close(f->fd);
	KEEL_END(f);
}

/* ------------------------------------------------------------ queued sends */

struct send_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	int fd;
	struct keel_udp b, d;
	struct keel_addr ba, da, bcast;
	struct keel_driver_stats before;
	struct keel_dgram v[2];
	struct keel_pkt p;
	unsigned i;
	char buf[64];
};

/* b in a burst: three datagrams fed, one taken, two left in its ring. */
static void burst_setup(struct send_frame *f, struct keel_cx *cx)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	f->fd = feed_open();
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->d, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	cr_assert_eq(keel_udp_local_addr(&f->d, &f->da), 0);
	feed(f->fd, &f->ba, "r0", 2);
	feed(f->fd, &f->ba, "r1", 2);
	feed(f->fd, &f->ba, "r2", 2);
}

/* Queued send_to, then send_batch, then send_lent on the same socket: the
 * receiver gets them in the order they were sent. */
KEEL_TEST(ring, queued_sends_keep_order, struct send_frame)
{
	KEEL_BEGIN(f);
	burst_setup(f, cx);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 2);
	f->before = kt_stats(cx);
	/* No await between these: nothing ends the tick. */
	cr_assert_eq(keel_udp_send_to(cx, &f->b, "s1", 2, &f->da), 2);
	cr_assert_eq(keel_udp_send_to(cx, &f->b, "s2", 2, &f->da), 2);
	cr_assert(kernel_queue_empty(&f->d), "send_to queued, not sent");
	cr_assert_eq(kt_stats(cx).tx_packets, f->before.tx_packets);
	f->v[0] = (struct keel_dgram){ .buf = "s3", .cap = 2, .peer = f->da };
	f->v[1] = (struct keel_dgram){ .buf = "s4", .cap = 2, .peer = f->da };
	cr_assert_eq(keel_udp_send_batch(cx, &f->b, f->v, 2), 2);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, 4,
		     "send_batch sent the queue first");
	/* Still in a burst (r1, r2 in the ring): queue again, then a lent
	 * packet, which is taken from the ring too. */
	cr_assert_eq(keel_udp_send_to(cx, &f->b, "s5", 2, &f->da), 2);
	cr_assert_eq(keel_udp_recv_lend(cx, &f->b, &f->p, 1), 1);
	cr_assert_arr_eq(f->p.data, "r1", 2);
	memcpy(f->p.data, "s6", 2);
	f->p.peer = f->da;
	cr_assert_eq(keel_udp_send_lent(cx, &f->b, &f->p, 1), 1);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, 6);
	/* And one queued that only the end of the tick sends. */
	cr_assert_eq(keel_udp_send_to(cx, &f->b, "s7", 2, &f->da), 2);
	for (f->i = 1; f->i <= 7; f->i++) {
		KT_AWAIT(f, keel_udp_recv_from(cx, &f->d, f->buf, sizeof(f->buf),
					       NULL));
		cr_assert_eq(f->r, 2);
		cr_assert_eq(f->buf[0], 's');
		cr_assert_eq(f->buf[1], (char)('0' + f->i), "got s%c as #%u",
			     f->buf[1], f->i);
	}
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, 7);
	keel_udp_close(&f->b);
	keel_udp_close(&f->d);
	close(f->fd);
	KEEL_END(f);
}

/* A full queue (65 datagrams, one ring fill) goes out when one more is
 * queued; close sends what is queued. */
#define QLEN 65u

KEEL_TEST(ring, full_queue_and_close_send, struct send_frame)
{
	KEEL_BEGIN(f);
	burst_setup(f, cx);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 2);
	f->before = kt_stats(cx);
	/* No await in between (fewer calls than the cooperative budget). */
	for (unsigned i = 0; i < QLEN; i++)
		cr_assert_eq(keel_udp_send_to(cx, &f->b, "q", 1, &f->da), 1);
	cr_assert_eq(kt_stats(cx).tx_packets, f->before.tx_packets, "queued");
	cr_assert(kernel_queue_empty(&f->d), "queued, not sent");
	cr_assert_eq(keel_udp_send_to(cx, &f->b, "q", 1, &f->da), 1);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, QLEN,
		     "the full queue went out");
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(keel_udp_send_to(cx, &f->b, "q", 1, &f->da), 1);
	cr_assert_eq(keel_udp_close(&f->b), 0);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, QLEN + 5,
		     "close sent the rest");
	/* The two datagrams left in the ring were never delivered. */
	cr_assert_eq(kt_stats(cx).rx_dropped - f->before.rx_dropped, 2);
	for (f->i = 0; f->i < QLEN + 5; f->i++) {
		KT_AWAIT(f, keel_udp_recv_from(cx, &f->d, f->buf, sizeof(f->buf),
					       NULL));
		cr_assert_eq(f->r, 1);
	}
	keel_udp_close(&f->d);
	close(f->fd);
	KEEL_END(f);
}

/* A queued datagram the kernel refuses (a broadcast address without
 * SO_BROADCAST: EACCES) is dropped and counted; the datagrams queued
 * after it still go; the socket's next send call returns the error and
 * sends nothing; the one after that works. */
KEEL_TEST(ring, queued_send_error_is_reported_by_the_next_send,
	  struct send_frame)
{
	KEEL_BEGIN(f);
	burst_setup(f, cx);
	f->bcast = kt_addr("127.255.255.255", 9);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 2);
	f->before = kt_stats(cx);
	cr_assert_eq(keel_udp_send_to(cx, &f->b, "b", 1, &f->bcast), 1,
		     "queued: ready with its length");
	cr_assert_eq(keel_udp_send_to(cx, &f->b, "ok", 2, &f->da), 2);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->d, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 2);
	cr_assert_arr_eq(f->buf, "ok", 2);
	cr_assert_eq(kt_stats(cx).tx_dropped - f->before.tx_dropped, 1);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, 1);

	KT_AWAIT(f, keel_udp_send_to(cx, &f->b, "no", 2, &f->da));
	cr_assert_eq(f->r, -EACCES, "got %ld", (long)f->r);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, 1,
		     "the failing call sent nothing");
	KT_AWAIT(f, keel_udp_send_to(cx, &f->b, "yes", 3, &f->da));
	cr_assert_eq(f->r, 3, "reported once");
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->d, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 3);
	cr_assert_arr_eq(f->buf, "yes", 3);

	/* Out of a burst (the ring drained), send_to is immediate again and
	 * so is its error. */
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert(kernel_queue_empty(&f->b));
	KT_AWAIT(f, keel_udp_send_to(cx, &f->b, "b", 1, &f->bcast));
	cr_assert_eq(f->r, -EACCES, "got %ld", (long)f->r);
	keel_udp_close(&f->b);
	keel_udp_close(&f->d);
	close(f->fd);
	KEEL_END(f);
}

/* A datagram longer than a queue slot, sent in a burst, goes after what
 * is queued, at once. */
struct order_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	int fd;
	struct keel_udp b, d;
	struct keel_addr ba, da;
	struct keel_driver_stats before;
	unsigned i;
	unsigned char big[5000], buf[8192];
};

KEEL_TEST(ring, long_send_goes_after_the_queue, struct order_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	f->fd = feed_open();
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->d, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	cr_assert_eq(keel_udp_local_addr(&f->d, &f->da), 0);
	feed(f->fd, &f->ba, "r0", 2);
	feed(f->fd, &f->ba, "r1", 2);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	pattern(f->big, sizeof(f->big), 5);
	cr_assert_eq(keel_udp_send_to(cx, &f->b, "a", 1, &f->da), 1);
	cr_assert(kernel_queue_empty(&f->d), "queued");
	f->before = kt_stats(cx);
	cr_assert_eq(keel_udp_send_to(cx, &f->b, f->big, sizeof(f->big), &f->da),
		     (ssize_t)sizeof(f->big));
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, 2,
		     "sent at once, the queue first");
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->d, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->buf[0], 'a');
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->d, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, (intptr_t)sizeof(f->big));
	cr_assert_arr_eq(f->buf, f->big, sizeof(f->big));
	keel_udp_close(&f->b);
	keel_udp_close(&f->d);
	close(f->fd);
	KEEL_END(f);
}

/* An echo of many datagrams in one wake sends them all back, in order. */
struct echo_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	int fd;
	struct keel_udp b;
	struct keel_addr ba, peer;
	unsigned i;
	char buf[64];
};

KEEL_TEST(ring, echo_of_a_burst_comes_back_in_order, struct echo_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);
	struct keel_udp_opts o = { .rcvbuf = 1u << 20 };
	int bufsz = 1 << 20;
	struct timeval tv = { .tv_sec = 5 };

	KEEL_BEGIN(f);
	f->fd = feed_open();
	setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	/* Blocking, bounded: the last echoes leave at the close below. */
	cr_assert_eq(fcntl(f->fd, F_SETFL, 0), 0);
	cr_assert_eq(setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)),
		     0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, &o), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	for (unsigned i = 0; i < MANY; i++) {
		char m[MSZ];

		feed(f->fd, &f->ba, m, numbered(m, MSZ, i));
	}
	for (f->i = 0; f->i < MANY; f->i++) {
		KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf,
					       sizeof(f->buf), &f->peer));
		cr_assert_eq(f->r, MSZ);
		KT_AWAIT(f, keel_udp_send_to(cx, &f->b, f->buf, MSZ, &f->peer));
		cr_assert_eq(f->r, MSZ);
	}
	keel_udp_close(&f->b); /* sends what is still queued */
	for (unsigned i = 0; i < MANY; i++) {
		char m[MSZ + 1];
		ssize_t n = recv(f->fd, m, sizeof(m), 0);

		cr_assert_eq(n, MSZ, "echo %u: %zd (%s)", i, n,
			     n < 0 ? strerror(errno) : "");
		assert_numbered(m, MSZ, i);
	}
	close(f->fd);
	KEEL_END(f);
}
