/* SPDX-License-Identifier: MIT */
/*
 * Readiness without consuming (keel_fd): the application's own fd in the
 * driver's epoll set, reported readable and never read by keel — tokio's
 * AsyncFd poll_read_ready / clear_ready. A trip through an eventfd then
 * costs the application's write and nothing else: no read to re-arm it,
 * since every write to an eventfd is a new edge for an edge-triggered epoll.
 *
 * The fd is dup'ed so the handle can go through the driver's common close
 * (which closes what it registered) while the caller's fd stays open.
 *
 * Readiness is the dispatch's "edge since" mark, kept as for the eventfd
 * source (event.c): io.ready, set by the dispatch on the owner's thread,
 * where the waiter runs too (keel_cx_home) and which never dispatches
 * during a poll, so a clear in the same poll as the ready cannot hide a
 * newer edge.
 */
#include "kernel_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct kernel_fd {
	struct keel__kio io; /* first: epoll's data.ptr points here too */
};

static void fd_free(struct keel__kio *io)
{
	keel__kernel_del(io);
	free(io);
}

static void fd_close_impl(void *impl)
{
	fd_free(impl);
}

int keel_fd_open(struct keel_cx *cx, struct keel_fd *h, int fd)
{
	struct keel__kernel *d;
	struct kernel_fd *k;
	int rc;

	if (!cx || !h || fd < 0)
		return -EINVAL;
	if (h->impl)
		return -EBUSY;
	d = keel_cx_driver(cx, &keel_drv_kernel);
	if (!d)
		return -ENOTSUP;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->io.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (k->io.fd < 0) {
		rc = keel__kernel_err(errno);
		goto err_free;
	}
	k->io.free = fd_free;
	k->io.ready = false; /* epoll's ADD reports an fd readable already */
	rc = keel__kernel_add(d, &k->io);
	if (rc < 0)
		goto err_fd;
	h->impl = k;
	keel_cx_home(cx, d->worker); /* the waiter lives here (0: it is) */
	return 0;

err_fd:
	close(k->io.fd);
err_free:
	free(k);
	return rc;
}

intptr_t keel_fd_read_ready(struct keel_cx *cx, struct keel_fd *h)
{
	struct kernel_fd *k;
	intptr_t r;

	if (!cx || !h)
		return -EINVAL;
	k = h->impl;
	if (!k)
		return -EBADF;
	r = keel_cx_home(cx, k->io.drv->worker);
	if (r != 0)
		return r;
	if (k->io.ready)
		return 0;
	errno = EAGAIN;
	return keel__kernel_done(&k->io, KEEL__KIO_RD, cx, -1);
}

void keel_fd_clear_read_ready(struct keel_fd *h)
{
	struct kernel_fd *k = h ? h->impl : NULL;

	if (k)
		k->io.ready = false; /* the task that saw it ready: the owner's */
}

int keel_fd_close(struct keel_fd *h)
{
	int rc;

	if (!h)
		return -EINVAL;
	if (!h->impl)
		return -EBADF;
	/* On the owner's thread: the handle is in its epoll set and list. */
	rc = keel_worker_call(((struct kernel_fd *)h->impl)->io.drv->worker,
			      fd_close_impl, h->impl);
	if (rc == 0)
		h->impl = NULL;
	return rc;
}
