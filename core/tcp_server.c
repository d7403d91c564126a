/* SPDX-License-Identifier: MIT */
/*
 * keel_tcp_serve: the accept loop every TCP server writes, once.
 *
 * A connection task's frame is the user's frame behind a small header
 * (the shared block, the user's poll and drop, where the socket is), so
 * the task's drop can run the user's drop and then close the socket
 * whatever way the task ended. The server and its connection tasks share
 * one heap block, reference counted, holding the count of live
 * connections and the waker of a server waiting for a slot: a connection
 * that ends after its server is gone still finds valid memory, and on a
 * migrating scheduler it may end on any thread.
 *
 * The bound: the server registers its waker and re-checks the count under
 * the block's lock; a connection ends by decrementing under the same lock
 * and waking what it finds, so no wake is lost.
 */
#include <errno.h>
#include <keel/error.h>
#include <keel/log.h>
#include <keel/task.h>
#include <keel/tcp_server.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF (100 * KEEL_MS)

struct keel__tcp_conns {
	atomic_uint refs; /* the server's, and one per connection task */
	atomic_uint live;
	pthread_mutex_t lock;
	struct keel_waker waker; /* the server, waiting for a slot */
	size_t frame_cap;
	unsigned char *frame;	 /* the next task's frame, built here */
};

/* What precedes the user's frame in a connection task. */
struct conn_hdr {
	struct keel_co co; /* unused: the user's frame has its own */
	struct keel__tcp_conns *conns;
	keel_poll_fn *poll;
	keel_drop_fn *drop;
	size_t sock_off;
};

#define HDR_SIZE                                                               \
	((sizeof(struct conn_hdr) + alignof(max_align_t) - 1) &               \
	 ~(alignof(max_align_t) - 1))

enum { SRV_ACCEPT, SRV_BACKOFF };

static void conns_put(struct keel__tcp_conns *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	keel_waker_drop(&c->waker);
	pthread_mutex_destroy(&c->lock);
	free(c->frame);
	free(c);
}

static intptr_t conn_poll(void *frame, struct keel_cx *cx)
{
	struct conn_hdr *h = frame;

	return h->poll((unsigned char *)frame + HDR_SIZE, cx);
}

static void conn_drop(void *frame)
{
	struct conn_hdr *h = frame;
	unsigned char *user = (unsigned char *)frame + HDR_SIZE;
	struct keel_tcp *sock = (struct keel_tcp *)(void *)(user + h->sock_off);
	struct keel__tcp_conns *c = h->conns;
	struct keel_waker w;

	if (h->drop)
		h->drop(user);
	if (sock->ops)
		keel_tcp_close(sock);
	pthread_mutex_lock(&c->lock);
	atomic_fetch_sub(&c->live, 1);
	w = c->waker;
	c->waker = (struct keel_waker){ 0 };
	pthread_mutex_unlock(&c->lock);
	keel_waker_wake(&w);
	conns_put(c);
}

static int setup(struct keel_tcp_server *srv)
{
	struct keel__tcp_conns *c;

	if (!srv->poll || !srv->size || !srv->sock_off ||
	    srv->sock_off > srv->size - sizeof(struct keel_tcp) ||
	    srv->size < sizeof(struct keel_tcp) ||
	    (srv->peer_off &&
	     (srv->size < sizeof(struct keel_addr) ||
	      srv->peer_off > srv->size - sizeof(struct keel_addr))) ||
	    srv->size > SIZE_MAX - HDR_SIZE)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->frame_cap = HDR_SIZE + srv->size;
	c->frame = malloc(c->frame_cap);
	if (!c->frame) {
		free(c);
		return -ENOMEM;
	}
	atomic_init(&c->refs, 1);
	atomic_init(&c->live, 0);
	pthread_mutex_init(&c->lock, NULL);
	srv->conns = c;
	srv->state = SRV_ACCEPT;
	return 0;
}

/* Whether the server may accept now; if not, its waker is registered. */
static bool slot_free(struct keel_tcp_server *srv, struct keel_cx *cx)
{
	struct keel__tcp_conns *c = srv->conns;
	unsigned max = srv->max_conns ? srv->max_conns : KEEL_TCP_SERVER_MAX_CONNS;
	bool ok;

	if (atomic_load(&c->live) < max)
		return true;
	pthread_mutex_lock(&c->lock);
	ok = atomic_load(&c->live) < max;
	if (!ok)
		keel_waker_register(&c->waker, cx);
	pthread_mutex_unlock(&c->lock);
	return ok;
}

