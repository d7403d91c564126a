/* SPDX-License-Identifier: MIT */
/*
 * The simulation driver (keel/sim.h): one in-memory UDP network per worker.
 *
 * A send draws the datagram's fate at once, in a fixed order (loss,
 * duplication, corruption, reordering: four draws whatever the outcome, so
 * that one datagram's fate never shifts the next one's) and puts each copy
 * on its destination socket's wire, sorted by the time it is due. A
 * reader brings what is due into the socket's receive queue and takes it
 * from there (the socket itself, queue, receives and lent packets, is
 * drivers/common/sock.h's, as on the xdp and dpdk drivers); when the wire's
 * head is not due yet it arms the socket's timer for it, so the worker's
 * clock (real or the test clock) brings it. An echo host answers at send
 * time: the reply is queued for when the request would have arrived plus
 * its own trip.
 *
 * Every event is folded into an FNV-1a hash: kind, addresses, length,
 * payload, relative delay, never an absolute time, so a run on the test
 * clock is reproduced event for event by its seed.
 */
#include <keel/log.h>
#include <keel/runtime.h>
#include <keel/sim.h>
#include <keel/stats.h>
#include <keel/time.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sock.h"

#define MAX_ECHO	4
#define MAX_CUTS	16
#define MAX_PAYLOAD	65507
#define LEND_ROOM	2048 /* a lent packet can grow to at least this */
#define EPHEMERAL	49152

enum ev { EV_SEND = 1, EV_LOST, EV_DUP, EV_CORRUPT, EV_REORDER, EV_CUT,
	  EV_NOSOCK, EV_QFULL, EV_DELIVER, EV_ECHO };

struct dgram {
	struct dgram *next;
	uint64_t due, id;
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port;
	uint32_t len, cap;
	unsigned char data[];
};

struct sim_sock {
	struct keel__sock sock; /* first: keel_udp.impl points at it */
	struct sim *d;
	struct dgram *wire;    /* on its way: sorted by due, then by arrival */
	unsigned nwire;
	struct keel_timer tm;  /* the reader's, for the wire's head */
};

/* Counters written by the sim's worker only, read from any thread
 * (keel_stats_read): relaxed atomic accesses, plain moves on x86. */
#define DS_ADD(d, field, v) KEEL_STAT_ADD((d)->ds.field, v)

struct sim {
	uint64_t rng;
	double loss, dup, reorder, corrupt;
	uint64_t delay_ns;
	unsigned qlen;
	uint32_t ip;
	unsigned necho;
	struct { uint32_t ip; uint16_t port; } echo[MAX_ECHO];
	unsigned ncuts;
	struct { uint32_t a, b; } cuts[MAX_CUTS];
	struct keel__socks socks;
	uint16_t next_port;    /* host order */
	uint64_t next_id;
	bool print, print_known; /* --stats: the counters at exit */
	int efd;	       /* unpark */
	struct keel_sim_stats st;
	struct keel_driver_stats ds; /* DS_ADD: read from any thread */
	_Atomic uint64_t truncated, sock_full; /* the socket layer's */
};

/* ------------------------------------------------------------ generator */

static uint64_t next_u64(struct sim *d)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull); /* splitmix64 */

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double next_unit(struct sim *d)
{
	return (double)(next_u64(d) >> 11) * 0x1.0p-53;
}

