#!/usr/bin/env bash
# A one-machine cluster: Nodekit's containerd plus `nodekit server` (store, API server,
# scheduler, controllers and this machine as a node), with examples/ applied.
#
#   hack/run.sh start   start what is not running, apply examples/, wait until the web
#                       Service answers through its ClusterIP, print how to use the cluster
#   hack/run.sh stop    stop the server, then every pod and containerd (containerd.sh purge:
#                       tasks, their network namespaces, runtime state), the pods' volume
#                       mounts under the kubelet's root dir and the proxy's rules
#                       (nodekit proxy --cleanup); the data dir's files stay, and the next
#                       start runs the pods it holds again
#   hack/run.sh status
#
# Run `make run` (it installs packages, builds and imports the images first) rather than this
# script directly. A second start while the cluster is up only re-applies examples/ and waits.
#
# Environment:
#   NODEKIT_STATE_DIR   runtime state: containerd, CNI, the server's pid file and log (default /run/nodekit)
#   NODEKIT_DATA_DIR    the server's data dir: store, pki/, kubeconfig, kubelet state (default /var/lib/nodekit)
#   NODEKIT_BIN         the nodekit binary (default .build/debug/nodekit)
#   NODEKIT_WAIT        seconds to wait for the node and for the Service (default 180)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${NODEKIT_STATE_DIR:-/run/nodekit}
data=${NODEKIT_DATA_DIR:-/var/lib/nodekit}
bin=${NODEKIT_BIN:-$repo/.build/debug/nodekit}
wait_limit=${NODEKIT_WAIT:-180}
export NODEKIT_STATE_DIR=$state
pidfile=$state/server.pid
log=$state/server.log
kubeconfig=$data/kubeconfig
node=$(hostname | tr '[:upper:]' '[:lower:]')

die() { echo "run.sh: $*" >&2; exit 1; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

log_tail() {
  echo "---- last lines of $log ----" >&2
  tail -n 30 "$log" >&2 || true
}

# The API server's address, from the kubeconfig it writes once it listens.
server_url() { sed -n 's/^ *server: *//p' "$kubeconfig" | head -n 1; }

# One API request as the admin (client certificate), body to stdout; fails on HTTP >= 400.
api() {
  local method=$1 path=$2
  shift 2
  curl -sS --fail --max-time 10 --cacert "$data/pki/ca.crt" --cert "$data/pki/admin.crt" --key "$data/pki/admin.key" \
    -X "$method" "$@" "$(server_url)$path"
}

has_kubectl() { command -v kubectl >/dev/null; }

start_server() {
  [ -x "$bin" ] || die "$bin is missing: build first (make build)"
  local sock
  sock=$(bash "$repo/hack/containerd.sh" start)
  mkdir -p "$state" "$data"
  if running; then
    echo "run.sh: nodekit server already running (pid $(cat "$pidfile"))"
    return
  fi
  echo "run.sh: starting nodekit server (log $log)"
  # setsid: the server outlives this shell and make; stdin from /dev/null.
  setsid "$bin" server --data-dir "$data" --node-name "$node" --runtime-endpoint "unix://$sock" \
    --root-dir "$data/kubelet" </dev/null >>"$log" 2>&1 &
  echo $! > "$pidfile"
}

# Waits (bounded) until `check` succeeds; on timeout prints `what` and the log's tail.
wait_for() {
  local what=$1 check=$2
  local start=$SECONDS
  until $check; do
    running || { log_tail; die "nodekit server exited while waiting for $what"; }
    if (( SECONDS - start >= wait_limit )); then
      log_tail
      die "timed out after ${wait_limit}s waiting for $what"
    fi
    sleep 1
  done
  echo "run.sh: $what after $((SECONDS - start))s"
}

node_ready() {
  [ -f "$kubeconfig" ] || return 1
  # The API writes object keys sorted (status before type); accept either order.
  api GET "/api/v1/nodes/$node" 2>/dev/null | tr -d ' \n' | grep -Eq '"status":"True","type":"Ready"|"type":"Ready","status":"True"'
}

# kubectl apply when kubectl is installed; otherwise server-side apply of each document over
# curl (the kinds examples/ uses).
apply_examples() {
  if has_kubectl; then
    KUBECONFIG=$kubeconfig kubectl apply -f "$repo/examples/"
    return
  fi
  echo "run.sh: kubectl is not installed; applying examples/ with server-side apply over curl"
  local file doc kind name namespace path
  for file in "$repo"/examples/*.yaml; do
    local dir
    dir=$(mktemp -d)
    awk -v dir="$dir" '/^---/ { n++; next } { print > (dir "/" n+0 ".yaml") }' "$file"
    for doc in "$dir"/*.yaml; do
      kind=$(sed -n 's/^kind: *//p' "$doc" | head -n 1)
      name=$(awk '/^metadata:/ { m = 1; next } m && /^  name:/ { print $2; exit }' "$doc")
      namespace=$(awk '/^metadata:/ { m = 1; next } m && /^  namespace:/ { print $2; exit }' "$doc")
      namespace=${namespace:-default}
      case $kind in
        Deployment) path=/apis/apps/v1/namespaces/$namespace/deployments/$name ;;
        Service) path=/api/v1/namespaces/$namespace/services/$name ;;
        "") continue ;;
        *) rm -rf "$dir"; die "cannot apply kind $kind without kubectl ($file)" ;;
      esac
      api PATCH "$path?fieldManager=make-run&force=true" -H 'Content-Type: application/apply-patch+yaml' --data-binary "@$doc" >/dev/null
      echo "$kind/$name applied"
    done
    rm -rf "$dir"
  done
}

