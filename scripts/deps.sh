#!/usr/bin/env bash
# Install what keel needs from Debian 12's packages, only what is missing.
# Run as root (CI is root); a no-op when everything is there.
set -euo pipefail

pkgs=(meson ninja-build pkg-config gcc libcriterion-dev valgrind
      clang libclang-rt-14-dev llvm                     # BPF, libFuzzer
      libbpf-dev libxdp-dev xdp-tools bpftool           # drivers/xdp
      dpdk dpdk-dev libdpdk-dev                         # drivers/dpdk
      iproute2 ethtool iputils-ping netcat-openbsd      # test fixtures
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross)      # the aarch64 build
pkgs+=(bind9-dnsutils)                                  # dig: tests/dns
pkgs+=(python3 python3-prometheus-client curl)          # tests/metrics: the exposition format
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