static void trace(struct sim *d, enum ev kind, const struct dgram *g,
		  uint64_t extra)
{
	uint64_t h = d->st.trace ? d->st.trace : 0xcbf29ce484222325ull;
	uint64_t w[6] = { kind, g->id, (uint64_t)g->src_ip << 16 | g->src_port,
			  (uint64_t)g->dst_ip << 16 | g->dst_port, g->len, extra };
	const unsigned char *p = (const unsigned char *)w;

	for (size_t i = 0; i < sizeof(w); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	for (uint32_t i = 0; i < g->len; i++)
		h = (h ^ g->data[i]) * 0x100000001b3ull;
	d->st.trace = h;
}

/* --------------------------------------------------------------- network */

/* The network's sockets, the last bound first. */
#define FOR_SOCKS(d, s)                                                        \
	for (struct keel_list *n_ = (d)->socks.list.prev;                     \
	     n_ != &(d)->socks.list &&                                         \
	     ((s) = KEEL_CONTAINER_OF(n_, struct sim_sock, sock.link), 1);    \
	     n_ = n_->prev)

static struct sim_sock *find_sock(struct sim *d, uint32_t ip, uint16_t port)
{
	struct sim_sock *s;

	FOR_SOCKS(d, s)
		if (s->sock.port == port &&
		    (!s->sock.ip || !ip || s->sock.ip == ip))
			return s;
	return NULL;
}

static bool cut_apart(const struct sim *d, uint32_t a, uint32_t b)
{
	for (unsigned i = 0; i < d->ncuts; i++)
		if ((d->cuts[i].a == a && d->cuts[i].b == b) ||
		    (d->cuts[i].a == b && d->cuts[i].b == a))
			return true;
	return false;
}

static int echo_index(const struct sim *d, uint32_t ip, uint16_t port)
{
	for (unsigned i = 0; i < d->necho; i++)
		if (d->echo[i].ip == ip && d->echo[i].port == port)
			return (int)i;
	return -1;
}

static struct dgram *dgram_new(uint32_t len)
{
	uint32_t cap = len > LEND_ROOM ? len : LEND_ROOM;
	struct dgram *g = malloc(sizeof(*g) + cap);

	if (g) {
		g->next = NULL;
		g->len = len;
		g->cap = cap;
	}
	return g;
}

static struct dgram *dgram_copy(const struct dgram *o)
{
	struct dgram *g = dgram_new(o->len);

	if (g) {
		memcpy(g, o, sizeof(*g));
		g->next = NULL;
		g->cap = o->len > LEND_ROOM ? o->len : LEND_ROOM;
		memcpy(g->data, o->data, o->len);
	}
	return g;
}

/* Put \p g on its destination's wire (takes it); wakes the reader. The
 * wire and the receive queue together hold at most qlen datagrams. */
static void enqueue(struct sim *d, struct dgram *g)
{
	struct sim_sock *s = find_sock(d, g->dst_ip, g->dst_port);
	struct dgram **pp;

	if (!s) {
		d->st.no_socket++;
		DS_ADD(d, rx_dropped, 1);
		trace(d, EV_NOSOCK, g, 0);
		free(g);
		return;
	}
	if (s->nwire + keel__sock_queued(&s->sock) >= d->qlen) {
		d->st.queue_full++;
		DS_ADD(d, rx_dropped, 1);
		trace(d, EV_QFULL, g, 0);
		free(g);
		return;
	}
	for (pp = &s->wire; *pp && (*pp)->due <= g->due; pp = &(*pp)->next)
		;
	g->next = *pp;
	*pp = g;
	s->nwire++;
	keel_waker_wake(&s->sock.rd);
}

/*
 * One trip through the network from \p now: the four draws, then zero,
 * one or two copies queued (or answered by an echo host, which sends the
 * reply on its own trip from the time the request arrives). Takes \p g.
 */
static void transmit(struct sim *d, struct dgram *g, uint64_t now)
{
	double r_loss = next_unit(d), r_dup = next_unit(d);
	double r_corrupt = next_unit(d), r_reorder = next_unit(d);
	uint64_t r_byte = next_u64(d), r_hold = next_u64(d);
	uint64_t delay = d->delay_ns;
	struct dgram *copy = NULL;
	bool echo;

	if (cut_apart(d, g->src_ip, g->dst_ip)) {
		d->st.partitioned++;
		trace(d, EV_CUT, g, 0);
		free(g);
		return;
	}
	if (r_loss < d->loss) {
		d->st.lost++;
		trace(d, EV_LOST, g, 0);
		free(g);
		return;
	}
	if (r_corrupt < d->corrupt && g->len) {
		g->data[r_byte % g->len] ^= (unsigned char)(1u + (r_byte >> 32) % 255u);
		d->st.corrupted++;
		trace(d, EV_CORRUPT, g, 0);
	}
	if (r_reorder < d->reorder) {
		delay += (1 + r_hold % (d->delay_ns / 1000000 + 4)) * 1000000;
		d->st.reordered++;
		trace(d, EV_REORDER, g, delay);
	}
	if (r_dup < d->dup && (copy = dgram_copy(g)) != NULL) {
		d->st.duplicated++;
		trace(d, EV_DUP, g, 0);
	}
	/* An echo host answers what reaches it (never another echo host:
	 * two of them would answer each other forever). */
	echo = echo_index(d, g->dst_ip, g->dst_port) >= 0 &&
	       echo_index(d, g->src_ip, g->src_port) < 0;
	for (int i = 0; i < 2; i++) {
		struct dgram *c = i ? copy : g;
		uint32_t ip;
		uint16_t port;

		if (!c)
			continue;
		c->due = now + delay;
		if (!echo) {
			enqueue(d, c);
			continue;
		}
		d->st.echoed++;
		trace(d, EV_ECHO, c, delay);
		ip = c->src_ip;
		port = c->src_port;
		c->src_ip = c->dst_ip;
		c->src_port = c->dst_port;
		c->dst_ip = ip;
		c->dst_port = port;
		c->id = ++d->next_id;
		transmit(d, c, now + delay);
	}
}

/* ----------------------------------------------------------------- socket */

/* Bring what is due off the wire into the receive queue, until \p want
 * are queued; with nothing queued and something on its way, the reader's
 * timer is armed for it (the socket layer leaves the reader's waker). */
static void arrive(struct sim_sock *s, struct keel_cx *cx, unsigned want)
{
	struct sim *d = s->d;
	uint64_t now = keel_now(cx);
	struct dgram *g;

	while ((g = s->wire) && g->due <= now &&
	       keel__sock_queued(&s->sock) < want) {
		struct keel__dgram e = {
			.buf = (uintptr_t)g,
			.data = g->data,
			.len = g->len,
			.cap = g->cap,
			.src_ip = g->src_ip,
			.src_port = g->src_port,
		};

		s->wire = g->next;
		s->nwire--;
		g->next = NULL;
		d->st.delivered++;
		DS_ADD(d, rx_packets, 1);
		DS_ADD(d, rx_bytes, g->len);
		trace(d, EV_DELIVER, g, 0);
		keel__sock_push(&s->sock, &e); /* room: qlen bounds both */
	}
	if (!keel__sock_queued(&s->sock) && s->wire) {
		keel_timer_stop(&s->tm);
		if (keel_sleep_until(cx, &s->tm, s->wire->due) == 0)
			keel_waker_wake_by_ref(keel_cx_waker(cx));
	}
}

static ssize_t udp_recv_from(void *impl, struct keel_cx *cx, void *buf,
			     size_t len, struct keel_addr *from)
{
	arrive(impl, cx, 1);
	return keel__sock_recv_from(impl, cx, buf, len, from);
}

static ssize_t udp_recv_batch(void *impl, struct keel_cx *cx,
			      struct keel_dgram *v, unsigned n)
{
	arrive(impl, cx, n);
	return keel__sock_recv_batch(impl, cx, v, n);
}

static ssize_t udp_recv_lend(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	arrive(impl, cx, n);
	return keel__sock_recv_lend(impl, cx, pkts, n);
}

/* The socket layer gives datagrams back: copied out, released, dropped. */
static void dgrams_put(void *drv, const uintptr_t *bufs, unsigned n)
{
	(void)drv;
	for (unsigned i = 0; i < n; i++)
		free((struct dgram *)bufs[i]);
}

static int check_dst(const struct sim_sock *s, const struct keel_addr *to,
		     size_t len)
{
	if (!to || to->sa.sa_family != AF_INET)
		return -EAFNOSUPPORT;
	if (!to->in4.sin_addr.s_addr || !to->in4.sin_port)
		return -EINVAL;
	if (len > MAX_PAYLOAD)
		return -EMSGSIZE;
	if (to->in4.sin_addr.s_addr == 0xffffffffu && !s->sock.broadcast)
		return -EACCES;
	return 0;
}

static int send_one(struct sim_sock *s, struct keel_cx *cx, const void *buf,
		    size_t len, const struct keel_addr *to)
{
	struct sim *d = s->d;
	struct dgram *g;
	int rc = check_dst(s, to, len);

	if (rc < 0)
		return rc;
	if (!d->print_known) {
		d->print = keel_runtime_config(keel_cx_runtime(cx))->stats;
		d->print_known = true;
	}
	g = dgram_new((uint32_t)len);
	if (!g) {
		DS_ADD(d, tx_dropped, 1);
		return -ENOBUFS;
	}
	if (len)
		memcpy(g->data, buf, len);
	g->id = ++d->next_id;
	g->src_ip = s->sock.ip ? s->sock.ip : d->ip;
	g->src_port = s->sock.port;
	g->dst_ip = to->in4.sin_addr.s_addr;
	g->dst_port = to->in4.sin_port;
	d->st.sent++;
	DS_ADD(d, tx_packets, 1);
	DS_ADD(d, tx_bytes, len);
	trace(d, EV_SEND, g, 0);
	if (g->dst_ip == 0xffffffffu) {
		/* every socket on the port, each its own trip */
		struct sim_sock *o;

		FOR_SOCKS(d, o) {
			struct dgram *c;

			if (o->sock.port != g->dst_port || !(c = dgram_copy(g)))
				continue;
			c->dst_ip = o->sock.ip ? o->sock.ip : d->ip;
			transmit(d, c, keel_now(cx));
		}
		free(g);
		return 0;
	}
	transmit(d, g, keel_now(cx));
	return 0;
}

static ssize_t udp_send_to(void *impl, struct keel_cx *cx, const void *buf,
			   size_t len, const struct keel_addr *to)
{
	int rc = send_one(impl, cx, buf, len, to);

	return rc < 0 ? rc : (ssize_t)len;
}

static ssize_t udp_send_batch(void *impl, struct keel_cx *cx,
			      const struct keel_dgram *v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		int rc = send_one(impl, cx, v[i].buf, v[i].cap, &v[i].peer);

		if (rc < 0)
			return i ? (ssize_t)i : rc;
	}
	return (ssize_t)i;
}

