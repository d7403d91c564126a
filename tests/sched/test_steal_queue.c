/* SPDX-License-Identifier: MIT */
/*
 * sched/steal/queue.h under concurrent push, pop and steal: one owner
 * pushing and popping, three thieves stealing half at a time, for a bounded
 * number of items. Every item must come out exactly once.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../../sched/steal/queue.h"

#define ITEMS	400000
#define THIEVES 3

static struct keel__lqueue q;
static atomic_uchar seen[ITEMS + 1];
static atomic_int duplicates, taken, owner_done;

static void take(struct keel_task *t)
{
	uintptr_t i = (uintptr_t)t;

	if (i == 0 || i > ITEMS || atomic_fetch_add(&seen[i], 1) != 0)
		atomic_fetch_add(&duplicates, 1);
	atomic_fetch_add(&taken, 1);
}

static void *thief(void *arg)
{
	struct keel__lqueue *mine = arg;

	while (!atomic_load(&owner_done) || !keel__lq_empty(&q)) {
		struct keel_task *t = keel__lq_steal_into(&q, mine);

		if (!t) {
			sched_yield();
			continue;
		}
		take(t);
		while ((t = keel__lq_pop(mine)))
			take(t);
	}
	return NULL;
}

Test(steal_queue, concurrent_push_pop_steal_loses_nothing, .timeout = 60)
{
	static struct keel__lqueue mine[THIEVES];
	pthread_t th[THIEVES];
	uintptr_t next = 1;

	keel__lq_init(&q);
	for (int i = 0; i < THIEVES; i++) {
		keel__lq_init(&mine[i]);
		cr_assert_eq(pthread_create(&th[i], NULL, thief, &mine[i]), 0);
	}
	while (next <= ITEMS) {
		/* Push a burst (up to full), then pop a few ourselves. */
		for (int k = 0; k < 64 && next <= ITEMS; k++) {
			if (!keel__lq_push(&q, (struct keel_task *)next))
				break;
			next++;
		}
		for (int k = 0; k < 16; k++) {
			struct keel_task *t = keel__lq_pop(&q);
			if (!t)
				break;
			take(t);
		}
	}
	atomic_store(&owner_done, 1);
	for (struct keel_task *t; (t = keel__lq_pop(&q));)
		take(t);
	for (int i = 0; i < THIEVES; i++)
		pthread_join(th[i], NULL);
	int dups = atomic_load(&duplicates), n = atomic_load(&taken);

	cr_assert_eq(dups, 0, "an item came out twice (or was bogus)");
	cr_assert_eq(n, ITEMS, "taken %d of %d", n, ITEMS);
	for (int i = 1; i <= ITEMS; i++) {
		int times = atomic_load(&seen[i]);

		cr_assert_eq(times, 1, "item %d seen %d times", i, times);
	}
}

Test(steal_queue, full_and_half)
{
	static struct keel__lqueue a, b;
	struct keel_task *out[KEEL__LQ_CAP];

	keel__lq_init(&a);
	keel__lq_init(&b);
	for (uintptr_t i = 1; i <= KEEL__LQ_CAP; i++)
		cr_assert(keel__lq_push(&a, (struct keel_task *)i));
	cr_assert_not(keel__lq_push(&a, (struct keel_task *)999), "full");
	cr_assert_eq(keel__lq_pop_half(&a, out), KEEL__LQ_CAP / 2);
	cr_assert_eq((uintptr_t)out[0], 1, "FIFO: the oldest first");
	cr_assert_eq(keel__lq_len(&a), KEEL__LQ_CAP / 2);
	/* A thief takes half (rounded up) and runs the first. */
	cr_assert_eq((uintptr_t)keel__lq_steal_into(&a, &b), KEEL__LQ_CAP / 2 + 1);
	cr_assert_eq(keel__lq_len(&b), KEEL__LQ_CAP / 4 - 1);
	cr_assert_eq(keel__lq_len(&a), KEEL__LQ_CAP / 4);
}
