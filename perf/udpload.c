/* SPDX-License-Identifier: MIT */
/*
 * keel-udpload: keel's UDP load generator, written on keel itself.
 *
 * It drives an echo service (examples/udp-echo). Each flow is a task with
 * its own socket. In a closed loop (the default) a flow keeps --window
 * datagrams in flight, sending a new one for each that comes back; in an
 * open loop (--rate=N) the flows together send N datagrams/s on a fixed
 * schedule whatever comes back (paced at keel's timer tick, 1 ms, so at
 * high rates a flow sends each millisecond's share in one batch; latency
 * is then taken from the actual send). Every datagram carries its
 * send time, its flow and its sequence number; the echo sends it back
 * unchanged, and the flow records now - send time in a fixed-size
 * log-linear histogram (about 1% precision, no allocation per sample).
 * A datagram not back within LOSS_NS is counted lost and its slot in the
 * window refilled, so loss cannot stall the loop. After --warmup (not
 * counted) it measures for --duration, waits a bounded time for what is
 * still in flight, and prints one summary line (or one JSON object).
 *
 * usage: keel-udpload [--flows=N] [--window=N | --rate=N] [--size=BYTES]
 *                     [--duration=S] [--warmup=S] [--json] ADDR:PORT
 */
#include <errno.h>
#include <keel/keel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FLOWS	1024
#define MAX_WINDOW	4096
#define MAX_RATE	100000000u /* datagrams/s, all flows */
#define MAX_RING	(1u << 20)  /* slots per flow */
#define MIN_SIZE	16    /* the header below */
#define MAX_SIZE	65507 /* largest IPv4 UDP payload */
#define MAX_SECONDS	600.0
#define MAX_MEMORY	((uint64_t)1 << 30) /* all flows' buffers together */
#define BATCH		32u  /* datagrams per send_batch / recv_batch */
#define LOSS_NS		(200 * KEEL_MS)
#define SWEEP_NS	(50 * KEEL_MS)
#define QUIET_NS	(20 * KEEL_MS) /* after the end: no echo for this long, */
#define DRAIN_NS	(2 * KEEL_SEC) /* or this long, and the sockets close */
#define SPINS		16   /* send/receive rounds per poll, at most */
#define RATE_BURSTS	4    /* open loop: batches per round, at most */

/* The payload starts with this, in host order: this process writes it
 * and reads it back; the echo only returns it unchanged. */
struct probe {
	uint64_t stamp; /* ns, CLOCK_MONOTONIC, at send */
	uint32_t flow;
	uint32_t seq;
};
_Static_assert(sizeof(struct probe) == MIN_SIZE, "probe header is 16 bytes");

/* ------------------------------------------------------------ histogram */

/*
 * Log-linear: values below 2^(SUB_BITS+1) ns have a bucket each; above,
 * each power of two is split in 2^SUB_BITS buckets, so a bucket is at most
 * 1/64 of its value wide and its midpoint within 0.8% of any value in it.
 * Values are clamped at 2^MAX_BITS ns (about 18 minutes).
 */
#define SUB_BITS 6
#define SUB	 (1u << SUB_BITS)
#define MAX_BITS 40
#define NBUCKETS ((MAX_BITS - SUB_BITS) * SUB + 2 * SUB)

struct hist {
	uint64_t count[NBUCKETS];
	uint64_t total;
};

static unsigned hist_index(uint64_t v)
{
	unsigned e, s;

	if (v >= (uint64_t)1 << MAX_BITS)
		v = ((uint64_t)1 << MAX_BITS) - 1;
	if (v < 2 * SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* 2^e <= v < 2^(e+1) */
	s = e - SUB_BITS;
	return (s << SUB_BITS) + (unsigned)(v >> s);
}

/* The middle of bucket \p i, in ns. */
static double hist_value(unsigned i)
{
	unsigned s;
	uint64_t low;

	if (i < 2 * SUB)
		return i;
	s = (i >> SUB_BITS) - 1;
	low = (uint64_t)((i & (SUB - 1)) + SUB) << s;
	return (double)low + (double)((uint64_t)1 << s) / 2.0;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->total++;
}

static void hist_merge(struct hist *to, const struct hist *from)
{
	for (unsigned i = 0; i < NBUCKETS; i++)
		to->count[i] += from->count[i];
	to->total += from->total;
}

/* The value at quantile \p q (0 < q <= 1), in ns; -1 when empty. */
static double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->total)
		return -1.0;
	rank = (uint64_t)(q * (double)h->total);
	if ((double)rank < q * (double)h->total)
		rank++; /* ceil */
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank)
			return hist_value(i);
	}
	return hist_value(NBUCKETS - 1);
}

