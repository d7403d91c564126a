/* SPDX-License-Identifier: MIT */
/*
 * keel-dpdk-pps: what keel's stack costs per packet on the DPDK driver,
 * with no NIC and no kernel in the way. A ring port connects keel to a
 * reflector: keel echoes each datagram (net/ parses it, the socket queues
 * it, the task replies), the reflector takes keel's reply off the TX ring,
 * swaps its addresses and ports back (checksums stay valid: a swap does not
 * change a one's complement sum) and puts it on the RX ring again. A fixed
 * number of frames circulate; nothing is allocated per packet.
 *
 * Everything runs on one thread, the EAL main lcore (the mempool cache is
 * used), so the rate is per core. The echo task plays the reflector before
 * each receive, one burst per worker tick; reflect_burst is timed with the
 * TSC (its time is reported and subtracted) and kept out of line for
 * callgrind to tell apart.
 *
 * usage: keel-dpdk-pps [MODE [PACKETS [INFLIGHT [PAYLOAD]]]]
 *   MODE     lend (recv_lend/send_lent, zero-copy), batch (recv_batch/
 *            send_batch), single (recv_from/send_to); default lend
 *   PACKETS  echoes to time (10000000); INFLIGHT frames circulating (256);
 *   PAYLOAD  UDP payload bytes (18: 60-byte frames, 64 on the wire)
 *
 * callgrind: valgrind --tool=callgrind --collect-atstart=no
 *   --toggle-collect=run_bench keel-dpdk-pps lend 200000; instructions per
 *   packet = (Ir of run_bench - Ir of reflect_burst) / PACKETS
 *   (perf/dpdk-pps.sh does it).
 */
#include <keel/dpdk.h>
#include <keel/keel.h>
#include <keel/net.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#define BURST 32

enum mode { LEND, BATCH, SINGLE };

static struct {
	enum mode mode;
	uint64_t packets;
	unsigned inflight, payload;
	struct rte_ring *to_keel, *from_keel;
	struct rte_mempool *pool;
	struct keel_net *peer;
	uint8_t keel_mac[6];
	uint32_t keel_ip, peer_ip;
	uint64_t echoed, reflected, t0, t1;
	uint64_t refl_tsc;		/* TSC cycles spent reflecting */
	uint64_t refl_tsc0;		/* ... when timing started */
	bool done;
} B;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void swap(uint8_t *a, uint8_t *b, size_t n)
{
	uint8_t t[6];

	memcpy(t, a, n);
	memcpy(a, b, n);
	memcpy(b, t, n);
}

/* ARP from keel (its announcement, its request for the peer): answered by
 * the peer's stack, or dropped. */
static bool reflect_arp(struct rte_mbuf *m)
{
	struct keel_net_rx_result r;
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	int n;

	if (keel_net_rx(B.peer, f, rte_pktmbuf_data_len(m), 0, 0, &r) !=
	    KEEL_NET_RX_ARP_REQUEST)
		return false;
	n = keel_net_reply(B.peer, f, m->buf_len - m->data_off, &r);
	if (n < 0)
		return false;
	m->data_len = (uint16_t)n;
	m->pkt_len = (uint32_t)n;
	return true;
}

/* Turn keel's replies back into requests. Not inlined: callgrind
 * subtracts it. */
__attribute__((noinline)) static unsigned reflect_burst(void)
{
	void *m[BURST];
	unsigned n = rte_ring_dequeue_burst(B.from_keel, m, BURST, NULL), k = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *mb = m[i];
		uint8_t *f = rte_pktmbuf_mtod(mb, uint8_t *);

		if (f[12] != 0x08 || f[13] != 0x00) {
			if (!reflect_arp(mb)) {
				rte_pktmbuf_free(mb);
				continue;
			}
		} else {
			swap(f, f + 6, 6);	    /* MACs */
			swap(f + 26, f + 30, 4);    /* IPs */
			swap(f + 34, f + 36, 2);    /* ports */
			mb->ol_flags = 0;
			B.reflected++;
		}
		m[k++] = mb;
	}
	rte_ring_enqueue_burst(B.to_keel, m, k, NULL);
	return n;
}

/* ----------------------------------------------------------------- tasks */

struct echo {
	struct keel_co co;
	struct keel_udp s;
	struct keel_addr a;
	struct keel_pkt p[BURST];
	struct keel_dgram v[BURST];
	char bufs[BURST][2048];
	intptr_t r;
	unsigned i;
};

static void count(unsigned n)
{
	if (!B.echoed) {
		B.t0 = now_ns();
		B.refl_tsc0 = B.refl_tsc;
	}
	B.echoed += n;
	if (B.echoed >= B.packets) {
		B.t1 = now_ns();
		B.done = true;
	}
}

