/* SPDX-License-Identifier: MIT */
/*
 * The checks of keel-doctor, one function each, every one ending in one
 * report line: pass, warn (works, but not as well as it could) or fail
 * (the deployment will not start, or will lose traffic), with the fix.
 * What each driver needs:
 *   all     CPUs for the workers
 *   kernel  socket buffer limits (rmem_max, wmem_max)
 *   xdp     the interface, its queues vs workers (ETHTOOL_GCHANNELS),
 *           native XDP and zero-copy (probed), locked memory for the UMEMs,
 *           CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF or CAP_SYS_ADMIN
 *   dpdk    hugepages (unless --no-huge), vfio and an IOMMU (unless only
 *           virtual devices), locked memory, CAP_IPC_LOCK, CAP_NET_RAW for
 *           af_packet/af_xdp devices and the interfaces they name
 */
#include "doctor.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <unistd.h>

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define MIB (1024u * 1024u)
/* A UMEM per worker: 4096 frames of up to 4 KiB (drivers/xdp defaults). */
#define XDP_UMEM_BYTES (4096ull * 4096ull)
/* DPDK: its mempools and rings, per worker, roughly (mbufs=8192 of 2 KiB). */
#define DPDK_BYTES_PER_WORKER (32ull * MIB)
/* Socket buffers a busy UDP service wants at least. */
#define SOCKBUF_WANT (4u * MIB)

struct run {
	const struct keel__doctor_env *env;
	unsigned workers;
	keel__doctor_report_fn *fn;
	void *arg;
	int fails;
};

__attribute__((format(printf, 4, 5)))
static void report(struct run *r, enum keel__doctor_status st, const char *check,
		   const char *fmt, ...)
{
	char what[512], *fix;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* "what|fix": the fix after the bar, none on a pass. */
	fix = strchr(what, '|');
	if (fix)
		*fix++ = '\0';
	if (st == KEEL__DOC_FAIL)
		r->fails++;
	r->fn(r->arg, st, check, what, st == KEEL__DOC_PASS ? NULL : fix);
}

static bool has_cap(const struct run *r, int cap)
{
	return r->env->caps & (1ull << cap);
}

/* ----------------------------------------------------------- environment */

int keel__doctor_env_read(struct keel__doctor_env *env)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct rlimit rl;
	cpu_set_t set;

	memset(env, 0, sizeof(*env));
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	env->caps = (uint64_t)d[0].effective | (uint64_t)d[1].effective << 32;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		env->cpus = (unsigned)CPU_COUNT(&set);
	else
		env->cpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return -errno;
	env->memlock = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	env->probe = true;
	return 0;
}

/* ------------------------------------------------------------ all drivers */

static void check_cpus(struct run *r)
{
	if (r->env->cpus >= r->workers)
		report(r, KEEL__DOC_PASS, "cpus", "%u CPUs for %u workers", r->env->cpus,
		       r->workers);
	else
		report(r, KEEL__DOC_WARN, "cpus",
		       "%u CPUs for %u workers: workers share CPUs and throughput "
		       "stops growing at %u|run with --workers=%u, or allow more CPUs "
		       "(taskset, the cgroup's cpuset)", r->env->cpus, r->workers,
		       r->env->cpus, r->env->cpus);
}

static void check_memlock(struct run *r, uint64_t need, const char *what)
{
	if (has_cap(r, CAP_IPC_LOCK) || r->env->memlock == UINT64_MAX)
		report(r, KEEL__DOC_PASS, "memlock", "no limit on locked memory (%s)",
		       has_cap(r, CAP_IPC_LOCK) ? "CAP_IPC_LOCK" : "unlimited");
	else if (r->env->memlock >= need)
		report(r, KEEL__DOC_PASS, "memlock",
		       "locked memory limit %llu KiB, %s needs about %llu KiB",
		       (unsigned long long)r->env->memlock / 1024, what,
		       (unsigned long long)need / 1024);
	else
		report(r, KEEL__DOC_FAIL, "memlock",
		       "locked memory limit %llu KiB, %s needs about %llu KiB for "
		       "%u workers|ulimit -l unlimited (systemd: LimitMEMLOCK=infinity), "
		       "or grant CAP_IPC_LOCK",
		       (unsigned long long)r->env->memlock / 1024, what,
		       (unsigned long long)need / 1024, r->workers);
}

