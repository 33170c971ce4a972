// resolve.test.mjs — `gemrun run | chat | serve | bench | tokenize` take the same model names as
// `gemrun pull` (registry id, OWNER/REPO/FILE.gguf, URL, cache entry, or nothing = the fit plan's
// choice) and pull on first use unless offline. A tiny synthetic model with the real Gemma 4
// vocabulary is served by tests/pull/server.mjs on loopback; HF_ENDPOINT points the registry ids at
// it. Every case checks the bytes the server really sent, so "used the cache" means no request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gemrunBin, synth } from '../ref/lib/gemrun.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = gemrunBin();
let dir, model, sha, size, srv, port, statsFile, caseNo = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gemrun-resolve-'));
  model = synth({ preset: 'gemma4-e2b-tiny', type: 'q4_0', seed: 7, out: join(dir, 'tiny.gguf') });
  const bytes = readFileSync(model);
  sha = createHash('sha256').update(bytes).digest('hex');
  size = bytes.length;
  statsFile = join(dir, 'stats.jsonl');
  srv = spawn(process.execPath, [join(HERE, 'server.mjs'), '--file', model, '--stats', statsFile],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise((res) => {
    let b = '';
    srv.stdout.on('data', (c) => { b += c; if (b.includes('\n')) res(JSON.parse(b.split('\n')[0]).port); });
  });
});

