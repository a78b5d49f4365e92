#!/usr/bin/env bash
# Installs what loadscope needs on a fresh Debian machine, and does nothing when it is all there:
# Debian packages (as root), npm packages, the eBPF objects and loaders, the k6 binary.
# Environment: LOADSCOPE_SKIP_APT=1 skips apt-get; LOADSCOPE_SKIP_K6=1 skips building k6;
# LOADSCOPE_SKIP_KUBE=1 skips building the test control plane.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

APT_PACKAGES=(clang llvm libbpf-dev bpftool bpftrace libelf-dev zlib1g-dev make gcc pkg-config iproute2 nginx-light wrk chromium fonts-dejavu-core postgresql)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] && [ "${LOADSCOPE_SKIP_APT:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages (run as root to install): ${missing[*]}; probes and some benchmarks will be off"
  fi
fi

# npm packages: reinstall when package-lock.json changed since the last install.
stamp=node_modules/.loadscope-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi

# eBPF objects and loaders, the probes and the local cluster's balancer, from the one bpf/Makefile
# (make is a no-op when up to date).
if [ -f bpf/Makefile ]; then
  if command -v clang >/dev/null && command -v bpftool >/dev/null; then
    make -s -C bpf >&2 || say "bpf build failed: probes and the local cluster will be off (see the make output above)"
  else
    say "clang or bpftool missing: probes and the local cluster will be off"
  fi
fi

# k6, built from source with Go at a pinned version, into .tools/bin (git-ignored).
K6_VERSION=v1.8.1
if [ "${LOADSCOPE_SKIP_K6:-0}" != 1 ] && [ -f src/load/k6/engine.ts ]; then
  if [ ! -x .tools/bin/k6 ] || ! .tools/bin/k6 version 2>/dev/null | grep -q "${K6_VERSION}"; then
    if command -v go >/dev/null; then
      say "building k6 ${K6_VERSION} from source (first time only, a few minutes)"
      mkdir -p .tools/bin
      GOBIN="$PWD/.tools/bin" GOFLAGS=-mod=mod go install "go.k6.io/k6@${K6_VERSION}" >&2
    else
      say "Go is missing: the k6 engine is unavailable (install Go >= 1.24 and re-run npm run setup)"
    fi
  fi
fi

# The test control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), built from
# the Go module proxy into .tools/bin (~6.5 min the first time, a no-op afterwards); see docs/kubernetes.md.
if [ "${LOADSCOPE_SKIP_KUBE:-0}" != 1 ] && [ -f scripts/build-kube.sh ]; then
  if command -v go >/dev/null; then
    bash scripts/build-kube.sh || say "building the test control plane failed: loadscope controlplane and the test/kube tests are unavailable"
  else
    say "Go is missing: the test control plane (loadscope controlplane) is unavailable (install Go >= 1.26 and re-run npm run setup)"
  fi
fi
say "ready"
