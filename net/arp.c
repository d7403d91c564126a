/* SPDX-License-Identifier: MIT */
/*
 * ARP: the neighbour cache, the receive side of ARP, and the resolution
 * queue that holds outbound frames while their next hop is asked for.
 *
 * The cache is an open-addressed table (linear probing, backward-shift
 * deletion, never more than half full) so a lookup is a hash and a compare
 * or two. Entries are INCOMPLETE (asked, waiting), REACHABLE (learned, with
 * an age) or STATIC. A REACHABLE entry is fresh for neigh_ttl_ns, then stale
 * for arp_retries * arp_retry_ns while still used and re-asked (unicast), so
 * a busy flow never stalls on expiry; after that it is forgotten. When 256
 * are known, a new one pushes out the oldest unqueued, non-static entry
 * among the next 32 from a rotating cursor.
 *
 * The queue is a fixed pool of frame buffers allocated at create, on two
 * index lists: waiting (arrival order) and ready (MAC filled in, to be
 * taken by keel_net_tx_pending). Frames wait at most arp_retries *
 * arp_retry_ns. While any wait, a request goes out per next hop every
 * arp_retry_ns.
 *
 * Learning follows RFC 826 with Linux's defaults: a request for one of our
 * addresses or a reply to us adds its on-link sender; any other ARP only
 * refreshes a sender already known (gratuitous ARP moves a known address to
 * its new MAC, never plants a new one); a sender claiming our address is a
 * conflict and is not learned.
 */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>

#define NEIGH_BITS	9
#define NEIGH_MASK	(KEEL__NEIGH_SLOTS - 1u)

_Static_assert(KEEL__NEIGH_SLOTS == 1u << NEIGH_BITS, "neighbour table size");

static inline unsigned neigh_hash(uint32_t ip)
{
	return (uint32_t)(ip * 2654435761u) >> (32 - NEIGH_BITS);
}

/* Slot of ip, or -1. Ends at an empty slot: the table is never full. */
static int neigh_find(const struct keel_net *n, uint32_t ip)
{
	unsigned i = neigh_hash(ip);

	if (!ip)
		return -1;
	for (;;) {
		if (n->neigh[i].ip == ip)
			return (int)i;
		if (!n->neigh[i].ip)
			return -1;
		i = (i + 1) & NEIGH_MASK;
	}
}

/*
 * Empty slot i and pull back the entries after it that probed past it, so
 * that lookups still stop only at a true gap (no tombstones to age).
 */
static void neigh_remove_slot(struct keel_net *n, unsigned i)
{
	unsigned j = i;

	n->neigh_count--;
	for (;;) {
		unsigned home;

		j = (j + 1) & NEIGH_MASK;
		if (!n->neigh[j].ip)
			break;
		home = neigh_hash(n->neigh[j].ip);
		/* Stays unless its home lies cyclically in (i, j]. */
		if (((j - home) & NEIGH_MASK) >= ((j - i) & NEIGH_MASK)) {
			n->neigh[i] = n->neigh[j];
			i = j;
		}
	}
	memset(&n->neigh[i], 0, sizeof(n->neigh[i]));
}

static uint64_t stale_window(const struct keel_net *n)
{
	return (uint64_t)n->cfg.arp_retries * n->cfg.arp_retry_ns;
}

/* How long ago t was; a clock that went backwards reads as "just now". */
static inline uint64_t age(uint64_t now, uint64_t t)
{
	return now >= t ? now - t : 0;
}

/*
 * The cache is full: push out one entry, preferring the one least likely to
 * be missed (not static, nothing queued, oldest) among the next few from a
 * rotating cursor. A bounded look rather than the true oldest, so that a
 * flood of ARP from new senders costs O(1) per frame, not a table scan.
 */
#define EVICT_CANDIDATES	32

static int neigh_make_room(struct keel_net *n, uint64_t now)
{
	unsigned seen = 0, k;
	int victim = -1;
	uint64_t best = 0;

	for (k = 0; k < KEEL__NEIGH_SLOTS && seen < EVICT_CANDIDATES; k++) {
		unsigned i = (n->evict_cursor + k) & NEIGH_MASK;
		const struct keel__neigh *e = &n->neigh[i];
		uint64_t score;

		if (!e->ip || e->state == KEEL__NEIGH_STATIC)
			continue;
		seen++;
		/* Older scores higher; a queue outweighs any age. */
		score = age(now, e->state == KEEL__NEIGH_REACHABLE ? e->updated : e->asked) / 2;
		if (!e->queued)
			score += UINT64_MAX / 2;
		if (victim < 0 || score > best) {
			victim = (int)i;
			best = score;
		}
	}
	n->evict_cursor = (n->evict_cursor + k) & NEIGH_MASK;
	if (victim < 0)
		return -ENOSPC;
	neigh_remove_slot(n, (unsigned)victim);
	NET_COUNT(n, neigh_evicted);
	return 0;
}

