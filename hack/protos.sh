#!/usr/bin/env bash
# Regenerates the committed Swift code for the project's own .proto files (`make protos`).
#   protos/cri/*.proto  -> Sources/CRI/Generated
#   protos/etcd/*.proto -> Sources/EtcdStore/Generated
#   protos/health/*.proto -> Sources/Probe/Generated (client for probes, server for tests)
# Builds protoc-gen-swift and protoc-gen-grpc-swift-2 from the pinned package versions in
# hack/protoc-plugins (a few minutes, once); CI never runs this.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
plugins=$repo/hack/protoc-plugins
command -v protoc >/dev/null || { echo "protos.sh: protoc missing (apt-get install protobuf-compiler)" >&2; exit 1; }
bin=$plugins/.build/release
if [ ! -x "$bin/protoc-gen-swift" ] || [ ! -x "$bin/protoc-gen-grpc-swift-2" ]; then
  echo "protos.sh: building the protoc plugins (once)"
  swift build -c release --package-path "$plugins" --product protoc-gen-swift
  swift build -c release --package-path "$plugins" --product protoc-gen-grpc-swift-2
fi
gen() {
  local src=$1 dst=$2
  compgen -G "$src/*.proto" >/dev/null || return 0
  rm -rf "$dst"; mkdir -p "$dst"
  protoc --proto_path="$src" \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
    --swift_out="$dst" --swift_opt=Visibility=Public \
    --grpc-swift-2_out="$dst" --grpc-swift-2_opt=Visibility=Public,Client=true,Server=${3:-false} \
    "$src"/*.proto
  echo "protos.sh: $(ls "$dst" | wc -l) files in ${dst#"$repo"/}"
}
gen "$repo/protos/cri" "$repo/Sources/CRI/Generated"
gen "$repo/protos/etcd" "$repo/Sources/EtcdStore/Generated"
gen "$repo/protos/health" "$repo/Sources/Probe/Generated" true
