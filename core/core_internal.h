/* SPDX-License-Identifier: MIT */
/*
 * What the files of core share: the task, the worker, the runtime, the
 * timer wheel. Nothing here is visible to other modules.
 */
#ifndef KEEL_CORE_INTERNAL_H
#define KEEL_CORE_INTERNAL_H

#include <keel/driver.h>
#include <keel/list.h>
#include <keel/ready.h>
#include <keel/sched.h>
#include <keel/stats.h>
#include <keel/task.h>
#include <keel/time.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>

/* ------------------------------------------------------------ task cache */

/* Blocks of 64 << class bytes, carved from 64 KiB slabs, kept on per-class
 * free lists. Larger blocks come from malloc. All slabs are freed at
 * teardown. */
#define KEEL__CACHE_CLASSES 8 /* 64 B .. 8 KiB */
#define KEEL__SLAB_SIZE	    (64u * 1024u)

struct keel__cache {
	void *free[KEEL__CACHE_CLASSES];
	void *slabs; /* singly linked through the slab's first word */
	char *carve[KEEL__CACHE_CLASSES];
	size_t carve_left[KEEL__CACHE_CLASSES];
	uint64_t allocs, frees, slab_count, large;
};

void *keel__cache_alloc(struct keel__cache *c, size_t size, uint8_t *cls);
void keel__cache_free(struct keel__cache *c, void *p, uint8_t cls);
void keel__cache_fini(struct keel__cache *c);

/* ------------------------------------------------------------- spinlock */

/* For critical sections of a few instructions (a join slot, a list link). */
struct keel__spin {
	atomic_flag f;
};

/* A spin-wait hint to the CPU; nothing where there is none. */
static inline void keel__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline void keel__spin_lock(struct keel__spin *l)
{
	while (atomic_flag_test_and_set_explicit(&l->f, memory_order_acquire))
		keel__cpu_relax();
}

static inline void keel__spin_unlock(struct keel__spin *l)
{
	atomic_flag_clear_explicit(&l->f, memory_order_release);
}

/* ------------------------------------------------------------------ task */

/* The state of a task (`state`): compare-and-swap from any thread, plain
 * stores by its poller where no other thread writes it (task.c). RUNNING
 * stays set through a completion, so no wake queues a finished task. */
enum {
	KEEL__T_SCHEDULED = 1u << 0, /* on a run queue, or being pushed */
	KEEL__T_RUNNING = 1u << 1,   /* a worker is polling it */
	KEEL__T_NOTIFIED = 1u << 2,  /* woken while running: poll again */
	KEEL__T_DONE = 1u << 3,	     /* finished, result published */
};

struct keel_task {
	struct keel_list link; /* a run queue, or its worker's freeq */
	struct keel_list all;  /* the worker's tasks, from spawn to free */
	struct keel_worker *worker; /* whose `tasks` list it is on */
	struct keel_worker *home; /* queued and polled only there (NULL:
				     anywhere). Affine: its worker, fixed;
				     migrating: set by its poller. */
	keel_poll_fn *poll;
	keel_drop_fn *drop;
	atomic_int_fast64_t refs;    /* holders, spare ones included */
	uint32_t spare;		     /* affine, owner thread only: references
					given back while it runs, counted in
					refs, kept for the next clone */
	atomic_uint state;	     /* KEEL__T_* */
	atomic_bool cancel;	     /* keel_join_cancel was called */
	uint8_t cls;		     /* cache class */
	bool root;		     /* the task block_on waits for */
	struct keel__spin join_lock; /* guards join_waker against DONE */
	intptr_t result;
	struct keel_waker join_waker;
	struct keel_list timers; /* timers it armed */
	struct keel_list readies; /* ready sources it waits on */
	alignas(16) unsigned char frame[];
};

/* The context a poll runs in. The waker comes first: keel_cx_waker
 * (future.h, inline) relies on it. */
struct keel_cx {
	struct keel_waker waker;
	struct keel_task *task;
	struct keel_worker *worker;
	unsigned budget; /* socket operations left in this poll (keel_coop) */
};

extern const struct keel_waker_ops keel__task_waker_ops;

/*
 * keel_waker_register in two halves, for slots under a lock: put cx's
 * waker in \p slot and return what was there, to drop after unlocking
 * (dropping may free a task, which takes its worker's lock).
 */
struct keel_waker keel__waker_swap(struct keel_waker *slot, struct keel_cx *cx);

/* Run up to \p budget tasks of \p w's run queue (and, migrating, of the
 * scheduler's); how many ran. */
