/* SPDX-License-Identifier: MIT */
/** \file
 * The driver interface: what a network driver provides to keel.
 *
 * A driver is poll-mode. Each worker owns one instance of each driver in
 * its runtime. The worker loop calls `poll` (bounded work: drain
 * completions, move packets, wake futures) every tick, and when it has
 * nothing to run calls `park` with the time to the next timer. `unpark` is
 * the one op any thread may call: it makes a park in progress return.
 *
 * Control ops left NULL mean "not supported": the generic layer returns
 * -ENOTSUP. Per-socket fast paths go through one flat table per socket
 * kind (keel_udp_ops, keel_tcp_ops), one indirect call per operation.
 *
 * A driver makes itself available by exporting its ops table with
 * KEEL_DRIVER_EXPORT in the same object file; linking that object (its
 * meson dependency forces it with -Wl,-u,SYMBOL) is what puts the driver in
 * a program.
 */
#ifndef KEEL_DRIVER_H
#define KEEL_DRIVER_H

#include <keel/tcp.h>
#include <keel/udp.h>

#ifdef __cplusplus
extern "C" {
#endif

struct keel_worker;

/** Counters of one driver instance (one worker); all monotonic. */
struct keel_driver_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_packets, tx_bytes;
	uint64_t rx_truncated; /* datagrams longer than the buffer given */
	uint64_t rx_dropped;   /* dropped before reaching a socket */
	uint64_t tx_dropped;   /* could not be sent (ring/buffer full) */
	uint64_t polls;	       /* poll calls */
	uint64_t events;       /* readiness events / completions handled */
	uint64_t parks;	       /* park calls that could sleep */
	uint64_t wakeups;      /* unparks that were needed */
};

/** Receives one extended counter of a driver (keel_driver_ops.xstats):
 *  \p name is a string that outlives the runtime (a literal). */
typedef void keel_xstat_fn(void *arg, const char *name, uint64_t value,
			   unsigned flags);

/** UDP fast path of one driver; `impl` is the driver's socket. */
struct keel_udp_ops {
	ssize_t (*recv_from)(void *impl, struct keel_cx *cx, void *buf,
			     size_t len, struct keel_addr *from);
	ssize_t (*send_to)(void *impl, struct keel_cx *cx, const void *buf,
			   size_t len, const struct keel_addr *to);
	ssize_t (*recv_batch)(void *impl, struct keel_cx *cx,
			      struct keel_dgram *v, unsigned n);
	ssize_t (*send_batch)(void *impl, struct keel_cx *cx,
			      const struct keel_dgram *v, unsigned n);
	ssize_t (*recv_lend)(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n);
	ssize_t (*send_lent)(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n);
	void (*release)(void *impl, struct keel_pkt *pkts, unsigned n);
	int (*local_addr)(void *impl, struct keel_addr *out);
	/** Kernel-style options (enum keel_udp_opt); NULL: -ENOTSUP. */
	int (*setopt)(void *impl, int opt, const void *arg);
	void (*close)(void *impl);
};

/** Options carried by keel_udp_ops.setopt; arg points at an int unless
 *  noted. */
enum keel_udp_opt {
	KEEL_UDP_OPT_TTL,
	KEEL_UDP_OPT_BROADCAST,
	KEEL_UDP_OPT_MCAST_JOIN,  /* arg: const struct keel_udp_mcast * */
	KEEL_UDP_OPT_MCAST_LEAVE, /* arg: const struct keel_udp_mcast * */
	KEEL_UDP_OPT_MCAST_LOOP,
	KEEL_UDP_OPT_MCAST_TTL,
	KEEL_UDP_OPT_CONNECT,	  /* arg: const struct keel_addr * */
};

struct keel_udp_mcast {
	const struct keel_addr *group;
	unsigned ifindex;
};

/** TCP fast path of one driver. */
struct keel_tcp_ops {
	/** Finish a connect started by keel_driver_ops.tcp_connect. */
	intptr_t (*connect_poll)(void *impl, struct keel_cx *cx);
	intptr_t (*accept)(void *impl, struct keel_cx *cx, struct keel_tcp *c,
			   struct keel_addr *peer);
	ssize_t (*read)(void *impl, struct keel_cx *cx, void *buf, size_t len);
	ssize_t (*write)(void *impl, struct keel_cx *cx, const void *buf,
			 size_t len);
	int (*shutdown)(void *impl, int how);
	int (*local_addr)(void *impl, struct keel_addr *out);
	int (*peer_addr)(void *impl, struct keel_addr *out);
	int (*set_nodelay)(void *impl, int on);
	void (*close)(void *impl);
};

/** A driver. */
struct keel_driver_ops {
	const char *name;  /* what --driver=NAME[:ARGS] names */
	const char *usage; /* one line: the ARGS it takes */

