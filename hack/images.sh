#!/usr/bin/env bash
# Nodekit's two local images, built without a registry and imported into containerd.
#
#   hack/images.sh build    static pause + out/images/pause.tar and out/images/busybox.tar
#   hack/images.sh import   import both into the k8s.io namespace of $(hack/containerd.sh socket)
#
# Images:
#   docker.io/nodekit/pause:latest    /pause only (static, see images/pause/pause.c); entrypoint ["/pause"]
#   docker.io/nodekit/busybox:latest  /bin/busybox (busybox-static) + applet symlinks, /tmp,
#                                     /etc/passwd and /etc/group with root and nobody; cmd ["sh"]
#
# Environment:
#   NODEKIT_BIN         a prebuilt nodekit binary (default: `swift build --product nodekit`, then the debug build)
#   NODEKIT_IMAGES_DIR  output directory (default: out/images in the repository)
#   NODEKIT_STATE_DIR   picks the containerd, as in hack/containerd.sh
#
# Both builds are deterministic (fixed mtimes, root ownership, sorted entries): rebuilding from
# the same inputs gives the same digests, and importing again only re-points the same names.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${NODEKIT_IMAGES_DIR:-$repo/out/images}
pause_image=docker.io/nodekit/pause:latest
busybox_image=docker.io/nodekit/busybox:latest
busybox_src=/bin/busybox
path_env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Applets linked into /bin, where busybox finds them by argv[0]. Names this busybox lacks are skipped.
applets="sh ash ls cat echo printf sleep nc httpd wget env id hostname ps kill killall mkdir rmdir rm
touch true false grep egrep sed awk head tail wc cut sort uniq tr tee seq xargs find ip ifconfig route
netstat ping nslookup arp cp mv ln chmod chown date uname whoami pwd readlink realpath basename dirname
stat df du mount umount dmesg free top uptime timeout usleep expr test [ [[ which nproc yes pidof
dd vi less more md5sum sha256sum hexdump od nsenter unshare mkfifo mktemp sync sysctl"

die() { echo "images.sh: $*" >&2; exit 1; }

nodekit_bin() {
  if [ -n "${NODEKIT_BIN:-}" ]; then
    [ -x "$NODEKIT_BIN" ] || die "NODEKIT_BIN=$NODEKIT_BIN is not an executable"
    echo "$NODEKIT_BIN"
    return
  fi
  (cd "$repo" && swift build --product nodekit >&2) || die "swift build --product nodekit failed"
  echo "$repo/.build/debug/nodekit"
}

is_static() { file -L "$1" | grep -q 'statically linked'; }

build_pause() {
  command -v gcc >/dev/null || die "gcc is not installed (run hack/setup.sh)"
  mkdir -p "$out/pause-root"
  gcc -static -O2 -Wall -Werror -o "$out/pause-root/pause" "$repo/images/pause/pause.c" -lseccomp -lcap \
    || die "building pause failed (needs libseccomp-dev and libcap-dev static archives; run hack/setup.sh)"
  chmod 0755 "$out/pause-root/pause"
  is_static "$out/pause-root/pause" || die "pause is not statically linked"
}

build() {
  command -v file >/dev/null || die "'file' is not installed"
  [ -x "$busybox_src" ] && is_static "$busybox_src" || die "$busybox_src is missing or not static (apt-get install busybox-static)"
  local bin; bin=$(nodekit_bin)
  build_pause

  "$bin" image build --name "$pause_image" --output "$out/pause.tar" \
    --file "$out/pause-root/pause:/pause" --entrypoint /pause

  local etc=$out/busybox-root/etc
  mkdir -p "$etc"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$etc/group"
  chmod 0644 "$etc/passwd" "$etc/group"

  local available; available=" $("$busybox_src" --list | tr '\n' ' ') "
  local args=(--file "$busybox_src:/bin/busybox" --file "$etc/passwd:/etc/passwd" --file "$etc/group:/etc/group"
    --dir /tmp:1777 --dir /root:700 --env "$path_env" --cmd sh)
  local applet
  for applet in $applets; do
    case "$available" in *" $applet "*) args+=(--symlink "/bin/$applet=busybox") ;; esac
  done
  "$bin" image build --name "$busybox_image" --output "$out/busybox.tar" "${args[@]}"
}

import() {
  command -v ctr >/dev/null || die "ctr is not installed (run hack/setup.sh)"
  local sock; sock=$("$repo/hack/containerd.sh" socket)
  [ -S "$sock" ] || die "no containerd socket at $sock; start it with hack/containerd.sh start"
  local name
  for name in pause busybox; do
    [ -f "$out/$name.tar" ] || die "$out/$name.tar is missing; run hack/images.sh build first"
    ctr -a "$sock" -n k8s.io images import "$out/$name.tar" >/dev/null || die "importing $out/$name.tar into $sock failed"
  done
  local listed; listed=$(ctr -a "$sock" -n k8s.io images ls -q)
  for name in "$pause_image" "$busybox_image"; do
    grep -qxF "$name" <<<"$listed" || die "$name is not listed by ctr -n k8s.io images ls after import"
    echo "imported $name"
  done
}

case "${1:-}" in
  build) build ;;
  import) import ;;
  *) echo "usage: $0 build|import" >&2; exit 2 ;;
esac