/* A new, empty entry for ip (not in the table yet), or -1. */
static int neigh_insert(struct keel_net *n, uint32_t ip, uint64_t now)
{
	unsigned i;

	if (n->neigh_count >= KEEL_NET_NEIGH_MAX && neigh_make_room(n, now) < 0)
		return -1;
	i = neigh_hash(ip);
	while (n->neigh[i].ip)
		i = (i + 1) & NEIGH_MASK;
	memset(&n->neigh[i], 0, sizeof(n->neigh[i]));
	n->neigh[i].ip = ip;
	n->neigh_count++;
	return (int)i;
}

static inline uint8_t *slot_buf(const struct keel_net *n, unsigned i)
{
	return n->pend_buf + (size_t)i * n->slot_size;
}

static void plist_push(struct keel_net *n, struct keel__plist *l, uint16_t i)
{
	n->pend[i].next = KEEL__NIL;
	if (l->tail == KEEL__NIL)
		l->head = i;
	else
		n->pend[l->tail].next = i;
	l->tail = i;
}

/* Unlink i, whose predecessor on l is prev (KEEL__NIL at the head). */
static void plist_unlink(struct keel_net *n, struct keel__plist *l, uint16_t prev, uint16_t i)
{
	uint16_t next = n->pend[i].next;

	if (prev == KEEL__NIL)
		l->head = next;
	else
		n->pend[prev].next = next;
	if (l->tail == i)
		l->tail = prev;
}

static void slot_free(struct keel_net *n, uint16_t i)
{
	n->pend[i].next = n->pend_free;
	n->pend_free = i;
}

/* ip now has a MAC: its waiting frames get it and move to the ready list. */
static void release_waiting(struct keel_net *n, uint32_t ip, const uint8_t *mac)
{
	uint16_t prev = KEEL__NIL, i = n->waiting.head;

	while (i != KEEL__NIL) {
		uint16_t next = n->pend[i].next;

		if (n->pend[i].nh == ip) {
			plist_unlink(n, &n->waiting, prev, i);
			memcpy(slot_buf(n, i) + ETHH_DST, mac, 6);
			plist_push(n, &n->ready, i);
			n->n_waiting--;
			n->n_ready++;
		} else {
			prev = i;
		}
		i = next;
	}
}

/* Record that ip is at mac; create the entry only if asked to. */
static void neigh_learn(struct keel_net *n, uint32_t ip, const uint8_t *mac, uint64_t now,
			bool create)
{
	struct keel__neigh *e;
	int i = neigh_find(n, ip);

	if (i < 0) {
		if (!create || (i = neigh_insert(n, ip, now)) < 0)
			return;
	}
	e = &n->neigh[i];
	if (e->state == KEEL__NEIGH_STATIC)
		return;
	if (e->state != KEEL__NEIGH_REACHABLE || memcmp(e->mac, mac, 6) != 0)
		NET_COUNT(n, neigh_learned);
	memcpy(e->mac, mac, 6);
	e->state = KEEL__NEIGH_REACHABLE;
	e->updated = now;
	e->ask_now = 0;
	if (e->queued) {
		e->queued = 0;
		release_waiting(n, ip, mac);
	}
}