/* ---------------------------------------------------------------- flows */

struct params {
	struct keel_addr target;
	unsigned flows, window, size;
	unsigned rate;		   /* open loop: datagrams/s, all flows; 0: closed */
	uint64_t warmup_ns, duration_ns;
	uint64_t t_start;	   /* keel_now when the flows start */
	uint64_t t_measure, t_end; /* keel_now when counting starts, stops */
	bool json;
};

/* What a flow measured; only datagrams sent in [t_measure, t_end) count. */
struct result {
	uint64_t sent, received, lost, late;
	struct hist lat;
};

/* One datagram in flight; slot seq % ring size. */
struct slot {
	uint64_t stamp;
	uint32_t seq;
	bool busy;
};

struct flow {
	struct keel_co co;
	const struct params *p;
	struct result *res;
	uint32_t id;
	struct keel_udp sock;	/* moved in by main */
	struct keel_timer timer;
	void *mem;		/* one block: ring, dgram vectors, buffers */
	struct slot *ring;
	uint32_t ring_mask;
	struct keel_dgram *tx, *rx;
	unsigned batch;		/* min(window, BATCH); open loop: BATCH */
	double gap_ns;		/* open loop: ns between two sends of this flow */
	uint64_t planned;	/* open loop: sends due so far, sent or not */
	uint32_t next_seq;
	unsigned inflight;
	unsigned ntx, txed;	/* the chunk being sent, and how far */
	unsigned spins;		/* rounds since the last yield */
	unsigned bursts;	/* open loop: batches sent this round */
	uint64_t next_sweep, wait;
	ssize_t n;
};

/*
 * Latency stamps read the clock now, not keel_now(): keel_now is the
 * worker's time cached at the start of its tick, and one tick may run
 * every flow and several receive batches, which would shift every stamp
 * by up to a tick. Both read CLOCK_MONOTONIC (keel's clock outside the
 * test clock), so a stamp can be placed against the keel_now deadlines
 * (t_measure, t_end); but keel_now lags the stamps, so ages are only ever
 * taken between two stamps.
 */
static uint64_t stamp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * KEEL_SEC + (uint64_t)ts.tv_nsec;
}

static bool counted(const struct params *p, uint64_t stamp)
{
	return stamp >= p->t_measure && stamp < p->t_end;
}

/* Slot \p s gives up on its datagram. */
static void slot_lose(struct flow *f, struct slot *s)
{
	if (counted(f->p, s->stamp))
		f->res->lost++;
	s->busy = false;
	f->inflight--;
}

/* Count as lost every datagram out for LOSS_NS or more (all with
 * \p all): they cannot hold their window slot forever. */
static void flow_sweep(struct flow *f, uint64_t now, bool all)
{
	for (uint32_t i = 0; i <= f->ring_mask && f->inflight; i++) {
		struct slot *s = &f->ring[i];

		if (s->busy && (all || (now > s->stamp &&
					now - s->stamp >= LOSS_NS)))
			slot_lose(f, s);
	}
}

/* Write the next min(k, batch) probes into tx. */
static unsigned flow_fill(struct flow *f, unsigned k)
{
	uint64_t now = stamp_now();

	if (k > f->batch)
		k = f->batch;
	for (unsigned i = 0; i < k; i++) {
		uint32_t seq = f->next_seq++;
		struct slot *s = &f->ring[seq & f->ring_mask];
		struct probe pr = { now, f->id, seq };

		/* A slot still busy a whole ring of sequence numbers later
		 * is a datagram that was lost while others kept coming. */
		if (s->busy)
			slot_lose(f, s);
		*s = (struct slot){ now, seq, true };
		memcpy(f->tx[i].buf, &pr, sizeof(pr));
		f->inflight++;
	}
	return k;
}

/* The send of tx[from..ntx) failed: those never left. */
static void flow_unsend(struct flow *f, unsigned from)
{
	for (unsigned i = from; i < f->ntx; i++) {
		struct probe pr;

		memcpy(&pr, f->tx[i].buf, sizeof(pr));
		f->ring[pr.seq & f->ring_mask].busy = false;
		f->inflight--;
	}
}

