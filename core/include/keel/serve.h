/* SPDX-License-Identifier: MIT */
/** \file
 * Spreading a service over the workers: a task on a chosen worker, one
 * task on every worker, and the request-to-reply UDP server.
 *
 * A handle belongs to the worker that opened it (docs/architecture.md), so
 * a service uses N workers by opening its socket N times, once on each,
 * all bound to the same address: SO_REUSEPORT on the kernel driver (the
 * kernel hashes each flow to one socket), one AF_XDP socket per queue on
 * xdp and one DPDK queue per worker on dpdk (the NIC's RSS hashes each
 * flow to one queue). Two ways to write it:
 *
 * - keel_udp_serve: the application gives a plain function, a datagram in
 *   and its reply out; keel binds on every worker, receives in batches
 *   (the zero-copy calls), calls the function and sends the replies.
 * - keel_spawn_each: the application's own async function runs once on
 *   every worker, and each copy binds the address with
 *   keel_udp_opts.reuseport (after a first bind resolved a port 0).
 */
#ifndef KEEL_SERVE_H
#define KEEL_SERVE_H

#include <keel/combine.h>
#include <keel/udp.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The number of workers of the runtime polling \p cx. */
unsigned keel_cx_workers(struct keel_cx *cx);

/**
 * keel_spawn on worker \p worker (0 .. keel_cx_workers - 1), on every
 * scheduler: the task is polled there from its first step on (on pool and
 * steal it is homed there, see keel_cx_home). The frame is copied now.
 * \return 0, -EINVAL (bad argument, no such worker), -ENOMEM.
 */
int keel_spawn_on(struct keel_cx *cx, unsigned worker, keel_poll_fn *poll,
		  keel_drop_fn *drop, const void *frame, size_t size,
		  struct keel_join **join);

/**
 * One copy of \p frame on every worker (keel_spawn_on), into group \p g
 * (keel/combine.h: await them with keel_group_join, stop them with
 * keel_group_shutdown, keel_group_destroy in the drop). A copy learns its
 * worker with keel_worker_index(keel_cx_worker(cx)).
 * \return 0, -EINVAL, -ENOMEM (the copies spawned are in \p g).
 */
int keel_spawn_each(struct keel_cx *cx, struct keel_group *g,
		    keel_poll_fn *poll, keel_drop_fn *drop, const void *frame,
		    size_t size);

/** keel_spawn_each with a compound-literal frame, like KEEL_SPAWN. */
#define KEEL_SPAWN_EACH(cx, g, poll, drop, type, ...)                          \
	keel_spawn_each((cx), (g), (poll), (drop), &(type){ __VA_ARGS__ },     \
			sizeof(type))

/** One datagram given to a keel_udp_serve_fn, and the room for its reply. */
struct keel_udp_dgram {
	void *data;		/* the datagram; write the reply over it */
	size_t len;		/* the datagram's length */
	size_t cap;		/* bytes data can hold: the longest reply */
	struct keel_addr peer;	/* the sender; the reply goes there */
	unsigned worker;	/* the worker serving it (0-based) */
};

/**
 * A request-to-reply service: write the reply into req->data and return
 * its length (0 .. req->cap), or return a negative value for no reply.
 * Called on every worker, possibly at the same time: \p ctx is shared,
 * per-worker state is indexed by req->worker. It must not block. \p ctx
 * must outlive the service's loops, which end on their own workers after
 * the service is cancelled, possibly after its canceller is gone: with
 * keel_udp_serve keep it until the runtime is destroyed, or hand it to
 * the service with keel_udp_serve_owned, which releases it after the
 * last loop.
 */
typedef ssize_t keel_udp_serve_fn(void *ctx, struct keel_udp_dgram *req);

/** Datagrams keel_udp_serve takes per receive call, on each worker. */
#define KEEL_UDP_SERVE_BATCH 32

/**
 * Serve \p fn on \p addr on every worker of the runtime; await it
 * (KEEL_AWAIT, KEEL_TRY) with \p *join NULL at the first call:
 *
 *     KEEL_TRY(f, f->r, keel_udp_serve(cx, &f->addr, NULL, echo, NULL,
 *                                      &f->service));
 *
 * The first call binds \p addr on the calling worker (an error returns at
 * once, \p *join stays NULL), writes the address bound into \p addr (the
 * port the system chose for port 0) and starts the service, \p *join its
 * handle. Each other worker then binds the same address, with
 * keel_udp_opts.reuseport set (\p opts, may be NULL, gives the rest). The
 * call is ready with 0 once the address is bound on every worker, so
 * that no datagram finds a queue without a socket, or with the first
 * error of a worker (the service then stops; still await or abort
 * \p *join).
 *
 * The service runs until it is cancelled (keel_join_abort in the caller's
 * drop; not while this call is pending) or the runtime is torn down;
 * awaiting \p *join yields the first error of a worker. Replies the
 * driver refuses to send are dropped, and counted by the driver.
 * \return 0, -EINVAL, -ENOMEM, or keel_udp_bind's errors.
 */
intptr_t keel_udp_serve(struct keel_cx *cx, struct keel_addr *addr,
			const struct keel_udp_opts *opts,
			keel_udp_serve_fn *fn, void *ctx,
			struct keel_join **join);

/**
 * keel_udp_serve that owns \p ctx once started: \p release (may be NULL)
 * is called on it exactly once, after the service task and every loop
 * have ended (so \p fn is never called again) and the caller has its
 * answer, on the thread of whichever let go last (a worker's, or the one
 * destroying the runtime). A call that fails before the service started
 * (\p *join NULL after it) does not call it: \p ctx is still the caller's.
 * Await it by calling it again, as keel_udp_serve.
 */
intptr_t keel_udp_serve_owned(struct keel_cx *cx, struct keel_addr *addr,
			      const struct keel_udp_opts *opts,
			      keel_udp_serve_fn *fn, void *ctx,
			      keel_drop_fn *release, struct keel_join **join);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_SERVE_H */
