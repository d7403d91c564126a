/* SPDX-License-Identifier: MIT */
/*
 * What the instances of one process share: EAL, the ports they use, and
 * the mempools of those ports' queues. All of it is set up by the first
 * instance that needs it and taken down by the last, under one mutex;
 * nothing here runs on the per-packet path.
 *
 * EAL can be started once per process. keel starts it when the first
 * instance brings EAL arguments, and cleans it up when the last instance
 * (of any runtime) is destroyed; after that a new runtime gets -EALREADY.
 * An instance without EAL arguments joins the running EAL: keel's own, or
 * one the application started, which keel then never cleans up.
 *
 * Mempools outlive the ports they were made for: an mbuf can travel from
 * one port's pool to another port (ring pairs, forwarding) and be freed
 * there later. They are kept until EAL is cleaned up, and reused by later
 * runtimes asking for the same port, queue and size; with the
 * application's EAL a pool is freed as soon as all its mbufs are home.
 */
#include "dpdk_internal.h"

#include <keel/log.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PFX "keel: dpdk driver: "

enum eal_state {
	EAL_DOWN,  /* not started */
	EAL_OURS,  /* started by keel */
	EAL_APP,   /* started by the application */
	EAL_GONE,  /* keel cleaned it up: it cannot start again */
};

struct pool_ent {
	struct rte_mempool *mp;
	uint16_t port, queue;
	unsigned n;
	bool used;
};

