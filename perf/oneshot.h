/* SPDX-License-Identifier: MIT */
/*
 * A one-shot channel on top of the waker API, for ping_pong: one sender
 * sends one value, one receiver task awaits it. Works on every scheduler
 * (the sender and the receiver may run on two threads) and on the
 * baseline executor, since it only needs a `struct keel_waker`.
 *
 * The sender must be done with the channel's memory before the receiver
 * can see the value, because the receiver typically frees it (the channel
 * lives in a frame): the value is published in two steps, VALUE (the
 * sender is taking the waker) and DONE (the sender no longer touches the
 * channel), and the receiver returns only on DONE. Cost: one atomic
 * read-modify-write to register, two to send.
 */
#ifndef KEEL_PERF_ONESHOT_H
#define KEEL_PERF_ONESHOT_H

#include <keel/future.h>
#include <stdatomic.h>

enum {
	ONESHOT_VALUE = 1u << 0,  /* sent; the sender may still be inside */
	ONESHOT_WAITER = 1u << 1, /* a receiver's waker is in `waker` */
	ONESHOT_DONE = 1u << 2,	  /* the sender is done with the channel */
};

/* Zero-initialise. */
struct oneshot {
	atomic_uint state;
	intptr_t value;
	struct keel_waker waker;
};

static inline void oneshot_send(struct oneshot *o, intptr_t v)
{
	struct keel_waker w = { 0 };
	unsigned s;

	o->value = v;
	s = atomic_fetch_or_explicit(&o->state, ONESHOT_VALUE,
				     memory_order_acq_rel);
	if (s & ONESHOT_WAITER) {
		/* The receiver registered before VALUE and will not touch the
		 * slot again: its reference is ours to wake. */
		w = o->waker;
	}
	atomic_fetch_or_explicit(&o->state, ONESHOT_DONE, memory_order_release);
	keel_waker_wake(&w); /* \p o may be gone: w is a copy */
}

/* Ready with the value, or pending with \p me registered (cloned). */
static inline intptr_t oneshot_poll(struct oneshot *o,
				    const struct keel_waker *me)
{
	unsigned s = atomic_load_explicit(&o->state, memory_order_acquire);

	if (s & ONESHOT_DONE)
		return o->value;
	if (!(s & (ONESHOT_VALUE | ONESHOT_WAITER))) {
		o->waker = keel_waker_clone(me);
		s = atomic_fetch_or_explicit(&o->state, ONESHOT_WAITER,
					     memory_order_acq_rel);
		if (!(s & ONESHOT_VALUE))
			return KEEL_PENDING; /* the sender will wake us */
		/* The sender came first and did not see the waker: take it
		 * back. */
		keel_waker_drop(&o->waker);
		s = atomic_load_explicit(&o->state, memory_order_acquire);
		if (s & ONESHOT_DONE)
			return o->value;
	} else if (!(s & ONESHOT_VALUE)) {
		return KEEL_PENDING; /* registered already (one receiver) */
	}
	/* The sender is between VALUE and DONE, a few instructions from
	 * done, and may not wake us: come back at the next poll. */
	keel_waker_wake_by_ref(me);
	return KEEL_PENDING;
}

#endif /* KEEL_PERF_ONESHOT_H */
