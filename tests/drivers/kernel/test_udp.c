/* SPDX-License-Identifier: MIT */
/* drivers/kernel/udp.c: datagrams on loopback (IPv4 and IPv6), batches,
 * zero-copy buffers, options, bad input, sockets shared by tasks. What
 * every driver answers alike (truncation, empty datagrams, cancelling a
 * waiter, sizes, bind errors) is the conformance suite's: tests/udp. */
#include "ktest.h"

#include <inttypes.h>
#include <keel/stats.h>
#include <netinet/in.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>

#define NB 8 /* datagrams per batch test */
#define LEND_BUFS 64 /* the driver's default, see keel/kernel.h */

/* ------------------------------------------------------------ round trips */

struct rt_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp a, b;
	struct keel_addr aa, ba, peer;
	char buf[64];
};

/* a sends to b, b answers to whoever sent, a checks: on \p host. */
static intptr_t roundtrip(struct rt_frame *f, struct keel_cx *cx,
			  const char *host)
{
	struct keel_addr any;

	KEEL_BEGIN(f);
	if (strchr(host, ':'))
		kt_need_v6();
	any = kt_addr(host, 0);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->aa), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	cr_assert_neq(keel_addr_port(&f->ba), 0, "port 0 became a real port");
	cr_assert_eq(f->ba.sa.sa_family, any.sa.sa_family);

	KT_AWAIT(f, keel_udp_send_to(cx, &f->a, "hello", 5, &f->ba));
	cr_assert_eq(f->r, 5);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf),
				       &f->peer));
	cr_assert_eq(f->r, 5);
	cr_assert_arr_eq(f->buf, "hello", 5);
	cr_assert(keel_addr_equal(&f->peer, &f->aa), "peer is the sender");

	KT_AWAIT(f, keel_udp_send_to(cx, &f->b, "world!", 6, &f->peer));
	cr_assert_eq(f->r, 6);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->a, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 6);
	cr_assert_arr_eq(f->buf, "world!", 6);

	cr_assert_eq(keel_udp_close(&f->a), 0);
	cr_assert_eq(keel_udp_close(&f->b), 0);
	KEEL_END(f);
}

KEEL_TEST(udp, roundtrip_v4, struct rt_frame)
{
	return roundtrip(f, cx, "127.0.0.1");
}

KEEL_TEST(udp, roundtrip_v6, struct rt_frame)
{
	return roundtrip(f, cx, "::1");
}

/* The receiver waits first (pending, then woken by epoll), the sender is
 * another task. */
struct send_later {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp *s;
	struct keel_addr to;
};

static intptr_t send_later_poll(void *frame, struct keel_cx *cx)
{
	struct send_later *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, 10 * KEEL_MS));
	KT_AWAIT(f, keel_udp_send_to(cx, f->s, "late", 4, &f->to));
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

struct wait_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp a, b;
	struct keel_addr ba;
	struct keel_join *join;
	struct keel_driver_stats before;
	char buf[16];
};

KEEL_TEST(udp, recv_waits_then_wakes, struct wait_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	f->before = kt_stats(cx);
	cr_assert_eq(KEEL_SPAWN(cx, send_later_poll, NULL, &f->join,
				struct send_later, .s = &f->a, .to = f->ba),
		     0);
	KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 4);
	cr_assert_arr_eq(f->buf, "late", 4);
	cr_assert_gt(kt_stats(cx).events, f->before.events,
		     "the wake came from an epoll event");
	KT_AWAIT(f, keel_join_poll(cx, f->join));
	cr_assert_eq(f->r, 4);
	keel_udp_close(&f->a);
	keel_udp_close(&f->b);
	KEEL_END(f);
}

/* ----------------------------------------------------------------- batches */

struct batch_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp a, b;
	struct keel_addr aa, ba;
	struct keel_dgram out[NB], in[NB];
	char odata[NB][32], idata[NB][32];
	unsigned sent, got, rounds;
	struct keel_driver_stats before;
};

static intptr_t batch(struct batch_frame *f, struct keel_cx *cx,
		      const char *host)
{
	struct keel_addr any;

	KEEL_BEGIN(f);
	if (strchr(host, ':'))
		kt_need_v6();
	any = kt_addr(host, 0);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->aa), 0);
	cr_assert_eq(keel_udp_local_addr(&f->b, &f->ba), 0);
	f->before = kt_stats(cx);
	for (unsigned i = 0; i < NB; i++) {
		/* Lengths 1..NB*3 so that a mix-up shows. */
		memset(f->odata[i], 'a' + (int)i, sizeof(f->odata[i]));
		f->out[i] = (struct keel_dgram){ .buf = f->odata[i],
						 .cap = 3 * i + 1,
						 .peer = f->ba };
		f->in[i] = (struct keel_dgram){ .buf = f->idata[i],
						.cap = sizeof(f->idata[i]) };
	}
	for (f->rounds = 0; f->sent < NB && f->rounds < NB; f->rounds++) {
		KT_AWAIT(f, keel_udp_send_batch(cx, &f->a, f->out + f->sent,
						NB - f->sent));
		cr_assert_gt(f->r, 0, "send_batch: %s", keel_strerror(f->r));
		f->sent += (unsigned)f->r;
	}
	cr_assert_eq(f->sent, NB);
	for (f->rounds = 0; f->got < NB && f->rounds < NB; f->rounds++) {
		KT_AWAIT(f, keel_udp_recv_batch(cx, &f->b, f->in + f->got,
						NB - f->got));
		cr_assert_gt(f->r, 0, "recv_batch: %s", keel_strerror(f->r));
		f->got += (unsigned)f->r;
	}
	cr_assert_eq(f->got, NB);
	for (unsigned i = 0; i < NB; i++) {
		cr_assert_eq(f->in[i].len, 3 * i + 1);
		cr_assert_eq(f->in[i].flags, 0);
		cr_assert_arr_eq(f->idata[i], f->odata[i], f->in[i].len);
		cr_assert(keel_addr_equal(&f->in[i].peer, &f->aa));
	}
	cr_assert_eq(kt_stats(cx).rx_packets - f->before.rx_packets, NB);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets, NB);
	cr_assert_eq(kt_stats(cx).tx_bytes - f->before.tx_bytes,
		     kt_stats(cx).rx_bytes - f->before.rx_bytes);
	keel_udp_close(&f->a);
	keel_udp_close(&f->b);
	KEEL_END(f);
}