static intptr_t echo(void *frame, struct keel_cx *cx)
{
	struct echo *f = frame;

	KEEL_BEGIN(f);
	f->a.in4.sin_family = AF_INET;
	f->a.in4.sin_addr.s_addr = B.keel_ip;
	f->a.in4.sin_port = htons(7);
	f->r = keel_udp_bind(cx, &f->s, &f->a, NULL);
	if (f->r < 0)
		KEEL_RETURN(f, f->r);
	for (f->i = 0; f->i < BURST; f->i++) {
		f->v[f->i].buf = f->bufs[f->i];
		f->v[f->i].cap = sizeof(f->bufs[0]);
	}
	while (!B.done) {
		/* The peer's turn: what keel sent last round comes back. */
		{
			uint64_t t = rte_rdtsc();

			reflect_burst();
			B.refl_tsc += rte_rdtsc() - t;
		}
		/* if/else, not switch: no switch may enclose an await. */
		if (B.mode == LEND) {
			KEEL_AWAIT(f, f->r, keel_udp_recv_lend(cx, &f->s, f->p, BURST));
			if (f->r < 0)
				KEEL_RETURN(f, f->r);
			/* Echo as is: data, len and peer are the received ones. */
			KEEL_AWAIT(f, f->r, keel_udp_send_lent(cx, &f->s, f->p, (unsigned)f->r));
		} else if (B.mode == BATCH) {
			KEEL_AWAIT(f, f->r, keel_udp_recv_batch(cx, &f->s, f->v, BURST));
			if (f->r < 0)
				KEEL_RETURN(f, f->r);
			for (f->i = 0; f->i < (unsigned)f->r; f->i++)
				f->v[f->i].cap = f->v[f->i].len;
			KEEL_AWAIT(f, f->r, keel_udp_send_batch(cx, &f->s, f->v, (unsigned)f->r));
			for (f->i = 0; f->i < BURST; f->i++)
				f->v[f->i].cap = sizeof(f->bufs[0]);
		} else {
			KEEL_AWAIT(f, f->r, keel_udp_recv_from(cx, &f->s, f->bufs[0],
							       sizeof(f->bufs[0]), &f->a));
			if (f->r < 0)
				KEEL_RETURN(f, f->r);
			KEEL_AWAIT(f, f->r, keel_udp_send_to(cx, &f->s, f->bufs[0],
							     (size_t)f->r, &f->a));
		}
		if (f->r < 0)
			KEEL_RETURN(f, f->r);
		count(B.mode == SINGLE ? 1 : (unsigned)f->r);
	}
	keel_udp_close(&f->s);
	KEEL_END(f);
}

struct root {
	struct keel_co co;
	struct keel_join *e;
	intptr_t r;
};

static intptr_t root(void *frame, struct keel_cx *cx)
{
	struct root *f = frame;
	struct keel_dpdk_info info;

	KEEL_BEGIN(f);
	keel_dpdk_info_get(cx, &info);
	memcpy(B.keel_mac, info.mac, 6);
	if (keel_spawn(cx, echo, NULL, &(struct echo){ .r = 0 }, sizeof(struct echo),
		       &f->e) < 0)
		KEEL_RETURN(f, -ENOMEM);
	/* The peer introduces itself (keel learns its MAC from the ARP
	 * request, as from any neighbour), the socket binds, then the
	 * requests go on the wire. */
	{
		struct keel_net_arp_tx req = { .op = KEEL_NET_ARP_REQUEST,
					       .eth_dst = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
					       .spa = B.peer_ip, .tpa = B.keel_ip };
		struct rte_mbuf *m = rte_pktmbuf_alloc(B.pool);
		int n;

		if (!m)
			KEEL_RETURN(f, -ENOBUFS);
		n = keel_net_arp_build(B.peer, rte_pktmbuf_mtod(m, void *),
				       m->buf_len - m->data_off, &req);
		m->data_len = (uint16_t)n;
		m->pkt_len = (uint32_t)n;
		rte_ring_enqueue(B.to_keel, m);
	}
	KEEL_YIELD(f, cx);
	for (unsigned i = 0; i < B.inflight; i++) {
		struct keel_net_udp_tx tx = { .src_ip = B.peer_ip, .dst_ip = B.keel_ip,
					      .src_port = htons(9000),
					      .dst_port = htons(7) };
		struct rte_mbuf *m = rte_pktmbuf_alloc(B.pool);
		uint8_t *p;
		int n;

		if (!m)
			KEEL_RETURN(f, -ENOBUFS);
		p = rte_pktmbuf_mtod(m, uint8_t *);
		memcpy(tx.dst_mac, B.keel_mac, 6);
		memset(p + KEEL_NET_UDP_HDRS, 'x', B.payload);
		n = keel_net_udp_build(B.peer, p, m->buf_len - m->data_off, &tx,
				       B.payload, 0);
		m->data_len = (uint16_t)n;
		m->pkt_len = (uint32_t)n;
		rte_ring_enqueue(B.to_keel, m);
	}
	KEEL_AWAIT(f, f->r, keel_join_poll(cx, f->e));
	B.done = true;
	KEEL_RETURN(f, f->r);
	KEEL_END(f);
}

