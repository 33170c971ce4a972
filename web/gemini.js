// gemini.js — the page's only way to talk to the server: the public Gemini API
// (streamGenerateContent with SSE, generateContent) and GET /api/status. No DOM access here.

// An error the server answered with (HTTP status, Gemini error body) or a transport failure.
export class ApiError extends Error {
  constructor(message, { http = 0, status = '', engine = '' } = {}) {
    super(message);
    this.name = 'ApiError';
    this.http = http;       // HTTP status, 0 for a transport failure
    this.status = status;   // Gemini error status ("UNAVAILABLE", "INVALID_OUTPUT", ...)
    this.engine = engine;   // X-Gemrun-Engine of the failed response ("unavailable", ...)
  }
}

function headers(apiKey) {
  const h = { 'Content-Type': 'application/json' };
  if (apiKey) h['x-goog-api-key'] = apiKey;
  return h;
}

function modelPath(feature, method) {
  return `/v1beta/models/${encodeURIComponent(feature)}:${method}`;
}

// Turns a non-2xx response into an ApiError carrying the server's own message.
async function failure(resp) {
  const engine = resp.headers.get('X-Gemrun-Engine') || '';
  let message = `HTTP ${resp.status} ${resp.statusText}`.trim();
  let status = '';
  try {
    const body = await resp.json();
    const e = Array.isArray(body) ? body[0]?.error : body?.error;
    if (e?.message) message = e.message;
    if (e?.status) status = e.status;
  } catch { /* not JSON: keep the HTTP status line */ }
  return new ApiError(message, { http: resp.status, status, engine });
}

// Incremental Server-Sent Events parser: feed() text as it arrives, get back the data payloads of
// the complete events (multi-line data joined by "\n"; comments and other fields ignored).
export class SseParser {
  constructor() { this.buf = ''; }

  feed(text) {
    this.buf += text;
    const out = [];
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r/.exec(this.buf);
      if (!m) break;
      const block = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      const data = [];
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
      }
      if (data.length) out.push(data.join('\n'));
    }
    return out;
  }

  // Whatever is left when the stream ends (an event without its blank line).
  flush() { return this.buf.trim() ? this.feed('\n\n') : []; }
}

// Text of a Gemini chunk or response (all text parts of the first candidate, thoughts excluded).
export function chunkText(chunk) {
  const parts = chunk?.candidates?.[0]?.content?.parts;
  if (!Array.isArray(parts)) return '';
  return parts.filter((p) => typeof p.text === 'string' && !p.thought).map((p) => p.text).join('');
}

function body(contents, config) {
  const b = { contents };
  const gc = {};
  if (config.maxOutputTokens) gc.maxOutputTokens = config.maxOutputTokens;
  if (typeof config.temperature === 'number' && !Number.isNaN(config.temperature)) gc.temperature = config.temperature;
  if (Object.keys(gc).length) b.generationConfig = gc;
  return JSON.stringify(b);
}

// Streams one answer. Callbacks: onStart({engine}) once the response headers arrived,
// onChunk(chunk, deltaText) per SSE event. Resolves with {engine, text, last} where last is the
// final chunk (usageMetadata, finishReason, gemrun.timings). Rejects with ApiError, or with the
// AbortError of `signal`.
export async function streamGenerate({ feature, contents, config = {}, apiKey, signal, onStart, onChunk }) {
  let resp;
  try {
    resp = await fetch(`${modelPath(feature, 'streamGenerateContent')}?alt=sse`, {
      method: 'POST', headers: headers(apiKey), body: body(contents, config), signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the server: ${e.message}`);
  }
  if (!resp.ok) throw await failure(resp);
  let engine = resp.headers.get('X-Gemrun-Engine') || '';
  onStart?.({ engine });

  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  const sse = new SseParser();
  let text = '';
  let last = null;
  const handle = (payloads) => {
    for (const p of payloads) {
      if (p === '[DONE]') continue;
      let chunk;
      try { chunk = JSON.parse(p); } catch { throw new ApiError(`bad SSE event from the server: ${p.slice(0, 120)}`); }
      if (chunk.error) {
        throw new ApiError(chunk.error.message || 'error in stream', { http: chunk.error.code || 0, status: chunk.error.status || '', engine });
      }
      if (chunk.gemrun?.engine) engine = chunk.gemrun.engine;
      const delta = chunkText(chunk);
      text += delta;
      last = chunk;
      onChunk?.(chunk, delta);
    }
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      handle(sse.feed(decoder.decode(value, { stream: true })));
    }
    handle(sse.feed(decoder.decode()));
    handle(sse.flush());
  } catch (e) {
    reader.cancel().catch(() => {});
    if (e.name === 'AbortError' || e instanceof ApiError) throw e;
    throw new ApiError(`the stream broke: ${e.message}`, { engine });
  }
  return { engine, text, last };
}

// One non-streamed answer (the structured features). Resolves {engine, text, response}.
export async function generate({ feature, contents, config = {}, apiKey, signal }) {
  let resp;
  try {
    resp = await fetch(modelPath(feature, 'generateContent'), {
      method: 'POST', headers: headers(apiKey), body: body(contents, config), signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the server: ${e.message}`);
  }
  if (!resp.ok) throw await failure(resp);
  const response = await resp.json();
  const engine = response.gemrun?.engine || resp.headers.get('X-Gemrun-Engine') || '';
  return { engine, text: chunkText(response), response };
}

export async function fetchStatus({ apiKey, signal } = {}) {
  let resp;
  try {
    resp = await fetch('/api/status', { headers: apiKey ? { 'x-goog-api-key': apiKey } : {}, signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the server: ${e.message}`);
  }
  if (!resp.ok) throw await failure(resp);
  return resp.json();
}
