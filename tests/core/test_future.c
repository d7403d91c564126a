/* SPDX-License-Identifier: MIT */
/*
 * The coroutine macros of core/include/keel/future.h, polled by hand (no
 * runtime): KEEL_TRY, KEEL_SELECT's order, and the traps of KEEL_BEGIN (an
 * await inside a user switch, a frame polled after it returned), each in a
 * forked child whose death and message are checked.
 */
#include <errno.h>
#include <keel/keel.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A poll expression the test drives: pending until *v is set. */
static intptr_t gate(const intptr_t *v, int *evals)
{
	++*evals;
	return *v;
}

struct tryf {
	struct keel_co co;
	intptr_t in, r;
	int evals, after;
};

static intptr_t try_body(void *frame, struct keel_cx *cx)
{
	struct tryf *f = frame;

	(void)cx;
	KEEL_BEGIN(f);
	KEEL_TRY(f, f->r, gate(&f->in, &f->evals));
	f->after++;
	KEEL_RETURN(f, f->r + 1);
	KEEL_END(f);
}

Test(future, try_returns_error)
{
	struct tryf f = { .in = KEEL_PENDING };

	cr_assert_eq(try_body(&f, NULL), KEEL_PENDING);
	f.in = -EIO;
	cr_assert_eq(try_body(&f, NULL), -EIO);
	cr_assert_eq(f.after, 0, "the code after a failed KEEL_TRY ran");
	cr_assert_eq(f.evals, 2);
}

Test(future, try_passes_success)
{
	struct tryf f = { .in = 41 };

	cr_assert_eq(try_body(&f, NULL), 42);
	cr_assert_eq(f.after, 1);
}

struct self {
	struct keel_co co;
	intptr_t a, b, c, r;
	int ea, eb, ec, which;
};

static intptr_t sel_body(void *frame, struct keel_cx *cx)
{
	struct self *f = frame;

	(void)cx;
	KEEL_BEGIN(f);
	KEEL_SELECT(f, f->which, f->r, gate(&f->a, &f->ea), gate(&f->b, &f->eb),
		    gate(&f->c, &f->ec));
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

Test(future, select_first_ready_wins_in_order)
{
	struct self f = { .a = KEEL_PENDING, .b = KEEL_PENDING, .c = KEEL_PENDING };

	cr_assert_eq(sel_body(&f, NULL), KEEL_PENDING);
	cr_assert(f.ea == 1 && f.eb == 1 && f.ec == 1);
	f.b = 5;
	f.c = 6;
	cr_assert_eq(sel_body(&f, NULL), 5);
	cr_assert_eq(f.which, 1);
	cr_assert_eq(f.ec, 1, "a branch after the winner was evaluated");
}

Test(future, select_negative_result_wins)
{
	struct self f = { .a = KEEL_PENDING, .b = KEEL_PENDING, .c = -ETIMEDOUT };

	cr_assert_eq(sel_body(&f, NULL), -ETIMEDOUT);
	cr_assert_eq(f.which, 2);
}

/* An await inside the user's own switch: its resume point is a case of
 * that switch, which KEEL_BEGIN's switch cannot reach. */
struct usw {
	struct keel_co co;
	int mode;
	intptr_t in, r;
	int evals;
};

static intptr_t usw_body(void *frame, struct keel_cx *cx)
{
	struct usw *f = frame;

	(void)cx;
	KEEL_BEGIN(f);
	switch (f->mode) {
	case 1:
		KEEL_AWAIT(f, f->r, gate(&f->in, &f->evals));
		break;
	default:
		break;
	}
	KEEL_END(f);
}

/* Run \p fn in a child with stderr on a pipe; true if it died of SIGABRT
 * having written \p needle. */
static bool traps_with(void (*fn)(void), const char *needle)
{
	char buf[512] = { 0 };
	size_t got = 0;
	int p[2], st;
	pid_t pid;
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		fn();
		_exit(0); /* no trap: the parent sees a clean exit */
	}
	close(p[1]);
	while (got < sizeof(buf) - 1 &&
	       (n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, needle);
}

static void resume_inside_switch(void)
{
	struct usw f = { .mode = 1, .in = KEEL_PENDING };

	if (usw_body(&f, NULL) != KEEL_PENDING)
		return;
	f.in = 3;
	usw_body(&f, NULL); /* returned 0 silently before */
}

Test(future, await_in_user_switch_traps)
{
	cr_assert(traps_with(resume_inside_switch, "unknown resume point"));
}

static void poll_after_return(void)
{
	struct tryf f = { .in = 1 };

	if (try_body(&f, NULL) != 2)
		return;
	try_body(&f, NULL);
}

Test(future, poll_after_return_traps)
{
	cr_assert(traps_with(poll_after_return, "polled again after it returned"));
}

static void garbage_frame(void)
{
	struct tryf f = { .in = 1 };

	f.co.line = 12345; /* not zeroed */
	try_body(&f, NULL);
}

Test(future, unzeroed_frame_traps)
{
	cr_assert(traps_with(garbage_frame, "unknown resume point 12345"));
}

/* The same body without the misuse does not trap (the helper can fail). */
static void no_misuse(void)
{
	struct usw f = { .mode = 2 };

	usw_body(&f, NULL);
}

Test(future, no_trap_without_misuse)
{
	cr_assert_not(traps_with(no_misuse, "keel"));
}
