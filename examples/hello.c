/* SPDX-License-Identifier: MIT */
/* hello: the smallest async program. main awaits an async function, whose
 * frame lives inside main's (no spawn, no allocation): the seed's
 * `say_hi(name).await`.
 * usage: hello [NAME] (default: world) */
#include <keel/keel.h>
#include <stdio.h>

struct say_hi {
	struct keel_co co;
	const char *name;
};

static intptr_t say_hi(void *frame, struct keel_cx *cx)
{
	struct say_hi *f = frame;

	(void)cx;
	KEEL_BEGIN(f);
	printf("hello %s\n", f->name);
	KEEL_END(f);
}

struct hello {
	struct keel_co co;
	struct keel_args args;
	struct say_hi hi; /* the child's frame */
	intptr_t r;
};

static intptr_t hello(void *frame, struct keel_cx *cx)
{
	struct hello *f = frame;

	KEEL_BEGIN(f);
	KEEL_AWAIT_CALL(f, cx, f->r, say_hi, f->hi,
			.name = f->args.argc > 1 ? f->args.argv[1] : "world");
	KEEL_END(f);
}

KEEL_MAIN(hello, NULL, struct hello, "hello [NAME]")