/* The measured part: callgrind's --toggle-collect names it. */
__attribute__((noinline)) static intptr_t run_bench(struct keel_runtime *rt)
{
	return keel_runtime_block_on(rt, root, NULL, &(struct root){ .r = 0 },
				     sizeof(struct root));
}

/* --------------------------------------------------------------- setup */

static void remove_dir(const char *path)
{
	DIR *d = opendir(path);

	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(path);
}

int main(int argc, char **argv)
{
	static const char *modes[] = { "lend", "batch", "single" };
	char prefix[64], dir[512];
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "512", prefix,
			"-l0", "--log-level=warning", NULL };
	struct keel_net_config pc = { .mac = { 0x02, 0, 0, 0, 0, 0x02 }, .n_addrs = 1 };
	struct keel_config cfg = {
		.sched = "local",
		.driver = "dpdk:ip=198.18.0.1/24,port=net_ring_pps,park=busy,garp=0",
	};
	struct keel_runtime *rt;
	intptr_t r;
	double s, refl;

	B.mode = LEND;
	if (argc > 1) {
		for (B.mode = LEND; B.mode <= SINGLE; B.mode++)
			if (strcmp(argv[1], modes[B.mode]) == 0)
				break;
		if (B.mode > SINGLE) {
			fprintf(stderr, "usage: %s [lend|batch|single [PACKETS "
				"[INFLIGHT [PAYLOAD]]]]\n", argv[0]);
			return 2;
		}
	}
	B.packets = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000;
	B.inflight = argc > 3 ? (unsigned)atoi(argv[3]) : 256;
	B.payload = argc > 4 ? (unsigned)atoi(argv[4]) : 18;
	if (!B.packets || B.inflight < 1 || B.inflight > 4096 || B.payload > 1472) {
		fprintf(stderr, "%s: bad arguments\n", argv[0]);
		return 2;
	}

	snprintf(prefix, sizeof(prefix), "--file-prefix=keel-%ld", (long)getpid());
	if (rte_eal_init(8, eal) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	B.to_keel = rte_ring_create("pps_rx", 8192, SOCKET_ID_ANY,
				    RING_F_SP_ENQ | RING_F_SC_DEQ);
	B.from_keel = rte_ring_create("pps_tx", 8192, SOCKET_ID_ANY,
				      RING_F_SP_ENQ | RING_F_SC_DEQ);
	B.pool = rte_pktmbuf_pool_create("pps_peer", 8191, 256, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!B.to_keel || !B.from_keel || !B.pool ||
	    rte_eth_from_rings("pps", &B.to_keel, 1, &B.from_keel, 1, SOCKET_ID_ANY) < 0) {
		fprintf(stderr, "ring port: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	inet_pton(AF_INET, "198.18.0.1", &B.keel_ip);
	inet_pton(AF_INET, "198.18.0.2", &B.peer_ip);
	pc.addrs[0].addr = B.peer_ip;
	pc.addrs[0].prefix_len = 24;
	if (keel_net_create(&pc, &B.peer) < 0)
		return 1;

	r = keel_runtime_create(&cfg, &rt);
	if (r < 0) {
		fprintf(stderr, "keel_runtime_create: %s\n", keel_strerror(r));
		return 1;
	}
	r = run_bench(rt);
	keel_runtime_destroy(rt);
	if (r < 0) {
		fprintf(stderr, "echo: %s\n", keel_strerror(r));
		return 1;
	}
	s = (double)(B.t1 - B.t0) / 1e9;
	refl = (double)(B.refl_tsc - B.refl_tsc0) / (double)rte_get_tsc_hz();
	printf("mode %-6s payload %u B (frame %u B), %u in flight: %lu echoes in "
	       "%.3f s: %.2f Mpps, %.1f ns/packet on one core; without the "
	       "reflector's %.1f ns: keel %.2f Mpps, %.1f ns/packet\n",
	       modes[B.mode], B.payload, B.payload + KEEL_NET_UDP_HDRS, B.inflight,
	       (unsigned long)B.echoed, s, (double)B.echoed / s / 1e6,
	       s * 1e9 / (double)B.echoed, refl * 1e9 / (double)B.echoed,
	       (double)B.echoed / (s - refl) / 1e6,
	       (s - refl) * 1e9 / (double)B.echoed);

	for (void *m = NULL; rte_ring_dequeue(B.to_keel, &m) == 0;)
		rte_pktmbuf_free(m);
	for (void *m = NULL; rte_ring_dequeue(B.from_keel, &m) == 0;)
		rte_pktmbuf_free(m);
	rte_eth_dev_close(0);
	rte_ring_free(B.to_keel);
	rte_ring_free(B.from_keel);
	rte_mempool_free(B.pool);
	keel_net_destroy(B.peer);
	rte_eal_cleanup();
	remove_dir(dir);
	return 0;
}
