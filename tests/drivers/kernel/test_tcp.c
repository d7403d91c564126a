/* SPDX-License-Identifier: MIT */
/* drivers/kernel/tcp.c: connect, listen, accept, partial reads and writes,
 * end of stream, errors, bad input. */
#include "ktest.h"

#include <netinet/tcp.h>
#include <sys/socket.h>

#define BIG (1u << 20)	    /* bytes the echo test moves each way */
#define MAX_ROUNDS 100000u /* bound on any read/write loop */

static unsigned char pattern[BIG];

static void fill_pattern(void)
{
	for (size_t i = 0; i < BIG; i++)
		pattern[i] = (unsigned char)(i * 7 + (i >> 8) + (i >> 16));
}

/* ---------------------------------------------------------------- echo */

static void set_buf(int fd, int which)
{
	int v = 16384;

	cr_assert_geq(fd, 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, which, &v, sizeof(v)), 0);
}

/* Accepts one connection and echoes it in small reads until EOF. */
struct echo_srv {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_tcp *l;
	struct keel_tcp s;
	size_t n, done, total;
	unsigned rounds;
	unsigned char buf[777];
};

static intptr_t echo_srv_poll(void *frame, struct keel_cx *cx)
{
	struct echo_srv *f = frame;

	KEEL_BEGIN(f);
	KT_AWAIT(f, keel_tcp_accept(cx, f->l, &f->s, NULL));
	if (f->r < 0)
		KEEL_RETURN(f, f->r);
	for (f->rounds = 0; f->rounds < MAX_ROUNDS; f->rounds++) {
		KT_AWAIT(f, keel_tcp_read(cx, &f->s, f->buf, sizeof(f->buf)));
		if (f->r <= 0)
			break;
		f->n = (size_t)f->r;
		f->done = 0;
		KT_AWAIT(f, keel_tcp_write_all(cx, &f->s, f->buf, f->n, &f->done));
		if (f->r < 0)
			break;
		f->total += f->n;
	}
	keel_tcp_close(&f->s);
	KEEL_RETURN(f, f->r < 0 ? f->r : (intptr_t)f->total);
	KEEL_END(f);
}

/* Writes the pattern with single writes, counting them, then SHUT_WR. */
struct echo_wr {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_tcp *c;
	size_t off;
	unsigned writes;
};

static intptr_t echo_wr_poll(void *frame, struct keel_cx *cx)
{
	struct echo_wr *f = frame;

	KEEL_BEGIN(f);
	while (f->off < BIG && f->writes < MAX_ROUNDS) {
		KT_AWAIT(f, keel_tcp_write(cx, f->c, pattern + f->off,
					   BIG - f->off));
		if (f->r <= 0)
			KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
		f->off += (size_t)f->r;
		f->writes++;
	}
	cr_assert_eq(keel_tcp_shutdown(f->c, SHUT_WR), 0);
	KEEL_RETURN(f, f->writes);
	KEEL_END(f);
}

struct echo_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_tcp l, c;
	struct keel_addr la;
	struct keel_join *srv, *wr;
	size_t got;
	unsigned rounds;
	struct keel_driver_stats before;
	unsigned char buf[4096];
};

