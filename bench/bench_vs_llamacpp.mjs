#!/usr/bin/env node
// bench_vs_llamacpp.mjs — prompt (pp512) and decode (tg128) speed of gemrun vs llama.cpp
// (node-llama-cpp 3.22.1 prebuilt CPU build) on the same full-size E2B-shaped synthetic files
// (Q4_0, Q8_0). Runs alternate A B A B per thread count; every figure carries the machine's CPU
// busy share from /proc/stat over its interval. Prints medians, spread (min..max) and ours/llama.cpp.
// Usage: node bench/bench_vs_llamacpp.mjs [--models DIR] [--types q4_0,q8_0] [--threads 1,2]
//        [--reps 3] [--pp 512] [--tg 128] [--json OUT.json]
// Must not change any model file it did not write itself (it only creates missing ones).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getLlama } from 'node-llama-cpp';
import { gemrunBin, vocabFor } from '../tests/ref/lib/gemrun.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const MODELS = arg('models', process.env.GEMRUN_MODELS || '/work/models');
const TYPES = arg('types', 'q4_0,q8_0').split(',');
const THREADS = arg('threads', '1,2').split(',').map(Number);
const REPS = Number(arg('reps', '3'));
const PP = Number(arg('pp', '512'));
const TG = Number(arg('tg', '128'));
const JSON_OUT = arg('json', null);

function cpuTimes() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = l[3] + (l[4] || 0);
  return { idle, total: l.reduce((a, b) => a + b, 0) };
}
const busyShare = (a, b) => 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);

function ensureModel(type) {
  mkdirSync(MODELS, { recursive: true });
  const p = join(MODELS, `gemma4-e2b-synth-${type}.gguf`);
  if (!existsSync(p)) {
    console.error(`writing ${p} ...`);
    const r = spawnSync(gemrunBin(), ['synth', '--preset', 'gemma4-e2b', '--type', type, '--seed', '1',
      '--vocab', vocabFor('gemma4'), '-o', p], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`gemrun synth failed for ${type}`);
  }
  return p;
}

// gemrun bench --json prints [{"threads":T,"test":"pp512"|"tg128","tok_s":X,"min":..,"max":..,"reps":R}, ...].
function parseOurs(stdout, threads) {
  const line = stdout.trim().split('\n').filter((l) => l.trim().startsWith('[')).pop();
  if (!line) throw new Error(`gemrun bench printed no JSON:\n${stdout}`);
  const rows = JSON.parse(line).filter((r) => Number(r.threads) === threads);
  const get = (prefix) => Number(rows.find((r) => String(r.test).startsWith(prefix))?.tok_s ?? NaN);
  return { pp: get('pp'), tg: get('tg') };
}

function runOurs(model, threads) {
  const a = cpuTimes();
  const r = spawnSync(gemrunBin(), ['bench', '-m', model, '-p', String(PP), '-n', String(TG), '-t', String(threads), '-r', '1', '--json'],
    { encoding: 'utf8', maxBuffer: 16 << 20 });
  const b = cpuTimes();
  if (r.status !== 0) throw new Error(`gemrun bench failed: ${r.stderr}`);
  return { ...parseOurs(r.stdout, threads), busy: busyShare(a, b) };
}

let llamaInst = null;
const loaded = new Map();
async function runLlama(model, threads) {
  llamaInst ??= await getLlama({ gpu: false, build: 'never', logLevel: 'error', maxThreads: 0 });
  if (!loaded.has(model)) loaded.set(model, await llamaInst.loadModel({ modelPath: model, gpuLayers: 0 }));
  const m = loaded.get(model);
  const ctx = await m.createContext({ contextSize: PP + TG + 16, batchSize: PP, threads, sequences: 1 });
  const seq = ctx.getSequence();
  // Deterministic ids away from special tokens; speed does not depend on which ids.
  const ids = Array.from({ length: PP }, (_, i) => 1000 + ((i * 7919) % 200000));
  const a = cpuTimes();
  let t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(ids);
  const ppMs = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < TG; i++) await seq.evaluateWithoutGeneratingNewTokens([2000 + i]);
  const tgMs = performance.now() - t0;
  const b = cpuTimes();
  await ctx.dispose();
  return { pp: (PP * 1000) / ppMs, tg: (TG * 1000) / tgMs, busy: busyShare(a, b) };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const fmt = (xs) => `${median(xs).toFixed(1)} [${Math.min(...xs).toFixed(1)}..${Math.max(...xs).toFixed(1)}]`;

const results = [];
for (const type of TYPES) {
  const model = ensureModel(type);
  await runLlama(model, 1); // warm-up: page the file in, load once
  runOurs(model, 1);
  for (const t of THREADS) {
    const o = [], l = [];
    for (let r = 0; r < REPS; r++) {
      // A B / B A alternation so slow drifts in machine load hit both engines alike.
      if (r % 2 === 0) { o.push(runOurs(model, t)); l.push(await runLlama(model, t)); }
      else { l.push(await runLlama(model, t)); o.push(runOurs(model, t)); }
      console.error(`${type} t=${t} rep ${r}: ours pp ${o.at(-1).pp.toFixed(1)} tg ${o.at(-1).tg.toFixed(2)} | llama.cpp pp ${l.at(-1).pp.toFixed(1)} tg ${l.at(-1).tg.toFixed(2)}`);
    }
    results.push({ type, threads: t, ours: o, llama: l });
  }
}

console.log(`\ngemma4-e2b synthetic, pp${PP} / tg${TG}, ${REPS} reps, median [min..max] tok/s, busy = /proc/stat CPU share during the runs`);
console.log('| type | threads | gemrun pp | llama.cpp pp | pp ratio | gemrun tg | llama.cpp tg | tg ratio | busy ours / llama |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const op = r.ours.map((x) => x.pp), lp = r.llama.map((x) => x.pp), ot = r.ours.map((x) => x.tg), lt = r.llama.map((x) => x.tg);
  const busy = (xs) => `${(100 * median(xs.map((x) => x.busy))).toFixed(0)}%`;
  console.log(`| ${r.type} | ${r.threads} | ${fmt(op)} | ${fmt(lp)} | ${(median(op) / median(lp)).toFixed(2)} | ${fmt(ot)} | ${fmt(lt)} | ${(median(ot) / median(lt)).toFixed(2)} | ${busy(r.ours)} / ${busy(r.llama)} |`);
}
// llama.cpp's best thread setting per type, as the peer to beat.
for (const type of TYPES) {
  const rs = results.filter((r) => r.type === type);
  const best = (k, who) => Math.max(...rs.map((r) => median(r[who].map((x) => x[k]))));
  console.log(`${type}: best-of-threads  pp ours/llama.cpp ${(best('pp', 'ours') / best('pp', 'llama')).toFixed(2)}, tg ours/llama.cpp ${(best('tg', 'ours') / best('tg', 'llama')).toFixed(2)}`);
}
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(results, null, 1));
for (const m of loaded.values()) await m.dispose();
