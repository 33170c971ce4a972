// status.js — renders GET /api/status into the side panel: engines, queue, fit plan, hardware probe
// and the feature routes. The plan and probe are shown generically (flattened key/value rows), so
// fields the server adds later appear without a page change. Every value cell carries
// data-key (dotted path) and data-raw (the JSON value) for tests and copy-paste.
import { el, clear } from './dom.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

function humanBytes(n) {
  if (n >= GIB) return `${(n / GIB).toFixed(2)} GiB`;
  if (n >= MIB) return `${(n / MIB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

// Keys that hold byte counts in the plan and probe JSON (bytes.*, *_bytes, ram_*, mem_*, budget...).
function isBytesKey(path) {
  return /(^|\.)bytes\.|bytes$|(^|\.)(ram|mem)_|(^|\.)(budget|weights|kv_cache|buffers|reserve|total|cgroup_limit|maxBufferSize)$/.test(path);
}

function display(path, v, compact) {
  if (v === null) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number' && isBytesKey(path) && v >= 1024) return compact ? humanBytes(v) : `${humanBytes(v)} (${v})`;
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Math.round(v * 1000) / 1000);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function valueCell(path, v, compact = false) {
  const td = el('td', { class: 'val', text: display(path, v, compact), data: { key: path, raw: JSON.stringify(v) } });
  if (compact && typeof v === 'number') td.title = String(v);
  return td;
}

// Row label: the path without the table's own name (the heading says it).
const label = (path) => path.slice(path.indexOf('.') + 1);

const leafCount = (o) => Object.values(o).reduce((n, v) => n + (v && typeof v === 'object' && !Array.isArray(v) ? leafCount(v) : 1), 0);

// Flattens nested objects to dotted rows; an array of objects becomes a full-width sub-table, and
// a big nested object (the plan's selected row in full, the probe's raw detail) a collapsed block.
function kvRows(table, obj, prefix, depth = 0) {
  for (const [k, v] of Object.entries(obj ?? {})) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      if (depth === 0 && prefix && leafCount(v) > 8) {
        const inner = el('table', { class: 'kv' });
        kvRows(inner, v, path, depth + 1);
        table.append(el('tr', {}, el('td', { attrs: { colspan: 2 } },
          el('details', { class: 'more' }, el('summary', { text: label(path) }), inner))));
      } else {
        kvRows(table, v, path, depth + 1);
      }
    } else if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object')) {
      table.append(el('tr', {}, el('th', { text: label(path), attrs: { colspan: 2 } })));
      table.append(el('tr', {}, el('td', { attrs: { colspan: 2 }, data: { key: path } }, subTable(v, path))));
    } else {
      table.append(el('tr', {}, el('th', { text: label(path) }), valueCell(path, v)));
    }
  }
}

function subTable(rows, path) {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const t = el('table', { class: 'grid sub' });
  t.append(el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { text: c })))));
  const tb = el('tbody');
  rows.forEach((r, i) => tb.append(el('tr', {}, ...cols.map((c) => valueCell(`${path}.${i}.${c}`, r[c] ?? null, true)))));
  t.append(tb);
  return t;
}

function kvTable(id, obj) {
  const t = clear(document.getElementById(id));
  if (obj === undefined || obj === null) t.append(el('tr', {}, el('td', { class: 'muted', text: 'not reported' })));
  else if (typeof obj !== 'object') t.append(el('tr', {}, valueCell(id, obj)));
  else kvRows(t, obj, id);
}

function renderFeatures(features) {
  const tb = clear(document.querySelector('#features tbody'));
  for (const f of Array.isArray(features) ? features : []) {
    tb.append(el('tr', { data: { feature: f.name } },
      el('td', { text: f.name }),
      el('td', {}, el('span', { class: `badge badge-${f.route}`, text: f.route })),
      el('td', { text: f.output ?? '' }),
      el('td', { text: f.stream === undefined ? '' : (f.stream ? 'yes' : 'no') })));
    tb.append(el('tr', { class: 'reason-row' }, el('td', { class: 'reason', text: f.reason ?? '', attrs: { colspan: 4 } })));
  }
}

export function renderStatus(s) {
  const pill = document.getElementById('server-state');
  const state = s.ready ? 'ready' : 'loading';
  pill.textContent = state;
  pill.className = `pill pill-${state}`;
  pill.dataset.state = state;
  document.getElementById('model-id').textContent = s.model?.id ? `model ${s.model.id}` : '';
  document.getElementById('status-error').hidden = true;
  // The runtime speed check can mark the local engine degraded (wrong device, memory spill).
  const warn = document.getElementById('engine-warning');
  const local = s.engines?.local;
  warn.hidden = !(local && (local.degraded || !local.usable));
  warn.textContent = warn.hidden ? '' : `local engine ${local.degraded ? 'degraded' : 'not usable'}: ${local.reason ?? ''}`;
  kvTable('engines', { model: s.model, ...(s.engines ?? {}) });
  kvTable('queue', s.queue);
  kvTable('plan', s.plan);
  kvTable('probe', s.probe);
  renderFeatures(s.features);
}

export function renderStatusError(err) {
  const pill = document.getElementById('server-state');
  const auth = err.http === 401 || err.http === 403;
  pill.textContent = auth ? 'API key needed' : err.http ? `error ${err.http}` : 'unreachable';
  pill.className = 'pill pill-error';
  pill.dataset.state = auth ? 'auth' : 'error';
  const p = document.getElementById('status-error');
  p.textContent = `status: ${err.message}`;
  p.hidden = false;
}
