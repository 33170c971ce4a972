// browser.test.mjs — the web page of `gemrun serve` in a real browser (Debian chromium driven by
// playwright-core) against a real server with a tiny synthetic model (random weights, real Gemma
// vocabulary: it writes random tokens until the token limit, so an answer can be made as long as
// needed). Every page is served with a strict Content-Security-Policy added by the test, and any
// CSP violation or page error fails the test.
//
// What it shows: the page loads; the status panel shows the values of /api/status; an answer
// streams (its text grows while it is generated) with the engine badge "local" and, at the end,
// TTFT and tok/s; Stop cancels (the text stops growing, the server goes idle, the next request is
// answered; /metrics counts the cancellation); navigating away mid-answer leaves the server ready
// for the next page; the structured features show the server's "unavailable" reason, and on the
// local engine its 502 INVALID_OUTPUT message or the validated JSON; the page renders quiz /
// mindmap / SVG results (canned responses injected with page.route, since a random model cannot
// write them) and inserts model text as text only; the SSE parser survives any split; with
// --api-key the page asks for the key and then works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { tinyModel, startServer } from './lib/server.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const LONG = 3500;   // tokens (the tiny model's context is 4096): ~10 s, so Stop lands mid-answer
const SHORT = 24;    // tokens for the follow-up answers

let srv;
let browser;
let profile;
const skip = !existsSync(CHROMIUM) && `no chromium at ${CHROMIUM}`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 10000, every = 50) {
  const t0 = Date.now();
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
    await sleep(every);
  }
}

async function status() {
  const r = await fetch(`${srv.url}/api/status`);
  assert.equal(r.status, 200, 'GET /api/status');
  return r.json();
}

// Generations the server cancelled because the client went away (sum over stages, /metrics).
async function cancellations() {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith('gemrun_cancellations_total'));
  assert.ok(lines.length, 'gemrun_cancellations_total in /metrics');
  return lines.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

// The server is idle: nothing running, nothing queued.
const idle = async () => { const s = await status(); return s.ready && !s.queue.running && s.queue.depth === 0; };

before(async () => {
  if (skip) return;
  srv = await startServer({ model: tinyModel(), args: ['--ctx', '4096', '--threads', '1'] });
  await until('/health 200', async () => (await fetch(`${srv.url}/health`)).status === 200, 60000, 100);
  profile = mkdtempSync(join(tmpdir(), 'gemrun-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // The server itself must send the strict CSP with the page (checked here, enforced by Chromium).
  const res = await fetch(srv.url + '/');
  assert.equal(res.headers.get('content-security-policy'), CSP);
});

after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (srv) await srv.stop();
});

// A fresh page with error collection; fails the test on CSP violations or uncaught errors.
async function openPage() {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready="1"]');
  return { page, problems };
}

async function ask(page, text, maxTokens) {
  await page.fill('#max-tokens', String(maxTokens));
  await page.fill('#prompt', text);
  const n = await page.locator('article.msg.model').count();
  await page.click('#send');
  return page.locator('article.msg.model').nth(n); // this answer's card, not whichever is last later
}

// Waits for an answer card to reach a state (waiting, streaming, done, stopped, error).
async function reach(card, state, ms = 30000) {
  await until(`the answer to be ${state}`, async () => {
    const st = await card.getAttribute('data-state');
    if (st === 'error' && state !== 'error') throw new Error(`answer failed: ${await card.textContent()}`);
    return st === state;
  }, ms);
}

const answerLen = (card) => card.locator('.answer-text').evaluate((e) => e.textContent.length);

