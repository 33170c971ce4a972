// llamacpp.test.mjs — proves gemrun against llama.cpp (node-llama-cpp 3.22.1, prebuilt CPU build)
// on synthetic models with the real 262144-token vocabulary: for every preset and every weight
// format, the file must load and generate in llama.cpp, 64 greedy tokens must agree (or diverge
// only at a near-tie, see lib/compare.mjs), and full logit vectors at several positions must agree
// within the documented tolerance. Run: node --test tests/ref/   (needs a built gemrun; GEMRUN_BIN
// overrides the path, GEMRUN_REF_DIR the scratch folder, GEMRUN_REF_KEEP=1 keeps the models).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { runLlamaCpp } from './lib/llamacpp.mjs';
import { removeQuietly, runGemrun, synth } from './lib/gemrun.mjs';
import { forcedArgmaxCheck, formatTable, greedyVerdict, logitStats, tolFor } from './lib/compare.mjs';

const N_VOCAB = 262144;
const N_GEN = 64;
// A fixed prompt of real token ids (BOS first); 12 tokens, longer than the reduced sliding
// windows (8-16) so the window mask matters during prefill as well as decode.
const PROMPT = [2, 818, 5279, 529, 7001, 563, 236764, 107, 4521, 6290, 236787, 1009];
const P = PROMPT.length;
const FULL_AT = [0, 5, P - 1, P + 7, P + 31, P + N_GEN - 2];

// Every format on the preset with d = 256 (so K-quant rows fit), every preset on q8_0 and f32
// (f32 of gemma4-e2b-tiny is skipped: its PLE table makes it a 600 MB file; f32 is covered on the
// six other presets).
const FORMATS = ['f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q4_k', 'q5_k', 'q6_k', 'q4_k_m'];
const PRESETS = ['gemma4-e4b-tiny', 'gemma4-31b-tiny', 'gemma4-26b-a4b-tiny', 'gemma3-1b-tiny',
  'gemma3-4b-tiny', 'gemma3-27b-tiny'];
const CASES = [
  ...FORMATS.map((t) => ['gemma4-e2b-tiny', t]),
  ...PRESETS.flatMap((p) => [[p, 'q8_0'], [p, 'f32']]),
];

const rows = [];
after(() => {
  if (rows.length) console.log(`\nllama.cpp vs gemrun (prompt ${P} ids, ${N_GEN} greedy tokens)\n${formatTable(rows)}\n`);
});

for (const [preset, type] of CASES) {
  test(`${preset} ${type}: llama.cpp and gemrun agree`, async () => {
    const modelPath = synth({ preset, type, seed: 1 });
    try {
      const ref = await runLlamaCpp({ modelPath, prompt: PROMPT, nGen: N_GEN, fullAt: FULL_AT, nVocab: N_VOCAB });
      assert.equal(ref.tokens.length, N_GEN, 'llama.cpp generated all tokens');
      const tol = tolFor(type, ref.nLayer, ref.nExpert > 0);
      // 1. Free greedy run: tokens must agree, or diverge only at a near-tie.
      const ours = runGemrun({ modelPath, prompt: PROMPT, nGen: N_GEN, nVocab: N_VOCAB });
      assert.ok(ours.logits.length >= P + N_GEN - 1, `gemrun dumped ${ours.logits.length} positions`);
      const v = greedyVerdict(ours.tokens, ref.tokens, ref.steps, (i) => ours.logits[P - 1 + i] ?? null, tol.tie);
      // 2. Teacher-forced run on llama.cpp's own token path, so every reference position can be
      //    compared even after a near-tie divergence.
      const forced = runGemrun({ modelPath, prompt: [...PROMPT, ...ref.tokens], nGen: 1, nVocab: N_VOCAB });
      let maxAbs = 0, rel = 0, n = 0;
      const bad = [];
      // Position 0 attends only to itself (softmax weight exactly 1), so no attention rounding can
      // be amplified there: the rest of the network must match llama.cpp far more tightly.
      const s0 = logitStats(forced.logits[0], ref.fullLogits.get(0));
      if (s0.rel > tol.rel0) bad.push(`pos 0: relative error ${s0.rel.toExponential(2)} > ${tol.rel0}`);
      for (const [pos, refVec] of ref.fullLogits) {
        const s = logitStats(forced.logits[pos], refVec);
        if (s.maxAbs > tol.abs) bad.push(`pos ${pos}: max|diff| ${s.maxAbs.toFixed(4)} > ${tol.abs} (token ${s.at})`);
        if (s.rel > tol.rel) bad.push(`pos ${pos}: relative error ${s.rel.toExponential(2)} > ${tol.rel}`);
        maxAbs = Math.max(maxAbs, s.maxAbs);
        rel = Math.max(rel, s.rel);
        n++;
      }
      // Along the forced path our argmax must be llama.cpp's token at every step, except near-ties.
      const f = forcedArgmaxCheck(forced.logits, ref, P, tol.tie);
      rows.push({ preset, type, nGen: N_GEN, matched: v.matched, divergedAt: v.divergedAt, gap: v.gap ?? 0,
        maxAbs, rel, rel0: s0.rel, tol, forcedSame: f.same, forcedWorst: f.worst ?? 0, oursMs: ours.ms, refMs: ref.ms });
      assert.equal(n, FULL_AT.length, 'llama.cpp returned every requested full logit vector');
      assert.deepEqual(bad, [], `${preset} ${type}: logits outside tolerance`);
      assert.ok(v.ok, `greedy tokens diverge without a near-tie: ${v.why}`);
      assert.ok(f.ok, f.why);
    } finally {
      if (!process.env.GEMRUN_REF_KEEP) removeQuietly(modelPath);
    }
  });
}
