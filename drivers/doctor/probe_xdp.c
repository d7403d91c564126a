/* SPDX-License-Identifier: MIT */
/*
 * keel-doctor's XDP probes, by trying: attach a two-instruction XDP_PASS
 * program in native mode (only where none is attached, and detached at
 * once), and bind an AF_XDP socket to queue 0 with XDP_ZEROCOPY (no
 * program needed for a bind). What the kernel answers is the answer.
 */
#include "doctor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xdp/xsk.h>

int keel__doctor_probe_native(int ifindex, char *why, unsigned size)
{
	const struct bpf_insn pass[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd, rc;

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "keel_doctor", "GPL", pass, 2, NULL);
	if (fd < 0) {
		snprintf(why, size, "cannot load a test program: %s", strerror(-fd));
		return fd;
	}
	rc = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
			    NULL);
	if (rc == 0)
		bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	close(fd);
	if (rc == 0)
		return 1;
	if (rc == -EBUSY || rc == -EEXIST) {
		snprintf(why, size, "an XDP program is attached already");
		return rc;
	}
	snprintf(why, size, "no native XDP (%s)", strerror(-rc));
	return rc == -EOPNOTSUPP || rc == -EINVAL ? 0 : rc;
}

int keel__doctor_probe_zerocopy(const char *ifname, char *why, unsigned size)
{
	const size_t frames = 64, fsize = XSK_UMEM__DEFAULT_FRAME_SIZE;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	struct xsk_socket_config cfg = {
		.rx_size = 64,
		.tx_size = 64,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_ZEROCOPY,
	};
	struct xsk_umem_config ucfg = {
		.fill_size = 64,
		.comp_size = 64,
		.frame_size = (unsigned)fsize,
	};
	struct xsk_umem *umem = NULL;
	struct xsk_socket *xsk = NULL;
	void *buf = NULL;
	int rc;

	if (posix_memalign(&buf, (size_t)getpagesize(), frames * fsize)) {
		snprintf(why, size, "out of memory");
		return -ENOMEM;
	}
	rc = xsk_umem__create(&umem, buf, frames * fsize, &fill, &comp, &ucfg);
	if (rc == 0)
		rc = xsk_socket__create(&xsk, ifname, 0, umem, &rx, &tx, &cfg);
	if (xsk)
		xsk_socket__delete(xsk);
	if (umem)
		xsk_umem__delete(umem);
	free(buf);
	if (rc == 0)
		return 1;
	snprintf(why, size, "no AF_XDP zero-copy (%s)", strerror(-rc));
	return rc == -EOPNOTSUPP || rc == -EPROTONOSUPPORT ? 0 : rc;
}
