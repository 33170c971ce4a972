#!/usr/bin/env bash
# install_example.sh — the C API as an application sees it: install the library into a fresh prefix,
# build examples/simple.c with nothing but pkg-config and the installed files, and run it on a small
# synthetic model with the real Gemma vocabulary. Usage: tests/install_example.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$BUILD" --prefix "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror examples/simple.c $(pkg-config --cflags --libs gemrun) -o "$work/simple"
node tools/make_vocab.mjs --style gemma4 --out "$work/vocab.gguf" >/dev/null
"$work/prefix/bin/gemrun" synth --preset gemma4-e2b-tiny --type q8_0 --vocab "$work/vocab.gguf" \
  -o "$work/model.gguf" >/dev/null
out=$("$work/simple" "$work/model.gguf" "Hello")
echo "$out" | head -c 600; echo
echo "$out" | grep -q '"weights_bytes"\|plan:' || { echo "example printed no plan"; exit 1; }
echo "install_example: built against the installed library and ran"
