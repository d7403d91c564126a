/* SPDX-License-Identifier: MIT */
/* drivers/xdp/keel_xdp.bpf.c and prog.c: keel takes only its own ports;
 * the kernel keeps everything else on the interface (other UDP ports,
 * ICMP, TCP, ARP). Attach modes, busy-polling, and teardown leaving the
 * interface as it was. */
#include "xtest.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <dirent.h>

struct scope_frame {
	struct keel_co co;
	struct keel_timer t;
	intptr_t r, r2;
	unsigned spin;
	int pfd, kfd, lfd, cfd;
	struct keel_udp s;
	struct keel_addr ka, kb, pa;
	struct keel_xdp_stats st;
	char buf[256];
};

XT_TEST(scope, other_traffic_stays_with_the_kernel, struct scope_frame, "")
{
	KEEL_BEGIN(f);
	f->ka = xt_ours(XT_PORT);
	f->kb = xt_ours(XT_PORT + 1);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);

	/* A kernel UDP socket on another port of the same address. */
	f->kfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(f->kfd, &f->kb.sa, sizeof(f->kb.in4)), 0);
	xt_ksend(f->pfd, "kernel", 6, &f->kb);
	XT_KRECV(f, f->kfd, f->buf, sizeof(f->buf));
	cr_assert_eq(f->r, 6, "the kernel socket got its datagram (%ld)",
		     (long)f->r);
	cr_assert_arr_eq(f->buf, "kernel", 6);

	/* keel's port still goes to keel */
	xt_ksend(f->pfd, "keel", 4, &f->ka);
	XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 4);
	cr_assert_arr_eq(f->buf, "keel", 4);

	/* ping to our address: the kernel answers (the program passes ICMP) */
	cr_assert_eq(keel_netns_peer_run(&xt_pair,
					 "ping -c 2 -i 0.2 -W 2 %s >/dev/null",
					 xt_pair.addr), 0,
		     "ping from the peer to %s answered", xt_pair.addr);

	/* TCP to a kernel listener: handshake and data through the kernel */
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(f->lfd, &f->ka.sa, sizeof(f->ka.in4)), 0,
		     "TCP port %d is not keel's", XT_PORT);
	cr_assert_eq(listen(f->lfd, 4), 0);
	f->cfd = keel_netns_peer_socket(&xt_pair, AF_INET,
					SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->cfd, 0);
	cr_assert_eq(connect(f->cfd, &f->ka.sa, sizeof(f->ka.in4)), 0,
		     "TCP connect from the peer: %s", strerror(errno));
	cr_assert_eq(write(f->cfd, "tcp", 3), 3);
	{
		int c = accept(f->lfd, NULL, NULL);

		cr_assert_geq(c, 0);
		cr_assert_eq(read(c, f->buf, sizeof(f->buf)), 3);
		close(c);
	}
	close(f->cfd);
	close(f->lfd);

	f->st = xt_stats(cx);
	cr_assert_eq(f->st.no_socket, 0);
	cr_assert_eq(f->st.not_udp, 0, "nothing but keel's UDP came to keel");
	cr_assert_eq(f->st.base.rx_packets, 1);
	close(f->kfd);
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

/* After close, the port is the kernel's again: its datagrams reach a
 * kernel socket, not the (no longer listening) AF_XDP socket. */
XT_TEST(scope, closed_port_goes_back_to_the_kernel, struct scope_frame, "")
{
	KEEL_BEGIN(f);
	f->ka = xt_ours(XT_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	cr_assert_eq(keel_udp_close(&f->s), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);
	f->kfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(f->kfd, &f->ka.sa, sizeof(f->ka.in4)), 0);
	xt_ksend(f->pfd, "back", 4, &f->ka);
	XT_KRECV(f, f->kfd, f->buf, sizeof(f->buf));
	cr_assert_eq(f->r, 4);
	f->st = xt_stats(cx);
	cr_assert_eq(f->st.no_socket, 0, "the program no longer takes it");
	close(f->kfd);
	close(f->pfd);
	KEEL_END(f);
}

/* ------------------------------------------------------------ modes */

