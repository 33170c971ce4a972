#!/usr/bin/env bash
# deps.sh — install everything gemrun needs to build and test on a fresh Debian 12 machine:
# the C toolchain and libraries from apt, and the test-only reference runtimes from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential cmake clang libclang-rt-14-dev libcmocka-dev pkg-config libcurl4-openssl-dev libmicrohttpd-dev chromium curl"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
command -v node >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq $missing
fi
# node-llama-cpp ships prebuilt llama.cpp binaries in @node-llama-cpp/linux-x64; never download or build.
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
# npm ci refuses this lock: node-llama-cpp lists per-platform optional packages the registry does
# not resolve here; npm install honours the lock for everything it installs.
npm install --omit=optional --no-audit --no-fund --loglevel=error
