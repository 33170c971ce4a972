#!/usr/bin/env python3
"""hf_reference.py — authoritative logits for a (reduced) Gemma 4 GGUF file from Hugging Face
transformers' Gemma4ForCausalLM, compared with gemrun's --dump-logits output.

It reads an F32/F16 GGUF (own minimal reader, numpy only), builds a Gemma4TextConfig from the GGUF
metadata, loads the tensors under their HF names (GGUF {in, out} data is already HF's [out, in] in
numpy's row-major order), runs the whole prompt in one forward pass in float32 (eager attention),
and compares every position with the gemrun logits file (rows of n_vocab float32).

Runs on the GPU machine (torch + transformers 5.x), or on any machine that has them. Must not
write anything but --out. MoE (26B-A4B) files map onto HF's router/experts parameters.

usage: hf_reference.py --gguf tiny.gguf --tokens 2,17,... [--ours ours.f32] [--out result.json]
                       [--device cuda|cpu] [--gelu-f16-table]
"""
import argparse
import json
import struct
import sys

import numpy as np

# ---- minimal GGUF reader (little-endian, v2/v3) ----
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class _R:
    def __init__(self, buf):
        self.b, self.o = buf, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = bytes(self.b[self.o:self.o + n]).decode("utf-8", "replace")
        self.o += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(_SCALAR[t])


def read_gguf(path):
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    r = _R(buf)
    if bytes(buf[:4]) != b"GGUF":
        raise SystemExit(f"{path}: not a GGUF file")
    r.o = 4
    version = r.take("<I")
    n_t, n_kv = r.take("<Q"), r.take("<Q")
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        kv[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    align = kv.get("general.alignment", 32)
    data0 = (r.o + align - 1) // align * align
    tensors = {}
    for name, ne, typ, off in infos:
        n = int(np.prod(ne))
        if typ == 0:
            a = np.frombuffer(buf, dtype=np.float32, count=n, offset=data0 + off)
        elif typ == 1:
            a = np.frombuffer(buf, dtype=np.float16, count=n, offset=data0 + off).astype(np.float32)
        else:
            raise SystemExit(f"{name}: tensor type {typ} not supported here (write the file as f32)")
        tensors[name] = a.reshape(list(reversed(ne)))  # numpy order: [ne_last, ..., ne0]
    return version, kv, tensors


# ---- config ----
def per_layer(v, n):
    return list(v) if isinstance(v, list) else [v] * n


def make_config(kv, tensors):
    from transformers import Gemma4TextConfig

    if kv.get("general.architecture") != "gemma4":
        raise SystemExit("only gemma4 files are mapped")
    g = lambda k, d=None: kv.get("gemma4." + k, d)  # noqa: E731
    L = g("block_count")
    swa = [bool(x) for x in g("attention.sliding_window_pattern")]
    ff = per_layer(g("feed_forward_length"), L)
    nkv = per_layer(g("attention.head_count_kv"), L)
    shared = g("attention.shared_kv_layers", 0)
    first_shared = L - shared
    full_owned = [l for l in range(L) if not swa[l] and l < first_shared]
    k_eq_v = bool(full_owned) and all(f"blk.{l}.attn_v.weight" not in tensors for l in full_owned)
    nkv_swa = next(nkv[l] for l in range(L) if swa[l])
    nkv_full = next(nkv[l] for l in range(L) if not swa[l])
    double = shared > 0 and ff[-1] == 2 * ff[0]
    V = tensors["token_embd.weight"].shape[0]
    args = dict(
        vocab_size=V, hidden_size=g("embedding_length"), intermediate_size=ff[0], num_hidden_layers=L,
        num_attention_heads=g("attention.head_count"), num_key_value_heads=nkv_swa,
        head_dim=g("attention.key_length_swa"), global_head_dim=g("attention.key_length"),
        max_position_embeddings=g("context_length", 4096), rms_norm_eps=g("attention.layer_norm_rms_epsilon"),
        sliding_window=g("attention.sliding_window"),
        layer_types=["sliding_attention" if s else "full_attention" for s in swa],
        final_logit_softcapping=g("final_logit_softcapping") or None,
        vocab_size_per_layer_input=V, hidden_size_per_layer_input=g("embedding_length_per_layer_input", 0),
        num_kv_shared_layers=shared, use_double_wide_mlp=double, attention_k_eq_v=k_eq_v,
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": g("rope.freq_base_swa")},
            "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                               "rope_theta": g("rope.freq_base")},
        },
        tie_word_embeddings=True,
    )
    if g("expert_count", 0):  # 26B-A4B: shared dense MLP + routed experts on every layer
        args.update(enable_moe_block=True, num_experts=g("expert_count"),
                    top_k_experts=g("expert_used_count"), moe_intermediate_size=g("expert_feed_forward_length"))
    if k_eq_v or nkv_full != nkv_swa:
        args["num_global_key_value_heads"] = nkv_full
    return Gemma4TextConfig(**args)


