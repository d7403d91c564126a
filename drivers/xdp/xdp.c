/* SPDX-License-Identifier: MIT */
/*
 * The AF_XDP driver's instance: one per worker, one NIC queue each. This
 * file reads the driver arguments and the interface (index, MAC, MTU,
 * IPv4 addresses), builds the instance (net/, the XDP program, the UMEM
 * and socket, the neighbour channel), and runs it: poll moves packets
 * through the rings, park sleeps in poll(2) on the AF_XDP socket, the
 * unpark eventfd and the neighbour socket (or busy-polls), unpark writes
 * the eventfd.
 */
#include "xdp_internal.h"

#include <keel/log.h>
#include <keel/stats.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000ull
#define NS_PER_US 1000ull

/* --------------------------------------------------------------- arguments */

struct xdp_args {
	char ifname[IF_NAMESIZE];
	unsigned queue, frames, rxq;
	enum keel__xdp_mode mode;
	bool busy;
	bool have_ip;
	struct keel_net_ifaddr ip;
	uint32_t gw;
};

#define USAGE                                                                  \
	"IFACE[,queue=N][,mode=native|generic|auto][,busy][,ip=A.B.C.D/P]"      \
	"[,gw=A.B.C.D][,frames=N][,rxq=N]"

static int bad_arg(const char *what, const char *text)
{
	keel_log(KEEL_LOG_ERROR, "keel: xdp: bad %s '%s' (xdp:" USAGE ")", what, text);
	return -EINVAL;
}

static int parse_uint(const char *text, unsigned long lo, unsigned long hi,
		      unsigned *out)
{
	char *end;
	unsigned long v;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* "A.B.C.D" or, with \p prefix, "A.B.C.D/P" (P defaults to 24). */
static int parse_ip(const char *text, uint32_t *ip, uint8_t *prefix)
{
	char buf[INET_ADDRSTRLEN + 4], *slash;
	struct in_addr a;
	unsigned p = 24;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash) {
		if (!prefix || parse_uint(slash + 1, 1, 32, &p) < 0)
			return -EINVAL;
		*slash = '\0';
	}
	if (inet_pton(AF_INET, buf, &a) != 1 || !a.s_addr)
		return -EINVAL;
	*ip = a.s_addr;
	if (prefix)
		*prefix = (uint8_t)p;
	return 0;
}

static int parse_option(struct xdp_args *a, char *tok)
{
	char *eq = strchr(tok, '=');
	const char *v = eq ? eq + 1 : "";

	if (eq)
		*eq = '\0';
	if (!eq && strcmp(tok, "busy") == 0) {
		a->busy = true;
	} else if (eq && strcmp(tok, "queue") == 0) {
		if (parse_uint(v, 0, KEEL_XDP_MAX_QUEUES - 1, &a->queue) < 0)
			return bad_arg("queue", v);
	} else if (eq && strcmp(tok, "mode") == 0) {
		if (strcmp(v, "native") == 0)
			a->mode = KEEL__XDP_NATIVE;
		else if (strcmp(v, "generic") == 0)
			a->mode = KEEL__XDP_GENERIC;
		else if (strcmp(v, "auto") == 0)
			a->mode = KEEL__XDP_AUTO;
		else
			return bad_arg("mode", v);
	} else if (eq && strcmp(tok, "ip") == 0) {
		if (parse_ip(v, &a->ip.addr, &a->ip.prefix_len) < 0)
			return bad_arg("ip", v);
		a->have_ip = true;
	} else if (eq && strcmp(tok, "gw") == 0) {
		if (parse_ip(v, &a->gw, NULL) < 0)
			return bad_arg("gw", v);
	} else if (eq && strcmp(tok, "frames") == 0) {
		if (parse_uint(v, KEEL__XDP_MIN_FRAMES, KEEL__XDP_MAX_FRAMES,
			       &a->frames) < 0)
			return bad_arg("frames", v);
	} else if (eq && strcmp(tok, "rxq") == 0) {
		if (parse_uint(v, 1, KEEL__XDP_MAX_RXQ, &a->rxq) < 0)
			return bad_arg("rxq", v);
	} else {
		return bad_arg("option", tok);
	}
	return 0;
}

