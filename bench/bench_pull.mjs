// bench_pull.mjs — `gemrun pull` throughput on loopback against curl on the same URL.
// Serves a synthetic ~290 MB Gemma 4 GGUF with tests/pull/server.mjs ("fast" scenario: pipe()),
// then alternates runs of
//   curl -s -o /dev/null URL            (the reference: no disk, no hash)
//   curl -s -o FILE URL && sync FILE    (the same durable write to disk, for context)
//   curl -s URL | tee FILE | openssl dgst -sha256 && sync FILE
//                                       (a verifying client built from standard tools: the same work
//                                        as ours, its stages in parallel processes)
//   gemrun pull URL --quiet --no-check  (writes, sha256-verifies, fsyncs, renames into a fresh cache)
//   the same with the cache on tmpfs (/dev/shm), to separate our pipeline from the disk
//   openssl dgst -sha256 FILE           (the hash alone, file in the page cache: the floor for any
//                                        client that verifies every byte)
// and prints the medians with their spread and the ratios (target gemrun / curl-to-/dev/null >= 0.80).
// Usage: node bench/bench_pull.mjs [--runs N] [--layers N]   (GEMRUN_BIN to pick the binary)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gemrunBin } from '../tests/ref/lib/gemrun.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, def) => { const i = argv.indexOf(name); return i >= 0 ? Number(argv[i + 1]) : def; };
const RUNS = opt('--runs', 5);
const BIN = gemrunBin();
const dir = mkdtempSync(join(tmpdir(), 'gemrun-bench-pull-'));
const file = join(dir, 'model.gguf');

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

// Before every timed run: flush what earlier runs left dirty (and let the discards of deleted files
// finish), so no run pays for the writeback of the one before it.
function settle() {
  spawnSync('sync');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

function timed(cmd, args, env = process.env) {
  settle();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return s;
}

async function main() {
  const syn = spawnSync(BIN, ['synth', '--preset', 'gemma4-e2b', '--type', 'q4_0', '--layers',
    String(opt('--layers', 1)), '-o', file], { encoding: 'utf8' });
  if (syn.status !== 0) throw new Error(syn.stderr);
  const size = statSync(file).size;
  const srv = spawn(process.execPath, [join(HERE, '../tests/pull/server.mjs'), '--file', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise((res) => { let b = ''; srv.stdout.on('data', (c) => { b += c; if (b.includes('\n')) res(JSON.parse(b.split('\n')[0])); }); });
  const url = `http://127.0.0.1:${info.port}/f/fast/model.gguf`;
  const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/gemrun-bench-pull-') : null;
  const t = { curlNull: [], curlFile: [], curlSha: [], gemrun: [], gemrunShm: [], sha: [] };
  try {
    timed('curl', ['-s', '-o', '/dev/null', url]); // warm the page cache and the server
    for (let i = 0; i < RUNS; i++) {
      t.curlNull.push(timed('curl', ['-s', '-o', '/dev/null', url]));
      const out = join(dir, 'curl.out');
      t.curlFile.push(timed('sh', ['-c', `curl -s -o '${out}' '${url}' && sync '${out}'`]));
      rmSync(out, { force: true });
      t.curlSha.push(timed('sh', ['-c', `curl -s '${url}' | tee '${out}' | openssl dgst -sha256 >/dev/null && sync '${out}'`]));
      rmSync(out, { force: true });
      t.sha.push(timed('openssl', ['dgst', '-sha256', file]));
      const cache = join(dir, `cache-${i}`);
      t.gemrun.push(timed(BIN, ['pull', url, '--quiet', '--no-check', '--cache', cache]));
      rmSync(cache, { recursive: true, force: true });
      if (shm) {
        t.gemrunShm.push(timed(BIN, ['pull', url, '--quiet', '--no-check', '--cache', join(shm, 'c')]));
        rmSync(join(shm, 'c'), { recursive: true, force: true });
      }
    }
  } finally {
    srv.kill();
    if (shm) rmSync(shm, { recursive: true, force: true });
  }
  const mbs = (s) => size / s / 1e6;
  const spread = (xs) => `${Math.min(...xs).toFixed(3)}..${Math.max(...xs).toFixed(3)}`;
  const line = (name, xs) => console.log(`${name.padEnd(34)} median ${median(xs).toFixed(3)} s  ` +
    `${mbs(median(xs)).toFixed(0).padStart(5)} MB/s  spread ${spread(xs)} s  runs ${xs.map((x) => x.toFixed(3)).join(' ')}`);
  console.log(`file ${(size / 1e6).toFixed(1)} MB, ${RUNS} alternating runs each, loopback`);
  line('curl -o /dev/null', t.curlNull);
  line('curl -o FILE && sync FILE', t.curlFile);
  line('curl | tee FILE | openssl sha256', t.curlSha);
  line('gemrun pull (verify+fsync)', t.gemrun);
  if (shm) line('gemrun pull, cache on tmpfs', t.gemrunShm);
  line('openssl dgst -sha256 FILE (hash)', t.sha);
  const r = (a, b) => (median(b) / median(a)).toFixed(2); // throughput ratio a / b
  console.log(`ratio gemrun / curl -o /dev/null = ${r(t.gemrun, t.curlNull)} (target >= 0.80)`);
  if (shm) console.log(`ratio gemrun(tmpfs) / curl -o /dev/null = ${r(t.gemrunShm, t.curlNull)}`);
  console.log(`ratio gemrun / curl -o FILE+sync = ${r(t.gemrun, t.curlFile)}`);
  console.log(`ratio gemrun / curl|tee|openssl sha256 = ${r(t.gemrun, t.curlSha)}`);
  const floor = t.sha.map((x, i) => Math.max(x, t.curlNull[i]));
  console.log(`ceiling for any verifying client: curl -o /dev/null / max(curl, hash) = ${r(floor, t.curlNull)}`);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => { console.error(e); rmSync(dir, { recursive: true, force: true }); process.exit(1); });
