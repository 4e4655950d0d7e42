#!/usr/bin/env bash
# A local multi-node Nodekit cluster on one machine (issue 7; docs/cluster.md, "Multi-node").
#
#   hack/cluster-up.sh [--nodes N] [--name NAME] [--node-subnet A.B.C.0/24] [--cluster-cidr CIDR]
#                      [--service-cidr CIDR]
#   hack/cluster-up.sh --down [--name NAME]
#
# Every node, node 1 included, is a network namespace NAME-nodeI joined to the host bridge NAME-br
# by a veth pair (the node's eth0, at A.B.C.(I+1); the host is A.B.C.1). Node 1 runs
# `nodekit server` (store, API server, scheduler, controllers, node IPAM and its own kubelet and
# proxy); nodes 2..N run `nodekit agent` with the server's kubeconfig. Each node has its own
# containerd (hack/containerd.sh, state in DIR/nodeI), CNI bridge NAME-cni, kubelet root dir,
# nftables proxy rules and the podCIDR the server assigned it. Node 1 gets a namespace too, so
# that a cluster's kernel state (proxy tables, CNI bridge and masquerade, routes) never mixes with
# the host's or with `make run`'s, and --down removes it by deleting namespaces.
#
# Cross-node pod traffic is routed, not encapsulated: each node namespace (and the host) gets a
# route to every other node's podCIDR via that node's eth0 address. The agent also writes these
# routes to the CNI routes file, which nodekit-cni applies on each pod ADD.
#
# Re-running with the cluster up only starts what is missing (a larger --nodes adds nodes);
# --down stops the processes, purges each containerd (tasks, shims, mounts, state), deletes the
# namespaces, links and the state dir DIR.
#
# Prints the kubeconfig path (DIR/kubeconfig) on the last line of a successful start.
#
# Environment:
#   NODEKIT_BIN          the nodekit binary (default .build/debug/nodekit)
#   NODEKIT_CNI_BIN      the nodekit-cni binary (default .build/debug/nodekit-cni)
#   NODEKIT_CLUSTER_DIR  state dir (default /run/nodekit-cluster-NAME)
#   NODEKIT_IMAGES_DIR   image archives (default out/images; built with hack/images.sh when missing)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
nodes=1
name=nkc
node_subnet=10.250.0.0/24
cluster_cidr=10.251.0.0/16
service_cidr=10.96.0.0/12
down=false

die() { echo "cluster-up.sh: $*" >&2; exit 1; }
say() { echo "cluster-up.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) [ $# -ge 2 ] || die "--nodes needs a number"; nodes=$2; shift 2 ;;
    --name) [ $# -ge 2 ] || die "--name needs a value"; name=$2; shift 2 ;;
    --node-subnet) [ $# -ge 2 ] || die "--node-subnet needs a /24"; node_subnet=$2; shift 2 ;;
    --cluster-cidr) [ $# -ge 2 ] || die "--cluster-cidr needs a CIDR"; cluster_cidr=$2; shift 2 ;;
    --service-cidr) [ $# -ge 2 ] || die "--service-cidr needs a CIDR"; service_cidr=$2; shift 2 ;;
    --down) down=true; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

