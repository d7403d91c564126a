/* SPDX-License-Identifier: MIT */
/*
 * Timers on a hierarchical timing wheel, one per worker.
 *
 * Six levels of 64 slots; a slot of level L spans 64^L ticks. A timer sits
 * in the level of the highest 6-bit group where its expiry tick differs
 * from the wheel's current tick, so each timer is touched at most once per
 * level on its way down: arming, disarming and firing are O(1) however
 * many timers are armed. A bitmap per level finds the next occupied slot
 * with one count-trailing-zeros. Expiries beyond the top level (about 795
 * days at 1 ms ticks) are parked in its last slot and re-placed when it
 * comes round.
 */
#include "core_internal.h"

#include <errno.h>

enum { TIMER_IDLE, TIMER_ARMED = KEEL__TIMER_ARMED, TIMER_FIRED };

#define LEVEL_BITS 6
#define MAX_SPAN   ((uint64_t)1 << (LEVEL_BITS * KEEL__WHEEL_LEVELS))

void keel__wheel_init(struct keel__wheel *wh, uint64_t now_tick)
{
	wh->elapsed = now_tick;
	wh->armed = 0;
	wh->fired = 0;
	for (unsigned l = 0; l < KEEL__WHEEL_LEVELS; l++) {
		wh->occupied[l] = 0;
		for (unsigned s = 0; s < KEEL__WHEEL_SLOTS; s++)
			keel_list_init(&wh->slot[l][s]);
	}
}

static void place(struct keel__wheel *wh, struct keel_timer *t)
{
	uint64_t when = t->when;
	unsigned level;

	if (when - wh->elapsed >= MAX_SPAN)
		when = wh->elapsed + MAX_SPAN - 1;
	level = (unsigned)(63 - __builtin_clzll((wh->elapsed ^ when) | 63)) /
		LEVEL_BITS;
	if (level >= KEEL__WHEEL_LEVELS) /* the clamp crossed the top lap */
		level = KEEL__WHEEL_LEVELS - 1;
	t->level = (uint8_t)level;
	t->slot = (uint8_t)((when >> (level * LEVEL_BITS)) & 63);
	keel_list_push_back(&wh->slot[level][t->slot], &t->wheel_link);
	wh->occupied[level] |= (uint64_t)1 << t->slot;
}

void keel__wheel_insert(struct keel__wheel *wh, struct keel_timer *t)
{
	place(wh, t);
	t->wheel = wh;
	wh->armed++;
}

void keel__wheel_remove(struct keel__wheel *wh, struct keel_timer *t)
{
	struct keel_list *head = &wh->slot[t->level][t->slot];

	keel_list_remove(&t->wheel_link);
	if (keel_list_empty(head))
		wh->occupied[t->level] &= ~((uint64_t)1 << t->slot);
	wh->armed--;
}

/* The earliest occupied slot: its level, index and start tick. */
static uint64_t next_slot(const struct keel__wheel *wh, unsigned *lp,
			  unsigned *sp)
{
	uint64_t best = UINT64_MAX;

	for (unsigned l = 0; l < KEEL__WHEEL_LEVELS; l++) {
		uint64_t occ = wh->occupied[l];
		unsigned shift = l * LEVEL_BITS;
		unsigned now_slot = (unsigned)(wh->elapsed >> shift) & 63;
		uint64_t range = (uint64_t)64 << shift;
		uint64_t start = wh->elapsed & ~(range - 1);
		uint64_t later, at;
		unsigned s;

		if (!occ)
			continue;
		/* Slots after the current one are in this lap; a slot at or
		 * before it can only be the top level's parked far timers. */
		later = now_slot == 63 ? 0 : occ & (~(uint64_t)0 << (now_slot + 1));
		if (later) {
			s = (unsigned)__builtin_ctzll(later);
			at = start + ((uint64_t)s << shift);
		} else {
			s = (unsigned)__builtin_ctzll(occ);
			at = start + range + ((uint64_t)s << shift);
		}
		if (at < best) {
			best = at;
			*lp = l;
			*sp = s;
		}
	}
	return best;
}

static void wheel_lock(struct keel__wheel *wh)
{
	if (wh->lock)
		keel__spin_lock(wh->lock);
}