static void flow_sent(struct flow *f, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++) {
		struct probe pr;

		memcpy(&pr, f->tx[i].buf, sizeof(pr));
		if (counted(f->p, pr.stamp))
			f->res->sent++;
	}
}

/* A datagram came back: match it with its slot, record its latency. */
static void flow_recv(struct flow *f, const struct keel_dgram *d, uint64_t now)
{
	struct probe pr;
	struct slot *s;

	if (d->len != f->p->size || (d->flags & KEEL_DGRAM_TRUNC))
		return; /* not ours */
	memcpy(&pr, d->buf, sizeof(pr));
	s = &f->ring[pr.seq & f->ring_mask];
	if (pr.flow != f->id || !s->busy || s->seq != pr.seq ||
	    s->stamp != pr.stamp) {
		/* Already counted lost (or a duplicate, or not ours). */
		if (pr.flow == f->id && counted(f->p, pr.stamp))
			f->res->late++;
		return;
	}
	s->busy = false;
	f->inflight--;
	if (counted(f->p, pr.stamp)) {
		f->res->received++;
		hist_add(&f->res->lat, now > pr.stamp ? now - pr.stamp : 0);
	}
}

/* Failures the loop rides out: a send that failed this way dropped its
 * datagrams (counted as never sent), a receive that did got nothing. */
static bool transient(ssize_t e)
{
	return e == -ENOBUFS || e == -EAGAIN || e == -ECONNREFUSED ||
	       e == -EINTR || e == -ENOMEM || e == -ETIMEDOUT;
}

/* Slots per flow: twice what can be in flight, a power of two. In an
 * open loop, what is sent during LOSS_NS (beyond that a datagram is lost
 * anyway), capped at MAX_RING: a slot reused while busy counts lost. */
static uint32_t ring_size(const struct params *p)
{
	uint64_t need = 2 * (uint64_t)p->window;
	uint32_t ring = 1;

	if (p->rate) {
		need = 2 * (uint64_t)((double)p->rate / p->flows *
				      ((double)LOSS_NS / (double)KEEL_SEC)) + 2;
		if (need < 2 * BATCH)
			need = 2 * BATCH;
	}
	while (ring < need && ring < MAX_RING)
		ring <<= 1;
	return ring;
}

/* Open loop: how many sends are due by \p now and not yet planned. The
 * flows' schedules are offset by a fraction of a gap, so that they do not
 * all send at the same instant. */
static unsigned flow_due(struct flow *f, uint64_t now)
{
	double t = (double)(now - f->p->t_start) -
		   f->gap_ns * (double)f->id / (double)f->p->flows;
	uint64_t due;

	if (t < 0 || now < f->p->t_start)
		return 0;
	due = (uint64_t)(t / f->gap_ns) + 1;
	if (due <= f->planned)
		return 0;
	due -= f->planned;
	return due > UINT32_MAX ? UINT32_MAX : (unsigned)due;
}

/* Open loop: ns from \p now until the next send is due (>= 1). */
static uint64_t flow_next_send(struct flow *f, uint64_t now)
{
	double at = (double)f->p->t_start +
		    f->gap_ns * ((double)f->planned + (double)f->id / (double)f->p->flows);

	return at > (double)now ? (uint64_t)(at - (double)now) + 1 : 1;
}

static int flow_alloc(struct flow *f)
{
	const struct params *p = f->p;
	uint32_t ring = ring_size(p);
	size_t off, bytes;
	char *m;

	f->batch = p->window < BATCH && !p->rate ? p->window : BATCH;
	if (p->rate)
		f->gap_ns = (double)KEEL_SEC * p->flows / p->rate;
	bytes = ring * sizeof(struct slot) +
		2 * f->batch * (sizeof(struct keel_dgram) + p->size);
	m = f->mem = calloc(1, bytes);
	if (!m)
		return -ENOMEM;
	f->ring = (struct slot *)(void *)m;
	f->ring_mask = ring - 1;
	off = ring * sizeof(struct slot);
	f->tx = (struct keel_dgram *)(void *)(m + off);
	f->rx = f->tx + f->batch;
	off += 2 * f->batch * sizeof(struct keel_dgram);
	for (unsigned i = 0; i < f->batch; i++) {
		f->tx[i] = (struct keel_dgram){ .buf = m + off, .cap = p->size,
						.peer = p->target };
		off += p->size;
		f->rx[i] = (struct keel_dgram){ .buf = m + off, .cap = p->size };
		off += p->size;
	}
	return 0;
}