cluster_ip() {
  api GET /api/v1/namespaces/default/services/web 2>/dev/null | tr -d ' \n' | sed -n 's/.*"clusterIP":"\([0-9.]*\)".*/\1/p'
}

service_answers() {
  local ip
  ip=$(cluster_ip)
  [ -n "$ip" ] && curl -s --fail --max-time 2 "http://$ip/" >/dev/null
}

start() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  command -v curl >/dev/null || die "curl is not installed (run hack/setup.sh)"
  start_server
  wait_for "node $node Ready" node_ready
  apply_examples
  wait_for "the web Service answering at its ClusterIP" service_answers
  local ip
  ip=$(cluster_ip)
  cat <<EOF

Nodekit is running: one node ($node), the web example behind http://$ip/
  curl http://$ip/
  export KUBECONFIG=$kubeconfig
  kubectl get nodes,pods,svc -o wide
  kubectl scale deployment web --replicas=5
  NODEKIT_STATE_DIR=$state $repo/.build/debug/nodectl cri ps    # containers as containerd sees them
  NODEKIT_STATE_DIR=$state $repo/.build/debug/nodectl doctor
Server log: $log
Stop with: make stop (data stays in $data)
EOF
}

# The kubelet mounts a tmpfs for each secret, configMap, projected (service account token) and
# Memory emptyDir volume under <root-dir>/pods/<uid>/volumes, and unmounts them only when it
# removes a pod; a stopped server leaves them for the pods it adopts on its next start, which
# mounts them again. Once the pods are gone, they go too: every mount point strictly below the
# root dir, deepest first; lazily only when busy. The directories and files around them stay.
unmount_volumes() {
  local root field path count=0 left
  root=$(realpath -e "$data/kubelet" 2>/dev/null) || return 0
  # Field 5 of mountinfo is the mount point, with space, tab, newline and backslash as octal
  # escapes (\040); a child sorts after its parent, so reverse order is deepest first. A point
  # mounted over twice is listed twice, and each umount takes one layer off.
  while read -r field; do
    path=$(printf '%b' "$field")
    [[ $path == "$root"/* ]] || continue
    if umount "$path" 2>/dev/null || umount -l "$path"; then count=$((count + 1)); fi
  done < <(awk '{ print $5 }' /proc/self/mountinfo | LC_ALL=C sort -r)
  [ "$count" -eq 0 ] || echo "run.sh: unmounted $count volume mounts under $root"
  left=$(awk '{ print $5 }' /proc/self/mountinfo | while read -r field; do
    path=$(printf '%b' "$field")
    if [[ $path == "$root"/* ]]; then printf '%s\n' "$path"; fi
  done)
  if [ -n "$left" ]; then echo "run.sh: still mounted under $root:"$'\n'"$left" >&2; fi
  return 0
}

stop() {
  if running; then
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; echo "run.sh: server killed (did not stop within 10 s)"; else echo "run.sh: server stopped"; fi
  else
    echo "run.sh: server not running"
  fi
  rm -f "$pidfile"
  # "Stops it all": the pods' processes and netns go too, not only containerd, then their
  # volumes' tmpfs mounts, and the proxy's kernel rules (they would point at pods that are gone).
  bash "$repo/hack/containerd.sh" purge
  unmount_volumes
  "$bin" proxy --cleanup >/dev/null 2>&1 || echo "run.sh: nodekit proxy --cleanup failed; see nft list ruleset" >&2
  echo "run.sh: pods and containerd stopped (data dir $data kept)"
}

status() {
  if running; then echo "server running pid $(cat "$pidfile") (log $log, kubeconfig $kubeconfig)"; else echo "server stopped"; fi
  bash "$repo/hack/containerd.sh" status || true
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: hack/run.sh start|stop|status" ;;
esac
