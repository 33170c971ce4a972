// compare.mjs — the comparison rules of the reference harness (tests/ref/README.md explains them):
// full-logit tolerances per weight type and model depth, and the near-tie rule that alone may
// excuse a greedy token that differs from llama.cpp's. Pure functions; no I/O.

// Tolerances for logits of std ~3 (the synthetic models' scale) on models of <= 12 layers; deeper
// models scale them by sqrt(layers / 12) (independent per-layer errors add in quadrature). Both
// engines keep K/V in F16 (llama.cpp's default), so that rounding is common to both.
//  - rel0: position 0, where attention is trivial (one key, weight exactly 1). Every other op —
//    embeddings, PLE, norms, RoPE, quantized matmuls, f16-table GELU, MoE, soft-cap — must agree
//    almost exactly there: measured <= 2.4e-7 for all quantized types, <= 8e-4 for f32/f16.
//  - abs/rel at later positions: the attention sums (F16 dot products, softmax) differ in
//    summation order by ~1e-7, and the next matmul's input rounding (f16/bf16/Q8_0/Q8_1/Q8_K, the
//    same scheme in both engines) amplifies that wherever a value sits near a rounding boundary:
//    each flip is a whole quantization step. Control experiment: on the *dequantized* F32 copy of a
//    Q8_0 file the engines agree to 1e-3, while each engine's own Q8_0 run moves ~3 % from it.
//    Measured at <= 12 layers: f32 2.8e-2 / 2.0e-3, f16 5.3e-2 / 3.5e-3, bf16 0.26 / 1.8e-2,
//    4..8-bit 1.2 / 8.4e-2 (max |diff| / relative L2 error).
//  - MoE: expert choice is discrete; a near-tie between the k-th and (k+1)-th expert flips at
//    some positions, which puts f32 MoE errors at the bf16 level (2.6e-2 measured), so MoE models
//    use at least the bf16 tolerances.
//  - tie: the largest gap between two top candidates that the engines may order differently. It
//    bounds the error of a logit *difference* near the top (~3x its rms), not the max over 262144
//    entries. Measured divergence gaps: f16 0.012, bf16 0.086, quantized <= 0.40.
export const TOL = {
  f32: { abs: 0.06, rel: 4e-3, rel0: 2e-3, tie: 0.05 },
  f16: { abs: 0.1, rel: 6e-3, rel0: 2e-3, tie: 0.05 },
  bf16: { abs: 0.5, rel: 3.5e-2, rel0: 1e-2, tie: 0.25 },
  default: { abs: 2.0, rel: 0.15, rel0: 1e-5, tie: 0.8 },
};

// GEMRUN_REF_TOL_SCALE multiplies every tolerance (for re-calibration runs only; default 1).
const SCALE = Number(process.env.GEMRUN_REF_TOL_SCALE || 1);
export const tolFor = (type, nLayer = 12, moe = false) => {
  let t = TOL[type] ?? TOL.default;
  if (moe) t = Object.fromEntries(Object.keys(t).map((k) => [k, Math.max(t[k], TOL.bf16[k])]));
  const k = SCALE * Math.max(1, Math.sqrt(nLayer / 12));
  return { abs: t.abs * k, rel: t.rel * k, tie: t.tie * k, rel0: t.rel0 * k };
};

export function logitStats(ours, ref) {
  if (ours.length !== ref.length) throw new Error(`vocab size ${ours.length} vs ${ref.length}`);
  let maxAbs = 0, num = 0, den = 0, at = -1;
  let am = 0, bm = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = ours[i] - ref[i];
    if (!Number.isFinite(d)) return { maxAbs: Infinity, rel: Infinity, at: i, argmaxOurs: -1, argmaxRef: -1 };
    if (Math.abs(d) > maxAbs) { maxAbs = Math.abs(d); at = i; }
    num += d * d;
    den += ref[i] * ref[i];
    if (ours[i] > ours[am]) am = i;
    if (ref[i] > ref[bm]) bm = i;
  }
  return { maxAbs, rel: Math.sqrt(num / den), at, argmaxOurs: am, argmaxRef: bm };
}

