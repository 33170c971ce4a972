// fallback.test.mjs — automatic fallback in `gemrun serve` (pattern 5): when a feature's engine fails
// before any text reached the client and the feature's configuration names a fallback that is usable,
// the same request goes to the other engine, and the answer says so. The server here has the tiny
// random-weight model locally (it cannot write a valid Mermaid diagram, and its context is 128
// tokens) and tests/cloud/server.mjs as its cloud, scripted to answer like a capable cloud model.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getMetrics, startMockCloud, startServer, tinyModel } from './lib/server.mjs';

const H = { 'Content-Type': 'application/json' };
const MERMAID = 'mindmap\n  root((Fractions))\n    Halves\n    Quarters'; // the mock's "mermaid" answer
let mock, mockUrl, srv;

before(async () => {
  mock = await startMockCloud();
  mockUrl = mock.url;
  srv = await startServer({
    model: tinyModel(),
    config: {
      local: { ctx: 128 },
      cloud: { protocol: 'gemini', base_url: mockUrl, model: 'mermaid', api_key: 'k', max_retries: 0 },
      features: {
        'mermaid-mindmap': { engine: 'local', fallback: 'cloud' },
        'svg-illustration': { engine: 'local', fallback: 'none' },
      },
    },
  });
});

after(async () => {
  await srv?.stop();
  mock?.stop();
});

const gen = async (feature, text, { stream = false, maxTokens = 24 } = {}) => {
  const path = stream ? `${feature}:streamGenerateContent?alt=sse` : `${feature}:generateContent`;
  const r = await fetch(`${srv.url}/v1beta/models/${path}`, { method: 'POST', headers: H,
    body: JSON.stringify({ contents: [{ parts: [{ text }] }], generationConfig: { maxOutputTokens: maxTokens, temperature: 0 } }) });
  return { status: r.status, engine: r.headers.get('x-gemrun-engine'), text: await r.text() };
};

test('a diagram the local model cannot make valid goes to the cloud, which says so', async () => {
  await mock.reset();
  const m0 = await getMetrics(srv.url);
  const r = await gen('mermaid-mindmap', 'A mind map of fractions');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.engine, 'cloud');
  const j = JSON.parse(r.text);
  assert.equal(j.candidates[0].content.parts[0].text, MERMAID);
  assert.equal(j.gemrun.engine, 'cloud');
  assert.match(j.gemrun.route_reason, /mermaid-mindmap: local failed \(.*\); fell back to cloud/);
  assert.equal((await mock.requests()).length, 1, 'one request reached the cloud');
  const m1 = await getMetrics(srv.url);
  assert.equal((m1['gemrun_fallbacks_total{to="cloud"}'] ?? 0) - (m0['gemrun_fallbacks_total{to="cloud"}'] ?? 0), 1);
  assert.ok(srv.logs.some((l) => l.feature === 'mermaid-mindmap' && l.fallback_from === 'local' && l.engine === 'cloud'),
    'the access log names the engine that failed');
});

test('no fallback configured: the local failure is the answer and the cloud sees nothing', async () => {
  await mock.reset();
  const r = await gen('svg-illustration', 'A red circle');
  assert.notEqual(r.status, 200);
  assert.equal(r.engine, 'local');
  assert.match(JSON.parse(r.text).error.message, /local engine: /);
  assert.equal((await mock.requests()).length, 0);
});

test('a chat prompt longer than the local context streams from the cloud instead', async () => {
  await mock.reset();
  const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
  const r = await gen('chat', long, { stream: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.engine, 'cloud');
  const events = r.text.split('\r\n\r\n').filter(Boolean).map((e) => JSON.parse(e.slice(6)));
  const text = events.map((e) => e.candidates?.[0]?.content?.parts?.[0]?.text ?? '').join('');
  assert.ok(text.length > 0, r.text);
  assert.match(events.at(-1).gemrun.route_reason, /chat: local failed \(.*context.*\); fell back to cloud/);
  assert.equal((await mock.requests()).length, 1);
  // a prompt that fits stays local
  const short = await gen('chat', 'Hi', { stream: true });
  assert.equal(short.engine, 'local');
});