enum keel_net_rx_kind keel__arp_rx(struct keel_net *n, const uint8_t *p, size_t len,
				   uint64_t now, struct keel_net_rx_result *out)
{
	const uint8_t *arp = p + L3, *sha = arp + ARPH_SHA;
	uint32_t spa, tpa;
	uint16_t op;
	bool for_us;

	if (len < L3 + ARPH_HDR)
		return keel__rx_drop(n, out, KEEL_NET_DROP_ARP_TRUNC);
	op = ntohs(keel__ld16(arp + ARPH_OP));
	if (keel__ld16(arp + ARPH_HTYPE) != htons(1) ||
	    keel__ld16(arp + ARPH_PTYPE) != htons(ETYPE_IPV4) ||
	    arp[ARPH_HLEN] != 6 || arp[ARPH_PLEN] != 4 ||
	    (op != KEEL_NET_ARP_REQUEST && op != KEEL_NET_ARP_REPLY))
		return keel__rx_drop(n, out, KEEL_NET_DROP_ARP_BAD);
	spa = keel__ld32(arp + ARPH_SPA);
	tpa = keel__ld32(arp + ARPH_TPA);
	/* 0.0.0.0 is a probe (RFC 5227); other martians are nobody's. */
	if (keel__mac_is_multicast(sha) || keel__mac_is_zero(sha) ||
	    (spa && !keel__host_addr_ok(spa)))
		return keel__rx_drop(n, out, KEEL_NET_DROP_ARP_BAD);
	/* Our address from someone else, or our own frame looped back:
	 * learning it would point our own address elsewhere. */
	if (keel__addr_index(n, spa) >= 0)
		return keel__rx_drop(n, out, KEEL_NET_DROP_ARP_CONFLICT);
	for_us = keel__addr_index(n, tpa) >= 0;
	if (spa)
		neigh_learn(n, spa, sha, now, for_us && keel_net_route(n, spa) == spa);
	if (!for_us && spa != tpa)
		return keel__rx_drop(n, out, KEEL_NET_DROP_ARP_NOT_FOR_US);

	NET_COUNT(n, rx_arp);
	out->kind = for_us && op == KEEL_NET_ARP_REQUEST ? KEEL_NET_RX_ARP_REQUEST
							 : KEEL_NET_RX_ARP;
	out->drop = KEEL_NET_DROP_NONE;
	out->payload_off = L3;
	out->payload_len = ARPH_HDR;
	out->src_port = 0;
	out->dst_port = 0;
	out->src_ip = spa;
	out->dst_ip = tpa;
	memcpy(out->src_mac, sha, 6);
	out->tx_ready = (uint16_t)n->n_ready;
	return out->kind;
}

static bool ask_due(const struct keel_net *n, const struct keel__neigh *e, uint64_t now)
{
	return e->ask_now || age(now, e->asked) >= n->cfg.arp_retry_ns;
}

/* When e's next request is due (0: now). */
static uint64_t ask_time(const struct keel_net *n, const struct keel__neigh *e)
{
	return e->ask_now ? 0 : e->asked + n->cfg.arp_retry_ns;
}

/* Build a request for e into arp when the caller gave room for one. */
static size_t ask(struct keel_net *n, struct keel__neigh *e, uint64_t now, bool unicast,
		  void *arp, size_t arp_cap)
{
	if (!arp || arp_cap < KEEL_NET_ARP_LEN)
		return 0;
	if (unicast) {
		/* Re-confirming a known MAC: ask it directly, not everyone. */
		struct keel_net_arp_tx a = {
			.op = KEEL_NET_ARP_REQUEST,
			.spa = keel_net_src_for(n, e->ip),
			.tpa = e->ip,
		};

		memcpy(a.eth_dst, e->mac, 6);
		keel_net_arp_build(n, arp, arp_cap, &a);
		NET_COUNT(n, tx_arp_requests);
	} else {
		keel_net_arp_request(n, arp, arp_cap, e->ip);
	}
	e->asked = now;
	e->ask_now = 0;
	return KEEL_NET_ARP_LEN;
}

static int tx_drop(struct keel_net *n, enum keel_net_drop why, int err)
{
	keel__drop_count(n, why);
	return err;
}