KEEL_TEST(udp, batch_v4, struct batch_frame)
{
	return batch(f, cx, "127.0.0.1");
}

KEEL_TEST(udp, batch_v6, struct batch_frame)
{
	return batch(f, cx, "::1");
}

/* --------------------------------------------------------------- zero-copy */

#define NL 4

struct lend_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp srv, cli;
	struct keel_addr sa, ca, peer;
	struct keel_pkt pkts[NL];
	struct keel_pkt extra[LEND_BUFS];
	unsigned got, rounds, i;
	char buf[64];
	struct keel_driver_stats before;
};

KEEL_TEST(udp, lend_reply_in_place, struct lend_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);
	char msg[16];

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->srv, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->cli, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->srv, &f->sa), 0);
	cr_assert_eq(keel_udp_local_addr(&f->cli, &f->ca), 0);
	for (f->i = 0; f->i < NL; f->i++) {
		snprintf(msg, sizeof(msg), "ping %u", f->i);
		KT_AWAIT(f, keel_udp_send_to(cx, &f->cli, msg, strlen(msg),
					     &f->sa));
		cr_assert_eq(f->r, 6);
	}
	for (f->rounds = 0; f->got < NL && f->rounds < NL; f->rounds++) {
		KT_AWAIT(f, keel_udp_recv_lend(cx, &f->srv, f->pkts + f->got,
					       NL - f->got));
		cr_assert_gt(f->r, 0, "recv_lend: %s", keel_strerror(f->r));
		f->got += (unsigned)f->r;
	}
	cr_assert_eq(f->got, NL);
	for (unsigned i = 0; i < NL; i++) {
		struct keel_pkt *p = &f->pkts[i];

		snprintf(msg, sizeof(msg), "ping %u", i);
		cr_assert_eq(p->len, 6);
		cr_assert_arr_eq(p->data, msg, 6);
		cr_assert_geq(p->cap, 2048);
		cr_assert(keel_addr_equal(&p->peer, &f->ca));
		/* Reply in place, longer than the request. */
		memcpy(p->data, "pong", 4);
		memcpy((char *)p->data + 6, "!!", 2);
		p->len = 8;
	}
	KT_AWAIT(f, keel_udp_send_lent(cx, &f->srv, f->pkts, NL));
	cr_assert_eq(f->r, NL);
	for (unsigned i = 0; i < NL; i++)
		cr_assert_null(f->pkts[i].data, "sent packets went back");
	for (f->i = 0; f->i < NL; f->i++) {
		KT_AWAIT(f, keel_udp_recv_from(cx, &f->cli, f->buf,
					       sizeof(f->buf), &f->peer));
		cr_assert_eq(f->r, 8);
		snprintf(msg, sizeof(msg), "pong %u!!", f->i);
		cr_assert_arr_eq(f->buf, msg, 8);
		cr_assert(keel_addr_equal(&f->peer, &f->sa));
	}
	keel_udp_close(&f->srv);
	keel_udp_close(&f->cli);
	KEEL_END(f);
}

KEEL_TEST(udp, lend_release_and_forgery, struct lend_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->srv, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->cli, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->srv, &f->sa), 0);
	KT_AWAIT(f, keel_udp_send_to(cx, &f->cli, "one", 3, &f->sa));
	KT_AWAIT(f, keel_udp_recv_lend(cx, &f->srv, f->pkts, 1));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->pkts[0].len, 3);

	/* A packet the socket did not lend, or one moved out of its buffer,
	 * is refused before anything is sent (len past cap: by core, on
	 * every driver). */
	f->pkts[1] = f->pkts[0];
	f->pkts[1].priv[0] = 9999;
	cr_assert_eq(keel_udp_send_lent(cx, &f->srv, f->pkts + 1, 1), -EINVAL);
	f->pkts[1] = f->pkts[0];
	f->pkts[1].data = f->buf;
	cr_assert_eq(keel_udp_send_lent(cx, &f->srv, f->pkts + 1, 1), -EINVAL);
	f->pkts[1] = f->pkts[0];
	f->pkts[1].len = f->pkts[1].cap + 1;
	cr_assert_eq(keel_udp_send_lent(cx, &f->srv, f->pkts + 1, 1), -EINVAL);

	f->pkts[1] = f->pkts[0];
	cr_assert_eq(keel_udp_release(&f->srv, f->pkts, 1), 0);
	cr_assert_null(f->pkts[0].data);
	/* A stale copy of a packet given back is not taken twice. */
	cr_assert_eq(keel_udp_send_lent(cx, &f->srv, f->pkts + 1, 1), -EINVAL);
	cr_assert_eq(keel_udp_release(&f->srv, f->pkts + 1, 1), 0);
	cr_assert_eq(keel_udp_release(&f->srv, NULL, 0), 0);
	keel_udp_close(&f->srv);
	keel_udp_close(&f->cli);
	KEEL_END(f);
}

/* All buffers lent and none given back: -ENOBUFS, not a hang or a crash. */
KEEL_TEST(udp, lend_exhaustion_is_enobufs, struct lend_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->srv, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->cli, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->srv, &f->sa), 0);
	for (f->i = 0; f->i < LEND_BUFS + 1; f->i++) {
		KT_AWAIT(f, keel_udp_send_to(cx, &f->cli, "x", 1, &f->sa));
		cr_assert_eq(f->r, 1);
	}
	for (f->rounds = 0; f->got < LEND_BUFS &&
			    f->rounds < LEND_BUFS; f->rounds++) {
		KT_AWAIT(f, keel_udp_recv_lend(cx, &f->srv, f->extra + f->got,
					       LEND_BUFS - f->got));
		cr_assert_gt(f->r, 0);
		f->got += (unsigned)f->r;
	}
	cr_assert_eq(f->got, LEND_BUFS);
	cr_assert_eq(keel_udp_recv_lend(cx, &f->srv, f->pkts, 1), -ENOBUFS);
	cr_assert_eq(keel_udp_release(&f->srv, f->extra, 1), 0);
	KT_AWAIT(f, keel_udp_recv_lend(cx, &f->srv, f->pkts, 1));
	cr_assert_eq(f->r, 1, "a buffer given back is lent again");
	cr_assert_eq(keel_udp_release(&f->srv, f->pkts, 1), 0);
	cr_assert_eq(keel_udp_release(&f->srv, f->extra + 1,
				      LEND_BUFS - 1), 0);
	keel_udp_close(&f->srv);
	keel_udp_close(&f->cli);
	KEEL_END(f);
}

