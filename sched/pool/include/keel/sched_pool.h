/* SPDX-License-Identifier: MIT */
/** \file
 * sched/pool: N worker threads sharing one run queue (--sched=pool,
 * --workers=N, default: one per online CPU). Link keel_sched_pool.
 */
#ifndef KEEL_SCHED_POOL_H
#define KEEL_SCHED_POOL_H

#include <keel/sched.h>

extern const struct keel_sched_ops keel_sched_pool;

#endif /* KEEL_SCHED_POOL_H */