static intptr_t flow(void *frame, struct keel_cx *cx)
{
	struct flow *f = frame;
	uint64_t now;
	int rc;

	KEEL_BEGIN(f);
	rc = flow_alloc(f);
	if (rc < 0)
		KEEL_RETURN(f, rc);
	f->next_sweep = keel_now(cx) + SWEEP_NS;

	while (keel_now(cx) < f->p->t_end) {
		/* Keep the window full, or send what the schedule says (a
		 * few batches a round: receiving must keep up too). */
		for (f->bursts = 0;; f->bursts++) {
			if (f->p->rate) {
				unsigned due = flow_due(f, stamp_now());

				if (!due || f->bursts == RATE_BURSTS)
					break;
				f->ntx = flow_fill(f, due);
				f->planned += f->ntx;
			} else if (f->inflight < f->p->window) {
				f->ntx = flow_fill(f, f->p->window - f->inflight);
			} else {
				break;
			}
			/* A send that cannot finish by the end counts as failed:
			 * the run stays bounded in time whatever the network. */
			now = keel_now(cx);
			f->wait = f->p->t_end + LOSS_NS > now ?
				  f->p->t_end + LOSS_NS - now : KEEL_MS;
			for (f->txed = 0; f->txed < f->ntx;) {
				KEEL_AWAIT(f, f->n, keel_timeout(cx, &f->timer, f->wait,
						keel_udp_send_batch(cx, &f->sock,
							f->tx + f->txed, f->ntx - f->txed)));
				if (f->n <= 0) {
					if (f->n == 0) /* never, by contract */
						f->n = -EAGAIN;
					break;
				}
				flow_sent(f, f->txed, (unsigned)f->n);
				f->txed += (unsigned)f->n;
			}
			if (f->n < 0) {
				flow_unsend(f, f->txed);
				if (!transient(f->n)) {
					fprintf(stderr, "keel-udpload: flow %u: send: %s\n",
						(unsigned)f->id, keel_strerror(f->n));
					KEEL_RETURN(f, f->n);
				}
				break; /* try again after a receive or a tick */
			}
		}

		/* Wait for echoes, at most until the next sweep or the end
		 * (open loop: or the next send). */
		now = keel_now(cx);
		f->wait = (f->next_sweep < f->p->t_end ? f->next_sweep : f->p->t_end);
		f->wait = f->wait > now ? f->wait - now : 0;
		if (!f->inflight || !f->wait)
			f->wait = KEEL_MS;
		if (f->p->rate) {
			uint64_t next = flow_next_send(f, stamp_now());

			if (next < f->wait)
				f->wait = next;
		}
		KEEL_AWAIT(f, f->n, keel_timeout(cx, &f->timer, f->wait,
				keel_udp_recv_batch(cx, &f->sock, f->rx, f->batch)));
		if (f->n > 0) {
			now = stamp_now();
			for (ssize_t i = 0; i < f->n; i++)
				flow_recv(f, &f->rx[i], now);
		} else if (!transient(f->n)) {
			fprintf(stderr, "keel-udpload: flow %u: receive: %s\n",
				(unsigned)f->id, keel_strerror(f->n));
			KEEL_RETURN(f, f->n);
		}
		now = keel_now(cx);
		if (now >= f->next_sweep) {
			/* Against the stamps' clock: keel_now lags them by
			 * up to a tick, and a stamp later than "now" is not
			 * a datagram 2^64 ns old. */
			flow_sweep(f, stamp_now(), false);
			f->next_sweep = now + SWEEP_NS;
		}
		/* Under load a receive is ready every time and this loop
		 * never has to wait; keel_now only moves between polls. Let
		 * the other flows and the driver run now and then. */
		if (++f->spins == SPINS) {
			f->spins = 0;
			KEEL_YIELD(f, cx);
		}
	}

	/* Time is up: no more sends; give what is in flight LOSS_NS. */
	while (f->inflight && keel_now(cx) < f->p->t_end + LOSS_NS) {
		f->wait = f->p->t_end + LOSS_NS - keel_now(cx);
		KEEL_AWAIT(f, f->n, keel_timeout(cx, &f->timer, f->wait,
				keel_udp_recv_batch(cx, &f->sock, f->rx, f->batch)));
		if (f->n > 0) {
			now = stamp_now();
			for (ssize_t i = 0; i < f->n; i++)
				flow_recv(f, &f->rx[i], now);
		} else if (!transient(f->n)) {
			break;
		}
	}
	flow_sweep(f, 0, true);
	/* Then read late echoes (counted late) until none came for QUIET_NS,
	 * at most DRAIN_NS: a datagram left unread in the socket when it
	 * closes is counted nowhere, here or by the kernel, and an echo
	 * still serving a backlog keeps sending for a while. */
	f->wait = keel_now(cx) + DRAIN_NS;
	while (keel_now(cx) < f->wait) {
		KEEL_AWAIT(f, f->n, keel_timeout(cx, &f->timer, QUIET_NS,
				keel_udp_recv_batch(cx, &f->sock, f->rx, f->batch)));
		if (f->n <= 0 && !(f->n != -ETIMEDOUT && transient(f->n)))
			break;
		now = stamp_now();
		for (ssize_t i = 0; i < f->n; i++)
			flow_recv(f, &f->rx[i], now);
	}
	KEEL_END(f);
}