/* A datagram longer than a lent buffer is dropped and counted, and the
 * next one still arrives. */
KEEL_TEST(udp, lend_drops_oversized, struct lend_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);
	static char big[4000];

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->srv, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->cli, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->srv, &f->sa), 0);
	f->before = kt_stats(cx);
	KT_AWAIT(f, keel_udp_send_to(cx, &f->cli, big, sizeof(big), &f->sa));
	cr_assert_eq(f->r, (intptr_t)sizeof(big));
	KT_AWAIT(f, keel_udp_send_to(cx, &f->cli, "ok", 2, &f->sa));
	KT_AWAIT(f, keel_udp_recv_lend(cx, &f->srv, f->pkts, NL));
	cr_assert_eq(f->r, 1);
	cr_assert_eq(f->pkts[0].len, 2);
	cr_assert_eq(kt_stats(cx).rx_truncated - f->before.rx_truncated, 1);
	cr_assert_eq(kt_stats(cx).rx_dropped - f->before.rx_dropped, 1);
	keel_udp_release(&f->srv, f->pkts, 1);
	keel_udp_close(&f->srv);
	keel_udp_close(&f->cli);
	KEEL_END(f);
}

/* --------------------------------------------------- socket-buffer drops */

#define DROP_BURST 64	/* datagrams sent at a receive buffer of a few */
#define DROP_SIZE  1000 /* bytes each */
#define DROP_QUIET (50 * KEEL_MS) /* no datagram for that long: send one */
#define DROP_MARKS 200	/* at most so many of those */

struct xstat_sum {
	const char *name;
	uint64_t v;
	unsigned seen;
};

static void xstat_add(void *arg, const struct keel_stat *s)
{
	struct xstat_sum *x = arg;

	if (s->scope == KEEL_STAT_XSTAT && !strcmp(s->driver, "kernel") &&
	    !strcmp(s->name, x->name)) {
		cr_assert(s->flags & KEEL_STAT_DROP, "%s is a drop", s->name);
		x->v += s->value;
		x->seen++;
	}
}

/* The kernel driver's rx_sockbuf_dropped, over every worker, as
 * keel_stats_read (--stats, --metrics) reports it. */
static uint64_t sockbuf_dropped(struct keel_cx *cx)
{
	struct xstat_sum x = { .name = "rx_sockbuf_dropped" };

	cr_assert_eq(keel_stats_read(keel_cx_runtime(cx), xstat_add, &x), 0);
	cr_assert_gt(x.seen, 0, "rx_sockbuf_dropped is reported");
	return x.v;
}

struct drop_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	unsigned mode, i, marks;
	int peer;
	uint64_t sent, got, drops0, drops, rx_dropped0;
	struct keel_udp s;
	struct keel_addr sa;
	struct keel_dgram v[8];
	struct keel_pkt pk[8];
	char buf[8][DROP_SIZE];
};

/* One receive by the way \p f->mode names: how many datagrams. */
static intptr_t drop_recv(struct drop_frame *f, struct keel_cx *cx)
{
	intptr_t r;

	switch (f->mode) {
	case 0:
		r = keel_udp_recv_from(cx, &f->s, f->buf[0], DROP_SIZE, NULL);
		return r >= 0 ? 1 : r;
	case 1:
		for (unsigned i = 0; i < 8; i++)
			f->v[i] = (struct keel_dgram){ .buf = f->buf[i],
						       .cap = DROP_SIZE };
		return keel_udp_recv_batch(cx, &f->s, f->v, 8);
	default:
		r = keel_udp_recv_lend(cx, &f->s, f->pk, 8);
		if (r > 0)
			cr_assert_eq(keel_udp_release(&f->s, f->pk, (unsigned)r), 0);
		return r;
	}
}

/*
 * Datagrams the kernel drops because a socket's receive buffer is full
 * are counted (SO_RXQ_OVFL: rx_sockbuf_dropped, and in rx_dropped), by
 * each of the three receives. A peer fills a receive buffer at its
 * minimum (room for a few) with a burst while nobody receives; then the
 * socket is drained. A drop shows with the next datagram queued after it,
 * so whenever the socket has been quiet for DROP_QUIET the peer sends one
 * more, until every datagram sent is either received or counted:
 *
 *     sent = received + rx_sockbuf_dropped
 *
 * exactly, as the test makes all the traffic of the socket. On loopback
 * a datagram could also be lost before the socket (the CPU's backlog,
 * 1000 deep, where a burst of 64 cannot fill it): that would show as a
 * failure here, not as a count.
 */
