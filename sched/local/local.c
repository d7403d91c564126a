/* SPDX-License-Identifier: MIT */
/*
 * sched/local: one worker on the thread that creates the runtime; tasks run
 * to completion in FIFO order. Everything a task touches stays on that
 * thread, so the hot path takes no lock: the only one is the inbox's, when
 * a wake arrives from another thread.
 */
#include <errno.h>
#include <keel/log.h>
#include <keel/sched.h>
#include <keel/sched_local.h>
#include <stdlib.h>

struct local {
	struct keel_worker *w;
};

static int local_create(struct keel_runtime *rt, unsigned workers, void **out)
{
	struct local *l;
	int rc;

	if (workers > 1) {
		keel_log(KEEL_LOG_ERROR, "keel: sched 'local' runs one worker, "
			 "not %u (choose pool, steal or shard for more)", workers);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	keel_runtime_plan_workers(rt, 1);
	rc = keel_worker_create(rt, 0, &l->w);
	if (rc < 0) { /* the runtime frees what was created */
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static void local_destroy(void *s)
{
	free(s);
}

static struct keel_worker *local_home(void *s)
{
	return ((struct local *)s)->w;
}

static void local_block_on(void *s, struct keel_join *root)
{
	keel_worker_run(((struct local *)s)->w, root);
}

const struct keel_sched_ops keel_sched_local = {
	.name = "local",
	.summary = "one thread, run to completion (tokio current_thread)",
	.create = local_create,
	.destroy = local_destroy,
	.home = local_home,
	.block_on = local_block_on,
};
KEEL_SCHED_EXPORT(keel_sched_local);
