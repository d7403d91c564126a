/* SPDX-License-Identifier: MIT */
/*
 * Every scheduler (KEEL_SCHED), many tasks waking each other: a ring of
 * tasks passes tokens around, a fixed number of passes in all, while a
 * foreign thread adds spurious wakes. At the end the counts are exact:
 * every pass happened once, no wake was lost (a lost one would strand a
 * token and hang into the timeout), and no task was ever polled by two
 * threads at once.
 */
#include <errno.h>
#include <keel/test.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define RING	 64
#define TOKENS	 16
#define PASSES	 200000

struct node {
	pthread_mutex_t lock; /* guards waker */
	struct keel_waker waker;
	atomic_int tokens;
	atomic_int in_poll;
	long passes;	      /* only touched inside its own poll */
};

struct ring {
	struct node node[RING];
	atomic_long passes;   /* passes granted so far */
	atomic_bool done;
	atomic_int overlaps;  /* a poll found another poll of its task */
	atomic_int finished;
};

static void node_wake(struct node *n)
{
	pthread_mutex_lock(&n->lock);
	keel_waker_wake_by_ref(&n->waker);
	pthread_mutex_unlock(&n->lock);
}

struct passer {
	struct keel_co co;
	struct ring *r;
	int i;
};

static intptr_t passer_poll(void *frame, struct keel_cx *cx)
{
	struct passer *p = frame;
	struct ring *r = p->r;
	struct node *me = &r->node[p->i], *next = &r->node[(p->i + 1) % RING];
	intptr_t ret = KEEL_PENDING;

	if (atomic_exchange(&me->in_poll, 1))
		atomic_fetch_add(&r->overlaps, 1);
	for (;;) {
		int n = atomic_exchange(&me->tokens, 0);

		for (; n > 0; n--) {
			if (atomic_fetch_add(&r->passes, 1) >= PASSES) {
				if (!atomic_exchange(&r->done, true))
					for (int k = 0; k < RING; k++)
						node_wake(&r->node[k]);
				continue; /* the token retires */
			}
			me->passes++;
			atomic_fetch_add(&next->tokens, 1);
			node_wake(next);
		}
		if (atomic_load(&r->done)) {
			atomic_fetch_add(&r->finished, 1);
			ret = me->passes;
			break;
		}
		/* Register, then look again: a token given in between is
		 * seen now or its wake finds the new waker. */
		pthread_mutex_lock(&me->lock);
		keel_waker_register(&me->waker, cx);
		pthread_mutex_unlock(&me->lock);
		if (!atomic_load(&me->tokens) && !atomic_load(&r->done))
			break;
	}
	atomic_store(&me->in_poll, 0);
	return ret;
}

static void *spurious(void *arg)
{
	struct ring *r = arg;

	for (unsigned k = 0; !atomic_load(&r->done) && k < 5000000; k++) {
		node_wake(&r->node[k % RING]);
		if (k % 64 == 0)
			sched_yield();
	}
	return NULL;
}

struct t_stress {
	struct keel_co co;
	struct ring *r;
	struct keel_join *j[RING];
	struct keel_timer t;
	pthread_t th;
	int i;
	long sum;
	intptr_t res;
};

