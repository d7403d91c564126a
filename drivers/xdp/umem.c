/* SPDX-License-Identifier: MIT */
/*
 * The UMEM and the four rings of one instance, and the frames moving
 * through them: the free stack, refilling the fill ring, putting frames on
 * the TX ring and taking them back from the completion ring. The bottom
 * of the driver: it calls nothing of the driver's above it (xdp.c reads
 * the RX ring and hands each frame to net/ and the sockets; udp.c sends).
 *
 * Rings go through libxdp's inline reserve/submit and peek/release; the
 * kernel is told to transmit (a sendto(2) "kick") only when the TX ring
 * asks for it (need_wakeup; always, in copy mode), once per poll rather
 * than once per datagram, so every send of a worker tick shares one kick.
 */
#include "xdp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* ----------------------------------------------------------------- frames */

uint64_t keel__xdp_frame_get(struct keel__xdp *d)
{
	uint64_t a;

	if (!d->nfree)
		return UINT64_MAX;
	a = d->free[--d->nfree];
	d->state[keel__xdp_index(d, a)] = KEEL__F_BUSY;
	return a;
}

void keel__xdp_frame_put(struct keel__xdp *d, uint64_t addr)
{
	uint64_t a = keel__xdp_chunk(d, addr);
	unsigned i = keel__xdp_index(d, a);

	if (d->state[i] == KEEL__F_FREE)
		return; /* never twice on the stack, whatever the caller did */
	d->state[i] = KEEL__F_FREE;
	d->free[d->nfree++] = a;
}

/* ------------------------------------------------------------------- fill */

void keel__xdp_refill(struct keel__xdp *d)
{
	unsigned avail = d->nfree > KEEL__XDP_TX_RESERVE
				 ? d->nfree - KEEL__XDP_TX_RESERVE : 0;
	uint32_t idx;
	unsigned n;

	if (!avail) {
		if (d->in_kernel < KEEL__XDP_BATCH)
			KEEL__XSTAT_ADD(d, fill_short, 1);
		return;
	}
	n = xsk_prod_nb_free(&d->fq, avail);
	if (n > avail)
		n = avail;
	if (!n || xsk_ring_prod__reserve(&d->fq, n, &idx) != n)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = d->free[--d->nfree];

		d->state[keel__xdp_index(d, a)] = KEEL__F_KERNEL;
		*xsk_ring_prod__fill_addr(&d->fq, idx + i) = a;
	}
	xsk_ring_prod__submit(&d->fq, n);
	d->in_kernel += n;
	if (xsk_ring_prod__needs_wakeup(&d->fq)) {
		recvfrom(d->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		KEEL__XSTAT_ADD(d, fill_kicks, 1);
	}
}

/* --------------------------------------------------------------------- TX */

unsigned keel__xdp_complete(struct keel__xdp *d)
{
	uint32_t idx;
	unsigned n = xsk_ring_cons__peek(&d->cq, KEEL__XDP_RING, &idx);

	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++)
		keel__xdp_frame_put(d, *xsk_ring_cons__comp_addr(&d->cq, idx + i));
	xsk_ring_cons__release(&d->cq, n);
	d->in_tx -= n;
	return n;
}

unsigned keel__xdp_tx_room(struct keel__xdp *d, unsigned want)
{
	unsigned n = xsk_prod_nb_free(&d->tx, want);

	return n < want ? n : want;
}

void keel__xdp_tx_submit(struct keel__xdp *d, const uint64_t *addr,
			 const uint32_t *len, unsigned n)
{
	uint64_t bytes = 0;
	uint32_t idx;

	if (!n || xsk_ring_prod__reserve(&d->tx, n, &idx) != n)
		return; /* room was checked: cannot happen */
	for (unsigned i = 0; i < n; i++) {
		struct xdp_desc *desc = xsk_ring_prod__tx_desc(&d->tx, idx + i);

		desc->addr = addr[i];
		desc->len = len[i];
		desc->options = 0;
		d->state[keel__xdp_index(d, addr[i])] = KEEL__F_TX;
		bytes += len[i] - KEEL_NET_UDP_HDRS;
	}
	xsk_ring_prod__submit(&d->tx, n);
	d->in_tx += n;
	d->tx_kick = true;
	KEEL__XSTAT_ADD(d, tx_packets, n);
	KEEL__XSTAT_ADD(d, tx_bytes, bytes);
}

/* Descriptors the kernel has not taken from the TX ring yet. */
static unsigned tx_pending(struct keel__xdp *d)
{
	return KEEL__XDP_RING - xsk_prod_nb_free(&d->tx, KEEL__XDP_RING);
}

