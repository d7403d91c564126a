/* SPDX-License-Identifier: MIT */
/*
 * The DPDK driver's instance: one RX/TX queue pair of one port, polled by
 * one worker. poll() takes a burst from the RX queue and hands each frame
 * to net/: datagrams go to the bound socket's queue (the mbuf itself, no
 * copy), ARP requests and ICMP echo requests are answered in place from the
 * same mbuf, ARP replies release the frames that waited for them. Frames
 * to send wait in a small ring in order until tx_burst takes them; when
 * that ring is full, internal replies are dropped and counted and senders
 * wait for room.
 *
 * park() spins (park=busy), or sleeps on the queue's RX interrupt where the
 * PMD has one, or spins 50 us and then naps with a growing back-off;
 * unpark is an atomic flag, plus an eventfd write when the worker sleeps
 * in epoll.
 */
#include "dpdk_internal.h"

#include <keel/log.h>
#include <keel/stats.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define PFX "keel: dpdk driver: "

/* Flags of a received mbuf that stay when it is sent back. */
#define KEEP_OL_FLAGS (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT)

/* Longest nap of the back-off park (the shortest is 1 us, plus the
 * thread's timer slack, 50 us by default); before the first, it spins. */
#define NAP_MAX_NS 64000u

uint64_t keel__dpdk_now(const struct keel__dpdk *d)
{
	return keel__dpdk_ns(d, rte_rdtsc());
}

struct rte_mbuf *keel__dpdk_alloc(struct keel__dpdk *d)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);

	if (KEEL__DPDK_UNLIKELY(!m)) {
		KEEL__DSTAT_ADD(d, mbuf_alloc_failed, 1);
		if (!d->warned_nomem) {
			d->warned_nomem = true;
			keel_log(KEEL_LOG_WARN, PFX "port %u queue %u: mempool exhausted (%u "
				"mbufs): sends fail with ENOBUFS until mbufs "
				"come back; raise mbufs= or lower sockq=",
				d->port_id, d->queue, d->pool->size);
		}
	}
	return m;
}

/* -------------------------------------------------------------------- TX */

/* The payload length of a UDP datagram keel made, or -1 for its other
 * frames (ARP, ICMP echo replies): what rx/tx_packets count is datagrams,
 * as on the other drivers. keel's IPv4 headers have no options. */
static inline int udp_payload(const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);

	if (rte_pktmbuf_data_len(m) < KEEL_NET_UDP_HDRS || f[12] != 0x08 ||
	    f[13] != 0x00 || f[23] != IPPROTO_UDP)
		return -1;
	return ((f[38] << 8) | f[39]) - 8;
}

void keel__dpdk_tx_flush(struct keel__dpdk *d)
{
	unsigned before = d->tx_count;

	if (before > atomic_load_explicit(&d->stats.tx_pending_hwm,
					  memory_order_relaxed))
		atomic_store_explicit(&d->stats.tx_pending_hwm, before,
				      memory_order_relaxed);
	while (d->tx_count) {
		unsigned head = d->tx_head, chunk = d->tx_count, sent, i;
		uint64_t bytes = 0, udp = 0, udp_bytes = 0;
		int pl;

		if (chunk > d->tx_mask + 1 - head)
			chunk = d->tx_mask + 1 - head;
		for (i = 0; i < chunk; i++) {
			bytes += rte_pktmbuf_pkt_len(d->txq[head + i]);
			if ((pl = udp_payload(d->txq[head + i])) >= 0) {
				udp++;
				udp_bytes += (unsigned)pl;
			}
			KEEL__DPDK_TSAN(release, d->txq[head + i]);
		}
		sent = rte_eth_tx_burst(d->port_id, d->queue, &d->txq[head],
					(uint16_t)chunk);
		/* Only the frames not taken are still ours to look at. */
		for (i = sent; i < chunk; i++) {
			bytes -= rte_pktmbuf_pkt_len(d->txq[head + i]);
			if ((pl = udp_payload(d->txq[head + i])) >= 0) {
				udp--;
				udp_bytes -= (unsigned)pl;
			}
		}
		KEEL__DSTAT_ADD(d, tx_bursts, 1);
		KEEL__DSTAT_ADD(d, tx_frames, sent);
		KEEL__DSTAT_ADD(d, tx_bytes, bytes);
		KEEL__DSTAT_ADD(d, tx_udp, udp);
		KEEL__DSTAT_ADD(d, tx_udp_bytes, udp_bytes);
		d->tx_head = (head + sent) & d->tx_mask;
		d->tx_count -= sent;
		if (sent < chunk)
			break;
	}
	if (d->socks.wr_waiting && d->tx_count < before)
		keel__socks_wake_writers(&d->socks);
}

/* A frame keel makes on its own (reply, ARP request): dropped and counted
 * when there is no room, never waited for. */
static void tx_internal(struct keel__dpdk *d, struct rte_mbuf *m)
{
	if (!keel__dpdk_tx_room(d)) {
		KEEL__DSTAT_ADD(d, tx_full, 1);
		rte_pktmbuf_free(m);
		return;
	}
	keel__dpdk_tx_push(d, m);
}

/* Pad to the Ethernet minimum where the buffer allows: real NICs do it
 * themselves, virtual devices may not. */
static uint32_t pad_min(uint8_t *frame, uint32_t len, size_t cap)
{
	if (len >= KEEL__DPDK_MIN_FRAME || cap < KEEL__DPDK_MIN_FRAME)
		return len;
	memset(frame + len, 0, KEEL__DPDK_MIN_FRAME - len);
	return KEEL__DPDK_MIN_FRAME;
}

