// images.test.mjs — image input through `gemrun serve`: Gemini inlineData parts and OpenAI image_url
// data: URLs, sent with the official @google/genai and openai clients, reach the cloud engine intact
// (tests/cloud/server.mjs, scenario "ocr", answers with the type and decoded size of every image it
// got). The local engine reads text only: a feature on it with a cloud fallback goes to the cloud;
// without one the answer says why. Bad images are refused with 400 naming the field.
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startMockCloud, startServer, tinyModel } from './lib/server.mjs';

// A 1x1 PNG and a (header-only) JPEG: the server checks the leading bytes, the mock counts them.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(300, 7)]).toString('base64');
const bytes = (b64) => Buffer.from(b64, 'base64').length;
let mock, mockUrl, srv, ai, oa;

before(async () => {
  mock = await startMockCloud();
  mockUrl = mock.url;
  srv = await startServer({
    model: tinyModel(),
    config: {
      cloud: { protocol: 'gemini', base_url: mockUrl, model: 'ocr', api_key: 'k', max_retries: 0 },
      features: { 'svg-illustration': { engine: 'local', fallback: 'none' } },
    },
  });
  ai = new GoogleGenAI({ apiKey: 'unused-local-key', httpOptions: { baseUrl: srv.url } });
  oa = new OpenAI({ apiKey: 'unused-local-key', baseURL: `${srv.url}/v1`, maxRetries: 0 });
});

after(async () => {
  await srv?.stop();
  mock?.stop();
});

test('@google/genai: handwriting-ocr with two inline images reaches the cloud intact', async () => {
  await mock.reset();
  const r = await ai.models.generateContent({
    model: 'handwriting-ocr',
    contents: [{ role: 'user', parts: [{ text: 'Read the page.' }, { inlineData: { mimeType: 'image/png', data: PNG } },
      { inlineData: { mimeType: 'image/jpeg', data: JPEG } }] }],
  });
  assert.equal(r.text, `saw image/png ${bytes(PNG)} bytes; image/jpeg ${bytes(JPEG)} bytes`);
  const [req] = await mock.requests();
  const parts = JSON.parse(req.body).contents[0].parts;
  assert.deepEqual(parts.map((p) => Object.keys(p)[0]), ['text', 'inline_data', 'inline_data']);
  assert.equal(parts[1].inline_data.data, PNG, 'the base64 is passed on byte for byte');
});

test('openai client: an image in chat goes to the cloud (the local engine reads text only)', async () => {
  await mock.reset();
  const r = await oa.chat.completions.create({
    model: 'chat', max_tokens: 16,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }],
  });
  assert.equal(r.choices[0].message.content, `saw image/png ${bytes(PNG)} bytes`);
  assert.equal(r.gemrun.engine, 'cloud');
  assert.match(r.gemrun.route_reason, /chat: local failed \(.*reads text only.*\); fell back to cloud/);
  assert.equal((await mock.requests()).length, 1);
  // text-only chat still runs locally
  const local = await oa.chat.completions.create({ model: 'chat', max_tokens: 4, messages: [{ role: 'user', content: 'Hi' }] });
  assert.equal(local.gemrun.engine, 'local');
});

test('an image for a local feature without fallback: a clear error, nothing sent anywhere', async () => {
  await mock.reset();
  const r = await fetch(`${srv.url}/v1beta/models/svg-illustration:generateContent`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ contents: [{ parts: [{ text: 'Trace this' }, { inlineData: { mimeType: 'image/png', data: PNG } }] }] }) });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /local engine: .*the local engine reads text only: message 0 has 1 image/);
  assert.equal((await mock.requests()).length, 0);
});

test('bad images are refused with 400 naming the field', async () => {
  const cases = [
    [{ inlineData: { mimeType: 'image/png', data: JPEG } }, /parts\[1\]\.inlineData: the bytes are not a png image/],
    [{ inlineData: { mimeType: 'audio/mp3', data: PNG } }, /mime type "audio\/mp3" is not supported/],
    [{ inlineData: { mimeType: 'image/png', data: 'not base64!' } }, /data is not valid base64/],
    [{ fileData: { mimeType: 'image/png', fileUri: 'https://example.com/a.png' } }, /fileData: files and URLs are not fetched/],
  ];
  for (const [part, re] of cases) {
    const r = await fetch(`${srv.url}/v1beta/models/handwriting-ocr:generateContent`, { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }, part] }] }) });
    assert.equal(r.status, 400, JSON.stringify(part));
    assert.match((await r.json()).error.message, re);
  }
  const r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] }) });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /messages\[0\]\.content\[0\]\.image_url\.url: image URLs are not fetched/);
});
