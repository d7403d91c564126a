/* SPDX-License-Identifier: MIT */
/*
 * keel_udp_request: a client's send / wait / resend loop over the UDP API,
 * as a poll function whose progress lives in the caller's request object.
 *
 * Each poll runs the state machine as far as it can: SEND sends once and
 * sets the deadline of the attempt; WAIT drains the socket, dropping what
 * is not the answer, and when nothing is left checks the attempt's timer.
 * keel_coop inside the receive bounds the work one poll does, so a flood of
 * foreign datagrams cannot hold the worker.
 */
#include <errno.h>
#include <keel/udp_request.h>
#include <string.h>

enum { REQ_IDLE, REQ_SEND, REQ_WAIT };

static intptr_t finish(struct keel_udp_req *r, intptr_t result)
{
	keel_timer_stop(&r->timer);
	r->state = REQ_IDLE;
	return result;
}

static bool is_answer(const struct keel_udp_req *r, size_t kept)
{
	if (!keel_addr_equal(&r->from, &r->peer))
		return false;
	if (r->id_len) {
		if (kept < r->id_off + r->id_len)
			return false;
		if (memcmp((const char *)r->buf + r->id_off,
			   (const char *)r->msg + r->id_off, r->id_len) != 0)
			return false;
	}
	return !r->match || r->match(r->match_arg, r->buf, kept);
}

static int start(struct keel_udp_req *r)
{
	if ((!r->msg && r->len) || !r->buf || !r->cap ||
	    (r->id_len && (r->id_off + r->id_len > r->len ||
			   r->id_off + r->id_len < r->id_off)))
		return -EINVAL;
	r->sent = 0;
	r->ignored = 0;
	r->wait = r->timeout ? r->timeout : KEEL_UDP_REQ_TIMEOUT;
	r->state = REQ_SEND;
	return 0;
}

intptr_t keel_udp_request(struct keel_cx *cx, struct keel_udp *s,
			  struct keel_udp_req *r)
{
	intptr_t n;
	int rc;

	if (!r)
		return -EINVAL;
	if (r->state == REQ_IDLE && (rc = start(r)) < 0)
		return rc;
	for (;;) {
		if (r->state == REQ_SEND) {
			n = keel_udp_send_to(cx, s, r->msg, r->len, &r->peer);
			if (n == KEEL_PENDING)
				return KEEL_PENDING;
			if (n < 0)
				return finish(r, n);
			r->sent++;
			r->deadline = keel_now(cx) + r->wait;
			r->state = REQ_WAIT;
		}
		n = keel_udp_recv_from(cx, s, r->buf, r->cap, &r->from);
		if (n == KEEL_PENDING) {
			if (keel_sleep_until(cx, &r->timer, r->deadline) ==
			    KEEL_PENDING)
				return KEEL_PENDING;
			if (r->sent >= (r->attempts ? r->attempts : 1))
				return finish(r, -ETIMEDOUT);
			if (r->backoff && r->wait < UINT64_MAX / 2)
				r->wait *= 2;
			r->state = REQ_SEND;
			continue;
		}
		if (n < 0 && n != -EMSGSIZE)
			return finish(r, n);
		if (is_answer(r, n < 0 ? r->cap : (size_t)n))
			return finish(r, n);
		r->ignored++;
	}
}

void keel_udp_request_cancel(struct keel_udp_req *r)
{
	if (r)
		finish(r, 0);
}