static ssize_t udp_send_lent(void *impl, struct keel_cx *cx,
			     struct keel_pkt *pkts, unsigned n)
{
	struct sim_sock *s = impl;
	unsigned i;
	int rc = keel__sock_lent_check(&s->sock, pkts, n);

	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++) {
		struct keel_addr to = pkts[i].peer;

		/* checked above: each one lent, and listed once */
		rc = send_one(s, cx, pkts[i].data, pkts[i].len, &to);
		if (rc < 0)
			return i ? (ssize_t)i : rc;
		free((struct dgram *)keel__sock_unlend(&s->sock, &pkts[i]));
	}
	return (ssize_t)i;
}

static void free_list(struct dgram *g)
{
	while (g) {
		struct dgram *n = g->next;

		free(g);
		g = n;
	}
}

static void udp_close(void *impl)
{
	struct sim_sock *s = impl;

	keel_timer_stop(&s->tm);
	keel__sock_close(&s->sock); /* queued and lent datagrams are freed */
	free_list(s->wire);
	free(s);
}


static const struct keel_udp_ops sim_udp_ops = {
	.recv_from = udp_recv_from,
	.send_to = udp_send_to,
	.recv_batch = udp_recv_batch,
	.send_batch = udp_send_batch,
	.recv_lend = udp_recv_lend,
	.send_lent = udp_send_lent,
	.release = keel__sock_release,
	.local_addr = keel__sock_local_addr,
	.setopt = keel__sock_setopt, /* broadcast; the others -ENOTSUP */
	.close = udp_close,
};

