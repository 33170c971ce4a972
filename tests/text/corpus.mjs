// corpus.mjs — assembles, deterministically, the text corpus for the tokenizer reference tests and
// benchmark: message catalogs of ~170 languages (.mo files parsed directly), source code and docs
// found on any Debian 12 machine and in node_modules, and generated edge cases (scripts, emoji,
// combining marks, whitespace/newline runs, markup, chat tags, long lines). Reads only; writes
// nothing. Sizes are capped so the whole corpus stays a few MB.

import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function listFiles(dir, filter, out = [], depth = 0) {
  if (!existsSync(dir) || depth > 6) return out;
  let names;
  try { names = readdirSync(dir).sort(); } catch { return out; }
  for (const n of names) {
    const p = join(dir, n);
    let st;
    try { st = statSync(p); } catch { continue; }
    if (st.isDirectory()) listFiles(p, filter, out, depth + 1);
    else if (st.isFile() && filter(p)) out.push(p);
  }
  return out;
}

// GNU .mo: magic, revision, count, offset of originals, offset of translations.
export function parseMo(buf) {
  if (buf.length < 28) return [];
  let le = buf.readUInt32LE(0) === 0x950412de;
  if (!le && buf.readUInt32BE(0) !== 0x950412de) return [];
  const rd = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const n = rd(8), tOff = rd(16), out = [];
  for (let i = 0; i < n; i++) {
    const len = rd(tOff + i * 8), off = rd(tOff + i * 8 + 4);
    if (off + len > buf.length) break;
    const s = buf.subarray(off, off + len).toString('utf8');
    if (s && !s.includes('\uFFFD') && !s.startsWith('Project-Id-Version')) out.push(...s.split('\0'));
  }
  return out;
}

// Group strings into records of about `size` characters (joined with newlines).
function chunkStrings(strings, size) {
  const recs = [];
  let cur = '';
  for (const s of strings) {
    if (cur && cur.length + s.length > size) { recs.push(cur); cur = ''; }
    cur += (cur ? '\n' : '') + s;
  }
  if (cur) recs.push(cur);
  return recs;
}

function chunkText(text, size) {
  const recs = [];
  for (let i = 0; i < text.length;) {
    let j = Math.min(text.length, i + size);
    const nl = text.lastIndexOf('\n', j);
    if (j < text.length && nl > i + size / 2) j = nl + 1;
    recs.push(text.slice(i, j));
    i = j;
  }
  return recs;
}

function catalogs(perLang) {
  const base = '/usr/share/locale';
  if (!existsSync(base)) return [];
  const recs = [];
  for (const lang of readdirSync(base).sort()) {
    const files = listFiles(join(base, lang), (p) => p.endsWith('.mo'));
    let budget = perLang;
    const strs = [];
    for (const f of files) {
      for (const s of parseMo(readFileSync(f))) {
        if (budget <= 0) break;
        strs.push(s);
        budget -= s.length;
      }
      if (budget <= 0) break;
    }
    recs.push(...chunkStrings(strs, 1500));
  }
  return recs;
}

function filesText(files, budget, chunk) {
  const recs = [];
  for (const f of files) {
    if (budget <= 0) break;
    let t;
    try { t = readFileSync(f, 'utf8'); } catch { continue; }
    if (t.includes('\uFFFD') || t.includes('\0')) continue;
    t = t.slice(0, Math.min(t.length, 40000, budget));
    budget -= t.length;
    recs.push(...chunkText(t, chunk));
  }
  return recs;
}

// Deterministic PRNG (mulberry32).
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SCRIPTS = {
  cjk: '漢字仮名交じり文は日本語の表記法です。中文的标点符号，包括逗号、句号。한국어는 한글로 씁니다.',
  arabic: 'اللغة العربية هي أكثر اللغات السامية تحدثاً، وإحدى أكثر اللغات انتشاراً في العالم.',
  hebrew: 'עִבְרִית היא שפה שמית ממשפחת השפות האפרו-אסיאתיות. שָׁלוֹם עֲלֵיכֶם',
  devanagari: 'हिन्दी विश्व की एक प्रमुख भाषा है एवं भारत की राजभाषा है। संस्कृतम् क्षत्रिय',
  thai: 'ภาษาไทยเป็นภาษาที่มีระดับเสียงของภาษา หรือวรรณยุกต์ ๐๑๒๓๔๕',
  cyrillic: 'Русский язык — язык восточнославянской группы. Ёжик в тумане. Українська мова ґ є ї',
  greek: 'Η ελληνική γλώσσα ανήκει στην ινδοευρωπαϊκή οικογένεια. ᾍδης ῥήτωρ',
  misc: 'Ελληνικά ქართული ენა Հայերեն ትግርኛ ᏣᎳᎩ ꦧꦱꦗꦮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 ∀x∈ℝ: x²≥0 ⅓ ½ ℃ № ™',
  emoji: '😀😃🙂🤖👍🏽👨‍👩‍👧‍👦🏳️‍🌈🇩🇪🇯🇵❤️‍🔥🧑🏿‍🚀 1️⃣ #️⃣ ©️ 👩🏻‍❤️‍💋‍👨🏼',
  combining: 'e\u0301 a\u0308 n\u0303 Z\u0351\u0352\u0353\u0354 ก\u0e49\u0e49 o\u0336\u0336 क\u094d\u200dष',
  zw: 'zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u00a0nbsp\u2009thin\u3000ideographic',
};