int keel_net_tx_resolve(struct keel_net *n, void *frame, size_t len, uint64_t now,
			void *arp, size_t arp_cap, size_t *arp_len)
{
	uint8_t *p = frame;
	struct keel__neigh *e;
	uint32_t dst, nh;
	uint16_t slot;
	int i;

	if (arp_len)
		*arp_len = 0;
	if (!n || !p || len < L3 + IPH_HDR || keel__ld16(p + ETHH_TYPE) != htons(ETYPE_IPV4))
		return -EINVAL;
	dst = keel__ld32(p + L3 + IPH_DST);
	if (keel_net_is_broadcast(n, dst)) {
		memset(p + ETHH_DST, 0xff, 6);
		return KEEL_NET_TX_SEND;
	}
	if ((ntohl(dst) >> 28) == 0xe) {
		/* RFC 1112: 01:00:5e and the group's low 23 bits. */
		p[0] = 0x01;
		p[1] = 0x00;
		p[2] = 0x5e;
		memcpy(p + 3, (const uint8_t *)&dst + 1, 3);
		p[3] &= 0x7f;
		return KEEL_NET_TX_SEND;
	}
	nh = keel_net_route(n, dst);
	if (!nh || !keel__host_addr_ok(nh) || keel__addr_index(n, dst) >= 0)
		return tx_drop(n, KEEL_NET_DROP_NO_ROUTE, -EHOSTUNREACH);

	i = neigh_find(n, nh);
	if (KEEL__LIKELY(i >= 0)) {
		e = &n->neigh[i];
		if (e->state == KEEL__NEIGH_STATIC) {
			memcpy(p + ETHH_DST, e->mac, 6);
			return KEEL_NET_TX_SEND;
		}
		if (e->state == KEEL__NEIGH_REACHABLE) {
			uint64_t a = age(now, e->updated);

			if (KEEL__LIKELY(a < n->cfg.neigh_ttl_ns)) {
				memcpy(p + ETHH_DST, e->mac, 6);
				return KEEL_NET_TX_SEND;
			}
			if (a < n->cfg.neigh_ttl_ns + stale_window(n)) {
				size_t l = 0;

				memcpy(p + ETHH_DST, e->mac, 6);
				if (ask_due(n, e, now) || e->asked < e->updated)
					l = ask(n, e, now, true, arp, arp_cap);
				if (arp_len)
					*arp_len = l;
				return KEEL_NET_TX_SEND;
			}
			/* Stale and never re-confirmed: resolve afresh. */
			e->state = KEEL__NEIGH_INCOMPLETE;
			e->ask_now = 1;
		}
	} else {
		if (len > n->slot_size)
			return tx_drop(n, KEEL_NET_DROP_TOO_BIG, -EMSGSIZE);
		i = neigh_insert(n, nh, now);
		if (i < 0)
			return tx_drop(n, KEEL_NET_DROP_ARP_QUEUE_FULL, -ENOBUFS);
		e = &n->neigh[i];
		e->state = KEEL__NEIGH_INCOMPLETE;
		e->ask_now = 1;
	}

	/* INCOMPLETE: the frame waits. */
	if (len > n->slot_size)
		return tx_drop(n, KEEL_NET_DROP_TOO_BIG, -EMSGSIZE);
	if (n->pend_free == KEEL__NIL || e->queued >= n->per_neigh_max)
		return tx_drop(n, KEEL_NET_DROP_ARP_QUEUE_FULL, -ENOBUFS);
	slot = n->pend_free;
	n->pend_free = n->pend[slot].next;
	memcpy(slot_buf(n, slot), p, len);
	n->pend[slot].nh = nh;
	n->pend[slot].len = (uint16_t)len;
	n->pend[slot].since = now;
	plist_push(n, &n->waiting, slot);
	n->n_waiting++;
	e->queued++;
	NET_COUNT(n, tx_queued);
	if (ask_due(n, e, now)) {
		size_t l = ask(n, e, now, false, arp, arp_cap);

		if (arp_len)
			*arp_len = l;
	}
	if (n->next_ask > ask_time(n, e))
		n->next_ask = ask_time(n, e);
	return KEEL_NET_TX_QUEUED;
}

int keel_net_tx_pending(struct keel_net *n, void *buf, size_t cap)
{
	uint16_t i = n->ready.head;
	size_t len;

	if (i == KEEL__NIL)
		return 0;
	len = n->pend[i].len;
	if (len > cap)
		return -ENOSPC;
	memcpy(buf, slot_buf(n, i), len);
	plist_unlink(n, &n->ready, KEEL__NIL, i);
	slot_free(n, i);
	n->n_ready--;
	NET_COUNT(n, tx_released);
	return (int)len;
}

/* Drop frames at the head of l older than the limit (lists are in time order). */
static void expire(struct keel_net *n, struct keel__plist *l, unsigned *count, uint64_t now,
		   bool waiting)
{
	uint64_t limit = stale_window(n);

	while (l->head != KEEL__NIL && age(now, n->pend[l->head].since) >= limit) {
		uint16_t i = l->head;

		if (waiting) {
			int e = neigh_find(n, n->pend[i].nh);

			if (e >= 0 && n->neigh[e].queued)
				n->neigh[e].queued--;
		}
		plist_unlink(n, l, KEEL__NIL, i);
		slot_free(n, i);
		(*count)--;
		keel__drop_count(n, KEEL_NET_DROP_ARP_TIMEOUT);
	}
}

