/* SPDX-License-Identifier: MIT */
/*
 * The kernel driver's instance: one epoll set per worker, the eventfd that
 * unparks it, and the poll/park loop that turns epoll's edges into wakes.
 *
 * poll and park are the only places epoll_wait runs, on the worker's
 * thread, and tasks register their wakers from that same thread (core
 * moves a task to the worker that owns the handle); kernel_internal.h says
 * why no edge is lost. unpark is the one entry point other threads (and
 * signal handlers) use: it writes the eventfd, at most once per park.
 */
#include "kernel_internal.h"

#include <keel/log.h>
#include <keel/stats.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ----------------------------------------------------------- registration */

#define IO_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLET)

int keel__kernel_add(struct keel__kernel *d, struct keel__kio *io)
{
	struct epoll_event ev = {
		.events = IO_EVENTS | (io->wr_lazy ? 0 : EPOLLOUT),
		.data.ptr = io,
	};

	io->drv = d;
	io->wr_armed = !io->wr_lazy;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return keel__kernel_err(errno);
	keel_list_push_back(&d->open, &io->link);
	d->nopen++;
	return 0;
}

/* Arm or disarm EPOLLOUT. Arming re-reads the state (EPOLL_CTL_MOD), so
 * room that came since the send's EAGAIN is an edge at once. */
static int set_wr(struct keel__kio *io, bool on)
{
	struct epoll_event ev = {
		.events = IO_EVENTS | (on ? EPOLLOUT : 0),
		.data.ptr = io,
	};

	if (epoll_ctl(io->drv->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return keel__kernel_err(errno);
	io->wr_armed = on;
	return 0;
}

void keel__kernel_want_wr(struct keel__kio *io, struct keel_cx *cx)
{
	/* Without the edge nothing would end the wait: the sender tries
	 * again next tick instead (the error is as rare as ENOMEM). */
	if (!io->wr_armed && set_wr(io, true) < 0 && cx)
		keel_waker_wake_by_ref(keel_cx_waker(cx));
}

void keel__kernel_del(struct keel__kio *io)
{
	struct keel__kernel *d = io->drv;

	if (keel_list_linked(&io->link)) {
		keel_list_remove(&io->link);
		d->nopen--;
	}
	if (io->fd >= 0) {
		/* close() alone would do while no dup of the fd exists, but
		 * an fd handed out by keel_kernel_*_fd may have been dup'ed. */
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, io->fd, NULL);
		close(io->fd);
		io->fd = -1;
	}
	keel_waker_drop(&io->waker[KEEL__KIO_RD]);
	keel_waker_drop(&io->waker[KEEL__KIO_WR]);
}

/* --------------------------------------------------------- create/destroy */

/* "bufs=N,bufsize=BYTES"; NULL and "" are the defaults. */
static int parse_args(struct keel__kernel *d, const char *args)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;

	d->lend_bufs = KEEL__KERNEL_BUFS;
	d->lend_bufsize = KEEL__KERNEL_BUFSIZE;
	if (!args || !*args)
		return 0;
	copy = strdup(args);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		unsigned long v, lo, hi;
		unsigned *dst;

		if (eq)
			*eq = '\0';
		if (eq && strcmp(tok, "bufs") == 0) {
			dst = &d->lend_bufs;
			lo = 1;
			hi = KEEL__KERNEL_MAX_BUFS;
		} else if (eq && strcmp(tok, "bufsize") == 0) {
			dst = &d->lend_bufsize;
			lo = 64;
			hi = KEEL__KERNEL_MAX_BUFSIZE;
		} else {
			keel_log(KEEL_LOG_ERROR, "keel: kernel driver: unknown argument '%s' "
				"(takes bufs=N,bufsize=BYTES)", tok);
			rc = -EINVAL;
			break;
		}
		errno = 0;
		v = strtoul(eq + 1, &end, 10);
		if (eq[1] < '0' || eq[1] > '9' || errno || *end || v < lo ||
		    v > hi) {
			keel_log(KEEL_LOG_ERROR, "keel: kernel driver: bad value '%s' for %s "
				"(%lu..%lu)", eq + 1, tok, lo, hi);
			rc = -EINVAL;
			break;
		}
		*dst = (unsigned)v;
	}
	free(copy);
	return rc;
}

