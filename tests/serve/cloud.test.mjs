// cloud.test.mjs — the cloud engine wired into `gemrun serve`: server B has no local model and a
// "cloud" section whose endpoint is server A (a gemrun serve with the tiny model; it speaks both
// the Gemini and the OpenAI API). B's chat falls back to the cloud, says so (X-Gemrun-Engine: cloud,
// "gemrun" field, /api/status), and greedy answers through B equal A's own. An unreachable cloud
// gives 503 and marks the cloud unreachable; a client leaving B cancels the work on A too.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { getMetrics, startServer, tinyModel } from './lib/server.mjs';

const H = { 'Content-Type': 'application/json' };
const REQ = JSON.stringify({ contents: [{ parts: [{ text: 'Name three rivers.' }] }], generationConfig: { maxOutputTokens: 10, temperature: 0 } });
let a;
let b;

const cloudCfg = (over) => ({ cloud: { protocol: 'gemini', base_url: a.url, model: 'chat', api_key: 'k', max_retries: 0, ...over } });

before(async () => {
  a = await startServer({ model: tinyModel() });
  b = await startServer({ config: cloudCfg({}) });
});

after(async () => {
  assert.equal((await b.stop()).code, 0);
  assert.equal((await a.stop()).code, 0);
});

async function gen(url, path = 'chat:generateContent', body = REQ) {
  const r = await fetch(`${url}/v1beta/models/${path}`, { method: 'POST', headers: H, body });
  return { status: r.status, engine: r.headers.get('x-gemrun-engine'), text: await r.text() };
}

test('chat with no local model falls back to the cloud and says so', async () => {
  const direct = JSON.parse((await gen(a.url)).text);
  const r = await gen(b.url);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.engine, 'cloud');
  const j = JSON.parse(r.text);
  assert.equal(j.gemrun.engine, 'cloud');
  assert.equal(j.gemrun.model, 'chat');
  assert.match(j.gemrun.route_reason, /cloud/);
  assert.equal(j.candidates[0].content.parts[0].text, direct.candidates[0].content.parts[0].text);
});

test('streaming through the cloud adds up to the same text', async () => {
  const direct = JSON.parse((await gen(a.url)).text).candidates[0].content.parts[0].text;
  const r = await gen(b.url, 'chat:streamGenerateContent?alt=sse');
  assert.equal(r.status, 200);
  assert.equal(r.engine, 'cloud');
  const events = r.text.split('\r\n\r\n').filter(Boolean).map((e) => JSON.parse(e.slice(6)));
  assert.equal(events.map((e) => e.candidates[0].content.parts[0].text).join(''), direct);
});

test('/api/status shows the cloud engine and the routes', async () => {
  const s = await (await fetch(`${b.url}/api/status`)).json();
  assert.deepEqual(s.engines.cloud, { configured: true, reachable: true, protocol: 'gemini', model: 'chat' });
  assert.equal(s.engines.local.usable, false);
  assert.equal(s.model.loaded, false);
  assert.equal(s.features.find((f) => f.name === 'chat').route, 'cloud');
  assert.equal(s.features.find((f) => f.name === 'quiz-generation').route, 'cloud');
});

test('the OpenAI protocol works as the cloud too', async () => {
  const c = await startServer({ config: cloudCfg({ protocol: 'openai', base_url: `${a.url}/v1` }) });
  try {
    const direct = JSON.parse((await gen(a.url)).text).candidates[0].content.parts[0].text;
    const r = await fetch(`${c.url}/v1/chat/completions`, { method: 'POST', headers: H,
      body: JSON.stringify({ model: 'chat', temperature: 0, max_tokens: 10, messages: [{ role: 'user', content: 'Name three rivers.' }] }) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-gemrun-engine'), 'cloud');
    assert.equal((await r.json()).choices[0].message.content, direct);
  } finally {
    await c.stop();
  }
});

test('an unreachable cloud: 503 and marked unreachable', async () => {
  const port = await new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
  const c = await startServer({ config: cloudCfg({ base_url: `http://127.0.0.1:${port}`, connect_timeout_s: 2 }) });
  try {
    const r = await gen(c.url);
    assert.equal(r.status, 503, r.text);
    assert.equal(JSON.parse(r.text).error.status, 'UNAVAILABLE');
    const s = await (await fetch(`${c.url}/api/status`)).json();
    assert.equal(s.engines.cloud.reachable, false);
    const again = await gen(c.url);
    assert.equal(again.status, 503);
    assert.equal(again.engine, 'unavailable', 'routed nowhere while the cloud is down');
  } finally {
    await c.stop();
  }
});

test('a client leaving B cancels the request on A as well', async () => {
  const long = Array.from({ length: 600 }, (_, i) => `word${i % 97} river stone`).join(' ');
  const m0 = await getMetrics(a.url);
  const ac = new AbortController();
  const p = fetch(`${b.url}/v1beta/models/chat:streamGenerateContent?alt=sse`, { method: 'POST', headers: H, signal: ac.signal,
    body: JSON.stringify({ contents: [{ parts: [{ text: long }] }], generationConfig: { maxOutputTokens: 2000 } }) }).catch((e) => e);
  for (let i = 0; i < 300; i++) {
    const st = await (await fetch(`${a.url}/api/status`)).json();
    if (st.queue.running) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  ac.abort();
  await p;
  let m;
  for (let i = 0; i < 200; i++) {
    m = await getMetrics(a.url);
    if (m['gemrun_queue_running{engine="local"}'] === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(m['gemrun_queue_running{engine="local"}'], 0);
  const cancels = (x) => Object.entries(x).filter(([k]) => k.startsWith('gemrun_cancellations_total')).reduce((s, [, v]) => s + v, 0);
  assert.equal(cancels(m) - cancels(m0), 1, 'A cancelled the forwarded request');
});