KEEL_TEST(stress, token_ring_counts_are_exact, struct t_stress)
{
	KEEL_BEGIN(f);
	f->r = calloc(1, sizeof(*f->r));
	cr_assert_not_null(f->r);
	for (f->i = 0; f->i < RING; f->i++)
		pthread_mutex_init(&f->r->node[f->i].lock, NULL);
	for (f->i = 0; f->i < RING; f->i++)
		cr_assert_eq(KEEL_SPAWN(cx, passer_poll, NULL, &f->j[f->i],
					struct passer, .r = f->r, .i = f->i), 0);
	/* Tokens in, spread over the ring. */
	for (f->i = 0; f->i < TOKENS; f->i++) {
		struct node *n = &f->r->node[f->i * (RING / TOKENS)];

		atomic_fetch_add(&n->tokens, 1);
		node_wake(n);
	}
	cr_assert_eq(pthread_create(&f->th, NULL, spurious, f->r), 0);
	for (f->i = 0; f->i < RING; f->i++) {
		KEEL_AWAIT(f, f->res, keel_timeout(cx, &f->t, 30 * KEEL_SEC,
						   keel_join_poll(cx, f->j[f->i])));
		cr_assert_geq(f->res, 0, "task %d: %ld (a lost wake strands a token)",
			      f->i, (long)f->res);
		f->sum += f->res;
	}
	pthread_join(f->th, NULL);
	cr_assert_eq(f->sum, PASSES, "passes %ld, want %d", f->sum, PASSES);
	cr_assert_eq(atomic_load(&f->r->overlaps), 0, "a task was polled twice at once");
	cr_assert_eq(atomic_load(&f->r->finished), RING);
	for (f->i = 0; f->i < RING; f->i++) {
		keel_waker_drop(&f->r->node[f->i].waker);
		pthread_mutex_destroy(&f->r->node[f->i].lock);
	}
	free(f->r);
	KEEL_END(f);
}

/*
 * Fairness: a task that wakes itself in a tight loop does not hold back a
 * task whose socket became readable, nor one whose timer expired, by more
 * than a bounded number of its polls: the worker's budget decides it. The
 * spinner's polls are counted per worker, and the bound applies on the
 * worker where the event is delivered (the socket's, the timer's) and the
 * waiter runs: always on local and shard, whenever it happens on pool and
 * steal. How late another, parked worker wakes is not the budget's doing.
 */
#include <keel/driver.h>
#include <keel/sched.h>

#define FAIR_BOUND   (2 * KEEL_DEFAULT_BUDGET + 8)
#define FAIR_WORKERS 64

struct fair {
	atomic_long polls[FAIR_WORKERS]; /* the spinner's, per worker */
	atomic_bool stop;
	atomic_ulong deadline;	/* ns; 0: none */
	atomic_int event_worker; /* where the event is delivered */
	atomic_long mark;	/* polls[event_worker] at the event, or -1 */
};

static int worker_of(struct keel_cx *cx)
{
	return (int)keel_worker_index(keel_cx_worker(cx)) % FAIR_WORKERS;
}

struct spinner {
	struct keel_co co;
	struct fair *fr;
};

static intptr_t spinner_poll(void *frame, struct keel_cx *cx)
{
	struct fair *fr = ((struct spinner *)frame)->fr;
	unsigned long d = atomic_load(&fr->deadline);
	int me = worker_of(cx);
	long n;

	if (atomic_load(&fr->stop))
		return 0;
	n = atomic_fetch_add(&fr->polls[me], 1) + 1;
	/* The first poll on the timer's worker that sees it due. */
	if (d && keel_now(cx) >= d && me == atomic_load(&fr->event_worker) &&
	    atomic_load(&fr->mark) < 0)
		atomic_store(&fr->mark, n);
	keel_waker_wake_by_ref(keel_cx_waker(cx));
	return KEEL_PENDING;
}

/* Waits for one datagram or one deadline; returns the spinner's polls on
 * the event's worker between the event and its wake-up, or -1 when it woke
 * on another worker. */
struct waiter {
	struct keel_co co;
	struct fair *fr;
	struct keel_udp *rx;
	struct keel_timer t;
	char buf[8];
	intptr_t r;
};

static intptr_t waiter_delta(struct waiter *w, struct keel_cx *cx)
{
	struct fair *fr = w->fr;
	int me = worker_of(cx);
	long mark = atomic_load(&fr->mark);

	if (me != atomic_load(&fr->event_worker))
		return -1;
	return mark < 0 ? 0 : atomic_load(&fr->polls[me]) - mark;
}

static intptr_t io_waiter_poll(void *frame, struct keel_cx *cx)
{
	struct waiter *w = frame;

	KEEL_BEGIN(w);
	KEEL_AWAIT(w, w->r, keel_udp_recv_from(cx, w->rx, w->buf, sizeof(w->buf), NULL));
	if (w->r != 1)
		KEEL_RETURN(w, -EPROTO);
	KEEL_RETURN(w, waiter_delta(w, cx));
	KEEL_END(w);
}