KEEL_TEST(udp, sockbuf_drops_are_counted, struct drop_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);
	static const char payload[DROP_SIZE];

	KEEL_BEGIN(f);
	f->peer = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->peer, 0);
	cr_assert_eq(bind(f->peer, &any.sa, sizeof(any.in4)), 0);
	for (f->mode = 0; f->mode < 3; f->mode++) {
		cr_assert_eq(keel_udp_bind(cx, &f->s, &any,
					   &(struct keel_udp_opts){ .rcvbuf = 1 }), 0);
		cr_assert_eq(keel_udp_local_addr(&f->s, &f->sa), 0);
		f->drops0 = sockbuf_dropped(cx);
		f->rx_dropped0 = kt_stats(cx).rx_dropped;
		f->sent = f->got = f->marks = 0;
		for (f->i = 0; f->i < DROP_BURST; f->i++)
			if (sendto(f->peer, payload, DROP_SIZE, 0, &f->sa.sa,
				   sizeof(f->sa.in4)) == DROP_SIZE)
				f->sent++;
		cr_assert_gt(f->sent, 0, "the peer sent: %s", strerror(errno));
		for (;;) {
			f->drops = sockbuf_dropped(cx) - f->drops0;
			cr_assert_leq(f->got + f->drops, f->sent,
				      "mode %u: more received or dropped than sent",
				      f->mode);
			if (f->got + f->drops == f->sent)
				break;
			KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, DROP_QUIET,
							 drop_recv(f, cx)));
			if (f->r > 0) {
				f->got += (uint64_t)f->r;
				continue;
			}
			cr_assert_eq(f->r, -ETIMEDOUT, "mode %u: %s", f->mode,
				     keel_strerror((int)f->r));
			/* quiet: one more datagram, to show the drops before it */
			f->marks++;
			cr_assert_leq(f->marks, DROP_MARKS,
				     "mode %u: sent %" PRIu64 ", received %" PRIu64
				     ", counted %" PRIu64, f->mode, f->sent,
				     f->got, f->drops);
			cr_assert_eq(sendto(f->peer, payload, DROP_SIZE, 0, &f->sa.sa,
					    sizeof(f->sa.in4)), DROP_SIZE);
			f->sent++;
		}
		cr_assert_gt(f->drops, 0, "mode %u: a buffer of a few, %" PRIu64
			     " sent at once: some were dropped", f->mode, f->sent);
		cr_assert_gt(f->got, 0, "mode %u: some were received", f->mode);
		cr_assert_eq(kt_stats(cx).rx_dropped - f->rx_dropped0, f->drops,
			     "mode %u: in rx_dropped too", f->mode);
		fprintf(stderr, "mode %u: sent %" PRIu64 " = received %" PRIu64
			" + dropped %" PRIu64 " (%u more sent to show them)\n",
			f->mode, f->sent, f->got, f->drops, f->marks);
		cr_assert_eq(keel_udp_close(&f->s), 0);
	}
	close(f->peer);
	KEEL_END(f);
}

/* ---------------------------------------------------------------- options */

struct opt_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp a, b, c;
	struct keel_addr aa, to;
};

static int getopt_int(const struct keel_udp *s, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	int fd = keel_kernel_udp_fd(s);

	cr_assert_geq(fd, 0);
	cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

KEEL_TEST(udp, ttl_v4_v6, struct opt_frame)
{
	struct keel_addr a4 = kt_addr("127.0.0.1", 0), a6 = kt_addr("::1", 0);

	KEEL_BEGIN(f);
	kt_need_v6();
	cr_assert_eq(keel_udp_bind(cx, &f->a, &a4, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &a6, NULL), 0);
	cr_assert_eq(keel_udp_set_ttl(&f->a, 7), 0);
	cr_assert_eq(getopt_int(&f->a, IPPROTO_IP, IP_TTL), 7);
	cr_assert_eq(keel_udp_set_ttl(&f->b, 9), 0);
	cr_assert_eq(getopt_int(&f->b, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 9);
	cr_assert_eq(keel_udp_set_ttl(&f->a, 0), -EINVAL);
	cr_assert_eq(keel_udp_set_ttl(&f->a, 256), -EINVAL);
	cr_assert_eq(keel_udp_set_multicast_ttl(&f->a, 3), 0);
	cr_assert_eq(getopt_int(&f->a, IPPROTO_IP, IP_MULTICAST_TTL), 3);
	cr_assert_eq(keel_udp_set_multicast_ttl(&f->b, 4), 0);
	cr_assert_eq(getopt_int(&f->b, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 4);
	cr_assert_eq(keel_udp_set_multicast_loop(&f->a, 0), 0);
	cr_assert_eq(getopt_int(&f->a, IPPROTO_IP, IP_MULTICAST_LOOP), 0);
	cr_assert_eq(keel_udp_set_multicast_loop(&f->b, 1), 0);
	cr_assert_eq(getopt_int(&f->b, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 1);
	keel_udp_close(&f->a);
	keel_udp_close(&f->b);
	KEEL_END(f);
}

/* 127.255.255.255 is the broadcast address of lo's 127.0.0.0/8: refused
 * with EACCES until SO_BROADCAST is on. */
KEEL_TEST(udp, broadcast_needs_the_option, struct opt_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, NULL), 0);
	f->to = kt_addr("127.255.255.255", 9);
	KT_AWAIT(f, keel_udp_send_to(cx, &f->a, "b", 1, &f->to));
	cr_assert_eq(f->r, -EACCES, "got %ld", (long)f->r);
	cr_assert_eq(keel_udp_set_broadcast(&f->a, 1), 0);
	cr_assert_eq(getopt_int(&f->a, SOL_SOCKET, SO_BROADCAST), 1);
	KT_AWAIT(f, keel_udp_send_to(cx, &f->a, "b", 1, &f->to));
	cr_assert_eq(f->r, 1);
	keel_udp_close(&f->a);
	KEEL_END(f);
}

KEEL_TEST(udp, multicast_join_leave, struct opt_frame)
{
	struct keel_addr a4 = kt_addr("0.0.0.0", 0), a6 = kt_addr("::", 0);
	struct keel_addr g4 = kt_addr("239.1.2.3", 0);
	struct keel_addr g6 = kt_addr("ff15::1234", 0);
	struct keel_addr uc = kt_addr("127.0.0.1", 0);
	unsigned lo = if_nametoindex("lo");

	KEEL_BEGIN(f);
	kt_need_v6();
	cr_assert_neq(lo, 0);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &a4, NULL), 0);
	cr_assert_eq(keel_udp_join(&f->a, &g4, lo), 0);
	cr_assert_eq(keel_udp_join(&f->a, &g4, lo), -EADDRINUSE,
		     "already a member");
	cr_assert_eq(keel_udp_leave(&f->a, &g4, lo), 0);
	cr_assert_eq(keel_udp_leave(&f->a, &g4, lo), -EADDRNOTAVAIL,
		     "no longer a member");
	/* A unicast address is no group. */
	cr_assert_eq(keel_udp_join(&f->a, &uc, lo), -EINVAL);

	cr_assert_eq(keel_udp_bind(cx, &f->b, &a6, NULL), 0);
	cr_assert_eq(keel_udp_join(&f->b, &g6, lo), 0);
	cr_assert_eq(keel_udp_leave(&f->b, &g6, lo), 0);
	cr_assert_lt(keel_udp_leave(&f->b, &g6, lo), 0);
	cr_assert_eq(keel_udp_join(&f->b, &a4, lo), -EINVAL);
	keel_udp_close(&f->a);
	keel_udp_close(&f->b);
	KEEL_END(f);
}