/* Send a short frame built on the stack (ARP requests). */
static void tx_copy(struct keel__dpdk *d, const uint8_t *frame, size_t len)
{
	struct rte_mbuf *m = keel__dpdk_alloc(d);
	uint8_t *p;

	if (!m)
		return;
	p = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(p, frame, len);
	m->data_len = (uint16_t)pad_min(p, (uint32_t)len, rte_pktmbuf_tailroom(m));
	m->pkt_len = m->data_len;
	KEEL__DSTAT_ADD(d, arp_requests, 1);
	tx_internal(d, m);
}

int keel__dpdk_tx_resolve(struct keel__dpdk *d, struct rte_mbuf *m,
			  uint64_t now)
{
	uint8_t arp[64];
	size_t arp_len = 0;
	int r;

	r = keel_net_tx_resolve(d->net, rte_pktmbuf_mtod(m, void *),
				rte_pktmbuf_data_len(m), now, arp, sizeof(arp),
				&arp_len);
	if (r == KEEL_NET_TX_SEND)
		keel__dpdk_tx_push(d, m);
	else
		rte_pktmbuf_free(m); /* queued (copied) for ARP, or an error */
	if (arp_len)
		tx_copy(d, arp, arp_len);
	return r < 0 ? r : 0;
}

/* Frames net/ held for ARP whose next hop is now known. */
static unsigned release_pending(struct keel__dpdk *d)
{
	unsigned n = 0;

	while (keel__dpdk_tx_room(d)) {
		struct rte_mbuf *m = keel__dpdk_alloc(d);
		int r;

		if (!m)
			break;
		r = keel_net_tx_pending(d->net, rte_pktmbuf_mtod(m, void *),
					rte_pktmbuf_tailroom(m));
		if (r <= 0) {
			rte_pktmbuf_free(m);
			break;
		}
		m->data_len = (uint16_t)r;
		m->pkt_len = (uint32_t)r;
		keel__dpdk_tx_offload(d, m); /* only UDP waits for ARP */
		keel__dpdk_tx_push(d, m);
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ neighbours */

/* Tell the other queues' instances what ARP taught this one. */
static void neigh_publish(struct keel__dpdk *d, const struct keel_net_rx_result *r)
{
	struct keel__dpdk_port *p = d->port;

	if (!r->src_ip)
		return; /* a probe from 0.0.0.0 teaches nothing */
	pthread_mutex_lock(&p->neigh_lock);
	for (unsigned q = 0; q < p->nb_queues; q++) {
		struct keel__dpdk *o = p->inst[q];
		unsigned i;

		if (!o || o == d)
			continue;
		for (i = 0; i < o->neigh_n && o->neigh_in[i].ip != r->src_ip; i++)
			;
		if (i == KEEL__DPDK_NEIGH_IN)
			continue; /* full: its own ARP will ask again */
		o->neigh_in[i].ip = r->src_ip;
		memcpy(o->neigh_in[i].mac, r->src_mac, 6);
		if (i == o->neigh_n)
			o->neigh_n++;
		atomic_store(&o->neigh_pending, true);
	}
	pthread_mutex_unlock(&p->neigh_lock);
}

static int neigh_drain(struct keel__dpdk *d, uint64_t now)
{
	struct keel__dpdk_port *p = d->port;
	uint32_t ip[KEEL__DPDK_NEIGH_IN];
	uint8_t mac[KEEL__DPDK_NEIGH_IN][6];
	unsigned n;

	pthread_mutex_lock(&p->neigh_lock);
	n = d->neigh_n;
	for (unsigned i = 0; i < n; i++) {
		ip[i] = d->neigh_in[i].ip;
		memcpy(mac[i], d->neigh_in[i].mac, 6);
	}
	d->neigh_n = 0;
	atomic_store(&d->neigh_pending, false);
	pthread_mutex_unlock(&p->neigh_lock);
	for (unsigned i = 0; i < n; i++)
		if (keel_net_neigh_set(d->net, ip[i], mac[i], now, 0) == 0)
			KEEL__DSTAT_ADD(d, neigh_shared, 1);
	return (int)(n + release_pending(d));
}

/* ------------------------------------------------------------------- RX */

struct rx_tally {
	unsigned udp, no_socket, multiseg;
	uint64_t udp_bytes;
};

/* Queue a datagram on its socket, what net/ found in the mbuf's headroom;
 * false: no socket, or no room (counted by the socket layer). */
static inline bool deliver(struct keel__dpdk *d, struct rte_mbuf *m,
			   const struct keel_net_rx_result *r,
			   struct rx_tally *t)
{
	struct keel__dpdk_sock *s = d->by_port[r->dst_port];
	size_t room = (size_t)m->buf_len - m->data_off - r->payload_off;
	size_t maxp = keel__dpdk_max_payload(d);
	struct keel__dgram g = {
		.buf = (uintptr_t)m,
		.data = rte_pktmbuf_mtod(m, uint8_t *) + r->payload_off,
		.len = r->payload_len,
		.cap = (uint32_t)(room < maxp ? room : maxp),
		.src_ip = r->src_ip,
		.src_port = r->src_port,
	};

	if (KEEL__DPDK_UNLIKELY(!s || (s->sock.ip && s->sock.ip != r->dst_ip))) {
		t->no_socket++;
		return false;
	}
	*keel__dpdk_meta(m) = *r;
	if (KEEL__DPDK_UNLIKELY(!keel__sock_push(&s->sock, &g)))
		return false;
	t->udp++;
	t->udp_bytes += r->payload_len;
	return true;
}

/* Answer an ARP or echo request from its own mbuf; consumes \p m. */
static void answer(struct keel__dpdk *d, struct rte_mbuf *m,
		   const struct keel_net_rx_result *r)
{
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	size_t cap = (size_t)m->buf_len - m->data_off;
	int len = keel_net_reply(d->net, f, cap, r);

	if (len < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = (uint16_t)pad_min(f, (uint32_t)len, cap);
	m->pkt_len = m->data_len;
	m->ol_flags &= KEEP_OL_FLAGS;
	if (r->kind == KEEL_NET_RX_ARP_REQUEST)
		KEEL__DSTAT_ADD(d, arp_replies, 1);
	else
		KEEL__DSTAT_ADD(d, icmp_replies, 1);
	tx_internal(d, m);
}

/* Frames are written in place (replies, zero-copy sends): one that shares
 * its buffer, or has no headroom for keel__dpdk_meta, is copied first. */
static inline struct rte_mbuf *writable(struct keel__dpdk *d, struct rte_mbuf *m)
{
	struct rte_mbuf *c;

	if (KEEL__DPDK_LIKELY(RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1 &&
			      rte_pktmbuf_headroom(m) >= KEEL__DPDK_META_ROOM))
		return m;
	c = rte_pktmbuf_copy(m, d->pool, 0, UINT32_MAX);
	rte_pktmbuf_free(m);
	if (!c)
		KEEL__DSTAT_ADD(d, mbuf_alloc_failed, 1);
	return c;
}

static unsigned rx_frames(struct keel__dpdk *d, struct rte_mbuf **pkts,
			  unsigned n, uint64_t now)
{
	struct rte_mbuf *dead[KEEL__DPDK_BURST];
	struct keel_net_rx_result r;
	struct rx_tally t = { 0 };
	unsigned ndead = 0, extra = 0;
	uint64_t bytes = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		unsigned flags = 0;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		bytes += rte_pktmbuf_pkt_len(m);
		if (KEEL__DPDK_UNLIKELY(m->nb_segs != 1)) {
			t.multiseg++;
			dead[ndead++] = m;
			continue;
		}
		if (d->rx_ip_ok && (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) ==
					   RTE_MBUF_F_RX_IP_CKSUM_GOOD)
			flags |= KEEL_NET_RX_IP_CSUM_OK;
		if (d->rx_l4_ok && (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
					   RTE_MBUF_F_RX_L4_CKSUM_GOOD)
			flags |= KEEL_NET_RX_L4_CSUM_OK;
		switch (keel_net_rx(d->net, rte_pktmbuf_mtod(m, void *),
				    rte_pktmbuf_data_len(m), flags, now, &r)) {
		case KEEL_NET_RX_UDP:
			m = writable(d, m);
			if (m && !deliver(d, m, &r, &t))
				dead[ndead++] = m;
			break;
		case KEEL_NET_RX_ARP_REQUEST:
			if (d->sharing)
				neigh_publish(d, &r);
			m = writable(d, m);
			if (m)
				answer(d, m, &r);
			if (r.tx_ready)
				extra += release_pending(d);
			break;
		case KEEL_NET_RX_ICMP_ECHO:
			m = writable(d, m);
			if (m)
				answer(d, m, &r);
			break;
		case KEEL_NET_RX_ARP:
			if (d->sharing)
				neigh_publish(d, &r);
			if (r.tx_ready)
				extra += release_pending(d);
			dead[ndead++] = m;
			break;
		case KEEL_NET_RX_DROP:
		default:
			dead[ndead++] = m; /* counted by net/ */
			break;
		}
	}
	if (ndead)
		rte_pktmbuf_free_bulk(dead, ndead);
	KEEL__DSTAT_ADD(d, rx_bursts, 1);
	KEEL__DSTAT_ADD(d, rx_frames, n);
	KEEL__DSTAT_ADD(d, rx_bytes, bytes);
	KEEL__DSTAT_ADD(d, rx_udp, t.udp);
	KEEL__DSTAT_ADD(d, rx_udp_bytes, t.udp_bytes);
	if (KEEL__DPDK_UNLIKELY(t.no_socket | t.multiseg)) {
		KEEL__DSTAT_ADD(d, rx_no_socket, t.no_socket);
		KEEL__DSTAT_ADD(d, rx_multiseg, t.multiseg);
	}
	return n + extra;
}

/* ------------------------------------------------------------ poll, tick */

static void snapshot_net(struct keel__dpdk *d)
{
	struct keel_net_stats ns;
	uint64_t w[KEEL__NET_STATS_WORDS];

	keel_net_stats_get(d->net, &ns);
	memcpy(w, &ns, sizeof(w));
	for (size_t i = 0; i < KEEL__NET_STATS_WORDS; i++)
		atomic_store_explicit(&d->net_snap[i], w[i], memory_order_relaxed);
}

/* Every millisecond: ARP retries and timeouts, frames ARP released, and
 * net/'s counters for readers on other threads. */
static unsigned tick(struct keel__dpdk *d, uint64_t tsc)
{
	uint64_t now = keel__dpdk_ns(d, tsc);
	uint8_t arp[64];
	unsigned n = 0;
	int len;

	d->tick_next = tsc + d->tick_period;
	for (int i = 0; i < 16; i++) {
		len = keel_net_tick(d->net, now, arp, sizeof(arp));
		if (len <= 0)
			break;
		tx_copy(d, arp, (size_t)len);
		n++;
	}
	n += release_pending(d);
	snapshot_net(d);
	return n;
}

/*
 * A worker thread that EAL did not start has no lcore id, and the mempool
 * serves it from the shared ring, skipping the per-lcore cache: register
 * it (rte_thread_register, on its first poll, after --cpus pinned it) and
 * give the id back when the thread ends (a thread-specific key's
 * destructor), so runtimes made one after another do not use up
 * RTE_MAX_LCORE.
 */
static pthread_key_t lcore_key;
static pthread_once_t lcore_once = PTHREAD_ONCE_INIT;
static bool lcore_key_ok;

static void lcore_release(void *arg)
{
	(void)arg;
	rte_thread_unregister();
}

static void lcore_key_make(void)
{
	lcore_key_ok = pthread_key_create(&lcore_key, lcore_release) == 0;
}

static void register_lcore(struct keel__dpdk *d)
{
	if (rte_lcore_id() != LCORE_ID_ANY)
		return; /* EAL's own thread, or registered by an earlier instance */
	pthread_once(&lcore_once, lcore_key_make);
	if (!lcore_key_ok || rte_thread_register() < 0) {
		if (!d->said_lcore)
			keel_log(KEEL_LOG_ERROR, PFX "worker %u: no lcore id for its thread "
				"(%s): its mbufs skip the mempool cache",
				keel_worker_index(d->worker), rte_strerror(rte_errno));
		d->said_lcore = true;
		return;
	}
	pthread_setspecific(lcore_key, d);
}

static int dpdk_poll(void *drv)
{
	struct keel__dpdk *d = drv;
	struct rte_mbuf *pkts[KEEL__DPDK_BURST];
	unsigned ev = 0;
	uint64_t tsc;
	uint16_t n;

	KEEL__DSTAT_ADD(d, polls, 1);
	if (KEEL__DPDK_UNLIKELY(!atomic_load_explicit(&d->has_owner,
						       memory_order_relaxed))) {
		d->owner = pthread_self();
		atomic_store_explicit(&d->has_owner, true, memory_order_release);
		register_lcore(d);
	}
	if (d->tx_count)
		keel__dpdk_tx_flush(d);
	n = rte_eth_rx_burst(d->port_id, d->queue, pkts, KEEL__DPDK_BURST);
	for (unsigned i = 0; i < n; i++)
		KEEL__DPDK_TSAN(acquire, pkts[i]);
	tsc = rte_rdtsc();
	if (n)
		ev += rx_frames(d, pkts, n, keel__dpdk_ns(d, tsc));
	if (KEEL__DPDK_UNLIKELY(atomic_load_explicit(&d->neigh_pending,
						     memory_order_relaxed)))
		ev += (unsigned)neigh_drain(d, keel__dpdk_ns(d, tsc));
	if (KEEL__DPDK_UNLIKELY(tsc >= d->tick_next))
		ev += tick(d, tsc);
	if (d->tx_count)
		keel__dpdk_tx_flush(d);
	if (ev)
		KEEL__DSTAT_ADD(d, events, ev);
	return (int)ev;
}

/* ------------------------------------------------------------------ park */

static bool take_unpark(struct keel__dpdk *d)
{
	if (!atomic_load_explicit(&d->unparked, memory_order_relaxed))
		return false;
	atomic_store(&d->unparked, false);
	KEEL__DSTAT_ADD(d, wakeups, 1);
	return true;
}

/* The TSC \p ns from now; UINT64_MAX for never (or past the TSC's range). */
static uint64_t tsc_after(int64_t ns)
{
	unsigned __int128 t;

	if (ns < 0)
		return UINT64_MAX;
	t = rte_rdtsc() + ((unsigned __int128)ns * rte_get_tsc_hz()) / 1000000000u;
	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

static int park_busy(struct keel__dpdk *d, uint64_t deadline)
{
	for (;;) {
		int n = dpdk_poll(d);

		if (n || take_unpark(d) || rte_rdtsc() >= deadline)
			return n;
		rte_pause();
	}
}

/* Spin this long before the first nap: a request-response peer's next
 * datagram usually comes sooner, and a nap costs at least the timer slack. */
#define SPIN_NS 50000u

static int park_backoff(struct keel__dpdk *d, uint64_t deadline)
{
	uint64_t nap = 1000, spin_until = tsc_after(SPIN_NS);

	for (;;) {
		int n = dpdk_poll(d);
		uint64_t tsc, left;
		struct timespec ts;

		if (n || take_unpark(d))
			return n;
		tsc = rte_rdtsc();
		if (tsc >= deadline)
			return 0;
		if (tsc < spin_until) {
			rte_pause();
			continue;
		}
		left = deadline == UINT64_MAX ? nap : keel__dpdk_ns(d, deadline - tsc);
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left < nap ? left : nap);
		nanosleep(&ts, NULL);
		if (nap < NAP_MAX_NS)
			nap *= 2;
	}
}

static void intr_off(struct keel__dpdk *d);

static int park_intr(struct keel__dpdk *d, uint64_t deadline)
{
	struct rte_epoll_event ev[4];
	uint64_t tsc;
	int n, ms = 10; /* at most: ARP timers tick while asleep */

	rte_eth_dev_rx_intr_enable(d->port_id, d->queue);
	atomic_store(&d->sleeping, true);
	/* Armed first, polled second: a frame that came in between is seen
	 * here, and one that comes after raises the interrupt. */
	n = dpdk_poll(d);
	if (!n && !atomic_load(&d->unparked)) {
		tsc = rte_rdtsc();
		if (deadline != UINT64_MAX) {
			uint64_t left = deadline > tsc ? keel__dpdk_ns(d, deadline - tsc) : 0;
			uint64_t lms = (left + 999999) / 1000000;

			if (lms < (uint64_t)ms)
				ms = (int)lms;
		}
		if (ms > 0)
			rte_epoll_wait_interruptible(d->epfd, ev, 4, ms);
	}
	intr_off(d);
	return n + dpdk_poll(d);
}

static int dpdk_park(void *drv, int64_t timeout_ns)
{
	struct keel__dpdk *d = drv;
	uint64_t deadline;

	if (timeout_ns == 0)
		return dpdk_poll(d);
	KEEL__DSTAT_ADD(d, parks, 1);
	if (take_unpark(d))
		return dpdk_poll(d);
	deadline = tsc_after(timeout_ns);
	if (d->busy)
		return park_busy(d, deadline);
	if (d->rx_intr)
		return park_intr(d, deadline);
	return park_backoff(d, deadline);
}

/* Rx interrupts off again after a sleep; what came meanwhile is polled. */
static void intr_off(struct keel__dpdk *d)
{
	uint64_t v;

	atomic_store(&d->sleeping, false);
	rte_eth_dev_rx_intr_disable(d->port_id, d->queue);
	if (read(d->efd, &v, sizeof(v)) < 0) {
		/* nothing written: EAGAIN */
	}
	take_unpark(d);
}

/*
 * Beside other drivers: with Rx interrupts, the interrupt epoll set is the
 * wait fd, armed the way park_intr arms it (and looked at every 10 ms for
 * net/'s ARP timers); busy mode does not sleep; the back-off mode has
 * nothing to sleep on.
 */
static int dpdk_park_prepare(void *drv, int64_t *timeout_ns, int *fd)
{
	struct keel__dpdk *d = drv;
	int n;

	*fd = -1;
	if (d->busy) {
		*timeout_ns = 0;
		return 0;
	}
	if (!d->rx_intr)
		return 0;
	KEEL__DSTAT_ADD(d, parks, 1);
	rte_eth_dev_rx_intr_enable(d->port_id, d->queue);
	atomic_store(&d->sleeping, true);
	n = dpdk_poll(d); /* armed first, polled second */
	if (n || atomic_load(&d->unparked)) {
		intr_off(d);
		return n ? n : 1;
	}
	if (*timeout_ns < 0 || *timeout_ns > 10 * (int64_t)1000000)
		*timeout_ns = 10 * (int64_t)1000000;
	*fd = d->epfd;
	return 0;
}

static int dpdk_park_finish(void *drv)
{
	struct keel__dpdk *d = drv;

	if (d->rx_intr && !d->busy)
		intr_off(d);
	return dpdk_poll(d);
}

/* Any thread, async-signal-safe: atomics and a write(2). */
static void dpdk_unpark(void *drv)
{
	struct keel__dpdk *d = drv;
	uint64_t one = 1;
	int saved = errno;

	if (!atomic_exchange(&d->unparked, true) && d->rx_intr &&
	    atomic_load(&d->sleeping)) {
		if (write(d->efd, &one, sizeof(one)) < 0) {
			/* the counter is full: a wakeup is pending anyway */
		}
	}
	errno = saved;
}

/* ----------------------------------------------------------------- stats */

static void net_stats(struct keel__dpdk *d, struct keel_net_stats *out)
{
	uint64_t w[KEEL__NET_STATS_WORDS];

	/* Live on the worker's own thread (or before it ever polled);
	 * elsewhere the snapshot, at most a tick old. */
	if (!atomic_load_explicit(&d->has_owner, memory_order_acquire) ||
	    pthread_equal(d->owner, pthread_self()))
		snapshot_net(d);
	for (size_t i = 0; i < KEEL__NET_STATS_WORDS; i++)
		w[i] = atomic_load_explicit(&d->net_snap[i], memory_order_relaxed);
	memcpy(out, w, sizeof(*out));
}

static void dpdk_stats(void *drv, struct keel_driver_stats *out)
{
	struct keel__dpdk *d = drv;
	const struct keel__dpdk_counters *s = &d->stats;
	struct keel_net_stats ns;
	uint64_t rx_net = 0, tx_net = 0;

	net_stats(d, &ns);
	for (int i = KEEL_NET_DROP_RUNT; i < KEEL_NET_DROP_NO_ROUTE; i++)
		rx_net += ns.drops[i];
	for (int i = KEEL_NET_DROP_NO_ROUTE; i < KEEL_NET_DROP_MAX; i++)
		tx_net += ns.drops[i];
#define LOAD(f) atomic_load_explicit(&s->f, memory_order_relaxed)
	*out = (struct keel_driver_stats){
		/* datagrams and their payload, as on the other drivers; the
		 * port's frames (ARP, ICMP too) are in the xstats */
		.rx_packets = LOAD(rx_udp),
		.rx_bytes = LOAD(rx_udp_bytes),
		.tx_packets = LOAD(tx_udp),
		.tx_bytes = LOAD(tx_udp_bytes),
		.rx_truncated = LOAD(rx_truncated),
		.rx_dropped = rx_net + LOAD(rx_no_socket) + LOAD(rx_sock_full) +
			      LOAD(rx_multiseg),
		.tx_dropped = tx_net + LOAD(tx_full),
		.polls = LOAD(polls),
		.events = LOAD(events),
		.parks = LOAD(parks),
		.wakeups = LOAD(wakeups),
	};
#undef LOAD
	atomic_store_explicit(&d->stats_shown, true, memory_order_relaxed);
}

/* keel_stats_read's extended counters: the relaxed atomics, net/'s drops
 * by reason from the snapshot the worker keeps, and the port's own
 * counters (rte_eth_stats_get reads the PMD's, as DPDK's telemetry does
 * from its own thread). */
static void dpdk_xstats(void *drv, keel_xstat_fn *fn, void *arg)
{
	struct keel__dpdk *d = drv;
	const struct keel__dpdk_counters *s = &d->stats;
	struct keel_net_stats ns;
	struct rte_eth_stats es;

#define LOAD(f) atomic_load_explicit(&s->f, memory_order_relaxed)
	fn(arg, "rx_bursts", LOAD(rx_bursts), 0);
	fn(arg, "tx_bursts", LOAD(tx_bursts), 0);
	fn(arg, "rx_frames", LOAD(rx_frames), 0);
	fn(arg, "rx_frame_bytes", LOAD(rx_bytes), 0);
	fn(arg, "tx_frames", LOAD(tx_frames), 0);
	fn(arg, "tx_frame_bytes", LOAD(tx_bytes), 0);
	fn(arg, "rx_udp", LOAD(rx_udp), 0);
	fn(arg, "rx_no_socket", LOAD(rx_no_socket), KEEL_STAT_DROP);
	fn(arg, "rx_sock_full", LOAD(rx_sock_full), KEEL_STAT_DROP);
	fn(arg, "rx_multiseg", LOAD(rx_multiseg), KEEL_STAT_DROP);
	fn(arg, "tx_full", LOAD(tx_full), KEEL_STAT_DROP);
	fn(arg, "tx_pending_hwm", LOAD(tx_pending_hwm), KEEL_STAT_GAUGE);
	fn(arg, "mbuf_alloc_failed", LOAD(mbuf_alloc_failed), 0);
	fn(arg, "arp_replies", LOAD(arp_replies), 0);
	fn(arg, "icmp_replies", LOAD(icmp_replies), 0);
	fn(arg, "arp_requests", LOAD(arp_requests), 0);
	fn(arg, "neigh_shared", LOAD(neigh_shared), 0);
#undef LOAD
	net_stats(d, &ns);
	for (int r = KEEL_NET_DROP_RUNT; r < KEEL_NET_DROP_MAX; r++)
		fn(arg, keel_net_drop_name((enum keel_net_drop)r), ns.drops[r],
		   KEEL_STAT_DROP);
	if (rte_eth_stats_get(d->port_id, &es) == 0) {
		fn(arg, "port_imissed", es.imissed, KEEL_STAT_DROP);
		fn(arg, "port_ierrors", es.ierrors, KEEL_STAT_DROP);
		fn(arg, "port_oerrors", es.oerrors, KEEL_STAT_DROP);
		fn(arg, "port_rx_nombuf", es.rx_nombuf, KEEL_STAT_DROP);
	}
}

static void stats_read(struct keel__dpdk *d, struct keel_dpdk_stats *out)
{
	struct rte_eth_stats es;

#define LOAD(f) atomic_load_explicit(&d->stats.f, memory_order_relaxed)
	*out = (struct keel_dpdk_stats){
		.rx_bursts = LOAD(rx_bursts),
		.tx_bursts = LOAD(tx_bursts),
		.rx_frames = LOAD(rx_frames),
		.rx_bytes = LOAD(rx_bytes),
		.tx_frames = LOAD(tx_frames),
		.tx_bytes = LOAD(tx_bytes),
		.rx_udp = LOAD(rx_udp),
		.tx_udp = LOAD(tx_udp),
		.rx_no_socket = LOAD(rx_no_socket),
		.rx_sock_full = LOAD(rx_sock_full),
		.rx_multiseg = LOAD(rx_multiseg),
		.rx_truncated = LOAD(rx_truncated),
		.tx_full = LOAD(tx_full),
		.tx_pending_hwm = LOAD(tx_pending_hwm),
		.mbuf_alloc_failed = LOAD(mbuf_alloc_failed),
		.arp_replies = LOAD(arp_replies),
		.icmp_replies = LOAD(icmp_replies),
		.arp_requests = LOAD(arp_requests),
		.neigh_shared = LOAD(neigh_shared),
	};
#undef LOAD
	if (rte_eth_stats_get(d->port_id, &es) == 0) {
		out->port_rx_nombuf = es.rx_nombuf;
		out->port_imissed = es.imissed;
		out->port_ierrors = es.ierrors;
		out->port_oerrors = es.oerrors;
	}
	net_stats(d, &out->net);
}

int keel_dpdk_stats_get(struct keel_cx *cx, struct keel_dpdk_stats *out)
{
	struct keel__dpdk *d;

	if (!cx || !out)
		return -EINVAL;
	d = keel_cx_driver(cx, &keel_drv_dpdk);
	if (!d)
		return -ENOENT;
	stats_read(d, out);
	return 0;
}

/* With --stats, every receive and transmit drop by name once at the end,
 * so that an overloaded run can account for each datagram (the runtime's
 * line has only their sums). */
static void log_drops(struct keel__dpdk *d)
{
	struct keel_dpdk_stats s;

	stats_read(d, &s);
	keel_log(KEEL_LOG_INFO, "    dpdk port %u queue %u drops: rx_no_socket=%" PRIu64
		 " rx_sock_full=%" PRIu64 " rx_multiseg=%" PRIu64
		 " port_imissed=%" PRIu64 " port_rx_nombuf=%" PRIu64
		 " port_ierrors=%" PRIu64 " tx_full=%" PRIu64
		 " mbuf_alloc_failed=%" PRIu64, d->port_id, d->queue, s.rx_no_socket,
		 s.rx_sock_full, s.rx_multiseg, s.port_imissed, s.port_rx_nombuf,
		 s.port_ierrors, s.tx_full, s.mbuf_alloc_failed);
	for (int r = KEEL_NET_DROP_RUNT; r < KEEL_NET_DROP_MAX; r++)
		if (s.net.drops[r])
			keel_log(KEEL_LOG_INFO, "    dpdk net drop %s=%" PRIu64,
				 keel_net_drop_name((enum keel_net_drop)r), s.net.drops[r]);
}

int keel_dpdk_info_get(struct keel_cx *cx, struct keel_dpdk_info *out)
{
	struct keel__dpdk *d;

	if (!cx || !out)
		return -EINVAL;
	d = keel_cx_driver(cx, &keel_drv_dpdk);
	if (!d)
		return -ENOENT;
	*out = (struct keel_dpdk_info){
		.port = d->port_id,
		.queue = d->queue,
		.nb_queues = d->port->nb_queues,
		.mtu = d->mtu,
		.tx_csum_offload = d->tx_flags != 0,
		.rx_csum_offload = d->rx_ip_ok || d->rx_l4_ok,
		.rss = d->port->rss,
		.rx_intr = d->rx_intr,
		.busy_poll = d->busy,
		.eal_owned = keel__dpdk_eal_owned(),
	};
	memcpy(out->mac, keel_net_config_get(d->net)->mac, 6);
	return 0;
}

/* -------------------------------------------------------- create/destroy */

static bool intr_setup(struct keel__dpdk *d)
{
	uint32_t lvl;
	int rc;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->epfd < 0 || d->efd < 0)
		goto err;
	/* ethdev logs an error for a PMD without RX interrupts; here that
	 * only means "use the back-off". */
	lvl = rte_log_get_global_level();
	rte_log_set_global_level(RTE_LOG_CRIT);
	rc = rte_eth_dev_rx_intr_ctl_q(d->port_id, d->queue, d->epfd,
				       RTE_INTR_EVENT_ADD, d);
	rte_log_set_global_level(lvl);
	if (rc < 0)
		goto err;
	d->efd_ev.epdata.event = EPOLLIN;
	d->efd_ev.epdata.data = d;
	if (rte_epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->efd, &d->efd_ev) < 0) {
		rte_eth_dev_rx_intr_ctl_q(d->port_id, d->queue, d->epfd,
					  RTE_INTR_EVENT_DEL, d);
		goto err;
	}
	return true;
err:
	if (d->efd >= 0)
		close(d->efd);
	if (d->epfd >= 0)
		close(d->epfd);
	d->efd = d->epfd = -1;
	return false;
}

static void intr_teardown(struct keel__dpdk *d)
{
	if (!d->rx_intr)
		return;
	rte_epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->efd, &d->efd_ev);
	rte_eth_dev_rx_intr_ctl_q(d->port_id, d->queue, d->epfd,
				  RTE_INTR_EVENT_DEL, d);
	close(d->efd);
	close(d->epfd);
	d->efd = d->epfd = -1;
	d->rx_intr = false;
}

