#!/usr/bin/env bash
# Runs what needs IPVS inside a virtme-ng VM booted with Debian's generic kernel, because the
# kernel of the build machines has no IPVS (see ../shared/ENVIRONMENT.md). The VM boots over the
# host's own filesystem (read-only) with this working directory shared read-write, so it runs the
# binaries already built here. Boot takes about a minute without KVM.
#
#   hack/vm-test.sh test FILTER       run the built test binary with --filter FILTER
#   hack/vm-test.sh bench [ARGS...]   run `nodectl bench proxy --backends ipvs --environment vm ARGS`
#   hack/vm-test.sh run COMMAND       run a shell command (after loading the modules)
#
# Needs: qemu-system-x86, linux-image-amd64 (apt) and virtme-ng (pip). VM_MEMORY (default 2G)
# and VM_KERNEL (default: the newest /boot/vmlinuz-*-amd64 that is not -cloud) override;
# VM_ETC_9P=1 keeps /etc on the shared 9p root instead of a tmpfs copy (see below);
# TEST_BINARY and NODECTL run copies of the test binary and nodectl (ones a concurrent build
# will not replace mid-run).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '6,9p' "$0" | sed 's/^# //' >&2; exit 2; }
[[ $# -ge 1 ]] || usage
mode=$1; shift

for tool in vng qemu-system-x86_64; do
    command -v "$tool" >/dev/null || { echo "vm-test: needs $tool (pip install virtme-ng; apt-get install qemu-system-x86)" >&2; exit 3; }
done
kernel=${VM_KERNEL:-$(ls /boot/vmlinuz-*-amd64 2>/dev/null | grep -v cloud | sort -V | tail -1 || true)}
[[ -n $kernel && -r $kernel ]] || { echo "vm-test: no generic kernel in /boot (apt-get install linux-image-amd64)" >&2; exit 3; }

quote() { printf '%q ' "$@"; }
case $mode in
    test)
        [[ $# -eq 1 ]] || usage
        binary=${TEST_BINARY:-.build/debug/NodekitPackageTests.xctest}
        [[ -x $binary ]] || { echo "vm-test: build the tests first: swift build --build-tests" >&2; exit 3; }
        command="$(quote "$binary") --testing-library swift-testing --filter $(quote "$1")"
        ;;
    bench)
        nodectl=${NODECTL:-.build/release/nodectl}
        [[ -x $nodectl ]] || nodectl=.build/debug/nodectl
        [[ -x $nodectl ]] || { echo "vm-test: build nodectl first: swift build -c release --product nodectl" >&2; exit 3; }
        command="$(quote "$nodectl" bench proxy --backends ipvs --environment vm "$@")"
        ;;
    run)
        [[ $# -ge 1 ]] || usage
        command="$*"
        ;;
    *) usage ;;
esac

# IPVS with its schedulers, what the proxier's ipset and iptables rules use (nat and filter,
# iptables-nft through nft_compat), and the link kinds.
modules="ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack dummy veth bridge ip_set ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet ip_set_bitmap_port nf_tables nft_compat xt_set xt_addrtype xt_comment xt_mark xt_conntrack xt_ipvs xt_MASQUERADE"
# The root filesystem is the host's over 9p, and under emulation every file access on it costs
# milliseconds. ipset restore reads /etc/protocols and stats /etc/resolv.conf and
# /etc/nsswitch.conf once per entry (getprotobyname for "tcp"): 3,000 entries took 89 s over
# 9p and 0.19 s on the host. A node reads /etc from a local disk, so /etc (4 MiB) is copied to
# a tmpfs and mounted over the shared one; VM_ETC_9P=1 leaves it on 9p.
etc_copy='if [ -z "${VM_ETC_9P:-}" ]; then d=$(mktemp -d) && mount -t tmpfs vm-test-etc "$d" && cp -a /etc/. "$d"/ && mount --bind "$d" /etc || exit 98; fi'
inner="modprobe -a $modules || exit 97; mkdir -p /run/netns; VM_ETC_9P=${VM_ETC_9P:-}; $etc_copy; $command; echo \"vm-test: exit \$?\""
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "vm-test: booting $kernel (about a minute without KVM)" >&2
vng -r "$kernel" --disable-kvm --memory "${VM_MEMORY:-2G}" --cpus 2 --rwdir "$PWD" -- "$inner" 2>&1 | tee "$log"
status=$(sed -n 's/^vm-test: exit \([0-9]*\).*/\1/p' "$log" | tail -1)
[[ -n $status ]] || { echo "vm-test: the VM ended without reporting a status" >&2; exit 4; }
exit "$status"