unsigned keel__xdp_kick(struct keel__xdp *d)
{
	unsigned done = 0;

	/* Copy mode sends at most 32 descriptors per call and says EAGAIN
	 * when more are left (or when the completion ring is full): a few
	 * rounds per poll, the rest at the next one. */
	for (unsigned round = 0; d->tx_kick && round < 8; round++) {
		if (!xsk_ring_prod__needs_wakeup(&d->tx)) {
			d->tx_kick = false;
			break;
		}
		KEEL__XSTAT_ADD(d, tx_kicks, 1);
		if (sendto(d->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN)
			break; /* EBUSY, ENOBUFS, ENETDOWN: next poll */
		done += keel__xdp_complete(d);
		d->tx_kick = tx_pending(d) != 0;
	}
	return done;
}

/* ------------------------------------------------------------ open/close */

static int umem_error(const struct keel__xdp *d, const char *what, int rc)
{
	switch (-rc) {
	case ENOMEM:
	case ENOBUFS:
	case EPERM:
		keel_log(KEEL_LOG_ERROR, "keel: xdp: %s for %s: %s: the UMEM (%zu KiB) is locked "
			"memory: run as root or with CAP_IPC_LOCK, or raise "
			"RLIMIT_MEMLOCK (`ulimit -l`), or use fewer frames "
			"(frames=N)",
			what, d->ifname, strerror(-rc), d->area_size / 1024);
		break;
	default:
		keel_log(KEEL_LOG_ERROR, "keel: xdp: %s for %s: %s", what, d->ifname,
			strerror(-rc));
	}
	return rc;
}

static int socket_error(const struct keel__xdp *d, int rc)
{
	switch (-rc) {
	case EINVAL:
		keel_log(KEEL_LOG_ERROR, "keel: xdp: AF_XDP socket on %s queue %u: %s: does the "
			"queue exist? (`ethtool -l %s` lists them; a veth gets "
			"more with `ethtool -L %s rx N tx N`)",
			d->ifname, d->queue, strerror(-rc), d->ifname, d->ifname);
		break;
	case EBUSY:
		keel_log(KEEL_LOG_ERROR, "keel: xdp: %s queue %u already has an AF_XDP socket "
			"(another keel process, or another worker with the same "
			"queue=)", d->ifname, d->queue);
		break;
	case EPERM:
	case EACCES:
		keel_log(KEEL_LOG_ERROR, "keel: xdp: AF_XDP socket on %s: %s: it needs "
			"CAP_NET_RAW and CAP_NET_ADMIN (run as root)",
			d->ifname, strerror(-rc));
		break;
	default:
		keel_log(KEEL_LOG_ERROR, "keel: xdp: AF_XDP socket on %s queue %u: %s",
			d->ifname, d->queue, strerror(-rc));
	}
	return rc;
}

int keel__xdp_umem_open(struct keel__xdp *d)
{
	const struct xsk_umem_config uc = {
		.fill_size = KEEL__XDP_RING,
		.comp_size = KEEL__XDP_RING,
		.frame_size = d->frame_size,
		.frame_headroom = KEEL__XDP_HEADROOM,
		.flags = 0,
	};
	struct xsk_socket_config sc = {
		.rx_size = KEEL__XDP_RING,
		.tx_size = KEEL__XDP_RING,
		.xdp_flags = 0,
		/* Neither XDP_COPY nor XDP_ZEROCOPY: the kernel tries
		 * zero-copy and falls back to copy (all veth can do). */
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	struct xdp_options opts = { 0 };
	socklen_t optlen = sizeof(opts);
	int rc;

	sc.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
	d->area_size = (size_t)d->nframes * d->frame_size;
	d->area = mmap(NULL, d->area_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->area == MAP_FAILED) {
		d->area = NULL;
		return umem_error(d, "mapping the UMEM", -errno);
	}
	d->free = malloc(d->nframes * sizeof(*d->free));
	d->state = calloc(d->nframes, sizeof(*d->state));
	if (!d->free || !d->state)
		return -ENOMEM;

	rc = xsk_umem__create(&d->umem, d->area, d->area_size, &d->fq, &d->cq,
			      &uc);
	if (rc) {
		d->umem = NULL;
		return umem_error(d, "registering the UMEM", rc < 0 ? rc : -rc);
	}
	/* The kernel lets go of a closed socket's queue asynchronously (a
	 * workqueue): a queue just given up by a runtime of this process,
	 * or by a process that just exited, reads as busy for a moment. */
	for (int tries = 0;; tries++) {
		rc = xsk_socket__create(&d->xsk, d->ifname, d->queue, d->umem,
					&d->rx, &d->tx, &sc);
		if (rc != -EBUSY || tries == 100)
			break;
		usleep(10 * 1000);
	}
	if (rc) {
		d->xsk = NULL;
		return socket_error(d, rc < 0 ? rc : -rc);
	}
	d->fd = xsk_socket__fd(d->xsk);
	if (getsockopt(d->fd, SOL_XDP, XDP_OPTIONS, &opts, &optlen) == 0)
		d->zerocopy = opts.flags & XDP_OPTIONS_ZEROCOPY;

	/* Lowest address on top: a quiet instance reuses a few frames. */
	for (unsigned i = 0; i < d->nframes; i++)
		d->free[i] = (uint64_t)(d->nframes - 1 - i) * d->frame_size;
	d->nfree = d->nframes;
	keel__xdp_refill(d);
	return 0;
}

/* Let what was sent leave before the socket goes: bounded, 50 ms. */
static void tx_flush(struct keel__xdp *d)
{
	uint64_t until = keel__xdp_clock() + 50 * 1000000ull;

	while (d->in_tx && keel__xdp_clock() < until) {
		d->tx_kick = true;
		keel__xdp_kick(d);
		keel__xdp_complete(d);
		if (d->in_tx)
			usleep(200);
	}
}

void keel__xdp_umem_close(struct keel__xdp *d)
{
	if (d->xsk) {
		tx_flush(d);
		xsk_socket__delete(d->xsk);
		d->xsk = NULL;
	}
	if (d->umem) {
		xsk_umem__delete(d->umem);
		d->umem = NULL;
	}
	if (d->area) {
		munmap(d->area, d->area_size);
		d->area = NULL;
	}
	free(d->free);
	free(d->state);
	d->free = NULL;
	d->state = NULL;
	d->fd = -1;
}
