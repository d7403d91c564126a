/* SPDX-License-Identifier: MIT */
/* core/udp_request.c on the kernel driver: answers, retries, datagrams that
 * are not the answer, timeouts with back-off, truncation, cancel, and the
 * connected socket (keel_udp_connect).
 *
 * Tests with a responder task run on the real clock: on a multi-worker
 * scheduler the test clock may move on while another worker still has a
 * datagram to deliver, which would turn into a spurious resend. They wait
 * KT_LIMIT per attempt where a count must be exact, and assert bounds where
 * a resend is the point. The timeout test has no second task: it runs on
 * the test clock, exact to the tick. */
#include "ktest.h"

#include <keel/udp_request.h>
#include <stdatomic.h>

/* ------------------------------------------------------------- responder */

/* Answers requests on *s: ignores the first `drop` of them, sends a stale
 * answer (first byte changed) before the real one when `stale`, and
 * answers with the request plus `extra` bytes. Returns how many requests
 * it received once it has answered `answers` of them. */
struct responder {
	struct keel_co co;
	intptr_t r;
	struct keel_udp *s;
	unsigned drop, answers, seen, answered, extra;
	bool stale;
	struct keel_addr peer;
	char buf[256];
	size_t n;
};

static intptr_t responder(void *frame, struct keel_cx *cx)
{
	struct responder *f = frame;

	KEEL_BEGIN(f);
	while (f->answered < f->answers) {
		KEEL_AWAIT(f, f->r, keel_udp_recv_from(cx, f->s, f->buf, 128, &f->peer));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
		f->seen++;
		if (f->seen <= f->drop)
			continue;
		f->n = (size_t)f->r;
		if (f->stale) {
			f->buf[0] ^= 0x55;
			KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, f->s, f->buf, f->n, &f->peer));
			f->buf[0] ^= 0x55;
		}
		memset(f->buf + f->n, '!', f->extra);
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, f->s, f->buf,
						     f->n + f->extra, &f->peer));
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
		f->answered++;
	}
	KEEL_RETURN(f, f->seen);
	KEEL_END(f);
}

struct req_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp client, server, rogue;
	struct keel_addr ca, sa;
	struct keel_join *srv;
	struct keel_udp_req req;
	uint64_t t0;
	char ans[64];
};

/* Bind client, server and rogue on 127.0.0.1. */
static void bind_three(struct req_frame *f, struct keel_cx *cx)
{
	struct keel_addr any = kt_addr("127.0.0.1", 0);

	cr_assert_eq(keel_udp_bind(cx, &f->client, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->server, &any, NULL), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->rogue, &any, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->client, &f->ca), 0);
	cr_assert_eq(keel_udp_local_addr(&f->server, &f->sa), 0);
}

static void close_three(struct req_frame *f)
{
	cr_assert_eq(keel_udp_close(&f->client), 0);
	cr_assert_eq(keel_udp_close(&f->server), 0);
	cr_assert_eq(keel_udp_close(&f->rogue), 0);
}

static struct keel_udp_req request(struct req_frame *f, const char *msg)
{
	return (struct keel_udp_req){
		.msg = msg, .len = strlen(msg), .buf = f->ans,
		.cap = sizeof(f->ans), .peer = f->sa, .timeout = KT_LIMIT,
		.attempts = 3, .id_len = 4,
	};
}

/* ------------------------------------------------------------------ tests */

KEEL_TEST(request, answered_at_once, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx);
	cr_assert_eq(KEEL_SPAWN(cx, responder, NULL, &f->srv, struct responder,
				.s = &f->server, .answers = 1, .extra = 1), 0);
	f->req = request(f, "id01 hello");
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, 11, "the answer's length: %s", keel_strerror((int)f->r));
	cr_assert_arr_eq(f->ans, "id01 hello!", 11);
	cr_assert_eq(f->req.sent, 1);
	cr_assert_eq(f->req.ignored, 0);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->srv));
	cr_assert_eq(f->r, 1);
	close_three(f);
	KEEL_END(f);
}

