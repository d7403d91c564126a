/* SPDX-License-Identifier: MIT */
/* Compiled into an application that lists keel_sched_shard_default: makes
 * shard the scheduler it gets when it names none. */
#include <keel/shard.h>

KEEL_SCHED_DEFAULT(keel_sched_shard);