static struct {
	pthread_mutex_t lock;
	enum eal_state state;
	unsigned users;			/* instances alive */
	char *text;			/* EAL arguments keel started with */
	char *rundir;			/* its runtime directory, if keel named it */
	struct keel__dpdk_port *ports[RTE_MAX_ETHPORTS];
	struct pool_ent *pools;
	unsigned npools, pools_cap, pool_gen;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

bool keel__dpdk_eal_owned(void)
{
	return g.state == EAL_OURS;
}

/* -------------------------------------------------------------------- EAL */

/* Where EAL keeps its per-prefix files (eal_get_runtime_dir's rule). */
static void runtime_base(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (getuid() == 0 || !xdg)
		snprintf(buf, len, "%s", getuid() == 0 ? "/var/run/dpdk" : "/tmp/dpdk");
	else
		snprintf(buf, len, "%s/dpdk", xdg);
}

/* Remove an EAL runtime directory (a few MiB of files on tmpfs). */
static void remove_dir(const char *path)
{
	DIR *sub = opendir(path);

	if (!sub)
		return;
	for (struct dirent *f; (f = readdir(sub));)
		if (strcmp(f->d_name, ".") && strcmp(f->d_name, ".."))
			unlinkat(dirfd(sub), f->d_name, 0);
	closedir(sub);
	rmdir(path);
}

/*
 * Remove the runtime directories keel generated for processes that are
 * gone (killed before rte_eal_cleanup). They break nothing, but would pile
 * up on tmpfs, a few MiB per killed process.
 */
static void clean_stale_prefixes(void)
{
	char base[256], path[512];
	struct dirent *e;
	DIR *dir;

	runtime_base(base, sizeof(base));
	dir = opendir(base);
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char *end;
		long pid;

		if (strncmp(e->d_name, "keel-", 5) != 0)
			continue;
		pid = strtol(e->d_name + 5, &end, 10);
		if (*end || pid <= 0 || pid == getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		remove_dir(path);
	}
	closedir(dir);
}

/* Whether an EAL the application started is running. */
static bool app_eal_running(void)
{
	return rte_lcore_count() > 0 && rte_eal_get_runtime_dir()[0] != '\0';
}

/* One line EAL wrote, to keel's log (without its newline). */
static void replay(const char *line)
{
	keel_log(KEEL_LOG_ERROR, "%.*s", (int)strcspn(line, "\n"), line);
}

/* Pass what EAL wrote to stderr (in \p f) to keel's log, each line once. */
static void replay_once(FILE *f)
{
	char lines[32][256];
	unsigned n = 0;

	rewind(f);
	while (n < 32 && fgets(lines[n], sizeof(lines[n]), f)) {
		bool seen = false;

		for (unsigned i = 0; i < n && !seen; i++)
			seen = strcmp(lines[i], lines[n]) == 0;
		if (!seen)
			replay(lines[n++]);
	}
	while (fgets(lines[0], sizeof(lines[0]), f)) /* past 32: as they are */
		replay(lines[0]);
}

static int eal_start(const struct keel__dpdk_opts *o)
{
	char prefix[64], lcore[16], *argv[64];
	int argc = 0, rc, err, saved_optind = optind, saved_opterr = opterr;
	int saved_optopt = optopt, quiet_out, saved_err, devnull;
	char *saved_optarg = optarg;
	FILE *errlog;
	cpu_set_t cpus;
	bool restore = false;

	if (o->eal_argc + 8 > 64) {
		keel_log(KEEL_LOG_ERROR, PFX "too many EAL arguments (%d)", o->eal_argc);
		return -E2BIG;
	}
	argv[argc++] = (char *)"keel";
	for (int i = 0; i < o->eal_argc; i++)
		argv[argc++] = o->eal_argv[i];
	if (!o->user_prefix) {
		clean_stale_prefixes();
		snprintf(prefix, sizeof(prefix), "--file-prefix=keel-%ld",
			 (long)getpid());
		argv[argc++] = prefix;
	}
	if (!o->user_lcores &&
	    pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus) == 0) {
		/* Main lcore on a CPU we may use; EAL pins this thread to
		 * it, and the pinning is undone after init. */
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &cpus)) {
				snprintf(lcore, sizeof(lcore), "-l%d", c);
				argv[argc++] = lcore;
				restore = true;
				break;
			}
	}
	if (!o->user_log)
		argv[argc++] = (char *)"--log-level=notice";
	argv[argc] = NULL;

	/* On a bad argument EAL prints getopt's complaint twice (it parses
	 * twice) and its 100-line usage on stdout: the usage goes to
	 * /dev/null (only it is printed on stdout), stderr to a file that is
	 * replayed without repeated lines. */
	fflush(stdout);
	fflush(stderr);
	quiet_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	errlog = tmpfile();
	if (quiet_out >= 0 && devnull >= 0)
		dup2(devnull, STDOUT_FILENO);
	if (saved_err >= 0 && errlog)
		dup2(fileno(errlog), STDERR_FILENO);
	optind = 1;
	rc = rte_eal_init(argc, argv);
	err = rte_errno;
	fflush(stdout);
	fflush(stderr);
	if (quiet_out >= 0) {
		dup2(quiet_out, STDOUT_FILENO);
		close(quiet_out);
	}
	if (saved_err >= 0) {
		dup2(saved_err, STDERR_FILENO);
		close(saved_err);
	}
	if (devnull >= 0)
		close(devnull);
	if (errlog) {
		replay_once(errlog);
		fclose(errlog);
	}
	optind = saved_optind;
	opterr = saved_opterr;
	optopt = saved_optopt;
	optarg = saved_optarg;
	if (restore)
		pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	if (rc < 0) {
		if (err == EALREADY) {
			keel_log(KEEL_LOG_ERROR, PFX "EAL cannot be started: an earlier attempt "
				"in this process got past argument parsing "
				"and failed (EAL starts once per process)");
			return -EALREADY;
		}
		keel_log(KEEL_LOG_ERROR, PFX "rte_eal_init failed: %s (EAL arguments: %s)",
			err == EINVAL ? "bad EAL arguments" : rte_strerror(err),
			o->eal_text);
		return err > 0 ? -err : -EINVAL;
	}
	if (rc < argc - 1) {
		/* EAL stops at the first token that is not its option. */
		keel_log(KEEL_LOG_ERROR, PFX "'%s' is not an EAL argument (EAL arguments: %s)",
			argv[rc + 1], o->eal_text);
		rte_eal_cleanup();
		if (!o->user_prefix)
			remove_dir(rte_eal_get_runtime_dir());
		g.state = EAL_GONE;
		return -EINVAL;
	}
	g.text = strdup(o->eal_text);
	if (!o->user_prefix)
		g.rundir = strdup(rte_eal_get_runtime_dir());
	g.state = EAL_OURS;
	return 0;
}

