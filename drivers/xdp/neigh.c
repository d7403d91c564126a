/* SPDX-License-Identifier: MIT */
/*
 * Neighbours from the kernel. keel's XDP program passes ARP to the kernel,
 * which keeps answering for the interface's addresses and keeps its own
 * neighbour table; rather than run a second ARP state machine on the same
 * wire (whose replies the kernel would then miss, or steal), the driver
 * feeds net/'s neighbour cache from the kernel's table:
 *
 *  - an rtnetlink socket subscribed to RTNLGRP_NEIGH delivers every change
 *    of the kernel's table; entries of our interface with a MAC go into
 *    net/ with keel_net_neigh_set, which releases the datagrams that
 *    waited for them;
 *  - when net/ wants a next hop asked for (it built an ARP request), the
 *    driver asks the kernel instead: RTM_GETNEIGH for the address; if the
 *    kernel has no usable entry, RTM_NEWNEIGH with NTF_USE makes it
 *    resolve one (as `ip neigh replace ADDR dev IFACE use` does), and the
 *    change comes back as a notification. NTF_USE is never sent for an
 *    entry that is reachable or permanent, which it would disturb.
 *
 * net/ keeps its own timers: a next hop that stays unresolved is asked
 * for again every second and its datagrams are dropped (counted
 * arp_timeout) after three tries.
 */
#include "xdp_internal.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdalign.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NUD_HAS_MAC                                                           \
	(NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT |  \
	 NUD_NOARP)
#define NUD_SURE (NUD_REACHABLE | NUD_PERMANENT | NUD_NOARP)

int keel__xdp_neigh_open(struct keel__xdp *d)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_NEIGH,
	};
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	d->nl_fd = fd;
	return 0;
}

void keel__xdp_neigh_close(struct keel__xdp *d)
{
	if (d->nl_fd >= 0)
		close(d->nl_fd);
	d->nl_fd = -1;
}