/* One exchange each way; \p native says which mode must be running. */
static intptr_t exchange(struct scope_frame *f, struct keel_cx *cx, int native,
			 bool busy)
{
	KEEL_BEGIN(f);
	f->st = xt_stats(cx);
	if (native >= 0)
		cr_assert_eq(f->st.native, native, "attached in %s mode",
			     native ? "native" : "generic");
	cr_assert_eq(f->st.busy, busy);
	cr_assert_eq(f->st.zerocopy, false, "veth is copy mode only");
	f->ka = xt_ours(XT_PORT);
	f->pa = xt_peer(XT_PEER_PORT);
	cr_assert_eq(keel_udp_bind(cx, &f->s, &f->ka, NULL), 0);
	f->pfd = xt_peer_udp(XT_PEER_PORT);
	xt_ksend(f->pfd, "ping", 4, &f->ka);
	XT_AWAIT(f, keel_udp_recv_from(cx, &f->s, f->buf, sizeof(f->buf), NULL));
	cr_assert_eq(f->r, 4);
	XT_AWAIT(f, keel_udp_send_to(cx, &f->s, "pong", 4, &f->pa));
	cr_assert_eq(f->r, 4);
	XT_KRECV(f, f->pfd, f->buf, sizeof(f->buf));
	cr_assert_eq(f->r, 4);
	cr_assert_arr_eq(f->buf, "pong", 4);
	if (!busy)
		cr_assert_gt(xt_stats(cx).base.parks, 0, "it slept in poll(2)");
	close(f->pfd);
	keel_udp_close(&f->s);
	KEEL_END(f);
}

XT_TEST(scope, mode_native, struct scope_frame, ",mode=native")
{
	return exchange(f, cx, 1, false);
}

XT_TEST(scope, mode_generic, struct scope_frame, ",mode=generic")
{
	return exchange(f, cx, 0, false);
}

XT_TEST(scope, mode_auto_prefers_native, struct scope_frame, "")
{
	return exchange(f, cx, 1, false);
}

XT_TEST(scope, busy_poll, struct scope_frame, ",busy")
{
	return exchange(f, cx, -1, true);
}

static intptr_t exchange_generic(void *frame, struct keel_cx *cx)
{
	return exchange(frame, cx, 0, false);
}

/* veth refuses native XDP when the peer's MTU is above 3506: auto falls
 * back to generic (and says so), native fails with a clear message. */
Test(scope, auto_falls_back_to_generic, .timeout = 60, .fini = xt_fini)
{
	struct keel_netns_opts o = { .mtu = 3600 };
	struct keel_runtime *rt;

	xt_up(&o);
	cr_assert_lt(xt_runtime(",mode=native", &rt), 0,
		     "native mode refused on a 3600-byte MTU veth");
	cr_assert_geq(xt_block_on("", exchange_generic, NULL,
				  sizeof(struct scope_frame)), 0);
}

/* ---------------------------------------------------------- teardown */

static int open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(dir);
	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

static intptr_t bind_and_leak(void *frame, struct keel_cx *cx)
{
	struct scope_frame *f = frame;

	f->ka = xt_ours(XT_PORT);
	/* left open on purpose: destroy closes it */
	return keel_udp_bind(cx, &f->s, &f->ka, NULL);
}

/* Destroying the runtime detaches the program, closes every fd (leaked
 * sockets included) and gives the port back. */
Test(scope, teardown_leaves_the_interface_clean, .timeout = 60, .fini = xt_fini)
{
	struct keel_addr ka;
	int before, fd;

	xt_up(NULL);
	before = open_fds();
	for (int i = 0; i < 3; i++)
		cr_assert_eq(xt_block_on("", bind_and_leak, NULL,
					 sizeof(struct scope_frame)), 0);
	cr_assert_eq(open_fds(), before, "no fd left behind");
	cr_assert_neq(keel_netns_run("ip link show dev %s | grep -q xdp",
				     xt_pair.ifname), 0,
		      "no XDP program left on %s", xt_pair.ifname);
	ka = xt_ours(XT_PORT);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(fd, &ka.sa, sizeof(ka.in4)), 0, "port released");
	close(fd);
}