static intptr_t echo(struct echo_frame *f, struct keel_cx *cx,
		     const char *host)
{
	struct keel_addr any;

	KEEL_BEGIN(f);
	if (strchr(host, ':'))
		kt_need_v6();
	fill_pattern();
	any = kt_addr(host, 0);
	cr_assert_eq(keel_tcp_listen(cx, &f->l, &any, 0), 0);
	cr_assert_eq(keel_tcp_local_addr(&f->l, &f->la), 0);
	cr_assert_neq(keel_addr_port(&f->la), 0);
	/* Small buffers (the accepted socket inherits the listener's), so
	 * that loopback cannot swallow the megabyte in one write. */
	set_buf(keel_kernel_tcp_fd(&f->l), SO_RCVBUF);
	f->before = kt_stats(cx);
	/* The server waits in accept before anyone connects. */
	cr_assert_eq(KEEL_SPAWN(cx, echo_srv_poll, NULL, &f->srv,
				struct echo_srv, .l = &f->l),
		     0);
	KT_AWAIT(f, keel_tcp_connect(cx, &f->c, &f->la));
	cr_assert_eq(f->r, 0, "connect: %s", keel_strerror(f->r));
	set_buf(keel_kernel_tcp_fd(&f->c), SO_SNDBUF);
	cr_assert_eq(KEEL_SPAWN(cx, echo_wr_poll, NULL, &f->wr, struct echo_wr,
				.c = &f->c),
		     0);
	for (f->rounds = 0; f->rounds < MAX_ROUNDS; f->rounds++) {
		KT_AWAIT(f, keel_tcp_read(cx, &f->c, f->buf, sizeof(f->buf)));
		cr_assert_geq(f->r, 0, "read: %s", keel_strerror(f->r));
		if (f->r == 0)
			break;
		cr_assert_leq(f->got + (size_t)f->r, BIG, "more than was sent");
		cr_assert_arr_eq(f->buf, pattern + f->got, (size_t)f->r,
				 "echo differs at offset %zu", f->got);
		f->got += (size_t)f->r;
	}
	cr_assert_eq(f->got, BIG, "got %zu of %u bytes", f->got, BIG);
	KT_AWAIT(f, keel_join_poll(cx, f->wr));
	cr_assert_gt(f->r, 1, "1 MiB took several (partial) writes, not %ld", (long)f->r);
	KT_AWAIT(f, keel_join_poll(cx, f->srv));
	cr_assert_eq(f->r, (intptr_t)BIG);
	cr_assert_geq(kt_stats(cx).rx_bytes - f->before.rx_bytes, 2 * BIG);
	cr_assert_geq(kt_stats(cx).tx_bytes - f->before.tx_bytes, 2 * BIG);
	cr_assert_eq(keel_tcp_close(&f->c), 0);
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	KEEL_END(f);
}

KEEL_TEST(tcp, echo_1mib_partial_v4, struct echo_frame)
{
	return echo(f, cx, "127.0.0.1");
}

KEEL_TEST(tcp, echo_1mib_partial_v6, struct echo_frame)
{
	return echo(f, cx, "::1");
}

/* ------------------------------------------------- addresses, EOF, EPIPE */

struct conn_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_tcp l, c, s, x;
	struct keel_addr la, peer, cl, cp, sl, sp;
	unsigned rounds;
	char buf[16];
};

