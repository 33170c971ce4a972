// server.mjs — a scripted HTTP server on loopback for the transport and cloud-engine tests. It prints
// "PORT TLSPORT" on the first stdout line (TLSPORT: the same routes over HTTPS with a fresh
// self-signed certificate, which clients must REJECT; 0 when openssl is missing), then serves:
//   /http/*            transport cases (echo, redirects, range, cut bodies, slow bodies, streams)
//   /v1beta/models/{scenario}:generateContent | :streamGenerateContent[?alt=sse]   Gemini wire format
//   /v1/chat/completions  (scenario = body.model)                                 OpenAI wire format
//   /__log  (GET: every request seen + socket close times, JSON)   /__reset (POST: clear the log)
// The scenario names (the model id) choose the behaviour: see SCENARIOS below. Bodies follow
// /work/shared/spec/apis.md sections 1.5-1.9 and 3.4-3.6. Usage: node server.mjs [--port N] [--stdin-lifetime]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const log = [];          // { id, t, method, url, headers, body, attempt }
const closes = [];       // { id, url, t_trigger, t_close }
const attempts = new Map(); // scenario -> count (for "fail then succeed" scenarios)
let nextId = 1;
const now = () => performance.now();

function readBody(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
  });
}

function json(res, code, obj, extra = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- transport routes -------------------------------------------------------------------------
async function httpRoute(req, res, url, body) {
  const p = url.pathname;
  if (p === '/http/echo') {
    return json(res, 200, { method: req.method, headers: req.headers, body: body.toString('utf8'), query: url.search });
  }
  if (p === '/http/status') return json(res, Number(url.searchParams.get('code') || 200), { status: 'as asked' });
  if (p === '/http/redirect') {
    // ?to=URL&code=302
    res.writeHead(Number(url.searchParams.get('code') || 302), { location: url.searchParams.get('to'), 'content-length': 5 });
    return res.end('moved');
  }
  if (p === '/http/loop') {
    res.writeHead(302, { location: '/http/loop', 'content-length': 0 });
    return res.end();
  }
  if (p === '/http/range') {
    const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
    const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
    if (!m) { res.writeHead(200, { 'content-length': data.length }); return res.end(data); }
    const from = Number(m[1]);
    res.writeHead(206, { 'content-length': data.length - from, 'content-range': `bytes ${from}-${data.length - 1}/${data.length}` });
    return res.end(data.subarray(from));
  }
  if (p === '/http/cut') {
    // Promise 1000 bytes, send 100, then drop the connection.
    res.writeHead(200, { 'content-length': 1000 });
    res.write('x'.repeat(100));
    await sleep(50);
    return req.socket.destroy();
  }
  if (p === '/http/slow') {
    // Headers at once, then nothing for ?ms (default 5000), then the body.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('a');
    await sleep(Number(url.searchParams.get('ms') || 5000));
    if (!res.destroyed) res.end('b');
    return;
  }
  if (p === '/http/stream') {
    // A chunk every ?every ms (default 10) until the client goes away (or ?n chunks).
    return streamUntilClosed(req, res, url);
  }
  json(res, 404, { error: 'no such route' });
}

// Writes "tick" chunks; chunk ?trigger (default 5) is the line "CANCEL-ME\n": its write time is the
// reference for the close-latency measurement (the client cancels when it sees it).
async function streamUntilClosed(req, res, url, contentType = 'text/plain', mk = (i, trig) => (trig ? 'CANCEL-ME\n' : `tick ${i}\n`), everyMs, triggerAt) {
  const every = everyMs ?? Number(url.searchParams.get('every') || 10);
  const n = Number(url.searchParams.get('n') || 1e9);
  const trigger = triggerAt ?? Number(url.searchParams.get('trigger') || 5);
  // t_close_epoch: wall-clock ms (sub-ms resolution) so a C test can compare with CLOCK_REALTIME.
  const rec = { id: req.logId, url: req.url, t_trigger: null, t_close: null, t_close_epoch: null };
  closes.push(rec);
  req.socket.on('close', () => { rec.t_close = now(); rec.t_close_epoch = performance.timeOrigin + rec.t_close; });
  res.writeHead(200, { 'content-type': contentType });
  for (let i = 0; i < n && !req.socket.destroyed; i++) {
    if (i === trigger) { res.write(mk(i, true)); rec.t_trigger = now(); }
    else res.write(mk(i, false));
    await sleep(every);
  }
  if (!res.destroyed) res.end();
}

// ---- Gemini wire format -----------------------------------------------------------------------
function gResponse(parts, { finish, usage, version = 'gemma-3-4b-it', id = 'resp-1' } = {}) {
  const cand = { content: { parts, role: 'model' }, index: 0 };
  if (finish) cand.finishReason = finish;
  const r = { candidates: [cand] };
  if (usage) r.usageMetadata = usage;
  r.modelVersion = version;
  r.responseId = id;
  return r;
}
const gErr = (code, status, message, details) => ({ error: { code, message, status, ...(details ? { details } : {}) } });

const G_CHUNKS = [
  [{ text: 'thinking about it', thought: true }],
  [{ text: 'Hello' }],
  [{ text: ', wor' }],
  [{ text: 'ld! ' }, { text: 'Ünïcødé ✓' }],
];
const G_USAGE = { promptTokenCount: 7, candidatesTokenCount: 9, totalTokenCount: 16, thoughtsTokenCount: 3 };

function gemChunks() {
  return G_CHUNKS.map((parts, i) => gResponse(parts, {
    finish: i === G_CHUNKS.length - 1 ? 'STOP' : undefined,
    usage: { promptTokenCount: 7, candidatesTokenCount: 2 + 2 * i, totalTokenCount: 9 + 2 * i },
  })).map((r, i, a) => (i === a.length - 1 ? { ...r, usageMetadata: G_USAGE } : r));
}

// A valid Mermaid mind map (scenario "mermaid": what a cloud model answers for a diagram feature).
const MERMAID = 'mindmap\n  root((Fractions))\n    Halves\n    Quarters';

// Scenario "ocr": the answer describes the images the request carried, so tests can check that
// every image arrived intact (type and size of the decoded bytes).
function describeImages(imgs) {
  return imgs.length ? imgs.map((i) => `${i.mime} ${Buffer.from(i.data, 'base64').length} bytes`).join('; ') : 'no image';
}
const geminiImages = (parsed) => (parsed.contents || []).flatMap((c) => c.parts || [])
  .map((p) => p.inline_data || p.inlineData).filter(Boolean).map((d) => ({ mime: d.mime_type || d.mimeType, data: d.data }));
const openaiImages = (parsed) => (parsed.messages || []).flatMap((m) => (Array.isArray(m.content) ? m.content : []))
  .filter((p) => p.type === 'image_url').map((p) => { const m = /^data:([^;]+);base64,(.*)$/.exec(p.image_url.url); return { mime: m[1], data: m[2] }; });

function gemUnary(scenario) {
  if (scenario === 'max-tokens') return gResponse([{ text: 'cut sh' }], { finish: 'MAX_TOKENS', usage: G_USAGE });
  if (scenario === 'blocked') return { promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 } };
  if (scenario === 'json') return gResponse([{ text: '{"answer": 42}' }], { finish: 'STOP', usage: G_USAGE });
  if (scenario === 'mermaid') return gResponse([{ text: MERMAID }], { finish: 'STOP', usage: G_USAGE });
  return gResponse([{ text: 'secret plan', thought: true }, { text: 'Hello, world! Ünïcødé ✓' }], { finish: 'STOP', usage: G_USAGE });
}

