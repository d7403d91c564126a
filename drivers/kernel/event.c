/* SPDX-License-Identifier: MIT */
/*
 * The eventfd readiness source: the cross-thread counterpart of
 * keel_ready. Any thread sets it with one write(2); the worker learns of it
 * through its epoll set, like a socket, and wakes the waiting task.
 *
 * A round trip (set, pending, woken, ready) costs one write, one epoll
 * event and one read. The read that would only say EAGAIN is skipped: a
 * successful read empties the eventfd, so until epoll reports a new edge
 * there is nothing to read and the poll registers its waker straight away.
 * A write that races with the read leaves its edge queued in epoll, so it
 * is not lost. "A new edge" is io.ready, set by the dispatch (the waiter
 * runs on the dispatching thread: the source's owner, keel_cx_home).
 */
#include "kernel_internal.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct kernel_event {
	struct keel__kio io; /* first: epoll's data.ptr points here too */
};

static void event_free(struct keel__kio *io)
{
	keel__kernel_del(io);
	free(io);
}

static void event_close_impl(void *impl)
{
	event_free(impl);
}

static intptr_t count_of(uint64_t v)
{
	return v > (uint64_t)INTPTR_MAX ? INTPTR_MAX : (intptr_t)v;
}

int keel_event_open(struct keel_cx *cx, struct keel_event *ev)
{
	struct keel__kernel *d;
	struct kernel_event *e;
	int rc;

	if (!cx || !ev)
		return -EINVAL;
	if (ev->impl)
		return -EBUSY;
	d = keel_cx_driver(cx, &keel_drv_kernel);
	if (!d)
		return -ENOTSUP;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->io.fd < 0) {
		rc = keel__kernel_err(errno);
		goto err_free;
	}
	e->io.free = event_free;
	e->io.ready = true; /* nothing known yet: the first poll reads */
	keel_cx_home(cx, d->worker); /* the waiter lives here (0: it is) */
	rc = keel__kernel_add(d, &e->io);
	if (rc < 0)
		goto err_fd;
	ev->impl = e;
	return 0;

err_fd:
	close(e->io.fd);
err_free:
	free(e);
	return rc;
}

intptr_t keel_event_poll(struct keel_cx *cx, struct keel_event *ev)
{
	struct kernel_event *e;
	uint64_t v;
	ssize_t n;

	if (!cx || !ev)
		return -EINVAL;
	e = ev->impl;
	if (!e)
		return -EBADF;
	n = keel_cx_home(cx, e->io.drv->worker);
	if (n != 0)
		return n;
	if (e->io.ready) {
		do
			n = read(e->io.fd, &v, sizeof(v));
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)sizeof(v)) {
			e->io.ready = false;
			return count_of(v);
		}
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return n < 0 ? keel__kernel_err(errno) : -EIO;
		e->io.ready = false;
	}
	errno = EAGAIN;
	return keel__kernel_done(&e->io, KEEL__KIO_RD, cx, -1);
}

int keel_event_set(struct keel_event *ev)
{
	struct kernel_event *e;
	uint64_t one = 1;
	int saved = errno;
	ssize_t n;

	if (!ev)
		return -EINVAL;
	e = ev->impl;
	if (!e)
		return -EBADF;
	do
		n = write(e->io.fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the counter is at its maximum, the source is set. */
	if (n < 0 && errno != EAGAIN) {
		n = keel__kernel_err(errno);
		errno = saved;
		return (int)n;
	}
	errno = saved;
	return 0;
}

int keel_event_close(struct keel_event *ev)
{
	int rc;

	if (!ev)
		return -EINVAL;
	if (!ev->impl)
		return -EBADF;
	/* On the owner's thread: the handle is in its epoll set and list. */
	rc = keel_worker_call(((struct kernel_event *)ev->impl)->io.drv->worker,
			      event_close_impl, ev->impl);
	if (rc == 0)
		ev->impl = NULL;
	return rc;
}