static int parse_args(const char *args, struct xdp_args *a)
{
	char *copy, *tok, *save = NULL, *colon;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	a->frames = KEEL__XDP_FRAMES;
	a->rxq = KEEL__XDP_RXQ;
	a->mode = KEEL__XDP_AUTO;
	if (!args || !*args || *args == ',') {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: name the interface: --driver=xdp:" USAGE "");
		return -EINVAL;
	}
	copy = strdup(args);
	if (!copy)
		return -ENOMEM;
	tok = strtok_r(copy, ",", &save);
	/* design.md's short form: IFACE:QUEUE */
	colon = strchr(tok, ':');
	if (colon) {
		*colon = '\0';
		if (parse_uint(colon + 1, 0, KEEL_XDP_MAX_QUEUES - 1,
			       &a->queue) < 0)
			rc = bad_arg("queue", colon + 1);
	}
	if (rc == 0 && strlen(tok) >= IF_NAMESIZE)
		rc = bad_arg("interface name (too long)", tok);
	if (rc == 0)
		strcpy(a->ifname, tok);
	while (rc == 0 && (tok = strtok_r(NULL, ",", &save)))
		rc = parse_option(a, tok);
	free(copy);
	return rc;
}

/* --------------------------------------------------------------- interface */

static uint8_t mask_prefix(uint32_t mask_be)
{
	return (uint8_t)__builtin_popcount(mask_be);
}

/* Index, MAC, MTU and IPv4 addresses of the interface into \p cfg. */
static int read_iface(struct keel__xdp *d, const struct xdp_args *a,
		      struct keel_net_config *cfg)
{
	struct ifreq ifr;
	struct ifaddrs *ifa, *i;
	int fd, rc = 0;

	d->ifindex = (int)if_nametoindex(a->ifname);
	if (!d->ifindex) {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: no network interface named '%s' in this "
			"network namespace (`ip link` lists them)", a->ifname);
		return -ENODEV;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, a->ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ||
	    ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: %s is not an Ethernet interface",
			a->ifname);
		rc = -ENOTSUP;
		goto out;
	}
	memcpy(cfg->mac, ifr.ifr_hwaddr.sa_data, 6);
	rc = ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? -errno : 0;
	if (rc < 0)
		goto out;
	d->mtu = (unsigned)ifr.ifr_mtu;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
		keel_log(KEEL_LOG_WARN, "keel: xdp: warning: %s is down "
			"(`ip link set dev %s up`)", a->ifname, a->ifname);

	if (a->have_ip) {
		cfg->addrs[0] = a->ip;
		cfg->n_addrs = 1;
		goto out;
	}
	if (getifaddrs(&ifa) < 0) {
		rc = -errno;
		goto out;
	}
	for (i = ifa; i && cfg->n_addrs < KEEL_NET_MAX_ADDRS; i = i->ifa_next) {
		const struct sockaddr_in *in, *mask;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    strcmp(i->ifa_name, a->ifname) != 0 || !i->ifa_netmask)
			continue;
		in = (const struct sockaddr_in *)(const void *)i->ifa_addr;
		mask = (const struct sockaddr_in *)(const void *)i->ifa_netmask;
		cfg->addrs[cfg->n_addrs].addr = in->sin_addr.s_addr;
		cfg->addrs[cfg->n_addrs].prefix_len =
			mask_prefix(mask->sin_addr.s_addr);
		cfg->n_addrs++;
	}
	freeifaddrs(ifa);
	if (!cfg->n_addrs) {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: %s has no IPv4 address: add one (`ip addr "
			"add A.B.C.D/P dev %s`) or pass ip=A.B.C.D/P",
			a->ifname, a->ifname);
		rc = -EADDRNOTAVAIL;
	}
out:
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------ queues */

/*
 * One AF_XDP socket per worker, worker i on queue base + i: the interface
 * needs that many RX (and TX) queues. When it has fewer and allows more,
 * ask for them with the ethtool channels ioctl (ETHTOOL_SCHANNELS, what
 * `ethtool -L` does; a veth allows up to the count it was created with);
 * when it cannot, say so now, in one line, rather than let the workers
 * past the last queue fail one by one. An interface that does not report
 * its channels is left alone (the socket's bind says if a queue is
 * missing).
 */
