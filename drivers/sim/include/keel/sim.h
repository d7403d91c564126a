/* SPDX-License-Identifier: MIT */
/** \file
 * The simulation driver: an in-memory UDP network on the worker's clock,
 * with faults drawn from a seeded generator, so that keel's own retrying
 * and timing code can be tested under loss, duplication, reordering, delay,
 * corruption and partitions that a real network shows only by chance.
 *
 * Link it with the `keel_drv_sim` meson dependency; select it with
 * `--driver=sim[:ARGS]`, ARGS a comma-separated list of
 *   seed=N      the generator's seed (default 1)
 *   loss=P      probability a datagram is lost (0..1, default 0)
 *   dup=P       probability it is delivered twice
 *   reorder=P   probability it is held back 1..(delay+4) ms more, so
 *               that later datagrams overtake it
 *   delay=MS    one-way delay, milliseconds (default 0)
 *   corrupt=P   probability one payload byte is flipped
 *   qlen=N      datagrams a socket queues before dropping (default 256)
 *   ip=A        the address a socket bound to 0.0.0.0 sends from
 *               (default 10.0.0.1)
 *   echo=A:P    a host at A:P that sends every datagram back (faults
 *               apply both ways); up to 4, joined with '+'
 *
 * Any IPv4 address can be bound: each is a host. Datagrams go from socket
 * to socket through the faults; a socket bound to 0.0.0.0 receives for
 * every address. IPv6 is -EAFNOSUPPORT, the kernel-only options other
 * than broadcast -ENOTSUP.
 *
 * Determinism: the faults of each datagram are drawn, in a fixed order,
 * when it is sent; time is the worker's (keel_now), and a delayed datagram
 * is received when a timer armed by its reader fires, so on the test clock
 * (KEEL_TEST_PAUSED, keel_config.test_clock) a run is a pure function of
 * the seed and the program. Every event (send, loss, duplicate, delivery,
 * ...) is folded into a trace hash: the same seed gives the same hash,
 * printed at exit with --stats and read with keel_sim_stats_get.
 *
 * One network per worker, touched only by that worker. A socket belongs to
 * the worker that opened it, so on pool and steal a task's socket
 * operations run there (core moves the task home); sockets that talk to
 * each other must be opened on one worker (in one task, or keel_spawn_on).
 */
#ifndef KEEL_SIM_H
#define KEEL_SIM_H

#include <keel/driver.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The driver, for keel_cx_driver() and for the link (see driver.h). */
extern const struct keel_driver_ops keel_drv_sim;

/** What the network did; all monotonic. */
struct keel_sim_stats {
	uint64_t sent;	       /**< datagrams handed to the network */
	uint64_t delivered;    /**< datagrams received by a socket */
	uint64_t lost;	       /**< dropped by loss=P */
	uint64_t duplicated;   /**< extra copies made by dup=P */
	uint64_t reordered;    /**< held back by reorder=P */
	uint64_t corrupted;    /**< a byte flipped by corrupt=P */
	uint64_t partitioned;  /**< dropped: the hosts are cut apart */
	uint64_t no_socket;    /**< dropped: nothing bound to the destination */
	uint64_t queue_full;   /**< dropped: the socket's queue was full */
	uint64_t echoed;       /**< sent back by an echo host */
	uint64_t trace;	       /**< hash of every event so far, in order */
};

/**
 * The counters of the simulated network of the worker polling \p cx.
 * \return 0, -EINVAL (NULL), -ENOENT (the runtime has no sim driver).
 */
int keel_sim_stats_get(struct keel_cx *cx, struct keel_sim_stats *out);

/**
 * Cut (\p cut true) or heal the link between the hosts of \p a and \p b
 * (ports ignored), both ways. Datagrams in flight keep going.
 * \return 0, -EINVAL (NULL, not IPv4), -ENOENT (no sim driver), -ENOSPC
 *         (16 cuts already).
 */
int keel_sim_partition(struct keel_cx *cx, const struct keel_addr *a,
		       const struct keel_addr *b, bool cut);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_SIM_H */
