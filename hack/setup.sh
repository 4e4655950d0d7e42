#!/usr/bin/env bash
# Installs the system packages Nodekit needs on Debian 12. Idempotent; run as root.
set -euo pipefail

packages=(
  # container runtime
  containerd runc containernetworking-plugins
  # kernel rule tools (the proxy's baselines and checks) and netns tooling
  iptables nftables ipvsadm conntrack ipset iproute2 procps file
  # C libraries behind the system-library targets, and the static pause build
  libmnl-dev libnftnl-dev libseccomp-dev libcap-dev libiptc-dev libmimalloc-dev pkg-config gcc libc6-dev
  # protoc for `make protos`; busybox for the test image
  protobuf-compiler busybox-static
  # HA store and its client; curl and python for API tests
  etcd-server etcd-client curl python3 python3-pip
)

if [ "$(id -u)" -ne 0 ]; then
  echo "hack/setup.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
else
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: installed ${#missing[@]} packages: ${missing[*]}"
fi

# The Python kubernetes client for the API server's Python-client scenario (PyPI; pinned to the
# release line of the Kubernetes version the server reports).
python3 -c "import kubernetes" 2>/dev/null || python3 -m pip install -q --root-user-action=ignore --break-system-packages "kubernetes==32.0.1"

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: swift is not on PATH (expected /opt/swift/usr/bin); install the Swift 6.3 toolchain" >&2
  exit 1
fi
echo "setup: $(swift --version 2>/dev/null | head -1)"
