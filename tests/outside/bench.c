/* SPDX-License-Identifier: MIT */
/* A benchmark program outside keel's tree: KEEL_BENCH workloads and
 * KEEL_BENCH_MAIN, linked through keel-bench.pc or the subproject's
 * keel_bench dependency. */
#include <errno.h>
#include <keel/bench.h>
#include <keel/keel.h>

static intptr_t empty(void *frame, struct keel_cx *cx)
{
	(void)frame;
	(void)cx;
	return 0;
}

struct spawn_join {
	struct keel_co co;
	struct keel_join *j;
	intptr_t r;
};

KEEL_BENCH(outside_spawn, struct spawn_join, .ops = 1, .op = "spawn+join",
	   .what = "spawn an empty task and join it, from outside the tree")
{
	KEEL_BEGIN(f);
	if (keel_spawn(cx, empty, NULL, NULL, 0, &f->j) < 0)
		KEEL_RETURN(f, -ENOMEM);
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j));
	KEEL_END(f);
}

KEEL_BENCH_MAIN()
