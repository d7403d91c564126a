/* SPDX-License-Identifier: MIT */
/** \file
 * sched/steal: N workers with their own run queues, stealing from each
 * other, and a global injector (--sched=steal, --workers=N, default: one
 * per online CPU). Link keel_sched_steal.
 */
#ifndef KEEL_SCHED_STEAL_H
#define KEEL_SCHED_STEAL_H

#include <keel/sched.h>

extern const struct keel_sched_ops keel_sched_steal;

#endif /* KEEL_SCHED_STEAL_H */
