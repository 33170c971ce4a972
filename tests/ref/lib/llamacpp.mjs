// llamacpp.mjs — runs a GGUF file through llama.cpp (node-llama-cpp 3.22.1, prebuilt CPU build)
// and returns greedy tokens, the top-2 logits of every step and full logit vectors at chosen
// positions. Reference side of the harness only: it must not know anything about gemrun.
import { getLlama } from 'node-llama-cpp';

let llamaPromise = null;
export function llama() {
  // One llama.cpp instance per process; build "never" = use the bundled prebuilt binary only.
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: 'error', maxThreads: 0 });
  return llamaPromise;
}

function fullVector(map, nVocab) {
  const v = new Float32Array(nVocab).fill(Number.NEGATIVE_INFINITY);
  for (const [tok, x] of map) v[tok] = x;
  return v;
}

const TOP_K = 8;
function topOf(map) {
  // The map is sorted by logit, highest first (node-llama-cpp docs); keep the first TOP_K.
  const top = [];
  for (const [id, x] of map) {
    top.push([id, x]);
    if (top.length === TOP_K) break;
  }
  const [a, b] = top;
  return { id: a[0], logit: a[1], second: b ? b[0] : -1, margin: b ? a[1] - b[1] : Infinity, top };
}

// prompt: token ids; nGen: greedy steps; fullAt: evaluated positions (0-based, over prompt and
// generated tokens) whose full logit vector is returned. Position p = logits after token p.
export async function runLlamaCpp({ modelPath, prompt, nGen, fullAt = [], threads = 1, kvF32 = false, nVocab }) {
  const l = await llama();
  const model = await l.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
  const ctx = await model.createContext({
    contextSize: Math.max(256, prompt.length + nGen + 8),
    batchSize: Math.max(64, prompt.length),
    sequences: 1,
    threads,
    flashAttention: false,
    // Default: llama.cpp's own default F16 K/V cache, which gemrun also uses (kvF32 switches
    // llama.cpp to F32 K/V, for experiments).
    ...(kvF32 ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
  });
  const seq = ctx.getSequence();
  const full = new Set(fullAt);
  const item = (tok, pos, wantTop) => {
    if (full.has(pos)) return [tok, { generateNext: { logits: true } }];
    if (wantTop) return [tok, { generateNext: { logits: { filter: { tokens: [], includeTop: TOP_K } } } }];
    return tok;
  };
  const fullLogits = new Map();
  const steps = []; // {pos, id, logit, second, margin}
  const collect = (res, positions) => {
    res.forEach((r, i) => {
      const pos = positions[i];
      if (!r || !r.next || !r.next.logits) return;
      if (full.has(pos)) fullLogits.set(pos, r.next.logits);
      steps.push({ pos, ...topOf(r.next.logits) });
    });
  };
  const t0 = performance.now();
  const pItems = prompt.map((t, i) => item(t, i, i === prompt.length - 1));
  collect(await seq.controlledEvaluate(pItems), prompt.map((_, i) => i));
  const tokens = [];
  for (let g = 0; g < nGen; g++) {
    const last = steps[steps.length - 1];
    tokens.push(last.id);
    if (g === nGen - 1) break;
    const pos = prompt.length + g;
    collect(await seq.controlledEvaluate([item(last.id, pos, true)]), [pos]);
  }
  const ms = performance.now() - t0;
  const vectors = new Map();
  for (const [pos, m] of fullLogits) vectors.set(pos, fullVector(m, nVocab ?? m.size));
  await ctx.dispose();
  await model.dispose();
  const arch = Object.values(model.fileInfo?.metadata ?? {}).find((v) => v?.block_count) ?? {};
  const nLayer = Number(arch.block_count ?? 0), nExpert = Number(arch.expert_count ?? 0);
  return { tokens, steps: steps.filter((s) => s.pos >= prompt.length - 1), fullLogits: vectors, ms, nLayer, nExpert };
}