static int kernel_create(struct keel_worker *w, const char *args, void **out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct keel__kernel *d;
	int rc;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->worker = w;
	d->epfd = -1;
	d->unpark_fd = -1;
	keel_list_init(&d->open);
	keel_list_init(&d->tx_pending);
	atomic_init(&d->unpark_armed, false);
	rc = parse_args(d, args);
	if (rc < 0)
		goto err_free;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		rc = keel__kernel_err(errno);
		keel_log(KEEL_LOG_ERROR, "keel: kernel driver: epoll_create1: %s",
			strerror(-rc));
		goto err_free;
	}
	d->unpark_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->unpark_fd < 0) {
		rc = keel__kernel_err(errno);
		keel_log(KEEL_LOG_ERROR, "keel: kernel driver: eventfd: %s",
			strerror(-rc));
		goto err_epoll;
	}
	/* Level-triggered: the eventfd is drained at each event anyway, and
	 * a missed drain must not turn into a lost unpark. */
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->unpark_fd, &ev) < 0) {
		rc = keel__kernel_err(errno);
		keel_log(KEEL_LOG_ERROR, "keel: kernel driver: epoll_ctl: %s",
			strerror(-rc));
		goto err_eventfd;
	}
	*out = d;
	return 0;

err_eventfd:
	close(d->unpark_fd);
err_epoll:
	close(d->epfd);
err_free:
	free(d);
	return rc;
}

/* Handles the application leaked are freed here: their wakers hold task
 * references, which the worker's teardown needs back. */
static void kernel_destroy(void *drv)
{
	struct keel__kernel *d = drv;
	struct keel_list *n;

	if (!d)
		return;
	while ((n = keel_list_pop_front(&d->open))) {
		struct keel__kio *io = KEEL_CONTAINER_OF(n, struct keel__kio, link);

		io->free(io);
	}
	close(d->unpark_fd);
	close(d->epfd);
	free(d);
}

/* ------------------------------------------------------------ poll / park */

