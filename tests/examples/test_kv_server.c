/* SPDX-License-Identifier: MIT */
/*
 * examples/kv-server as a user runs it: the program is started with the
 * scheduler of the run (KEEL_SCHED, KEEL_WORKERS), spoken to over UDP on
 * loopback, and stopped with SIGINT. Every wait is bounded; none is a
 * fixed sleep.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 20000 /* bound on any wait: a loaded 2-core machine */

struct server {
	pid_t pid;
	int out; /* its stdout */
	char text[8192];
	size_t len;
	int port, sock;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read the server's output until it holds \p needle (bounded). */
static bool read_until(struct server *s, const char *needle)
{
	uint64_t end = now_ms() + WAIT_MS;

	while (!strstr(s->text, needle)) {
		struct pollfd p = { .fd = s->out, .events = POLLIN };
		ssize_t n;

		if (now_ms() >= end || s->len >= sizeof(s->text) - 1)
			return false;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(s->out, s->text + s->len, sizeof(s->text) - 1 - s->len);
		if (n <= 0)
			return false;
		s->len += (size_t)n;
		s->text[s->len] = '\0';
	}
	return true;
}

static void start(struct server *s, const char *ttl, const char *summary)
{
	const char *sched = getenv("KEEL_SCHED"), *workers = getenv("KEEL_WORKERS");
	char sched_arg[64], workers_arg[64];
	const char *port;
	int p[2];

	snprintf(sched_arg, sizeof(sched_arg), "--sched=%s", sched ? sched : "local");
	snprintf(workers_arg, sizeof(workers_arg), "--workers=%s", workers ? workers : "1");
	memset(s, 0, sizeof(*s));
	cr_assert_eq(pipe(p), 0);
	s->pid = fork();
	cr_assert_geq(s->pid, 0);
	if (s->pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(KV_SERVER, "kv-server", sched_arg, workers_arg, ttl, summary,
		      "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	s->out = p[0];
	cr_assert(read_until(s, "keys expire"), "the server did not start: %s", s->text);
	port = strstr(s->text, "127.0.0.1:");
	cr_assert_not_null(port);
	s->port = atoi(port + strlen("127.0.0.1:"));
	cr_assert_gt(s->port, 0);
	s->sock = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(s->sock, 0);
}

/* Send \p req and return the answer (a request may be lost on a loaded
 * machine: resent, each try bounded). */
static const char *ask(struct server *s, const char *req)
{
	static char buf[65536];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int tries = 0; tries < 20; tries++) {
		struct pollfd p = { .fd = s->sock, .events = POLLIN };
		ssize_t n;

		cr_assert_eq(sendto(s->sock, req, strlen(req), 0, (struct sockaddr *)&a,
				    sizeof(a)), (ssize_t)strlen(req));
		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = recv(s->sock, buf, sizeof(buf) - 1, 0);
		cr_assert_geq(n, 0);
		buf[n] = '\0';
		return buf;
	}
	cr_assert(false, "no answer to '%s'", req);
	return NULL;
}

/* SIGINT: a clean stop, with a last summary. \return the exit status. */
static int stop(struct server *s)
{
	int st;

	kill(s->pid, SIGINT);
	cr_assert(read_until(s, "requests"), "no summary at exit: %s", s->text);
	cr_assert_eq(waitpid(s->pid, &st, 0), s->pid);
	close(s->out);
	close(s->sock);
	cr_assert(WIFEXITED(st), "killed by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

Test(kv_server, protocol_and_clean_shutdown)
{
	struct server s;

	start(&s, "--ttl=60", "--summary=0");
	cr_assert_str_eq(ask(&s, "GET a"), "NOTFOUND");
	cr_assert_str_eq(ask(&s, "SET a hello world"), "OK");
	cr_assert_str_eq(ask(&s, "GET a"), "hello world");
	cr_assert_str_eq(ask(&s, "SET b 2\n"), "OK");
	cr_assert_str_eq(ask(&s, "DEL a"), "OK");
	cr_assert_str_eq(ask(&s, "DEL a"), "NOTFOUND");
	cr_assert_str_eq(ask(&s, "GET b"), "2");
	cr_assert(strncmp(ask(&s, "PUT a b"), "ERR ", 4) == 0);
	cr_assert(strncmp(ask(&s, "SET a"), "ERR ", 4) == 0);
	cr_assert_eq(stop(&s), 0);
	cr_assert(strstr(s.text, "kv: 1 keys"), "%s", s.text);
}

/* A key is gone --ttl after its SET, never before. */
Test(kv_server, keys_expire_after_ttl)
{
	struct server s;
	uint64_t t0, end;
	const char *r;

	start(&s, "--ttl=1", "--summary=0");
	t0 = now_ms();
	cr_assert_str_eq(ask(&s, "SET k v"), "OK");
	end = t0 + WAIT_MS;
	while (strcmp((r = ask(&s, "GET k")), "NOTFOUND") != 0) {
		cr_assert_str_eq(r, "v");
		cr_assert_lt(now_ms(), end, "the key never expired");
		poll(NULL, 0, 50);
	}
	cr_assert_geq(now_ms() - t0, 900, "expired early");
	cr_assert_eq(stop(&s), 0);
}

Test(kv_server, periodic_summary)
{
	struct server s;

	start(&s, "--ttl=60", "--summary=1");
	cr_assert_str_eq(ask(&s, "SET a 1"), "OK");
	cr_assert(read_until(&s, "kv: 1 keys, 1 requests"), "no summary: %s", s.text);
	cr_assert_eq(stop(&s), 0);
}

Test(kv_server, help_lists_own_options)
{
	char cmd[512], buf[4096] = { 0 };
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s --help", KV_SERVER);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	fread(buf, 1, sizeof(buf) - 1, p);
	cr_assert_eq(pclose(p), 0);
	cr_assert(strstr(buf, "--ttl=SECONDS"), "%s", buf);
	cr_assert(strstr(buf, "(default 60)"), "%s", buf);
	snprintf(cmd, sizeof(cmd), "%s --ttl=soon 2>/dev/null", KV_SERVER);
	cr_assert_neq(system(cmd), 0, "a bad --ttl was accepted");
}