static int sim_udp_bind(void *drv, struct keel_udp *u,
			const struct keel_addr *addr,
			const struct keel_udp_opts *opts)
{
	struct sim *d = drv;
	struct sim_sock *s;
	uint32_t ip;
	uint16_t port;
	int rc;

	(void)opts;
	if (addr->sa.sa_family != AF_INET)
		return -EAFNOSUPPORT;
	ip = addr->in4.sin_addr.s_addr;
	if (ip == 0xffffffffu || (ntohl(ip) >> 28) == 0xe)
		return -EADDRNOTAVAIL;
	port = addr->in4.sin_port;
	if (!port) {
		for (unsigned tries = 0; tries < 65536 - EPHEMERAL; tries++) {
			uint16_t p = htons(d->next_port);

			d->next_port = d->next_port == 65535 ? EPHEMERAL : d->next_port + 1;
			if (!find_sock(d, ip, p) && echo_index(d, ip, p) < 0) {
				port = p;
				break;
			}
		}
		if (!port)
			return -EADDRINUSE;
	} else if (find_sock(d, ip, port) || (ip && echo_index(d, ip, port) >= 0)) {
		return -EADDRINUSE;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rc = keel__sock_open(&d->socks, &s->sock, d->qlen, ip, port);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->d = d;
	u->ops = &sim_udp_ops;
	u->impl = &s->sock;
	return 0;
}

/* ------------------------------------------------------------- the driver */

static int bad_arg(const char *opt, const char *why)
{
	keel_log(KEEL_LOG_ERROR, "keel: sim: '%s': %s", opt, why);
	return -EINVAL;
}

static int parse_prob(const char *opt, const char *v, double *out)
{
	char *end;
	double p = strtod(v, &end);

	if (end == v || *end || !(p >= 0.0 && p <= 1.0))
		return bad_arg(opt, "not a probability in 0..1");
	*out = p;
	return 0;
}

static int parse_echo(struct sim *d, const char *opt, char *v)
{
	for (char *save = NULL, *t = strtok_r(v, "+", &save); t;
	     t = strtok_r(NULL, "+", &save)) {
		struct keel_addr a;

		if (d->necho == MAX_ECHO)
			return bad_arg(opt, "at most 4 echo hosts");
		if (keel_addr_parse(t, &a) < 0 || a.sa.sa_family != AF_INET ||
		    !keel_addr_port(&a))
			return bad_arg(opt, "not an IPv4 ADDR:PORT");
		d->echo[d->necho].ip = a.in4.sin_addr.s_addr;
		d->echo[d->necho].port = a.in4.sin_port;
		d->necho++;
	}
	return 0;
}

static int parse_args(struct sim *d, const char *args)
{
	char *copy, *save = NULL;
	int rc = 0;

	if (!args || !*args)
		return 0;
	copy = strdup(args);
	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t && !rc;
	     t = strtok_r(NULL, ",", &save)) {
		char *v = strchr(t, '='), *end;

		if (!v) {
			rc = bad_arg(t, "expected NAME=VALUE (seed, loss, dup, reorder, "
					"delay, corrupt, qlen, ip, echo)");
			break;
		}
		*v++ = '\0';
		if (!strcmp(t, "seed")) {
			d->rng = strtoull(v, &end, 0);
			if (end == v || *end)
				rc = bad_arg(t, "not a number");
		} else if (!strcmp(t, "loss")) {
			rc = parse_prob(t, v, &d->loss);
		} else if (!strcmp(t, "dup")) {
			rc = parse_prob(t, v, &d->dup);
		} else if (!strcmp(t, "reorder")) {
			rc = parse_prob(t, v, &d->reorder);
		} else if (!strcmp(t, "corrupt")) {
			rc = parse_prob(t, v, &d->corrupt);
		} else if (!strcmp(t, "delay")) {
			unsigned long ms = strtoul(v, &end, 10);

			if (end == v || *end || ms > 600000)
				rc = bad_arg(t, "not milliseconds in 0..600000");
			d->delay_ns = (uint64_t)ms * 1000000;
		} else if (!strcmp(t, "qlen")) {
			unsigned long n = strtoul(v, &end, 10);

			if (end == v || *end || n < 1 || n > 1000000)
				rc = bad_arg(t, "not a count in 1..1000000");
			d->qlen = (unsigned)n;
		} else if (!strcmp(t, "ip")) {
			struct keel_addr a;

			if (keel_addr_from(v, 0, &a) < 0 || a.sa.sa_family != AF_INET ||
			    !a.in4.sin_addr.s_addr)
				rc = bad_arg(t, "not an IPv4 host address");
			else
				d->ip = a.in4.sin_addr.s_addr;
		} else if (!strcmp(t, "echo")) {
			rc = parse_echo(d, t, v);
		} else {
			rc = bad_arg(t, "unknown option (seed, loss, dup, reorder, delay, "
					"corrupt, qlen, ip, echo)");
		}
	}
	free(copy);
	return rc;
}

