/* SPDX-License-Identifier: MIT */
/** \file
 * Socket addresses: one value type for IPv4 and IPv6, parsing and printing.
 */
#ifndef KEEL_ADDR_H
#define KEEL_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An IPv4 or IPv6 address and port (family AF_UNSPEC when empty). */
struct keel_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	};
};

/** Longest text keel_addr_format writes, with the NUL: "[v6%scope]:port". */
#define KEEL_ADDR_STRLEN 64

/**
 * Parse "A.B.C.D:PORT", "[V6]:PORT" or "[V6%IFACE]:PORT" (numeric only, no
 * name lookup).
 * \return 0, or -EINVAL (NULL, malformed address, port not in 0..65535).
 */
int keel_addr_parse(const char *text, struct keel_addr *out);

/** Build from a numeric host string and a port. -EINVAL when malformed. */
int keel_addr_from(const char *host, unsigned port, struct keel_addr *out);

/**
 * Write \p a as text into \p buf (at most \p len bytes with the NUL).
 * \return \p buf (always NUL-terminated when len > 0; "?" when \p a is empty
 *         or of an unknown family).
 */
char *keel_addr_format(const struct keel_addr *a, char *buf, size_t len);

/** Length of the sockaddr inside \p a (0 for an unknown family). */
socklen_t keel_addr_len(const struct keel_addr *a);

/** The port, host order (0 for an unknown family). */
unsigned keel_addr_port(const struct keel_addr *a);

/** Whether \p a and \p b are the same address and port. */
int keel_addr_equal(const struct keel_addr *a, const struct keel_addr *b);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_ADDR_H */