static void flow_drop(void *frame)
{
	struct flow *f = frame;

	if (f->sock.ops)
		keel_udp_close(&f->sock);
	free(f->mem);
}

/* ----------------------------------------------------------------- main */

struct load {
	struct keel_co co;
	struct keel_args args;
	struct params p;
	struct result *res;	 /* flows + 1: the last is the total */
	struct keel_join **join; /* NULL once awaited */
	unsigned i;
	int err;
	intptr_t r;
};

static const char *opt_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	return arg[n] == '\0' ? "" : NULL;
}

static int parse_uint(const char *opt, const char *v, unsigned lo,
		      unsigned hi, unsigned *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*v || *end || *v == '-' || errno || n < lo || n > hi) {
		fprintf(stderr, "keel-udpload: %s wants a whole number from %u "
				"to %u, not '%s'\n", opt, lo, hi, v);
		return -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}

static int parse_seconds(const char *opt, const char *v, double lo,
			 uint64_t *out)
{
	double s;
	char *end;

	errno = 0;
	s = strtod(v, &end);
	/* (s >= lo) is false for NaN too. */
	if (!*v || *end || errno || !(s >= lo) || s > MAX_SECONDS) {
		fprintf(stderr, "keel-udpload: %s wants seconds (%g to %g), "
				"not '%s'\n", opt, lo, MAX_SECONDS, v);
		return -EINVAL;
	}
	*out = (uint64_t)(s * (double)KEEL_SEC);
	return 0;
}

/* Every flow holds batch buffers both ways and its ring: cap the sum, so
 * that a typo in --flows cannot take the machine's memory. */