static void check_cap(struct run *r, int cap, const char *name, const char *why)
{
	if (has_cap(r, cap))
		report(r, KEEL__DOC_PASS, "caps", "%s (%s)", name, why);
	else
		report(r, KEEL__DOC_FAIL, "caps", "%s missing: needed to %s|run as root, "
		       "or setcap cap_net_admin,cap_net_raw,cap_bpf,cap_ipc_lock+ep "
		       "on the program (systemd: AmbientCapabilities=)", name, why);
}

/* ------------------------------------------------------------------ kernel */

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void check_sockbuf(struct run *r, const char *name)
{
	char path[64];
	long v;

	snprintf(path, sizeof(path), "/proc/sys/net/core/%s", name);
	v = read_long(path);
	if (v < 0)
		report(r, KEEL__DOC_WARN, "sockbuf", "%s unreadable|check /proc/sys is "
		       "mounted", path);
	else if (v >= (long)SOCKBUF_WANT)
		report(r, KEEL__DOC_PASS, "sockbuf", "net.core.%s = %ld", name, v);
	else
		report(r, KEEL__DOC_WARN, "sockbuf",
		       "net.core.%s = %ld: a burst larger than that is dropped by the "
		       "kernel|sysctl -w net.core.%s=%u", name, v, name, 2 * SOCKBUF_WANT);
}

/* ---------------------------------------------------------------- xdp */

/* Queues of \p ifname: current (combined + rx) and the most it takes;
 * from ETHTOOL_GCHANNELS, else the count in sysfs (max unknown: 0). */
static int queues(const char *ifname, unsigned *cur, unsigned *max)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	char path[96];
	struct dirent *e;
	DIR *dir;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		ifr.ifr_data = (void *)&ch;
		if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
			close(fd);
			*cur = ch.combined_count + ch.rx_count;
			*max = ch.max_combined + ch.max_rx;
			if (*cur)
				return 0;
		} else {
			close(fd);
		}
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	dir = opendir(path);
	if (!dir)
		return -errno;
	*cur = 0;
	*max = 0;
	while ((e = readdir(dir)))
		if (strncmp(e->d_name, "rx-", 3) == 0)
			(*cur)++;
	closedir(dir);
	return 0;
}

static bool check_iface(struct run *r, const char *ifname, int *ifindex)
{
	*ifindex = (int)if_nametoindex(ifname);
	if (*ifindex > 0) {
		report(r, KEEL__DOC_PASS, "iface", "%s exists (index %d)", ifname, *ifindex);
		return true;
	}
	report(r, KEEL__DOC_FAIL, "iface", "no interface %s in this network namespace"
	       "|ip -br link lists them; in a container, run where the NIC is", ifname);
	return false;
}

static void check_queues(struct run *r, const char *ifname, bool one_queue)
{
	unsigned cur = 0, max = 0;

	if (queues(ifname, &cur, &max) < 0) {
		report(r, KEEL__DOC_WARN, "queues", "%s: queue count unknown|ethtool -l %s",
		       ifname, ifname);
		return;
	}
	if (one_queue || cur >= r->workers)
		report(r, KEEL__DOC_PASS, "queues", "%s has %u RX queues for %u workers",
		       ifname, cur, one_queue ? 1 : r->workers);
	else if (max >= r->workers)
		report(r, KEEL__DOC_WARN, "queues",
		       "%s has %u RX queues for %u workers (it takes up to %u): flows "
		       "on missing queues reach no worker|ethtool -L %s combined %u",
		       ifname, cur, r->workers, max, ifname, r->workers);
	else
		report(r, KEEL__DOC_FAIL, "queues",
		       "%s has %u RX queues, at most %u, for %u workers: the workers "
		       "past %u get no traffic|run with --workers=%u, or use a NIC "
		       "with more queues", ifname, cur, max ? max : cur, r->workers,
		       max ? max : cur, max ? max : cur);
}