# Interface names hold 15 bytes: NAME-br, NAME-cni and NAME-vNN must fit.
[[ $name =~ ^[a-z][a-z0-9]{0,5}$ ]] || die "--name $name: 1-6 lowercase letters or digits, starting with a letter"
[[ $nodes =~ ^[0-9]+$ ]] && [ "$nodes" -ge 1 ] && [ "$nodes" -le 50 ] || die "--nodes $nodes: expected 1 to 50"
[[ $node_subnet =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ ]] || die "--node-subnet $node_subnet: expected A.B.C.0/24"
net_prefix=${BASH_REMATCH[1]}
[[ $cluster_cidr =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || die "--cluster-cidr $cluster_cidr is not an IPv4 CIDR"
[[ $service_cidr =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || die "--service-cidr $service_cidr is not an IPv4 CIDR"
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, containerd)"

dir=${NODEKIT_CLUSTER_DIR:-/run/nodekit-cluster-$name}
bridge=$name-br
cni_bridge=$name-cni
host_ip=$net_prefix.1
api_port=6443
nodekit=${NODEKIT_BIN:-$repo/.build/debug/nodekit}
cni_bin=${NODEKIT_CNI_BIN:-$repo/.build/debug/nodekit-cni}
images=${NODEKIT_IMAGES_DIR:-$repo/out/images}

ns_of() { echo "$name-node$1"; }
ip_of() { echo "$net_prefix.$(( $1 + 1 ))"; }
state_of() { echo "$dir/node$1"; }
in_ns() { local ns; ns=$(ns_of "$1"); shift; nsenter --net="/var/run/netns/$ns" "$@"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The environment hack/containerd.sh sees for node I.
containerd_env() {
  echo "NODEKIT_STATE_DIR=$(state_of "$1") NODEKIT_BRIDGE=$cni_bridge NODEKIT_CLUSTER_CIDR=$cluster_cidr NODEKIT_CNI_BIN=$cni_bin"
}

# SIGTERM, then SIGKILL after 10 s, for the process in a pid file.
stop_pid() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

teardown_node() {
  local i=$1 ns state
  ns=$(ns_of "$i")
  state=$(state_of "$i")
  stop_pid "$state/nodekit.pid"
  if [ -e "/var/run/netns/$ns" ]; then
    # purge inside the namespace: its bridge and masquerade table are the namespace's own.
    in_ns "$i" env $(containerd_env "$i") bash "$repo/hack/containerd.sh" purge >/dev/null 2>&1 || say "purging node $i's containerd reported an error"
    # Anything still in the namespace (a shim that outlived containerd) is ours.
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || say "cannot delete namespace $ns"
  elif [ -d "$state" ]; then
    env $(containerd_env "$i") bash "$repo/hack/containerd.sh" purge >/dev/null 2>&1 || true
  fi
  ip link delete "$name-v$i" 2>/dev/null || true
}

down() {
  local i
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns =~ ^$name-node([0-9]+)$ ]] && teardown_node "${BASH_REMATCH[1]}"
  done
  if [ -d "$dir" ]; then
    for state in "$dir"/node*; do
      [ -d "$state" ] || continue
      i=${state##*/node}
      [[ $i =~ ^[0-9]+$ ]] && teardown_node "$i"
    done
  fi
  ip link delete "$bridge" 2>/dev/null || true
  # Mounts the kubelets made under DIR (volumes), in case a node's purge missed one.
  { grep -E " $dir[/ ]" /proc/self/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
  say "cluster $name is down"
}

if $down; then down; exit 0; fi

[ -x "$nodekit" ] || die "$nodekit is missing; build it (swift build --product nodekit) or set NODEKIT_BIN"
[ -x "$cni_bin" ] || die "$cni_bin is missing; build it (swift build --product nodekit-cni) or set NODEKIT_CNI_BIN"
for tool in containerd ctr runc nsenter curl python3; do command -v "$tool" >/dev/null || die "needs $tool (run hack/setup.sh)"; done
if [ ! -f "$images/pause.tar" ] || [ ! -f "$images/busybox.tar" ]; then
  say "building the images (hack/images.sh build)"
  NODEKIT_BIN=$nodekit NODEKIT_IMAGES_DIR=$images bash "$repo/hack/images.sh" build >&2
fi
mkdir -p "$dir"

# --- Network: the host bridge and one namespace per node ---
if [ ! -e "/sys/class/net/$bridge" ]; then
  ip link add "$bridge" type bridge
fi
ip addr replace "$host_ip/24" dev "$bridge"
ip link set "$bridge" up

setup_node_network() {
  local i=$1 ns veth
  ns=$(ns_of "$i")
  veth=$name-v$i
  [ -e "/var/run/netns/$ns" ] || ip netns add "$ns"
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    ip link delete "$veth" 2>/dev/null || true
    ip link add "$veth" type veth peer name eth0 netns "$ns"
  fi
  ip link set "$veth" master "$bridge" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr replace "$(ip_of "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
  # Without a default route a namespace cannot even send to a ClusterIP (routing runs before the
  # proxy's DNAT); the host end is as good a gateway as any.
  ip -n "$ns" route replace default via "$host_ip"
  # Each node forwards between its eth0 and its pods' bridge.
  in_ns "$i" sysctl -qw net.ipv4.ip_forward=1
}

# --- Per node: containerd first (no CNI config until the podCIDR is known), then nodekit ---
start_containerd() {
  local i=$1 state
  state=$(state_of "$i")
  if alive "$state/containerd/containerd.pid"; then return 0; fi
  mkdir -p "$state"
  in_ns "$i" env $(containerd_env "$i") bash "$repo/hack/containerd.sh" start >/dev/null
  # No network config until the server assigns this node's podCIDR: CRI reports NetworkReady=false,
  # the kubelet reports the node NotReady, and nothing is scheduled here with the wrong range.
  [ -n "$(node_cidr "$i")" ] || rm -f "$state/cni/net.d/10-nodekit.conflist"
  env $(containerd_env "$i") NODEKIT_IMAGES_DIR="$images" bash "$repo/hack/images.sh" import >/dev/null
}

node_flags() {
  local i=$1 state
  state=$(state_of "$i")
  echo "--node-name $(ns_of "$i") --node-ip $(ip_of "$i") --runtime-endpoint unix://$state/containerd/containerd.sock" \
       "--root-dir $state/kubelet --cluster-cidr $cluster_cidr --cni-routes-file $state/cni/node-routes.json"
}

start_nodekit() {
  local i=$1 state
  state=$(state_of "$i")
  alive "$state/nodekit.pid" && return 0
  local args
  if [ "$i" -eq 1 ]; then
    args="server --data-dir $dir/server --bind-address 0.0.0.0 --secure-port $api_port --advertise-address $(ip_of 1) --service-cidr $service_cidr $(node_flags 1)"
  else
    args="agent --kubeconfig $dir/kubeconfig $(node_flags "$i")"
  fi
  # setsid: the daemon outlives this script and its caller's terminal or test process group.
  NODEKIT_STATE_DIR=$state setsid nsenter --net="/var/run/netns/$(ns_of "$i")" "$nodekit" $args >>"$state/nodekit.log" 2>&1 </dev/null &
  echo $! > "$state/nodekit.pid"
}

# --- The API, through curl with the admin token (kubectl is not required) ---
api() {
  curl -sf --max-time 5 --cacert "$dir/server/pki/ca.crt" -H "Authorization: Bearer $(cat "$dir/server/pki/token")" \
    "https://$(ip_of 1):$api_port$1"
}

node_cidr() {
  [ -f "$dir/server/pki/token" ] || return 0
  api "/api/v1/nodes/$(ns_of "$1")" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("spec", {}).get("podCIDR", ""))' 2>/dev/null || true
}

wait_for() { # seconds description command...
  local seconds=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || { say "timed out after ${seconds}s waiting for $what"; return 1; }
    sleep 0.2
  done
}

server_answers() { [ -f "$dir/server/kubeconfig" ] && api /readyz >/dev/null 2>&1; }
has_cidr() { [ -n "$(node_cidr "$1")" ]; }

all_ready() {
  api /api/v1/nodes 2>/dev/null | python3 -c '
import json, sys
want = set(sys.argv[1:])
ready = {n["metadata"]["name"] for n in json.load(sys.stdin)["items"]
         if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))}
sys.exit(0 if want <= ready else 1)' $(for i in $(seq 1 "$nodes"); do ns_of "$i"; done)
}

fail_with_logs() {
  for i in $(seq 1 "$nodes"); do
    local log; log=$(state_of "$i")/nodekit.log
    [ -f "$log" ] && { echo "--- $log (last 20 lines)" >&2; tail -n 20 "$log" >&2; }
  done
  die "$1"
}

for i in $(seq 1 "$nodes"); do setup_node_network "$i"; done

start_containerd 1
start_nodekit 1
wait_for 60 "the API server of node 1" server_answers || fail_with_logs "the server did not come up"
# The server's kubeconfig names 127.0.0.1, which only node 1's namespace reaches; agents and the
# host use node 1's eth0 address (a SAN of the serving certificate through --advertise-address).
sed -E "s#(server: *https://)[^/]+#\1$(ip_of 1):$api_port#" "$dir/server/kubeconfig" > "$dir/kubeconfig.new"
chmod 600 "$dir/kubeconfig.new"
mv -f "$dir/kubeconfig.new" "$dir/kubeconfig"

for i in $(seq 2 "$nodes"); do
  start_containerd "$i"
  start_nodekit "$i"
done

# Each node's CNI config once its podCIDR is assigned (hack/containerd.sh rewrites it in place;
# containerd's CRI picks up the new file and reports the network ready).
declare -A cidr
for i in $(seq 1 "$nodes"); do
  wait_for 60 "a podCIDR for $(ns_of "$i")" has_cidr "$i" || fail_with_logs "node $i got no podCIDR"
  cidr[$i]=$(node_cidr "$i")
  in_ns "$i" env $(containerd_env "$i") NODEKIT_POD_CIDR="${cidr[$i]}" bash "$repo/hack/containerd.sh" start >/dev/null
done

# Routes to every other node's pods, in each node and on the host.
for i in $(seq 1 "$nodes"); do
  for j in $(seq 1 "$nodes"); do
    [ "$i" -eq "$j" ] || ip -n "$(ns_of "$i")" route replace "${cidr[$j]}" via "$(ip_of "$j")" dev eth0
  done
  ip route replace "${cidr[$i]}" via "$(ip_of "$i")" dev "$bridge"
done

wait_for 90 "all $nodes nodes to be Ready" all_ready || fail_with_logs "not every node became Ready"
for i in $(seq 1 "$nodes"); do say "$(ns_of "$i") Ready: InternalIP $(ip_of "$i"), podCIDR ${cidr[$i]}"; done
say "kubectl --kubeconfig $dir/kubeconfig get nodes"
echo "$dir/kubeconfig"