static void nl_send(struct keel__xdp *d, uint16_t type, uint16_t flags,
		    uint8_t ndm_flags, uint16_t state, uint32_t ip)
{
	struct {
		struct nlmsghdr h;
		struct ndmsg n;
		struct rtattr a;
		uint32_t ip;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	if (++d->nl_seq == 0)
		d->nl_seq = 1; /* 0 marks notifications */
	req.h.nlmsg_seq = d->nl_seq;
	req.n.ndm_family = AF_INET;
	req.n.ndm_ifindex = d->ifindex;
	req.n.ndm_state = state;
	req.n.ndm_flags = ndm_flags;
	req.a.rta_type = NDA_DST;
	req.a.rta_len = RTA_LENGTH(sizeof(ip));
	req.ip = ip;
	/* A full socket buffer loses this one: net/ asks again in 1 s. */
	sendto(d->nl_fd, &req, sizeof(req), MSG_DONTWAIT,
	       (struct sockaddr *)&kernel, sizeof(kernel));
}

/* Make the kernel resolve (or re-confirm) \p ip. */
static void nl_use(struct keel__xdp *d, uint32_t ip)
{
	nl_send(d, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, NTF_USE,
		NUD_PERMANENT, ip);
}

void keel__xdp_neigh_ask(struct keel__xdp *d, uint32_t ip)
{
	if (d->nl_fd < 0)
		return;
	nl_send(d, RTM_GETNEIGH, 0, 0, 0, ip);
	KEEL__XSTAT_ADD(d, neigh_asks, 1);
	/* Read the answers promptly for a while (see xdp_poll). */
	d->nl_asking_until = d->now + 3000 * 1000000ull;
	d->nl_next = 0;
}

/* NDA_DST and NDA_LLADDR of a neighbour message body (after ndmsg). */
static void parse_attrs(const uint8_t *p, size_t len, uint32_t *ip,
			const uint8_t **mac)
{
	while (len >= sizeof(struct rtattr)) {
		struct rtattr a;
		size_t alen;

		memcpy(&a, p, sizeof(a));
		if (a.rta_len < sizeof(a) || a.rta_len > len)
			return;
		alen = a.rta_len - RTA_LENGTH(0);
		if (a.rta_type == NDA_DST && alen == 4)
			memcpy(ip, p + RTA_LENGTH(0), 4);
		else if (a.rta_type == NDA_LLADDR && alen == 6)
			*mac = p + RTA_LENGTH(0);
		if (RTA_ALIGN(a.rta_len) >= len)
			return;
		len -= RTA_ALIGN(a.rta_len);
		p += RTA_ALIGN(a.rta_len);
	}
}

/* A neighbour entry: a notification (seq 0) or the answer to our ask. */
static unsigned on_neigh(struct keel__xdp *d, const uint8_t *msg, size_t len,
			 bool answer)
{
	struct ndmsg n;
	const uint8_t *mac = NULL;
	uint32_t ip = 0;

	if (len < NLMSG_LENGTH(sizeof(n)))
		return 0;
	memcpy(&n, msg + NLMSG_HDRLEN, sizeof(n));
	if (n.ndm_family != AF_INET || n.ndm_ifindex != d->ifindex)
		return 0;
	parse_attrs(msg + NLMSG_SPACE(sizeof(n)), len - NLMSG_SPACE(sizeof(n)),
		    &ip, &mac);
	if (!ip || keel_net_route(d->net, ip) != ip)
		return 0; /* not a neighbour of ours */
	if (mac && (n.ndm_state & NUD_HAS_MAC) &&
	    keel_net_neigh_set(d->net, ip, mac, d->now, 0) == 0) {
		KEEL__XSTAT_ADD(d, neigh_updates, 1);
		d->tx_released = true;
	}
	/* The kernel's entry is doubtful (stale, failed, incomplete): have
	 * it confirm or resolve, the outcome arrives as a notification. */
	if (answer && !(n.ndm_state & NUD_SURE))
		nl_use(d, ip);
	return 1;
}

/* An error answer: the kernel has no entry for an address we asked. */
static unsigned on_error(struct keel__xdp *d, const uint8_t *msg, size_t len)
{
	struct nlmsgerr e;
	const uint8_t *mac = NULL;
	uint32_t ip = 0;
	size_t body = NLMSG_HDRLEN + sizeof(e);

	if (len < body)
		return 0;
	memcpy(&e, msg + NLMSG_HDRLEN, sizeof(e));
	if (e.error != -ENOENT || e.msg.nlmsg_type != RTM_GETNEIGH)
		return 0;
	/* The request is echoed after the error: its NDA_DST is the ask. */
	if (len < body + NLMSG_ALIGN(sizeof(struct ndmsg)))
		return 0;
	parse_attrs(msg + body + NLMSG_ALIGN(sizeof(struct ndmsg)),
		    len - body - NLMSG_ALIGN(sizeof(struct ndmsg)), &ip, &mac);
	if (ip)
		nl_use(d, ip);
	return 1;
}

unsigned keel__xdp_neigh_input(struct keel__xdp *d)
{
	alignas(struct nlmsghdr) uint8_t buf[8192];
	unsigned handled = 0;

	if (d->nl_fd < 0)
		return 0;
	for (int round = 0; round < 8; round++) {
		ssize_t got = recv(d->nl_fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t off = 0, len;

		if (got < 0) {
			if (errno == ENOBUFS || errno == EINTR)
				continue; /* overrun: notifications lost, go on */
			break;
		}
		len = (size_t)got;
		while (off + NLMSG_HDRLEN <= len) {
			struct nlmsghdr h;

			memcpy(&h, buf + off, sizeof(h));
			if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off)
				break;
			if (h.nlmsg_type == RTM_NEWNEIGH)
				handled += on_neigh(d, buf + off, h.nlmsg_len,
						    h.nlmsg_seq != 0);
			else if (h.nlmsg_type == NLMSG_ERROR)
				handled += on_error(d, buf + off, h.nlmsg_len);
			off += NLMSG_ALIGN(h.nlmsg_len);
		}
	}
	return handled;
}