test('the page loads under a strict CSP and the panel shows /api/status', { skip, timeout: 30000 }, async () => {
  const { page, problems } = await openPage();
  const s = await status();
  await page.waitForSelector('#server-state[data-state="ready"]');
  assert.equal(await page.isHidden('#engine-warning'), s.engines.local.usable && !s.engines.local.degraded);
  assert.match(await page.textContent('#model-id'), new RegExp(s.model.id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

  // Every scalar of the plan and the probe is in the panel with its exact value.
  // Scalars, also inside nested objects and arrays of objects (shown as sub-tables: plan candidates).
  const leaves = (o, p, out = []) => {
    for (const [k, v] of Object.entries(o)) {
      const key = `${p}.${k}`;
      if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
        v.forEach((row, i) => { for (const [c, x] of Object.entries(row)) if (x === null || typeof x !== 'object') out.push([`${key}.${i}.${c}`, x]); });
      } else if (v && typeof v === 'object' && !Array.isArray(v)) leaves(v, key, out);
      else if (!Array.isArray(v)) out.push([key, v]);
    }
    return out;
  };
  const expected = [...leaves(s.plan, 'plan'), ...leaves(s.probe, 'probe')];
  assert.ok(expected.length >= 6, `plan + probe have values: ${JSON.stringify(expected)}`);
  const shown = await page.$$eval('#plan [data-key], #probe [data-key]',
    (tds) => Object.fromEntries(tds.filter((td) => td.dataset.raw !== undefined).map((td) => [td.dataset.key, td.dataset.raw])));
  for (const [key, v] of expected) assert.deepEqual(JSON.parse(shown[key] ?? 'undefined'), v, `panel value of ${key}`);
  // Human-readable too: the plan's reason is visible text.
  if (typeof s.plan.reason === 'string') assert.ok((await page.textContent('#plan')).includes(s.plan.reason));

  // The routes table: one row per feature, with the server's route.
  const rows = await page.$$eval('#features tbody tr[data-feature]', (trs) => trs.map((tr) => [tr.dataset.feature, tr.children[1].textContent]));
  assert.deepEqual(rows, s.features.map((f) => [f.name, f.route]));
  const reasons = await page.$$eval('#features td.reason', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(reasons, s.features.map((f) => f.reason));
  assert.deepEqual(problems, []);
  await page.close();
});

test('an answer streams with the local badge; Stop cancels and the next request works', { skip, timeout: 60000 }, async () => {
  const { page, problems } = await openPage();
  await page.fill('#temperature', '0.7');
  const card = await ask(page, 'Tell me a very long story about the sea.', LONG);
  await reach(card, 'streaming');
  assert.equal(await card.locator('.badge').textContent(), 'local');
  assert.equal(await card.getAttribute('data-engine'), 'local');

  // The text grows over time (sampled while the answer is being generated).
  const lens = [];
  for (let i = 0; i < 5; i++) { lens.push(await answerLen(card)); await sleep(200); }
  const grew = lens.slice(1).filter((n, i) => n > lens[i]).length;
  assert.ok(grew >= 3, `the answer grows while streaming: lengths ${lens}`);
  assert.equal(await page.isDisabled('#stop'), false);
  assert.equal(await card.getAttribute('data-state'), 'streaming', 'still streaming when Stop is pressed');
  assert.equal((await status()).queue.running, true, 'the server is generating before Stop');
  const cancelledBefore = await cancellations();

  await page.click('#stop');
  await reach(card, 'stopped', 5000);
  const atStop = await answerLen(card);
  await sleep(600);
  assert.equal(await answerLen(card), atStop, 'the answer stopped growing');
  assert.equal(await page.isDisabled('#stop'), true);

  // The server noticed the disconnect and dropped the task: idle long before 6000 tokens are done.
  await until('the server to go idle after Stop', idle, 5000);
  assert.equal(await cancellations(), cancelledBefore + 1, 'the server counted the cancellation');

  // The conversation goes on: the next answer completes, with speed figures from the final chunk.
  const sent = page.waitForRequest((r) => r.url().includes(':streamGenerateContent'));
  const next = await ask(page, 'Now a short one.', SHORT);
  // The conversation is Gemini `contents`: question, the partial answer kept at Stop, question.
  const body = (await sent).postDataJSON();
  assert.deepEqual(body.contents.map((c) => c.role), ['user', 'model', 'user']);
  assert.equal(body.contents[1].parts[0].text, await card.locator('.answer-text').textContent());
  assert.equal(body.generationConfig.maxOutputTokens, SHORT);
  await reach(next, 'done');
  assert.equal(await next.locator('.badge').textContent(), 'local');
  const stats = await next.locator('.stats').textContent();
  assert.match(stats, /TTFT \d+ ms · \d+(\.\d)? tok\/s/);
  assert.ok(Number(await next.getAttribute('data-tok-s')) > 0, 'tok/s from gemrun.timings');
  assert.ok(Number(await next.getAttribute('data-ttft-ms')) > 0, 'ttft from gemrun.timings');
  assert.ok((await answerLen(next)) > 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test('navigating away mid-answer leaves the server ready for the next page', { skip, timeout: 60000 }, async () => {
  const { page } = await openPage();
  const first = await ask(page, 'Write an endless poem.', LONG);
  await reach(first, 'streaming');
  await until('some text', async () => (await answerLen(first)) > 20, 10000);
  assert.equal((await status()).queue.running, true, 'the server is generating before navigation');
  const cancelledBefore = await cancellations();
  await page.goto('about:blank');
  await until('the server to go idle after navigation', idle, 5000);
  assert.equal(await cancellations(), cancelledBefore + 1, 'the server counted the cancellation');

  // A new page load and request completes (a locked engine would hang here).
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready="1"]');
  const card = await ask(page, 'Hello again.', SHORT);
  await reach(card, 'done');
  assert.equal(await card.locator('.badge').textContent(), 'local');
  await page.close();
});

test('structured features: the server\'s unavailable reason is shown', { skip, timeout: 30000 }, async () => {
  const { page, problems } = await openPage();
  const s = await status();
  const quiz = s.features.find((f) => f.name === 'quiz-generation');
  await page.fill('#prompt', 'the water cycle');
  await page.click('#quiz');
  const card = page.locator('article.msg.model').first();
  await until('the quiz answer', async () => ['done', 'error'].includes(await card.getAttribute('data-state')));
  if (quiz.route === 'unavailable') {
    // No cloud is configured in this test, so the default route (cloud, no fallback) is unavailable.
    assert.equal(await card.getAttribute('data-state'), 'error');
    assert.equal(await card.locator('.badge').textContent(), 'unavailable');
    const msg = await card.locator('.error').textContent();
    assert.match(msg, /^503 UNAVAILABLE: /);
    assert.ok(msg.includes(quiz.reason), `error "${msg}" includes the route reason "${quiz.reason}"`);
  } else {
    // Served: the server validated it, so it must render.
    assert.equal(await card.getAttribute('data-state'), 'done', await card.textContent());
  }
  assert.deepEqual(problems, []);
  await page.close();
});

// Canned, valid results: a random-weight model cannot write them, and this checks the page's
// rendering of a successful response (the server's own validation is tested in tests/serve/).
const QUIZ = { title: 'Water', questions: [
  { question: 'What falls from clouds?', options: ['Rain', 'Sand', 'Glass'], answer: 0 },
  { question: 'Water vapour forms by?', options: ['Freezing', 'Evaporation'], answer: 'Evaporation', explanation: 'Heat.' }] };
const MINDMAP = 'mindmap\n  root((Water cycle))\n    Evaporation\n      Sun[Heat from the sun]\n    Condensation\n    "Precipitation"\n';
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30" viewBox="0 0 40 30"><rect width="40" height="30" fill="#36c"/></svg>';
const HOSTILE = '<img src=x id=pwned onerror="document.title=1"><b>bold</b>';

function geminiResponse(text, extra = {}) {
  return { candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 9, totalTokenCount: 14 },
    gemrun: { engine: 'cloud', model: 'canned', feature: 'x', route_reason: 'canned', timings: { ttft_ms: 3, prompt_tok_s: 100, gen_tok_s: 50 } },
    ...extra };
}

test('structured results render as a quiz, a tree and an <img>; model text stays text', { skip, timeout: 30000 }, async () => {
  const { page, problems } = await openPage();
  const canned = { 'quiz-generation': JSON.stringify(QUIZ), 'mermaid-mindmap': MINDMAP, 'svg-illustration': SVG };
  await page.route('**/v1beta/models/*:generateContent', (route) => {
    const feature = decodeURIComponent(new URL(route.request().url()).pathname.split('/').pop().split(':')[0]);
    route.fulfill({ status: 200, contentType: 'application/json', headers: { 'X-Gemrun-Engine': 'cloud' },
      body: JSON.stringify(geminiResponse(canned[feature])) });
  });
  await page.route('**/v1beta/models/*:streamGenerateContent*', (route) => {
    const ev = (o) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    route.fulfill({ status: 200, contentType: 'text/event-stream', headers: { 'X-Gemrun-Engine': 'cloud' },
      body: ev(geminiResponse(HOSTILE.slice(0, 20), { usageMetadata: undefined, gemrun: { engine: 'cloud' } })) +
        ev(geminiResponse(HOSTILE.slice(20))) });
  });
  await page.fill('#prompt', 'water');
  const done = (i) => reach(page.locator('article.msg.model').nth(i), 'done');

  await page.click('#quiz');
  await done(0);
  assert.deepEqual(await page.$$eval('.quiz .qtext', (e) => e.map((x) => x.textContent)), QUIZ.questions.map((q) => q.question));
  assert.deepEqual(await page.$$eval('.quiz .option.correct', (e) => e.map((x) => x.textContent)), ['Rain', 'Evaporation']);

  await page.click('#mindmap');
  await done(1);
  const tree = await page.$$eval('.mindmap .tree .node', (e) => e.map((x) => x.textContent));
  assert.deepEqual(tree, ['Water cycle', 'Evaporation', 'Heat from the sun', 'Condensation', 'Precipitation']);
  assert.equal(await page.textContent('.mindmap .source pre'), MINDMAP);

  await page.click('#illustration');
  await done(2);
  const img = await page.$eval('img.illustration', (i) => ({ src: i.src, w: i.naturalWidth, complete: i.complete }));
  assert.ok(img.src.startsWith('data:image/svg+xml'), img.src);
  await until('the SVG image to decode', () => page.$eval('img.illustration', (i) => i.naturalWidth === 40));
  assert.equal(await page.$$eval('article svg', (e) => e.length), 0, 'the SVG is never inserted as markup');

  // Model text with markup in it is shown as text.
  await ask(page, 'say html', SHORT);
  await done(3);
  const card = page.locator('article.msg.model').last();
  assert.equal(await card.locator('.answer-text').textContent(), HOSTILE);
  assert.equal(await page.$$eval('#pwned, article b', (e) => e.length), 0);
  assert.equal(await card.locator('.badge').textContent(), 'cloud');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the page\'s SSE parser reassembles events split at any byte', { skip, timeout: 30000 }, async () => {
  const { page, problems } = await openPage();
  const got = await page.evaluate(async () => {
    const { SseParser } = await import('/gemini.js');
    const stream = ': comment\r\n\r\ndata: {"a":1}\r\n\r\nevent: x\ndata: {"b":\ndata: "é✓"}\n\ndata:{"c":3}\r\rdata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(stream);
    const results = [];
    for (const step of [1, 2, 3, 7, bytes.length]) {
      const p = new SseParser();
      const dec = new TextDecoder();
      const out = [];
      for (let i = 0; i < bytes.length; i += step) out.push(...p.feed(dec.decode(bytes.subarray(i, i + step), { stream: true })));
      out.push(...p.feed(dec.decode()), ...p.flush());
      results.push(out);
    }
    return results;
  });
  for (const out of got) assert.deepEqual(out, ['{"a":1}', '{"b":\n"é✓"}', '{"c":3}', '[DONE]']);
  assert.deepEqual(problems, []);
  await page.close();
});

test('with --api-key the page asks for the key, then works with it', { skip, timeout: 60000 }, async () => {
  const keyed = await startServer({ model: tinyModel(), apiKey: 'page-test-key', args: ['--ctx', '4096', '--threads', '1'] });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(keyed.url);
    await page.waitForSelector('#server-state[data-state="auth"]');
    assert.match(await page.textContent('#status-error'), /API key/);
    await page.fill('#api-key', 'page-test-key');
    await page.dispatchEvent('#api-key', 'change');
    await page.waitForSelector('#server-state[data-state="ready"]');
    const card = await ask(page, 'Hi.', SHORT);
    await reach(card, 'done');
    assert.equal(await card.locator('.badge').textContent(), 'local');
    // A wrong key is refused with the server's message.
    await page.fill('#api-key', 'wrong');
    const bad = await ask(page, 'Hi again.', SHORT);
    await reach(bad, 'error');
    assert.match(await bad.locator('.error').textContent(), /^40[013] [A-Z_]+: .*API key/);
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await keyed.stop();
  }
});

test('structured features on the local engine: invalid output is a clear error, valid JSON renders', { skip, timeout: 60000 }, async () => {
  const local = await startServer({ model: tinyModel(), args: ['--ctx', '4096', '--threads', '1'],
    config: { features: { 'quiz-generation': 'local', 'mermaid-mindmap': 'local' } } });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(local.url);
    await page.waitForSelector('#server-state[data-state="ready"]');
    await page.fill('#max-tokens', '64');
    await page.fill('#prompt', 'the water cycle');
    const cards = page.locator('article.msg.model');
    const settle = async (i) => until('a structured answer', async () => ['done', 'error'].includes(await cards.nth(i).getAttribute('data-state')), 30000);

    // A random model cannot write a mindmap: the server refuses it (502) and the page says why.
    let resp = page.waitForResponse((r) => r.url().includes('mermaid-mindmap:generateContent'));
    await page.click('#mindmap');
    const mm = await (await resp).json();
    await settle(0);
    if (mm.error) {
      assert.equal(await cards.nth(0).getAttribute('data-state'), 'error');
      assert.equal(await cards.nth(0).locator('.error').textContent(), `${mm.error.code} ${mm.error.status}: ${mm.error.message}`);
      assert.equal(await cards.nth(0).locator('.badge').textContent(), 'local');
    } else {
      assert.equal(await cards.nth(0).locator('.mindmap .source pre').textContent(), mm.candidates[0].content.parts[0].text);
    }

    // Whatever validated JSON the server returns for a quiz is shown (the JSON source at least).
    resp = page.waitForResponse((r) => r.url().includes('quiz-generation:generateContent'));
    await page.click('#quiz');
    const qz = await (await resp).json();
    await settle(1);
    if (qz.error) {
      assert.equal(await cards.nth(1).locator('.error').textContent(), `${qz.error.code} ${qz.error.status}: ${qz.error.message}`);
    } else {
      assert.equal(await cards.nth(1).getAttribute('data-state'), 'done', await cards.nth(1).textContent());
      const shown = await cards.nth(1).locator('.quiz .source pre').textContent();
      assert.equal(shown, JSON.stringify(JSON.parse(qz.candidates[0].content.parts[0].text), null, 2));
      assert.equal(await cards.nth(1).locator('.badge').textContent(), 'local');
    }
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await local.stop();
  }
});