unsigned keel__task_run_queue(struct keel_worker *w, unsigned budget);
/* Drop one reference, from any thread; the last frees the task
 * (keel__task_free: at once on its worker's thread, else via the
 * worker's freeq). */
void keel__task_release(struct keel_task *t);
void keel__task_free(struct keel_task *t);
/* Teardown, all workers stopped: complete \p t with -ECANCELED now. */
void keel__task_cancel_now(struct keel_task *t);
int keel__task_spawn(struct keel_worker *w, keel_poll_fn *poll,
		     keel_drop_fn *drop, const void *frame, size_t size,
		     struct keel_join **join, bool root);

/* ----------------------------------------------------------- timer wheel */

#define KEEL__WHEEL_LEVELS 6
#define KEEL__WHEEL_SLOTS  64

struct keel__wheel {
	uint64_t elapsed; /* ticks processed */
	uint64_t occupied[KEEL__WHEEL_LEVELS];
	struct keel_list slot[KEEL__WHEEL_LEVELS][KEEL__WHEEL_SLOTS];
	size_t armed;
	uint64_t fired;
	struct keel__spin *lock; /* migrating schedulers: the worker's lock */
};

void keel__wheel_init(struct keel__wheel *wh, uint64_t now_tick);
void keel__wheel_insert(struct keel__wheel *wh, struct keel_timer *t);
void keel__wheel_remove(struct keel__wheel *wh, struct keel_timer *t);
/* Fire every timer due at tick \p now; returns how many fired. */
size_t keel__wheel_advance(struct keel__wheel *wh, uint64_t now);
/* The tick of the earliest slot that may hold a due timer, or UINT64_MAX. */
uint64_t keel__wheel_next(struct keel__wheel *wh);
/* Disarm every timer still armed (teardown). */
void keel__wheel_clear(struct keel__wheel *wh);

/* ---------------------------------------------------------------- worker */

struct keel__drv {
	const struct keel_driver_ops *ops;
	void *impl;
	int wait_fd;	 /* in the worker's epoll set (several drivers); -1 */
	bool said_polled; /* "has no wait fd" was printed */
};

#define KEEL__MAX_DRIVERS 4
#define KEEL__MAX_WORKERS 256

/* A function to run on a worker's thread (keel_worker_call). */
struct keel__call {
	struct keel__call *next;
	void (*fn)(void *);
	void *arg;
};

/* Each counter is written by one thread, its worker's (or the thread that
 * tears the runtime down, once the workers stopped), with a relaxed load
 * and store (KEEL__COUNT): plain moves, and no data race with
 * keel_stats_read on another thread. Tasks alive are spawns minus
 * completed and cancelled summed over the workers: a task may finish on
 * another worker than the one it was spawned on. */
struct keel_worker_stats {
	_Atomic uint64_t polls, spawns, completed, cancelled;
	_Atomic uint64_t ticks, parks, remote_msgs, timers_fired, budget_yields;
	_Atomic uint64_t moves;	 /* tasks moved here to use this worker's handles */
	_Atomic uint64_t leaked; /* tasks reclaimed at teardown, never joined */
};

#define KEEL__COUNT(w, field, n) KEEL_STAT_ADD((w)->stats.field, n)

struct keel_worker {
	struct keel_runtime *rt;
	unsigned index;
	struct keel_list runq;	   /* runnable tasks whose home is this
				      worker (owner thread) */
	bool sched_turn;	   /* migrating: alternate runq and the
				      scheduler's pop */
	struct keel_task *current; /* the task being polled, or NULL */
	struct keel__wheel wheel;
	struct keel__cache cache;
	struct keel_list fired_ready; /* keel_ready sources set */
	atomic_bool ready_fired;      /* fired_ready is not empty; written
					 under `lock` on migrating runtimes,
					 read without it as a hint */
	struct keel_list tasks;	      /* every task spawned here, not freed
					 (owner thread) */
	struct keel__spin lock;	      /* migrating: guards the wheel and
					 fired_ready against other workers */
	bool shared;		      /* the runtime's scheduler migrates */
	uint64_t now;		      /* ns, cached each tick */
	struct keel__drv drv[KEEL__MAX_DRIVERS];
	unsigned ndrv;
	struct keel__drv *udp_drv;    /* the one --driver chose */
	struct keel__drv *tcp_drv;    /* the first with TCP */

