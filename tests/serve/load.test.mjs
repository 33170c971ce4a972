// load.test.mjs — concurrency and client disconnects against `gemrun serve`: a client that goes away
// cancels its task at once (queued, in prompt processing, or mid-stream), 64 concurrent clients
// with half of them leaving at random points all get served, the queue drains to 0, and the
// metrics add up with the access log (every request counted exactly once, by outcome).
// GEMRUN_SERVE_BIN may point at an ASan build (build-server-asan/gemrun): the stop then also
// checks that LeakSanitizer found nothing.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { getMetrics, startServer, tinyModel, waitLogs } from './lib/server.mjs';

let srv;
const GEN_ROUTES = ['gemini_generate', 'gemini_stream', 'openai_chat'];

before(async () => {
  srv = await startServer({ model: tinyModel(), config: { server: { queue_size: 128 } },
    env: { ASAN_OPTIONS: 'detect_leaks=1:exitcode=23' } });
});

after(async () => {
  const { code, stderr } = await srv.stop({ killMs: 60000 });
  assert.ok(!/ERROR: (Address|Leak)Sanitizer/.test(stderr), stderr.slice(-4000));
  assert.equal(code, 0, stderr.slice(-3000));
});

function rng(seed) { // mulberry32: the same "random" schedule on every run
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LONG = Array.from({ length: 600 }, (_, i) => `word${i % 97} river stone`).join(' ');
const body = (text, n) => JSON.stringify({ contents: [{ parts: [{ text }] }], generationConfig: { maxOutputTokens: n } });
const H = { 'Content-Type': 'application/json' };

function total(m, name, filter = () => true) {
  return Object.entries(m).filter(([k]) => k.startsWith(name) && filter(k)).reduce((a, [, v]) => a + v, 0);
}

test('a disconnect during prompt processing cancels the task at once', async () => {
  const before = await getMetrics(srv.url);
  const ac = new AbortController();
  const p = fetch(`${srv.url}/v1beta/models/chat:generateContent`, { method: 'POST', headers: H,
    body: body(LONG, 8), signal: ac.signal }).catch((e) => e);
  // wait until the engine is in prompt processing (running, nothing generated), then leave
  for (let i = 0; i < 200; i++) {
    const st = await (await fetch(`${srv.url}/api/status`)).json();
    if (st.queue.running) break;
    await sleep(5);
  }
  ac.abort();
  assert.equal((await p).name, 'AbortError');
  await waitLogs(srv, srv.logs.filter((l) => l.route === 'gemini_generate').length + 1);
  let m;
  for (let i = 0; i < 100; i++) { // the engine notices between prompt chunks
    m = await getMetrics(srv.url);
    if (m['gemrun_queue_running{engine="local"}'] === 0) break;
    await sleep(20);
  }
  assert.equal(m['gemrun_queue_running{engine="local"}'], 0);
  assert.equal(m['gemrun_cancellations_total{stage="prompt"}'] - (before['gemrun_cancellations_total{stage="prompt"}'] ?? 0), 1);
  const log = srv.logs.filter((l) => l.route === 'gemini_generate').at(-1);
  assert.equal(log.outcome, 'cancelled');
  assert.ok(!log.completion_tokens, 'nothing was generated');
});

// One client. kind: 'unary' | 'sse' | 'openai' complete; 'abort-early' | 'abort-prompt' |
// 'abort-stream' | 'socket-close' leave. Returns { kind, completed, status }.
async function client(kind, r) {
  const url = `${srv.url}/v1beta/models/chat:`;
  const ac = new AbortController();
  try {
    if (kind === 'socket-close') {
      await new Promise((resolve) => {
        const s = connect(srv.port, '127.0.0.1', () => {
          const b = body('hello there', 12);
          s.write(`POST /v1beta/models/chat:generateContent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
          setTimeout(() => { s.destroy(); resolve(); }, Math.floor(r() * 30));
        });
        s.on('error', resolve);
      });
      return { kind, completed: false };
    }
    if (kind === 'abort-early' || kind === 'abort-prompt') {
      const text = kind === 'abort-prompt' ? LONG : 'hello';
      const p = fetch(`${url}generateContent`, { method: 'POST', headers: H, body: body(text, 12), signal: ac.signal });
      setTimeout(() => ac.abort(), kind === 'abort-early' ? Math.floor(r() * 3) : 10 + Math.floor(r() * 150));
      const res = await p;
      await res.text();
      return { kind, completed: true, status: res.status };
    }
    if (kind === 'abort-stream') {
      const res = await fetch(`${url}streamGenerateContent?alt=sse`, { method: 'POST', headers: H, body: body('tell me a story', 64), signal: ac.signal });
      const reader = res.body.getReader();
      const { done } = await reader.read();
      ac.abort();
      return { kind, completed: done };
    }
    if (kind === 'openai') {
      const res = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: H,
        body: JSON.stringify({ model: 'chat', stream: true, max_tokens: 12, messages: [{ role: 'user', content: 'hi' }] }) });
      const t = await res.text();
      return { kind, completed: res.status === 200 && t.endsWith('data: [DONE]\n\n'), status: res.status };
    }
    const sse = kind === 'sse';
    const res = await fetch(`${url}${sse ? 'streamGenerateContent?alt=sse' : 'generateContent'}`, { method: 'POST', headers: H, body: body('hello', 12) });
    const t = await res.text();
    const last = sse ? JSON.parse(t.trim().split('\r\n\r\n').at(-1).slice(6)) : JSON.parse(t);
    return { kind, completed: res.status === 200 && !!last.candidates[0].finishReason, status: res.status };
  } catch (e) {
    if (e.name === 'AbortError') return { kind, completed: false };
    throw e;
  }
}

test('64 concurrent clients, half leaving at random points: the rest complete, metrics add up', async () => {
  const r = rng(42);
  const stay = ['unary', 'sse', 'openai'];
  const leave = ['abort-early', 'abort-prompt', 'abort-stream', 'socket-close'];
  const kinds = Array.from({ length: 64 }, (_, i) => (i % 2 ? leave : stay)[Math.floor(r() * 3.999) % (i % 2 ? 4 : 3)]);
  const m0 = await getMetrics(srv.url);
  const logs0 = srv.logs.length;
  const results = await Promise.all(kinds.map(async (k, i) => { await sleep(Math.floor(r() * 50)); return client(k, rng(i + 1)); }));
  for (const res of results.filter((x) => stay.includes(x.kind)))
    assert.ok(res.completed, `a staying ${res.kind} client completed (status ${res.status})`);
  // every request that reached the handler is logged once when libmicrohttpd reports it done; a
  // client aborting within a few ms may leave before its request reached the server at all
  let m;
  for (let i = 0, stable = 0, last = -1; i < 500 && stable < 10; i++) {
    m = await getMetrics(srv.url);
    const idle = m['gemrun_queue_depth{engine="local"}'] === 0 && m['gemrun_queue_running{engine="local"}'] === 0 &&
      m.gemrun_requests_in_flight === 1;
    stable = idle && srv.logs.length === last ? stable + 1 : 0;
    last = srv.logs.length;
    await sleep(20);
  }
  const genLogs = srv.logs.slice(logs0).filter((l) => GEN_ROUTES.includes(l.route));
  const mustReach = results.filter((x) => stay.includes(x.kind) || x.kind === 'abort-stream').length;
  assert.ok(genLogs.length >= mustReach && genLogs.length <= 64, `logged ${genLogs.length} of 64 (at least ${mustReach})`);
  assert.equal(m['gemrun_queue_depth{engine="local"}'], 0, 'queue depth back to 0');
  assert.equal(m['gemrun_queue_running{engine="local"}'], 0, 'engine idle');
  assert.equal(m.gemrun_requests_in_flight, 1, 'only the /metrics request itself is in flight');
  const isGen = (k) => GEN_ROUTES.some((g) => k.includes(`route="${g}"`));
  const d = (name, f = () => true) => total(m, name, f) - total(m0, name, f);
  const requests = d('gemrun_requests_total', isGen);
  assert.equal(requests, genLogs.length, 'metrics count every logged generation request once');
  const byOutcome = {};
  for (const l of genLogs) byOutcome[l.outcome] = (byOutcome[l.outcome] ?? 0) + 1;
  for (const [o, n] of Object.entries(byOutcome))
    assert.equal(d('gemrun_requests_total', (k) => isGen(k) && k.includes(`outcome="${o}"`)), n, `outcome ${o}`);
  assert.equal(Object.values(byOutcome).reduce((a, b) => a + b, 0), requests, 'ok + cancelled + ... = requests');
  const stayed = results.filter((x) => stay.includes(x.kind)).length;
  assert.ok((byOutcome.ok ?? 0) >= stayed, 'every staying client was served ok');
  assert.ok((byOutcome.cancelled ?? 0) >= 1, 'some leaving clients were cancelled');
  assert.ok(d('gemrun_cancellations_total') <= (byOutcome.cancelled ?? 0));
  assert.ok(d('gemrun_cancellations_total') >= 1, 'cancellations reached the engine');
  // and it still serves
  const ok = await client('unary', r);
  assert.ok(ok.completed);
});
