/* SPDX-License-Identifier: MIT */
/* Sources the kernel driver does not answer: see source.h. */
#include "source.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <time.h>

#define REFRESH_NS 1000000000ull

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void refresh(struct keel__ksrc *c, uint64_t now)
{
	struct ifaddrs *list, *i;

	c->read_at = now ? now : 1;
	if (getifaddrs(&list) < 0)
		return; /* keep the old table */
	c->n = 0;
	for (i = list; i && c->n < KEEL__KSRC_MAX; i = i->ifa_next) {
		uint32_t a, m;

		if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET)
			continue;
		a = ((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr;
		m = ((const struct sockaddr_in *)(const void *)i->ifa_netmask)->sin_addr.s_addr;
		if (ntohl(m) > 0xfffffffcu) /* /31, /32: no broadcast (RFC 3021) */
			continue;
		c->sub[c->n].net = a & m;
		c->sub[c->n].mask = m;
		c->n++;
	}
	freeifaddrs(list);
}

static bool v4_bad(struct keel__ksrc *c, uint32_t src)
{
	uint32_t h = ntohl(src), low = h & 3u;
	uint64_t now;

	/* The kernel's martians, should one get through (loopback is not
	 * one here: it is the source of everything sent on lo). */
	if (h == 0xffffffffu || (h >> 28) == 0xe || (h >> 24) == 0)
		return true;
	/* A directed broadcast ends in binary 11, a network address in 00,
	 * for any prefix up to /30: other sources need no table. */
	if (low != 0 && low != 3)
		return false;
	now = coarse_ns();
	if (!c->read_at || now - c->read_at >= REFRESH_NS)
		refresh(c, now);
	for (unsigned i = 0; i < c->n; i++) {
		uint32_t m = c->sub[i].mask;

		if ((src & m) != c->sub[i].net)
			continue;
		if ((src & ~m) == 0 || (src & ~m) == ~m)
			return true;
	}
	return false;
}

bool keel__ksrc_bad(struct keel__ksrc *c, const struct keel_addr *from)
{
	if (from->sa.sa_family == AF_INET)
		return !from->in4.sin_port || v4_bad(c, from->in4.sin_addr.s_addr);
	if (from->sa.sa_family == AF_INET6)
		return !from->in6.sin6_port || from->in6.sin6_addr.s6_addr[0] == 0xff;
	return false;
}
