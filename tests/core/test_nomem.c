/* SPDX-License-Identifier: MIT */
/*
 * A wake never fails: waking tasks from a thread whose every allocation
 * fails still runs each of them. This program replaces malloc and friends
 * with versions that fail on a thread that asks them to (and count the
 * attempts), so it is built only without sanitizers, which replace them
 * too. Runs on every scheduler: on local and shard a wake from a thread
 * with no worker goes through the home worker's homeq, on pool and steal
 * through the scheduler's shared queue.
 */
#include <errno.h>
#include <keel/test.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);

static _Thread_local bool failing;     /* this thread's allocations fail */
static _Thread_local unsigned attempts; /* and were tried this often */

static bool refuse(void)
{
	if (!failing)
		return false;
	attempts++;
	errno = ENOMEM;
	return true;
}

void *malloc(size_t n)
{
	return refuse() ? NULL : __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	return refuse() ? NULL : __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	return refuse() ? NULL : __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	return refuse() ? NULL : __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	if (refuse())
		return ENOMEM;
	*out = __libc_memalign(align, n);
	return *out ? 0 : ENOMEM;
}

#define TASKS 64
#define ROUNDS 20

/* Waker slots a thread with no worker wakes. */
static struct slots {
	pthread_mutex_t lock;
	struct keel_waker w[TASKS];
	atomic_int ready; /* tasks whose waker is in its slot */
} S = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct sleeper {
	struct keel_co co;
	int i, round;
	atomic_int *polls;
};

/* Leaves its waker in slot i and pends, ROUNDS times; then done. */
static intptr_t sleeper_poll(void *frame, struct keel_cx *cx)
{
	struct sleeper *f = frame;

	atomic_fetch_add(f->polls, 1);
	if (f->round == ROUNDS)
		return f->round;
	pthread_mutex_lock(&S.lock);
	if (S.w[f->i].ops) {
		pthread_mutex_unlock(&S.lock);
		return KEEL_PENDING; /* not woken yet (a spurious poll) */
	}
	keel_waker_register(&S.w[f->i], cx);
	f->round++;
	atomic_fetch_add(&S.ready, 1);
	pthread_mutex_unlock(&S.lock);
	return KEEL_PENDING;
}

struct waker_thread {
	atomic_bool stop;
	unsigned attempts, wakes;
};

/* With every allocation of its own failing, wake each task whose waker
 * is in its slot, until told to stop. */
static void *waker_main(void *arg)
{
	struct waker_thread *wt = arg;

	failing = true;
	while (!atomic_load(&wt->stop)) {
		for (int i = 0; i < TASKS; i++) {
			struct keel_waker w;

			pthread_mutex_lock(&S.lock);
			w = S.w[i];
			S.w[i] = (struct keel_waker){ 0 };
			pthread_mutex_unlock(&S.lock);
			if (w.ops) {
				keel_waker_wake(&w);
				wt->wakes++;
			}
		}
		sched_yield();
	}
	failing = false;
	wt->attempts = attempts;
	return NULL;
}

struct t_nomem {
	struct keel_co co;
	struct keel_join *j[TASKS];
	struct keel_timer t;
	struct waker_thread wt;
	pthread_t th;
	atomic_int polls;
	intptr_t r;
	int i;
};

KEEL_TEST(nomem, wakes_need_no_memory, struct t_nomem)
{
	KEEL_BEGIN(f);
	for (f->i = 0; f->i < TASKS; f->i++)
		cr_assert_eq(KEEL_SPAWN(cx, sleeper_poll, NULL, &f->j[f->i],
					struct sleeper, .i = f->i,
					.polls = &f->polls), 0);
	cr_assert_eq(pthread_create(&f->th, NULL, waker_main, &f->wt), 0);
	for (f->i = 0; f->i < TASKS; f->i++) {
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->t, 20 * KEEL_SEC,
						 keel_join_poll(cx, f->j[f->i])));
		cr_assert_eq(f->r, ROUNDS, "task %d: %ld (-ETIMEDOUT: a lost wake)",
			     f->i, (long)f->r);
	}
	atomic_store(&f->wt.stop, true);
	pthread_join(f->th, NULL);
	cr_assert_eq(f->wt.wakes, (unsigned)(TASKS * ROUNDS));
	cr_assert_eq(f->wt.attempts, 0u,
		     "the wake path tried to allocate %u times", f->wt.attempts);
	KEEL_END(f);
}

/* The override itself works: without it the test above would prove
 * nothing. */
Test(nomem, allocation_fails_when_asked)
{
	void *(*volatile alloc)(size_t) = malloc; /* no builtin folding */
	void *p;

	failing = true;
	p = alloc(16);
	failing = false;
	cr_assert_null(p);
	cr_assert_eq(attempts, 1u);
	p = alloc(16);
	cr_assert_not_null(p);
	free(p);
}