KEEL_TEST(request, resent_until_answered, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx);
	cr_assert_eq(KEEL_SPAWN(cx, responder, NULL, &f->srv, struct responder,
				.s = &f->server, .answers = 1, .drop = 2), 0);
	f->req = request(f, "id02 again");
	f->req.timeout = 50 * KEEL_MS;
	f->req.attempts = 50;
	f->t0 = keel_now(cx);
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, 10, "%s", keel_strerror((int)f->r));
	cr_assert_geq(f->req.sent, 3, "two were dropped: resent at least twice");
	cr_assert_geq(keel_now(cx) - f->t0, 100 * KEEL_MS, "a timeout per resend");
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->srv));
	cr_assert_geq(f->r, 3, "the server saw the resends");
	cr_assert_leq(f->r, f->req.sent);
	close_three(f);
	KEEL_END(f);
}

/* A datagram from another peer and a stale answer (wrong id) are dropped;
 * the right answer is returned, without a resend. */
KEEL_TEST(request, others_and_stale_answers_are_ignored, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx);
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->rogue, "id03 junk", 9, &f->ca));
	cr_assert_eq(f->r, 9);
	cr_assert_eq(KEEL_SPAWN(cx, responder, NULL, &f->srv, struct responder,
				.s = &f->server, .answers = 1, .stale = true), 0);
	f->req = request(f, "id03 which");
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, 10, "%s", keel_strerror((int)f->r));
	cr_assert_arr_eq(f->ans, "id03 which", 10);
	cr_assert_eq(f->req.ignored, 2, "the rogue's datagram and the stale answer");
	cr_assert_eq(f->req.sent, 1);
	cr_assert(keel_addr_equal(&f->req.from, &f->sa));
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->srv));
	close_three(f);
	KEEL_END(f);
}

static bool ends_with_bang(void *arg, const void *reply, size_t len)
{
	atomic_fetch_add((atomic_uint *)arg, 1);
	return len > 0 && ((const char *)reply)[len - 1] == '!';
}

KEEL_TEST(request, match_callback_decides, struct req_frame)
{
	static atomic_uint calls;

	KEEL_BEGIN(f);
	bind_three(f, cx);
	atomic_store(&calls, 0);
	cr_assert_eq(KEEL_SPAWN(cx, responder, NULL, &f->srv, struct responder,
				.s = &f->server, .answers = 2, .drop = 0), 0);
	f->req = request(f, "id04 plain");
	f->req.match = ends_with_bang;
	f->req.match_arg = &calls;
	f->req.attempts = 2;
	f->req.timeout = 200 * KEEL_MS;
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, -ETIMEDOUT, "no answer ends with '!': %s",
		     keel_strerror((int)f->r));
	cr_assert_geq(atomic_load(&calls), 1, "asked about the answers");
	cr_assert_eq(f->req.ignored, atomic_load(&calls), "one call per answer");
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->srv));
	close_three(f);
	KEEL_END(f);
}

KEEL_TEST_PAUSED(request, times_out_with_backoff, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx); /* the server never answers */
	f->req = request(f, "id05 anyone");
	f->req.timeout = KEEL_SEC;
	f->req.backoff = true;
	f->t0 = keel_now(cx);
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, -ETIMEDOUT);
	cr_assert_eq(f->req.sent, 3);
	cr_assert_geq(keel_now(cx) - f->t0, 7 * KEEL_SEC, "1 + 2 + 4 s");
	cr_assert_lt(keel_now(cx) - f->t0, 8 * KEEL_SEC);
	/* Idle again: a second await is a new request. */
	f->req.attempts = 1;
	f->req.backoff = false;
	f->t0 = keel_now(cx);
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, -ETIMEDOUT);
	cr_assert_eq(f->req.sent, 1);
	cr_assert_geq(keel_now(cx) - f->t0, KEEL_SEC);
	cr_assert_lt(keel_now(cx) - f->t0, 2 * KEEL_SEC);
	close_three(f);
	KEEL_END(f);
}

KEEL_TEST(request, long_answer_is_cut_and_said, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx);
	cr_assert_eq(KEEL_SPAWN(cx, responder, NULL, &f->srv, struct responder,
				.s = &f->server, .answers = 1, .extra = 100), 0);
	f->req = request(f, "id06 big");
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, -EMSGSIZE);
	cr_assert_arr_eq(f->ans, "id06 big!!", 10, "the first cap bytes kept");
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->srv));
	close_three(f);
	KEEL_END(f);
}