static void check_xdp_modes(struct run *r, const char *ifname, int ifindex)
{
	char why[256] = "";
	int rc;

	if (!r->env->probe || !has_cap(r, CAP_NET_ADMIN) ||
	    !(has_cap(r, CAP_BPF) || has_cap(r, CAP_SYS_ADMIN))) {
		report(r, KEEL__DOC_WARN, "xdp-mode", "not probed: attaching a test "
		       "program needs CAP_NET_ADMIN and CAP_BPF|run keel-doctor as root");
		return;
	}
	rc = keel__doctor_probe_native(ifindex, why, sizeof(why));
	if (rc > 0)
		report(r, KEEL__DOC_PASS, "xdp-mode", "%s takes XDP in native mode", ifname);
	else if (rc == 0)
		report(r, KEEL__DOC_WARN, "xdp-mode", "%s: %s: keel falls back to generic "
		       "mode, several times slower|a NIC whose driver has native XDP "
		       "(ethtool -i %s names it)", ifname, why, ifname);
	else
		report(r, KEEL__DOC_WARN, "xdp-mode", "%s: native mode not probed: %s"
		       "|detach what holds it: ip link set %s xdp off", ifname, why, ifname);
	rc = keel__doctor_probe_zerocopy(ifname, why, sizeof(why));
	if (rc > 0)
		report(r, KEEL__DOC_PASS, "zerocopy", "%s takes AF_XDP zero-copy", ifname);
	else
		report(r, KEEL__DOC_WARN, "zerocopy", "%s: %s: keel runs AF_XDP in copy "
		       "mode|a NIC driver with AF_XDP zero-copy (ice, i40e, mlx5, ...)",
		       ifname, why);
}

/* "xdp:IFACE[,queue=N][,...]" */
static void doctor_xdp(struct run *r, const char *args)
{
	char ifname[IF_NAMESIZE + 1] = "";
	size_t n = args ? strcspn(args, ",") : 0;
	int ifindex;

	if (!n || n > IF_NAMESIZE) {
		report(r, KEEL__DOC_FAIL, "driver", "xdp needs an interface|--driver=xdp:IFACE");
		return;
	}
	memcpy(ifname, args, n);
	check_cap(r, CAP_NET_ADMIN, "CAP_NET_ADMIN", "attach the XDP program and "
		  "set the queue count");
	check_cap(r, CAP_NET_RAW, "CAP_NET_RAW", "open AF_XDP sockets");
	if (has_cap(r, CAP_BPF) || has_cap(r, CAP_SYS_ADMIN))
		report(r, KEEL__DOC_PASS, "caps", "%s (load the XDP program)",
		       has_cap(r, CAP_BPF) ? "CAP_BPF" : "CAP_SYS_ADMIN");
	else
		check_cap(r, CAP_BPF, "CAP_BPF (or CAP_SYS_ADMIN)", "load the XDP program");
	check_memlock(r, r->workers * XDP_UMEM_BYTES, "the UMEMs");
	if (!check_iface(r, ifname, &ifindex))
		return;
	check_queues(r, ifname, strstr(args, ",queue=") != NULL);
	check_xdp_modes(r, ifname, ifindex);
}

/* ---------------------------------------------------------------- dpdk */

static void check_hugepages(struct run *r, const char *eal)
{
	FILE *f;
	char line[128];
	long total = -1, free_ = -1, size_kb = 2048;

	if (strstr(eal, "--no-huge")) {
		report(r, KEEL__DOC_PASS, "hugepages", "not needed (--no-huge)");
		return;
	}
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Total: %ld", &total);
		sscanf(line, "HugePages_Free: %ld", &free_);
		sscanf(line, "Hugepagesize: %ld kB", &size_kb);
	}
	if (f)
		fclose(f);
	if (free_ > 0 && (uint64_t)free_ * (uint64_t)size_kb * 1024 >=
				 r->workers * DPDK_BYTES_PER_WORKER)
		report(r, KEEL__DOC_PASS, "hugepages", "%ld of %ld hugepages of %ld kB free",
		       free_, total, size_kb);
	else
		report(r, KEEL__DOC_FAIL, "hugepages",
		       "%ld hugepages of %ld kB free, about %llu MiB wanted for %u workers"
		       "|echo %llu > /proc/sys/vm/nr_hugepages and mount -t hugetlbfs "
		       "none /dev/hugepages (or add --no-huge for virtual devices)",
		       free_ < 0 ? 0 : free_, size_kb,
		       (unsigned long long)(r->workers * DPDK_BYTES_PER_WORKER / MIB),
		       r->workers,
		       (unsigned long long)(r->workers * DPDK_BYTES_PER_WORKER /
					    ((uint64_t)size_kb * 1024) + 64));
}

