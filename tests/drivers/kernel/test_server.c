/* SPDX-License-Identifier: MIT */
/* core/tcp_server.c on the kernel driver: a task per connection, the bound
 * on live connections, the socket closed when a task ends, a server
 * stopped while its connections go on, bad servers. */
#include "ktest.h"

#include <keel/tcp_server.h>
#include <stdatomic.h>

#define WAIT_STEP KEEL_MS
#define WAIT_STEPS (KT_LIMIT / WAIT_STEP)

/* Frames of connection tasks are copies: what tests observe is here. */
static atomic_uint drops;	    /* user drops run */
static atomic_uint open_at_drop;    /* ... that found the socket still open */

/* Echo until end of stream; return at once when `quit` (set by init). */
struct econn {
	struct keel_co co;
	struct keel_tcp sock;
	struct keel_addr peer;
	bool quit;
	char buf[256];
	ssize_t n, w;
	size_t done;
};

static intptr_t econn(void *frame, struct keel_cx *cx)
{
	struct econn *f = frame;

	KEEL_BEGIN(f);
	cr_assert_neq(keel_addr_port(&f->peer), 0, "the peer was filled in");
	if (f->quit)
		KEEL_RETURN(f, 0); /* without closing: the server does */
	for (;;) {
		KEEL_AWAIT(f, f->n, keel_tcp_read(cx, &f->sock, f->buf, sizeof(f->buf)));
		if (f->n <= 0)
			break;
		f->done = 0;
		KEEL_AWAIT(f, f->w, keel_tcp_write_all(cx, &f->sock, f->buf,
						       (size_t)f->n, &f->done));
		if (f->w < 0)
			break;
	}
	KEEL_END(f);
}

static void econn_drop(void *frame)
{
	struct econn *f = frame;

	if (f->sock.ops)
		atomic_fetch_add(&open_at_drop, 1);
	atomic_fetch_add(&drops, 1);
}

/* The server task: serves *l with *srv (in the test's frame), closes the
 * server in its drop, as an application's does. */
struct stask {
	struct keel_co co;
	struct keel_tcp *l;
	struct keel_tcp_server *srv;
	intptr_t r;
};

static intptr_t stask(void *frame, struct keel_cx *cx)
{
	struct stask *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT(f, f->r, keel_tcp_serve(cx, f->l, f->srv));
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

static void stask_drop(void *frame)
{
	keel_tcp_server_close(((struct stask *)frame)->srv);
}

/* Write "ping" on *c and expect it back: a sub-future of the test. */
struct echo_op {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_tcp *c;
	size_t done;
	char buf[16];
};

static intptr_t echo_once(struct echo_op *f, struct keel_cx *cx)
{
	KEEL_BEGIN(f);
	KT_AWAIT(f, keel_tcp_write_all(cx, f->c, "ping", 4, &f->done));
	if (f->r != 4)
		KEEL_RETURN(f, f->r < 0 ? f->r : -EIO);
	KT_AWAIT(f, keel_tcp_read(cx, f->c, f->buf, sizeof(f->buf)));
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

#define NCLI 6

struct srv_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_tcp l, c[NCLI];
	struct keel_addr la;
	struct keel_tcp_server srv;
	struct econn tmpl;
	struct keel_join *sj;
	struct echo_op eo;
	unsigned i, steps;
	char buf[64];
	size_t done;
};

static void start_listener(struct srv_frame *f, struct keel_cx *cx)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	atomic_store(&drops, 0);
	atomic_store(&open_at_drop, 0);
	cr_assert_eq(keel_tcp_listen(cx, &f->l, &any, 0), 0);
	cr_assert_eq(keel_tcp_local_addr(&f->l, &f->la), 0);
	f->srv = (struct keel_tcp_server){
		KEEL_TCP_CONN(econn, econn_drop, struct econn, sock),
		.peer_off = offsetof(struct econn, peer), .init = &f->tmpl,
	};
}

static int start_server(struct srv_frame *f, struct keel_cx *cx)
{
	return KEEL_SPAWN(cx, stask, stask_drop, &f->sj, struct stask,
			  .l = &f->l, .srv = &f->srv);
}