KEEL_TEST(udp, reuseport_shares_a_port, struct opt_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);
	struct keel_udp_opts ro = { .reuseport = 1 };

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, &ro), 0);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->aa), 0);
	cr_assert_eq(getopt_int(&f->a, SOL_SOCKET, SO_REUSEPORT), 1);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->aa, &ro), 0,
		     "two SO_REUSEPORT sockets on one port");
	cr_assert_eq(keel_udp_bind(cx, &f->c, &f->aa, NULL), -EADDRINUSE);
	cr_assert_null(f->c.ops, "a failed bind leaves the handle closed");
	keel_udp_close(&f->a);
	keel_udp_close(&f->b);
	KEEL_END(f);
}

KEEL_TEST(udp, address_in_use, struct opt_frame)
{
	struct keel_addr any = kt_addr("::1", 0);

	KEEL_BEGIN(f);
	kt_need_v6();
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->aa), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->aa, NULL), -EADDRINUSE);
	f->to = kt_addr("192.0.2.1", 0); /* TEST-NET-1: not ours */
	cr_assert_eq(keel_udp_bind(cx, &f->b, &f->to, NULL), -EADDRNOTAVAIL);
	keel_udp_close(&f->a);
	KEEL_END(f);
}

KEEL_TEST(udp, bind_options, struct opt_frame)
{
	struct keel_addr any = kt_addr("::", 0);
	struct keel_udp_opts o = { .v6only = 1, .rcvbuf = 65536,
				   .sndbuf = 65536 };

	KEEL_BEGIN(f);
	kt_need_v6();
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, &o), 0);
	cr_assert_eq(getopt_int(&f->a, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	/* Linux doubles what it is given, for its bookkeeping. */
	cr_assert_geq(getopt_int(&f->a, SOL_SOCKET, SO_RCVBUF), 65536);
	cr_assert_geq(getopt_int(&f->a, SOL_SOCKET, SO_SNDBUF), 65536);
	keel_udp_close(&f->a);
	KEEL_END(f);
}

/* -------------------------------------------------------------- bad input */

struct bad_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp a, b;
	struct keel_addr aa;
	struct keel_dgram d;
	struct keel_pkt p;
	char buf[8];
};

KEEL_TEST(udp, bad_input_and_closed_handles, struct bad_frame)
{
	struct keel_addr unspec = { 0 }, any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &unspec, NULL), -EINVAL);
	cr_assert_eq(keel_udp_bind(cx, &f->a, NULL, NULL), -EINVAL);
	cr_assert_null(f->a.ops);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->a, &any, NULL), -EBUSY);
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "x", 1, &unspec), -EINVAL);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->aa), 0);
	cr_assert_eq(keel_udp_recv_batch(cx, &f->a, &f->d, 0), -EINVAL);
	f->d = (struct keel_dgram){ .buf = NULL, .cap = 4 };
	cr_assert_eq(keel_udp_recv_batch(cx, &f->a, &f->d, 1), -EINVAL);
	cr_assert_eq(keel_kernel_udp_fd(NULL), -EINVAL);

	cr_assert_eq(keel_udp_close(&f->a), 0);
	cr_assert_eq(keel_udp_close(&f->a), -EBADF, "double close");
	cr_assert_eq(keel_udp_close(NULL), -EINVAL);
	cr_assert_eq(keel_udp_recv_from(cx, &f->a, f->buf, 8, NULL), -EBADF);
	cr_assert_eq(keel_udp_send_to(cx, &f->a, "x", 1, &f->aa), -EBADF);
	cr_assert_eq(keel_udp_local_addr(&f->a, &f->aa), -EBADF);
	cr_assert_eq(keel_udp_set_ttl(&f->a, 4), -EBADF);
	cr_assert_eq(keel_udp_recv_lend(cx, &f->a, &f->p, 1), -EBADF);
	cr_assert_eq(keel_udp_release(&f->a, &f->p, 1), -EBADF);
	cr_assert_eq(keel_kernel_udp_fd(&f->a), -EBADF);
	/* A never-bound handle is just as closed. */
	cr_assert_eq(keel_udp_close(&f->b), -EBADF);
	KEEL_END(f);
}

/* ------------------------------------------- a task waiting in recv_from */

struct waiter {
	struct keel_co co;
	intptr_t r;
	struct keel_udp *s;
	atomic_bool *blocked; /* set once a receive returned pending */
	char buf[8];
};

static intptr_t note_pending(atomic_bool *flag, intptr_t r)
{
	if (flag && r == KEEL_PENDING)
		atomic_store(flag, true);
	return r;
}

static intptr_t waiter_poll(void *frame, struct keel_cx *cx)
{
	struct waiter *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r,
		   note_pending(f->blocked,
				keel_udp_recv_from(cx, f->s, f->buf,
						   sizeof(f->buf), NULL)));
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

/* ------------------------------------------------------------ cross-worker */

/*
 * Handles used by tasks other than the one that opened them. On a
 * migrating scheduler (KEEL_SCHED=pool KEEL_WORKERS=2) these tasks spread
 * over the workers, so sockets and event sources are waited on, and
 * closed, on other workers than their owner's; on an affine one they take
 * turns on one worker. Spawned tasks report through their result (an
 * assertion is the test's thread's business), the root checks exact
 * counts.
 */

#define XW_TASKS  4
#define XW_ROUNDS 200
#define XW_TOTAL  (XW_TASKS * XW_ROUNDS)
#define XW_WINDOW XW_TASKS /* client messages in flight */

/* Two turns go round the tasks, each an event source per task: the read
 * turn (receive the next message) and the write turn (send the next
 * reply). Task j passes the read turn on as soon as it has its message, so
 * task j+1 receives while task j replies: one task reads and one writes
 * the socket at a time, and the replies keep their order. */
struct xw_shared {
	struct keel_udp srv;		   /* bound by the root */
	struct keel_event rturn[XW_TASKS]; /* opened by the root */
	struct keel_event wturn[XW_TASKS];
	atomic_uint received, replied;
};

