// hostile.test.mjs — bad and slow clients against `gemrun serve`: malformed JSON, wrong types,
// huge bodies (declared and chunked), wrong content types, unknown models and methods, CR/LF in
// the path, raw garbage, slowloris-style slow headers and slow bodies, idle connection floods. Each
// gets a clear 4xx (or is closed by the idle timeout) and a normal request right after still works.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { startServer, tinyModel } from './lib/server.mjs';

let srv;
const LIMIT = 64 * 1024;

before(async () => {
  srv = await startServer({ model: tinyModel(),
    config: { server: { max_body_bytes: LIMIT, connection_timeout_s: 2, request_timeout_s: 2 } } });
});

after(async () => {
  const { code, stderr } = await srv.stop();
  assert.equal(code, 0, stderr.slice(-2000));
});

const GOOD = JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 3 } });

async function post(path, body, headers = { 'Content-Type': 'application/json' }) {
  const r = await fetch(`${srv.url}${path}`, { method: 'POST', headers, body });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

// The server still answers a normal generation.
async function stillServes() {
  const r = await post('/v1beta/models/chat:generateContent', GOOD);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.candidates);
}

// Raw bytes over TCP; resolves with everything the server sent until it closed (or timeoutMs).
function raw(chunks, { gapMs = 0, timeoutMs = 8000 } = {}) {
  return new Promise((resolve, reject) => {
    const port = Number(new URL(srv.url).port);
    const s = connect(port, '127.0.0.1');
    let out = '';
    let closedAt = 0;
    const t0 = Date.now();
    const timer = setTimeout(() => { s.destroy(); resolve({ out, closed: false, ms: Date.now() - t0 }); }, timeoutMs);
    s.setEncoding('latin1');
    s.on('data', (d) => { out += d; });
    s.on('error', () => {});
    s.on('close', () => { closedAt = Date.now(); clearTimeout(timer); resolve({ out, closed: true, ms: closedAt - t0 }); });
    s.on('connect', async () => {
      for (const c of chunks) {
        if (s.destroyed) break;
        s.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
    s.on('timeout', reject);
  });
}

const geminiError = (r, code, status) => {
  assert.equal(r.status, code, r.text);
  assert.equal(r.json.error.code, code);
  if (status) assert.equal(r.json.error.status, status);
  assert.ok(r.json.error.message.length > 0);
};

test('malformed JSON and wrong field types: 400 naming the problem', async () => {
  let r = await post('/v1beta/models/chat:generateContent', '{"contents": [');
  geminiError(r, 400, 'INVALID_ARGUMENT');
  assert.match(r.json.error.message, /invalid JSON payload/);
  r = await post('/v1beta/models/chat:generateContent', JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }], generationConfig: { temperature: 'hot' } }));
  geminiError(r, 400, 'INVALID_ARGUMENT');
  assert.match(r.json.error.message, /temperature/);
  r = await post('/v1beta/models/chat:generateContent', JSON.stringify({ contents: [] }));
  assert.match(r.json.error.message, /contents/);
  r = await post('/v1beta/models/chat:generateContent', JSON.stringify({ contents: [{ parts: [{ inlineData: { mimeType: 'image/png', data: 'AAAA' } }] }] }));
  geminiError(r, 400);
  assert.match(r.json.error.message, /contents\[0\]\.parts\[0\]\.inlineData: the bytes are not a png image/);
  r = await post('/v1beta/models/chat:generateContent', '[1,2,3]');
  geminiError(r, 400);
  r = await post('/v1/chat/completions', '{"model": "chat", "messages": "hi"}');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.type, 'invalid_request_error');
  await stillServes();
});

test('huge bodies: 413 for a declared and for a chunked body', async () => {
  const big = JSON.stringify({ contents: [{ parts: [{ text: 'x'.repeat(LIMIT * 2) }] }] });
  let r = await post('/v1beta/models/chat:generateContent', big);
  geminiError(r, 413);
  assert.match(r.json.error.message, /too large/);
  // chunked: no Content-Length, so the limit applies while reading
  r = await new Promise((resolve, reject) => {
    const req = request(`${srv.url}/v1beta/models/chat:generateContent`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
      let t = '';
      res.on('data', (d) => { t += d; });
      res.on('end', () => resolve({ status: res.statusCode, text: t, json: JSON.parse(t) }));
    });
    req.on('error', reject);
    for (let i = 0; i < 4; i++) req.write('x'.repeat(LIMIT));
    req.end();
  });
  geminiError(r, 413);
  await stillServes();
});

