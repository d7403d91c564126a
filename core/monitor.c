/* SPDX-License-Identifier: MIT */
/*
 * Watching a running service: --stats=INTERVAL logs one line of rates per
 * interval, --metrics=ADDR:PORT serves every counter in the Prometheus text
 * format over HTTP/1.0. Both run on plain threads of their own, outside
 * the workers, reading through keel_stats_read like any other thread:
 *   - they answer while the workers are saturated or stuck, which is when
 *     they are wanted, and cost the workers nothing (no task, no budget,
 *     no socket in a worker's driver: a scrape is not counted as traffic);
 *   - they work the same on every scheduler (the one-thread `local`
 *     included) and under the bypass drivers, which have no TCP;
 *   - the HTTP side is a few dozen lines of blocking socket calls: one
 *     connection at a time, with a time limit on each, is plenty for a
 *     scraper that comes every few seconds.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <keel/addr.h>
#include <keel/log.h>
#include <keel/stats.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- options */

/* "1", "2s", "500ms", "0.5": seconds unless "ms". 0 or -EINVAL. */
static int parse_interval(const char *v, uint64_t *ns)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(v, &end);
	if (end == v || errno || x <= 0)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		x /= 1e3;
	else if (*end && strcmp(end, "s") != 0)
		return -EINVAL;
	if (x < 1e-3 || x > 86400)
		return -EINVAL;
	*ns = (uint64_t)(x * 1e9);
	return 0;
}

int keel__monitor_option(const char *prog, const char *a,
			 struct keel_config *cfg)
{
	if (strcmp(a, "--stats") == 0) {
		cfg->stats = true;
	} else if (strncmp(a, "--stats=", 8) == 0) {
		if (parse_interval(a + 8, &cfg->stats_interval_ns) < 0) {
			keel_log(KEEL_LOG_ERROR, "%s: --stats wants an interval "
				 "(1, 2s, 500ms; 1 ms to a day), not '%s'", prog, a + 8);
			return -EINVAL;
		}
		cfg->stats = true;
	} else if (strcmp(a, "--stats-workers") == 0) {
		cfg->stats_workers = true;
	} else if (strncmp(a, "--metrics=", 10) == 0) {
		struct keel_addr addr;

		if (keel_addr_parse(a + 10, &addr) < 0) {
			keel_log(KEEL_LOG_ERROR, "%s: --metrics wants ADDR:PORT, not '%s'",
				 prog, a + 10);
			return -EINVAL;
		}
		cfg->metrics = a + 10;
	} else {
		return 0;
	}
	return 1;
}

/* ----------------------------------------------------------- the interval */

#define MAX_REASONS 32

/* What one line sums, per worker and for all of them. */
struct reason {
	const char *name;
	uint64_t v;
};

struct tally {
	uint64_t rx, tx, polls, parks;
	unsigned nreason;
	struct reason reason[MAX_REASONS];
};

struct snapshot {
	unsigned n; /* workers; tally[n] is the total */
	struct tally *t;
	uint64_t live;
};

static void add_reason(struct tally *t, const char *name, uint64_t v)
{
	for (unsigned i = 0; i < t->nreason; i++)
		if (strcmp(t->reason[i].name, name) == 0) {
			t->reason[i].v += v;
			return;
		}
	if (t->nreason < MAX_REASONS)
		t->reason[t->nreason++] = (struct reason){ name, v };
}

static void tally_one(void *arg, const struct keel_stat *st)
{
	struct snapshot *s = arg;
	struct tally *w, *all = &s->t[s->n];

	if (st->scope == KEEL_STAT_RUNTIME) {
		if (strcmp(st->name, "tasks_live") == 0)
			s->live = st->value;
		return;
	}
	if (st->worker < 0 || (unsigned)st->worker >= s->n)
		return;
	w = &s->t[st->worker];
	if (st->scope == KEEL_STAT_WORKER) {
		if (strcmp(st->name, "polls") == 0)
			w->polls += st->value, all->polls += st->value;
		else if (strcmp(st->name, "parks") == 0)
			w->parks += st->value, all->parks += st->value;
		return;
	}
	if (st->scope == KEEL_STAT_DRIVER && strcmp(st->name, "rx_packets") == 0)
		w->rx += st->value, all->rx += st->value;
	else if (st->scope == KEEL_STAT_DRIVER && strcmp(st->name, "tx_packets") == 0)
		w->tx += st->value, all->tx += st->value;
	else if (st->flags & KEEL_STAT_DROP) {
		add_reason(w, st->name, st->value);
		add_reason(all, st->name, st->value);
	}
}

static uint64_t reason_of(const struct tally *t, const char *name)
{
	for (unsigned i = 0; i < t->nreason; i++)
		if (strcmp(t->reason[i].name, name) == 0)
			return t->reason[i].v;
	return 0;
}

