/* SPDX-License-Identifier: MIT */
/* Compiled into an application that lists keel_sched_steal_default: makes
 * steal the scheduler it gets when it names none. */
#include <keel/sched_steal.h>

KEEL_SCHED_DEFAULT(keel_sched_steal);