static bool dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool any = false;

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			any = true;
	if (d)
		closedir(d);
	return any;
}

static void check_vfio(struct run *r, const char *eal)
{
	struct stat st;

	if (strstr(eal, "--no-pci")) {
		report(r, KEEL__DOC_PASS, "vfio", "not needed (--no-pci: virtual devices)");
		return;
	}
	if (stat("/dev/vfio/vfio", &st) < 0)
		report(r, KEEL__DOC_FAIL, "vfio", "no /dev/vfio/vfio: a PCI NIC cannot be "
		       "given to DPDK|modprobe vfio-pci, then dpdk-devbind.py -b vfio-pci "
		       "PCI-ADDR (or pass --no-pci for virtual devices only)");
	else if (!dir_has_entries("/sys/kernel/iommu_groups"))
		report(r, KEEL__DOC_WARN, "vfio", "vfio present but no IOMMU groups|boot "
		       "with intel_iommu=on iommu=pt (or amd_iommu=on), or load vfio "
		       "with enable_unsafe_noiommu_mode=1");
	else
		report(r, KEEL__DOC_PASS, "vfio", "vfio and IOMMU groups present");
}

/* Each iface=NAME in the EAL arguments (af_packet, af_xdp, tap vdevs). */
static void check_vdev_ifaces(struct run *r, const char *eal)
{
	const char *p = eal;

	while ((p = strstr(p, "iface="))) {
		char name[IF_NAMESIZE + 1] = "";
		size_t n;
		int ifindex;

		p += 6;
		n = strcspn(p, ", '\"");
		if (n && n <= IF_NAMESIZE) {
			memcpy(name, p, n);
			/* Its queue count does not matter: af_packet
			 * spreads with a fanout over qpairs=N. */
			check_iface(r, name, &ifindex);
		}
		p += n;
	}
}

/* "dpdk:KEEL-ARGS -- EAL-ARGS" */
static void doctor_dpdk(struct run *r, const char *args)
{
	const char *eal = args ? strstr(args, "--") : NULL;

	eal = eal ? eal : "";
	check_memlock(r, r->workers * DPDK_BYTES_PER_WORKER, "DPDK's memory");
	if (strstr(eal, "net_af_packet") || strstr(eal, "net_af_xdp"))
		check_cap(r, CAP_NET_RAW, "CAP_NET_RAW", "open the packet sockets of "
			  "net_af_packet/net_af_xdp");
	if (!strstr(eal, "--no-pci"))
		check_cap(r, CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "map PCI devices and read "
			  "physical addresses");
	check_hugepages(r, eal);
	check_vfio(r, eal);
	check_vdev_ifaces(r, eal);
}

/* ------------------------------------------------------------------- run */

int keel__doctor_run(const struct keel__doctor_opts *o,
		     const struct keel__doctor_env *env,
		     keel__doctor_report_fn *fn, void *arg)
{
	struct run r = { env, o->workers ? o->workers : 1, fn, arg, 0 };
	const char *spec = o->driver ? o->driver : "kernel";
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	const char *args = colon ? colon + 1 : NULL;

	check_cpus(&r);
	if (n == 6 && strncmp(spec, "kernel", 6) == 0) {
		report(&r, KEEL__DOC_PASS, "caps", "none needed (kernel sockets)");
		check_sockbuf(&r, "rmem_max");
		check_sockbuf(&r, "wmem_max");
	} else if (n == 3 && strncmp(spec, "xdp", 3) == 0) {
		doctor_xdp(&r, args);
	} else if (n == 4 && strncmp(spec, "dpdk", 4) == 0) {
		doctor_dpdk(&r, args);
	} else if (n == 3 && strncmp(spec, "sim", 3) == 0) {
		report(&r, KEEL__DOC_PASS, "driver", "sim needs nothing (in memory)");
	} else {
		report(&r, KEEL__DOC_FAIL, "driver", "unknown driver '%.*s'|one of kernel, "
		       "xdp:IFACE, dpdk:ARGS -- EAL-ARGS", (int)n, spec);
		return -EINVAL;
	}
	return r.fails;
}
