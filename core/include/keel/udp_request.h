/* SPDX-License-Identifier: MIT */
/** \file
 * A UDP request: send, wait for the answer with a timeout, send again,
 * and ignore what is not the answer — what every UDP client writes by hand.
 *
 *     f->req = (struct keel_udp_req){
 *         .msg = f->query, .len = f->qlen, .buf = f->ans, .cap = sizeof f->ans,
 *         .peer = f->server, .timeout = 500 * KEEL_MS, .attempts = 3,
 *         .id_len = 2,      // the answer echoes the query's first 2 bytes
 *     };
 *     KEEL_AWAIT(f, f->n, keel_udp_request(cx, &f->sock, &f->req));
 *
 * The request object is caller-allocated (in the frame) and holds the
 * progress between polls, like keel_tcp_write_all's counter. A datagram is
 * the answer when it comes from `peer` (address and port) and, when set,
 * carries the request's bytes [id_off, id_off + id_len) at the same place
 * and passes `match`; anything else — another peer, an answer to an earlier
 * request — is counted in `ignored` and dropped. After `timeout` with no
 * answer the request is sent again, `attempts` times in all (the wait
 * doubles each time with `backoff`).
 *
 * Works on every driver. On the kernel driver, keel_udp_connect(s, peer)
 * first also makes the kernel drop other peers' datagrams and turns an ICMP
 * "port unreachable" into -ECONNREFUSED at once; on the other drivers it
 * returns -ENOTSUP and the filtering here does the same job.
 */
#ifndef KEEL_UDP_REQUEST_H
#define KEEL_UDP_REQUEST_H

#include <keel/time.h>
#include <keel/udp.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Whether \p reply (\p len bytes, cut to the buffer) answers the request. */
typedef bool keel_udp_match_fn(void *arg, const void *reply, size_t len);

/** The wait for one attempt when `timeout` is 0. */
#define KEEL_UDP_REQ_TIMEOUT KEEL_SEC

/** A request. Zero-initialise, set the inputs, await keel_udp_request. */
struct keel_udp_req {
	/* in: borrowed until the request is done */
	const void *msg;	  /* the request datagram */
	size_t len;
	void *buf;		  /* where the answer goes */
	size_t cap;
	struct keel_addr peer;	  /* who answers */
	uint64_t timeout;	  /* ns to wait after each send; 0: 1 s */
	unsigned attempts;	  /* sends in all; 0: 1 (no retry) */
	bool backoff;		  /* double the wait after each attempt */
	size_t id_off, id_len;	  /* bytes the answer must echo; 0: none */
	keel_udp_match_fn *match; /* further check, or NULL */
	void *match_arg;

	/* out: valid once ready (and while it runs) */
	unsigned sent;		  /* attempts sent */
	unsigned ignored;	  /* datagrams that were not the answer */
	struct keel_addr from;	  /* scratch: sender of the last datagram */

	/* private */
	struct keel_timer timer;
	uint64_t deadline, wait;
	uint8_t state;
};

/**
 * Run request \p r on socket \p s (a poll function: KEEL_AWAIT it). Ready
 * with the answer's length in r->buf; -EMSGSIZE when it was longer than
 * r->cap (r->buf holds its first cap bytes); -ETIMEDOUT when no answer
 * came after the last attempt; -ECONNREFUSED on a connected kernel socket
 * whose peer has no such port; -EINVAL for a bad request; or the send's or
 * receive's error. Once ready, r is idle again: awaiting it again sends a
 * new request. The socket's receive side is the request's while it runs.
 */
intptr_t keel_udp_request(struct keel_cx *cx, struct keel_udp *s,
			  struct keel_udp_req *r);

/** Abandon a request in progress (its timer stops); r is idle again.
 *  Not needed when the task ends: its timers are disarmed then. */
void keel_udp_request_cancel(struct keel_udp_req *r);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_UDP_REQUEST_H */