static unsigned pow2_at_least(unsigned n)
{
	unsigned p = 1;

	while (p < n)
		p *= 2;
	return p;
}

/* The one line a port logs at startup (KEEL_LOG_INFO). */
static void report(const struct keel__dpdk *d)
{
	const struct keel__dpdk_port *p = d->port;
	struct rte_eth_link link;
	char lk[RTE_ETH_LINK_MAX_STR_LEN] = "link unknown";
	const uint8_t *mac = keel_net_config_get(d->net)->mac;

	if (rte_eth_link_get_nowait(d->port_id, &link) == 0)
		rte_eth_link_to_str(lk, sizeof(lk), &link);
	keel_log(KEEL_LOG_INFO, "keel: dpdk: port %u (%s) %02x:%02x:%02x:%02x:%02x:%02x%s, %s; "
		"%u queue(s), rss %s; rxd %u txd %u, %u mbufs/queue; tx csum "
		"%s, rx csum %s; mtu %u; park %s; EAL %s",
		p->id, p->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		memcmp(mac, p->mac.addr_bytes, 6) ? " (mac=)" :
		p->mac_generated ? " (generated)" : "", lk, p->nb_queues, p->rss ? "on" : "off", p->rxd, p->txd,
		p->mbufs, p->tx_csum ? "offload" : "software",
		(p->rx_ip_csum || p->rx_l4_csum) ? "offload" : "software",
		d->mtu,
		d->busy ? "busy-poll" : d->rx_intr ? "sleep on rx interrupts"
						   : "sleep with back-off",
		keel__dpdk_eal_owned() ? "keel's" : "the application's");
}