export function top2(v) {
  let a = -1, b = -1;
  for (let i = 0; i < v.length; i++) {
    if (a < 0 || v[i] > v[a]) { b = a; a = i; } else if (b < 0 || v[i] > v[b]) b = i;
  }
  return { id: a, second: b, margin: v[a] - v[b] };
}

// A differing pick at one step is a near-tie when BOTH engines see the two tokens within `tie`:
// llama.cpp's logit of its pick minus its logit of ours (ours must be in its top 8), and our
// logit of our pick minus our logit of its pick.
export function nearTie(step, ourLogits, ourTok, tie) {
  const inRef = step.top.find(([id]) => id === ourTok);
  const refGap = inRef ? step.logit - inRef[1] : Infinity;
  const ourGap = ourLogits ? ourLogits[ourTok] - ourLogits[step.id] : Infinity;
  return { ok: refGap <= tie && ourGap <= tie, refGap, ourGap };
}

// Free greedy runs: identical tokens, or the first difference is a near-tie (after it the two
// histories differ, so later tokens are not comparable). ourLogitsAt(i): our vector at step i.
export function greedyVerdict(ours, ref, refSteps, ourLogitsAt, tie) {
  const n = Math.min(ours.length, ref.length);
  for (let i = 0; i < n; i++) {
    if (ours[i] === ref[i]) continue;
    const t = nearTie(refSteps[i], ourLogitsAt(i), ours[i], tie);
    const why = `step ${i}: ours ${ours[i]} vs llama.cpp ${ref[i]}; gap in llama.cpp ${t.refGap.toFixed(4)}, ` +
      `in ours ${t.ourGap.toFixed(4)} (tie tolerance ${tie.toFixed(3)})`;
    return { matched: i, divergedAt: i, ok: t.ok, why, gap: Math.max(t.refGap, t.ourGap) };
  }
  if (ours.length !== ref.length) return { matched: n, divergedAt: n, ok: false, why: `lengths ${ours.length} vs ${ref.length}` };
  return { matched: n, divergedAt: -1, ok: true, why: 'identical', gap: 0 };
}

// Teacher-forced path (our engine fed llama.cpp's tokens): at every step our argmax must be
// llama.cpp's token or a near-tie with it. Returns how many steps agree exactly.
export function forcedArgmaxCheck(logits, ref, P, tie) {
  let same = 0, worst = 0;
  for (let i = 0; i < ref.tokens.length; i++) {
    const ours = top2(logits[P - 1 + i]);
    if (ours.id === ref.tokens[i]) { same++; continue; }
    const t = nearTie(ref.steps[i], logits[P - 1 + i], ours.id, tie);
    worst = Math.max(worst, t.refGap, t.ourGap);
    if (!t.ok)
      return { ok: false, same, worst, why: `forced step ${i}: ours ${ours.id} vs llama.cpp ${ref.tokens[i]}; gap in llama.cpp ${t.refGap.toFixed(4)}, in ours ${t.ourGap.toFixed(4)} (tie tolerance ${tie.toFixed(3)})` };
  }
  return { ok: true, same, worst };
}

export function formatTable(rows) {
  const cols = ['model', 'type', 'greedy same', 'diverged at (gap)', 'forced argmax same (worst gap)', 'rel err pos 0', 'max|diff|', 'rel err', 'tol abs/rel/tie', 'ours ms', 'llama ms'];
  const lines = [cols, ...rows.map((r) => [r.preset, r.type, `${r.matched}/${r.nGen}`,
    r.divergedAt < 0 ? '-' : `${r.divergedAt} (${r.gap.toFixed(3)})`, `${r.forcedSame}/${r.nGen} (${r.forcedWorst.toFixed(3)})`, r.rel0.toExponential(1),
    r.maxAbs.toExponential(2), r.rel.toExponential(2),
    `${+r.tol.abs.toPrecision(2)}/${+r.tol.rel.toPrecision(2)}/${+r.tol.tie.toPrecision(2)}`,
    r.oursMs.toFixed(0), r.refMs.toFixed(0)])];
  const w = cols.map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  return lines.map((l) => l.map((x, c) => x.padEnd(w[c])).join('  ')).join('\n');
}
