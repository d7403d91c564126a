/* SPDX-License-Identifier: MIT */
/** \file
 * sched/local: one thread, run to completion, no atomics on the hot path.
 * Link keel_sched_local to have it; name it with --sched=local.
 */
#ifndef KEEL_SCHED_LOCAL_H
#define KEEL_SCHED_LOCAL_H

#include <keel/sched.h>

extern const struct keel_sched_ops keel_sched_local;

#endif /* KEEL_SCHED_LOCAL_H */