/* Start EAL or join the running one. */
static int eal_join(const struct keel__dpdk_opts *o)
{
	switch (g.state) {
	case EAL_DOWN:
		if (o->eal_argc)
			return eal_start(o);
		if (app_eal_running()) {
			g.state = EAL_APP;
			return 0;
		}
		keel_log(KEEL_LOG_ERROR, PFX "no EAL arguments and EAL is not running: give them "
			"after a lone -- (e.g. dpdk:ip=198.18.0.1/24 -- --no-huge "
			"--no-pci -m 256 --vdev=net_ring0)");
		return -EINVAL;
	case EAL_OURS:
		if (o->eal_argc && strcmp(o->eal_text, g.text) != 0) {
			keel_log(KEEL_LOG_ERROR, PFX "EAL already runs in this process with '%s': "
				"give the same EAL arguments or none", g.text);
			return -EALREADY;
		}
		return 0;
	case EAL_APP:
		if (o->eal_argc) {
			keel_log(KEEL_LOG_ERROR, PFX "the application started EAL: give keel "
				"options only, without EAL arguments");
			return -EALREADY;
		}
		return 0;
	case EAL_GONE:
	default:
		keel_log(KEEL_LOG_ERROR, PFX "EAL was cleaned up when the last DPDK runtime of "
			"this process ended; it cannot start twice in one "
			"process");
		return -EALREADY;
	}
}

static void pools_free_all(void)
{
	for (unsigned i = 0; i < g.npools; i++)
		rte_mempool_free(g.pools[i].mp);
	free(g.pools);
	g.pools = NULL;
	g.npools = g.pools_cap = 0;
}

/* The last user of keel's EAL is gone: clean it up. */
static void eal_drop_if_unused(void)
{
	if (g.users || g.state != EAL_OURS)
		return;
	for (unsigned i = 0; i < RTE_MAX_ETHPORTS; i++)
		if (g.ports[i])
			return; /* a port still configured: not yet */
	pools_free_all();
	rte_eal_cleanup();
	if (g.rundir)
		remove_dir(g.rundir); /* EAL leaves it; the prefix was ours */
	free(g.rundir);
	free(g.text);
	g.rundir = NULL;
	g.text = NULL;
	g.state = EAL_GONE;
}

/* ------------------------------------------------------------- mempools */

#if defined(__SANITIZE_THREAD__)
/*
 * Under ThreadSanitizer keel's pools use these ops: DPDK's default ring
 * ("ring_mp_mc"), with each mbuf released as it goes into the shared ring
 * (freed by one thread) and acquired as it comes out (allocated by
 * another). That is the happens-before edge the ring gives; TSan cannot
 * see it inside the uninstrumented library. Per mbuf, so two threads that
 * touch one mbuf without handing it over are still reported.
 */
#define POOL_OPS "keel_tsan_ring"

static const struct rte_mempool_ops *tsan_ring(void)
{
	static _Atomic(const struct rte_mempool_ops *) ring;
	const struct rte_mempool_ops *r = atomic_load(&ring);

	if (!r) {
		/* Registered by the ring mempool driver, which EAL loads. */
		int i = (int)rte_mempool_ops_table.num_ops;

		while (--i >= 0 && strcmp(rte_mempool_ops_table.ops[i].name, "ring_mp_mc"))
			;
		if (i >= 0) {
			r = &rte_mempool_ops_table.ops[i];
			atomic_store(&ring, r);
		}
	}
	return r;
}

static int tsan_alloc(struct rte_mempool *mp)
{
	return tsan_ring() ? tsan_ring()->alloc(mp) : -ENOTSUP;
}

static void tsan_free(struct rte_mempool *mp)
{
	tsan_ring()->free(mp);
}

static int tsan_enqueue(struct rte_mempool *mp, void *const *objs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		KEEL__DPDK_TSAN(release, objs[i]);
	return tsan_ring()->enqueue(mp, objs, n);
}

static int tsan_dequeue(struct rte_mempool *mp, void **objs, unsigned n)
{
	int rc = tsan_ring()->dequeue(mp, objs, n);

	for (unsigned i = 0; rc == 0 && i < n; i++)
		KEEL__DPDK_TSAN(acquire, objs[i]);
	return rc;
}

static unsigned tsan_count(const struct rte_mempool *mp)
{
	return tsan_ring()->get_count(mp);
}

static struct rte_mempool_ops tsan_ops = {
	.name = POOL_OPS,
	.alloc = tsan_alloc,
	.free = tsan_free,
	.enqueue = tsan_enqueue,
	.dequeue = tsan_dequeue,
	.get_count = tsan_count,
};

