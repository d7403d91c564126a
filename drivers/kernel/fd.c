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
 * source (event.c). Affine runtimes: io.ready, set by the dispatch on the
 * waiter's own thread, which never runs during a poll, so a clear in the
 * same poll as the ready cannot hide a newer edge. Migrating runtimes: the
 * read sequence; a ready remembers the sequence it saw, a clear marks that
 * one as consumed, and a later edge (another sequence) is ready again.
 */
#include "kernel_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct kernel_fd {
	struct keel__kio io; /* first: epoll's data.ptr points here too */
	uint32_t seen_seq;   /* migrating: sequence of the last ready */
	uint32_t clear_seq;  /* migrating: sequence consumed by a clear */
};

static void fd_free(struct keel__kio *io)
{
	keel__kernel_del(io);
	keel__kernel_retire(io);
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
	/* Migrating: seq[RD] starts at 0, clear_seq too: not ready. */
	rc = keel__kernel_add(d, &k->io);
	if (rc < 0)
		goto err_fd;
	h->impl = k;
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

	if (!cx || !h)
		return -EINVAL;
	k = h->impl;
	if (!k)
		return -EBADF;
	if (!k->io.drv->migrating) {
		if (k->io.ready)
			return 0;
		return keel__kernel_wait(&k->io, KEEL__KIO_RD, 0, 0, cx);
	}
	for (unsigned tries = 0;; tries++) {
		uint32_t seq = keel__kernel_seq(&k->io, KEEL__KIO_RD);
		intptr_t w;

		if (seq != k->clear_seq) {
			k->seen_seq = seq;
			return 0;
		}
		w = keel__kernel_wait(&k->io, KEEL__KIO_RD, seq, tries, cx);
		if (w != KEEL__KERNEL_AGAIN)
			return w;
	}
}

void keel_fd_clear_read_ready(struct keel_fd *h)
{
	struct kernel_fd *k = h ? h->impl : NULL;

	if (!k)
		return;
	if (!k->io.drv->migrating)
		k->io.ready = false;
	else
		k->clear_seq = k->seen_seq;
}

int keel_fd_close(struct keel_fd *h)
{
	if (!h)
		return -EINVAL;
	if (!h->impl)
		return -EBADF;
	fd_free(h->impl);
	h->impl = NULL;
	return 0;
}
