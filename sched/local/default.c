/* SPDX-License-Identifier: MIT */
/* Compiled into an application that lists keel_sched_local_default: makes
 * local the scheduler it gets when it names none. */
#include <keel/sched_local.h>

KEEL_SCHED_DEFAULT(keel_sched_local);
