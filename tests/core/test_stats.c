/* SPDX-License-Identifier: MIT */
/*
 * core/stats.c and core/monitor.c: the counters read from another thread
 * while the workers run (under TSan this is the race check), the
 * application's counters, tasks alive, the Prometheus text, --stats= and
 * --metrics= parsing, and the HTTP responder spoken to over a socket.
 * Run once per scheduler (KEEL_SCHED, KEEL_WORKERS).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <keel/keel.h>
#include <keel/stats.h>
#include <keel/test.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHILDREN 200
#define YIELDS	 20

static struct keel_config config(void)
{
	struct keel_config cfg = { 0 };

	cfg.sched = getenv("KEEL_SCHED");
	if (getenv("KEEL_WORKERS"))
		cfg.workers = (unsigned)atoi(getenv("KEEL_WORKERS"));
	return cfg;
}

/* ----------------------------------------------- the reader on a thread */

struct child {
	struct keel_co co;
	int n;
};

/* Yield a few times (so that steal moves it around), then finish. */
static intptr_t child(void *frame, struct keel_cx *cx)
{
	struct child *f = frame;

	if (++f->n < YIELDS) {
		keel_waker_wake_by_ref(keel_cx_waker(cx));
		return KEEL_PENDING;
	}
	return f->n;
}

struct parent {
	struct keel_co co;
	struct keel_args args;
	struct keel_join *j[CHILDREN];
	int i;
	intptr_t r;
};

static intptr_t parent(void *frame, struct keel_cx *cx)
{
	struct parent *f = frame;
	int rc;

	KEEL_BEGIN(f);
	for (f->i = 0; f->i < CHILDREN; f->i++) {
		rc = keel_spawn(cx, child, NULL, &(struct child){ 0 },
				sizeof(struct child), &f->j[f->i]);
		if (rc < 0)
			KEEL_RETURN(f, rc);
	}
	for (f->i = 0; f->i < CHILDREN; f->i++) {
		KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->j[f->i]));
		if (f->r != YIELDS)
			KEEL_RETURN(f, -EPROTO);
	}
	KEEL_RETURN(f, 0);
	KEEL_END(f);
}

/* What one keel_stats_read saw. */
struct seen {
	uint64_t live, workers, spawns, completed, cancelled, polls, entries;
	bool live_seen;
};

static void see(void *arg, const struct keel_stat *st)
{
	struct seen *s = arg;

	s->entries++;
	cr_assert_not_null(st->name);
	if (st->scope == KEEL_STAT_RUNTIME && strcmp(st->name, "tasks_live") == 0) {
		s->live = st->value;
		s->live_seen = true;
	} else if (st->scope == KEEL_STAT_RUNTIME && strcmp(st->name, "workers") == 0) {
		s->workers = st->value;
	} else if (st->scope == KEEL_STAT_WORKER) {
		cr_assert_geq(st->worker, 0);
		if (strcmp(st->name, "spawns") == 0)
			s->spawns += st->value;
		else if (strcmp(st->name, "completed") == 0)
			s->completed += st->value;
		else if (strcmp(st->name, "cancelled") == 0)
			s->cancelled += st->value;
		else if (strcmp(st->name, "polls") == 0)
			s->polls += st->value;
	}
}

struct reader {
	struct keel_runtime *rt;
	atomic_bool stop;
	atomic_uint reads;
	uint64_t max_live, last_polls;
	bool backwards;
	char *text;
	size_t len;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop) || atomic_load(&r->reads) == 0) {
		struct seen s = { 0 };
		FILE *f;

		keel_stats_read(r->rt, see, &s);
		if (s.live > r->max_live)
			r->max_live = s.live;
		if (s.polls < r->last_polls)
			r->backwards = true; /* a counter went down */
		r->last_polls = s.polls;
		/* The text forms too: the summary and Prometheus. */
		free(r->text);
		r->text = NULL;
		f = open_memstream(&r->text, &r->len);
		if (f) {
			keel_runtime_print_stats(r->rt, f);
			keel_stats_write_prometheus(r->rt, f);
			fclose(f);
		}
		atomic_fetch_add(&r->reads, 1);
	}
	return NULL;
}