/* mac= other than the port's: give the port that address (or let it
 * receive everything), so the NIC's filter lets our frames in. */
static void mac_override(struct keel__dpdk *d, const struct keel__dpdk_opts *o)
{
	struct rte_ether_addr a;

	if (!o->has_mac || memcmp(o->mac, d->port->mac.addr_bytes, 6) == 0)
		return;
	memcpy(a.addr_bytes, o->mac, 6);
	if (rte_eth_dev_default_mac_addr_set(d->port_id, &a) == 0)
		return;
	if (rte_eth_promiscuous_enable(d->port_id) == 0)
		keel_log(KEEL_LOG_WARN, PFX "port %u cannot take mac=%02x:%02x:%02x:%02x:%02x:%02x:"
			" promiscuous mode instead", d->port_id, o->mac[0],
			o->mac[1], o->mac[2], o->mac[3], o->mac[4], o->mac[5]);
}

static int net_setup(struct keel__dpdk *d, const struct keel__dpdk_opts *o)
{
	struct keel_net_config cfg;
	int rc;

	mac_override(d, o);
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, o->has_mac ? o->mac : d->port->mac.addr_bytes, 6);
	cfg.n_addrs = o->n_addrs;
	memcpy(cfg.addrs, o->addrs, sizeof(cfg.addrs));
	cfg.gateway = o->gw;
	d->mtu = d->port->mtu > 1500 ? 1500 : d->port->mtu;
	if (o->mtu && o->mtu < d->mtu)
		d->mtu = o->mtu;
	cfg.mtu = d->mtu;
	rc = keel_net_create(&cfg, &d->net);
	if (rc < 0)
		keel_log(KEEL_LOG_ERROR, PFX "bad address setup (ip=, gw=, mac=): %s (the "
			"gateway must be on one of our subnets, the MAC "
			"unicast and not zero)", strerror(-rc));
	return rc;
}

