/* SPDX-License-Identifier: MIT */
/*
 * The text after "dpdk:" in --driver=dpdk:ARGS, parsed into options.
 *
 * ARGS is split on whitespace (no quoting: EAL arguments and vdev strings
 * have no spaces). A lone "--" separates keel's options from EAL's
 * arguments; without one, the whole text is EAL's when it starts with '-'
 * and keel's otherwise. keel's options are key=value, separated by commas
 * or spaces. Every mistake is named on stderr with what was expected.
 */
#include "dpdk_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PFX "keel: dpdk driver: "

static int bad(const char *key, const char *val, const char *want)
{
	keel_log(KEEL_LOG_ERROR, PFX "bad value '%s' for %s (%s)", val, key, want);
	return -EINVAL;
}

static int parse_uint(const char *key, const char *val, unsigned long lo,
		      unsigned long hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || errno || *end || v < lo || v > hi) {
		keel_log(KEEL_LOG_ERROR, PFX "bad value '%s' for %s (%lu..%lu)", val,
			key, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_ip(const char *key, const char *val, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, val, &a) != 1)
		return bad(key, val, "an IPv4 address A.B.C.D");
	*out = a.s_addr;
	return 0;
}

static int parse_ifaddr(struct keel__dpdk_opts *o, char *val)
{
	char *slash = strchr(val, '/');
	unsigned len;
	uint32_t ip;
	int rc;

	if (o->n_addrs == KEEL_NET_MAX_ADDRS) {
		keel_log(KEEL_LOG_ERROR, PFX "at most %d ip= options", KEEL_NET_MAX_ADDRS);
		return -EINVAL;
	}
	if (!slash)
		return bad("ip", val, "A.B.C.D/PREFIXLEN, e.g. 198.18.0.1/24");
	*slash = '\0';
	rc = parse_ip("ip", val, &ip);
	*slash = '/';
	if (rc < 0)
		return rc;
	rc = parse_uint("ip prefix length", slash + 1, 1, 32, &len);
	if (rc < 0)
		return rc;
	o->addrs[o->n_addrs].addr = ip;
	o->addrs[o->n_addrs].prefix_len = (uint8_t)len;
	o->n_addrs++;
	return 0;
}

