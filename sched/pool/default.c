/* SPDX-License-Identifier: MIT */
/* Compiled into an application that lists keel_sched_pool_default: makes
 * pool the scheduler it gets when it names none. */
#include <keel/sched_pool.h>

KEEL_SCHED_DEFAULT(keel_sched_pool);