	/**
	 * Create the instance for worker \p w; \p args is the text after
	 * "NAME:" or NULL. Errors name their cause in keel's log (keel/log.h).
	 */
	int (*create)(struct keel_worker *w, const char *args, void **out);
	void (*destroy)(void *drv);
	/** Bounded work. \return events handled: 0 means idle. */
	int (*poll)(void *drv);
	/**
	 * Wait for an event for at most \p timeout_ns (-1: no limit, 0: do
	 * not wait), handle what came. \return events handled.
	 */
	int (*park)(void *drv, int64_t timeout_ns);
	/**
	 * park does, in its one wait, all that poll does (epoll_wait with a
	 * timeout is epoll_wait without one): a worker that has only this
	 * driver and nothing left to run parks at once, without polling
	 * first. A driver whose poll is cheaper than its park (no system
	 * call) leaves this false.
	 */
	bool park_polls;
	/** Any thread: make the current or next park return promptly. */
	void (*unpark)(void *drv);
	/**
	 * Parking beside other drivers (optional). A worker with several
	 * drivers sleeps in one epoll set holding each one's wait fd, so
	 * any of them can end the sleep. prepare arms what a sleep needs
	 * (interrupts, wakeup flags), may lower *timeout_ns (-1: none) to
	 * when the driver must be polled anyway, and returns the events it
	 * handled (> 0: the worker does not sleep, and the driver disarmed
	 * itself) or 0 with *fd set: a descriptor, the same every time,
	 * readable while the driver has work, or -1 when it has none (the
	 * worker then looks at it every millisecond, and says so once).
	 * After the sleep the worker calls finish: disarm, handle what came.
	 * A driver without these ops is polled every millisecond.
	 */
	int (*park_prepare)(void *drv, int64_t *timeout_ns, int *fd);
	int (*park_finish)(void *drv);
	/** The common counters; called from any thread (keel/stats.h):
	 *  read them with relaxed atomic loads. */
	void (*stats)(void *drv, struct keel_driver_stats *out);
	/**
	 * Optional: the driver's own counters beyond keel_driver_stats,
	 * each passed to \p fn with a name ("no_socket"), its value and
	 * KEEL_STAT_* flags (keel/stats.h: GAUGE, DROP). Like stats, any
	 * thread, no side effects. DPDK's xstats, in one callback.
	 */
	void (*xstats)(void *drv, keel_xstat_fn *fn, void *arg);

	int (*udp_bind)(void *drv, struct keel_udp *s,
			const struct keel_addr *addr,
			const struct keel_udp_opts *opts);
	/** Start connecting \p c; keel_tcp_ops.connect_poll finishes. */
	int (*tcp_connect)(void *drv, struct keel_tcp *c,
			   const struct keel_addr *addr);
	int (*tcp_listen)(void *drv, struct keel_tcp *l,
			  const struct keel_addr *addr, int backlog);
};

/**
 * The instance of driver \p ops on the worker polling \p cx, or NULL when
 * that driver is not in the runtime. For driver-specific APIs.
 */
void *keel_cx_driver(struct keel_cx *cx, const struct keel_driver_ops *ops);

/** The worker polling \p cx. */
struct keel_worker *keel_cx_worker(struct keel_cx *cx);

/** Index of worker \p w in its runtime (0-based). */
unsigned keel_worker_index(const struct keel_worker *w);

/**
 * How many workers \p w's runtime has, or is creating (known before the
 * first worker's drivers are created: a driver opens a queue per worker).
 */
unsigned keel_worker_count(const struct keel_worker *w);

/**
 * Whether tasks of \p w's runtime move between workers (a migrating
 * scheduler). A driver need not care: every operation on a handle runs on
 * the thread of the worker that owns it (see keel_cx_home).
 */
bool keel_worker_migrating(const struct keel_worker *w);

/**
 * Ownership: a handle belongs to the worker that opened it, and only that
 * worker's thread may touch it. Call this first in an operation on a
 * driver's own handle owned by \p owner: 0 when \p cx runs there; else,
 * on a migrating runtime (pool, steal), the task is moved to \p owner and
 * KEEL_PENDING returned (it is polled again there, where the operation
 * then runs); on an affine one (local, shard), where tasks never move,
 * -EXDEV. Either way a task of a migrating runtime then lives on \p owner
 * (its drop, which closes its handles, runs there too). The core socket
 * API does this for UDP and TCP; call it also when a handle is opened.
 */
intptr_t keel_cx_home(struct keel_cx *cx, struct keel_worker *owner);

/**
 * Run \p fn(\p arg) on \p w's thread: at w's next tick when called from
 * another worker of w's runtime, else now (on w, on a thread that is no
 * worker, while the runtime is torn down). For a handle closed from
 * another worker than its owner. 0, -EINVAL, or -ENOMEM (nothing runs).
 */
int keel_worker_call(struct keel_worker *w, void (*fn)(void *), void *arg);

/** Put a driver's ops table in the program's list of linked drivers. */
#define KEEL_DRIVER_EXPORT(ops)                                                \
	__attribute__((used, section("keel_drivers"))) const struct            \
		keel_driver_ops *const keel__driver_entry_##ops = &(ops)

/**
 * Make \p ops the program's default driver (used when none is named). For
 * a tiny object compiled into the application; two defaults are a link
 * error.
 */
#define KEEL_DRIVER_DEFAULT(ops)                                               \
	const struct keel_driver_ops *const keel_default_driver = &(ops)

/** The drivers linked into this program, in link order. */
size_t keel_drivers_linked(const struct keel_driver_ops *const **list);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_DRIVER_H */