static int check_memory(const struct params *p)
{
	unsigned b = p->window < BATCH && !p->rate ? p->window : BATCH;
	uint64_t per = 2 * (uint64_t)b * p->size +
		       (uint64_t)ring_size(p) * sizeof(struct slot);

	if (per * p->flows > MAX_MEMORY) {
		fprintf(stderr, "keel-udpload: %u flows of %u x %u B need more "
				"than 1 GiB of buffers; use fewer or smaller\n",
			p->flows, b, p->size);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(const struct keel_args *a, struct params *p)
{
	const char *target = NULL, *v;
	bool window_set = false;
	int rc = 0;

	p->flows = 4;
	p->window = 1;
	p->size = 64;
	p->duration_ns = 3 * KEEL_SEC;
	p->warmup_ns = KEEL_SEC / 2;
	for (int i = 1; i < a->argc && rc == 0; i++) {
		const char *arg = a->argv[i];

		if ((v = opt_value(arg, "--flows")))
			rc = parse_uint("--flows", v, 1, MAX_FLOWS, &p->flows);
		else if ((v = opt_value(arg, "--window"))) {
			rc = parse_uint("--window", v, 1, MAX_WINDOW, &p->window);
			window_set = true;
		}
		else if ((v = opt_value(arg, "--rate")))
			rc = parse_uint("--rate", v, 1, MAX_RATE, &p->rate);
		else if ((v = opt_value(arg, "--size")))
			rc = parse_uint("--size", v, MIN_SIZE, MAX_SIZE, &p->size);
		else if ((v = opt_value(arg, "--duration")))
			rc = parse_seconds("--duration", v, 0.001, &p->duration_ns);
		else if ((v = opt_value(arg, "--warmup")))
			rc = parse_seconds("--warmup", v, 0.0, &p->warmup_ns);
		else if (strcmp(arg, "--json") == 0)
			p->json = true;
		else if (strncmp(arg, "--", 2) == 0) {
			fprintf(stderr, "keel-udpload: unknown option '%s' (try --help)\n", arg);
			rc = -EINVAL;
		} else if (target) {
			fprintf(stderr, "keel-udpload: one ADDR:PORT only ('%s', '%s')\n",
				target, arg);
			rc = -EINVAL;
		} else {
			target = arg;
		}
	}
	if (rc < 0)
		return rc;
	if (p->rate && window_set) {
		fprintf(stderr, "keel-udpload: --window is the closed loop, --rate "
				"the open one: not both\n");
		return -EINVAL;
	}
	if (!target) {
		fprintf(stderr, "keel-udpload: which ADDR:PORT? "
				"(e.g. 127.0.0.1:8080; try --help)\n");
		return -EINVAL;
	}
	if (keel_addr_parse(target, &p->target) < 0) {
		fprintf(stderr, "keel-udpload: '%s' is not ADDR:PORT "
				"(e.g. 127.0.0.1:8080 or [::1]:8080)\n", target);
		return -EINVAL;
	}
	if (keel_addr_port(&p->target) == 0) {
		fprintf(stderr, "keel-udpload: port 0 cannot be reached\n");
		return -EINVAL;
	}
	return check_memory(p);
}

/* Loopback targets get a loopback source; others the unspecified
 * address, so that the route picks it. */
static void source_for(const struct keel_addr *to, struct keel_addr *out)
{
	if (to->sa.sa_family == AF_INET6)
		keel_addr_from(IN6_IS_ADDR_LOOPBACK(&to->in6.sin6_addr) ? "::1" : "::",
			       0, out);
	else
		keel_addr_from((ntohl(to->in4.sin_addr.s_addr) >> 24) == 127 ?
			       "127.0.0.1" : "0.0.0.0", 0, out);
}

static void report(const struct load *f)
{
	const struct params *p = &f->p;
	const struct result *t = &f->res[p->flows];
	double secs = (double)p->duration_ns / (double)KEEL_SEC;
	double rate = (double)t->received / secs;
	double q50 = hist_quantile(&t->lat, 0.50) / 1e3;
	double q99 = hist_quantile(&t->lat, 0.99) / 1e3;
	double q999 = hist_quantile(&t->lat, 0.999) / 1e3;

	if (p->json) {
		printf("{\"sent\":%llu,\"received\":%llu,\"lost\":%llu,"
		       "\"seconds\":%.3f,\"dgrams_per_s\":%.0f,",
		       (unsigned long long)t->sent, (unsigned long long)t->received,
		       (unsigned long long)t->lost, secs, rate);
		if (t->lat.total)
			printf("\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,",
			       q50, q99, q999);
		else
			printf("\"p50_us\":null,\"p99_us\":null,\"p999_us\":null,");
		printf("\"flows\":%u,\"window\":%u,\"rate\":%u,\"size\":%u}\n",
		       p->flows, p->rate ? 0 : p->window, p->rate, p->size);
	} else {
		if (p->rate)
			printf("keel-udpload: %u flows, open loop %u/s, ", p->flows,
			       p->rate);
		else
			printf("keel-udpload: %u flows, window %u, ", p->flows,
			       p->window);
		printf("%u B, %.2f s: sent %llu received %llu lost %llu",
		       p->size, secs,
		       (unsigned long long)t->sent, (unsigned long long)t->received,
		       (unsigned long long)t->lost);
		if (t->late)
			printf(" (%llu late)", (unsigned long long)t->late);
		printf(" | %.0f datagrams/s | ", rate);
		if (t->lat.total)
			printf("latency p50 %.1f us p99 %.1f us p999 %.1f us\n",
			       q50, q99, q999);
		else
			printf("latency n/a\n");
	}
	fflush(stdout);
}

static intptr_t load(void *frame, struct keel_cx *cx)
{
	struct load *f = frame;
	struct keel_addr src;
	struct keel_udp sock;
	char text[KEEL_ADDR_STRLEN];
	uint64_t t0;
	int rc;

	KEEL_BEGIN(f);
	rc = parse_args(&f->args, &f->p);
	if (rc < 0)
		KEEL_RETURN(f, rc);
	f->res = calloc(f->p.flows + 1, sizeof(*f->res));
	f->join = calloc(f->p.flows, sizeof(*f->join));
	if (!f->res || !f->join)
		KEEL_RETURN(f, -ENOMEM);

	t0 = keel_now(cx);
	f->p.t_start = t0;
	f->p.t_measure = t0 + f->p.warmup_ns;
	f->p.t_end = f->p.t_measure + f->p.duration_ns;
	source_for(&f->p.target, &src);
	for (f->i = 0; f->i < f->p.flows; f->i++) {
		/* Bound here, so that a failure (out of descriptors, ...) is
		 * reported before any traffic; the socket moves into the
		 * flow, whose drop closes it. */
		sock = (struct keel_udp){ 0 };
		rc = keel_udp_bind(cx, &sock, &src, NULL);
		if (rc < 0) {
			fprintf(stderr, "keel-udpload: flow %u: cannot bind %s: %s\n",
				f->i, keel_addr_format(&src, text, sizeof(text)),
				keel_strerror(rc));
			KEEL_RETURN(f, rc); /* the drop cancels the others */
		}
		rc = KEEL_SPAWN(cx, flow, flow_drop, &f->join[f->i], struct flow,
				.p = &f->p, .res = &f->res[f->i], .id = f->i,
				.sock = sock);
		if (rc < 0) {
			keel_udp_close(&sock);
			KEEL_RETURN(f, rc);
		}
	}

	for (f->i = 0; f->i < f->p.flows; f->i++) {
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->join[f->i]));
		f->join[f->i] = NULL;
		if (f->r < 0 && !f->err)
			f->err = (int)f->r;
	}
	if (f->err)
		KEEL_RETURN(f, f->err);

	for (unsigned i = 0; i < f->p.flows; i++) {
		struct result *t = &f->res[f->p.flows], *r = &f->res[i];

		if (keel_runtime_config(keel_cx_runtime(cx))->verbose)
			fprintf(stderr, "keel-udpload: flow %u: sent %llu received %llu "
					"lost %llu late %llu\n", i,
				(unsigned long long)r->sent,
				(unsigned long long)r->received,
				(unsigned long long)r->lost,
				(unsigned long long)r->late);
		t->sent += r->sent;
		t->received += r->received;
		t->lost += r->lost;
		t->late += r->late;
		hist_merge(&t->lat, &r->lat);
	}
	report(f);
	if (!f->res[f->p.flows].received) {
		fprintf(stderr, "keel-udpload: nothing came back from %s "
				"(is an echo service running there?)\n",
			keel_addr_format(&f->p.target, text, sizeof(text)));
		KEEL_RETURN(f, -ETIMEDOUT);
	}
	KEEL_END(f);
}

