// pull.test.mjs — `gemrun pull` against a real HTTP server on loopback (tests/pull/server.mjs) that
// serves a ~290 MB synthetic Gemma 4 GGUF with injected faults: connections cut at random points,
// a server crash and restart mid-transfer, a client killed mid-transfer, Range ignored, an ETag that
// changes between attempts, a wrong sha256 ETag, a body cut short, a lying Content-Length, a flipped
// byte, a non-GGUF file, a model that does not fit; plus Hugging Face URLs (redirect, X-Linked-Etag,
// HF_TOKEN not leaked across hosts), offline mode, two concurrent pulls, `models` and `rm`.
// Each case ends with a file whose sha256 we recompute here, or with a clear error; resumes are
// checked by the bytes the server actually sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gemrunBin } from '../ref/lib/gemrun.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = gemrunBin();
const MIB = 1 << 20;
let dir, fileA, fileB, srv, port, info, statsFile, caseNo = 0;

function synth(out, seed) {
  // GEMRUN_SYNTH_BIN: a Release binary to write the file when BIN is a slow sanitizer build
  const r = spawnSync(process.env.GEMRUN_SYNTH_BIN || BIN, ['synth', '--preset', 'gemma4-e2b', '--type', 'q4_0', '--layers', '1',
    '--seed', String(seed), '-o', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

function sha256Of(path) {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (c) => h.update(c)).on('end', () => res(h.digest('hex'))).on('error', rej);
  });
}

// Start (or restart on the same port) the server; restarts it by itself when it exits on purpose
// (the crash scenario), 500 ms later, as a server coming back after a crash would.
function startServer(fixedPort = 0) {
  return new Promise((res) => {
    const args = [join(HERE, 'server.mjs'), '--file', fileA, '--file2', fileB, '--stats', statsFile, '--port', String(fixedPort)];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    srv = p;
    let buf = '';
    p.stdout.on('data', (c) => {
      buf += c;
      if (buf.includes('\n') && !p.info) { p.info = JSON.parse(buf.split('\n')[0]); res(p.info); }
    });
    p.on('exit', (code) => { if (code === 3 && srv === p) setTimeout(() => startServer(p.info.port), 500); });
  });
}

