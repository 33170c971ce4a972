// bench_serve.mjs — `gemrun serve` under load, measured from the client side:
//   latency   sequential unary requests: end-to-end latency, and time to first SSE chunk (TTFT)
//   load      C concurrent clients (SSE), M requests: requests/s, generated tok/s, latency p50/p90
//   cancel    a stream aborted mid-generation: abort -> engine idle again (queue.running false)
//   overhead  client latency minus the engine's own total (gemrun.timings) per unary request
// Usage:
//   node bench/bench_serve.mjs [--model FILE] [--threads N] [--reps 10] [--tokens 32]
//        [--concurrency 1,4,16] [--requests 32] [--json out.json]
// Without --model a tiny synthetic model (gemma4-e2b-tiny q8_0) is written first. The binary is
// GEMRUN_SERVE_BIN / GEMRUN_BIN or the usual build folders. Numbers are medians unless noted;
// on the shared 2-core machine other work disturbs them, so record the CPU busy share too.
import { readFileSync, writeFileSync } from 'node:fs';
import { startServer, tinyModel } from '../tests/serve/lib/server.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => {
  if (v.startsWith('--')) a.push([v.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]);
  return a;
}, []));
const REPS = Number(args.reps ?? 10);
const TOKENS = Number(args.tokens ?? 32);
const CONC = (args.concurrency ?? '1,4,16').split(',').map(Number);
const REQUESTS = Number(args.requests ?? 32);
const H = { 'Content-Type': 'application/json' };
const PROMPT = 'Explain in two sentences why rivers meander across flat plains.';

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cpuBusy() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
}
const busyShare = (a, b) => 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);

function gen(seed, n = TOKENS) {
  return JSON.stringify({ contents: [{ parts: [{ text: PROMPT }] }],
    generationConfig: { maxOutputTokens: n, temperature: 0.8, seed } });
}

async function unary(url, seed) {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1beta/models/chat:generateContent`, { method: 'POST', headers: H, body: gen(seed) });
  const j = await r.json();
  const ms = performance.now() - t0;
  if (r.status !== 200) throw new Error(JSON.stringify(j));
  return { ms, tokens: j.usageMetadata.candidatesTokenCount, engineMs: j.gemrun.timings, j };
}

async function stream(url, seed, { abortAfterChunks = 0 } = {}) {
  const ac = new AbortController();
  const t0 = performance.now();
  const r = await fetch(`${url}/v1beta/models/chat:streamGenerateContent?alt=sse`, { method: 'POST', headers: H,
    body: gen(seed, abortAfterChunks ? 4000 : TOKENS), signal: ac.signal });
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let ttft = 0;
  let text = '';
  let chunks = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!ttft) ttft = performance.now() - t0;
    text += dec.decode(value, { stream: true });
    chunks++;
    if (abortAfterChunks && chunks >= abortAfterChunks) {
      const ta = performance.now();
      ac.abort();
      return { abortedAt: ta };
    }
  }
  const last = JSON.parse(text.trim().split('\r\n\r\n').at(-1).slice(6));
  return { ms: performance.now() - t0, ttft, tokens: last.usageMetadata?.candidatesTokenCount ?? 0 };
}

async function latency(url) {
  await unary(url, 999); // warm-up
  const lat = [];
  const ttft = [];
  for (let i = 0; i < REPS; i++) {
    lat.push((await unary(url, i + 1)).ms);
    ttft.push((await stream(url, i + 1)).ttft);
  }
  return { unary_ms: median(lat), ttft_ms: median(ttft), n: REPS };
}

async function load(url, c) {
  let next = 0;
  const lat = [];
  let tokens = 0;
  const t0 = performance.now();
  const c0 = cpuBusy();
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < REQUESTS) {
      const i = next++;
      const s = await stream(url, 1000 + i);
      lat.push(s.ms);
      tokens += s.tokens;
    }
  }));
  const secs = (performance.now() - t0) / 1e3;
  return { concurrency: c, requests: REQUESTS, req_s: REQUESTS / secs, gen_tok_s: tokens / secs,
    p50_ms: median(lat), p90_ms: pct(lat, 0.9), cpu_busy: busyShare(c0, cpuBusy()) };
}

async function cancelLatency(url) {
  const xs = [];
  for (let i = 0; i < 5; i++) {
    const { abortedAt } = await stream(url, 50 + i, { abortAfterChunks: 3 });
    for (;;) {
      const st = await (await fetch(`${url}/api/status`)).json();
      if (!st.queue.running) break;
      await sleep(1);
    }
    xs.push(performance.now() - abortedAt);
  }
  return { abort_to_idle_ms: median(xs), max_ms: Math.max(...xs) };
}

async function overhead(url) {
  // client-observed latency minus the engine's pipeline time (ttft + decode) for the same request
  const xs = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    const r = await fetch(`${url}/v1beta/models/chat:generateContent`, { method: 'POST', headers: H, body: gen(i + 7, 1) });
    const j = await r.json();
    xs.push(performance.now() - t0 - j.gemrun.timings.ttft_ms);
  }
  return { one_token_overhead_ms: median(xs) };
}

const model = args.model ?? tinyModel();
const extra = args.threads ? ['--threads', args.threads] : [];
const srv = await startServer({ model, args: extra, config: { server: { queue_size: 256, access_log: false } } });
try {
  const out = { date: new Date().toISOString(), model, threads: Number(args.threads ?? 2) };
  out.latency = await latency(srv.url);
  out.load = [];
  for (const c of CONC) out.load.push(await load(srv.url, c));
  out.cancel = await cancelLatency(srv.url);
  out.overhead = await overhead(srv.url);
  console.log(`model ${model}`);
  console.log(`latency  unary ${out.latency.unary_ms.toFixed(1)} ms (${TOKENS} tokens), TTFT ${out.latency.ttft_ms.toFixed(1)} ms  (medians of ${REPS})`);
  console.log('load     conc  req/s   gen tok/s  p50 ms   p90 ms   cpu busy');
  for (const l of out.load)
    console.log(`         ${String(l.concurrency).padStart(4)}  ${l.req_s.toFixed(2).padStart(5)}  ${l.gen_tok_s.toFixed(1).padStart(9)}  ${l.p50_ms.toFixed(0).padStart(6)}  ${l.p90_ms.toFixed(0).padStart(7)}  ${(l.cpu_busy * 100).toFixed(0)}%`);
  console.log(`cancel   abort -> engine idle ${out.cancel.abort_to_idle_ms.toFixed(1)} ms median (max ${out.cancel.max_ms.toFixed(1)})`);
  console.log(`overhead HTTP + queue + JSON, 1-token request: ${out.overhead.one_token_overhead_ms.toFixed(2)} ms median`);
  if (args.json) writeFileSync(args.json, JSON.stringify(out, null, 2));
} finally {
  await srv.stop();
}
