// app.js — the page: chat with streaming (the conversation kept as Gemini `contents`), a stop
// button, per-answer engine badge and speed, the structured features, and the status panel.
// Model text is only ever inserted as text (textContent / text nodes).
import { el, clear } from './dom.js';
import { ApiError, streamGenerate, generate, fetchStatus } from './gemini.js';
import { renderQuiz, renderMindmap, renderSvg } from './structured.js';
import { renderStatus, renderStatusError } from './status.js';

const $ = (id) => document.getElementById(id);

let contents = [];   // the conversation, as sent to the server
let current = null;  // {controller} of the request in flight (one at a time)

// ---- answer cards -----------------------------------------------------------------------------

function addUser(text) {
  $('messages').append(el('article', { class: 'msg user' }, el('div', { class: 'msg-text', text })));
}

function addAnswer(feature) {
  const badge = el('span', { class: 'badge badge-pending', text: '…' });
  const body = el('div', { class: 'msg-text answer-text' });
  const stats = el('div', { class: 'stats muted' });
  const card = el('article', { class: 'msg model', data: { state: 'waiting', feature }, attrs: { 'aria-busy': 'true' } },
    el('div', { class: 'msg-head' }, badge, el('span', { class: 'feature muted', text: feature })), body, stats);
  $('messages').append(card);
  card.scrollIntoView({ block: 'end' });
  return { card, badge, body, stats };
}

function setBadge(a, engine, title) {
  const e = engine || 'unknown';
  a.badge.textContent = e;
  a.badge.className = `badge badge-${e}`;
  a.card.dataset.engine = e;
  if (title) a.badge.title = title;
}

function setState(a, state) {
  a.card.dataset.state = state;
  a.card.setAttribute('aria-busy', String(state === 'waiting' || state === 'streaming'));
}

function showError(a, err) {
  setState(a, 'error');
  if (err.engine === 'unavailable' || err.status === 'UNAVAILABLE') setBadge(a, 'unavailable');
  else if (err.engine) setBadge(a, err.engine);
  else setBadge(a, 'error');
  const what = err.http ? `${err.http}${err.status ? ` ${err.status}` : ''}: ` : '';
  a.body.append(el('p', { class: 'error', text: `${what}${err.message}` }));
}

const fmt = (x, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '?');

// Speed from the final chunk: gemrun.timings (server-measured) and usageMetadata.
function showStats(a, last) {
  const t = last?.gemrun?.timings;
  const u = last?.usageMetadata || {};
  const finish = last?.candidates?.[0]?.finishReason;
  const parts = [];
  if (t) {
    parts.push(`TTFT ${fmt(t.ttft_ms, 0)} ms`, `${fmt(t.gen_tok_s)} tok/s`);
    a.card.dataset.ttftMs = String(t.ttft_ms);
    a.card.dataset.tokS = String(t.gen_tok_s);
  }
  if (u.candidatesTokenCount !== undefined) parts.push(`${u.candidatesTokenCount} tokens`);
  if (u.promptTokenCount !== undefined) parts.push(`prompt ${u.promptTokenCount} tok${t ? ` at ${fmt(t.prompt_tok_s, 0)} tok/s` : ''}`);
  if (finish) parts.push(`finish ${finish}`);
  a.stats.textContent = parts.join(' · ');
}

// ---- requests ---------------------------------------------------------------------------------

function settings() {
  const max = parseInt($('max-tokens').value, 10);
  const temp = parseFloat($('temperature').value);
  return { config: { maxOutputTokens: max > 0 ? max : undefined, temperature: temp }, apiKey: $('api-key').value.trim() };
}

function begin() {
  current = { controller: new AbortController() };
  $('send').disabled = true;
  for (const b of document.querySelectorAll('button[data-feature]')) b.disabled = true;
  $('stop').disabled = false;
  return current.controller.signal;
}

function end() {
  current = null;
  $('send').disabled = false;
  for (const b of document.querySelectorAll('button[data-feature]')) b.disabled = false;
  $('stop').disabled = true;
  refreshStatus();
}