/* Await until \p cond holds, checking every millisecond, KT_LIMIT at most. */
#define WAIT_UNTIL(f, cond)                                                    \
	do {                                                                   \
		for ((f)->steps = 0; !(cond) && (f)->steps < WAIT_STEPS;       \
		     (f)->steps++)                                             \
			KEEL_AWAIT(f, (f)->r, keel_sleep_for(cx, &(f)->t, WAIT_STEP)); \
		cr_assert((cond), "waited %u ms for: %s", (f)->steps, #cond);  \
	} while (0)

#define ECHO(f, i)                                                             \
	do {                                                                   \
		(f)->eo = (struct echo_op){ .c = &(f)->c[i] };                 \
		KEEL_AWAIT(f, (f)->r, echo_once(&(f)->eo, cx));                \
		cr_assert_eq((f)->r, 4, "echo on client %u: %s", (unsigned)(i), \
			     keel_strerror((int)(f)->r));                      \
	} while (0)

KEEL_TEST(server, a_task_per_connection, struct srv_frame)
{
	KEEL_BEGIN(f);
	start_listener(f, cx);
	cr_assert_eq(start_server(f, cx), 0);
	for (f->i = 0; f->i < NCLI; f->i++) {
		KT_AWAIT(f, keel_tcp_connect(cx, &f->c[f->i], &f->la));
		cr_assert_eq(f->r, 0);
	}
	for (f->i = 0; f->i < NCLI; f->i++)
		ECHO(f, f->i);
	cr_assert_eq(keel_tcp_server_live(&f->srv), NCLI);
	for (f->i = 0; f->i < NCLI; f->i++)
		cr_assert_eq(keel_tcp_close(&f->c[f->i]), 0);
	WAIT_UNTIL(f, atomic_load(&drops) == NCLI);
	WAIT_UNTIL(f, keel_tcp_server_live(&f->srv) == 0);
	cr_assert_eq(atomic_load(&open_at_drop), NCLI,
		     "the user's drop runs before the server closes the socket");
	keel_join_cancel(f->sj);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->sj));
	cr_assert_eq(f->r, -ECANCELED);
	cr_assert_eq(f->srv.accepted, NCLI);
	cr_assert_eq(f->srv.errors, 0);
	cr_assert_null(f->srv.conns, "closed by the server task's drop");
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	KEEL_END(f);
}

/* At max_conns the third connection waits in the backlog until one of
 * the first two ends. */
KEEL_TEST(server, bound_holds_connections_back, struct srv_frame)
{
	KEEL_BEGIN(f);
	start_listener(f, cx);
	f->srv.max_conns = 2;
	cr_assert_eq(start_server(f, cx), 0);
	for (f->i = 0; f->i < 3; f->i++) {
		KT_AWAIT(f, keel_tcp_connect(cx, &f->c[f->i], &f->la));
		cr_assert_eq(f->r, 0, "connected through the backlog");
	}
	ECHO(f, 0);
	ECHO(f, 1);
	f->done = 0;
	KT_AWAIT(f, keel_tcp_write_all(cx, &f->c[2], "ping", 4, &f->done));
	cr_assert_eq(f->r, 4);
	/* Not served: no echo (a wait that only a broken bound cuts short). */
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 200 * KEEL_MS,
			keel_tcp_read(cx, &f->c[2], f->buf, sizeof(f->buf))));
	cr_assert_eq(f->r, -ETIMEDOUT, "the third connection was not served");
	cr_assert_eq(keel_tcp_server_live(&f->srv), 2);
	cr_assert_eq(keel_tcp_close(&f->c[0]), 0);
	KT_AWAIT(f, keel_tcp_read(cx, &f->c[2], f->buf, sizeof(f->buf)));
	cr_assert_eq(f->r, 4, "served once a slot freed: %s", keel_strerror((int)f->r));
	cr_assert_eq(keel_tcp_close(&f->c[1]), 0);
	cr_assert_eq(keel_tcp_close(&f->c[2]), 0);
	WAIT_UNTIL(f, atomic_load(&drops) == 3);
	keel_join_cancel(f->sj);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->sj));
	cr_assert_eq(f->srv.accepted, 3);
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	KEEL_END(f);
}

