// clients.test.mjs — the official clients, unchanged, against `gemrun serve` with a tiny synthetic
// model: @google/genai (generateContent, generateContentStream with its own SSE parser,
// countTokens, models.list/get) and openai (chat.completions, streamed and not), plus curl for the
// exact wire framing. Greedy decoding makes the answers comparable: a stream must add up to the
// unary answer, and the Gemini and OpenAI routes must produce the same text for the same chat.
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { startServer, tinyModel } from './lib/server.mjs';

const PROMPT = 'Write one short sentence about rivers.';
const GREEDY = { temperature: 0, maxOutputTokens: 12 };
let srv;
let ai;
let oa;

before(async () => {
  srv = await startServer({ model: tinyModel() });
  ai = new GoogleGenAI({ apiKey: 'unused-local-key', httpOptions: { baseUrl: srv.url } });
  oa = new OpenAI({ apiKey: 'unused-local-key', baseURL: `${srv.url}/v1`, maxRetries: 0 });
});

after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, 'graceful stop exits 0');
});

function curl(args, input) {
  const r = spawnSync('curl', ['-sS', '--max-time', '30', ...args], { encoding: 'utf8', input });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe('@google/genai', () => {
  test('generateContent answers with text, usage and the engine that served it', async () => {
    const r = await ai.models.generateContent({ model: 'chat', contents: PROMPT, config: GREEDY });
    assert.equal(typeof r.text, 'string');
    assert.ok(['STOP', 'MAX_TOKENS'].includes(r.candidates[0].finishReason));
    const u = r.usageMetadata;
    assert.ok(u.promptTokenCount > 0);
    assert.ok(u.candidatesTokenCount <= GREEDY.maxOutputTokens);
    assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount);
  });

  test('generateContentStream (SSE) adds up to the unary answer', async () => {
    const unary = await ai.models.generateContent({ model: 'chat', contents: PROMPT, config: GREEDY });
    const stream = await ai.models.generateContentStream({ model: 'chat', contents: PROMPT, config: GREEDY });
    let text = '';
    let chunks = 0;
    let last;
    for await (const c of stream) {
      text += c.text ?? '';
      chunks++;
      last = c;
    }
    assert.ok(chunks >= 1);
    assert.equal(text, unary.text);
    assert.equal(last.candidates[0].finishReason, unary.candidates[0].finishReason);
    assert.equal(last.usageMetadata.candidatesTokenCount, unary.usageMetadata.candidatesTokenCount);
  });

  test('countTokens equals the prompt tokens generateContent used', async () => {
    const c = await ai.models.countTokens({ model: 'chat', contents: PROMPT });
    const r = await ai.models.generateContent({ model: 'chat', contents: PROMPT, config: GREEDY });
    assert.equal(c.totalTokens, r.usageMetadata.promptTokenCount);
  });

  test('multi-turn history and a system instruction change the prompt', async () => {
    const contents = [
      { role: 'user', parts: [{ text: 'Hi' }] },
      { role: 'model', parts: [{ text: 'Hello!' }] },
      { role: 'user', parts: [{ text: PROMPT }] },
    ];
    const a = await ai.models.countTokens({ model: 'chat', contents });
    const b = await ai.models.countTokens({ model: 'chat', contents: PROMPT });
    assert.ok(a.totalTokens > b.totalTokens);
    const r = await ai.models.generateContent({ model: 'chat', contents, config: { ...GREEDY, systemInstruction: 'Be brief.' } });
    assert.ok(r.usageMetadata.promptTokenCount > a.totalTokens, 'the system turn adds tokens');
  });

  test('the local model id works as a model name; list and get agree', async () => {
    const pager = await ai.models.list();
    const names = [];
    for await (const m of pager) names.push(m.name);
    assert.ok(names.includes('models/chat'));
    const local = names.find((n) => !['chat', 'tutoring', 'math-explanation', 'socratic-dialogue', 'quiz-generation',
      'mermaid-mindmap', 'svg-illustration', 'handwriting-ocr'].includes(n.slice(7)));
    assert.ok(local, `a served model id in ${names}`);
    const got = await ai.models.get({ model: local });
    assert.equal(got.name, local);
    const r = await ai.models.generateContent({ model: local.slice(7), contents: PROMPT, config: GREEDY });
    const byFeature = await ai.models.generateContent({ model: 'chat', contents: PROMPT, config: GREEDY });
    assert.equal(r.text, byFeature.text);
  });

  test('unknown model: 404 NOT_FOUND through the SDK', async () => {
    await assert.rejects(ai.models.generateContent({ model: 'no-such-model', contents: 'x' }),
      (e) => e.status === 404 && /NOT_FOUND/.test(e.message));
  });

  test('stopSequences end the text before the stop string', async () => {
    const r = await ai.models.generateContent({ model: 'chat', contents: PROMPT, config: { ...GREEDY, maxOutputTokens: 24 } });
    const full = r.text;
    if (full.length < 4) return; // the random model ended at once: nothing to cut
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
    const cut = await ai.models.generateContent({ model: 'chat', contents: PROMPT,
      config: { ...GREEDY, maxOutputTokens: 24, stopSequences: [stop] } });
    assert.equal(cut.text, full.slice(0, full.indexOf(stop)));
    assert.equal(cut.candidates[0].finishReason, 'STOP');
  });
});