Test(stats, read_from_another_thread_while_tasks_move, .timeout = 60)
{
	struct keel_config cfg = config();
	struct reader rd = { 0 };
	struct parent frame = { 0 };
	struct seen s = { 0 };
	pthread_t th;
	intptr_t r;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(keel_runtime_create(&cfg, &rd.rt), 0);
	cr_assert_eq(pthread_create(&th, NULL, read_loop, &rd), 0);
	r = keel_runtime_block_on(rd.rt, parent, NULL, &frame, sizeof(frame));
	atomic_store(&rd.stop, true);
	pthread_join(th, NULL);
	cr_assert_eq(r, 0, "parent: %s", keel_strerror((int)r));
	cr_assert_gt(atomic_load(&rd.reads), 0);
	cr_assert_not(rd.backwards, "polls went down between two reads");
	cr_assert_leq(rd.max_live, CHILDREN + 1, "tasks alive %llu > spawned",
		      (unsigned long long)rd.max_live);

	/* All joined: the counts add up whichever worker did what. A
	 * worker adds its polls at the end of a run, so another worker may
	 * still be inside the run that polled a child: wait for it, with a
	 * bound (the counters never go back, checked above). */
	for (int tries = 0;; tries++) {
		s = (struct seen){ 0 };
		keel_stats_read(rd.rt, see, &s);
		if (s.polls >= (uint64_t)CHILDREN * YIELDS || tries == 5000)
			break;
		usleep(1000);
	}
	cr_assert(s.live_seen);
	cr_assert_eq(s.workers, cfg.workers ? cfg.workers : s.workers);
	cr_assert_eq(s.spawns, CHILDREN + 1);
	cr_assert_eq(s.completed + s.cancelled, CHILDREN + 1);
	cr_assert_eq(s.live, 0);
	cr_assert_geq(s.polls, (uint64_t)CHILDREN * YIELDS);

	/* Regression: per-worker "live" was spawned-here minus
	 * finished-here, negative on the worker a task finished on. */
	f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	keel_runtime_print_stats(rd.rt, f);
	fclose(f);
	cr_assert_not_null(strstr(text, "tasks_live=0"), "%s", text);
	cr_assert_null(strstr(text, "=-"), "a negative counter: %s", text);
	free(text);
	free(rd.text);
	keel_runtime_destroy(rd.rt);
}

/* ------------------------------------------------- application counters */

struct bump {
	struct keel_co co;
	struct keel_args args;
};

static struct keel_counter *bumped;

static intptr_t bump(void *frame, struct keel_cx *cx)
{
	(void)frame;
	(void)cx;
	keel_counter_add(bumped, 5); /* on a worker: its slot */
	return 0;
}

struct app_seen {
	uint64_t on_workers, outside;
	bool named;
};

static void see_app(void *arg, const struct keel_stat *st)
{
	struct app_seen *a = arg;

	if (st->scope != KEEL_STAT_APP)
		return;
	a->named = strcmp(st->name, "test_bumps") == 0 && st->help &&
		   strcmp(st->help, "bumps, counted") == 0;
	if (st->worker >= 0)
		a->on_workers += st->value;
	else
		a->outside += st->value;
}

Test(stats, application_counters)
{
	struct keel_config cfg = config();
	struct keel_runtime *rt;
	struct keel_counter *c;
	struct bump frame = { 0 };
	struct app_seen a = { 0 };

	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	cr_assert_eq(keel_counter_create(rt, "test_bumps", "bumps, counted", &bumped), 0);
	cr_assert_eq(keel_counter_create(rt, "test_bumps", NULL, &c), -EEXIST);
	cr_assert_eq(keel_counter_create(rt, "9lives", NULL, &c), -EINVAL);
	cr_assert_eq(keel_counter_create(rt, "has space", NULL, &c), -EINVAL);
	cr_assert_eq(keel_counter_create(rt, "", NULL, &c), -EINVAL);
	cr_assert_eq(keel_counter_create(NULL, "x", NULL, &c), -EINVAL);
	keel_counter_add(bumped, 3); /* this thread is no worker (yet) */
	cr_assert_eq(keel_runtime_block_on(rt, bump, NULL, &frame, sizeof(frame)), 0);
	cr_assert_eq(keel_counter_value(bumped), 8);
	keel_stats_read(rt, see_app, &a);
	cr_assert(a.named);
	cr_assert_eq(a.on_workers, 5);
	cr_assert_eq(a.outside, 3);
	keel_runtime_destroy(rt); /* frees the counter */
}

