/* SPDX-License-Identifier: MIT */
/* Seeds for fuzz_query: good queries for every kind of answer, with and
 * without EDNS. usage: dns_gen_corpus DIR */
#include "dtest.h"

int main(int argc, char **argv)
{
	static const char *names[] = { "www.example.com", "WWW.Example.COM", "chain.example.com",
				       "nope.example.com", "b.c.example.com", "www.sub.example.com",
				       "example.com", "big.example.com", "example.org",
				       "loop1.example.com", "dangling.example.com" };
	static const unsigned types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_NS, DNS_T_TXT,
					  DNS_T_SOA, DNS_T_ANY, DNS_T_CNAME };
	uint8_t q[512];
	unsigned k = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: dns_gen_corpus DIR\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t += 1 + i % 3) {
			size_t n = t_query_full(q, k, names[i], types[t], k % 3 ? 1232 : 0,
						k % 7 == 0, k & 1);
			char path[512];
			FILE *f;

			snprintf(path, sizeof(path), "%s/q%03u", argv[1], k++);
			f = fopen(path, "wb");
			if (!f || fwrite(q, 1, n, f) != n || fclose(f) != 0) {
				perror(path);
				return 1;
			}
		}
	return 0;
}