struct xw_task {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct xw_shared *sh;
	unsigned me, round, k, n;
	struct keel_addr peer;
	char buf[32], want[32];
};

static intptr_t xw_task_poll(void *frame, struct keel_cx *cx)
{
	struct xw_task *f = frame;

	KEEL_BEGIN(f);
	for (f->round = 0; f->round < XW_ROUNDS; f->round++) {
		f->k = f->round * XW_TASKS + f->me;
		KT_AWAIT(f, keel_event_poll(cx, &f->sh->rturn[f->me]));
		if (f->r != 1) /* one set per turn */
			KEEL_RETURN(f, f->r < 0 ? f->r : -EPROTO);
		KT_AWAIT(f, keel_udp_recv_from(cx, &f->sh->srv, f->buf,
					       sizeof(f->buf), &f->peer));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
		f->n = (unsigned)f->r;
		snprintf(f->want, sizeof(f->want), "m%u", f->k);
		if (f->n != strlen(f->want) || memcmp(f->buf, f->want, f->n))
			KEEL_RETURN(f, -EBADMSG);
		atomic_fetch_add(&f->sh->received, 1);
		if (f->k + 1 < XW_TOTAL &&
		    keel_event_set(&f->sh->rturn[(f->me + 1) % XW_TASKS]) != 0)
			KEEL_RETURN(f, -EIO);

		KT_AWAIT(f, keel_event_poll(cx, &f->sh->wturn[f->me]));
		if (f->r != 1)
			KEEL_RETURN(f, f->r < 0 ? f->r : -EPROTO);
		KT_AWAIT(f, keel_udp_send_to(cx, &f->sh->srv, f->buf, f->n,
					     &f->peer));
		if (f->r != (intptr_t)f->n)
			KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
		atomic_fetch_add(&f->sh->replied, 1);
		if (f->k + 1 < XW_TOTAL &&
		    keel_event_set(&f->sh->wturn[(f->me + 1) % XW_TASKS]) != 0)
			KEEL_RETURN(f, -EIO);
	}
	KEEL_RETURN(f, f->round);
	KEEL_END(f);
}

struct xw_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct xw_shared sh;
	struct keel_udp cli;
	struct keel_addr sa;
	struct keel_join *join[XW_TASKS];
	unsigned sent, got, i, n;
	struct keel_driver_stats before;
	char buf[32], want[32];
};

/* The root binds a socket and opens the turns; XW_TASKS tasks take turns
 * receiving on the socket and sending from it. Every message is answered
 * once, in order, and every counter is exact. */
KEEL_TEST(udp, tasks_take_turns_on_one_socket, struct xw_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->sh.srv, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->cli, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->sh.srv, &f->sa), 0);
	for (unsigned i = 0; i < XW_TASKS; i++) {
		cr_assert_eq(keel_event_open(cx, &f->sh.rturn[i]), 0);
		cr_assert_eq(keel_event_open(cx, &f->sh.wturn[i]), 0);
	}
	atomic_init(&f->sh.received, 0);
	atomic_init(&f->sh.replied, 0);
	f->before = kt_stats(cx);
	for (unsigned i = 0; i < XW_TASKS; i++)
		cr_assert_eq(KEEL_SPAWN(cx, xw_task_poll, NULL, &f->join[i],
					struct xw_task, .sh = &f->sh, .me = i),
			     0);
	cr_assert_eq(keel_event_set(&f->sh.rturn[0]), 0);
	cr_assert_eq(keel_event_set(&f->sh.wturn[0]), 0);
	while (f->got < XW_TOTAL) {
		while (f->sent < XW_TOTAL && f->sent - f->got < XW_WINDOW) {
			snprintf(f->want, sizeof(f->want), "m%u", f->sent);
			f->n = (unsigned)strlen(f->want);
			KT_AWAIT(f, keel_udp_send_to(cx, &f->cli, f->want, f->n,
						     &f->sa));
			cr_assert_eq(f->r, (intptr_t)f->n);
			f->sent++;
		}
		snprintf(f->want, sizeof(f->want), "m%u", f->got);
		f->n = (unsigned)strlen(f->want);
		KT_AWAIT(f, keel_udp_recv_from(cx, &f->cli, f->buf,
					       sizeof(f->buf), NULL));
		cr_assert_eq(f->r, (intptr_t)f->n, "reply %u: %ld (%s)", f->got,
			     (long)f->r, keel_strerror(f->r));
		cr_assert_arr_eq(f->buf, f->want, f->n, "replies in order");
		f->got++;
	}
	for (f->i = 0; f->i < XW_TASKS; f->i++) {
		KT_AWAIT(f, keel_join_poll(cx, f->join[f->i]));
		cr_assert_eq(f->r, XW_ROUNDS, "task %u: %ld (%s)", f->i,
			     (long)f->r, keel_strerror(f->r));
	}
	cr_assert_eq(atomic_load(&f->sh.received), XW_TOTAL);
	cr_assert_eq(atomic_load(&f->sh.replied), XW_TOTAL);
	/* Both sockets received and sent each message once, whichever
	 * worker did it. */
	cr_assert_eq(kt_stats(cx).rx_packets - f->before.rx_packets,
		     2 * XW_TOTAL);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets,
		     2 * XW_TOTAL);
	for (unsigned i = 0; i < XW_TASKS; i++) {
		cr_assert_eq(keel_event_close(&f->sh.rturn[i]), 0);
		cr_assert_eq(keel_event_close(&f->sh.wturn[i]), 0);
	}
	cr_assert_eq(keel_udp_close(&f->cli), 0);
	cr_assert_eq(keel_udp_close(&f->sh.srv), 0);
	KEEL_END(f);
}

/* Zero-copy with the two halves in two tasks: one lends received packets
 * and queues them, the other sends them back (send_lent) and so returns
 * their buffers to the pool the first one lends from, concurrently. */
#define ZC_MSGS	  2000u
#define ZC_WINDOW 16u /* client messages in flight: < LEND_BUFS */
#define ZC_RING	  64u
#define ZC_BURST  4u