/* Move the accepted socket into a new connection task. */
static void hand_over(struct keel_tcp_server *srv, struct keel_cx *cx)
{
	struct keel__tcp_conns *c = srv->conns;
	struct conn_hdr h = { .conns = c, .poll = srv->poll, .drop = srv->drop,
			      .sock_off = srv->sock_off };
	unsigned char *user = c->frame + HDR_SIZE;
	char text[KEEL_ADDR_STRLEN];
	int rc;

	memset(c->frame, 0, HDR_SIZE);
	memcpy(c->frame, &h, sizeof(h));
	if (srv->init)
		memcpy(user, srv->init, srv->size);
	else
		memset(user, 0, srv->size);
	memcpy(user + srv->sock_off, &srv->pending, sizeof(srv->pending));
	if (srv->peer_off)
		memcpy(user + srv->peer_off, &srv->peer, sizeof(srv->peer));
	atomic_fetch_add(&c->refs, 1);
	atomic_fetch_add(&c->live, 1);
	rc = keel_spawn(cx, conn_poll, conn_drop, c->frame, c->frame_cap, NULL);
	if (rc < 0) {
		atomic_fetch_sub(&c->live, 1);
		atomic_fetch_sub(&c->refs, 1);
		keel_tcp_close(&srv->pending);
		srv->errors++;
		keel_log(KEEL_LOG_WARN, "keel: tcp server: cannot start a task "
			 "for %s: %s", keel_addr_format(&srv->peer, text, sizeof(text)),
			 keel_strerror(rc));
	} else {
		srv->accepted++;
		if (keel_log_enabled(KEEL_LOG_DEBUG))
			keel_log(KEEL_LOG_DEBUG, "keel: tcp server: connection from %s",
				 keel_addr_format(&srv->peer, text, sizeof(text)));
	}
	srv->pending = (struct keel_tcp){ 0 };
}

/* Errors of the listener itself end the loop; the rest pass. */
static bool fatal(intptr_t r)
{
	return r == -EBADF || r == -EINVAL || r == -ENOTSOCK ||
	       r == -ENOTSUP || r == -EOPNOTSUPP;
}

intptr_t keel_tcp_serve(struct keel_cx *cx, struct keel_tcp *l,
			struct keel_tcp_server *srv)
{
	intptr_t r;
	int rc;

	if (!cx || !l || !srv)
		return -EINVAL;
	if (!srv->conns && (rc = setup(srv)) < 0)
		return rc;
	for (;;) {
		if (srv->state == SRV_BACKOFF) {
			if (keel_sleep_for(cx, &srv->backoff, BACKOFF) == KEEL_PENDING)
				return KEEL_PENDING;
			srv->state = SRV_ACCEPT;
		}
		if (!slot_free(srv, cx))
			return KEEL_PENDING;
		r = keel_tcp_accept(cx, l, &srv->pending, &srv->peer);
		if (r == KEEL_PENDING)
			return KEEL_PENDING;
		if (r == 0) {
			hand_over(srv, cx);
			continue;
		}
		if (fatal(r))
			return r;
		/* Out of descriptors or memory: accepting again at once would
		 * spin; let connections end first. A connection reset before
		 * we took it is not worth a pause. */
		srv->errors++;
		if (r == -ECONNABORTED || r == -EPROTO || r == -EPERM)
			continue;
		keel_log(KEEL_LOG_WARN, "keel: tcp server: accept: %s; again in "
			 "100 ms", keel_strerror((int)r));
		srv->state = SRV_BACKOFF;
	}
}

unsigned keel_tcp_server_live(const struct keel_tcp_server *srv)
{
	return srv && srv->conns ? atomic_load(&srv->conns->live) : 0;
}

void keel_tcp_server_close(struct keel_tcp_server *srv)
{
	struct keel__tcp_conns *c;

	if (!srv)
		return;
	if (srv->pending.ops)
		keel_tcp_close(&srv->pending);
	keel_timer_stop(&srv->backoff);
	c = srv->conns;
	srv->conns = NULL;
	srv->state = SRV_ACCEPT;
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	keel_waker_drop(&c->waker);
	pthread_mutex_unlock(&c->lock);
	conns_put(c);
}