static int ensure_queues(const struct keel__xdp *d, unsigned need)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	unsigned have, max;
	int fd, rc = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, d->ifname);
	ifr.ifr_data = (void *)&ch;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		goto out; /* not reported: nothing to check */
	if (ch.max_combined) { /* a NIC: RX and TX queues in pairs */
		max = ch.max_combined;
		have = ch.combined_count;
	} else { /* separate counts (veth): a socket needs both */
		max = ch.max_rx < ch.max_tx ? ch.max_rx : ch.max_tx;
		have = ch.rx_count < ch.tx_count ? ch.rx_count : ch.tx_count;
	}
	if (have >= need)
		goto out;
	if (max >= need) {
		if (ch.max_combined) {
			ch.combined_count = need;
		} else {
			ch.rx_count = ch.rx_count > need ? ch.rx_count : need;
			ch.tx_count = ch.tx_count > need ? ch.tx_count : need;
		}
		ch.cmd = ETHTOOL_SCHANNELS;
		if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
			keel_log(KEEL_LOG_INFO, "keel: xdp: %s: %u queues set (it had %u), "
				"one per worker", d->ifname, need, have);
			goto out;
		}
		rc = -errno;
	} else {
		rc = -EINVAL; /* as the socket's bind to a missing queue */
	}
	keel_log(KEEL_LOG_ERROR, "keel: xdp: %s has %u queues (at most %u), fewer than "
		"the %u its workers need (%s): run fewer workers, or give it "
		"more queues (`ethtool -L %s %s N`)", d->ifname, have, max,
		need, rc == -EINVAL ? "queue=, then one each" : strerror(-rc),
		d->ifname, ch.max_combined ? "combined" : "rx N tx");
out:
	close(fd);
	return rc;
}

/* ---------------------------------------------------------- create/destroy */

static void xdp_destroy(void *drv);

static void report_mode(const struct keel__xdp *d)
{
	char ip[INET_ADDRSTRLEN];
	const struct keel_net_config *c = keel_net_config_get(d->net);

	inet_ntop(AF_INET, &c->addrs[0].addr, ip, sizeof(ip));
	keel_log(KEEL_LOG_ERROR, "keel: xdp: %s queue %u: %s mode, %s, %s; %s/%u, %u frames of "
		"%u B",
		d->ifname, d->queue,
		keel__xdp_prog_native(d->prog) ? "native" : "generic",
		d->zerocopy ? "zero-copy" : "copy",
		d->busy ? "busy-polling" : "parks in poll(2)", ip,
		c->addrs[0].prefix_len, d->nframes, d->frame_size);
}

static int xdp_create(struct keel_worker *w, const char *args, void **out)
{
	struct keel_net_config cfg;
	struct xdp_args a;
	struct keel__xdp *d;
	int rc;

	rc = parse_args(args, &a);
	if (rc < 0)
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->worker = w;
	d->fd = -1;
	d->pfd = -1;
	d->unpark_fd = -1;
	d->nl_fd = -1;
	keel__xdp_udp_init(d);
	atomic_init(&d->unpark_armed, false);
	strcpy(d->ifname, a.ifname);
	d->queue = a.queue + keel_worker_index(w);
	d->mode = a.mode;
	d->busy = a.busy;
	d->nframes = a.frames;
	d->rxq_len = a.rxq;
	d->now = keel__xdp_clock();
	if (d->queue >= KEEL_XDP_MAX_QUEUES) {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: queue %u is past the last one keel "
			"serves (%u)", d->queue, KEEL_XDP_MAX_QUEUES - 1);
		rc = -EINVAL;
		goto err;
	}

	memset(&cfg, 0, sizeof(cfg));
	rc = read_iface(d, &a, &cfg);
	if (rc < 0)
		goto err;
	if (keel_worker_index(w) == 0 &&
	    (rc = ensure_queues(d, a.queue + keel_worker_count(w))) < 0)
		goto err;
	/* A frame holds its headroom and the largest Ethernet frame. */
	d->frame_size = d->mtu + 14 + KEEL__XDP_DATA_OFF <= 2048 ? 2048 : 4096;
	if (d->mtu + 14 + KEEL__XDP_DATA_OFF > d->frame_size) {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: %s's MTU %u is too large for AF_XDP "
			"frames (at most %u)", d->ifname, d->mtu,
			4096 - 14 - KEEL__XDP_DATA_OFF);
		rc = -EINVAL;
		goto err;
	}
	cfg.mtu = d->mtu > 9000 ? 9000 : d->mtu;
	cfg.gateway = a.gw;
	/* Room for a burst of replies to a peer first heard of (a quarter
	 * of it per neighbour) while the kernel is asked for its MAC. */
	cfg.arp_queue_len = 256;
	rc = keel_net_create(&cfg, &d->net);
	if (rc < 0) {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: %s: bad address configuration "
			"(ip=/gw=, or the interface's)", d->ifname);
		goto err;
	}

	d->unpark_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->unpark_fd < 0) {
		rc = -errno;
		goto err;
	}
	rc = keel__xdp_neigh_open(d);
	if (rc < 0) {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: rtnetlink socket: %s",
			strerror(-rc));
		goto err;
	}
	rc = keel__xdp_prog_get(d);
	if (rc < 0)
		goto err;
	rc = keel__xdp_umem_open(d);
	if (rc < 0)
		goto err;
	rc = keel__xdp_prog_set_xsk(d->prog, d->queue, d->fd);
	if (rc < 0) {
		keel_log(KEEL_LOG_ERROR, "keel: xdp: adding the socket of %s queue %u "
			"to the XSKMAP: %s", d->ifname, d->queue,
			strerror(-rc));
		goto err;
	}
	report_mode(d);
	*out = d;
	return 0;