static int parse_mac(const char *val, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(val, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return bad("mac", val, "XX:XX:XX:XX:XX:XX");
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if (mac[0] & 1)
		return bad("mac", val, "a unicast MAC");
	return 0;
}

static int parse_choice(const char *key, const char *val, const char *yes,
			const char *no, bool *out)
{
	if (strcmp(val, yes) == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(val, no) == 0) {
		*out = false;
		return 0;
	}
	keel_log(KEEL_LOG_ERROR, PFX "bad value '%s' for %s (%s or %s)", val, key,
		yes, no);
	return -EINVAL;
}

static int parse_option(struct keel__dpdk_opts *o, char *tok)
{
	char *eq = strchr(tok, '=');
	const char *key = tok;
	char *val;

	if (!eq || eq == tok) {
		keel_log(KEEL_LOG_ERROR, PFX "'%s' is not a keel option (key=value; EAL "
			"arguments go after a lone --)", tok);
		return -EINVAL;
	}
	*eq = '\0';
	val = eq + 1;
	if (strcmp(key, "ip") == 0)
		return parse_ifaddr(o, val);
	if (strcmp(key, "gw") == 0)
		return parse_ip(key, val, &o->gw);
	if (strcmp(key, "port") == 0) {
		unsigned id;

		if (isdigit((unsigned char)val[0])) {
			if (parse_uint(key, val, 0, RTE_MAX_ETHPORTS - 1, &id) < 0)
				return -EINVAL;
			o->port_id = id;
			return 0;
		}
		if (!val[0] || strlen(val) >= sizeof(o->port_name))
			return bad(key, val, "a port number or device name");
		o->port_id = -1;
		strcpy(o->port_name, val);
		return 0;
	}
	if (strcmp(key, "queues") == 0) {
		o->has_queues = true;
		return parse_uint(key, val, 1, KEEL__DPDK_MAX_QUEUES, &o->queues);
	}
	if (strcmp(key, "queue") == 0)
		return parse_uint(key, val, 0, KEEL__DPDK_MAX_QUEUES - 1, &o->queue);
	if (strcmp(key, "rxd") == 0)
		return parse_uint(key, val, 32, 16384, &o->rxd);
	if (strcmp(key, "txd") == 0)
		return parse_uint(key, val, 32, 16384, &o->txd);
	if (strcmp(key, "mbufs") == 0)
		return parse_uint(key, val, 64, 1u << 24, &o->mbufs);
	if (strcmp(key, "sockq") == 0)
		return parse_uint(key, val, 1, 32768, &o->sockq);
	if (strcmp(key, "txbuf") == 0)
		return parse_uint(key, val, KEEL__DPDK_BURST, 32768, &o->txbuf);
	if (strcmp(key, "mtu") == 0)
		return parse_uint(key, val, 68, 1500, &o->mtu);
	if (strcmp(key, "mac") == 0) {
		o->has_mac = true;
		return parse_mac(val, o->mac);
	}
	if (strcmp(key, "park") == 0)
		return parse_choice(key, val, "busy", "sleep", &o->busy);
	if (strcmp(key, "csum") == 0)
		return parse_choice(key, val, "sw", "auto", &o->csum_sw);
	if (strcmp(key, "garp") == 0)
		return parse_choice(key, val, "1", "0", &o->garp);
	keel_log(KEEL_LOG_ERROR, PFX "unknown option '%s' (ip, gw, port, queues, queue, rxd, "
		"txd, mbufs, sockq, txbuf, mtu, mac, park, csum, garp)", key);
	return -EINVAL;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Note which of the EAL options keel would otherwise add were given. */
static void scan_eal(struct keel__dpdk_opts *o)
{
	for (int i = 0; i < o->eal_argc; i++) {
		const char *a = o->eal_argv[i];

		if (starts_with(a, "--file-prefix"))
			o->user_prefix = true;
		else if (starts_with(a, "--log-level"))
			o->user_log = true;
		else if (starts_with(a, "--lcores") || starts_with(a, "-l") ||
			 starts_with(a, "-c"))
			o->user_lcores = true;
	}
}

static int join_eal_text(struct keel__dpdk_opts *o)
{
	size_t len = 1;

	for (int i = 0; i < o->eal_argc; i++)
		len += strlen(o->eal_argv[i]) + 1;
	o->eal_text = calloc(1, len);
	if (!o->eal_text)
		return -ENOMEM;
	for (int i = 0; i < o->eal_argc; i++) {
		if (i)
			strcat(o->eal_text, " ");
		strcat(o->eal_text, o->eal_argv[i]);
	}
	return 0;
}

int keel__dpdk_opts_parse(const char *args, struct keel__dpdk_opts *o)
{
	char **tok = NULL;
	int ntok = 0, sep = -1, first_eal, rc = 0;
	char *p, *save = NULL;

	memset(o, 0, sizeof(*o));
	o->port_id = 0;
	o->queues = 1;
	o->rxd = 512;
	o->txd = 512;
	o->sockq = 512;
	o->txbuf = 256;
	o->busy = true;
	o->garp = true;
	if (!args || !*args) {
		keel_log(KEEL_LOG_ERROR, PFX "no arguments: --driver='dpdk:ip=A.B.C.D/LEN -- "
			"EAL-ARGS' (e.g. dpdk:ip=198.18.0.1/24 -- --no-huge "
			"--no-pci -m 256 --vdev=net_ring0)");
		return -EINVAL;
	}
	o->buf = strdup(args);
	tok = calloc(strlen(args) / 2 + 2, sizeof(*tok));
	if (!o->buf || !tok) {
		rc = -ENOMEM;
		goto out;
	}
	for (p = strtok_r(o->buf, " \t\n", &save); p;
	     p = strtok_r(NULL, " \t\n", &save)) {
		if (sep < 0 && strcmp(p, "--") == 0)
			sep = ntok;
		tok[ntok++] = p;
	}
	if (sep >= 0)
		first_eal = sep + 1;
	else
		first_eal = ntok && tok[0][0] == '-' ? 0 : ntok;

	for (int i = 0; i < (sep >= 0 ? sep : first_eal) && rc == 0; i++) {
		char *opt, *s2 = NULL;

		for (opt = strtok_r(tok[i], ",", &s2); opt && rc == 0;
		     opt = strtok_r(NULL, ",", &s2))
			rc = parse_option(o, opt);
	}
	if (rc < 0)
		goto out;
	if (!o->n_addrs) {
		keel_log(KEEL_LOG_ERROR, PFX "no local address: add ip=A.B.C.D/LEN before the "
			"EAL arguments (e.g. dpdk:ip=198.18.0.1/24 -- "
			"--no-huge ...)");
		rc = -EINVAL;
		goto out;
	}
	o->eal_argc = ntok - first_eal;
	if (o->eal_argc > 0) {
		o->eal_argv = calloc((size_t)o->eal_argc, sizeof(char *));
		if (!o->eal_argv) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(o->eal_argv, tok + first_eal,
		       (size_t)o->eal_argc * sizeof(char *));
		scan_eal(o);
	}
	rc = join_eal_text(o);
out:
	free(tok);
	if (rc < 0)
		keel__dpdk_opts_free(o);
	return rc;
}

void keel__dpdk_opts_free(struct keel__dpdk_opts *o)
{
	free(o->eal_argv);
	free(o->eal_text);
	free(o->buf);
	o->eal_argv = NULL;
	o->eal_text = NULL;
	o->buf = NULL;
	o->eal_argc = 0;
}