static uint64_t rate(uint64_t now, uint64_t before, uint64_t ns)
{
	uint64_t d = now >= before ? now - before : 0;

	return (uint64_t)((double)d * 1e9 / (double)ns + 0.5);
}

/* "rx=N/s tx=N/s" then each drop reason: the driver's common three always
 * (all zero is worth seeing), the others when they moved. */
static void rates_line(char *buf, size_t size, const struct tally *now,
		       const struct tally *before, uint64_t ns, bool worker)
{
	int n = snprintf(buf, size, "rx=%" PRIu64 "/s tx=%" PRIu64 "/s",
			 rate(now->rx, before->rx, ns), rate(now->tx, before->tx, ns));

	for (unsigned i = 0; i < now->nreason && n > 0 && (size_t)n < size; i++) {
		const char *name = now->reason[i].name;
		uint64_t r = rate(now->reason[i].v, reason_of(before, name), ns);
		bool common = strcmp(name, "rx_dropped") == 0 ||
			      strcmp(name, "tx_dropped") == 0 ||
			      strcmp(name, "rx_truncated") == 0;

		if (r || common)
			n += snprintf(buf + n, size - (size_t)n, " %s=%" PRIu64 "/s",
				      name, r);
	}
	if (worker && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " polls=%" PRIu64 "/s parks=%" PRIu64 "/s",
			 rate(now->polls, before->polls, ns),
			 rate(now->parks, before->parks, ns));
}

static void take(struct keel_runtime *rt, struct snapshot *s)
{
	memset(s->t, 0, (s->n + 1) * sizeof(*s->t));
	keel_stats_read(rt, tally_one, s);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until \p at (CLOCK_MONOTONIC ns) or a stop. \return whether to stop. */
static bool wait_until(struct keel__monitor *m, uint64_t at)
{
	struct timespec ts = { (time_t)(at / 1000000000u), (long)(at % 1000000000u) };
	bool stop;

	pthread_mutex_lock(&m->stop_lock);
	while (!m->stopping &&
	       pthread_cond_timedwait(&m->stop_cond, &m->stop_lock, &ts) != ETIMEDOUT)
		;
	stop = m->stopping;
	pthread_mutex_unlock(&m->stop_lock);
	return stop;
}

static void *interval_main(void *arg)
{
	struct keel__monitor *m = arg;
	struct keel_runtime *rt = m->rt;
	const uint64_t every = rt->cfg.stats_interval_ns;
	struct snapshot a = { rt->nworkers, NULL, 0 }, b = a, *now = &a, *before = &b;
	uint64_t t0 = mono_ns(), next = t0 + every;
	char line[1024];

	a.t = calloc(rt->nworkers + 1, sizeof(*a.t));
	b.t = calloc(rt->nworkers + 1, sizeof(*b.t));
	if (!a.t || !b.t) {
		keel_log(KEEL_LOG_ERROR, "keel: --stats: out of memory");
		goto out;
	}
	take(rt, before);
	while (!wait_until(m, next)) {
		uint64_t t1 = mono_ns(), ns = t1 - t0 ? t1 - t0 : 1;
		struct snapshot *x;

		take(rt, now);
		rates_line(line, sizeof(line), &now->t[now->n], &before->t[before->n],
			   ns, false);
		keel_log(KEEL_LOG_INFO, "keel: stats: %s tasks_live=%" PRIu64, line,
			 now->live);
		for (unsigned i = 0; rt->cfg.stats_workers && i < now->n; i++) {
			rates_line(line, sizeof(line), &now->t[i], &before->t[i], ns, true);
			keel_log(KEEL_LOG_INFO, "keel: stats:   worker %u: %s", i, line);
		}
		x = now, now = before, before = x;
		t0 = t1;
		next += every;
		if (next <= t1) /* fell behind (a stopped process): skip ahead */
			next = t1 + every;
	}
out:
	free(a.t);
	free(b.t);
	return NULL;
}

/* ------------------------------------------------------------ the metrics */

#define HTTP_TIMEOUT_MS 2000
#define REQUEST_MAX	4096

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			return; /* gone, or too slow: SO_SNDTIMEO */
		p += k;
		n -= (size_t)k;
	}
}

static void respond(int fd, const char *status, const char *type,
		    const char *body, size_t len, bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", status, type, len);

	send_all(fd, hdr, (size_t)n);
	if (!head)
		send_all(fd, body, len);
}

/* One request: GET or HEAD of /metrics (or /); anything else is answered
 * with its error. The request line is all we read; headers are skipped. */