err:
	xdp_destroy(d);
	return rc;
}

/* The counters at destroy, through the log one line at a time. */
static void log_stats(const struct keel_xdp_stats *s)
{
	char *text = NULL, *line, *save = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return;
	keel_xdp_stats_print(s, f);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		keel_log(KEEL_LOG_INFO, "%s", line);
	free(text);
}

static void xdp_destroy(void *drv)
{
	struct keel__xdp *d = drv;

	if (!d)
		return;
	if (atomic_load(&d->stats_shown)) {
		struct keel_xdp_stats s;

		keel_xdp_stats_read(d, &s);
		log_stats(&s);
	}
	/* Sockets the application leaked: their wakers hold tasks. */
	keel__xdp_udp_close_all(d);
	if (d->prog && d->fd >= 0)
		keel__xdp_prog_set_xsk(d->prog, d->queue, -1);
	keel__xdp_umem_close(d);
	keel__xdp_prog_put(d);
	keel__xdp_neigh_close(d);
	if (d->unpark_fd >= 0)
		close(d->unpark_fd);
	if (d->pfd >= 0)
		close(d->pfd);
	keel_net_destroy(d->net);
	free(d);
}

/* ------------------------------------------------------------- poll / park */

/* Datagrams in net/ waiting for a neighbour: park no longer than net/'s
 * resolution timer wants. */
static bool arp_waiting(const struct keel__xdp *d)
{
	struct keel_net_stats s;

	keel_net_stats_get(d->net, &s);
	return s.tx_queued > s.tx_released + s.drops[KEEL_NET_DROP_ARP_TIMEOUT];
}

/* The per-packet switch: each frame on the RX ring, classified by net/,
 * goes to its socket's queue (udp.c) or back to the free stack. */
static unsigned rx(struct keel__xdp *d)
{
	uint32_t idx;
	unsigned n = xsk_ring_cons__peek(&d->rx, KEEL__XDP_BATCH, &idx);

	for (unsigned i = 0; i < n; i++) {
		const struct xdp_desc *desc = xsk_ring_cons__rx_desc(&d->rx, idx + i);
		uint64_t a = desc->addr;
		struct keel__xdp_meta *m = keel__xdp_meta(d, a);
		enum keel_net_rx_kind k;

		/* The kernel wrote the next frame, on the CPU that ran the
		 * XDP program: its first two lines (the headers and a small
		 * datagram's payload) and our metadata line are fetched while
		 * this one is classified. */
		if (i + 1 < n) {
			uint64_t na = xsk_ring_cons__rx_desc(&d->rx, idx + i + 1)->addr;

			__builtin_prefetch(d->area + na);
			__builtin_prefetch(d->area + na + 64);
			__builtin_prefetch(keel__xdp_meta(d, na), 1);
		}

		d->state[keel__xdp_index(d, a)] = KEEL__F_BUSY;
		k = keel_net_rx(d->net, d->area + a, desc->len, 0, d->now, &m->rx);
		if (k == KEEL_NET_RX_UDP) {
			keel__xdp_udp_deliver(d, a, &m->rx);
			continue;
		}
		/* The program passes ARP and ICMP to the kernel; one that
		 * gets here anyway is the kernel's business, not ours. */
		if (k != KEEL_NET_RX_DROP)
			KEEL__XSTAT_ADD(d, not_udp, 1);
		keel__xdp_frame_put(d, a);
	}
	if (n) {
		xsk_ring_cons__release(&d->rx, n);
		d->in_kernel -= n;
	}
	return n;
}

