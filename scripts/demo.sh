#!/usr/bin/env bash
# demo.sh — the main job on a fresh Debian 12 machine: install dependencies, build, write a
# real-sized Gemma 4 E2B-shaped Q4_0 model (random weights, real Gemma vocabulary), generate from
# it, tokenize and benchmark it. Models go to $GEMRUN_MODELS (default ./models).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"${JOBS:-2}"
BIN=build/release/gemrun
MODELS=${GEMRUN_MODELS:-models}
mkdir -p "$MODELS"
[ -f "$MODELS/vocab-gemma4.gguf" ] || node tools/make_vocab.mjs --style gemma4 --out "$MODELS/vocab-gemma4.gguf"
MODEL="$MODELS/gemma4-e2b-q4_0.gguf"
[ -f "$MODEL" ] || "$BIN" synth --preset gemma4-e2b --type q4_0 --seed 1 --vocab "$MODELS/vocab-gemma4.gguf" -o "$MODEL"
echo "== tokenize"
"$BIN" tokenize -m "$MODELS/vocab-gemma4.gguf" "Hello, world! Gemma 4 runs here."
echo "== run (random weights: the text is gibberish, the computation and speed are real)"
"$BIN" run -m "$MODEL" -p "The capital of France is" -n 32 --temp 0
echo "== bench"
"$BIN" bench -m "$MODEL" -p 512 -n 128 -t 1,2 -r 3