describe('openai', () => {
  const messages = [{ role: 'user', content: PROMPT }];

  test('chat.completions matches the Gemini route for the same chat', async () => {
    const g = await ai.models.generateContent({ model: 'chat', contents: PROMPT, config: GREEDY });
    const r = await oa.chat.completions.create({ model: 'chat', messages, temperature: 0, max_tokens: 12 });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, g.text);
    assert.equal(r.usage.prompt_tokens, g.usageMetadata.promptTokenCount);
    assert.equal(r.usage.completion_tokens, g.usageMetadata.candidatesTokenCount);
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.equal(r.gemrun.engine, 'local');
    assert.ok(r.gemrun.timings.ttft_ms > 0);
  });

  test('streamed chat.completions with include_usage adds up', async () => {
    const unary = await oa.chat.completions.create({ model: 'chat', messages, temperature: 0, max_completion_tokens: 12 });
    const stream = await oa.chat.completions.create({ model: 'chat', messages, temperature: 0, max_completion_tokens: 12,
      stream: true, stream_options: { include_usage: true } });
    let text = '';
    let role;
    let finish;
    let usage;
    for await (const c of stream) {
      if (c.choices.length) {
        role ??= c.choices[0].delta.role;
        text += c.choices[0].delta.content ?? '';
        finish = c.choices[0].finish_reason ?? finish;
      }
      if (c.usage) usage = c.usage;
    }
    assert.equal(role, 'assistant');
    assert.equal(text, unary.choices[0].message.content);
    assert.equal(finish, unary.choices[0].finish_reason);
    assert.deepEqual(usage, unary.usage);
  });

  test('models.list and errors in OpenAI shape', async () => {
    const list = await oa.models.list();
    assert.ok(list.data.some((m) => m.id === 'chat'));
    await assert.rejects(oa.chat.completions.create({ model: 'nope', messages }),
      (e) => e.status === 404 && e.error?.type === 'not_found_error');
    await assert.rejects(oa.chat.completions.create({ model: 'chat', messages, temperature: 7 }),
      (e) => e.status === 400 && /temperature/.test(e.message));
  });

  test('response_format: valid JSON or a 502 INVALID_OUTPUT, never invalid output as success', async () => {
    const formats = [{ type: 'json_object' },
      { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] } } }];
    for (const response_format of formats) {
      for (const max_tokens of [4, 64]) {
        try {
          const r = await oa.chat.completions.create({ model: 'chat', messages, max_tokens, temperature: 0, response_format });
          const v = JSON.parse(r.choices[0].message.content);
          if (response_format.type === 'json_schema') assert.equal(typeof v.a, 'number');
        } catch (e) {
          assert.equal(e.status, 502, e.message);
          assert.equal(e.error?.type, 'invalid_output_error');
          assert.match(e.message, /invalid|attempt/);
        }
      }
    }
  });

  test('Gemini responseMimeType + responseSchema: valid JSON or 502 INVALID_OUTPUT', async () => {
    const r = await fetch(`${srv.url}/v1beta/models/chat:generateContent`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ contents: [{ parts: [{ text: PROMPT }] }], generationConfig: { maxOutputTokens: 48, temperature: 0,
        responseMimeType: 'application/json', responseSchema: { type: 'OBJECT', properties: { n: { type: 'INTEGER' } }, required: ['n'] } } }) });
    const j = await r.json();
    if (r.status === 200) assert.equal(typeof JSON.parse(j.candidates[0].content.parts[0].text).n, 'number');
    else {
      assert.equal(r.status, 502);
      assert.equal(j.error.status, 'INVALID_OUTPUT');
      assert.equal(j.error.code, 502);
    }
  });
});