static void wheel_unlock(struct keel__wheel *wh)
{
	if (wh->lock)
		keel__spin_unlock(wh->lock);
}

/* The timer's state is read without the lock by the task that owns it
 * (idle or not idle changes only on that task's thread), and written under
 * the lock by the worker that fires it. */
static uint8_t state_of(const struct keel_timer *t)
{
	return __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
}

static void set_state(struct keel_timer *t, uint8_t s)
{
	__atomic_store_n(&t->state, s, __ATOMIC_RELEASE);
}

uint64_t keel__wheel_next(struct keel__wheel *wh)
{
	unsigned l = 0, s = 0;
	uint64_t at;

	wheel_lock(wh);
	at = next_slot(wh, &l, &s);
	wheel_unlock(wh);
	return at;
}

/* Fire every timer due at tick \p now. The wakers are taken out under the
 * lock and woken after it, a batch at a time: a woken task may run on
 * another worker, stop its timers and free them at once. */
size_t keel__wheel_advance(struct keel__wheel *wh, uint64_t now)
{
	struct keel_waker batch[64];
	size_t fired = 0, nb;
	unsigned l = 0, s = 0;
	uint64_t at;

	do {
		nb = 0;
		wheel_lock(wh);
		while (nb < 64 && (at = next_slot(wh, &l, &s)) <= now) {
			struct keel_list *head = &wh->slot[l][s];

			wh->elapsed = at;
			while (nb < 64 && !keel_list_empty(head)) {
				struct keel_timer *t = KEEL_CONTAINER_OF(
					head->next, struct keel_timer, wheel_link);

				keel_list_remove(&t->wheel_link);
				if (t->when <= now) {
					wh->armed--;
					batch[nb++] = t->waker;
					t->waker = (struct keel_waker){ 0 };
					set_state(t, TIMER_FIRED);
				} else {
					place(wh, t); /* cascade to a lower level */
				}
			}
			if (keel_list_empty(head))
				wh->occupied[l] &= ~((uint64_t)1 << s);
		}
		if (nb < 64 && now > wh->elapsed)
			wh->elapsed = now;
		wheel_unlock(wh);
		for (size_t i = 0; i < nb; i++)
			keel_waker_wake(&batch[i]);
		fired += nb;
	} while (nb == 64);
	wh->fired += fired;
	return fired;
}

void keel__wheel_clear(struct keel__wheel *wh)
{
	for (unsigned l = 0; l < KEEL__WHEEL_LEVELS; l++)
		for (unsigned s = 0; s < KEEL__WHEEL_SLOTS; s++)
			for (struct keel_list *n;
			     (n = keel_list_pop_front(&wh->slot[l][s]));) {
				struct keel_timer *t = KEEL_CONTAINER_OF(
					n, struct keel_timer, wheel_link);

				set_state(t, TIMER_IDLE);
				if (keel_list_linked(&t->task_link))
					keel_list_remove(&t->task_link);
				keel_waker_drop(&t->waker);
			}
	for (unsigned l = 0; l < KEEL__WHEEL_LEVELS; l++)
		wh->occupied[l] = 0;
	wh->armed = 0;
}

/* ------------------------------------------------------------ the API */

void keel_timer_stop(struct keel_timer *t)
{
	struct keel_waker wk = { 0 };

	if (!t)
		return;
	if (state_of(t) != TIMER_IDLE) {
		struct keel__wheel *wh = t->wheel;

		wheel_lock(wh);
		if (state_of(t) == TIMER_ARMED)
			keel__wheel_remove(wh, t);
		wk = t->waker;
		t->waker = (struct keel_waker){ 0 };
		set_state(t, TIMER_IDLE);
		wheel_unlock(wh);
	}
	if (keel_list_linked(&t->task_link))
		keel_list_remove(&t->task_link);
	keel_waker_drop(&wk);
}

/* Follow the task that polls the timer now (it may have been handed on). */
static void link_task(struct keel_timer *t, struct keel_cx *cx)
{
	if (keel_list_linked(&t->task_link))
		keel_list_remove(&t->task_link);
	keel_list_push_back(&cx->task->timers, &t->task_link);
}

