# Nodekit — see README.md. Every target runs from a fresh clone on Debian 12 as root.
SHELL := /bin/bash
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)
STATE_DIR ?= $(or $(NODEKIT_STATE_DIR),/run/nodekit)
export NODEKIT_STATE_DIR := $(STATE_DIR)
BIN := .build/debug

.PHONY: all setup build test images protos tape-decoders run stop bench clean

all: build

# Installs the Debian packages (idempotent; needs root).
setup:
	@bash hack/setup.sh

build:
	$(SWIFT) build

# Sets up, builds, builds the images, and runs every test. Integration tests start their own
# containerd (private state dir) and network namespaces, and skip, saying why, without root.
# They run one at a time: many of them wait on child processes, and run in parallel on a
# 2-core machine they starved the two cooperative threads that every async test needs.
# The check first: it fails (naming the command) when a struct in Sources/KubeAPI changed and
# Sources/KubeAPI/JSONTapeTypes.swift or JSONDirectEncoders.swift was not regenerated.
test: setup
	python3 hack/gen-tape-decoders.py --check
	$(SWIFT) build --build-tests
	NODEKIT_BIN=$(BIN)/nodekit bash hack/images.sh build
	$(SWIFT) test --skip-build --skip IntegrationTests
	$(SWIFT) test --skip-build --filter IntegrationTests --no-parallel

# Builds the pause and busybox images and imports them into Nodekit's containerd.
images: setup build
	bash hack/containerd.sh start >/dev/null
	NODEKIT_BIN=$(BIN)/nodekit bash hack/images.sh build
	bash hack/images.sh import

# Regenerates the committed protobuf and gRPC code (builds the protoc plugins once).
protos:
	bash hack/protos.sh

# Regenerates Sources/KubeAPI/JSONTapeTypes.swift, the one-pass tape decoders of Pod, Node,
# Lease, ObjectMeta and every struct inside them, and Sources/KubeAPI/JSONDirectEncoders.swift,
# their direct encoders (and Binding's), from their declarations (python3, no build).
tape-decoders:
	python3 hack/gen-tape-decoders.py

# A one-machine cluster (hack/run.sh): containerd, the images, `nodekit server` in the
# background (pid file and log in $(STATE_DIR)), examples/ applied; returns once the web
# Service answers through its ClusterIP. Running it again while the cluster is up is harmless.
run: images
	bash hack/run.sh start

# Stops the server and containerd; the data dir (/var/lib/nodekit) stays.
stop:
	bash hack/run.sh stop

# Benchmarks print what they measured beside their baselines (see README and docs/).
# BENCH_ARGS=--quick shortens the store benchmark; the kubelet one needs root and containerd.
bench: setup
	$(SWIFT) build -c release --product store-bench
	$(SWIFT) build -c release --product scheduler-bench
	$(SWIFT) build -c release --product hollow-bench
	$(SWIFT) build -c release --product kubelet-bench
	$(SWIFT) build --product nodekit
	NODEKIT_BIN=$(BIN)/nodekit bash hack/images.sh build
	.build/release/store-bench $(BENCH_ARGS)
	.build/release/scheduler-bench $(BENCH_ARGS)
	.build/release/hollow-bench $(BENCH_ARGS)
	.build/release/kubelet-bench
	$(SWIFT) build -c release --product apiserver-bench && .build/release/apiserver-bench --etcd $(BENCH_ARGS)

clean:
	$(SWIFT) package clean
	rm -rf out

.PHONY: bench-proxy test-ipvs

# Proxy-mode benchmark (issue 9; docs/proxy-bench.md): nftables and iptables (nft and legacy
# variants) on this kernel, IPVS inside a VM with Debian's kernel (hack/vm-test.sh; skipped with a
# message when the VM tools are missing), then all rows in one table, JSON and SVG
# (out/proxy-bench-all.*). BENCH_ARGS=--quick measures N = 1k and 5k only.
bench-proxy: setup
	$(SWIFT) build -c release --product nodectl
	mkdir -p out
	.build/release/nodectl bench proxy --backends nftables,iptables,iptables-legacy $(BENCH_ARGS) --json out/proxy-bench.json --svg out/proxy-bench.svg
	bash hack/vm-test.sh bench $(BENCH_ARGS) --json out/proxy-bench-ipvs.json --svg out/proxy-bench-ipvs.svg || echo "bench-proxy: IPVS numbers need the VM (see docs/proxy-bench.md)"
	.build/release/nodectl bench proxy-merge out/proxy-bench.json $$(ls out/proxy-bench-ipvs.json 2>/dev/null) --json out/proxy-bench-all.json --svg out/proxy-bench-all.svg

# The IPVS backend against real IPVS: this kernel has none, so the integration suite runs in a
# VM booted with Debian's kernel (about 2 minutes; not part of `make test`).
test-ipvs:
	$(SWIFT) build --build-tests
	bash hack/vm-test.sh test IPVSProxyIntegrationTests
