/* SPDX-License-Identifier: MIT */
/*
 * dns-server: an authoritative DNS server on keel.
 * usage: dns-server --zone=FILE [--zone=FILE...] [ADDR:PORT]
 *        (default 127.0.0.1:8080), plus keel's options (--driver=, ...)
 *
 * This file is the keel part, all of it: load the zones, bind UDP and TCP
 * on one port, and serve. The DNS itself (parsing, zones, answers) is in
 * wire.c, zone.c and answer.c, pure functions over buffers (dns.h).
 *
 * UDP is served on every worker (--workers=N): one task and one socket
 * each, all bound to the same address (SO_REUSEPORT on the kernel driver,
 * one AF_XDP socket per queue on xdp, one DPDK queue per worker), the
 * zones shared read-only. Each uses the zero-copy calls: keel lends up to
 * 64 received packets at once, each query is answered in place in its own
 * buffer, and the batch goes back in one call (one recvmmsg and one
 * sendmmsg per batch on the kernel driver; the AF_XDP frames themselves on
 * the xdp driver). TCP
 * (RFC 7766: two-byte length, then the message) is one task per
 * connection, on keel's TCP (the kernel's sockets, whatever carries UDP);
 * where it cannot listen (an address only DPDK has) the server says so
 * and serves UDP alone.
 */
#include "dns.h"

#include <errno.h>
#include <keel/driver.h> /* keel_worker_index */
#include <keel/keel.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH	    64		  /* packets lent per receive */
#define TCP_IDLE    (10 * KEEL_SEC) /* a quiet TCP connection is closed */
#define TCP_MSG_MAX 4096	  /* longest query taken over TCP */

/* The zones, read-only once loaded, shared by every task (and worker) that
 * answers; the last task to let go frees them. */
struct zones {
	atomic_uint refs;
	struct dns_db db;
};

static struct zones *zones_ref(struct zones *z)
{
	atomic_fetch_add_explicit(&z->refs, 1, memory_order_relaxed);
	return z;
}

static void zones_unref(struct zones *z)
{
	if (z && atomic_fetch_sub_explicit(&z->refs, 1, memory_order_acq_rel) == 1) {
		dns_db_free(&z->db);
		free(z);
	}
}

/* Read a master file and add its zone. Blocking file I/O, once, before
 * serving. */