/* Arm \p t for \p deadline on cx's worker, or fire at once if it passed. */
static intptr_t timer_wait(struct keel_cx *cx, struct keel_timer *t,
			   uint64_t deadline)
{
	struct keel_worker *w = cx->worker;
	struct keel__wheel *wh;
	struct keel_waker old;

	if (state_of(t) != TIMER_IDLE) {
		wh = t->wheel;
		wheel_lock(wh);
		if (state_of(t) == TIMER_FIRED) {
			set_state(t, TIMER_IDLE);
			wheel_unlock(wh);
			if (keel_list_linked(&t->task_link))
				keel_list_remove(&t->task_link);
			return 0;
		}
		old = keel__waker_swap(&t->waker, cx);
		wheel_unlock(wh);
		keel_waker_drop(&old); /* outside the lock: see keel__waker_swap */
		link_task(t, cx);
		return KEEL_PENDING;
	}
	if (deadline <= w->now)
		return 0;
	wh = &w->wheel;
	t->deadline = deadline;
	t->when = (deadline + KEEL_TIMER_TICK_NS - 1) / KEEL_TIMER_TICK_NS;
	t->waker = keel_waker_clone(&cx->waker);
	link_task(t, cx);
	wheel_lock(wh);
	if (t->when <= wh->elapsed)
		t->when = wh->elapsed + 1;
	keel__wheel_insert(wh, t);
	set_state(t, TIMER_ARMED);
	wheel_unlock(wh);
	return KEEL_PENDING;
}

intptr_t keel_sleep_until(struct keel_cx *cx, struct keel_timer *t,
			  uint64_t deadline)
{
	if (!cx || !t)
		return -EINVAL;
	return timer_wait(cx, t, deadline);
}

intptr_t keel_sleep_for(struct keel_cx *cx, struct keel_timer *t, uint64_t ns)
{
	if (!cx || !t)
		return -EINVAL;
	if (state_of(t) != TIMER_IDLE)
		return timer_wait(cx, t, t->deadline);
	if (ns == 0)
		return 0;
	return timer_wait(cx, t, cx->worker->now + ns);
}

intptr_t keel_timeout(struct keel_cx *cx, struct keel_timer *t, uint64_t ns,
		      intptr_t inner)
{
	if (!cx || !t)
		return -EINVAL;
	if (inner != KEEL_PENDING) {
		keel_timer_stop(t);
		return inner;
	}
	if (state_of(t) == TIMER_IDLE && ns == 0)
		return -ETIMEDOUT;
	if (keel_sleep_for(cx, t, ns) != KEEL_PENDING)
		return -ETIMEDOUT;
	return KEEL_PENDING;
}

intptr_t keel_timeout_at(struct keel_cx *cx, struct keel_timer *t,
			uint64_t deadline, intptr_t inner)
{
	if (!cx || !t)
		return -EINVAL;
	if (inner != KEEL_PENDING) {
		keel_timer_stop(t);
		return inner;
	}
	/* Armed for another deadline (a loop that moved it, a select that
	 * left it armed): start again for this one. */
	if (state_of(t) == TIMER_ARMED && t->deadline != deadline)
		keel_timer_stop(t);
	if (state_of(t) == TIMER_IDLE && deadline <= cx->worker->now)
		return -ETIMEDOUT;
	if (timer_wait(cx, t, deadline) != KEEL_PENDING)
		return -ETIMEDOUT;
	return KEEL_PENDING;
}

intptr_t keel_interval_tick(struct keel_cx *cx, struct keel_interval *iv,
			    uint64_t period)
{
	uint64_t now, ticks;

	if (!cx || !iv || (!period && !iv->period))
		return -EINVAL;
	if (!iv->period) {
		iv->period = period;
		iv->next = cx->worker->now + period;
	}
	if (timer_wait(cx, &iv->timer, iv->next) == KEEL_PENDING)
		return KEEL_PENDING;
	now = cx->worker->now;
	ticks = 1;
	if (now > iv->next)
		ticks += (now - iv->next) / iv->period;
	iv->next += ticks * iv->period;
	return (intptr_t)ticks;
}