/* Cancelled (a signal) or failed: stop the flows before freeing what
 * they point at. */
static void load_drop(void *frame)
{
	struct load *f = frame;

	if (f->join)
		for (unsigned i = 0; i < f->p.flows; i++)
			if (f->join[i])
				keel_join_abort(f->join[i]);
	free(f->join);
	free(f->res);
}

#define USAGE                                                                  \
	"keel-udpload [options] ADDR:PORT\n"                                   \
	"\n"                                                                   \
	"UDP load against an echo service, closed loop (--window) or open\n"   \
	"loop (--rate); prints sent, received, lost, datagrams/s and latency\n" \
	"percentiles."

#define OPTIONS                                                                \
	"  --flows=N       client sockets, one task each (default 4, max 1024)\n" \
	"  --window=N      closed loop: datagrams in flight per flow (default 1,\n" \
	"                  max 4096)\n"                                         \
	"  --rate=N        open loop: N datagrams/s over all flows, whatever\n"  \
	"                  comes back (paced per 1 ms timer tick)\n"            \
	"  --size=BYTES    payload, 16..65507 (default 64)\n"                  \
	"  --duration=S    seconds measured (default 3, max 600)\n"            \
	"  --warmup=S      seconds before measuring (default 0.5)\n"           \
	"  --json          one JSON object instead of the summary line\n"

KEEL_MAIN_OPTS(load, load_drop, struct load, USAGE, OPTIONS)