struct zc_shared {
	struct keel_udp srv;
	struct keel_event queued; /* the lender set it after queueing */
	struct keel_pkt ring[ZC_RING];
	atomic_uint head, tail;	  /* sender's, lender's */
};

struct zc_lender {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct zc_shared *sh;
	unsigned lent;
	struct keel_pkt pkts[ZC_BURST];
};

static intptr_t zc_lender_poll(void *frame, struct keel_cx *cx)
{
	struct zc_lender *f = frame;
	unsigned tail;

	KEEL_BEGIN(f);
	while (f->lent < ZC_MSGS) {
		KT_AWAIT(f, keel_udp_recv_lend(cx, &f->sh->srv, f->pkts,
					       ZC_BURST));
		if (f->r <= 0)
			KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
		tail = atomic_load_explicit(&f->sh->tail, memory_order_relaxed);
		if (tail + (unsigned)f->r -
			    atomic_load_explicit(&f->sh->head,
						 memory_order_acquire) > ZC_RING)
			KEEL_RETURN(f, -ENOSPC); /* the window forbids it */
		for (intptr_t i = 0; i < f->r; i++)
			f->sh->ring[(tail + (unsigned)i) % ZC_RING] = f->pkts[i];
		atomic_store_explicit(&f->sh->tail, tail + (unsigned)f->r,
				      memory_order_release);
		f->lent += (unsigned)f->r;
		if (keel_event_set(&f->sh->queued) != 0)
			KEEL_RETURN(f, -EIO);
	}
	KEEL_RETURN(f, f->lent);
	KEEL_END(f);
}

struct zc_sender {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct zc_shared *sh;
	unsigned sent, n, done, rounds;
	struct keel_pkt pkts[ZC_RING];
};

static intptr_t zc_sender_poll(void *frame, struct keel_cx *cx)
{
	struct zc_sender *f = frame;
	unsigned head, tail;

	KEEL_BEGIN(f);
	while (f->sent < ZC_MSGS) {
		head = atomic_load_explicit(&f->sh->head, memory_order_relaxed);
		tail = atomic_load_explicit(&f->sh->tail, memory_order_acquire);
		if (head == tail) {
			KT_AWAIT(f, keel_event_poll(cx, &f->sh->queued));
			if (f->r <= 0)
				KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
			continue;
		}
		for (f->n = 0; head != tail; head++, f->n++)
			f->pkts[f->n] = f->sh->ring[head % ZC_RING];
		atomic_store_explicit(&f->sh->head, head, memory_order_release);
		/* Back in place, to whoever sent it; send_lent may take a
		 * part only, the rest stays ours. */
		for (f->done = 0, f->rounds = 0; f->done < f->n; f->rounds++) {
			if (f->rounds == 100)
				KEEL_RETURN(f, -EIO);
			KT_AWAIT(f, keel_udp_send_lent(cx, &f->sh->srv,
						       f->pkts + f->done,
						       f->n - f->done));
			if (f->r <= 0)
				KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
			f->done += (unsigned)f->r;
		}
		f->sent += f->n;
	}
	KEEL_RETURN(f, f->sent);
	KEEL_END(f);
}

struct zc_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct zc_shared sh;
	struct keel_udp cli;
	struct keel_addr sa;
	struct keel_join *lender, *sender;
	unsigned sent, got, v;
	struct keel_driver_stats before;
	char buf[32], msg[32];
	unsigned char seen[ZC_MSGS];
	struct keel_pkt all[LEND_BUFS];
};

KEEL_TEST(udp, lend_and_send_lent_in_two_tasks, struct zc_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_udp_bind(cx, &f->sh.srv, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->cli, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->sh.srv, &f->sa), 0);
	cr_assert_eq(keel_event_open(cx, &f->sh.queued), 0);
	atomic_init(&f->sh.head, 0);
	atomic_init(&f->sh.tail, 0);
	f->before = kt_stats(cx);
	cr_assert_eq(KEEL_SPAWN(cx, zc_lender_poll, NULL, &f->lender,
				struct zc_lender, .sh = &f->sh),
		     0);
	cr_assert_eq(KEEL_SPAWN(cx, zc_sender_poll, NULL, &f->sender,
				struct zc_sender, .sh = &f->sh),
		     0);
	while (f->got < ZC_MSGS) {
		while (f->sent < ZC_MSGS && f->sent - f->got < ZC_WINDOW) {
			snprintf(f->msg, sizeof(f->msg), "z%u", f->sent);
			KT_AWAIT(f, keel_udp_send_to(cx, &f->cli, f->msg,
						     strlen(f->msg), &f->sa));
			cr_assert_eq(f->r, (intptr_t)strlen(f->msg));
			f->sent++;
		}
		KT_AWAIT(f, keel_udp_recv_from(cx, &f->cli, f->buf,
					       sizeof(f->buf) - 1, NULL));
		cr_assert_gt(f->r, 1, "echo %u: %ld (%s)", f->got, (long)f->r,
			     keel_strerror(f->r));
		f->buf[f->r] = '\0';
		cr_assert_eq(sscanf(f->buf, "z%u", &f->v), 1, "echo '%s'",
			     f->buf);
		cr_assert_lt(f->v, f->sent, "an echo of something sent");
		cr_assert_not(f->seen[f->v], "echo %u came twice", f->v);
		f->seen[f->v] = 1;
		f->got++;
	}
	KT_AWAIT(f, keel_join_poll(cx, f->lender));
	cr_assert_eq(f->r, (intptr_t)ZC_MSGS, "lender: %ld (%s)", (long)f->r,
		     keel_strerror(f->r));
	KT_AWAIT(f, keel_join_poll(cx, f->sender));
	cr_assert_eq(f->r, (intptr_t)ZC_MSGS, "sender: %ld (%s)", (long)f->r,
		     keel_strerror(f->r));
	cr_assert_eq(kt_stats(cx).rx_packets - f->before.rx_packets,
		     2 * ZC_MSGS);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets,
		     2 * ZC_MSGS);
	/* Every buffer came back: the pool lends LEND_BUFS at once again. */
	for (f->v = 0; f->v < LEND_BUFS; f->v++) {
		KT_AWAIT(f, keel_udp_send_to(cx, &f->cli, "x", 1, &f->sa));
		cr_assert_eq(f->r, 1);
	}
	for (f->got = 0, f->v = 0; f->got < LEND_BUFS && f->v < LEND_BUFS;
	     f->v++) {
		KT_AWAIT(f, keel_udp_recv_lend(cx, &f->sh.srv, f->all + f->got,
					       LEND_BUFS - f->got));
		cr_assert_gt(f->r, 0, "recv_lend: %s", keel_strerror(f->r));
		f->got += (unsigned)f->r;
	}
	cr_assert_eq(f->got, LEND_BUFS);
	cr_assert_eq(keel_udp_release(&f->sh.srv, f->all, LEND_BUFS), 0);
	cr_assert_eq(keel_event_close(&f->sh.queued), 0);
	cr_assert_eq(keel_udp_close(&f->cli), 0);
	cr_assert_eq(keel_udp_close(&f->sh.srv), 0);
	KEEL_END(f);
}

