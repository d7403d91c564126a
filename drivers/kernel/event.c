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
 * is not lost. "A new edge" is io.ready, set by the dispatch, on an affine
 * runtime (the waiter runs on the dispatching thread); on a migrating one
 * it is a read sequence other than the one seen before the last read that
 * left the eventfd empty.
 */
#include "kernel_internal.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct kernel_event {
	struct keel__kio io; /* first: epoll's data.ptr points here too */
	/* Migrating: io.seq[KEEL__KIO_RD] before the last read that left the
	 * eventfd empty (valid when empty_known); the waiter's alone. */
	uint32_t empty_seq;
	bool empty_known;
};

static void event_free(struct keel__kio *io)
{
	keel__kernel_del(io);
	keel__kernel_retire(io);
}

static intptr_t count_of(uint64_t v)
{
	return v > (uint64_t)INTPTR_MAX ? INTPTR_MAX : (intptr_t)v;
}

/* Migrating runtimes: the read is skipped while the sequence says no edge
 * came since the eventfd was seen empty. */
static intptr_t event_poll_shared(struct kernel_event *e, struct keel_cx *cx)
{
	uint64_t v;
	ssize_t n;

	for (unsigned tries = 0;; tries++) {
		uint32_t seq = keel__kernel_seq(&e->io, KEEL__KIO_RD);
		intptr_t w;

		if (!e->empty_known || seq != e->empty_seq) {
			do
				n = read(e->io.fd, &v, sizeof(v));
			while (n < 0 && errno == EINTR);
			if (n == (ssize_t)sizeof(v)) {
				e->empty_seq = seq;
				e->empty_known = true;
				return count_of(v);
			}
			if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				return n < 0 ? keel__kernel_err(errno) : -EIO;
			e->empty_seq = seq;
			e->empty_known = true;
		}
		w = keel__kernel_wait(&e->io, KEEL__KIO_RD, seq, tries, cx);
		if (w != KEEL__KERNEL_AGAIN)
			return w;
	}
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
	if (e->io.drv->migrating)
		return event_poll_shared(e, cx);
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
	return keel__kernel_wait(&e->io, KEEL__KIO_RD, 0, 0, cx);
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
	if (!ev)
		return -EINVAL;
	if (!ev->impl)
		return -EBADF;
	event_free(ev->impl);
	ev->impl = NULL;
	return 0;
}
