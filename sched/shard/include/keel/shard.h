/* SPDX-License-Identifier: MIT */
/** \file
 * sched/shard: one worker per core, tasks never migrate, and a message API
 * between shards (--sched=shard, --workers=N, default: one per online
 * CPU). Link keel_sched_shard.
 *
 * Every shard has its own run queue, timers and driver instances. To use N
 * cores for one UDP port, start one task per shard (keel_shard_spawn) and
 * bind the port in each with keel_udp_opts.reuseport: the kernel spreads
 * the flows over the sockets.
 *
 * The calls below also work on the other schedulers, as if there were one
 * shard: keel_shard_spawn(cx, 0, ...) is keel_spawn.
 */
#ifndef KEEL_SHARD_H
#define KEEL_SHARD_H

#include <keel/sched.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const struct keel_sched_ops keel_sched_shard;

/** Number of shards of the runtime polling \p cx (1 if not sharded). */
unsigned keel_shard_count(struct keel_cx *cx);

/** The shard \p cx runs on (its worker index). */
unsigned keel_shard_id(struct keel_cx *cx);

/**
 * Run a future on shard \p shard: the frame is copied now, on this shard,
 * and the task is handed over through the single-producer/single-consumer
 * ring from this shard to that one. \p join (or NULL) can be awaited on
 * any shard: that is how the result comes back.
 * \return 0; -EINVAL (bad argument, shard out of range); -ENOBUFS when the
 *         ring to that shard is full (nothing was sent: shed or retry
 *         later); -ENOMEM.
 */
int keel_shard_spawn(struct keel_cx *cx, unsigned shard, keel_poll_fn *poll,
		     keel_drop_fn *drop, const void *frame, size_t size,
		     struct keel_join **join);

/** keel_shard_spawn with a compound-literal frame, like KEEL_SPAWN. */
#define KEEL_SPAWN_ON(cx, shard, poll, drop, join, type, ...)                  \
	keel_shard_spawn((cx), (shard), (poll), (drop), &(type){ __VA_ARGS__ },\
			 sizeof(type), (join))

/**
 * Run the plain function \p fn(\p arg) once on shard \p shard; its return
 * value is the task's result. Same returns as keel_shard_spawn.
 */
int keel_shard_call(struct keel_cx *cx, unsigned shard,
		    intptr_t (*fn)(void *arg), void *arg,
		    struct keel_join **join);

/** Messages shard \p shard sent to others, and those refused (ring full).
 *  0, or -EINVAL when not sharded or out of range. */
int keel_shard_stats(struct keel_cx *cx, unsigned shard, uint64_t *sent,
		     uint64_t *refused);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_SHARD_H */
