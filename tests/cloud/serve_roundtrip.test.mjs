// serve_roundtrip.test.mjs — the cloud engine (gemrun run --engine cloud) pointed at our own
// `gemrun serve` with a tiny synthetic model (real Gemma vocabulary, random weights), over both
// protocols, streamed (a sink: stdout) and unary (--json: no sink). Greedy decoding makes the four
// answers comparable: they must be the same text with the same token counts, and equal to what the
// official @google/genai client gets from the same server. A wrong key gives an auth error, Ctrl-C
// cancels a long stream (exit 130), and the key never appears in anything either process printed.
import { GoogleGenAI } from '@google/genai';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { gemrunBin } from '../ref/lib/gemrun.mjs';
import { startServer, tinyModel } from '../serve/lib/server.mjs';

const KEY = 'GRKEY-roundtrip-9f3e1d';
const PROMPT = 'Name two rivers.';
const captured = []; // every stdout/stderr of every process, for the key check
let srv;

before(async () => {
  srv = await startServer({ model: tinyModel(), apiKey: KEY });
});

after(async () => {
  const { code, stderr } = await srv.stop();
  captured.push(stderr);
  assert.equal(code, 0);
  for (const text of captured) assert.ok(!text.includes(KEY), `the key appeared in: ${text.slice(0, 400)}`);
});

function runCloud(proto, { json = false, key = KEY, n = 12, extra = [] } = {}) {
  const args = ['run', '--engine', 'cloud', '--cloud-protocol', proto, '--cloud-url', srv.url,
    '--cloud-model', 'chat', '--temp', '0', '-n', String(n), '-p', PROMPT, ...extra];
  if (json) args.push('--json');
  const env = { ...process.env, GEMINI_API_KEY: key, OPENAI_API_KEY: key };
  const r = spawnSync(gemrunBin(), args, { encoding: 'utf8', env, timeout: 120000 });
  captured.push(r.stdout, r.stderr);
  return r;
}

// "cloud chat: prompt 15 tokens | generation 12 tokens, finish length, ..."
function usageOf(stderr) {
  const m = /prompt (\d+) tokens \| generation (\d+) tokens, finish (\w+)/.exec(stderr);
  assert.ok(m, `no usage line in: ${stderr}`);
  return { prompt: Number(m[1]), completion: Number(m[2]), finish: m[3] };
}

test('both protocols, streamed and unary, give the same greedy answer as the official client', async () => {
  const answers = [];
  for (const proto of ['gemini', 'openai']) {
    const s = runCloud(proto);
    assert.equal(s.status, 0, s.stderr);
    answers.push({ how: `${proto} stream`, text: s.stdout.replace(/\n$/, ''), usage: usageOf(s.stderr) });
    const u = runCloud(proto, { json: true });
    assert.equal(u.status, 0, u.stderr);
    const j = JSON.parse(u.stdout);
    assert.equal(j.engine, 'cloud');
    assert.equal(j.model, 'chat');
    answers.push({ how: `${proto} unary`, text: j.text, usage: { prompt: j.prompt_tokens, completion: j.completion_tokens, finish: j.finish } });
  }
  assert.ok(answers[0].text.length > 0);
  assert.ok(answers[0].usage.prompt > 0 && answers[0].usage.completion > 0);
  for (const a of answers.slice(1)) {
    assert.equal(a.text, answers[0].text, `${a.how} differs from ${answers[0].how}`);
    assert.deepEqual(a.usage, answers[0].usage, `${a.how} usage`);
  }
  const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: srv.url } });
  const r = await ai.models.generateContent({ model: 'chat', contents: PROMPT, config: { temperature: 0, maxOutputTokens: 12 } });
  assert.equal(answers[0].text, r.text ?? '');
});

// Gemini answers a bad key with 400 INVALID_ARGUMENT "API key not valid" (like the real service);
// the engine still reports it as an auth error.
test('a wrong key is an auth error that names neither key', () => {
  for (const proto of ['gemini', 'openai']) {
    const r = runCloud(proto, { key: 'GRKEY-wrong-0000' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, proto === "gemini" ? /HTTP 400 INVALID_ARGUMENT: API key not valid/ : /HTTP 401/);
    assert.match(r.stderr, /authentication failed/);
    assert.ok(!r.stderr.includes('GRKEY-wrong-0000') && !r.stdout.includes('GRKEY-wrong-0000'));
  }
});

test('Ctrl-C during a long stream cancels it (exit 130) and the server stays healthy', async () => {
  const args = ['run', '--engine', 'cloud', '--cloud-protocol', 'gemini', '--cloud-url', srv.url,
    '--cloud-model', 'chat', '--temp', '0', '-n', '4000', '-p', PROMPT];
  const p = spawn(gemrunBin(), args, { env: { ...process.env, GEMINI_API_KEY: KEY } });
  let out = '';
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const firstText = new Promise((resolve) => p.stdout.on('data', (d) => { out += d; resolve(); }));
  const exited = new Promise((resolve) => p.on('exit', (code) => resolve(code)));
  await firstText;
  p.kill('SIGINT');
  const code = await exited;
  captured.push(out, err);
  assert.equal(code, 130, err);
  assert.match(err, /finish cancelled/);
  const h = await fetch(`${srv.url}/health`);
  assert.equal(h.status, 200);
});