RTE_MEMPOOL_REGISTER_OPS(tsan_ops);
#else
#define POOL_OPS NULL /* the platform's best (rte_mbuf_best_mempool_ops) */
#endif

static struct rte_mempool *pool_get(uint16_t port, uint16_t queue, unsigned n,
				    int socket)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;
	unsigned cache;

	for (unsigned i = 0; i < g.npools; i++) {
		struct pool_ent *e = &g.pools[i];

		if (!e->used && e->port == port && e->queue == queue && e->n == n) {
			e->used = true;
			return e->mp;
		}
	}
	if (g.npools == g.pools_cap) {
		unsigned cap = g.pools_cap ? 2 * g.pools_cap : 8;
		struct pool_ent *p = realloc(g.pools, cap * sizeof(*p));

		if (!p) {
			rte_errno = ENOMEM;
			return NULL;
		}
		g.pools = p;
		g.pools_cap = cap;
	}
	/* The per-lcore cache serves EAL threads (the one that started EAL);
	 * other threads go to the ring. At most n / 1.5 (mempool's rule). */
	cache = n >= 1024 ? 256 : n / 8;
	snprintf(name, sizeof(name), "keel%u_p%uq%u", g.pool_gen++, port, queue);
	mp = rte_pktmbuf_pool_create_by_ops(name, n, cache, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, socket,
					    POOL_OPS);
	if (!mp)
		return NULL;
	g.pools[g.npools++] = (struct pool_ent){ mp, port, queue, n, true };
	return mp;
}

static void pool_put(struct rte_mempool *mp)
{
	for (unsigned i = 0; i < g.npools; i++) {
		struct pool_ent *e = &g.pools[i];

		if (e->mp != mp)
			continue;
		e->used = false;
		if (g.state == EAL_APP && rte_mempool_full(mp)) {
			rte_mempool_free(mp);
			g.pools[i] = g.pools[--g.npools];
		}
		return;
	}
}

/* ----------------------------------------------------------------- ports */

/* "what; ports: 0 (name), 1 (name)" as one message. */
static void no_such_port(const char *what)
{
	char list[512] = "";
	size_t used = 0;
	uint16_t id;

	RTE_ETH_FOREACH_DEV(id) {
		char name[RTE_ETH_NAME_MAX_LEN] = "?";

		rte_eth_dev_get_name_by_port(id, name);
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used,
						 "%s %u (%s)", used ? "," : " ports:",
						 id, name);
	}
	keel_log(KEEL_LOG_ERROR, PFX "%s;%s", what, used ? list : " no ports at all");
}

static int resolve_port(const struct keel__dpdk_opts *o, uint16_t *id)
{
	char what[RTE_ETH_NAME_MAX_LEN + 32];

	if (rte_eth_dev_count_avail() == 0) {
		keel_log(KEEL_LOG_ERROR, PFX "no Ethernet port found: add a virtual device "
			"(--vdev=net_af_packet0,iface=IFACE, ...) or bind a NIC "
			"to vfio-pci (EAL arguments: %s)",
			g.text ? g.text : "the application's");
		return -ENODEV;
	}
	if (o->port_id >= 0) {
		*id = (uint16_t)o->port_id;
		if (rte_eth_dev_is_valid_port(*id))
			return 0;
		snprintf(what, sizeof(what), "port %ld does not exist", o->port_id);
	} else {
		if (rte_eth_dev_get_port_by_name(o->port_name, id) == 0)
			return 0;
		snprintf(what, sizeof(what), "no port named '%s'", o->port_name);
	}
	no_such_port(what);
	return -ENODEV;
}

static unsigned pow2_minus1(unsigned n)
{
	unsigned p = 64;

	while (p - 1 < n)
		p *= 2;
	return p - 1;
}

static unsigned mbufs_per_queue(const struct keel__dpdk_opts *o)
{
	if (o->mbufs)
		return o->mbufs;
	/* Descriptors of both rings, the pending TX buffer, a burst in
	 * hand, and four sockets' worth of receive queues. */
	return pow2_minus1(o->rxd + o->txd + o->txbuf + 2 * KEEL__DPDK_BURST +
			   4 * o->sockq);
}

static void port_stop(struct keel__dpdk_port *p, bool started)
{
	if (started)
		rte_eth_dev_stop(p->id);
	for (unsigned q = 0; q < p->nb_queues; q++)
		if (p->pools[q])
			pool_put(p->pools[q]);
	if (g.state == EAL_OURS)
		rte_eth_dev_close(p->id);
}