# ---- weights ----
LAYER_MAP = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "post_attention_norm.weight": "post_attention_layernorm.weight",
    "ffn_norm.weight": "pre_feedforward_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    "inp_gate.weight": "per_layer_input_gate.weight",
    "proj.weight": "per_layer_projection.weight",
    "post_norm.weight": "post_per_layer_input_norm.weight",
    "layer_output_scale.weight": "layer_scalar",
    # MoE (HF Gemma4TextRouter / Gemma4TextExperts; GGUF {d,E} / {d,2F,E} / {F,d,E} read as
    # numpy (E,d) / (E,2F,d) / (E,d,F), which is HF's layout as is)
    "ffn_gate_inp.weight": "router.proj.weight",
    "ffn_gate_inp.scale": "router.scale",
    "ffn_down_exps.scale": "router.per_expert_scale",
    "ffn_gate_up_exps.weight": "experts.gate_up_proj",
    "ffn_down_exps.weight": "experts.down_proj",
    "pre_ffw_norm_2.weight": "pre_feedforward_layernorm_2.weight",
    "post_ffw_norm_1.weight": "post_feedforward_layernorm_1.weight",
    "post_ffw_norm_2.weight": "post_feedforward_layernorm_2.weight",
}
GLOBAL_MAP = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "per_layer_token_embd.weight": "model.embed_tokens_per_layer.weight",
    "per_layer_model_proj.weight": "model.per_layer_model_projection.weight",
    "per_layer_proj_norm.weight": "model.per_layer_projection_norm.weight",
}
UNUSED = {"rope_freqs.weight"}  # HF computes proportional rope itself


def load_weights(model, tensors):
    import torch

    sd = model.state_dict()
    new, skipped = {}, []
    for name, a in tensors.items():
        if name in UNUSED:
            continue
        if name in GLOBAL_MAP:
            hf = GLOBAL_MAP[name]
        elif name.startswith("blk."):
            _, l, rest = name.split(".", 2)
            if rest not in LAYER_MAP:
                raise SystemExit(f"no HF name for {name}")
            hf = f"model.layers.{l}.{LAYER_MAP[rest]}"
        else:
            raise SystemExit(f"no HF name for {name}")
        if hf not in sd:
            skipped.append(name)
            continue
        t = torch.from_numpy(np.ascontiguousarray(a)).reshape(sd[hf].shape)
        new[hf] = t.to(sd[hf].dtype)
    missing = [k for k in sd if k not in new and not k.endswith("lm_head.weight")
               and "rotary" not in k and not k.endswith("inv_freq")]
    model.load_state_dict(new, strict=False)
    model.tie_weights()
    return missing, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--ours", help="gemrun --dump-logits file (rows of n_vocab float32)")
    ap.add_argument("--out")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--gelu-f16-table", action="store_true",
                    help="emulate ggml's GELU lookup table (input and output rounded to f16), which "
                         "gemrun and llama.cpp's CPU backend use, to isolate every other difference")
    a = ap.parse_args()

    import torch
    from transformers import Gemma4ForCausalLM

    _, kv, tensors = read_gguf(a.gguf)
    cfg = make_config(kv, tensors)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = Gemma4ForCausalLM(cfg).to(torch.float32).eval()
    missing, skipped = load_weights(model, tensors)
    if a.gelu_f16_table:
        class GeluTable(torch.nn.Module):
            def forward(self, x):
                y = torch.nn.functional.gelu(x.half().float(), approximate="tanh").half().float()
                return torch.where(x <= -10, torch.zeros_like(x), torch.where(x >= 10, x, y))
        for m in list(model.modules()):
            if hasattr(m, "act_fn"):
                m.act_fn = GeluTable()
    # KV-shared layers (and k_eq_v full layers) may still own unused K/V parameters in HF.
    shared = kv.get("gemma4.attention.shared_kv_layers", 0)
    L = kv["gemma4.block_count"]
    def unused(k):
        parts = k.split(".")
        return (len(parts) > 4 and parts[1] == "layers" and parts[4] in ("k_proj", "v_proj", "k_norm")
                and (int(parts[2]) >= L - shared or parts[4] == "v_proj"))
    bad = [k for k in missing if not unused(k)]
    if bad:
        raise SystemExit(f"HF parameters without a GGUF tensor: {bad}")
    dev = a.device if (a.device == "cpu" or torch.cuda.is_available()) else "cpu"
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model.to(dev)
    ids = [int(x) for x in a.tokens.split(",")]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids], device=dev), use_cache=False)
    hf = out.logits[0].float().cpu().numpy()  # [T, V]
    res = {"gguf": a.gguf, "tokens": len(ids), "n_vocab": int(hf.shape[1]), "device": dev,
           "gelu": "f16 table" if a.gelu_f16_table else "exact tanh",
           "gguf_tensors_without_hf_param": skipped,
           "hf_params_left_random_unused": [k for k in missing if unused(k)], "hf_argmax": hf.argmax(1).tolist()}
    if a.ours:
        ours = np.fromfile(a.ours, dtype=np.float32)
        ours = ours.reshape(-1, hf.shape[1])[: len(ids)]
        d = np.abs(ours - hf[: len(ours)])
        res["positions"] = len(ours)
        res["max_abs_diff"] = float(d.max())
        res["max_abs_diff_per_pos"] = [float(x) for x in d.max(1)]
        res["rel_err"] = float(np.linalg.norm(ours - hf[: len(ours)]) / np.linalg.norm(hf[: len(ours)]))
        res["argmax_agree"] = int((ours.argmax(1) == hf[: len(ours)].argmax(1)).sum())
        res["logit_std"] = float(hf.std())
    print(json.dumps({k: v for k, v in res.items() if k not in ("max_abs_diff_per_pos", "hf_argmax")}))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
