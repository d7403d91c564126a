/* SPDX-License-Identifier: MIT */
/* drivers/kernel/fd.c: readiness without consuming (keel_fd): ready on an
 * edge, kept until cleared, an edge after the report not lost, keel never
 * reading the fd, the caller's fd left open, bad input. */
#include "ktest.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>

#define TRIPS 100

struct fd_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_fd h;
	int p[2], efd;
	unsigned i;
	char buf[16];
};

/* Writes one byte to a pipe, from another task. */
struct writer {
	struct keel_co co;
	int fd;
};

static intptr_t writer(void *frame, struct keel_cx *cx)
{
	(void)cx;
	return write(((struct writer *)frame)->fd, "x", 1) == 1 ? 0 : -errno;
}

KEEL_TEST(fd, ready_until_cleared, struct fd_frame)
{
	KEEL_BEGIN(f);
	cr_assert_eq(pipe2(f->p, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(keel_fd_open(cx, &f->h, f->p[0]), 0);
	cr_assert_eq(keel_fd_open(cx, &f->h, f->p[0]), -EBUSY);
	cr_assert_eq(keel_fd_read_ready(cx, &f->h), KEEL_PENDING,
		     "an empty pipe is not ready");
	cr_assert_eq(KEEL_SPAWN(cx, writer, NULL, NULL, struct writer, .fd = f->p[1]), 0);
	KT_AWAIT(f, keel_fd_read_ready(cx, &f->h));
	cr_assert_eq(f->r, 0, "ready once written: %s", keel_strerror((int)f->r));
	cr_assert_eq(read(f->p[0], f->buf, sizeof(f->buf)), 1);
	cr_assert_eq(keel_fd_read_ready(cx, &f->h), 0,
		     "still ready: only a clear forgets it");
	cr_assert_eq(read(f->p[0], f->buf, sizeof(f->buf)), -1);
	cr_assert_eq(errno, EAGAIN);
	keel_fd_clear_read_ready(&f->h);
	cr_assert_eq(keel_fd_read_ready(cx, &f->h), KEEL_PENDING);
	cr_assert_eq(KEEL_SPAWN(cx, writer, NULL, NULL, struct writer, .fd = f->p[1]), 0);
	KT_AWAIT(f, keel_fd_read_ready(cx, &f->h));
	cr_assert_eq(f->r, 0);
	cr_assert_eq(keel_fd_close(&f->h), 0);
	cr_assert_eq(keel_fd_close(&f->h), -EBADF);
	cr_assert_eq(fcntl(f->p[0], F_GETFD), FD_CLOEXEC, "the caller's fd is open");
	cr_assert_eq(read(f->p[0], f->buf, sizeof(f->buf)), 1, "and unread");
	close(f->p[0]);
	close(f->p[1]);
	KEEL_END(f);
}

/* Data that arrives between the report and the clear is not lost: the
 * clear forgets only what was reported. */
KEEL_TEST(fd, edge_after_the_report_survives_the_clear, struct fd_frame)
{
	KEEL_BEGIN(f);
	cr_assert_eq(pipe2(f->p, O_NONBLOCK | O_CLOEXEC), 0);
	cr_assert_eq(keel_fd_open(cx, &f->h, f->p[0]), 0);
	cr_assert_eq(write(f->p[1], "a", 1), 1);
	KT_AWAIT(f, keel_fd_read_ready(cx, &f->h));
	cr_assert_eq(f->r, 0);
	cr_assert_eq(read(f->p[0], f->buf, sizeof(f->buf)), 1);
	cr_assert_eq(write(f->p[1], "b", 1), 1); /* after the read, before the clear */
	keel_fd_clear_read_ready(&f->h);
	KT_AWAIT(f, keel_fd_read_ready(cx, &f->h));
	cr_assert_eq(f->r, 0, "the second edge woke us: %s", keel_strerror((int)f->r));
	cr_assert_eq(read(f->p[0], f->buf, sizeof(f->buf)), 1);
	cr_assert_eq(f->buf[0], 'b');
	cr_assert_eq(keel_fd_close(&f->h), 0);
	close(f->p[0]);
	close(f->p[1]);
	KEEL_END(f);
}

/* tokio's poll_reactor: write on pending, clear on ready, never read. The
 * eventfd's counter at the end says keel read nothing. */
KEEL_TEST(fd, eventfd_trips_without_reads, struct fd_frame)
{
	uint64_t v = 0;

	KEEL_BEGIN(f);
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(f->efd, 0);
	cr_assert_eq(keel_fd_open(cx, &f->h, f->efd), 0);
	for (f->i = 0; f->i < TRIPS; f->i++) {
		v = 1;
		cr_assert_eq(write(f->efd, &v, sizeof(v)), (ssize_t)sizeof(v));
		KT_AWAIT(f, keel_fd_read_ready(cx, &f->h));
		cr_assert_eq(f->r, 0, "trip %u: %s", f->i, keel_strerror((int)f->r));
		keel_fd_clear_read_ready(&f->h);
	}
	cr_assert_eq(read(f->efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	cr_assert_eq(v, TRIPS, "every write is still counted: nothing was read");
	cr_assert_eq(keel_fd_close(&f->h), 0);
	close(f->efd);
	KEEL_END(f);
}

KEEL_TEST(fd, bad_input, struct fd_frame)
{
	char path[] = "/tmp/keel-fd-XXXXXX";
	int file;

	KEEL_BEGIN(f);
	cr_assert_eq(keel_fd_open(cx, &f->h, -1), -EINVAL);
	cr_assert_eq(keel_fd_open(cx, NULL, 0), -EINVAL);
	cr_assert_eq(keel_fd_read_ready(cx, &f->h), -EBADF);
	cr_assert_eq(keel_fd_read_ready(cx, NULL), -EINVAL);
	keel_fd_clear_read_ready(&f->h); /* not open: nothing happens */
	keel_fd_clear_read_ready(NULL);
	cr_assert_eq(keel_fd_close(NULL), -EINVAL);
	file = mkstemp(path);
	cr_assert_geq(file, 0);
	unlink(path);
	cr_assert_eq(keel_fd_open(cx, &f->h, file), -EPERM, "epoll refuses regular files");
	cr_assert_null(f->h.impl);
	close(file);
	KEEL_END(f);
}