describe('curl: wire framing', () => {
  const body = JSON.stringify({ contents: [{ parts: [{ text: PROMPT }] }], generationConfig: GREEDY });

  test('alt=sse: data: {...} CRLF CRLF events, no [DONE], no comments, engine header', () => {
    const out = curl(['-i', '-N', '-X', 'POST', `${srv.url}/v1beta/models/chat:streamGenerateContent?alt=sse`,
      '-H', 'Content-Type: application/json', '--data-binary', '@-'], body);
    const [head, rest] = out.split('\r\n\r\n', 2).length === 2 ? [out.slice(0, out.indexOf('\r\n\r\n')), out.slice(out.indexOf('\r\n\r\n') + 4)] : [out, ''];
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.match(head, /content-type: text\/event-stream/i);
    assert.match(head, /x-gemrun-engine: local/i);
    assert.ok(rest.endsWith('\r\n\r\n'));
    const events = rest.split('\r\n\r\n').slice(0, -1);
    assert.ok(events.length >= 1);
    for (const e of events) {
      assert.ok(e.startsWith('data: {'), `event ${JSON.stringify(e)}`);
      assert.ok(!e.includes('\n'));
      JSON.parse(e.slice(6));
    }
    const lastEv = JSON.parse(events.at(-1).slice(6));
    assert.ok(lastEv.candidates[0].finishReason);
    assert.ok(lastEv.gemrun.timings, 'timings in the final chunk');
    assert.equal(JSON.parse(events[0].slice(6)).gemrun.engine, 'local');
    assert.ok(!rest.includes('[DONE]'));
  });

  test('no alt: one JSON array of responses', () => {
    const out = curl(['-X', 'POST', `${srv.url}/v1beta/models/chat:streamGenerateContent`,
      '-H', 'Content-Type: application/json', '--data-binary', '@-'], body);
    assert.equal(out[0], '[');
    const arr = JSON.parse(out);
    assert.ok(Array.isArray(arr) && arr.length >= 1);
    assert.ok(arr.at(-1).candidates[0].finishReason);
  });

  test('OpenAI stream ends with data: [DONE]', () => {
    const out = curl(['-N', '-X', 'POST', `${srv.url}/v1/chat/completions`, '-H', 'Content-Type: application/json',
      '--data-binary', '@-'], JSON.stringify({ model: 'chat', stream: true, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }));
    assert.ok(out.endsWith('data: [DONE]\n\n'));
    const events = out.split('\n\n').filter(Boolean);
    assert.equal(JSON.parse(events[0].slice(6)).choices[0].delta.role, 'assistant');
  });
});