/* A task that returns without closing its socket: the peer sees the end
 * of the stream all the same. */
KEEL_TEST(server, ending_task_closes_the_socket, struct srv_frame)
{
	KEEL_BEGIN(f);
	start_listener(f, cx);
	f->tmpl.quit = true;
	cr_assert_eq(start_server(f, cx), 0);
	KT_AWAIT(f, keel_tcp_connect(cx, &f->c[0], &f->la));
	cr_assert_eq(f->r, 0);
	KT_AWAIT(f, keel_tcp_read(cx, &f->c[0], f->buf, sizeof(f->buf)));
	cr_assert_eq(f->r, 0, "end of stream: %s", keel_strerror((int)f->r));
	WAIT_UNTIL(f, atomic_load(&drops) == 1);
	cr_assert_eq(atomic_load(&open_at_drop), 1);
	cr_assert_eq(keel_tcp_close(&f->c[0]), 0);
	keel_join_cancel(f->sj);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->sj));
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	KEEL_END(f);
}

/* Stopping the server leaves its connections running; one ends after the
 * server is gone, another is cancelled when the runtime is destroyed
 * (both touch what the server shared: ASan checks it is still there). */
KEEL_TEST(server, connections_outlive_their_server, struct srv_frame)
{
	KEEL_BEGIN(f);
	start_listener(f, cx);
	cr_assert_eq(start_server(f, cx), 0);
	for (f->i = 0; f->i < 2; f->i++) {
		KT_AWAIT(f, keel_tcp_connect(cx, &f->c[f->i], &f->la));
		cr_assert_eq(f->r, 0);
		ECHO(f, f->i);
	}
	keel_join_cancel(f->sj);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->sj));
	cr_assert_eq(f->r, -ECANCELED);
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	ECHO(f, 0);
	ECHO(f, 1);
	cr_assert_eq(keel_tcp_close(&f->c[0]), 0);
	WAIT_UNTIL(f, atomic_load(&drops) == 1);
	/* c[1] and its connection task are left to the runtime's teardown. */
	KEEL_END(f);
}

KEEL_TEST(server, bad_servers_are_refused, struct srv_frame)
{
	KEEL_BEGIN(f);
	start_listener(f, cx);
	f->srv.poll = NULL;
	cr_assert_eq(keel_tcp_serve(cx, &f->l, &f->srv), -EINVAL, "no poll");
	f->srv.poll = econn;
	f->srv.sock_off = 0;
	cr_assert_eq(keel_tcp_serve(cx, &f->l, &f->srv), -EINVAL, "socket at 0");
	f->srv.sock_off = sizeof(struct econn);
	cr_assert_eq(keel_tcp_serve(cx, &f->l, &f->srv), -EINVAL, "socket past the end");
	f->srv.sock_off = offsetof(struct econn, sock);
	f->srv.peer_off = sizeof(struct econn) - 1;
	cr_assert_eq(keel_tcp_serve(cx, &f->l, &f->srv), -EINVAL, "peer past the end");
	f->srv.peer_off = 0;
	f->srv.size = 0;
	cr_assert_eq(keel_tcp_serve(cx, &f->l, &f->srv), -EINVAL, "size 0");
	f->srv.size = sizeof(struct econn);
	cr_assert_null(f->srv.conns, "nothing allocated for a bad server");
	cr_assert_eq(keel_tcp_serve(cx, &f->l, NULL), -EINVAL);
	/* A listener that is not open ends the loop at once. */
	cr_assert_eq(keel_tcp_close(&f->l), 0);
	cr_assert_eq(keel_tcp_serve(cx, &f->l, &f->srv), -EBADF);
	cr_assert_not_null(f->srv.conns);
	keel_tcp_server_close(&f->srv);
	cr_assert_null(f->srv.conns);
	keel_tcp_server_close(&f->srv); /* idempotent */
	KEEL_END(f);
}