function stats(filter) {
  if (!existsSync(statsFile)) return [];
  return readFileSync(statsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter(filter);
}
const sentFor = (scenario) => stats((e) => e.scenario === scenario).reduce((a, e) => a + e.sent, 0);

function newCache() { return join(dir, `cache-${++caseNo}`); }

// Run gemrun asynchronously; returns { code, stdout, stderr, events, result }.
function gemrun(args, { env = {}, killAfterBytes, signal = 'SIGKILL', cache } = {}) {
  return new Promise((res) => {
    const p = spawn(BIN, args, { env: { ...process.env, GEMRUN_CACHE: cache ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (c) => {
      out += c;
      if (killAfterBytes) {
        const last = out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).pop();
        if (last && last.done >= killAfterBytes && !p.killedOnce) { p.killedOnce = true; p.kill(signal); }
      }
    });
    p.stderr.on('data', (c) => { err += c; });
    p.on('close', (code, signal) => {
      const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      res({ code, signal, stdout: out, stderr: err, events, result: events.filter((e) => e.event !== 'progress').pop() });
    });
  });
}

const url = (scenario) => `http://127.0.0.1:${port}/f/${scenario}/model.gguf`;
const pull = (scenario, extra = [], opts = {}) => {
  const cache = opts.cache ?? newCache();
  return gemrun(['pull', url(scenario), '--json', '--cache', cache, ...extra], opts).then((r) => ({ ...r, cache }));
};

async function assertVerified(r, sha) {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}\n${JSON.stringify(r.result)}`);
  assert.equal(r.result.event, 'done');
  assert.equal(r.result.sha256, sha);
  assert.equal(await sha256Of(r.result.path), sha, 'the file in the cache hashes to the expected sha256');
  assert.deepEqual(readdirSync(join(r.cache, 'partial')), [], 'no partial left behind');
}

function report(name, r, sent) {
  const x = r.result;
  console.log(`# ${name}: attempts ${x.attempts}, received ${(x.received / MIB).toFixed(1)} MiB, server sent ` +
    `${(sent / MIB).toFixed(1)} MiB for a ${(info.size / MIB).toFixed(1)} MiB file (re-downloaded ` +
    `${((sent - info.size) / MIB).toFixed(1)} MiB), rewritten ${x.rewritten} B, restarts ${x.restarts}, repairs ${x.repairs}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gemrun-pull-'));
  fileA = join(dir, 'a.gguf');
  fileB = join(dir, 'b.gguf');
  synth(fileA, 1);
  synth(fileB, 2);
  statsFile = join(dir, 'stats.jsonl');
  info = await startServer();
  port = info.port;
});

after(() => {
  const s = srv;
  srv = null;
  s?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('plain download: verified by the ETag sha256, cached, listed, reused offline', async () => {
  const r = await pull('ok');
  await assertVerified(r, info.sha);
  assert.equal(r.result.sha256_from, 'etag');
  assert.equal(sentFor('ok'), info.size);
  const again = await gemrun(['pull', url('ok'), '--json', '--offline', '--cache', r.cache]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.result.cached, true);
  assert.equal(sentFor('ok'), info.size, 'a cached model is not downloaded again');
  const list = JSON.parse(spawnSync(BIN, ['models', '--json', '--cache', r.cache], { encoding: 'utf8' }).stdout);
  assert.equal(list.length, 1);
  assert.equal(list[0].size, info.size);
  assert.equal(list[0].sha256, info.sha);
  const rm = spawnSync(BIN, ['rm', url('ok'), '--cache', r.cache], { encoding: 'utf8' });
  assert.equal(rm.status, 0, rm.stderr);
  assert.deepEqual(readdirSync(join(r.cache, 'blobs')), [], 'rm removed the blob');
});

test('connections cut at random points: resumes with Range, re-downloads almost nothing', async () => {
  const r = await pull('drop', ['--retries', '3']);
  await assertVerified(r, info.sha);
  const sent = sentFor('drop');
  report('drop', r, sent);
  assert.equal(r.result.attempts, 5, 'four cuts, then the rest');
  assert.ok(stats((e) => e.scenario === 'drop' && e.status === 206).length >= 1, 'later requests were ranges');
  assert.ok(sent <= info.size + 16 * MIB, `server sent ${sent} for ${info.size}`);
});

test('server crash and restart mid-transfer: the client retries and resumes', async () => {
  const r = await pull('crash');
  await assertVerified(r, info.sha);
  const sent = sentFor('crash');
  report('crash', r, sent);
  assert.ok(stats((e) => e.how === 'server-exit').length === 1, 'the server did exit mid-transfer');
  assert.ok(sent <= info.size + 16 * MIB, `server sent ${sent} for ${info.size}`);
});

test('client killed mid-transfer: the next run resumes from the partial file', async () => {
  const cache = newCache();
  const first = await gemrun(['pull', url('slow'), '--json', '--cache', cache], { killAfterBytes: 100 * MIB });
  assert.equal(first.signal, 'SIGKILL');
  const r = await pull('slow', [], { cache });
  await assertVerified(r, info.sha);
  assert.ok(r.result.resumed_from >= 64 * MIB, `resumed from ${r.result.resumed_from}`);
  assert.equal(r.result.received, info.size - r.result.resumed_from);
  const sent = sentFor('slow');
  report('kill', r, sent);
  assert.ok(sent <= info.size + 64 * MIB, `server sent ${sent} for ${info.size}`);
});

test('Ctrl-C (SIGINT): cancelled within moments, partial kept, the next run resumes', async () => {
  const cache = newCache();
  const first = await gemrun(['pull', url('slow'), '--json', '--cache', cache], { killAfterBytes: 60 * MIB, signal: 'SIGINT' });
  assert.equal(first.code, 1);
  assert.equal(first.result.status, 'cancelled');
  assert.equal(readdirSync(join(cache, 'partial')).length, 2, 'partial file and its state kept');
  const r = await pull('slow', [], { cache });
  await assertVerified(r, info.sha);
  assert.ok(r.result.resumed_from >= 60 * MIB);
});

test('not enough disk space (Content-Length 10 TiB): refused before writing', async () => {
  const r = await pull('huge');
  assert.equal(r.code, 1);
  assert.equal(r.result.status, 'i/o error');
  assert.match(r.result.message, /not enough disk space: the download needs 10240\.\d\d GiB/);
});

test('Range ignored (200 instead of 206): bytes on disk are kept, compared, not rewritten', async () => {
  const r = await pull('norange');
  await assertVerified(r, info.sha);
  report('norange', r, sentFor('norange'));
  assert.equal(r.result.rewritten, 0);
  assert.ok(r.events.some((e) => /ignored the range/.test(e.message || '')));
});

test('ETag changed between attempts: starts over and verifies the new version', async () => {
  const r = await pull('etagchange');
  await assertVerified(r, info.shaB);
  report('etagchange', r, sentFor('etagchange'));
  assert.equal(r.result.restarts, 1);
});

test('wrong sha256 ETag: clear integrity error, nothing cached, partial removed', async () => {
  const r = await pull('wrongsha');
  assert.equal(r.code, 1);
  assert.equal(r.result.event, 'error');
  assert.equal(r.result.status, 'integrity check failed');
  assert.match(r.result.message, /sha256 mismatch/);
  assert.deepEqual(readdirSync(join(r.cache, 'manifests')), []);
  assert.deepEqual(readdirSync(join(r.cache, 'partial')), []);
});

test('body cut short (clean FIN before Content-Length): resumes', async () => {
  const r = await pull('truncate');
  await assertVerified(r, info.sha);
  const sent = sentFor('truncate');
  report('truncate', r, sent);
  assert.ok(sent <= info.size + 16 * MIB);
});

test('lying Content-Length (complete-looking short body): rejected with a clear error', async () => {
  const r = await pull('short');
  assert.equal(r.code, 1);
  assert.match(r.result.message, /past the end|truncated/);
});

test('one corrupted byte: found by sha256, repaired by re-reading, 1 byte rewritten', async () => {
  const r = await pull('corrupt');
  await assertVerified(r, info.sha);
  report('corrupt', r, sentFor('corrupt'));
  assert.equal(r.result.repairs, 1);
  assert.equal(r.result.rewritten, 1);
});

test('not a GGUF: rejected from its first bytes', async () => {
  const r = await pull('badmagic');
  assert.equal(r.code, 1);
  assert.match(r.result.message, /not a GGUF/);
  assert.ok(sentFor('badmagic') < info.size / 4, `sent ${sentFor('badmagic')}`);
});

test('does not fit this machine (fit plan with --memory 0.25 GiB): rejected from the header', async () => {
  const r = await pull('fit', ['--memory', '0.25']);
  assert.equal(r.code, 1);
  assert.equal(r.result.status, 'unsupported');
  assert.match(r.result.message, /does not fit/);
  assert.ok(sentFor('fit') < info.size / 4, `sent ${sentFor('fit')}`);
});

test('Hugging Face: HF_ENDPOINT, redirect, X-Linked-Etag, HF_TOKEN only to the first host', async () => {
  const env = { HF_ENDPOINT: `http://127.0.0.1:${port}` };
  const gated = await gemrun(['pull', 'test/gated/model.gguf', '--json'], { env, cache: newCache() });
  assert.equal(gated.code, 1);
  assert.equal(gated.result.status, 'authentication failed');
  assert.match(gated.result.message, /HF_TOKEN/);
  const cache = newCache();
  const r = await gemrun(['pull', 'test/gated/model.gguf', '--json'], { env: { ...env, HF_TOKEN: 'secret-token' }, cache });
  await assertVerified({ ...r, cache }, info.sha);
  assert.equal(r.result.sha256_from, 'x-linked-etag');
  const hops = stats(() => true).slice(-2);
  assert.equal(hops[0].auth, 'yes');
  assert.equal(hops[1].auth, 'no', 'the token did not follow the redirect to another host');
  assert.ok(!r.stdout.includes('secret-token') && !r.stderr.includes('secret-token'));
  const manifest = readFileSync(join(cache, 'manifests', readdirSync(join(cache, 'manifests'))[0]), 'utf8');
  assert.equal(JSON.parse(manifest).revision, '0123456789abcdef0123456789abcdef01234567');
});