static int sim_create(struct keel_worker *w, const char *args, void **out)
{
	struct sim *d;
	int rc;

	(void)w; /* one network per worker: sockets are owned where they open */
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->rng = 1;
	d->qlen = 256;
	d->ip = htonl(0x0a000001u); /* 10.0.0.1 */
	d->next_port = EPHEMERAL;
	keel__socks_init(&d->socks, d, dgrams_put, &d->truncated, &d->sock_full);
	rc = parse_args(d, args);
	if (rc < 0)
		goto err;
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0) {
		rc = -errno;
		goto err;
	}
	*out = d;
	return 0;
err:
	free(d);
	return rc;
}

static void sim_destroy(void *drv)
{
	struct sim *d = drv;

	keel__socks_close_all(&d->socks, udp_close);
	if (d->print)
		keel_log(KEEL_LOG_INFO, "    sim: sent=%" PRIu64 " delivered=%" PRIu64
			" lost=%" PRIu64 " duplicated=%" PRIu64
			" reordered=%" PRIu64 " corrupted=%" PRIu64
			" partitioned=%" PRIu64 " no_socket=%" PRIu64
			" queue_full=%" PRIu64 " echoed=%" PRIu64
			" trace=%016" PRIx64 "",
			d->st.sent, d->st.delivered, d->st.lost, d->st.duplicated,
			d->st.reordered, d->st.corrupted, d->st.partitioned,
			d->st.no_socket, d->st.queue_full, d->st.echoed, d->st.trace);
	close(d->efd);
	free(d);
}

