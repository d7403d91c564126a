/* SPDX-License-Identifier: MIT */
/** \file
 * Everything an application needs: futures, tasks, combinators, time,
 * sockets, spreading a service over the workers, the runtime and
 * KEEL_MAIN.
 */
#ifndef KEEL_H
#define KEEL_H

#include <keel/addr.h>
#include <keel/combine.h>
#include <keel/error.h>
#include <keel/future.h>
#include <keel/log.h>
#include <keel/main.h>
#include <keel/ready.h>
#include <keel/runtime.h>
#include <keel/serve.h>
#include <keel/stats.h>
#include <keel/task.h>
#include <keel/tcp.h>
#include <keel/tcp_server.h>
#include <keel/time.h>
#include <keel/udp.h>
#include <keel/udp_request.h>

#endif /* KEEL_H */