/* Cut short from outside (a timeout around it): cancel stops its timer,
 * and the object can be used again. */
KEEL_TEST(request, cancel_stops_the_timer, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx);
	f->req = request(f, "id07 slow");
	KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 100 * KEEL_MS,
			keel_udp_request(cx, &f->client, &f->req)));
	cr_assert_eq(f->r, -ETIMEDOUT);
	cr_assert(keel_timer_armed(&f->req.timer), "the attempt was still waiting");
	keel_udp_request_cancel(&f->req);
	cr_assert_not(keel_timer_armed(&f->req.timer));
	cr_assert_eq(KEEL_SPAWN(cx, responder, NULL, &f->srv, struct responder,
				.s = &f->server, .answers = 2), 0);
	/* The cut request's datagram is still queued at the server: its
	 * answer has the old id and is ignored. */
	f->req = request(f, "id08 next");
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, 9, "%s", keel_strerror((int)f->r));
	cr_assert_arr_eq(f->ans, "id08 next", 9);
	cr_assert_eq(f->req.ignored, 1, "the answer to the abandoned request");
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->srv));
	close_three(f);
	KEEL_END(f);
}

KEEL_TEST(request, bad_requests_are_refused, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx);
	f->req = request(f, "id");
	cr_assert_eq(keel_udp_request(cx, &f->client, &f->req), -EINVAL,
		     "id_len past the message");
	f->req = request(f, "id09");
	f->req.buf = NULL;
	cr_assert_eq(keel_udp_request(cx, &f->client, &f->req), -EINVAL);
	cr_assert_eq(keel_udp_request(cx, &f->client, NULL), -EINVAL);
	f->req = request(f, "id09");
	cr_assert_eq(keel_udp_request(cx, &(struct keel_udp){ 0 }, &f->req), -EBADF);
	cr_assert_eq(f->req.state, 0, "idle after an error");
	cr_assert_eq(keel_udp_connect(&f->client, NULL), -EINVAL);
	cr_assert_eq(keel_udp_connect(&(struct keel_udp){ 0 }, &f->sa), -EBADF);
	close_three(f);
	KEEL_END(f);
}

/* ----------------------------------------------------- connected socket */

/* Connected, the kernel drops the rogue's datagrams before we see them. */
KEEL_TEST(request, connected_socket_filters_in_the_kernel, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx);
	cr_assert_eq(keel_udp_connect(&f->client, &f->sa), 0);
	KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->rogue, "id10 junk", 9, &f->ca));
	cr_assert_eq(f->r, 9);
	cr_assert_eq(KEEL_SPAWN(cx, responder, NULL, &f->srv, struct responder,
				.s = &f->server, .answers = 1), 0);
	f->req = request(f, "id10 conn");
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, 9, "%s", keel_strerror((int)f->r));
	cr_assert_eq(f->req.ignored, 0, "the rogue's datagram never arrived");
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->srv));
	close_three(f);
	KEEL_END(f);
}

/* Connected to a port nobody listens on: the ICMP error ends the request
 * at once instead of after every attempt. */
KEEL_TEST(request, connected_socket_reports_refused, struct req_frame)
{
	KEEL_BEGIN(f);
	bind_three(f, cx);
	cr_assert_eq(keel_udp_close(&f->server), 0); /* sa: nobody there now */
	cr_assert_eq(keel_udp_connect(&f->client, &f->sa), 0);
	f->req = request(f, "id11 hello?");
	f->t0 = keel_now(cx);
	KEEL_AWAIT(f, f->r, keel_udp_request(cx, &f->client, &f->req));
	cr_assert_eq(f->r, -ECONNREFUSED, "%s", keel_strerror((int)f->r));
	cr_assert_lt(keel_now(cx) - f->t0, KT_LIMIT, "before the first timeout");
	cr_assert_eq(keel_udp_close(&f->client), 0);
	cr_assert_eq(keel_udp_close(&f->rogue), 0);
	KEEL_END(f);
}