KEEL_TEST(tcp, addresses_eof_and_epipe, struct conn_frame)
{
	struct keel_addr any = kt_addr("::1", 0);
	int v = 0;
	socklen_t len = sizeof(v);

	KEEL_BEGIN(f);
	kt_need_v6();
	cr_assert_eq(keel_tcp_listen(cx, &f->l, &any, 4), 0);
	cr_assert_eq(keel_tcp_local_addr(&f->l, &f->la), 0);
	/* Connect first, accept after: the backlog holds it meanwhile. */
	KT_AWAIT(f, keel_tcp_connect(cx, &f->c, &f->la));
	cr_assert_eq(f->r, 0);
	KT_AWAIT(f, keel_tcp_accept(cx, &f->l, &f->s, &f->peer));
	cr_assert_eq(f->r, 0);

	cr_assert_eq(keel_tcp_local_addr(&f->c, &f->cl), 0);
	cr_assert_eq(keel_tcp_peer_addr(&f->c, &f->cp), 0);
	cr_assert_eq(keel_tcp_local_addr(&f->s, &f->sl), 0);
	cr_assert_eq(keel_tcp_peer_addr(&f->s, &f->sp), 0);
	cr_assert(keel_addr_equal(&f->cp, &f->la));
	cr_assert(keel_addr_equal(&f->sp, &f->cl));
	cr_assert(keel_addr_equal(&f->peer, &f->cl), "accept's peer");
	cr_assert(keel_addr_equal(&f->sl, &f->cp));

	cr_assert_eq(keel_tcp_set_nodelay(&f->c, 1), 0);
	cr_assert_eq(getsockopt(keel_kernel_tcp_fd(&f->c), IPPROTO_TCP,
				TCP_NODELAY, &v, &len), 0);
	cr_assert_neq(v, 0);

	KT_AWAIT(f, keel_tcp_write(cx, &f->c, "hi", 2));
	cr_assert_eq(f->r, 2);
	KT_AWAIT(f, keel_tcp_read(cx, &f->s, f->buf, sizeof(f->buf)));
	cr_assert_eq(f->r, 2);
	cr_assert_arr_eq(f->buf, "hi", 2);

	/* Half-close: the other side reads the end of the stream. */
	cr_assert_eq(keel_tcp_shutdown(&f->c, SHUT_WR), 0);
	KT_AWAIT(f, keel_tcp_read(cx, &f->s, f->buf, sizeof(f->buf)));
	cr_assert_eq(f->r, 0, "EOF after SHUT_WR");
	KT_AWAIT(f, keel_tcp_write(cx, &f->s, "back", 4));
	cr_assert_eq(f->r, 4, "the other direction still works");
	KT_AWAIT(f, keel_tcp_read(cx, &f->c, f->buf, sizeof(f->buf)));
	cr_assert_eq(f->r, 4);

	/* Peer gone: writes fail with EPIPE or ECONNRESET, no SIGPIPE. */
	cr_assert_eq(keel_tcp_close(&f->s), 0);
	KT_AWAIT(f, keel_tcp_read(cx, &f->c, f->buf, sizeof(f->buf)));
	cr_assert_eq(f->r, 0, "EOF after the peer closed");
	for (f->rounds = 0; f->rounds < 20; f->rounds++) {
		KT_AWAIT(f, keel_tcp_write(cx, &f->c, "x", 1));
		if (f->r < 0)
			break;
		KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->t, KEEL_MS));
		f->r = 1;
	}
	cr_assert(f->r == -EPIPE || f->r == -ECONNRESET, "got %ld (%s)",
		  (long)f->r, keel_strerror(f->r));

	cr_assert_eq(keel_tcp_close(&f->c), 0);
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	KEEL_END(f);
}

/* ---------------------------------------------------------------- errors */

KEEL_TEST(tcp, connect_refused, struct conn_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	/* A port that was just free and that nobody listens on now. */
	cr_assert_eq(keel_tcp_listen(cx, &f->l, &any, 0), 0);
	cr_assert_eq(keel_tcp_local_addr(&f->l, &f->la), 0);
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	KT_AWAIT(f, keel_tcp_connect(cx, &f->c, &f->la));
	cr_assert_eq(f->r, -ECONNREFUSED, "got %ld (%s)", (long)f->r,
		     keel_strerror(f->r));
	cr_assert_null(f->c.ops, "a failed connect leaves the handle closed");
	cr_assert_eq(f->c.connecting, 0);
	cr_assert_eq(keel_tcp_close(&f->c), -EBADF);
	KEEL_END(f);
}

KEEL_TEST(tcp, address_in_use, struct conn_frame)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_tcp_listen(cx, &f->l, &any, 0), 0);
	cr_assert_eq(keel_tcp_local_addr(&f->l, &f->la), 0);
	cr_assert_eq(keel_tcp_listen(cx, &f->x, &f->la, 0), -EADDRINUSE);
	cr_assert_null(f->x.ops);
	f->peer = kt_addr("192.0.2.1", 0);
	cr_assert_eq(keel_tcp_listen(cx, &f->x, &f->peer, 0), -EADDRNOTAVAIL);
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	KEEL_END(f);
}