/* Everything happens in the socket calls: nothing to poll. */
static int sim_poll(void *drv)
{
	DS_ADD((struct sim *)drv, polls, 1);
	return 0;
}

static int sim_park(void *drv, int64_t timeout_ns)
{
	struct sim *d = drv;
	struct pollfd p = { .fd = d->efd, .events = POLLIN };
	uint64_t v;
	int ms;

	if (timeout_ns == 0)
		return 0;
	DS_ADD(d, parks, 1);
	ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
	if (poll(&p, 1, ms) > 0 && read(d->efd, &v, sizeof(v)) == sizeof(v))
		DS_ADD(d, wakeups, 1);
	return 0;
}

/* Beside other drivers: nothing comes from outside (deliveries are timers
 * of the worker's), so the wait fd is the unpark eventfd alone. */
static int sim_park_prepare(void *drv, int64_t *timeout_ns, int *fd)
{
	struct sim *d = drv;

	(void)timeout_ns;
	DS_ADD(d, parks, 1);
	*fd = d->efd;
	return 0;
}

static int sim_park_finish(void *drv)
{
	struct sim *d = drv;
	uint64_t v;

	if (read(d->efd, &v, sizeof(v)) == sizeof(v))
		DS_ADD(d, wakeups, 1);
	return 0;
}