static int port_setup(struct keel__dpdk_port *p, const struct keel__dpdk_opts *o,
		      bool want_intr)
{
	const uint64_t tx_csum = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
				 RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t rxd = (uint16_t)o->rxd, txd = (uint16_t)o->txd;
	int socket = rte_eth_dev_socket_id(p->id), rc;
	bool started = false;

	if (socket < 0)
		socket = SOCKET_ID_ANY;
	rte_eth_dev_get_name_by_port(p->id, p->name);
	rc = rte_eth_dev_info_get(p->id, &info);
	if (rc < 0) {
		keel_log(KEEL_LOG_ERROR, PFX "port %u (%s): no device info: %s", p->id,
			p->name, rte_strerror(-rc));
		return rc;
	}
	if (o->queues > info.max_rx_queues || o->queues > info.max_tx_queues) {
		keel_log(KEEL_LOG_ERROR, PFX "port %u (%s) has at most %u RX and %u TX queues; "
			"queues=%u asks for more%s", p->id, p->name,
			info.max_rx_queues, info.max_tx_queues, o->queues,
			o->has_queues ? "" : " (one per worker: run fewer)");
		return -EINVAL;
	}
	p->nb_queues = (uint16_t)o->queues;
	p->rxd = o->rxd;
	p->txd = o->txd;
	p->mbufs = mbufs_per_queue(o);
	p->csum_sw = o->csum_sw;

	memset(&conf, 0, sizeof(conf));
	if (p->nb_queues > 1 &&
	    (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP))) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
		p->rss = true;
	}
	if (!o->csum_sw) {
		if ((info.tx_offload_capa & tx_csum) == tx_csum) {
			conf.txmode.offloads |= tx_csum;
			p->tx_csum = true;
		}
		if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
			conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
			p->rx_ip_csum = true;
		}
		if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM) {
			conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
			p->rx_l4_csum = true;
		}
	}
	if (g.state == EAL_APP)
		rte_eth_dev_stop(p->id); /* it may run: configure needs it stopped */
	conf.intr_conf.rxq = want_intr;
	rc = rte_eth_dev_configure(p->id, p->nb_queues, p->nb_queues, &conf);
	if (rc < 0 && want_intr) {
		conf.intr_conf.rxq = 0; /* the PMD has no RX interrupts */
		rc = rte_eth_dev_configure(p->id, p->nb_queues, p->nb_queues, &conf);
	}
	if (rc < 0) {
		keel_log(KEEL_LOG_ERROR, PFX "port %u (%s): cannot configure %u queue(s): %s",
			p->id, p->name, p->nb_queues, rte_strerror(-rc));
		return rc;
	}
	p->intr_conf = conf.intr_conf.rxq;
	rte_eth_dev_adjust_nb_rx_tx_desc(p->id, &rxd, &txd);
	for (uint16_t q = 0; q < p->nb_queues; q++) {
		p->pools[q] = pool_get(p->id, q, p->mbufs, socket);
		if (!p->pools[q]) {
			rc = -rte_errno;
			keel_log(KEEL_LOG_ERROR, PFX "port %u (%s) queue %u: cannot allocate %u "
				"mbufs (%.1f MiB): %s; give EAL more memory "
				"(-m) or lower mbufs=/rxd=/txd=/sockq=",
				p->id, p->name, q, p->mbufs,
				p->mbufs * (double)(RTE_MBUF_DEFAULT_BUF_SIZE +
						    sizeof(struct rte_mbuf)) / 1048576.0,
				rte_strerror(rte_errno));
			goto err;
		}
		rc = rte_eth_rx_queue_setup(p->id, q, rxd, (unsigned)socket, NULL,
					    p->pools[q]);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(p->id, q, txd, (unsigned)socket,
						    NULL);
		if (rc < 0) {
			keel_log(KEEL_LOG_ERROR, PFX "port %u (%s) queue %u: setup failed (rxd "
				"%u, txd %u): %s", p->id, p->name, q, rxd, txd,
				rte_strerror(-rc));
			goto err;
		}
	}
	rc = rte_eth_dev_start(p->id);
	if (rc < 0) {
		keel_log(KEEL_LOG_ERROR, PFX "port %u (%s) will not start: %s", p->id,
			p->name, rte_strerror(-rc));
		goto err;
	}
	started = true;
	rc = rte_eth_macaddr_get(p->id, &p->mac);
	if (rc < 0) {
		keel_log(KEEL_LOG_ERROR, PFX "port %u (%s): no MAC address: %s", p->id,
			p->name, rte_strerror(-rc));
		goto err;
	}
	if (rte_is_zero_ether_addr(&p->mac) || !rte_is_unicast_ether_addr(&p->mac)) {
		/* Ring and null ports have none: a locally administered one,
		 * "keel" and the port number. */
		static const uint8_t gen[6] = { 0x02, 0x6b, 0x65, 0x65, 0x6c, 0 };

		memcpy(p->mac.addr_bytes, gen, 6);
		p->mac.addr_bytes[5] = (uint8_t)p->id;
		p->mac_generated = true;
	}
	if (rte_eth_dev_get_mtu(p->id, &p->mtu) < 0 || p->mtu < 68)
		p->mtu = 1500;
	return 0;