static int zone_load(struct zones *z, const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *text = NULL, err[256];
	size_t len = 0, cap = 0, n;
	int rc = 0;

	if (!fp) {
		rc = -errno;
		fprintf(stderr, "dns-server: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	do {
		if (len == cap) {
			char *t = realloc(text, cap = cap ? cap * 2 : 65536);

			if (!t) {
				rc = -ENOMEM;
				break;
			}
			text = t;
		}
		n = fread(text + len, 1, cap - len, fp);
		len += n;
	} while (n > 0);
	if (rc == 0 && ferror(fp))
		rc = -EIO;
	fclose(fp);
	if (rc == 0)
		rc = dns_zone_parse(&z->db, text, len, err, sizeof(err));
	free(text);
	if (rc < 0)
		fprintf(stderr, "dns-server: %s: %s\n", path,
			rc == -EIO ? "read error" : err);
	return rc;
}

/* ---------------------------------------------------------------- UDP */

/* Serves UDP on one worker: the socket the main task bound, on its own
 * worker, or one this task binds to the same address on its first step. */
struct udp_server {
	struct keel_co co;
	struct zones *zones;
	struct keel_addr addr;
	struct keel_udp sock;
	struct keel_pkt pk[BATCH];
	ssize_t n, k;
	unsigned m, sent;
};

static intptr_t udp_server(void *frame, struct keel_cx *cx)
{
	struct udp_server *f = frame;

	KEEL_BEGIN(f);
	if (!f->sock.ops) {
		int rc = keel_udp_bind(cx, &f->sock, &f->addr, &(struct keel_udp_opts){ .reuseport = 1 });

		if (rc < 0) {
			char text[KEEL_ADDR_STRLEN];

			fprintf(stderr, "dns-server: UDP %s on worker %u: %s\n",
				keel_addr_format(&f->addr, text, sizeof(text)),
				keel_worker_index(keel_cx_worker(cx)), keel_strerror(rc));
			keel_runtime_shutdown(keel_cx_runtime(cx)); /* not half a server */
			KEEL_RETURN(f, rc);
		}
	}
	for (;;) {
		KEEL_AWAIT(f, f->n, keel_udp_recv_lend(cx, &f->sock, f->pk, BATCH));
		if (f->n == -EBADF)
			KEEL_RETURN(f, f->n);
		if (f->n <= 0)
			continue; /* counted by the driver; keep serving */
		/* Answer each query in its own buffer; keep those that get an
		 * answer at the front, give the others back. */
		f->m = 0;
		for (ssize_t i = 0; i < f->n; i++) {
			struct keel_pkt *p = &f->pk[i];
			size_t len = dns_answer(&f->zones->db, p->data, p->len,
						p->data, p->cap, DNS_UDP);

			if (len == 0) {
				keel_udp_release(&f->sock, p, 1);
				continue;
			}
			p->len = (uint32_t)len;
			if ((unsigned)i != f->m)
				f->pk[f->m] = *p;
			f->m++;
		}
		for (f->sent = 0; f->sent < f->m; f->sent += (unsigned)f->k) {
			KEEL_AWAIT(f, f->k, keel_udp_send_lent(cx, &f->sock, f->pk + f->sent,
							      f->m - f->sent));
			if (f->k <= 0) {
				/* Not sent (counted): the buffers come back. */
				keel_udp_release(&f->sock, f->pk + f->sent, f->m - f->sent);
				break;
			}
		}
	}
	KEEL_END(f);
}

static void udp_server_drop(void *frame)
{
	struct udp_server *f = frame;

	if (f->sock.ops)
		keel_udp_close(&f->sock);
	zones_unref(f->zones);
}

/* ---------------------------------------------------------------- TCP */

/* One connection: queries in, answers out, in order, until the client
 * closes or stays quiet for TCP_IDLE. */
struct tcp_conn {
	struct keel_co co;
	struct zones *zones;
	struct keel_tcp sock;
	struct keel_timer idle;
	ssize_t r;
	size_t have, msg, out_len, done;
	uint8_t in[2 + TCP_MSG_MAX];
	uint8_t out[2 + 65535];
};

static intptr_t tcp_conn(void *frame, struct keel_cx *cx)
{
	struct tcp_conn *f = frame;

	KEEL_BEGIN(f);
	for (;;) {
		/* Every whole message received so far gets its answer. */
		while (f->have >= 2 && f->have >= 2u + (f->msg = (size_t)f->in[0] << 8 | f->in[1])) {
			f->out_len = dns_answer(&f->zones->db, f->in + 2, f->msg, f->out + 2,
						sizeof(f->out) - 2, DNS_TCP);
			f->have -= 2 + f->msg;
			memmove(f->in, f->in + 2 + f->msg, f->have);
			if (f->out_len == 0)
				continue;
			f->out[0] = (uint8_t)(f->out_len >> 8);
			f->out[1] = (uint8_t)f->out_len;
			f->done = 0;
			KEEL_AWAIT(f, f->r, keel_tcp_write_all(cx, &f->sock, f->out,
							       f->out_len + 2, &f->done));
			if (f->r < 0)
				KEEL_RETURN(f, 0);
		}
		if (f->have >= 2 && f->msg > TCP_MSG_MAX)
			break; /* longer than any query we take */
		KEEL_AWAIT(f, f->r, keel_timeout(cx, &f->idle, TCP_IDLE,
						 keel_tcp_read(cx, &f->sock, f->in + f->have,
							       sizeof(f->in) - f->have)));
		if (f->r <= 0)
			break; /* closed, reset, or idle */
		f->have += (size_t)f->r;
	}
	KEEL_END(f);
}

static void tcp_conn_drop(void *frame)
{
	struct tcp_conn *f = frame;

	keel_tcp_close(&f->sock);
	zones_unref(f->zones);
}

struct tcp_server {
	struct keel_co co;
	struct zones *zones;
	struct keel_tcp listener, accepted;
	struct keel_timer backoff;
	intptr_t r;
};

static intptr_t tcp_server(void *frame, struct keel_cx *cx)
{
	struct tcp_server *f = frame;
	int rc;

	KEEL_BEGIN(f);
	for (;;) {
		KEEL_AWAIT(f, f->r, keel_tcp_accept(cx, &f->listener, &f->accepted, NULL));
		if (f->r < 0) {
			/* Out of descriptors or memory: let connections end. */
			KEEL_AWAIT(f, f->r, keel_sleep_for(cx, &f->backoff, 100 * KEEL_MS));
			continue;
		}
		/* The socket moves into the connection's frame. */
		rc = KEEL_SPAWN(cx, tcp_conn, tcp_conn_drop, NULL, struct tcp_conn,
				.zones = zones_ref(f->zones), .sock = f->accepted);
		if (rc < 0) {
			keel_tcp_close(&f->accepted);
			zones_unref(f->zones);
		}
		f->accepted = (struct keel_tcp){ 0 };
	}
	KEEL_END(f);
}

static void tcp_server_drop(void *frame)
{
	struct tcp_server *f = frame;

	if (f->listener.ops)
		keel_tcp_close(&f->listener);
	if (f->accepted.ops)
		keel_tcp_close(&f->accepted);
	zones_unref(f->zones);
}

/* --------------------------------------------------------------- main */

struct server {
	struct keel_co co;
	struct keel_args args;
	struct zones *zones;
	struct keel_addr addr;
	struct keel_udp udp;
	struct keel_tcp tcp;
	struct keel_group udp_tasks; /* one per worker */
	struct keel_join *tcp_task;
	intptr_t r;
};

static intptr_t server(void *frame, struct keel_cx *cx)
{
	struct server *f = frame;
	const char *where = "127.0.0.1:8080";
	char text[KEEL_ADDR_STRLEN], name[1024];
	int rc;

	KEEL_BEGIN(f);
	f->zones = calloc(1, sizeof(*f->zones));
	if (!f->zones)
		KEEL_RETURN(f, -ENOMEM);
	atomic_init(&f->zones->refs, 1);
	for (int i = 1; i < f->args.argc; i++) {
		const char *a = f->args.argv[i];

		if (strncmp(a, "--zone=", 7) == 0) {
			if (zone_load(f->zones, a + 7) < 0)
				KEEL_RETURN(f, 2);
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "dns-server: unknown option %s (see --help)\n", a);
			KEEL_RETURN(f, 2);
		} else {
			where = a;
		}
	}
	if (f->zones->db.nzones == 0) {
		fprintf(stderr, "usage: dns-server --zone=FILE [--zone=FILE...] [ADDR:PORT]\n");
		KEEL_RETURN(f, 2);
	}
	if (keel_addr_parse(where, &f->addr) < 0) {
		fprintf(stderr, "dns-server: '%s' is not ADDR:PORT\n", where);
		KEEL_RETURN(f, 2);
	}
	/* UDP first (port 0 picks one), then TCP on the same port. */
	rc = keel_udp_bind(cx, &f->udp, &f->addr, &(struct keel_udp_opts){ .reuseport = 1 });
	if (rc == 0)
		rc = keel_udp_local_addr(&f->udp, &f->addr);
	if (rc < 0) {
		fprintf(stderr, "dns-server: UDP %s: %s\n", where, keel_strerror(rc));
		KEEL_RETURN(f, rc);
	}
	/* TCP is not worth failing for: a server without it still answers
	 * (only truncated answers cannot be retried). */
	rc = keel_tcp_listen(cx, &f->tcp, &f->addr, 0);
	if (rc < 0)
		printf("TCP: %s; serving UDP only\n",
		       rc == -ENOTSUP ? "no TCP on this driver" : keel_strerror(rc));
	for (unsigned z = 0; z < f->zones->db.nzones; z++)
		printf("Zone %s\n", dns_name_format(f->zones->db.arena +
			f->zones->db.nodes[f->zones->db.zones[z].apex].name, name, sizeof(name)));
	printf("Listening on %s\n", keel_addr_format(&f->addr, text, sizeof(text)));
	fflush(stdout);

	/* A UDP task on every worker; the socket bound here moves into the
	 * one on this worker, the others bind their own. */
	for (unsigned i = 0; i < keel_cx_workers(cx); i++) {
		bool mine = i == keel_worker_index(keel_cx_worker(cx));
		struct keel_join *j;

		rc = keel_spawn_on(cx, i, udp_server, udp_server_drop,
				   &(struct udp_server){ .zones = zones_ref(f->zones),
							 .addr = f->addr,
							 .sock = mine ? f->udp : (struct keel_udp){ 0 } },
				   sizeof(struct udp_server), &j);
		if (rc == 0) {
			if (mine)
				f->udp = (struct keel_udp){ 0 };
			rc = keel_group_add(cx, &f->udp_tasks, j);
			if (rc < 0)
				keel_join_abort(j);
		} else {
			zones_unref(f->zones);
		}
		if (rc < 0)
			KEEL_RETURN(f, rc);
	}
	if (f->tcp.ops) {
		rc = KEEL_SPAWN(cx, tcp_server, tcp_server_drop, &f->tcp_task,
				struct tcp_server, .zones = zones_ref(f->zones),
				.listener = f->tcp);
		if (rc < 0) {
			zones_unref(f->zones);
			KEEL_RETURN(f, rc);
		}
		f->tcp = (struct keel_tcp){ 0 };
	}
	KEEL_AWAIT(f, f->r, keel_shutdown_poll(cx));
	KEEL_END(f);
}

static void server_drop(void *frame)
{
	struct server *f = frame;

	keel_group_destroy(&f->udp_tasks);
	if (f->tcp_task)
		keel_join_abort(f->tcp_task);
	if (f->udp.ops)
		keel_udp_close(&f->udp);
	if (f->tcp.ops)
		keel_tcp_close(&f->tcp);
	zones_unref(f->zones);
}

KEEL_MAIN_OPTS(server, server_drop, struct server,
	       "dns-server --zone=FILE [--zone=FILE...] [ADDR:PORT]",
	       "  --zone=FILE     serve the zone in master file FILE (RFC 1035 section 5;\n"
	       "                  SOA first; SOA NS A AAAA CNAME MX TXT); repeatable\n")