/* Many tasks at once, each opening a socket pair, bouncing datagrams over
 * it and closing it: on a migrating scheduler a socket is often used, and
 * closed, on another worker than the one that opened it (whose epoll set
 * may be reporting its last edges meanwhile). */
#define OC_TASKS  8
#define OC_ROUNDS 25
#define OC_PINGS  4

struct oc_task {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	atomic_uint *pings;
	unsigned round, ping;
	struct keel_udp a, b;
	struct keel_addr aa, ba;
	char buf[8];
};

static intptr_t oc_task_poll(void *frame, struct keel_cx *cx)
{
	struct oc_task *f = frame;
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	for (f->round = 0; f->round < OC_ROUNDS; f->round++) {
		if (keel_udp_bind(cx, &f->a, &any, NULL) != 0 ||
		    keel_udp_bind(cx, &f->b, &any, NULL) != 0 ||
		    keel_udp_local_addr(&f->a, &f->aa) != 0 ||
		    keel_udp_local_addr(&f->b, &f->ba) != 0)
			KEEL_RETURN(f, -EIO);
		for (f->ping = 0; f->ping < OC_PINGS; f->ping++) {
			KEEL_YIELD(f, cx); /* maybe to another worker */
			KT_AWAIT(f, keel_udp_send_to(cx, &f->a, "p", 1, &f->ba));
			if (f->r != 1)
				KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
			KT_AWAIT(f, keel_udp_recv_from(cx, &f->b, f->buf,
						       sizeof(f->buf), NULL));
			if (f->r != 1)
				KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
			KT_AWAIT(f, keel_udp_send_to(cx, &f->b, "q", 1, &f->aa));
			if (f->r != 1)
				KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
			KT_AWAIT(f, keel_udp_recv_from(cx, &f->a, f->buf,
						       sizeof(f->buf), NULL));
			if (f->r != 1 || f->buf[0] != 'q')
				KEEL_RETURN(f, f->r < 0 ? f->r : -EBADMSG);
			atomic_fetch_add(f->pings, 1);
		}
		KEEL_YIELD(f, cx);
		if (keel_udp_close(&f->a) != 0 || keel_udp_close(&f->b) != 0)
			KEEL_RETURN(f, -EIO);
	}
	KEEL_RETURN(f, f->round);
	KEEL_END(f);
}

struct oc_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_join *join[OC_TASKS];
	atomic_uint pings;
	unsigned i;
	int fds;
	struct keel_driver_stats before;
};

KEEL_TEST(udp, sockets_opened_used_closed_by_many_tasks, struct oc_frame)
{
	KEEL_BEGIN(f);
	atomic_init(&f->pings, 0);
	f->fds = kt_open_fds();
	f->before = kt_stats(cx);
	for (unsigned i = 0; i < OC_TASKS; i++)
		cr_assert_eq(KEEL_SPAWN(cx, oc_task_poll, NULL, &f->join[i],
					struct oc_task, .pings = &f->pings),
			     0);
	for (f->i = 0; f->i < OC_TASKS; f->i++) {
		KT_AWAIT(f, keel_join_poll(cx, f->join[f->i]));
		cr_assert_eq(f->r, OC_ROUNDS, "task %u: %ld (%s)", f->i,
			     (long)f->r, keel_strerror(f->r));
	}
	cr_assert_eq(atomic_load(&f->pings), OC_TASKS * OC_ROUNDS * OC_PINGS);
	cr_assert_eq(kt_stats(cx).rx_packets - f->before.rx_packets,
		     2 * OC_TASKS * OC_ROUNDS * OC_PINGS);
	cr_assert_eq(kt_stats(cx).tx_packets - f->before.tx_packets,
		     2 * OC_TASKS * OC_ROUNDS * OC_PINGS);
	cr_assert_eq(kt_open_fds(), f->fds, "every socket closed");
	KEEL_END(f);
}

/* ----------------------------------------------------------------- leaks */

struct leak_frame {
	struct keel_co co;
	struct keel_udp *a; /* outlives the root: the waiter uses it after */
};

static intptr_t leak_body(void *frame, struct keel_cx *cx)
{
	struct leak_frame *f = frame;
	struct keel_addr any = kt_addr("127.0.0.1", 0);
	struct keel_pkt p;

	/* A socket never closed, with a task waiting on it forever, and a
	 * lend pool allocated: all the runtime's to free. */
	cr_assert_eq(keel_udp_bind(cx, f->a, &any, NULL), 0);
	cr_assert_eq(keel_udp_recv_lend(cx, f->a, &p, 1), KEEL_PENDING);
	cr_assert_eq(KEEL_SPAWN(cx, waiter_poll, NULL, NULL, struct waiter,
				.s = f->a),
		     0);
	return 0;
}

Test(udp, leaked_sockets_are_freed_at_destroy, .timeout = 60)
{
	struct keel_config cfg = kt_config();
	int before = kt_open_fds();

	for (int i = 0; i < 3; i++) {
		struct keel_runtime *rt;
		struct keel_udp a = { 0 };
		struct leak_frame fr = { .a = &a };

		cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
		cr_assert_eq(keel_runtime_block_on(rt, leak_body, NULL, &fr,
						   sizeof(fr)), 0);
		keel_runtime_destroy(rt);
	}
	cr_assert_eq(kt_open_fds(), before, "every fd closed at destroy");
}