/* ---------------------------------------------------------- Prometheus */

struct idle {
	struct keel_co co;
	struct keel_args args;
};

static intptr_t nothing(void *frame, struct keel_cx *cx)
{
	(void)frame;
	(void)cx;
	return 0;
}

/* Every sample line "family{labels} value" comes after its family's TYPE
 * line, and a family is never opened twice. */
static void check_exposition(const char *text)
{
	char fam[128][128];
	unsigned nfam = 0;
	char line[512];
	const char *p = text;

	cr_assert_eq(strncmp(text, "# HELP keel_info ", 17), 0, "%s", text);
	while (*p) {
		size_t n = strcspn(p, "\n");
		char name[128];

		cr_assert_lt(n, sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (p[n] == '\n');
		if (strncmp(line, "# TYPE ", 7) == 0) {
			cr_assert_eq(sscanf(line + 7, "%127s", name), 1);
			for (unsigned i = 0; i < nfam; i++)
				cr_assert_str_neq(fam[i], name, "family %s twice", name);
			cr_assert_lt(nfam, 128);
			strcpy(fam[nfam++], name);
			cr_assert(strstr(line, " counter") || strstr(line, " gauge"), "%s", line);
			if (strstr(line, " counter"))
				cr_assert(strstr(name, "_total"), "counter %s", name);
			continue;
		}
		if (line[0] == '#')
			continue;
		n = strcspn(line, "{ ");
		cr_assert(nfam > 0 && strncmp(line, fam[nfam - 1], n) == 0 &&
			  fam[nfam - 1][n] == '\0', "sample outside its family: %s", line);
		cr_assert(strchr(line, ' '), "%s", line);
	}
	cr_assert_gt(nfam, 10);
}

Test(stats, prometheus_text_follows_the_format)
{
	struct keel_config cfg = config();
	struct keel_runtime *rt;
	struct keel_counter *c;
	struct idle frame = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	cr_assert_eq(keel_counter_create(rt, "app_requests_total", "a\\b\nc", &c), 0);
	keel_counter_add(c, 2);
	cr_assert_eq(keel_runtime_block_on(rt, nothing, NULL, &frame, sizeof(frame)), 0);
	f = open_memstream(&text, &len);
	cr_assert_eq(keel_stats_write_prometheus(rt, f), 0);
	fclose(f);
	check_exposition(text);
	cr_assert(strstr(text, "\nkeel_worker_polls_total{worker=\"0\"} "), "%s", text);
	cr_assert(strstr(text, "\nkeel_tasks_live 0\n"), "%s", text);
	cr_assert(strstr(text, "\n# TYPE keel_tasks_live gauge\n"), "%s", text);
	cr_assert(strstr(text, "\nkeel_driver_rx_packets_total{driver=\"kernel\",worker=\"0\"} 0\n"),
		  "%s", text);
	/* The name kept as given (it ends in _total), HELP escaped. */
	cr_assert(strstr(text, "\n# HELP app_requests_total a\\\\b\\nc\n"), "%s", text);
	cr_assert(strstr(text, "\napp_requests_total{worker=\"none\"} 2\n"), "%s", text);
	free(text);
	cr_assert_eq(keel_stats_write_prometheus(NULL, stdout), -EINVAL);
	cr_assert_eq(keel_stats_read(rt, NULL, NULL), -EINVAL);
	keel_runtime_destroy(rt);
}

/* ------------------------------------------------------------- options */

Test(stats, options)
{
	struct {
		const char *arg;
		int rc;
		uint64_t ns;
	} t[] = {
		{ "--stats", 0, 0 },
		{ "--stats=2", 0, 2000000000u },
		{ "--stats=500ms", 0, 500000000u },
		{ "--stats=0.25s", 0, 250000000u },
		{ "--stats=0", -EINVAL, 0 },
		{ "--stats=-1", -EINVAL, 0 },
		{ "--stats=1x", -EINVAL, 0 },
		{ "--stats=", -EINVAL, 0 },
		{ "--metrics=127.0.0.1:9100", 0, 0 },
		{ "--metrics=nowhere", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct keel_config cfg = { 0 };
		char prog[] = "prog", arg[64];
		char *argv[] = { prog, arg, NULL };
		int argc = 2;

		strcpy(arg, t[i].arg);
		cr_assert_eq(keel_args_parse(&argc, argv, NULL, &cfg), t[i].rc, "%s", t[i].arg);
		if (t[i].rc)
			continue;
		cr_assert_eq(cfg.stats_interval_ns, t[i].ns, "%s", t[i].arg);
		cr_assert_eq(cfg.stats, strncmp(t[i].arg, "--stats", 7) == 0, "%s", t[i].arg);
		cr_assert_eq(argc, 1);
	}
	{
		struct keel_config cfg = { 0 };
		char prog[] = "prog", a1[] = "--stats-workers", a2[] = "--metrics=[::1]:0";
		char *argv[] = { prog, a1, a2, NULL };
		int argc = 3;

		cr_assert_eq(keel_args_parse(&argc, argv, NULL, &cfg), 0);
		cr_assert(cfg.stats_workers);
		cr_assert_str_eq(cfg.metrics, "[::1]:0");
	}
}

/* --------------------------------------------------------- the responder */

static char logged[4096];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void keep_log(void *arg, enum keel_log_level lv, const char *msg)
{
	(void)arg;
	(void)lv;
	pthread_mutex_lock(&log_lock);
	strncat(logged, msg, sizeof(logged) - strlen(logged) - 2);
	strcat(logged, "\n");
	pthread_mutex_unlock(&log_lock);
}

/* One HTTP/1.0 exchange with 127.0.0.1:\p port; the reply in \p out. */
static void http(int port, const char *request, char *out, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 10, 0 };
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
	while (len < size - 1 && (n = recv(fd, out + len, size - 1 - len, 0)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd);
}

Test(stats, metrics_over_http)
{
	struct keel_config cfg = config();
	struct keel_runtime *rt, *rt2;
	struct idle frame = { 0 };
	static char reply[1 << 16];
	const char *at;
	int port = 0;

	keel_log_set_fn(keep_log, NULL);
	cfg.metrics = "127.0.0.1:0";
	cr_assert_eq(keel_runtime_create(&cfg, &rt), 0);
	at = strstr(logged, "metrics at http://127.0.0.1:");
	cr_assert_not_null(at, "%s", logged);
	port = atoi(at + strlen("metrics at http://127.0.0.1:"));
	cr_assert_gt(port, 0);
	cr_assert_eq(keel_runtime_block_on(rt, nothing, NULL, &frame, sizeof(frame)), 0);

	http(port, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n", reply, sizeof(reply));
	cr_assert_eq(strncmp(reply, "HTTP/1.0 200 OK\r\n", 17), 0, "%s", reply);
	cr_assert(strstr(reply, "Content-Type: text/plain; version=0.0.4"), "%s", reply);
	check_exposition(strstr(reply, "\r\n\r\n") + 4);
	http(port, "HEAD /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	cr_assert_eq(strncmp(reply, "HTTP/1.0 200 OK\r\n", 17), 0, "%s", reply);
	cr_assert_eq(strlen(strstr(reply, "\r\n\r\n")), 4, "HEAD has no body");
	http(port, "GET /other HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	cr_assert_eq(strncmp(reply, "HTTP/1.0 404 ", 13), 0, "%s", reply);
	http(port, "POST /metrics HTTP/1.0\r\n\r\n", reply, sizeof(reply));
	cr_assert_eq(strncmp(reply, "HTTP/1.0 405 ", 13), 0, "%s", reply);

	/* The address is taken: the second runtime does not start. */
	{
		char where[32];

		snprintf(where, sizeof(where), "127.0.0.1:%d", port);
		cfg.metrics = where;
		cr_assert_eq(keel_runtime_create(&cfg, &rt2), -EADDRINUSE);
	}
	keel_runtime_destroy(rt);
	keel_log_set_fn(NULL, NULL);
}