test('offline mode: the missing model is named, GR_E_UNAVAILABLE', async () => {
  const r = await gemrun(['pull', 'gemma-4-e2b-it', '--json'], { env: { GEMRUN_OFFLINE: '1' }, cache: newCache() });
  assert.equal(r.code, 1);
  assert.equal(r.result.status, 'unavailable');
  assert.match(r.result.message, /gemma-4-e2b-it/);
});

test('no MODEL: the fit plan picks it (offline: named in the error)', async () => {
  const r = await gemrun(['pull', '--json', '--offline', '--memory', '6'], { cache: newCache() });
  assert.equal(r.code, 1);
  assert.equal(r.result.status, 'unavailable');
  assert.equal(r.result.model, 'gemma-4-e2b-it', 'with 6 GiB the plan picks E2B');
});

test('registry id that does not fit: refused before any request', async () => {
  const seen = stats(() => true).length;
  const r = await gemrun(['pull', 'gemma-4-31b-it', '--json', '--memory', '4'],
    { env: { HF_ENDPOINT: `http://127.0.0.1:${port}` }, cache: newCache() });
  assert.equal(r.code, 1);
  assert.equal(r.result.status, 'unsupported');
  assert.match(r.result.message, /does not fit/);
  assert.equal(stats(() => true).length, seen, 'no request was made');
});

test('two concurrent pulls of one model: one download, both get the verified file', async () => {
  const cache = newCache();
  const before = sentFor('slow');
  const [a, b] = await Promise.all([pull('slow', [], { cache }), pull('slow', [], { cache })]);
  await assertVerified(a, info.sha);
  await assertVerified(b, info.sha);
  assert.equal(a.result.path, b.result.path);
  assert.equal([a.result.cached, b.result.cached].filter(Boolean).length, 1, 'the second reused the first');
  assert.equal(sentFor('slow') - before, info.size, 'downloaded once');
  assert.ok([a, b].some((r) => r.events.some((e) => e.phase === 'wait')), 'one of them waited for the lock');
  assert.equal(readdirSync(join(cache, 'blobs')).length, 1);
});
