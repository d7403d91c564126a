/* SPDX-License-Identifier: MIT */
/* Socket addresses: numeric parsing and printing, IPv4 and IPv6. */
#include <keel/addr.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, unsigned *port)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*port = (unsigned)v;
	return 0;
}

int keel_addr_from(const char *host, unsigned port, struct keel_addr *out)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *pct;

	if (!host || !out || port > 65535)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &out->in4.sin_addr) == 1) {
		out->in4.sin_family = AF_INET;
		out->in4.sin_port = htons((uint16_t)port);
		return 0;
	}
	if (strlen(host) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, host);
	pct = strchr(buf, '%');
	if (pct)
		*pct++ = '\0';
	if (inet_pton(AF_INET6, buf, &out->in6.sin6_addr) != 1)
		return -EINVAL;
	out->in6.sin6_family = AF_INET6;
	out->in6.sin6_port = htons((uint16_t)port);
	if (pct) {
		unsigned idx = if_nametoindex(pct);

		if (!idx) {
			char *end;
			unsigned long v = strtoul(pct, &end, 10);
			if (*end || !*pct || v == 0 || v > 0xffffffffu)
				return -EINVAL;
			idx = (unsigned)v;
		}
		out->in6.sin6_scope_id = idx;
	}
	return 0;
}

int keel_addr_parse(const char *text, struct keel_addr *out)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *colon, *port_s;
	unsigned port;
	size_t len;

	if (!text || !out)
		return -EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		len = (size_t)(close - text - 1);
		port_s = close + 2;
		text++;
	} else {
		colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon)
			return -EINVAL; /* v6 needs brackets */
		len = (size_t)(colon - text);
		port_s = colon + 1;
	}
	if (len == 0 || len >= sizeof(host) || parse_port(port_s, &port) < 0)
		return -EINVAL;
	memcpy(host, text, len);
	host[len] = '\0';
	return keel_addr_from(host, port, out);
}

char *keel_addr_format(const struct keel_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!buf || !len)
		return buf;
	if (a && a->sa.sa_family == AF_INET &&
	    inet_ntop(AF_INET, &a->in4.sin_addr, host, sizeof(host))) {
		snprintf(buf, len, "%s:%u", host, ntohs(a->in4.sin_port));
	} else if (a && a->sa.sa_family == AF_INET6 &&
		   inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof(host))) {
		if (a->in6.sin6_scope_id)
			snprintf(buf, len, "[%s%%%u]:%u", host,
				 a->in6.sin6_scope_id, ntohs(a->in6.sin6_port));
		else
			snprintf(buf, len, "[%s]:%u", host,
				 ntohs(a->in6.sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

socklen_t keel_addr_len(const struct keel_addr *a)
{
	if (!a)
		return 0;
	switch (a->sa.sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

unsigned keel_addr_port(const struct keel_addr *a)
{
	if (!a)
		return 0;
	if (a->sa.sa_family == AF_INET)
		return ntohs(a->in4.sin_port);
	if (a->sa.sa_family == AF_INET6)
		return ntohs(a->in6.sin6_port);
	return 0;
}

int keel_addr_equal(const struct keel_addr *a, const struct keel_addr *b)
{
	if (!a || !b || a->sa.sa_family != b->sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port &&
		       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
	return 0;
}
