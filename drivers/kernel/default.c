/* SPDX-License-Identifier: MIT */
/* Compiled into an application that lists keel_drv_kernel_default: makes
 * the kernel driver the one it gets when --driver names none. */
#include <keel/kernel.h>

KEEL_DRIVER_DEFAULT(keel_drv_kernel);
