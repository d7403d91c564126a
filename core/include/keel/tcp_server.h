/* SPDX-License-Identifier: MIT */
/** \file
 * A connection server: accept in a loop and run one task per connection,
 * at most `max_conns` at a time, each closing its socket when it ends.
 *
 *     struct conn {                   // one connection's frame
 *         struct keel_co co;
 *         struct keel_tcp sock;       // the accepted socket, filled in
 *         struct keel_addr peer;      // optional: who connected
 *         char buf[4096];
 *         ...
 *     };
 *
 *     f->srv = (struct keel_tcp_server){
 *         KEEL_TCP_CONN(conn, NULL, struct conn, sock),
 *         .peer_off = offsetof(struct conn, peer), .max_conns = 512,
 *     };
 *     KEEL_AWAIT(f, f->r, keel_tcp_serve(cx, &f->listener, &f->srv));
 *
 * Each accepted connection gets a new task whose frame is a copy of
 * `init` (or zeros) with the socket moved in at `sock_off` and the peer
 * written at `peer_off`. When the task ends — returned, failed or
 * cancelled — its `drop` runs, then the server closes the socket if the
 * task has not. At `max_conns` live connections the server stops
 * accepting (new ones wait in the listener's backlog) until one ends.
 * Accept errors that a retry can cure (out of descriptors or memory) are
 * logged and retried after 100 ms instead of spinning.
 *
 * Connection tasks are detached: stopping the server (cancelling its task,
 * then keel_tcp_server_close) leaves the connections running to their end;
 * the runtime cancels those still alive when it is destroyed.
 */
#ifndef KEEL_TCP_SERVER_H
#define KEEL_TCP_SERVER_H

#include <keel/tcp.h>
#include <keel/time.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Live connections when max_conns is 0. */
#define KEEL_TCP_SERVER_MAX_CONNS 1024

struct keel__tcp_conns;

/** A server. Zero-initialise, fill the inputs (KEEL_TCP_CONN), await
 *  keel_tcp_serve, and call keel_tcp_server_close when done with it. */
struct keel_tcp_server {
	/* in */
	keel_poll_fn *poll;  /* a connection's task */
	keel_drop_fn *drop;  /* its frame's drop, or NULL */
	size_t size;	     /* its frame's size */
	size_t sock_off;     /* offset of its struct keel_tcp (never 0) */
	size_t peer_off;     /* offset of a struct keel_addr, 0: none */
	const void *init;    /* frame template (size bytes, borrowed), or NULL */
	unsigned max_conns;  /* 0: KEEL_TCP_SERVER_MAX_CONNS */

	/* out */
	uint64_t accepted;   /* connections handed to a task */
	uint64_t errors;     /* accept or spawn failures */

	/* private */
	struct keel__tcp_conns *conns;
	struct keel_tcp pending;
	struct keel_addr peer;
	struct keel_timer backoff;
	uint8_t state;
};

/** The connection inputs of a server, as designated initialisers:
 *  task \p poll with \p drop over frames of \p type whose socket member is
 *  \p sock. */
#define KEEL_TCP_CONN(poll_fn, drop_fn, type, sock)                            \
	.poll = (poll_fn), .drop = (drop_fn), .size = sizeof(type),            \
	.sock_off = offsetof(type, sock)

/**
 * Serve listener \p l with \p srv (a poll function: KEEL_AWAIT it). It
 * runs until the listener fails: ready only with that error (-EBADF when
 * it was closed, -EINVAL for a bad server: no poll, size 0, sock_off 0 or
 * past the frame; -ENOMEM). Cancel the task to stop it.
 */
intptr_t keel_tcp_serve(struct keel_cx *cx, struct keel_tcp *l,
			struct keel_tcp_server *srv);

/** Connections alive now (any thread). */
unsigned keel_tcp_server_live(const struct keel_tcp_server *srv);

/**
 * Release what the server holds (for its frame's drop): a connection
 * accepted but not yet handed over is closed. Live connections are not
 * touched. Idempotent; \p srv may then be served again.
 */
void keel_tcp_server_close(struct keel_tcp_server *srv);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_TCP_SERVER_H */