/* Frames net/ released (their next hop got known): out they go. */
static unsigned tx_released(struct keel__xdp *d)
{
	unsigned n = 0;

	while (d->tx_released && keel__xdp_tx_room(d, 1)) {
		uint64_t a = keel__xdp_frame_get(d);
		uint64_t data;
		uint32_t len;
		int r;

		if (a == UINT64_MAX)
			break;
		data = a + KEEL__XDP_DATA_OFF;
		r = keel_net_tx_pending(d->net, d->area + data,
					d->frame_size - KEEL__XDP_DATA_OFF);
		if (r <= 0) {
			/* 0: none left; -ENOSPC cannot happen (net/'s MTU is
			 * ours): stop either way, they time out in net/. */
			keel__xdp_frame_put(d, a);
			d->tx_released = false;
			break;
		}
		len = (uint32_t)r;
		keel__xdp_tx_submit(d, &data, &len, 1);
		n++;
	}
	return n;
}

static int xdp_poll(void *drv)
{
	struct keel__xdp *d = drv;
	uint8_t arp[64];
	unsigned n = 0, freed = 0;
	int r;

	KEEL__XSTAT_ADD(d, polls, 1);
	d->now = keel__xdp_clock();
	if (d->in_tx)
		freed = keel__xdp_complete(d);
	n += rx(d);
	keel__xdp_refill(d);
	/* The kernel's neighbour news: often while an ask is out, else a
	 * hundred times a second (park reads it at once when idle). */
	if (d->now >= d->nl_next) {
		n += keel__xdp_neigh_input(d);
		/* Nothing waits for a MAC any more: back to the slow pace. */
		if (d->nl_asking_until && !arp_waiting(d))
			d->nl_asking_until = 0;
		d->nl_next = d->now + (d->now < d->nl_asking_until
					       ? 100 * NS_PER_US
					       : 10 * NS_PER_MS);
	}
	/* net/'s resolution timers: ask again, or give up (counted). */
	while ((r = keel_net_tick(d->net, d->now, arp, sizeof(arp))) > 0) {
		uint32_t tpa;

		memcpy(&tpa, arp + 14 + 24, sizeof(tpa));
		keel__xdp_neigh_ask(d, tpa);
	}
	if (d->tx_released)
		n += tx_released(d);
	freed += keel__xdp_kick(d);
	if (freed && d->socks.wr_waiting)
		keel__socks_wake_writers(&d->socks);
	n += freed;
	if (n)
		KEEL__XSTAT_ADD(d, events, n);
	return (int)n;
}