static void announce(struct keel__dpdk *d)
{
	for (unsigned i = 0; i < keel_net_config_get(d->net)->n_addrs; i++) {
		struct rte_mbuf *m = keel__dpdk_alloc(d);
		uint8_t *f;
		int len;

		if (!m)
			return;
		f = rte_pktmbuf_mtod(m, uint8_t *);
		len = keel_net_arp_announce(d->net, f, rte_pktmbuf_tailroom(m), i);
		if (len < 0) {
			rte_pktmbuf_free(m);
			return;
		}
		m->data_len = (uint16_t)pad_min(f, (uint32_t)len,
						rte_pktmbuf_tailroom(m));
		m->pkt_len = m->data_len;
		tx_internal(d, m);
	}
	keel__dpdk_tx_flush(d);
}

static void dpdk_destroy(void *drv);

static int dpdk_create(struct keel_worker *w, const char *args, void **out)
{
	struct keel__dpdk_opts o;
	struct keel__dpdk *d;
	unsigned queue;
	bool first;
	int rc;

	rc = keel__dpdk_opts_parse(args, &o);
	if (rc < 0)
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d) {
		keel__dpdk_opts_free(&o);
		return -ENOMEM;
	}
	d->worker = w;
	d->epfd = d->efd = -1;
	keel__dpdk_udp_init(d);
	/* A queue per worker unless queues= says otherwise: RSS spreads
	 * the flows over them (eal.c). */
	if (!o.has_queues)
		o.queues = o.queue + keel_worker_count(w);
	if (o.queues > KEEL__DPDK_MAX_QUEUES) {
		keel_log(KEEL_LOG_ERROR, PFX "%u workers from queue %u need %u queues; "
			"keel uses at most %u per port", keel_worker_count(w),
			o.queue, o.queues, KEEL__DPDK_MAX_QUEUES);
		free(d);
		keel__dpdk_opts_free(&o);
		return -EINVAL;
	}
	queue = o.queue + keel_worker_index(w);
	rc = keel__dpdk_port_acquire(&o, queue, !o.busy, &d->port);
	if (rc < 0) {
		free(d);
		keel__dpdk_opts_free(&o);
		return rc;
	}
	d->port_id = d->port->id;
	d->queue = (uint16_t)queue;
	d->pool = d->port->pools[queue];
	d->sharing = d->port->nb_queues > 1;
	d->sockq = pow2_at_least(o.sockq);
	d->next_ephemeral = 49152;
	d->busy = o.busy;
	if (d->port->tx_csum) {
		d->tx_flags = KEEL_NET_TX_CSUM_OFFLOAD;
		d->tx_ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
				 RTE_MBUF_F_TX_UDP_CKSUM;
	}
	d->rx_ip_ok = d->port->rx_ip_csum;
	d->rx_l4_ok = d->port->rx_l4_csum;
	d->ns_mult = (uint64_t)(((unsigned __int128)1000000000u << 32) /
				rte_get_tsc_hz());
	d->tick_period = rte_get_tsc_hz() / (1000000000u / KEEL__DPDK_TICK_NS);
	d->tick_next = rte_rdtsc() + d->tick_period;

	rc = net_setup(d, &o);
	if (rc < 0)
		goto err;
	d->by_port = calloc(65536, sizeof(*d->by_port));
	d->tx_mask = pow2_at_least(o.txbuf) - 1;
	d->txq = calloc(d->tx_mask + 1, sizeof(*d->txq));
	if (!d->by_port || !d->txq) {
		rc = -ENOMEM;
		goto err;
	}
	if (!d->busy && d->port->intr_conf)
		d->rx_intr = intr_setup(d);
	pthread_mutex_lock(&d->port->neigh_lock);
	d->port->inst[queue] = d;
	first = !d->port->reported;
	d->port->reported = true;
	pthread_mutex_unlock(&d->port->neigh_lock);
	snapshot_net(d);
	if (first)
		report(d);
	if (o.garp)
		announce(d);
	keel__dpdk_opts_free(&o);
	*out = d;
	return 0;
