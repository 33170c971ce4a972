// gemrun.mjs — locates the gemrun CLI, writes synthetic models and vocabularies (cached), and runs
// `gemrun run` with --dump-logits. Test-side glue only: no comparison logic here.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export function gemrunBin() {
  if (process.env.GEMRUN_BIN) return process.env.GEMRUN_BIN;
  // The most recently built binary among the usual build folders.
  const found = ['build', 'build-release', 'build-model', 'build-synth'].map((d) => join(ROOT, d, 'gemrun'))
    .filter((p) => existsSync(p)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (found.length) return found[0];
  throw new Error('gemrun binary not found: build it (cmake -S . -B build && make -C build gemrun) or set GEMRUN_BIN');
}

export function workDir() {
  const d = process.env.GEMRUN_REF_DIR || join(tmpdir(), 'gemrun-ref');
  mkdirSync(d, { recursive: true });
  return d;
}

// Real 262144-token vocabulary (tools/make_vocab.mjs), one per style, cached in the work dir.
export function vocabFor(arch) {
  const style = arch === 'gemma3' ? 'gemma3' : 'gemma4';
  const out = join(workDir(), `vocab-${style}.gguf`);
  if (!existsSync(out)) {
    execFileSync(process.execPath, [join(ROOT, 'tools/make_vocab.mjs'), '--style', style, '--out', out],
      { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return out;
}

// Write a synthetic model (always afresh: a cached file could predate a change of the writer).
export function synth({ preset, type, seed = 1, vocab = true, nVocab, out }) {
  const path = out ?? join(workDir(), `${preset}-${type}-s${seed}${vocab ? '' : `-v${nVocab}`}.gguf`);
  const args = ['synth', '--preset', preset, '--type', type, '--seed', String(seed), '-o', path];
  if (vocab) args.push('--vocab', vocabFor(preset.startsWith('gemma3') ? 'gemma3' : 'gemma4'));
  else if (nVocab) args.push('--n-vocab', String(nVocab));
  const r = spawnSync(gemrunBin(), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gemrun synth failed: ${r.stderr}`);
  return path;
}

export function removeQuietly(p) {
  try { unlinkSync(p); } catch { /* already gone */ }
}

// Greedy run with every evaluated position's logits dumped. Returns
// { tokens, promptTokens, logits: Float32Array[] (row i = logits after token i), json }.
export function runGemrun({ modelPath, prompt, nGen, nVocab, threads }) {
  const dump = join(workDir(), `logits-${process.pid}-${Date.now()}.f32`);
  const args = ['run', '-m', modelPath, '--tokens', prompt.join(','), '-n', String(nGen),
    '--temp', '0', '--json', '--dump-logits', dump];
  if (threads) args.push('-t', String(threads));
  const t0 = performance.now();
  const r = spawnSync(gemrunBin(), args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`gemrun run failed (${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  const json = JSON.parse(line);
  const buf = readFileSync(dump);
  removeQuietly(dump);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (all.length % nVocab !== 0) throw new Error(`logit dump of ${all.length} floats is not a multiple of n_vocab ${nVocab}`);
  const logits = [];
  for (let i = 0; i < all.length / nVocab; i++) logits.push(all.subarray(i * nVocab, (i + 1) * nVocab));
  return { tokens: json.tokens, promptTokens: json.prompt_tokens, logits, json, ms };
}