static void drain_unpark(struct keel__xdp *d)
{
	uint64_t v;

	/* Read, then disarm: an unpark that still sees the flag set skips
	 * its write, and this park is returning anyway. */
	if (read(d->unpark_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		KEEL__XSTAT_ADD(d, wakeups, 1);
	atomic_store(&d->unpark_armed, false);
}

static int busy_park(struct keel__xdp *d, int64_t timeout_ns)
{
	uint64_t until = timeout_ns < 0 ? UINT64_MAX
					: keel__xdp_clock() + (uint64_t)timeout_ns;

	for (;;) {
		int n;

		if (atomic_load_explicit(&d->unpark_armed, memory_order_acquire)) {
			drain_unpark(d);
			return 0;
		}
		n = xdp_poll(d);
		if (n > 0 || timeout_ns == 0 || d->now >= until)
			return n;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

static int xdp_park(void *drv, int64_t timeout_ns)
{
	struct keel__xdp *d = drv;
	struct pollfd p[3] = {
		{ .fd = d->fd, .events = POLLIN },
		{ .fd = d->unpark_fd, .events = POLLIN },
		{ .fd = d->nl_fd, .events = POLLIN },
	};
	struct timespec ts, *tsp = NULL;
	int64_t cap = -1;

	if (timeout_ns != 0)
		KEEL__XSTAT_ADD(d, parks, 1);
	if (d->busy)
		return busy_park(d, timeout_ns);
	/* A writer waits for TX room or frames: POLLOUT says when the
	 * kernel took from the TX ring (poll(2) itself drives copy-mode
	 * transmission). Descriptors a kick left behind (the kernel said
	 * busy) get another kick within a millisecond. */
	if (d->socks.wr_waiting)
		p[0].events |= POLLOUT;
	if (d->tx_kick)
		cap = (int64_t)NS_PER_MS;
	else if (arp_waiting(d))
		cap = 100 * (int64_t)NS_PER_MS;
	if (timeout_ns >= 0 && (cap < 0 || timeout_ns < cap))
		cap = timeout_ns;
	if (cap >= 0) {
		ts.tv_sec = (time_t)(cap / 1000000000);
		ts.tv_nsec = (long)(cap % 1000000000);
		tsp = &ts;
	}
	if (ppoll(p, 3, tsp, NULL) > 0) {
		if (p[1].revents)
			drain_unpark(d);
		if (p[2].revents)
			d->nl_next = 0; /* read by the poll below */
	}
	return xdp_poll(d);
}

/*
 * Beside other drivers: an epoll set of the driver's own (the socket, the
 * unpark eventfd, rtnetlink) is the wait fd, with POLLOUT on the socket
 * while a writer waits for room, and the same caps on the sleep as park.
 * Busy mode does not sleep.
 */
static int xdp_park_prepare(void *drv, int64_t *timeout_ns, int *fd)
{
	struct keel__xdp *d = drv;
	struct epoll_event ev = { .events = EPOLLIN };
	int64_t cap = -1;

	if (d->busy) {
		*timeout_ns = 0;
		*fd = -1;
		return 0;
	}
	if (d->pfd < 0) {
		int fds[3] = { d->fd, d->unpark_fd, d->nl_fd };

		d->pfd = epoll_create1(EPOLL_CLOEXEC);
		for (int i = 0; d->pfd >= 0 && i < 3; i++)
			if (fds[i] >= 0)
				epoll_ctl(d->pfd, EPOLL_CTL_ADD, fds[i], &ev);
		d->pfd_out = false;
	}
	if (d->pfd >= 0 && d->pfd_out != (d->socks.wr_waiting != 0)) {
		d->pfd_out = d->socks.wr_waiting != 0;
		ev.events = EPOLLIN | (d->pfd_out ? EPOLLOUT : 0u);
		epoll_ctl(d->pfd, EPOLL_CTL_MOD, d->fd, &ev);
	}
	KEEL__XSTAT_ADD(d, parks, 1);
	if (d->tx_kick)
		cap = (int64_t)NS_PER_MS;
	else if (arp_waiting(d))
		cap = 100 * (int64_t)NS_PER_MS;
	if (cap >= 0 && (*timeout_ns < 0 || cap < *timeout_ns))
		*timeout_ns = cap;
	*fd = d->pfd;
	return 0;
}

/* The rings are read by the poll of the worker's next tick, at once; the
 * neighbour socket is read there too, now rather than at its idle pace. */
static int xdp_park_finish(void *drv)
{
	((struct keel__xdp *)drv)->nl_next = 0;
	return 0;
}

/* Any thread, async-signal-safe: an atomic exchange and a write(2). */
static void xdp_unpark(void *drv)
{
	struct keel__xdp *d = drv;
	uint64_t one = 1;
	int saved = errno;

	if (!atomic_exchange(&d->unpark_armed, true) &&
	    write(d->unpark_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		atomic_store(&d->unpark_armed, false);
	errno = saved;
}

/* ------------------------------------------------------------------ stats */

/* keel_xdp_stats_read without the frame counts: what any thread may read
 * (relaxed atomics, net/'s counters, the kernel's XDP_STATISTICS). */
static void stats_read_shared(const struct keel__xdp *d, struct keel_xdp_stats *out)
{
	const struct keel__xdp_counters *c = &d->stats;
	struct xdp_statistics ks = { 0 };
	socklen_t len = sizeof(ks);
	uint64_t bad = 0, tx_bad = 0;

	memset(out, 0, sizeof(*out));
	if (d->fd >= 0)
		getsockopt(d->fd, SOL_XDP, XDP_STATISTICS, &ks, &len);
	keel_net_stats_get(d->net, &out->net);
	for (int r = KEEL_NET_DROP_RUNT; r < KEEL_NET_DROP_MAX; r++) {
		if (r >= KEEL_NET_DROP_NO_ROUTE)
			tx_bad += out->net.drops[r];
		else
			bad += out->net.drops[r];
	}

#define LOAD(f) atomic_load_explicit(&c->f, memory_order_relaxed)
	out->no_socket = LOAD(no_socket);
	out->sock_queue_full = LOAD(sock_queue_full);
	out->not_udp = LOAD(not_udp);
	out->bad_frame = bad;
	out->k_rx_dropped = ks.rx_dropped;
	out->k_rx_ring_full = ks.rx_ring_full;
	out->k_fill_empty = ks.rx_fill_ring_empty_descs;
	out->k_rx_invalid = ks.rx_invalid_descs;
	out->k_tx_invalid = ks.tx_invalid_descs;
	out->tx_ring_full = LOAD(tx_ring_full);
	out->no_frame = LOAD(no_frame);
	out->tx_arp_wait = LOAD(tx_arp_wait);
	out->tx_kicks = LOAD(tx_kicks);
	out->fill_short = LOAD(fill_short);
	out->fill_kicks = LOAD(fill_kicks);
	out->neigh_asks = LOAD(neigh_asks);
	out->neigh_updates = LOAD(neigh_updates);
	out->base = (struct keel_driver_stats){
		.rx_packets = LOAD(rx_packets),
		.rx_bytes = LOAD(rx_bytes),
		.tx_packets = LOAD(tx_packets),
		.tx_bytes = LOAD(tx_bytes),
		.rx_truncated = LOAD(rx_truncated),
		.rx_dropped = out->no_socket + out->sock_queue_full +
			      out->not_udp + bad + ks.rx_dropped +
			      ks.rx_ring_full, /* fill-empty drops are in
						  rx_dropped already */
		.tx_dropped = tx_bad + ks.tx_invalid_descs,
		.polls = LOAD(polls),
		.events = LOAD(events),
		.parks = LOAD(parks),
		.wakeups = LOAD(wakeups),
	};
#undef LOAD
}

void keel_xdp_stats_read(void *drv, struct keel_xdp_stats *out)
{
	const struct keel__xdp *d = drv;

	stats_read_shared(d, out);
	/* The worker's own: the frame counts change on its thread only. */
	out->frames = d->nframes;
	out->frames_free = d->nfree;
	out->frames_kernel = d->in_kernel;
	out->frames_tx = d->in_tx;
	out->frames_app = d->nframes - d->nfree - d->in_kernel - d->in_tx;
	strcpy(out->ifname, d->ifname);
	out->queue = d->queue;
	out->native = d->prog && keel__xdp_prog_native(d->prog);
	out->zerocopy = d->zerocopy;
	out->busy = d->busy;
}

int keel_xdp_stats_get(struct keel_cx *cx, struct keel_xdp_stats *out)
{
	void *d;

	if (!cx || !out)
		return -EINVAL;
	d = keel_cx_driver(cx, &keel_drv_xdp);
	if (!d)
		return -ENOTSUP;
	keel_xdp_stats_read(d, out);
	return 0;
}

void keel_xdp_stats_print(const struct keel_xdp_stats *s, FILE *out)
{
	fprintf(out,
		"    xdp %s queue %u (%s, %s): drops: no_socket=%" PRIu64
		" sock_queue_full=%" PRIu64 " not_udp=%" PRIu64
		" bad_frame=%" PRIu64 " kernel: rx_dropped=%" PRIu64
		" rx_ring_full=%" PRIu64 " fill_empty=%" PRIu64
		" invalid=%" PRIu64 "/%" PRIu64 "\n"
		"    xdp tx: ring_full=%" PRIu64 " no_frame=%" PRIu64
		" arp_wait=%" PRIu64 " kicks=%" PRIu64 " fill_short=%" PRIu64
		" fill_kicks=%" PRIu64 " neigh_asks=%" PRIu64
		" neigh_updates=%" PRIu64 "\n",
		s->ifname, s->queue, s->native ? "native" : "generic",
		s->zerocopy ? "zero-copy" : "copy", s->no_socket,
		s->sock_queue_full, s->not_udp, s->bad_frame, s->k_rx_dropped,
		s->k_rx_ring_full, s->k_fill_empty, s->k_rx_invalid,
		s->k_tx_invalid, s->tx_ring_full, s->no_frame, s->tx_arp_wait,
		s->tx_kicks, s->fill_short, s->fill_kicks, s->neigh_asks,
		s->neigh_updates);
	for (int r = KEEL_NET_DROP_RUNT; r < KEEL_NET_DROP_MAX; r++)
		if (s->net.drops[r])
			fprintf(out, "    xdp net drop %s=%" PRIu64 "\n",
				keel_net_drop_name((enum keel_net_drop)r),
				s->net.drops[r]);
}

/* The runtime's --stats output comes through here: the driver-specific
 * counters follow at teardown (see keel/xdp.h). */
static void xdp_stats(void *drv, struct keel_driver_stats *out)
{
	struct keel__xdp *d = drv;
	struct keel_xdp_stats s;

	stats_read_shared(d, &s); /* any thread */
	*out = s.base;
	atomic_store_explicit(&d->stats_shown, true, memory_order_relaxed);
}

/* keel_stats_read's extended counters: those written as relaxed atomics
 * and the kernel's XDP_STATISTICS, nothing else (net/'s counters and the
 * frame counts are the worker's own, read only at teardown). */
static void xdp_xstats(void *drv, keel_xstat_fn *fn, void *arg)
{
	const struct keel__xdp *d = drv;
	const struct keel__xdp_counters *c = &d->stats;
	struct xdp_statistics ks = { 0 };
	socklen_t len = sizeof(ks);

	if (d->fd >= 0)
		getsockopt(d->fd, SOL_XDP, XDP_STATISTICS, &ks, &len);
#define LOAD(f) atomic_load_explicit(&c->f, memory_order_relaxed)
	fn(arg, "no_socket", LOAD(no_socket), KEEL_STAT_DROP);
	fn(arg, "sock_queue_full", LOAD(sock_queue_full), KEEL_STAT_DROP);
	fn(arg, "not_udp", LOAD(not_udp), KEEL_STAT_DROP);
	fn(arg, "kernel_rx_dropped", ks.rx_dropped, KEEL_STAT_DROP);
	fn(arg, "kernel_rx_ring_full", ks.rx_ring_full, KEEL_STAT_DROP);
	fn(arg, "kernel_fill_empty", ks.rx_fill_ring_empty_descs, 0);
	fn(arg, "kernel_rx_invalid", ks.rx_invalid_descs, KEEL_STAT_DROP);
	fn(arg, "kernel_tx_invalid", ks.tx_invalid_descs, KEEL_STAT_DROP);
	fn(arg, "tx_ring_full", LOAD(tx_ring_full), 0);
	fn(arg, "no_frame", LOAD(no_frame), 0);
	fn(arg, "tx_arp_wait", LOAD(tx_arp_wait), 0);
	fn(arg, "tx_kicks", LOAD(tx_kicks), 0);
	fn(arg, "fill_short", LOAD(fill_short), 0);
	fn(arg, "fill_kicks", LOAD(fill_kicks), 0);
	fn(arg, "neigh_asks", LOAD(neigh_asks), 0);
	fn(arg, "neigh_updates", LOAD(neigh_updates), 0);
#undef LOAD
}

const struct keel_driver_ops keel_drv_xdp = {
	.name = "xdp",
	.usage = "AF_XDP with keel's XDP program; ARGS: " USAGE,
	.create = xdp_create,
	.destroy = xdp_destroy,
	.poll = xdp_poll,
	.park = xdp_park,
	.unpark = xdp_unpark,
	.park_prepare = xdp_park_prepare,
	.park_finish = xdp_park_finish,
	.stats = xdp_stats,
	.xstats = xdp_xstats,
	.udp_bind = keel__xdp_udp_bind,
	/* No TCP: the runtime adds a linked driver that has it. */
};

KEEL_DRIVER_EXPORT(keel_drv_xdp);