after(() => {
  srv?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sent = () => (existsSync(statsFile) ? readFileSync(statsFile, 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l)).reduce((a, e) => a + e.sent, 0) : 0);
const newCache = () => join(dir, `cache-${++caseNo}`);
const url = (scenario) => `http://127.0.0.1:${port}/f/${scenario}/tiny.gguf`;
const hfEnv = (cache, extra = {}) => ({ GEMRUN_CACHE: cache, HF_ENDPOINT: `http://127.0.0.1:${port}`, ...extra });

function gemrun(args, env, input) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', input, env: { ...process.env, GEMRUN_OFFLINE: '', ...env },
    timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// A long-running gemrun; resolves once `ready` matches stderr (or the process ends).
function start(args, env, ready) {
  const p = spawn(BIN, args, { env: { ...process.env, GEMRUN_OFFLINE: '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  p.errText = '';
  return new Promise((res) => {
    p.stderr.on('data', (c) => { p.errText += c; const m = p.errText.match(ready); if (m) res({ p, m }); });
    p.on('close', (code) => res({ p, code }));
  });
}

const GEN = ['-p', 'Hello there', '-n', '6', '--temp', '0'];

test('run with a URL: pulled on first use, then the same answer from the cache with no request', () => {
  const cache = newCache();
  const before = sent();
  const first = gemrun(['run', '-m', url('ok'), ...GEN], { GEMRUN_CACHE: cache });
  assert.equal(first.code, 0, first.err);
  assert.match(first.err, /gemrun run: downloading http:\/\/127\.0\.0\.1:\d+\/f\/ok\/tiny\.gguf into /);
  assert.match(first.err, /downloaded and verified/);
  assert.equal(sent() - before, size, 'the file went over the wire once');
  const direct = gemrun(['run', '-m', model, ...GEN], {});
  assert.equal(direct.code, 0, direct.err);
  assert.equal(first.out, direct.out, 'the cached file generates what the original file does');
  const again = gemrun(['run', '-m', url('ok'), ...GEN, '--offline'], { GEMRUN_CACHE: cache });
  assert.equal(again.code, 0, again.err);
  assert.equal(again.out, direct.out);
  assert.doesNotMatch(again.err, /downloading/);
  assert.equal(sent() - before, size, 'the second run made no request');
  const blobs = readdirSync(join(cache, 'blobs'));
  assert.deepEqual(blobs, [`sha256-${sha}`], 'content-addressed by the sha256 of the bytes');
});

test('registry id through HF_ENDPOINT: run pulls it; chat, serve, bench, tokenize use the cache', async () => {
  const cache = newCache();
  const env = hfEnv(cache);
  const before = sent();
  const r = gemrun(['run', '-m', 'gemma-4-e2b-it', ...GEN], env);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /downloading gemma-4-e2b-it from http:\/\/127\.0\.0\.1:\d+\/google\/gemma-4-E2B-it-qat-q4_0-gguf\/resolve\/main\/gemma-4-E2B_q4_0-it\.gguf/);
  assert.equal(sent() - before, size);
  const list = JSON.parse(gemrun(['models', '--json'], env).out);
  assert.deepEqual(list.map((e) => [e.name, e.sha256]), [['gemma-4-e2b-it', sha]]);

  const offline = { ...env, GEMRUN_OFFLINE: '1' };
  const chat = gemrun(['chat', '-m', 'gemma-4-e2b-it', '-n', '4', '--temp', '0'], offline, 'Hi\n');
  assert.equal(chat.code, 0, chat.err);
  assert.match(chat.out, /^> .+/s, 'chat answered');
  const tok = gemrun(['tokenize', '-m', 'gemma-4-e2b-it', 'Hello world'], offline);
  assert.equal(tok.code, 0, tok.err);
  assert.match(tok.out, /^\d+(,\s*\d+)*\s*$|\d/);
  const bench = gemrun(['bench', '-m', 'gemma-4-e2b-it', '-p', '8', '-n', '2', '-t', '1', '-r', '1'], offline);
  assert.equal(bench.code, 0, bench.err);

  const { p, m } = await start(['serve', '-m', 'gemma-4-e2b-it', '--port', '0'], offline,
    /listening on (http:\/\/\S+)/);
  try {
    assert.ok(m, `serve did not start: ${p.errText}`);
    const models = await (await fetch(`${m[1]}/v1/models`)).json();
    const res = await fetch(`${m[1]}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: models.data[0].id, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, temperature: 0 }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(typeof body.choices[0].message.content, 'string');
  } finally {
    p.kill('SIGTERM');
  }
  assert.equal(sent() - before, size, 'nothing but the first run downloaded');
});

test('serve --config with local.model naming a registry id: pulled before listening', async () => {
  const cache = newCache();
  const cfg = join(dir, 'serve.json');
  writeFileSync(cfg, JSON.stringify({ local: { model: 'gemma-3-1b-it', runtime_check: false } }));
  const before = sent();
  const { p, m } = await start(['serve', '--config', cfg, '--port', '0'], hfEnv(cache), /listening on (http:\/\/\S+)/);
  try {
    assert.ok(m, `serve did not start: ${p.errText}`);
    assert.match(p.errText, /gemrun serve: downloading gemma-3-1b-it from .*\/google\/gemma-3-1b-it-qat-q4_0-gguf\/resolve\/main\/gemma-3-1b-it-q4_0\.gguf/);
    assert.ok(p.errText.indexOf('downloaded and verified') < p.errText.indexOf('listening on'));
    const health = await fetch(`${m[1]}/health`);
    assert.equal(health.status, 200);
  } finally {
    p.kill('SIGTERM');
  }
  assert.equal(sent() - before, size);
});

test('offline and not cached: a clear error naming the model, for run, chat and serve; no request', () => {
  const cache = newCache();
  const before = sent();
  for (const [args, env] of [
    [['run', '-m', 'gemma-4-e4b-it', '-p', 'x', '--offline'], hfEnv(cache)],
    [['chat', '-m', 'gemma-4-e4b-it'], hfEnv(cache, { GEMRUN_OFFLINE: '1' })],
    [['serve', '-m', 'gemma-4-e4b-it', '--port', '0', '--offline'], hfEnv(cache)],
  ]) {
    const r = gemrun(args, env, '');
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, new RegExp(`gemrun ${args[0]}: model 'gemma-4-e4b-it' is not in the cache .*offline mode is on: run 'gemrun pull gemma-4-e4b-it'`));
  }
  assert.equal(sent(), before);
});

test('a path that does not exist is an error, never a download', () => {
  const before = sent();
  for (const m of ['./missing/a/b.gguf', join(dir, 'missing.gguf'), '../x.gguf']) {
    const r = gemrun(['run', '-m', m, '-p', 'x'], hfEnv(newCache()));
    assert.equal(r.code, 1);
    assert.match(r.err, /no such file/);
  }
  const bad = gemrun(['run', '-m', 'not a model', '-p', 'x'], hfEnv(newCache()));
  assert.equal(bad.code, 1);
  assert.match(bad.err, /'not a model' is neither a file, a cache entry nor a model name gemrun can pull/);
  assert.equal(sent(), before);
});

test('no model given: the fit plan names its choice, then pulls it', () => {
  const cache = newCache();
  const off = gemrun(['run', '-p', 'x', '--offline'], hfEnv(cache));
  assert.equal(off.code, 1);
  const pick = off.err.match(/no model given: the fit plan picks (\S+)/);
  assert.ok(pick, off.err);
  assert.match(off.err, /is not in the cache/);
  const before = sent();
  const r = gemrun(['run', ...GEN], hfEnv(cache));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, new RegExp(`the fit plan picks ${pick[1].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(r.err, /downloaded and verified/);
  assert.equal(sent() - before, size);
});

test('Ctrl-C while run is pulling: stops, keeps the partial file, the next run resumes it', async () => {
  const cache = newCache();
  const before = sent();
  const { p } = await start(['run', '-m', url('slow'), ...GEN], { GEMRUN_CACHE: cache }, /downloading/);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  p.kill('SIGINT');
  const code = await new Promise((r) => p.on('close', r));
  const stopMs = performance.now() - t0;
  assert.equal(code, 1, p.errText);
  assert.match(p.errText, /cancelled/);
  assert.match(p.errText, /the partial download is kept; the next run resumes it/);
  // the server records a response when its socket closes, which may come just after our exit
  for (let i = 0; i < 100 && sent() === before; i++) await new Promise((r) => setTimeout(r, 20));
  const partial = sent() - before;
  assert.ok(partial > 0 && partial < size, `partial ${partial} of ${size}`);
  const r = gemrun(['run', '-m', url('slow'), ...GEN], { GEMRUN_CACHE: cache });
  assert.equal(r.code, 0, r.err);
  const total = sent() - before;
  console.log(`# Ctrl-C stopped the pull in ${stopMs.toFixed(0)} ms after ${(partial / 2 ** 20).toFixed(1)} MiB; ` +
    `the resumed run fetched ${((total - partial) / 2 ** 20).toFixed(1)} MiB of ${(size / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(total < size * 1.05, `resumed, not restarted: ${total} bytes sent for a ${size}-byte file`);
});