const TAGS = ['<bos>', '<eos>', '<pad>', '<unk>', '<mask>', '<start_of_turn>', '<end_of_turn>',
  '<|turn>', '<turn|>', '<|channel>', '<channel|>', '<|think|>', '<|tool>', '<tool|>',
  '<|tool_call>', '<tool_call|>', '<|tool_response>', '<tool_response|>', '<|"|>',
  '<|image|>', '<image|>', '<start_of_image>', '<unused0>', '<unused6241>', '<table>', '</td>',
  '<b>', '<h1>', '[multimodal]', '<0x41>', '<s>', '</s>', '<|endoftext|>', '<div class="x">'];

export function edgeCases() {
  const rnd = prng(20261124);
  const recs = [];
  for (const s of Object.values(SCRIPTS)) recs.push(s, s + ' ' + s, `  ${s}\n\n${s}  `);
  for (let n = 1; n <= 40; n++) {
    recs.push('\n'.repeat(n), 'x' + '\n'.repeat(n) + 'y', ' '.repeat(n), 'a' + ' '.repeat(n) + 'b');
    recs.push('\t'.repeat(n) + 'code', '\n' + ' '.repeat(n) + 'indented\n', ' \n'.repeat(n));
    recs.push('.'.repeat(n), '-'.repeat(n), '='.repeat(n), '*'.repeat(n), '0'.repeat(n));
  }
  recs.push('\r\n'.repeat(5) + 'crlf\r\nline', '\v\f\x1b[0m\x07\x01 controls', 'trailing space ',
    ' leading', '', ' ', '\n', '▁literal▁block▁', 'a\u2581\u2581b');
  for (const t of TAGS) recs.push(t, `x${t}y`, ` ${t} `, `${t}${t}`, `\n${t}\n`);
  recs.push('<|turn>user\nHello<turn|>\n<|turn>model\n<|channel>thought\nhmm<channel|>Hi<turn|>\n');
  recs.push('<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n');
  recs.push('<html><body><table><tr><td>cell</td></tr></table><b>bold</b> <i>it</i></body></html>');
  recs.push('```python\ndef f(x):\n\treturn {"a": [1, 2.5e-3, None]}\n```\n| a | b |\n|---|---|\n');
  recs.push('https://example.com/path?q=1&r=%20#frag mailto:a@b.c 192.168.0.1 0xDEADBEEF 1e10');
  // Long lines and long repeated runs.
  recs.push('word '.repeat(6000), 'x'.repeat(5000), '😀'.repeat(2000), '\n'.repeat(300),
    ' '.repeat(500), '\t'.repeat(100), 'ab'.repeat(4000), SCRIPTS.cjk.repeat(80));
  // Random mixtures drawn from every pool, including whitespace and tags.
  const pool = [...Object.values(SCRIPTS).join(''), ...' \n\t.,;:!?()[]{}<>"\'`~@#$%^&*-_+=/\\|0123456789',
    ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'];
  for (let i = 0; i < 1500; i++) {
    const len = 1 + Math.floor(rnd() * 120);
    let s = '';
    for (let k = 0; k < len; k++) {
      const r = rnd();
      if (r < 0.03) s += TAGS[Math.floor(rnd() * TAGS.length)];
      else if (r < 0.08) s += ' '.repeat(1 + Math.floor(rnd() * 6));
      else if (r < 0.11) s += '\n'.repeat(1 + Math.floor(rnd() * 4));
      else s += pool[Math.floor(rnd() * pool.length)];
    }
    recs.push(s);
  }
  return recs;
}

// The whole corpus as an array of strings. `scale` shrinks it for quick runs.
export function buildCorpus({ scale = 1 } = {}) {
  const nm = join(ROOT, 'node_modules');
  const recs = [];
  recs.push(...catalogs(Math.floor(14000 * scale)));
  const headers = listFiles('/usr/include', (p) => p.endsWith('.h'));
  recs.push(...filesText(headers.filter((_, i) => i % 7 === 0), 500000 * scale, 3000));
  const py = listFiles('/usr/lib/python3.11', (p) => p.endsWith('.py') && !p.includes('test'));
  recs.push(...filesText(py.filter((_, i) => i % 5 === 0), 500000 * scale, 3000));
  const docs = [...listFiles('/usr/share/common-licenses', () => true),
    ...listFiles(nm, (p) => /\.(md|js|mjs|ts|json)$/.test(p) && !p.includes('.map') &&
      !p.includes('tokenizer') && !p.includes('/dist/') && statSync(p).size < 60000)];
  recs.push(...filesText(docs.filter((_, i) => i % 3 === 0), 600000 * scale, 3000));
  recs.push(...edgeCases());
  return recs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const c = buildCorpus();
  const bytes = c.reduce((a, s) => a + Buffer.byteLength(s), 0);
  console.log(`${c.length} strings, ${(bytes / 1e6).toFixed(2)} MB`);
}
