/* SPDX-License-Identifier: MIT */
/*
 * baseline-echo: the hand-written UDP echo server keel's are compared
 * with (perf/udp-echo-bench.sh). No keel: one thread, a non-blocking
 * socket in an epoll set (edge-triggered, as keel's kernel driver), and on
 * each event recvmmsg/sendmmsg in batches of BATCH until the socket is
 * empty. Each datagram goes back unchanged to where it came from.
 *
 * usage: baseline-echo [ADDR:PORT]   (default 127.0.0.1:8080)
 * SIGINT/SIGTERM stop it; it then prints "baseline-echo: rx=N tx=N
 * dropped=N" on stderr (dropped: the kernel refused the reply).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH	 64
#define BUF_SIZE 65536

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT" into \p ss. 0 or -1. */
static int parse_addr(const char *text, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(text, ':'), *h = text;
	size_t hl;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_DGRAM }, *ai;

	if (!colon)
		return -1;
	hl = (size_t)(colon - text);
	if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int main(int argc, char **argv)
{
	static char bufs[BATCH][BUF_SIZE];
	static struct sockaddr_storage peers[BATCH];
	static struct iovec iov[BATCH];
	static struct mmsghdr msgs[BATCH];
	const char *where = argc > 1 ? argv[1] : "127.0.0.1:8080";
	unsigned long long rx = 0, tx = 0, dropped = 0;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	struct sockaddr_storage addr;
	struct sigaction sa;
	socklen_t alen;
	char text[INET6_ADDRSTRLEN];
	int fd, ep;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: baseline-echo [ADDR:PORT]\n");
		return 2;
	}
	if (parse_addr(where, &addr, &alen) < 0) {
		fprintf(stderr, "baseline-echo: '%s' is not ADDR:PORT\n", where);
		return 2;
	}
	fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, alen) < 0) {
		fprintf(stderr, "baseline-echo: %s: %s\n", where, strerror(errno));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = fd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		fprintf(stderr, "baseline-echo: epoll: %s\n", strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	alen = sizeof(addr);
	getsockname(fd, (struct sockaddr *)&addr, &alen);
	inet_ntop(addr.ss_family,
		  addr.ss_family == AF_INET6 ?
			  (void *)&((struct sockaddr_in6 *)&addr)->sin6_addr :
			  (void *)&((struct sockaddr_in *)&addr)->sin_addr,
		  text, sizeof(text));
	printf("Listening on %s:%u\n", text,
	       ntohs(((struct sockaddr_in *)&addr)->sin_port));
	fflush(stdout);

	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &peers[i];
	}
	while (!stop) {
		struct epoll_event out;

		if (epoll_wait(ep, &out, 1, -1) < 0 && errno != EINTR)
			break;
		/* Edge-triggered: drain the socket before waiting again. */
		while (!stop) {
			int n, sent = 0;

			for (int i = 0; i < BATCH; i++) {
				iov[i].iov_len = BUF_SIZE;
				msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
			}
			n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break; /* EAGAIN: empty; EINTR: look at stop */
			rx += (unsigned long long)n;
			for (int i = 0; i < n; i++)
				iov[i].iov_len = msgs[i].msg_len;
			while (sent < n) {
				int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);

				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0) {
					/* Full or refused: drop the rest, as a
					 * server under overload must. */
					dropped += (unsigned long long)(n - sent);
					break;
				}
				sent += k;
			}
			tx += (unsigned long long)sent;
		}
	}
	fprintf(stderr, "baseline-echo: rx=%llu tx=%llu dropped=%llu\n", rx, tx,
		dropped);
	close(ep);
	close(fd);
	return 0;
}
