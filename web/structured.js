// structured.js — renders the structured features' validated output: a quiz (JSON) as a question
// list, a Mermaid mindmap as a nested list, an SVG illustration as an <img> with a data: URL (the
// SVG never enters the page's DOM as markup). The server validated and sanitized all of it; this
// code still treats it as untrusted text.
import { el } from './dom.js';

function source(label, text) {
  return el('details', { class: 'source' }, el('summary', { text: label }), el('pre', { text }));
}

// ---- quiz -------------------------------------------------------------------------------------

const pick = (o, keys) => { for (const k of keys) if (o && o[k] !== undefined && o[k] !== null) return o[k]; return undefined; };

function questionsOf(j) {
  if (Array.isArray(j)) return j;
  const q = pick(j, ['questions', 'quiz', 'items']);
  if (Array.isArray(q)) return q;
  if (q && typeof q === 'object') return questionsOf(q);
  return null;
}

function optionText(o) {
  if (o && typeof o === 'object') return String(pick(o, ['text', 'option', 'label', 'value']) ?? JSON.stringify(o));
  return String(o);
}

// Index of the correct option: the answer may be an index, a letter ("B"), or the option's text.
function correctIndex(q, options) {
  const a = pick(q, ['answer_index', 'correct_index', 'correctIndex', 'answerIndex', 'answer', 'correct', 'correct_answer', 'correctAnswer']);
  if (typeof a === 'number' && Number.isInteger(a) && a >= 0 && a < options.length) return a;
  if (typeof a === 'string') {
    const byText = options.findIndex((o) => optionText(o).trim() === a.trim());
    if (byText >= 0) return byText;
    if (/^[A-Za-z]$/.test(a.trim())) {
      const i = a.trim().toUpperCase().charCodeAt(0) - 65;
      if (i < options.length) return i;
    }
  }
  const flagged = options.findIndex((o) => o && typeof o === 'object' && (o.correct === true || o.is_correct === true));
  return flagged;
}

export function renderQuiz(text) {
  const j = JSON.parse(text); // the server validated it; a throw here is a bug worth showing
  const wrap = el('div', { class: 'quiz' });
  const title = pick(j, ['title', 'topic']);
  if (typeof title === 'string') wrap.append(el('h4', { text: title }));
  const qs = questionsOf(j);
  if (!qs || !qs.length) {
    wrap.append(el('p', { class: 'muted', text: 'No question list found in the JSON; showing it as is.' }));
  } else {
    const list = el('ol', { class: 'questions' });
    for (const q of qs) {
      const qt = typeof q === 'string' ? q : pick(q, ['question', 'prompt', 'q', 'text']) ?? JSON.stringify(q);
      const li = el('li', { class: 'question' }, el('p', { class: 'qtext', text: qt }));
      const options = q && typeof q === 'object' ? pick(q, ['options', 'choices', 'answers']) : undefined;
      if (Array.isArray(options) && options.length) {
        const ci = correctIndex(q, options);
        const ol = el('ol', { class: 'options', attrs: { type: 'A' } });
        options.forEach((o, i) => ol.append(el('li', { class: i === ci ? 'option correct' : 'option', text: optionText(o) })));
        li.append(ol);
      } else {
        const a = q && typeof q === 'object' ? pick(q, ['answer', 'correct_answer']) : undefined;
        if (a !== undefined) li.append(el('p', { class: 'answer', text: `Answer: ${typeof a === 'object' ? JSON.stringify(a) : a}` }));
      }
      const ex = q && typeof q === 'object' ? pick(q, ['explanation', 'why', 'rationale']) : undefined;
      if (typeof ex === 'string') li.append(el('p', { class: 'explanation muted', text: ex }));
      list.append(li);
    }
    wrap.append(list);
  }
  wrap.append(source('JSON', JSON.stringify(j, null, 2)));
  return wrap;
}

// ---- mindmap ----------------------------------------------------------------------------------

// Shapes of docs/validation.md, longest delimiters first: [open, close, name].
const SHAPES = [['((', '))', 'circle'], ['))', '((', 'bang'], ['{{', '}}', 'hexagon'],
  ['(', ')', 'rounded'], [')', '(', 'cloud'], ['[', ']', 'square']];

function unquote(s) {
  const t = s.trim();
  if (t.length >= 2 && ((t[0] === '"' && t.endsWith('"')) || (t[0] === '`' && t.endsWith('`')))) return unquote(t.slice(1, -1));
  return t;
}

function nodeLabel(line) {
  for (const [open, close, shape] of SHAPES) {
    const i = line.indexOf(open);
    if (i >= 0 && line.endsWith(close) && line.length >= i + open.length + close.length) {
      return { text: unquote(line.slice(i + open.length, line.length - close.length)), shape };
    }
  }
  return { text: unquote(line), shape: 'plain' };
}

// Mermaid mindmap text -> {text, shape, children}; null when it is not a mindmap. Indentation
// decides nesting (the server's validator already refused tabs and bad dedents).
export function parseMindmap(src) {
  const lines = src.replace(/^\s*```(?:mermaid)?\s*\n/, '').replace(/\n\s*```\s*$/, '').split(/\r?\n/);
  let i = 0;
  while (i < lines.length && (!lines[i].trim() || lines[i].trim().startsWith('%%'))) i++;
  if (i >= lines.length || lines[i].trim() !== 'mindmap') return null;
  const root = { text: '', shape: 'root', children: [], indent: -1 };
  const stack = [root];
  let last = null;
  for (i++; i < lines.length; i++) {
    const raw = lines[i];
    const t = raw.trim();
    if (!t || t.startsWith('%%')) continue;
    if (t.startsWith('::icon(') || t.startsWith(':::')) continue; // decorates the previous node
    const indent = raw.length - raw.trimStart().length;
    while (stack.length > 1 && stack[stack.length - 1].indent >= indent) stack.pop();
    const node = { ...nodeLabel(t), children: [], indent };
    stack[stack.length - 1].children.push(node);
    stack.push(node);
    last = node;
  }
  if (!last) return null;
  return root.children.length === 1 ? root.children[0] : root;
}

function treeList(nodes) {
  const ul = el('ul', { class: 'tree' });
  for (const n of nodes) {
    const li = el('li', { data: { shape: n.shape } }, el('span', { class: `node node-${n.shape}`, text: n.text }));
    if (n.children.length) li.append(treeList(n.children));
    ul.append(li);
  }
  return ul;
}

export function renderMindmap(text) {
  const wrap = el('div', { class: 'mindmap' });
  const tree = parseMindmap(text);
  if (tree) wrap.append(treeList([tree]));
  else wrap.append(el('p', { class: 'muted', text: 'Not a mindmap diagram; showing the Mermaid source only.' }));
  const src = source('Mermaid source', text);
  src.open = true;
  wrap.append(src);
  return wrap;
}

// ---- SVG --------------------------------------------------------------------------------------

// An <img> never runs scripts or loads sub-resources from an SVG, so even a sanitizer miss stays inert.
export function svgDataUrl(svg) {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

export function renderSvg(text, alt) {
  const img = el('img', { class: 'illustration', attrs: { alt: alt || 'illustration', src: svgDataUrl(text) } });
  return el('div', { class: 'svg' }, img, source('SVG source', text));
}