int keel_net_tick(struct keel_net *n, uint64_t now, void *arp, size_t arp_cap)
{
	uint64_t next = UINT64_MAX;

	if (KEEL__LIKELY(!n->n_waiting && !n->n_ready))
		return 0;
	/* Ready frames the driver never took age out too, so a driver that
	 * ignores tx_ready cannot pin the pool. */
	expire(n, &n->waiting, &n->n_waiting, now, true);
	expire(n, &n->ready, &n->n_ready, now, false);
	if (now < n->next_ask)
		return 0;
	for (uint16_t i = n->waiting.head; i != KEEL__NIL; i = n->pend[i].next) {
		int s = neigh_find(n, n->pend[i].nh);
		struct keel__neigh *e;

		if (s < 0)
			continue;	/* forgotten: the frame just ages out */
		e = &n->neigh[s];
		if (e->state != KEEL__NEIGH_INCOMPLETE)
			continue;
		if (ask_due(n, e, now)) {
			if (arp_cap < KEEL_NET_ARP_LEN || !arp)
				return -ENOSPC;
			/* Come back at once: more may be due. */
			n->next_ask = now;
			return (int)ask(n, e, now, false, arp, arp_cap);
		}
		if (next > ask_time(n, e))
			next = ask_time(n, e);
	}
	n->next_ask = next;
	return 0;
}

int keel_net_neigh_set(struct keel_net *n, uint32_t ip, const uint8_t mac[6], uint64_t now,
		       unsigned flags)
{
	int i;

	if (!n || !mac || !keel__host_addr_ok(ip) || keel__mac_is_multicast(mac) ||
	    keel__mac_is_zero(mac))
		return -EINVAL;
	i = neigh_find(n, ip);
	if (!(flags & KEEL_NET_NEIGH_STATIC)) {
		if (i >= 0 && n->neigh[i].state == KEEL__NEIGH_STATIC)
			return -EEXIST;
		neigh_learn(n, ip, mac, now, true);
		return neigh_find(n, ip) >= 0 ? 0 : -ENOSPC;
	}
	if (i < 0 && (i = neigh_insert(n, ip, now)) < 0)
		return -ENOSPC;
	memcpy(n->neigh[i].mac, mac, 6);
	n->neigh[i].state = KEEL__NEIGH_STATIC;
	n->neigh[i].updated = now;
	if (n->neigh[i].queued) {
		n->neigh[i].queued = 0;
		release_waiting(n, ip, mac);
	}
	return 0;
}

int keel_net_neigh_lookup(const struct keel_net *n, uint32_t ip, uint64_t now, uint8_t mac[6])
{
	int i = neigh_find(n, ip);
	const struct keel__neigh *e;

	if (i < 0)
		return -ENOENT;
	e = &n->neigh[i];
	if (e->state == KEEL__NEIGH_INCOMPLETE ||
	    (e->state == KEEL__NEIGH_REACHABLE &&
	     age(now, e->updated) >= n->cfg.neigh_ttl_ns + stale_window(n)))
		return -ENOENT;
	memcpy(mac, e->mac, 6);
	return 0;
}

int keel_net_neigh_del(struct keel_net *n, uint32_t ip)
{
	int i = neigh_find(n, ip);

	if (i < 0)
		return -ENOENT;
	neigh_remove_slot(n, (unsigned)i);
	return 0;
}

unsigned keel_net_neigh_count(const struct keel_net *n)
{
	return n->neigh_count;
}

int keel__arp_init(struct keel_net *n)
{
	unsigned qlen = n->cfg.arp_queue_len;

	n->slot_size = ETHH_HDR + n->cfg.mtu;
	n->pend = calloc(qlen, sizeof(*n->pend));
	n->pend_buf = malloc(qlen * n->slot_size);
	if (!n->pend || !n->pend_buf) {
		keel__arp_fini(n);
		return -ENOMEM;
	}
	/* One neighbour may hold a quarter of the queue (at least 8), so a
	 * dead next hop cannot starve the others. */
	n->per_neigh_max = qlen / 4 > 8 ? qlen / 4 : 8;
	if (n->per_neigh_max > qlen)
		n->per_neigh_max = qlen;
	n->pend_free = KEEL__NIL;
	for (unsigned i = qlen; i-- > 0;)
		slot_free(n, (uint16_t)i);
	n->waiting.head = n->waiting.tail = KEEL__NIL;
	n->ready.head = n->ready.tail = KEEL__NIL;
	n->next_ask = UINT64_MAX;
	return 0;
}

void keel__arp_fini(struct keel_net *n)
{
	free(n->pend);
	free(n->pend_buf);
	n->pend = NULL;
	n->pend_buf = NULL;
}