static intptr_t timer_waiter_poll(void *frame, struct keel_cx *cx)
{
	struct waiter *w = frame;

	KEEL_BEGIN(w);
	atomic_store(&w->fr->event_worker, worker_of(cx)); /* its wheel */
	/* On a tick boundary (the wheel's resolution), so that "due" means
	 * the same to the spinner and to the wheel: 2-3 ms away. */
	atomic_store(&w->fr->deadline,
		     (keel_now(cx) / KEEL_TIMER_TICK_NS + 3) * KEEL_TIMER_TICK_NS);
	KEEL_AWAIT(w, w->r, keel_sleep_until(cx, &w->t, atomic_load(&w->fr->deadline)));
	KEEL_RETURN(w, waiter_delta(w, cx));
	KEEL_END(w);
}

struct t_fair {
	struct keel_co co;
	struct fair fr;
	struct keel_join *spin, *j;
	struct keel_udp rx, tx;
	struct keel_addr a;
	intptr_t r;
	int i, checked, rx_worker;
};

KEEL_TEST(fairness, self_waking_task_does_not_starve_io_or_timers, struct t_fair)
{
	KEEL_BEGIN(f);
	atomic_store(&f->fr.mark, -1);
	cr_assert_eq(KEEL_SPAWN(cx, spinner_poll, NULL, &f->spin, struct spinner,
				.fr = &f->fr), 0);
	cr_assert_eq(keel_addr_parse("127.0.0.1:0", &f->a), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->rx, &f->a, NULL), 0);
	f->rx_worker = worker_of(cx); /* its epoll set delivers the datagrams */
	cr_assert_eq(keel_addr_parse("127.0.0.1:0", &f->a), 0);
	cr_assert_eq(keel_udp_bind(cx, &f->tx, &f->a, NULL), 0);
	cr_assert_eq(keel_udp_local_addr(&f->rx, &f->a), 0);
	for (f->i = 0; f->i < 20; f->i++) {
		/* I/O: the waiter is parked in recv before the datagram. */
		atomic_store(&f->fr.event_worker, f->rx_worker);
		cr_assert_eq(KEEL_SPAWN(cx, io_waiter_poll, NULL, &f->j, struct waiter,
					.fr = &f->fr, .rx = &f->rx), 0);
		KEEL_YIELD(f, cx);
		KEEL_YIELD(f, cx);
		KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->tx, "x", 1, &f->a));
		cr_assert_eq(f->r, 1);
		/* Readable from here on (loopback delivers within sendto). */
		atomic_store(&f->fr.mark,
			     atomic_load(&f->fr.polls[atomic_load(&f->fr.event_worker)]));
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
		cr_assert_geq(f->r, -1, "io waiter: %ld", (long)f->r);
		cr_assert_leq(f->r, FAIR_BOUND, "the spinner ran %ld times before the I/O task",
			      (long)f->r);
		f->checked += f->r >= 0;

		/* Timer: 2-3 ms on the real clock, counted from the first
		 * spinner poll on the timer's worker that sees it due. */
		atomic_store(&f->fr.mark, -1);
		atomic_store(&f->fr.event_worker, -1);
		cr_assert_eq(KEEL_SPAWN(cx, timer_waiter_poll, NULL, &f->j, struct waiter,
					.fr = &f->fr), 0);
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
		cr_assert_leq(f->r, FAIR_BOUND, "the spinner ran %ld times before the timer task",
			      (long)f->r);
		f->checked += f->r >= 0;
		atomic_store(&f->fr.deadline, 0);
		atomic_store(&f->fr.event_worker, -1);
	}
	atomic_store(&f->fr.stop, true);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->spin));
	cr_assert_gt(atomic_load(&f->fr.polls[0]) + atomic_load(&f->fr.polls[1]), 0);
	if (!keel_runtime_sched_ops(keel_cx_runtime(cx))->migrates)
		cr_assert_eq(f->checked, 40, "affine: every count was on one worker");
	keel_udp_close(&f->rx);
	keel_udp_close(&f->tx);
	KEEL_END(f);
}