const sse = (obj, eol = '\n') => `data: ${JSON.stringify(obj)}${eol}${eol}`;

async function gemini(req, res, url, body, scenario, method) {
  const stream = method === 'streamGenerateContent';
  const altSse = url.searchParams.get('alt') === 'sse';
  const n = (attempts.get(scenario) || 0) + 1;
  attempts.set(scenario, n);
  let parsed;
  try { parsed = JSON.parse(body.toString('utf8')); } catch { return json(res, 400, gErr(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.')); }
  if (!parsed.contents) return json(res, 400, gErr(400, 'INVALID_ARGUMENT', 'contents is required'));
  switch (scenario) {
    case 'auth401': return json(res, 401, gErr(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
    case 'auth403': return json(res, 403, gErr(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."));
    case 'bad400': return json(res, 400, gErr(400, 'INVALID_ARGUMENT', 'Developer instruction is not enabled for models/gemma-3-27b-it'));
    case 'badkey': return json(res, 400, gErr(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } }]));
    case 'notfound': return json(res, 404, gErr(404, 'NOT_FOUND', 'models/notfound is not found for API version v1beta, or is not supported for generateContent.'));
    case 'garbage': res.writeHead(200, { 'content-type': 'application/json' }); return res.end('{"candidates": [ {"content": oops');
    case 'html502': res.writeHead(502, { 'content-type': 'text/html' }); return res.end('<html><body>Bad Gateway</body></html>');
    case 'always503': return json(res, 503, gErr(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'));
    case 'stream400':
      // JSON mode is rejected only on the streaming endpoint (what the fallback is for).
      if (stream) return json(res, 400, gErr(400, 'INVALID_ARGUMENT', 'Streaming is not enabled for this request'));
      break;
    case 'r429':
      if (n === 1) return json(res, 429, gErr(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota. Please retry in 0.4s.', [
        { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generate_content_free_tier_requests', quotaId: 'PerMinute' }] },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '0.400s' }]));
      break;
    case 'r429h':
      if (n === 1) return json(res, 429, gErr(429, 'RESOURCE_EXHAUSTED', 'slow down'), { 'retry-after': '1' });
      break;
    case 'r429date': // Retry-After as an HTTP date two seconds ahead (one-second resolution)
      if (n === 1) return json(res, 429, gErr(429, 'RESOURCE_EXHAUSTED', 'slow down'), { 'retry-after': new Date(Date.now() + 2000).toUTCString() });
      break;
    case 'drop1': // the first connection is dropped after the request arrived, before any response
      if (n === 1) return req.socket.destroy();
      break;
    case 'r503':
      if (n === 1) return json(res, 503, gErr(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'));
      break;
    case 'r500':
      if (n <= 2) return json(res, 500, gErr(500, 'INTERNAL', 'An internal error has occurred.'));
      break;
    case 'slow':
      res.writeHead(200, { 'content-type': altSse ? 'text/event-stream' : 'application/json' });
      await sleep(5000);
      if (!res.destroyed) res.end(altSse ? sse(gemChunks()[1]) : JSON.stringify(gemUnary('')));
      return;
    default: break;
  }
  if (scenario === 'ocr') {
    const text = `saw ${describeImages(geminiImages(parsed))}`;
    if (!stream) return json(res, 200, gResponse([{ text }], { finish: 'STOP', usage: G_USAGE }));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    return res.end(sse(gResponse([{ text }], { finish: 'STOP', usage: G_USAGE })));
  }
  if (!stream) return json(res, 200, gemUnary(scenario));
  const chunks = gemChunks();
  if (scenario === 'cancel' || scenario === 'cancel-idle') {
    // cancel: a chunk every 10 ms; cancel-idle: every 300 ms (the client waits in poll when cancelled).
    return streamUntilClosed(req, res, url, 'text/event-stream',
      (i, trig) => sse(gResponse([{ text: trig ? 'CANCEL-ME ' : `tick${i} ` }], {})), scenario === 'cancel' ? 10 : 300, scenario === 'cancel' ? 5 : 0);
  }
  if (!altSse) {
    // JSON-array stream: pretty-printed elements separated by "\n,\r\n".
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('[');
    for (let i = 0; i < chunks.length; i++) {
      res.write((i ? '\n,\r\n' : '') + JSON.stringify(chunks[i], null, 2));
      await sleep(5);
    }
    return res.end(']');
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const eol = scenario === 'crlf' ? '\r\n' : '\n';
  for (let i = 0; i < chunks.length; i++) {
    if (scenario === 'cut' && i === 3) { await sleep(20); return req.socket.destroy(); }
    if (scenario === 'midstream-error' && i === 3) {
      res.write(JSON.stringify(gErr(503, 'UNAVAILABLE', 'The model is overloaded.')));
      return res.end();
    }
    if (scenario === 'badjson-stream' && i === 2) { res.write('data: {"candidates": [\n\n'); await sleep(5); return res.end(); }
    res.write(sse(chunks[i], eol));
    await sleep(5);
  }
  res.end();
}

// ---- OpenAI wire format -----------------------------------------------------------------------
const O_USAGE = { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 };
const oErr = (message, type, code = null) => ({ error: { message, type, param: null, code } });

async function openai(req, res, url, body) {
  let parsed;
  try { parsed = JSON.parse(body.toString('utf8')); } catch { return json(res, 400, oErr('invalid JSON body', 'invalid_request_error')); }
  const scenario = parsed.model || '';
  const n = (attempts.get('oa:' + scenario) || 0) + 1;
  attempts.set('oa:' + scenario, n);
  const base = { id: 'chatcmpl-1', created: 1767919342, model: scenario, system_fingerprint: 'fp_1' };
  switch (scenario) {
    case 'auth401': return json(res, 401, oErr('Incorrect API key provided.', 'authentication_error', 'invalid_api_key'));
    case 'bad400': return json(res, 400, oErr('response_format is not supported', 'invalid_request_error'));
    case 'stream400': if (parsed.stream) return json(res, 400, oErr('streaming is not supported with json_schema', 'invalid_request_error')); break;
    case 'r429':
      if (n === 1) return json(res, 429, oErr('Rate limit reached', 'requests', 'rate_limit_exceeded'), { 'retry-after-ms': '300' });
      break;
    case 'r503': if (n === 1) return json(res, 503, oErr('overloaded', 'unavailable_error')); break;
    case 'drop1': if (n === 1) return req.socket.destroy(); break;
    case 'garbage': res.writeHead(200, { 'content-type': 'application/json' }); return res.end('not json at all');
    default: break;
  }
  const text = scenario === 'json' ? '{"answer": 42}' : scenario === 'ocr' ? `saw ${describeImages(openaiImages(parsed))}` : 'Hello, world! Ünïcødé ✓';
  // plainstream: a server that ignores "stream": true and answers with a unary body.
  if (!parsed.stream || scenario === 'plainstream') {
    return json(res, 200, { ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: scenario === 'length' ? 'length' : 'stop' }], usage: O_USAGE });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ck = (delta, finish = null, extra = {}) => ({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra });
  const pieces = ['Hello', ', wor', 'ld! ', 'Ünïcødé ✓'];
  const events = [ck({ role: 'assistant', content: '' }), ...pieces.map((p) => ck({ content: p })), ck({}, scenario === 'length' ? 'length' : 'stop')];
  if (parsed.stream_options?.include_usage) events.push({ ...base, object: 'chat.completion.chunk', choices: [], usage: O_USAGE });
  for (let i = 0; i < events.length; i++) {
    if (scenario === 'cut' && i === 3) { await sleep(20); return req.socket.destroy(); }
    res.write(sse(events[i]));
    await sleep(5);
  }
  res.end('data: [DONE]\n\n');
}

// ---- dispatch ---------------------------------------------------------------------------------
async function handle(req, res) {
  const body = await readBody(req);
  const url = new URL(req.url, 'http://x');
  req.logId = nextId++;
  if (url.pathname === '/__log') return json(res, 200, { requests: log, closes });
  if (url.pathname === '/__reset') { log.length = 0; closes.length = 0; attempts.clear(); return json(res, 200, {}); }
  log.push({ id: req.logId, t: now(), method: req.method, url: req.url, headers: req.headers, body: body.toString('utf8') });
  try {
    if (url.pathname.startsWith('/http/')) return await httpRoute(req, res, url, body);
    const g = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
    if (g && req.method === 'POST') return await gemini(req, res, url, body, decodeURIComponent(g[1]), g[2]);
    if (url.pathname === '/v1/chat/completions' && req.method === 'POST') return await openai(req, res, url, body);
    json(res, 404, gErr(404, 'NOT_FOUND', `no route ${req.method} ${url.pathname}`));
  } catch (e) {
    if (!res.headersSent) json(res, 500, gErr(500, 'INTERNAL', String(e)));
    else res.destroy();
  }
}
const server = http.createServer(handle);
server.keepAliveTimeout = 1000;
// A self-signed certificate for localhost, made afresh (nothing secret is stored in the tree).
function selfSigned() {
  const dir = mkdtempSync(join(tmpdir(), 'gemrun-cloud-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const portArg = process.argv.indexOf('--port');
const listen = (srv, port) => new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv.address().port)));
const port = await listen(server, portArg > 0 ? Number(process.argv[portArg + 1]) : 0);
const creds = selfSigned();
const tlsPort = creds ? await listen(https.createServer(creds, handle), 0) : 0;
process.stdout.write(`${port} ${tlsPort}\n`);
// --stdin-lifetime: exit when the parent closes our stdin (the C tests keep a pipe open), so no
// server outlives a crashed test.
if (process.argv.includes('--stdin-lifetime')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
