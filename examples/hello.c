/* SPDX-License-Identifier: MIT */
/* hello: the smallest async program. The main task spawns a second task,
 * which says hello; awaiting its join handle gives back its result.
 * usage: hello [NAME] (default: world) */
#include <keel/keel.h>
#include <stdio.h>

struct greet {
	struct keel_co co;
	const char *name;
};

static intptr_t greet(void *frame, struct keel_cx *cx)
{
	struct greet *f = frame;

	(void)cx;
	KEEL_BEGIN(f);
	printf("hello %s\n", f->name);
	KEEL_RETURN(f, 42);
	KEEL_END(f);
}

struct hello {
	struct keel_co co;
	struct keel_args args;
	struct keel_join *join; /* NULL once awaited: the await consumes it */
	intptr_t res;
};

static intptr_t hello(void *frame, struct keel_cx *cx)
{
	struct hello *f = frame;
	int rc;

	KEEL_BEGIN(f);
	/* The frame is copied into the new task: a compound literal will do. */
	rc = KEEL_SPAWN(cx, greet, NULL, &f->join, struct greet,
			.name = f->args.argc > 1 ? f->args.argv[1] : "world");
	if (rc < 0)
		KEEL_RETURN(f, rc);
	KEEL_AWAIT(f, f->res, keel_join_poll(cx, f->join));
	f->join = NULL;
	if (keel_runtime_config(keel_cx_runtime(cx))->verbose)
		printf("the greeting task returned %ld\n", (long)f->res);
	KEEL_END(f);
}

/* Stopped before the join (a signal): the handle must not leak. */
static void hello_drop(void *frame)
{
	struct hello *f = frame;

	if (f->join)
		keel_join_abort(f->join);
}

KEEL_MAIN(hello, hello_drop, struct hello, "hello [NAME]")