static void serve_one(struct keel__monitor *m, int fd)
{
	char req[REQUEST_MAX + 1], *body = NULL;
	size_t len = 0, blen = 0;
	bool head;
	FILE *f;

	while (len < REQUEST_MAX) {
		ssize_t k = recv(fd, req + len, REQUEST_MAX - len, 0);

		if (k <= 0)
			return; /* closed, or SO_RCVTIMEO */
		len += (size_t)k;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[len] = '\0';
	head = strncmp(req, "HEAD ", 5) == 0;
	if (strncmp(req, "GET ", 4) != 0 && !head) {
		respond(fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9, false);
		return;
	}
	{
		const char *path = req + (head ? 5 : 4);
		size_t plen = strcspn(path, " ?\r\n");

		if (!((plen == 8 && strncmp(path, "/metrics", 8) == 0) ||
		      (plen == 1 && path[0] == '/'))) {
			respond(fd, "404 Not Found", "text/plain", "try /metrics\n", 13,
				head);
			return;
		}
	}
	f = open_memstream(&body, &blen);
	if (!f || keel_stats_write_prometheus(m->rt, f) < 0) {
		if (f)
			fclose(f);
		free(body);
		respond(fd, "500 Internal Server Error", "text/plain", "", 0, head);
		return;
	}
	fclose(f);
	respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, blen,
		head);
	free(body);
}

static void *http_main(void *arg)
{
	struct keel__monitor *m = arg;
	struct timeval tv = { HTTP_TIMEOUT_MS / 1000, (HTTP_TIMEOUT_MS % 1000) * 1000 };

	for (;;) {
		struct pollfd p[2] = { { m->listen_fd, POLLIN, 0 },
				       { m->stop_fd[0], POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		serve_one(m, fd);
		close(fd);
	}
	return NULL;
}

/* Bind and listen now, so that a bad or busy address fails the start. */
static int metrics_listen(struct keel__monitor *m, const char *where)
{
	struct keel_addr addr;
	char text[KEEL_ADDR_STRLEN];
	socklen_t alen;
	int one = 1, fd, rc;

	rc = keel_addr_parse(where, &addr);
	if (rc < 0) {
		keel_log(KEEL_LOG_ERROR, "keel: --metrics=%s: not ADDR:PORT", where);
		return rc;
	}
	fd = socket(addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	alen = keel_addr_len(&addr);
	if (bind(fd, &addr.sa, alen) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, &addr.sa, &alen) < 0) {
		rc = -errno;
		keel_log(KEEL_LOG_ERROR, "keel: --metrics=%s: %s", where, strerror(-rc));
		close(fd);
		return rc;
	}
	m->listen_fd = fd;
	keel_log(KEEL_LOG_INFO, "keel: metrics at http://%s/metrics",
		 keel_addr_format(&addr, text, sizeof(text)));
	return 0;
}

/* ------------------------------------------------------------ start / stop */

int keel__monitor_start(struct keel_runtime *rt)
{
	struct keel__monitor *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	int rc;

	if (!m)
		return -ENOMEM;
	m->rt = rt;
	m->listen_fd = m->stop_fd[0] = m->stop_fd[1] = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->stop_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->stop_cond, &ca);
	pthread_condattr_destroy(&ca);
	rt->monitor = m;
	if (rt->cfg.metrics) {
		if (pipe2(m->stop_fd, O_CLOEXEC) < 0) {
			rc = -errno;
			goto err;
		}
		rc = metrics_listen(m, rt->cfg.metrics);
		if (rc < 0)
			goto err;
		rc = -pthread_create(&m->http_th, NULL, http_main, m);
		if (rc < 0)
			goto err;
		m->http_running = true;
	}
	if (rt->cfg.stats_interval_ns) {
		rc = -pthread_create(&m->interval_th, NULL, interval_main, m);
		if (rc < 0)
			goto err;
		m->interval_running = true;
	}
	return 0;
err:
	rt->cfg.stats = false; /* nothing ran: no summary */
	return rc;
}

void keel__monitor_stop(struct keel_runtime *rt)
{
	struct keel__monitor *m = rt->monitor;

	if (!m)
		return;
	pthread_mutex_lock(&m->stop_lock);
	m->stopping = true;
	pthread_cond_broadcast(&m->stop_cond);
	pthread_mutex_unlock(&m->stop_lock);
	if (m->stop_fd[1] >= 0 && write(m->stop_fd[1], "", 1) < 0) {
		/* a full pipe already says stop */
	}
	if (m->interval_running)
		pthread_join(m->interval_th, NULL);
	if (m->http_running)
		pthread_join(m->http_th, NULL);
	m->interval_running = m->http_running = false;
}

static void line_to_log(void *arg, const char *line)
{
	(void)arg;
	keel_log(KEEL_LOG_INFO, "%s", line);
}

void keel__monitor_fini(struct keel_runtime *rt)
{
	struct keel__monitor *m = rt->monitor;

	if (rt->cfg.stats)
		keel__stats_lines(rt, line_to_log, NULL);
	if (!m)
		return;
	keel__monitor_stop(rt);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	for (int i = 0; i < 2; i++)
		if (m->stop_fd[i] >= 0)
			close(m->stop_fd[i]);
	keel__counters_free(m);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->stop_lock);
	pthread_cond_destroy(&m->stop_cond);
	free(m);
	rt->monitor = NULL;
}