err:
	port_stop(p, started);
	return rc < 0 ? rc : -EIO;
}

static int port_matches(const struct keel__dpdk_port *p,
			const struct keel__dpdk_opts *o)
{
	if ((o->has_queues && o->queues != p->nb_queues) || o->rxd != p->rxd ||
	    o->txd != p->txd || mbufs_per_queue(o) != p->mbufs ||
	    o->csum_sw != p->csum_sw) {
		keel_log(KEEL_LOG_ERROR, PFX "port %u (%s) is already set up by another keel "
			"runtime (queues=%u rxd=%u txd=%u mbufs=%u csum=%s): "
			"give the same settings", p->id, p->name, p->nb_queues,
			p->rxd, p->txd, p->mbufs, p->csum_sw ? "sw" : "auto");
		return -EINVAL;
	}
	return 0;
}

int keel__dpdk_port_acquire(const struct keel__dpdk_opts *o, unsigned queue,
			    bool want_intr, struct keel__dpdk_port **out)
{
	struct keel__dpdk_port *p;
	uint16_t id;
	int rc;

	pthread_mutex_lock(&g.lock);
	rc = eal_join(o);
	if (rc < 0)
		goto out;
	rc = resolve_port(o, &id);
	if (rc < 0)
		goto out_drop;
	p = g.ports[id];
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			rc = -ENOMEM;
			goto out_drop;
		}
		p->id = id;
		pthread_mutex_init(&p->neigh_lock, NULL);
		rc = port_setup(p, o, want_intr);
		if (rc < 0) {
			pthread_mutex_destroy(&p->neigh_lock);
			free(p);
			goto out_drop;
		}
		g.ports[id] = p;
	} else if ((rc = port_matches(p, o)) < 0) {
		goto out;
	}
	if (queue >= p->nb_queues) {
		keel_log(KEEL_LOG_ERROR, PFX "port %u (%s) has %u queue(s); this worker needs "
			"queue %u (queues=N sets the count, queue=N the first)",
			p->id, p->name, p->nb_queues, queue);
		rc = -EINVAL;
		goto out_port;
	}
	if (p->claimed & (1ull << queue)) {
		keel_log(KEEL_LOG_ERROR, PFX "queue %u of port %u (%s) is already used by another "
			"keel runtime in this process (give it another queue=)",
			queue, p->id, p->name);
		rc = -EBUSY;
		goto out_port;
	}
	p->claimed |= 1ull << queue;
	p->refs++;
	g.users++;
	*out = p;
	rc = 0;
	goto out;

out_port:
	if (p->refs == 0) {
		port_stop(p, true);
		g.ports[p->id] = NULL;
		pthread_mutex_destroy(&p->neigh_lock);
		free(p);
	}
out_drop:
	eal_drop_if_unused();
out:
	pthread_mutex_unlock(&g.lock);
	return rc;
}

void keel__dpdk_port_release(struct keel__dpdk_port *p, unsigned queue)
{
	pthread_mutex_lock(&g.lock);
	p->claimed &= ~(1ull << queue);
	g.users--;
	if (--p->refs == 0) {
		port_stop(p, true);
		g.ports[p->id] = NULL;
		pthread_mutex_destroy(&p->neigh_lock);
		free(p);
	}
	eal_drop_if_unused();
	pthread_mutex_unlock(&g.lock);
}