KEEL_TEST(tcp, bad_input_and_closed_handles, struct conn_frame)
{
	struct keel_addr unspec = { 0 }, any = kt_addr("127.0.0.1", 0);

	KEEL_BEGIN(f);
	cr_assert_eq(keel_tcp_listen(cx, &f->l, &unspec, 0), -EINVAL);
	cr_assert_eq(keel_tcp_connect(cx, &f->c, &unspec), -EINVAL);
	cr_assert_eq(keel_tcp_connect(cx, &f->c, NULL), -EINVAL);
	cr_assert_null(f->c.ops);
	cr_assert_eq(keel_tcp_listen(cx, &f->l, &any, 0), 0);
	cr_assert_eq(keel_tcp_listen(cx, &f->l, &any, 0), -EBUSY);
	cr_assert_eq(keel_tcp_local_addr(&f->l, &f->la), 0);
	KT_AWAIT(f, keel_tcp_connect(cx, &f->c, &f->la));
	cr_assert_eq(f->r, 0);
	cr_assert_eq(keel_tcp_read(cx, &f->c, NULL, 4), -EINVAL);
	cr_assert_eq(keel_tcp_write(cx, &f->c, NULL, 4), -EINVAL);
	cr_assert_eq(keel_tcp_shutdown(&f->c, 42), -EINVAL);
	/* A stream is no listener: the kernel's EINVAL comes through. */
	cr_assert_eq(keel_tcp_accept(cx, &f->c, &f->x, NULL), -EINVAL);
	cr_assert_null(f->x.ops);
	/* A listener has no peer. */
	cr_assert_eq(keel_tcp_peer_addr(&f->l, &f->peer), -ENOTCONN);

	cr_assert_eq(keel_tcp_close(&f->c), 0);
	cr_assert_eq(keel_tcp_close(&f->c), -EBADF, "double close");
	cr_assert_eq(keel_tcp_close(NULL), -EINVAL);
	cr_assert_eq(keel_tcp_read(cx, &f->c, f->buf, 4), -EBADF);
	cr_assert_eq(keel_tcp_write(cx, &f->c, "x", 1), -EBADF);
	cr_assert_eq(keel_tcp_shutdown(&f->c, SHUT_RDWR), -EBADF);
	cr_assert_eq(keel_tcp_set_nodelay(&f->c, 1), -EBADF);
	cr_assert_eq(keel_tcp_local_addr(&f->c, &f->cl), -EBADF);
	cr_assert_eq(keel_tcp_accept(cx, &f->c, &f->x, NULL), -EBADF);
	cr_assert_eq(keel_kernel_tcp_fd(&f->c), -EBADF);
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	cr_assert_eq(keel_tcp_accept(cx, &f->l, &f->x, NULL), -EBADF);
	KEEL_END(f);
}

/* ----------------------------------------------------------------- leaks */

struct acceptor {
	struct keel_co co;
	intptr_t r;
	struct keel_tcp *l;
	struct keel_tcp s;
};

static intptr_t acceptor_poll(void *frame, struct keel_cx *cx)
{
	struct acceptor *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, keel_tcp_accept(cx, f->l, &f->s, NULL));
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

struct leak_frame {
	struct keel_co co;
	intptr_t r;
	struct keel_tcp *l, *c; /* outlive the root: the acceptor uses l */
	struct keel_addr la;
};

/* Leaves a listener with a task waiting in accept, and a connection in
 * progress: all for the runtime to free. */
static intptr_t leak_body(void *frame, struct keel_cx *cx)
{
	struct leak_frame *f = frame;
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	cr_assert_eq(keel_tcp_listen(cx, f->l, &any, 0), 0);
	cr_assert_eq(keel_tcp_local_addr(f->l, &f->la), 0);
	cr_assert_eq(KEEL_SPAWN(cx, acceptor_poll, NULL, NULL,
				struct acceptor, .l = f->l),
		     0);
	f->r = keel_tcp_connect(cx, f->c, &f->la);
	cr_assert(f->r == 0 || f->r == KEEL_PENDING);
	return 0;
}

Test(tcp, leaked_sockets_are_freed_at_destroy, .timeout = 60)
{
	struct keel_config cfg = kt_config();
	int before = kt_open_fds();

	for (int i = 0; i < 3; i++) {
		struct keel_runtime *rt;
		struct keel_tcp l = { 0 }, c = { 0 };
		struct leak_frame fr = { .l = &l, .c = &c };

		cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
		cr_assert_eq(keel_runtime_block_on(rt, leak_body, NULL, &fr,
						   sizeof(fr)), 0);
		keel_runtime_destroy(rt);
	}
	cr_assert_eq(kt_open_fds(), before, "every fd closed at destroy");
}
