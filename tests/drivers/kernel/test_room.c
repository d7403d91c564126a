/* SPDX-License-Identifier: MIT */
/*
 * A UDP sender that finds no room: the kernel driver asks for EPOLLOUT
 * only while a send waits (drivers/kernel/kernel.c, keel__kernel_want_wr),
 * so the edge that ends the wait must be armed by the send that found no
 * room. Our end of a veth pair gets a slow token-bucket qdisc, which holds
 * each datagram (charged to the socket) until it may leave; with the
 * smallest send buffer, sends soon find it full. Every send must still
 * complete, the one-datagram call and the batch call alike, each wait
 * ended by an edge (a lost one is a send that waits for the bound: the
 * test then runs into its 60 s limit).
 */
#include "ktest.h"
#include "netns.h"

#define N     48   /* datagrams sent by each call */
#define SIZE  1200 /* bytes each: 3-4 fill the smallest send buffer */
#define BATCH 8

static struct keel_netns_pair pair;

struct room_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r;
	struct keel_udp s;
	struct keel_addr to;
	struct keel_dgram d[BATCH];
	struct keel_driver_stats before;
	unsigned sent, waits, batch_waits;
	char buf[SIZE];
};

/* The value of a send, counting the times it had to wait. */
static intptr_t seen(struct room_frame *f, intptr_t r)
{
	if (r == KEEL_PENDING)
		f->waits++;
	return r;
}

static intptr_t seen_batch(struct room_frame *f, intptr_t r)
{
	if (r == KEEL_PENDING)
		f->batch_waits++;
	return seen(f, r);
}

static intptr_t room_body(void *frame, struct keel_cx *cx)
{
	struct room_frame *f = frame;
	struct keel_udp_opts o = { .sndbuf = 1 }; /* the kernel's minimum */
	struct keel_addr any;

	KEEL_BEGIN(f);
	any = kt_addr(pair.addr, 0);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &any, &o), 0);
	/* The peer listens nowhere: its port-unreachable answers are not
	 * reported to an unconnected socket. */
	f->to = kt_addr(pair.peer_addr, 9);
	memset(f->buf, 'r', sizeof(f->buf));
	f->before = kt_stats(cx);

	for (f->sent = 0; f->sent < N; f->sent++) {
		KT_AWAIT(f, seen(f, keel_udp_send_to(cx, &f->s, f->buf, SIZE, &f->to)));
		cr_assert_eq(f->r, SIZE, "send %u: %s (-ETIMEDOUT: no edge ended the wait)",
			     f->sent, f->r < 0 ? keel_strerror((int)f->r) : "short");
	}
	cr_assert_gt(f->waits, 0, "no send found the buffer full: the test proves nothing");

	for (unsigned i = 0; i < BATCH; i++)
		f->d[i] = (struct keel_dgram){ .buf = f->buf, .cap = SIZE, .peer = f->to };
	for (f->sent = 0; f->sent < N; f->sent += (unsigned)f->r) {
		KT_AWAIT(f, seen_batch(f, keel_udp_send_batch(cx, &f->s, f->d, BATCH)));
		cr_assert_gt(f->r, 0, "batch at %u: %s (-ETIMEDOUT: no edge ended the wait)",
			     f->sent, f->r < 0 ? keel_strerror((int)f->r) : "none sent");
	}
	cr_assert_gt(f->batch_waits, 0, "no batch found the buffer full");
	/* Each wait ended by an edge, not by the bound (the send is tried
	 * again when the bound fires, and by then there is room). */
	cr_assert_geq(kt_stats(cx).events - f->before.events, f->waits,
		      "%u waits, %llu edges", f->waits,
		      (unsigned long long)(kt_stats(cx).events - f->before.events));
	cr_assert_geq(kt_stats(cx).tx_packets, f->before.tx_packets + 2 * N);
	cr_assert_eq(kt_stats(cx).tx_dropped, f->before.tx_dropped);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	KEEL_END(f);
}

Test(room, sends_wait_for_room_and_all_go, .timeout = 60, .fini = keel_netns_cleanup)
{
	struct keel_netns_opts o = { .queues = 1 };
	struct keel_config cfg = kt_config();
	struct keel_runtime *rt;
	struct room_frame f = { 0 };
	int rc = keel_netns_pair_create(&pair, 41, &o);

	KEEL_NETNS_SKIP_UNLESS(rc, &pair);
	/* 2 Mbit/s: a datagram leaves every 5 ms, so the buffer fills. */
	rc = keel_netns_run("tc qdisc add dev %s root tbf rate 2mbit burst 3000 limit 100000",
			    pair.ifname);
	cr_assert_eq(rc, 0, "tc qdisc add (tc from iproute2)");
	rc = keel_runtime_create(&cfg, &rt);
	cr_assert_eq(rc, 0, "runtime: %s", keel_strerror(rc));
	cr_assert_eq(keel_runtime_block_on(rt, room_body, NULL, &f, sizeof(f)), 0);
	keel_runtime_destroy(rt);
}