static void drain_unpark(struct keel__kernel *d)
{
	uint64_t v;

	/* Read first, disarm second: an unpark that finds the flag still
	 * set skips its write, but this park is returning anyway and the
	 * worker looks at its inbox next. */
	if (read(d->unpark_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		KEEL__KSTAT_ADD(d, wakeups, 1);
	atomic_store(&d->unpark_armed, false);
}

#define RD_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR)
#define WR_EVENTS (EPOLLOUT | EPOLLHUP | EPOLLERR)

static int dispatch(struct keel__kernel *d, const struct epoll_event *evs,
		    int n)
{
	for (int i = 0; i < n; i++) {
		struct keel__kio *io = evs[i].data.ptr;
		uint32_t e = evs[i].events;

		if (!io) {
			drain_unpark(d);
			continue;
		}
		if (e & RD_EVENTS) {
			io->ready = true;
			keel_waker_wake(&io->waker[KEEL__KIO_RD]);
		}
		if (e & WR_EVENTS) {
			keel_waker_wake(&io->waker[KEEL__KIO_WR]);
			if (io->wr_lazy && (e & EPOLLOUT))
				set_wr(io, false);
		}
	}
	KEEL__KSTAT_ADD(d, events, n);
	return n;
}

static int kernel_poll(void *drv)
{
	struct keel__kernel *d = drv;
	struct epoll_event evs[KEEL__KERNEL_EVENTS];
	int n;

	KEEL__KSTAT_ADD(d, polls, 1);
	/* The end of a tick: what send_to queued goes out now, before the
	 * look for edges (on loopback a receiver of ours is readable when
	 * sendmmsg returns). */
	if (!keel_list_empty(&d->tx_pending))
		keel__kernel_udp_flush(d);
	/* Nothing registered but the unpark eventfd (drained by park): save
	 * the syscall, which a busy worker would otherwise pay every tick. */
	if (!d->nopen)
		return 0;
	n = epoll_wait(d->epfd, evs, KEEL__KERNEL_EVENTS, 0);
	if (n <= 0)
		return 0; /* EINTR: the next tick polls again */
	return dispatch(d, evs, n);
}

/* Milliseconds for epoll_wait, rounded up: a park never ends before the
 * timer it waits for is due. */
static int timeout_ms(int64_t ns)
{
	int64_t ms;

	if (ns < 0)
		return -1;
	ms = ns / 1000000 + (ns % 1000000 != 0);
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int kernel_park(void *drv, int64_t timeout_ns)
{
	struct keel__kernel *d = drv;
	struct epoll_event evs[KEEL__KERNEL_EVENTS];
	int ms = timeout_ms(timeout_ns);
	int n;

	/* Nothing queued sleeps with the worker (poll flushed already,
	 * unless a send failed for want of room: then it waits for the
	 * EPOLLOUT edge this wait brings). */
	if (!keel_list_empty(&d->tx_pending))
		keel__kernel_udp_flush(d);
	if (ms != 0)
		KEEL__KSTAT_ADD(d, parks, 1);
	n = epoll_wait(d->epfd, evs, KEEL__KERNEL_EVENTS, ms);
	if (n <= 0)
		return 0;
	return dispatch(d, evs, n);
}

/* Beside other drivers: the epoll set itself is the wait fd (readable
 * while an edge waits in it; the worker has its own unpark eventfd). */
static int kernel_park_prepare(void *drv, int64_t *timeout_ns, int *fd)
{
	struct keel__kernel *d = drv;

	(void)timeout_ns;
	if (!keel_list_empty(&d->tx_pending))
		keel__kernel_udp_flush(d);
	KEEL__KSTAT_ADD(d, parks, 1);
	*fd = d->epfd;
	return 0;
}

/* What woke the worker is dispatched by the poll of its next tick, which
 * comes at once: nothing to do here (and no system call). */
static int kernel_park_finish(void *drv)
{
	(void)drv;
	return 0;
}

/* Any thread, async-signal-safe: an atomic exchange and a write(2). */
static void kernel_unpark(void *drv)
{
	struct keel__kernel *d = drv;
	uint64_t one = 1;
	int saved = errno;

	if (!atomic_exchange(&d->unpark_armed, true) &&
	    write(d->unpark_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		atomic_store(&d->unpark_armed, false);
	errno = saved;
}

static void kernel_stats(void *drv, struct keel_driver_stats *out)
{
	const struct keel__kernel_counters *s = &((struct keel__kernel *)drv)->stats;

#define LOAD(f) atomic_load_explicit(&s->f, memory_order_relaxed)
	*out = (struct keel_driver_stats){
		.rx_packets = LOAD(rx_packets),
		.rx_bytes = LOAD(rx_bytes),
		.tx_packets = LOAD(tx_packets),
		.tx_bytes = LOAD(tx_bytes),
		.rx_truncated = LOAD(rx_truncated),
		.rx_dropped = LOAD(rx_dropped) + LOAD(rx_sockbuf_dropped),
		.tx_dropped = LOAD(tx_dropped),
		.polls = LOAD(polls),
		.events = LOAD(events),
		.parks = LOAD(parks),
		.wakeups = LOAD(wakeups),
	};
#undef LOAD
}

/* The counters of this driver alone (keel_stats_read, --stats,
 * --metrics as keel_kernel_NAME). */
static void kernel_xstats(void *drv, keel_xstat_fn *fn, void *arg)
{
	const struct keel__kernel_counters *s = &((struct keel__kernel *)drv)->stats;

	fn(arg, "rx_sockbuf_dropped",
	   atomic_load_explicit(&s->rx_sockbuf_dropped, memory_order_relaxed),
	   KEEL_STAT_DROP);
}

const struct keel_driver_ops keel_drv_kernel = {
	.name = "kernel",
	.usage = "sockets + epoll; ARGS: bufs=N,bufsize=BYTES zero-copy "
		 "buffers per UDP socket (64, 2048)",
	.create = kernel_create,
	.destroy = kernel_destroy,
	.poll = kernel_poll,
	.park = kernel_park,
	.park_polls = true,
	.unpark = kernel_unpark,
	.park_prepare = kernel_park_prepare,
	.park_finish = kernel_park_finish,
	.stats = kernel_stats,
	.xstats = kernel_xstats,
	.udp_bind = keel__kernel_udp_bind,
	.tcp_connect = keel__kernel_tcp_connect,
	.tcp_listen = keel__kernel_tcp_listen,
};

KEEL_DRIVER_EXPORT(keel_drv_kernel);