async function sendChat() {
  const text = $('prompt').value.trim();
  if (!text || current) return;
  const feature = $('feature').value;
  const { config, apiKey } = settings();
  $('prompt').value = '';
  // This answer belongs to this conversation even if "New conversation" replaces it meanwhile.
  const conv = contents;
  conv.push({ role: 'user', parts: [{ text }] });
  addUser(text);
  const a = addAnswer(feature);
  const signal = begin();
  const t0 = performance.now();
  let answer = '';
  try {
    const r = await streamGenerate({
      feature, contents: conv, config, apiKey, signal,
      onStart: ({ engine }) => setBadge(a, engine),
      onChunk: (chunk, delta) => {
        if (chunk.gemrun?.engine) setBadge(a, chunk.gemrun.engine, chunk.gemrun.route_reason);
        if (!delta) return;
        if (!answer) a.card.dataset.clientTtftMs = String(Math.round(performance.now() - t0));
        answer += delta;
        a.body.textContent = answer;
        setState(a, 'streaming');
      },
    });
    conv.push({ role: 'model', parts: [{ text: r.text }] });
    setState(a, 'done');
    showStats(a, r.last);
  } catch (e) {
    if (e.name === 'AbortError') {
      setState(a, 'stopped');
      a.stats.textContent = `stopped after ${((performance.now() - t0) / 1000).toFixed(1)} s`;
      // Keep the partial answer in the conversation; with none, drop the unanswered question so
      // the turns keep alternating.
      if (answer) conv.push({ role: 'model', parts: [{ text: answer }] });
      else conv.pop();
    } else {
      conv.pop();
      showError(a, e instanceof ApiError ? e : new ApiError(String(e.message || e)));
    }
  } finally {
    end();
  }
}

const STRUCTURED = {
  'quiz-generation': { ask: (t) => `Write a short multiple-choice quiz about: ${t}`, render: renderQuiz },
  'mermaid-mindmap': { ask: (t) => `Make a Mermaid mindmap about: ${t}`, render: renderMindmap },
  'svg-illustration': { ask: (t) => `Draw a simple SVG illustration of: ${t}`, render: (s, t) => renderSvg(s, t) },
};

// Structured features are not part of the conversation: one question, one validated result.
async function runStructured(feature) {
  const topic = $('prompt').value.trim();
  if (!topic || current) { if (!topic) $('prompt').focus(); return; }
  const f = STRUCTURED[feature];
  const { config, apiKey } = settings();
  addUser(`${feature}: ${topic}`);
  const a = addAnswer(feature);
  const signal = begin();
  try {
    const r = await generate({ feature, contents: [{ role: 'user', parts: [{ text: f.ask(topic) }] }], config, apiKey, signal });
    setBadge(a, r.engine, r.response.gemrun?.route_reason);
    let view;
    try { view = f.render(r.text, topic); } catch (e) {
      throw new ApiError(`the server's ${feature} output could not be shown: ${e.message}`, { engine: r.engine });
    }
    a.body.append(view);
    setState(a, 'done');
    showStats(a, r.response);
  } catch (e) {
    if (e.name === 'AbortError') {
      setState(a, 'stopped');
      a.stats.textContent = 'stopped';
    } else {
      showError(a, e instanceof ApiError ? e : new ApiError(String(e.message || e)));
    }
  } finally {
    end();
  }
}

// ---- status -----------------------------------------------------------------------------------

let statusInFlight = false;
async function refreshStatus() {
  if (statusInFlight) return;
  statusInFlight = true;
  try {
    renderStatus(await fetchStatus({ apiKey: $('api-key').value.trim() }));
  } catch (e) {
    renderStatusError(e);
  } finally {
    statusInFlight = false;
  }
}

// ---- wiring -----------------------------------------------------------------------------------

function init() {
  $('chat-form').addEventListener('submit', (ev) => { ev.preventDefault(); sendChat(); });
  $('prompt').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendChat(); }
  });
  $('stop').addEventListener('click', () => current?.controller.abort());
  $('clear').addEventListener('click', () => {
    current?.controller.abort();
    contents = [];
    clear($('messages'));
  });
  for (const b of document.querySelectorAll('button[data-feature]')) {
    b.addEventListener('click', () => runStructured(b.dataset.feature));
  }
  $('refresh-status').addEventListener('click', refreshStatus);
  $('api-key').addEventListener('change', refreshStatus);
  // Leaving the page cancels the answer in flight, so the server's engine is never left busy
  // with a generation nobody reads (the seed's navigation bug). The browser would drop the
  // connection anyway; aborting says so explicitly and at once.
  window.addEventListener('pagehide', () => current?.controller.abort());
  refreshStatus();
  setInterval(() => { if (document.visibilityState === 'visible') refreshStatus(); }, 5000);
  document.body.dataset.ready = '1';
}

init();