err:
	keel__dpdk_opts_free(&o);
	dpdk_destroy(d);
	return rc;
}

static void dpdk_destroy(void *drv)
{
	struct keel__dpdk *d = drv;

	if (!d)
		return;
	/* Sockets the application leaked: their wakers hold task refs. */
	keel__dpdk_udp_close_all(d);
	/* Last words (replies, announcements) get a bounded chance. */
	for (int i = 0; i < 100 && d->tx_count; i++) {
		keel__dpdk_tx_flush(d);
		if (d->tx_count)
			rte_delay_us_sleep(10);
	}
	if (d->tx_count) {
		KEEL__DSTAT_ADD(d, tx_full, d->tx_count);
		while (d->tx_count) {
			rte_pktmbuf_free(d->txq[d->tx_head]);
			d->tx_head = (d->tx_head + 1) & d->tx_mask;
			d->tx_count--;
		}
	}
	if (atomic_load(&d->stats_shown))
		log_drops(d);
	if (d->port) {
		pthread_mutex_lock(&d->port->neigh_lock);
		if (d->port->inst[d->queue] == d)
			d->port->inst[d->queue] = NULL;
		pthread_mutex_unlock(&d->port->neigh_lock);
	}
	intr_teardown(d);
	keel_net_destroy(d->net);
	free(d->by_port);
	free(d->txq);
	if (d->port)
		keel__dpdk_port_release(d->port, d->queue);
	free(d);
}

const struct keel_driver_ops keel_drv_dpdk = {
	.name = "dpdk",
	.usage = "DPDK ethdev; ARGS: 'ip=A.B.C.D/LEN[,gw=,port=,queues=,queue=,"
		 "rxd=,txd=,mbufs=,sockq=,txbuf=,mtu=,mac=,park=busy|sleep,"
		 "csum=auto|sw,garp=0|1] -- EAL-ARGS' (e.g. --no-huge --no-pci "
		 "-m 256 --vdev=net_af_packet0,iface=veth0)",
	.create = dpdk_create,
	.destroy = dpdk_destroy,
	.poll = dpdk_poll,
	.park = dpdk_park,
	.unpark = dpdk_unpark,
	.park_prepare = dpdk_park_prepare,
	.park_finish = dpdk_park_finish,
	.stats = dpdk_stats,
	.xstats = dpdk_xstats,
	.udp_bind = keel__dpdk_udp_bind,
};

KEEL_DRIVER_EXPORT(keel_drv_dpdk);
