// ops.test.mjs — operations side of `gemrun serve`: /health while loading and when ready,
// /api/status (the web page's contract), /metrics, the static page, API keys (Gemini and OpenAI
// styles, never logged), routing to "unavailable" (503 + engine header), the runtime speed check
// marking the local engine degraded, queue full (503 + Retry-After), configuration errors, and a
// graceful stop with a stream in flight.
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getMetrics, serveBin, startServer, tinyModel } from './lib/server.mjs';

const H = { 'Content-Type': 'application/json' };
const body = (text, n = 4) => JSON.stringify({ contents: [{ parts: [{ text }] }], generationConfig: { maxOutputTokens: n } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

describe('a ready server', () => {
  let srv;
  before(async () => { srv = await startServer({ model: tinyModel() }); });
  after(async () => { assert.equal((await srv.stop()).code, 0); });

  test('/health is 200 {"status":"ok"}', async () => {
    const r = await fetch(`${srv.url}/health`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ok' });
  });

  test('/api/status has every field the page depends on', async () => {
    const s = await (await fetch(`${srv.url}/api/status`)).json();
    assert.equal(s.ready, true);
    assert.equal(typeof s.model.id, 'string');
    assert.ok(s.model.path.endsWith('.gguf'));
    assert.equal(s.model.loaded, true);
    assert.deepEqual(Object.keys(s.engines.local).slice(0, 3), ['usable', 'degraded', 'reason']);
    assert.equal(s.engines.local.usable, true);
    assert.deepEqual(s.engines.cloud, { configured: false, reachable: false, protocol: null, model: null });
    assert.ok('choice' in s.plan && typeof s.plan.reason === 'string' && s.plan.budget_bytes > 0);
    assert.ok(s.plan.candidates.length >= 2);
    for (const c of s.plan.candidates) assert.ok(typeof c.id === 'string' && typeof c.fits === 'boolean' && c.total_bytes > 0);
    assert.ok(s.plan.candidates.some((c) => c.loaded));
    for (const k of ['cpu', 'threads', 'ram_bytes', 'avail_bytes', 'gpu']) assert.ok(k in s.probe, k);
    assert.deepEqual(s.queue, { depth: 0, running: false, max_pending: 64 });
    assert.equal(s.features.length, 8);
    const chat = s.features.find((f) => f.name === 'chat');
    assert.deepEqual([chat.route, chat.output, chat.stream], ['local', 'text', true]);
    const quiz = s.features.find((f) => f.name === 'quiz-generation');
    assert.deepEqual([quiz.route, quiz.output, quiz.stream], ['unavailable', 'json', false]);
  });

  test('/metrics is Prometheus text that counts requests', async () => {
    await fetch(`${srv.url}/v1beta/models/chat:generateContent`, { method: 'POST', headers: H, body: body('hi') });
    const r = await fetch(`${srv.url}/metrics`);
    assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    assert.match(text, /# TYPE gemrun_requests_total counter/);
    assert.match(text, /# TYPE gemrun_time_to_first_token_seconds histogram/);
    const m = await getMetrics(srv.url);
    assert.ok(m['gemrun_requests_total{route="gemini_generate",outcome="ok"}'] >= 1);
    assert.ok(m['gemrun_generated_tokens_total{engine="local"}'] >= 1);
    assert.ok(m['gemrun_prompt_tokens_total{engine="local"}'] >= 1);
    const buckets = Object.entries(m).filter(([k]) => k.startsWith('gemrun_time_to_first_token_seconds_bucket')).map(([, v]) => v);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], 'cumulative buckets');
    assert.equal(buckets.at(-1), m.gemrun_time_to_first_token_seconds_count);
  });

  test('the page is served from the binary; unknown files are 404', async () => {
    const r = await fetch(`${srv.url}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/html/);
    assert.match(await r.text(), /<html|<!doctype/i);
    assert.equal((await fetch(`${srv.url}/no-such-file.js`)).status, 404);
  });

  test('a feature routed nowhere: 503, Gemini / OpenAI error bodies, X-Gemrun-Engine: unavailable', async () => {
    const r = await fetch(`${srv.url}/v1beta/models/quiz-generation:generateContent`, { method: 'POST', headers: H, body: body('quiz') });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('x-gemrun-engine'), 'unavailable');
    const e = (await r.json()).error;
    assert.equal(e.code, 503);
    assert.equal(e.status, 'UNAVAILABLE');
    assert.match(e.message, /^feature 'quiz-generation' is unavailable: /);
    const o = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: H,
      body: JSON.stringify({ model: 'svg-illustration', messages: [{ role: 'user', content: 'x' }] }) });
    assert.equal(o.status, 503);
    assert.equal(o.headers.get('x-gemrun-engine'), 'unavailable');
    const oe = (await o.json()).error;
    assert.match(oe.message, /^feature 'svg-illustration' is unavailable: /);
    assert.equal(oe.type, 'unavailable_error');
  });

  test('the access log is one JSON line per request', async () => {
    await fetch(`${srv.url}/health?key=not-a-secret-but-query-is-dropped`);
    await sleep(50);
    const l = srv.logs.at(-1);
    for (const k of ['ts', 'id', 'method', 'path', 'route', 'status', 'outcome', 'duration_ms']) assert.ok(k in l, k);
    assert.equal(l.path, '/health');
    assert.ok(!srv.stderr().includes('not-a-secret'), 'query strings are not logged');
  });
});

describe('API keys', () => {
  const KEY = 'sekrit-key-123';
  let srv;
  before(async () => { srv = await startServer({ model: tinyModel(), apiKey: KEY }); });
  after(async () => { assert.equal((await srv.stop()).code, 0); });

  test('Gemini: missing 403, wrong 400, header or ?key= accepted; SDK works', async () => {
    const url = `${srv.url}/v1beta/models/chat:generateContent`;
    let r = await fetch(url, { method: 'POST', headers: H, body: body('hi') });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).error.status, 'PERMISSION_DENIED');
    r = await fetch(url, { method: 'POST', headers: { ...H, 'x-goog-api-key': 'wrong' }, body: body('hi') });
    assert.equal(r.status, 400);
    assert.match((await r.json()).error.message, /API key not valid/);
    r = await fetch(url, { method: 'POST', headers: { ...H, 'x-goog-api-key': KEY }, body: body('hi') });
    assert.equal(r.status, 200);
    r = await fetch(`${url}?key=${KEY}`, { method: 'POST', headers: H, body: body('hi') });
    assert.equal(r.status, 200);
    const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: srv.url } });
    assert.equal(typeof (await ai.models.generateContent({ model: 'chat', contents: 'hi', config: { maxOutputTokens: 3 } })).text, 'string');
    const bad = new GoogleGenAI({ apiKey: 'nope', httpOptions: { baseUrl: srv.url } });
    await assert.rejects(bad.models.generateContent({ model: 'chat', contents: 'hi' }), (e) => e.status === 400);
  });

  test('OpenAI: Bearer checked, 401 invalid_api_key otherwise', async () => {
    const ok = new OpenAI({ apiKey: KEY, baseURL: `${srv.url}/v1`, maxRetries: 0 });
    const r = await ok.chat.completions.create({ model: 'chat', max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.object, 'chat.completion');
    const bad = new OpenAI({ apiKey: 'wrong', baseURL: `${srv.url}/v1`, maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e.status === 401 && e.code === 'invalid_api_key');
  });

  test('/health and /metrics stay open, /api/status needs the key, the key is never logged', async () => {
    assert.equal((await fetch(`${srv.url}/health`)).status, 200);
    assert.equal((await fetch(`${srv.url}/metrics`)).status, 200);
    assert.equal((await fetch(`${srv.url}/api/status`)).status, 403);
    assert.equal((await fetch(`${srv.url}/api/status`, { headers: { 'x-goog-api-key': KEY } })).status, 200);
    await sleep(50);
    assert.ok(!srv.stderr().includes(KEY));
  });
});

test('/health answers 503 {"status":"loading"} until the model is ready', async () => {
  const port = await freePort();
  // the runtime check's bandwidth probe (default on) keeps the server loading for a while
  const srv = await startServer({ model: tinyModel(), args: ['--port', String(port)], waitReady: false,
    config: { local: { runtime_check: true } } });
  const seen = [];
  const t0 = Date.now();
  while (Date.now() - t0 < 30000) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      seen.push(`${r.status} ${(await r.json()).status}`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    await sleep(2);
  }
  await srv.ready();
  await srv.stop();
  assert.ok(seen.includes('503 loading'), `saw ${[...new Set(seen)]}`);
  assert.equal(seen.at(-1), '200 ok');
});

test('runtime check: a device far below the expected speed marks the local engine degraded', async () => {
  const srv = await startServer({ model: tinyModel(), config: { local: { runtime_check: true, expected_tok_s: 1e7 } } });
  try {
    for (let i = 0; i < 6; i++) {
      const st = await (await fetch(`${srv.url}/api/status`)).json();
      if (st.engines.local.degraded) break;
      await fetch(`${srv.url}/v1beta/models/chat:generateContent`, { method: 'POST', headers: H,
        body: JSON.stringify({ contents: [{ parts: [{ text: `story ${i}` }] }], generationConfig: { maxOutputTokens: 40, temperature: 1, seed: i + 1 } }) });
    }
    const st = await (await fetch(`${srv.url}/api/status`)).json();
    assert.equal(st.engines.local.degraded, true);
    assert.equal(st.engines.local.usable, false);
    assert.equal(st.engines.local.runtime_check, 'degraded');
    assert.equal(st.features.find((f) => f.name === 'chat').route, 'unavailable');
    const r = await fetch(`${srv.url}/v1beta/models/chat:generateContent`, { method: 'POST', headers: H, body: body('hi') });
    assert.equal(r.status, 503);
    assert.match((await r.json()).error.message, /degraded/);
  } finally {
    await srv.stop();
  }
});

test('queue full: 503 with Retry-After, counted as rejected', async () => {
  const srv = await startServer({ model: tinyModel(), config: { server: { queue_size: 1 } } });
  try {
    const long = Array.from({ length: 300 }, (_, i) => `word${i} river`).join(' ');
    const rs = await Promise.all(Array.from({ length: 6 }, () => fetch(`${srv.url}/v1beta/models/chat:generateContent`,
      { method: 'POST', headers: H, body: body(long, 4) }).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), j: await r.json() }))));
    const busy = rs.filter((r) => r.status === 503);
    assert.ok(busy.length >= 1, `statuses ${rs.map((r) => r.status)}`);
    for (const b of busy) {
      assert.ok(Number(b.retry) >= 1);
      assert.equal(b.j.error.status, 'UNAVAILABLE');
      assert.match(b.j.error.message, /queue is full/);
    }
    assert.equal(rs.filter((r) => r.status === 200).length + busy.length, 6);
    const m = await getMetrics(srv.url);
    assert.equal(m['gemrun_requests_total{route="gemini_generate",outcome="rejected"}'], busy.length);
    assert.equal(m['gemrun_queue_rejected_total{engine="local"}'], busy.length);
  } finally {
    await srv.stop();
  }
});

test('SIGTERM with a stream in flight: the stream ends and the server exits 0', async () => {
  const srv = await startServer({ model: tinyModel() });
  const res = await fetch(`${srv.url}/v1beta/models/chat:streamGenerateContent?alt=sse`, { method: 'POST', headers: H,
    body: JSON.stringify({ contents: [{ parts: [{ text: 'a long story' }] }], generationConfig: { maxOutputTokens: 4000 } }) });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  await reader.read();
  const stopped = srv.stop();
  for (;;) {
    try { if ((await reader.read()).done) break; } catch { break; }
  }
  const { code } = await stopped;
  assert.equal(code, 0);
});

test('configuration errors name the field and exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gemrun-serve-cfg-'));
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ server: { queue_sise: 3 } }));
  let r = spawnSync(serveBin(), ['serve', '--config', bad, '--port', '0'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /server\.queue_sise: unknown key/);
  writeFileSync(bad, JSON.stringify({ features: { chat: 'gpu' } }));
  r = spawnSync(serveBin(), ['serve', '--config', bad, '--port', '0'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /features\.chat/);
  r = spawnSync(serveBin(), ['serve'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
});

test('CORS only when configured: preflight and Access-Control-Allow-Origin', async () => {
  const plain = await startServer({ model: tinyModel() });
  const cors = await startServer({ model: tinyModel(), config: { server: { cors_origin: 'http://localhost:5173' } } });
  try {
    const p = await fetch(`${plain.url}/v1beta/models/chat:generateContent`, { method: 'OPTIONS' });
    assert.equal(p.status, 204);
    assert.equal(p.headers.get('access-control-allow-origin'), null);
    const pre = await fetch(`${cors.url}/v1beta/models/chat:generateContent`, { method: 'OPTIONS',
      headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.match(pre.headers.get('access-control-allow-headers'), /x-goog-api-key/);
    const r = await fetch(`${cors.url}/v1beta/models/chat:generateContent`, { method: 'POST', headers: H, body: body('hi') });
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.match(r.headers.get('access-control-expose-headers'), /X-Gemrun-Engine/);
  } finally {
    await plain.stop();
    await cors.stop();
  }
});