	/* Cross-thread, under inbox_lock: tasks other threads made runnable
	 * here (homeq), tasks whose last reference they dropped (freeq), and
	 * calls. Intrusive (the task's link): posting allocates nothing. */
	pthread_mutex_t inbox_lock;
	struct keel_list homeq, freeq;
	struct keel__call *calls_head, **calls_tail;
	atomic_bool inbox_nonempty;
	atomic_bool parked;
	atomic_bool stop;
	pthread_cond_t idle_cond; /* park when no driver is linked */
	bool idle_signalled;
	/* Several drivers: one sleep for all (worker_park_drivers). */
	int epfd;		  /* their wait fds and unpark_fd; -1 */
	bool park_polls;	  /* one driver, whose park is a poll too */
	int unpark_fd;		  /* eventfd, level-triggered in epfd */
	atomic_bool unpark_armed; /* a write is in it, unread */

	struct keel_worker_stats stats;
};

extern _Thread_local struct keel_worker *keel__tls_worker;

void keel__runtime_teardown(struct keel_runtime *rt);
/* What a runtime gets when its configuration names none (or NULL). */
const struct keel_sched_ops *keel__sched_default(void);
const struct keel_driver_ops *keel__driver_default(void);
/* Run fn(arg) on \p w's thread at its next tick (now, when called there).
 * 0, or -ENOMEM (nothing was run). */
int keel__worker_call(struct keel_worker *w, void (*fn)(void *), void *arg);
void keel__worker_unpark(struct keel_worker *w);
/* The reactor half of the readiness sources (ready.c): wake the waiters of
 * the sources set on \p w; whether any is waiting to be fired. */
size_t keel__ready_fire(struct keel_worker *w);
bool keel__ready_pending(struct keel_worker *w);
uint64_t keel__worker_clock(struct keel_worker *w);
/* cpus.c: parse "0-3,8" into \p out (at most \p max): the count, or
 * -EINVAL with the reason in \p why. Pin the calling thread to \p w's
 * CPU (when the runtime has a list). */
int keel__cpus_parse(const char *text, int *out, unsigned max,
		     const char **why);
void keel__worker_pin(struct keel_worker *w);

/* --------------------------------------------------------------- runtime */

struct keel_runtime {
	struct keel_config cfg;
	const struct keel_sched_ops *sched;
	void *sched_impl;
	const struct keel_driver_ops *drivers[KEEL__MAX_DRIVERS];
	char *driver_args[KEEL__MAX_DRIVERS];
	unsigned ndrivers;
	atomic_uint_fast64_t test_now; /* ns, the test clock */
	pthread_mutex_t clock_lock;    /* test clock: one advance at a time */
	atomic_bool shutdown;	 /* stop the workers now */
	atomic_uint shutdown_requests; /* keel_runtime_shutdown calls */
	atomic_bool graceful;	 /* a task awaits keel_shutdown_poll */
	pthread_mutex_t shutdown_lock;
	struct keel_waker shutdown_waker; /* under shutdown_lock */
	unsigned shutdown_seen;	 /* requests the home worker passed on */
	bool shared;		 /* sched->migrates */
	bool tearing_down;	 /* keel__runtime_teardown: one thread */
	atomic_uint idle;	 /* workers parked or about to park */
	struct keel_worker *home; /* the worker block_on runs on */
	struct keel_worker *workers[KEEL__MAX_WORKERS];
	unsigned nworkers;
	int cpus[KEEL__MAX_WORKERS]; /* cfg.cpus: worker i on cpus[i] */
	unsigned ncpus;		     /* 0: not pinned */
	struct keel__monitor *monitor; /* stats.c, monitor.c: counters of the
					  application, --stats=, --metrics= */
};

/* stats.c, monitor.c: start what cfg asks (--stats=INTERVAL, --metrics=)
 * once the workers exist; stop it before they go. 0 or -errno (logged). */
int keel__monitor_start(struct keel_runtime *rt);
void keel__monitor_stop(struct keel_runtime *rt);
/* main.c: --stats[=INTERVAL], --stats-workers, --metrics=ADDR:PORT into
 * cfg: 1 taken, 0 not one of those, -EINVAL a bad value (logged). */
int keel__monitor_option(const char *prog, const char *arg,
			 struct keel_config *cfg);
/* After the workers stopped: the exit summary, and free what remains. */
void keel__monitor_fini(struct keel_runtime *rt);
/* The counters, one line at a time, to fn (a FILE or the log). */
void keel__stats_lines(struct keel_runtime *rt,
		       void (*fn)(void *arg, const char *line), void *arg);

#endif /* KEEL_CORE_INTERNAL_H */