/* Any thread: an eventfd write. */
static void sim_unpark(void *drv)
{
	uint64_t one = 1;
	int saved = errno;

	if (write(((struct sim *)drv)->efd, &one, sizeof(one)) < 0) {
		/* full counter: a wakeup is pending anyway */
	}
	errno = saved;
}

/* Counters are the owner's; another thread reading them may see a torn
 * snapshot of a run in progress, never a crash (plain 64-bit loads). */
static void sim_stats(void *drv, struct keel_driver_stats *out)
{
	struct sim *d = drv;

	const uint64_t *src = (const uint64_t *)&d->ds;
	uint64_t *dst = (uint64_t *)out;

	/* Any thread: each counter a relaxed load (DS_ADD). */
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	out->rx_truncated = atomic_load_explicit(&d->truncated, memory_order_relaxed);
	out->rx_dropped += atomic_load_explicit(&d->sock_full, memory_order_relaxed);
}

static int sim_bind(void *drv, struct keel_udp *s, const struct keel_addr *addr,
		    const struct keel_udp_opts *opts)
{
	return sim_udp_bind(drv, s, addr, opts);
}

const struct keel_driver_ops keel_drv_sim = {
	.name = "sim",
	.usage = "in-memory network; ARGS: seed=N,loss=P,dup=P,reorder=P,"
		 "delay=MS,corrupt=P,qlen=N,ip=A,echo=A:P[+A:P]",
	.create = sim_create,
	.destroy = sim_destroy,
	.poll = sim_poll,
	.park = sim_park,
	.unpark = sim_unpark,
	.park_prepare = sim_park_prepare,
	.park_finish = sim_park_finish,
	.stats = sim_stats,
	.udp_bind = sim_bind,
};

KEEL_DRIVER_EXPORT(keel_drv_sim);

/* ------------------------------------------------------------ public API */

int keel_sim_stats_get(struct keel_cx *cx, struct keel_sim_stats *out)
{
	struct sim *d;

	if (!cx || !out)
		return -EINVAL;
	d = keel_cx_driver(cx, &keel_drv_sim);
	if (!d)
		return -ENOENT;
	*out = d->st;
	return 0;
}

int keel_sim_partition(struct keel_cx *cx, const struct keel_addr *a,
		       const struct keel_addr *b, bool cut)
{
	struct sim *d;
	uint32_t x, y;

	if (!cx || !a || !b || a->sa.sa_family != AF_INET || b->sa.sa_family != AF_INET)
		return -EINVAL;
	d = keel_cx_driver(cx, &keel_drv_sim);
	if (!d)
		return -ENOENT;
	x = a->in4.sin_addr.s_addr;
	y = b->in4.sin_addr.s_addr;
	for (unsigned i = 0; i < d->ncuts; i++)
		if ((d->cuts[i].a == x && d->cuts[i].b == y) ||
		    (d->cuts[i].a == y && d->cuts[i].b == x)) {
			if (!cut)
				d->cuts[i] = d->cuts[--d->ncuts];
			return 0;
		}
	if (!cut)
		return 0;
	if (d->ncuts == MAX_CUTS)
		return -ENOSPC;
	d->cuts[d->ncuts].a = x;
	d->cuts[d->ncuts].b = y;
	d->ncuts++;
	return 0;
}