test('content types: 415 unless application/json', async () => {
  geminiError(await post('/v1beta/models/chat:generateContent', GOOD, { 'Content-Type': 'text/plain' }), 415);
  geminiError(await post('/v1beta/models/chat:generateContent', GOOD, { 'Content-Type': 'application/x-www-form-urlencoded' }), 415);
  geminiError(await post('/v1beta/models/chat:generateContent', GOOD, { 'Content-Type': 'application/jsonx' }), 415);
  const ok = await post('/v1beta/models/chat:generateContent', GOOD, { 'Content-Type': 'application/json; charset=utf-8' });
  assert.equal(ok.status, 200);
  const oa = await post('/v1/chat/completions', '{}', { 'Content-Type': 'text/plain' });
  assert.equal(oa.status, 415);
  assert.equal(oa.json.error.type, 'invalid_request_error');
  await stillServes();
});

test('unknown models, methods and paths', async () => {
  const r = await post('/v1beta/models/gpt-9:generateContent', GOOD);
  geminiError(r, 404, 'NOT_FOUND');
  assert.match(r.json.error.message, /models\/gpt-9 is not found/);
  geminiError(await post('/v1beta/models/chat:embedContent', GOOD), 404);
  const g = await fetch(`${srv.url}/v1beta/models/chat:generateContent`);
  assert.equal(g.status, 405);
  const p = await fetch(`${srv.url}/v1beta/models/chat:generateContent`, { method: 'PUT', body: GOOD });
  assert.equal(p.status, 405);
  assert.equal((await fetch(`${srv.url}/no/such/path`)).status, 404);
  await stillServes();
});

test('CR/LF in the path is never echoed into headers', async () => {
  const { out } = await raw(['POST /v1beta/models/chat%0D%0AX-Injected:%20yes:generateContent HTTP/1.1\r\nHost: x\r\n' +
    `Content-Type: application/json\r\nContent-Length: ${GOOD.length}\r\nConnection: close\r\n\r\n${GOOD}`]);
  const [head, body] = [out.slice(0, out.indexOf('\r\n\r\n')), out.slice(out.indexOf('\r\n\r\n') + 4)];
  assert.match(head, /^HTTP\/1\.1 404/);
  assert.ok(!/^x-injected/im.test(head), head);
  assert.match(JSON.parse(body).error.message, /\r\nX-Injected/, 'the name comes back JSON-escaped in the body only');
  // a bare CR inside a request header value (libmicrohttpd 0.9.75 accepts it) is never echoed
  const bad = await raw(['GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rX-Injected: b\r\nConnection: close\r\n\r\n']);
  const badHead = bad.out.slice(0, bad.out.indexOf('\r\n\r\n'));
  assert.match(badHead, /^HTTP\/1\.1 (200|400)/);
  assert.ok(!/^x-injected/im.test(badHead), badHead);
  assert.ok(!/^x-request-id: a/im.test(badHead), 'the client request id is not reflected');
  await stillServes();
});

test('garbage bytes get a 400 and the connection closes', async () => {
  const r = await raw(['\x00\x01\x02 not http at all\r\n\r\n']);
  assert.ok(r.closed);
  assert.ok(r.out === '' || /^HTTP\/1\.[01] 4\d\d/.test(r.out), r.out);
  await stillServes();
});

test('slowloris: slow headers hold only their own connection; the idle timeout closes them', async () => {
  const slow = [];
  for (let i = 0; i < 20; i++) slow.push(raw(['GET /health HTTP/1.1\r\n', 'Host: x\r\n'], { gapMs: 300, timeoutMs: 10000 }));
  await new Promise((r) => setTimeout(r, 200));
  await stillServes(); // while 20 clients dribble headers
  const results = await Promise.all(slow);
  for (const r of results) {
    assert.ok(r.closed, 'closed by the server');
    assert.ok(r.ms < 8000, `closed after ${r.ms} ms`);
  }
  await stillServes();
});

test('slow body: 408 once the request takes longer than request_timeout_s', async () => {
  const head = 'POST /v1beta/models/chat:generateContent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
    `Content-Length: ${GOOD.length}\r\n\r\n`;
  const parts = [head, ...GOOD.slice(0, 12).split('')];
  const r = await raw(parts, { gapMs: 400, timeoutMs: 12000 });
  assert.match(r.out, /^HTTP\/1\.1 408/, r.out);
  assert.match(r.out, /DEADLINE_EXCEEDED|not received in time/);
  await stillServes();
});

test('every hostile request was logged as a 4xx (or a closed connection), none as a 5xx', async () => {
  const bad = srv.logs.filter((l) => l.status >= 500 && l.status !== 503);
  assert.deepEqual(bad, []);
});
