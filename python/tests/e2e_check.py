"""End-to-end check of `lordba-convert export` in the real libraries (PyTorch + PEFT, and mlx-lm
and the `gguf` package when installed).

It builds a tiny random LLaMA with transformers (hidden 64, 2 layers, 4 heads, 2 KV heads,
vocabulary 128), four PEFT adapters for it with random nonzero factors on q/k/v/o/gate/up/down
(plain LoRA; DoRA with perturbed magnitudes; mixed ranks through `rank_pattern` /
`alpha_pattern`; plain LoRA on the first block only), converts each with `lordba-convert`, exports the `.lba` to PEFT (f32 and f16),
MLX-LM, kohya and GGUF, and then:

* PEFT: `PeftModel.from_pretrained` loads the export; per module the weight PEFT merges
  (`merge_and_unload`, so DoRA's `g/‖W₀+ΔW‖` rescaling included) is compared with the weight
  computed from the `.lba` alone (`lba.py`: `W₀ + B'A'`, or for DoRA
  `diag(g/‖W₀+B'A'‖_row)(W₀ + B'A')`); and the change of the logits the loaded adapter causes is
  compared with the change a model whose weights were set from the `.lba` alone causes.
* mlx-lm (if importable): `load_adapters` on the MLX export, logits against the same reference.
* gguf (if importable): the GGUF export read back with the `gguf` package: llama.cpp's names
  (`blk.N.attn_q.weight.lora_a`), shapes (`lora_a` ne = [in, k], `lora_b` ne = [k, out]),
  `adapter.lora.alpha`, and ΔW after undoing the q/k rope row permutation.
* llama.cpp (if `llama_cpp`, from llama-cpp-python, is importable): the base written as an f32
  GGUF (q/k rows in rope order, no vocabulary), evaluated with and without the exported GGUF
  LoRA (`lora_path`), the change of the logits against the `.lba`'s.

A 4096-wide case (`check_wide`: 7B-shaped q_proj and up_proj) checks that the PEFT export keeps
ΔW in f32 (≤ 1e-6), f16 (≤ 1e-3) and bf16 (≤ 8e-3) at the widths where unbalanced f16 factors
would fall into the subnormal range.

Run (needs torch, transformers, peft; numpy; the `lordba-convert` binary):

    LORDBA_CONVERT=.build/debug/lordba-convert python3 python/tests/e2e_check.py [WORKDIR]

It prints one line per check and the figures; `test_e2e.py` runs it under pytest, skipped when
torch, transformers or peft are not importable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lordba import lba

ROOT = Path(__file__).resolve().parents[2]
CONVERT = Path(os.environ.get("LORDBA_CONVERT", ROOT / ".build/debug/lordba-convert"))
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
HEADS, KV_HEADS = 4, 2


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(CONVERT), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"lordba-convert {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def make_base(folder: Path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=HEADS,
                         num_key_value_heads=KV_HEADS, vocab_size=128, max_position_embeddings=64,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    return model


def load_base(folder: Path):
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(folder, torch_dtype="float32").eval()


def make_adapter(base_folder: Path, folder: Path, kind: str) -> None:
    """A PEFT adapter with random nonzero A and B (and, for DoRA, perturbed magnitudes)."""
    import torch
    from peft import LoraConfig, get_peft_model

    options = dict(r=8, lora_alpha=16, target_modules=TARGETS, lora_dropout=0.0)
    if kind == "dora":
        options["use_dora"] = True
    if kind == "pattern":
        options.update(rank_pattern={"q_proj": 4, "down_proj": 16}, alpha_pattern={"v_proj": 32, "down_proj": 8})
    if kind == "layer0":  # only the first block: mlx-lm's num_layers must reach down to it
        options.update(layers_to_transform=[0])
    model = get_peft_model(load_base(base_folder), LoraConfig(**options))
    generator = torch.Generator().manual_seed({"lora": 1, "dora": 2, "pattern": 3, "layer0": 4}[kind])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
            elif "lora_magnitude_vector" in name:
                p.mul_(1 + 0.1 * torch.randn(p.shape, generator=generator))
    model.save_pretrained(folder)


def module_weights(model) -> dict[str, "np.ndarray"]:
    """Every target linear's weight, by module path (`model.layers.0.self_attn.q_proj`)."""
    out = {}
    for name, module in model.named_modules():
        if name.split(".")[-1] in TARGETS and hasattr(module, "weight"):
            out[name] = module.weight.detach().double().numpy().copy()
    return out


def lba_weights(f: lba.LBAFile, base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The adapted weights from the `.lba` alone: `W₀ + ΔW`, DoRA rescaled per formats/lba.md §7."""
    out = {}
    for m in f.modules:
        path = m.name.removeprefix("base_model.model.")
        w = base[path] + m.delta()
        if m.dora_magnitude:
            g = f.carried_tensor(m.dora_magnitude).array().astype(np.float64)
            w = (g / np.linalg.norm(w, axis=1))[:, None] * w
        out[path] = w
    return out


def relative(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.linalg.norm(x - y) / np.linalg.norm(y))


def logits(model, ids) -> np.ndarray:
    import torch
    with torch.no_grad():
        return model(ids).logits.double().numpy()


def model_with_weights(base_folder: Path, weights: dict[str, np.ndarray]):
    import torch
    model = load_base(base_folder)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for path, w in weights.items():
            modules[path].weight.copy_(torch.from_numpy(w.astype(np.float32)))
    return model


def check_peft(base_folder: Path, export: Path, f: lba.LBAFile, ids, reference_logits, base_logits) -> dict:
    from peft import PeftModel

    base = load_base(base_folder)
    w0 = module_weights(base)
    model = PeftModel.from_pretrained(base, str(export)).eval()
    peft_logits = logits(model, ids)
    merged = module_weights(model.merge_and_unload())
    expected = lba_weights(f, w0)
    assert set(expected) <= set(merged), sorted(set(expected) - set(merged))
    # ΔW PEFT applies against the .lba's (DoRA: the whole rescaled weight change).
    worst = max(relative(merged[p] - w0[p], expected[p] - w0[p]) for p in expected)
    reference_change = reference_logits - base_logits
    logits_difference = relative(peft_logits - base_logits, reference_change)
    return {"delta_w": worst, "logits": logits_difference, "modules": len(expected)}


def check_mlx(base_folder: Path, export: Path, ids, reference_logits, base_logits) -> dict | None:
    try:
        import mlx.core as mx
        from mlx_lm.tuner.utils import load_adapters
        from mlx_lm.utils import load_model
    except ImportError:
        return None
    model, _ = load_model(base_folder)
    model = load_adapters(model, str(export))
    model.eval()
    base_model, _ = load_model(base_folder)
    x = mx.array(ids.numpy())
    got = np.array(model(x).astype(mx.float32)).astype(np.float64)
    plain = np.array(base_model(x).astype(mx.float32)).astype(np.float64)
    return {"logits": relative(got - plain, reference_logits - base_logits),
            "base_logits_vs_torch": relative(plain, base_logits)}


def check_gguf(export: Path, f: lba.LBAFile) -> dict | None:
    try:
        from gguf import GGUFReader
    except ImportError:
        return None
    reader = GGUFReader(str(export))

    def field(key):
        part = reader.fields[key]
        value = part.parts[part.data[0]]
        return bytes(value).decode() if part.types[0].name == "STRING" else value.item()

    assert field("general.type") == "adapter" and field("adapter.type") == "lora"
    assert field("general.architecture") == "llama"
    alpha = float(field("adapter.lora.alpha"))
    tensors = {t.name: t for t in reader.tensors}
    names = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
    assert len(tensors) == 2 * len(f.modules)
    worst = 0.0
    for m in f.modules:
        parts = m.name.split(".")
        stem = f"blk.{parts[parts.index('layers') + 1]}.{names[parts[-1]]}.weight"
        ta, tb = tensors[stem + ".lora_a"], tensors[stem + ".lora_b"]
        rank = int(ta.shape[1])
        # llama.cpp: lora_a ne = [n_embd_in, r], lora_b ne = [r, n_out] (ne[0] is the row length).
        assert [int(v) for v in ta.shape] == [m.in_features, rank], (stem, ta.shape)
        assert [int(v) for v in tb.shape] == [rank, m.out_features], (stem, tb.shape)
        a = np.asarray(ta.data, dtype=np.float64).reshape(rank, m.in_features)
        b = np.asarray(tb.data, dtype=np.float64).reshape(m.out_features, rank)
        if parts[-1] in ("q_proj", "k_proj"):
            h = HEADS if parts[-1] == "q_proj" else KV_HEADS
            n = b.shape[0]
            b = b.reshape(h, n // h // 2, 2, -1).swapaxes(1, 2).reshape(n, -1)  # undo the rope order
        worst = max(worst, relative(alpha / rank * (b @ a), m.delta()))
    return {"delta_w": worst, "alpha": alpha}


def write_base_gguf(base_folder: Path, path: Path) -> None:
    """The tiny base as a llama.cpp GGUF (f32, no vocabulary: token ids are fed directly), with q
    and k rows in llama.cpp's rope order, as its HF converter writes them."""
    from gguf import GGUFWriter
    model = load_base(base_folder)
    c = model.config
    w = GGUFWriter(str(path), "llama")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    w.add_rope_freq_base(float(getattr(c, "rope_theta", None) or c.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_vocab_size(c.vocab_size)
    w.add_file_type(0)
    w.add_tokenizer_model("none")

    def permute(x, heads):
        return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)

    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", state["model.norm.weight"])
    w.add_tensor("output.weight", state["lm_head.weight"])
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    for i in range(c.num_hidden_layers):
        for hf, cpp in names.items():
            x = state[f"model.layers.{i}.{hf}.weight"]
            if hf == "self_attn.q_proj":
                x = permute(x, c.num_attention_heads)
            elif hf == "self_attn.k_proj":
                x = permute(x, c.num_key_value_heads)
            w.add_tensor(f"blk.{i}.{cpp}.weight", np.ascontiguousarray(x))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_llama_cpp(base_gguf: Path, lora_gguf: Path, ids, reference_logits, base_logits) -> dict | None:
    """llama.cpp (llama-cpp-python) with `--lora`: the change of the logits against the `.lba`'s."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    changes = []
    for row in ids.tolist():
        plain = Llama(model_path=str(base_gguf), n_ctx=64, logits_all=True, verbose=False)
        plain.eval(row)
        adapted = Llama(model_path=str(base_gguf), lora_path=str(lora_gguf), n_ctx=64, logits_all=True, verbose=False)
        adapted.eval(row)
        changes.append((np.array(plain.scores[:len(row)], dtype=np.float64), np.array(adapted.scores[:len(row)], dtype=np.float64)))
    base_cpp = np.stack([p for p, _ in changes])
    lora_cpp = np.stack([a for _, a in changes])
    return {"logits": relative(lora_cpp - base_cpp, reference_logits - base_logits),
            "base_logits_vs_torch": relative(base_cpp, base_logits)}


def unpermuted_copy(lora_gguf: Path, out: Path) -> None:
    """The GGUF LoRA with the q/k `lora_b` rows put back in Hugging Face order (what an exporter
    that forgot llama.cpp's rope permutation would write), to show the permutation matters."""
    from gguf import GGUFReader, GGUFWriter
    reader = GGUFReader(str(lora_gguf))
    w = GGUFWriter(str(out), "llama")
    w.add_type("adapter")
    w.add_string("adapter.type", "lora")
    part = reader.fields["adapter.lora.alpha"]
    w.add_float32("adapter.lora.alpha", float(part.parts[part.data[0]][0]))
    for t in reader.tensors:
        rank = int(t.shape[0]) if t.name.endswith(".lora_b") else int(t.shape[1])
        data = np.asarray(t.data, dtype=np.float32).reshape([int(d) for d in reversed(t.shape)])
        heads = HEADS if ".attn_q." in t.name else KV_HEADS if ".attn_k." in t.name else None
        if heads and t.name.endswith(".lora_b"):
            n = data.shape[0]
            data = data.reshape(heads, n // heads // 2, 2, rank).swapaxes(1, 2).reshape(n, rank)
        w.add_tensor(t.name, np.ascontiguousarray(data))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check_all(work: Path, log=print) -> dict:
    """Runs every check in `work`; returns the figures per adapter kind and target."""
    import torch

    base_folder = work / "base"
    make_base(base_folder)
    base = load_base(base_folder)
    ids = torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(9))
    base_logits = logits(base, ids)
    w0 = module_weights(base)
    figures: dict = {}
    for kind in ("lora", "dora", "pattern", "layer0"):
        adapter = work / f"adapter-{kind}"
        make_adapter(base_folder, adapter, kind)
        out = work / f"{kind}.lba"
        run(str(adapter), str(out), "-q", "--force")
        f = lba.read(str(out))
        reference_logits = logits(model_with_weights(base_folder, lba_weights(f, w0)), ids)
        from peft import PeftModel
        original = logits(PeftModel.from_pretrained(load_base(base_folder), str(adapter)).eval(), ids)
        result = {"conversion_logits": relative(reference_logits - base_logits, original - base_logits)}
        for dtype in ("f32", "f16"):
            export = work / f"{kind}-peft-{dtype}"
            run("export", str(out), "--to", "peft", str(export), "--dtype", dtype, "--force", "-q")
            result[f"peft_{dtype}"] = check_peft(base_folder, export, f, ids, reference_logits, base_logits)
        mlx_export = work / f"{kind}-mlx"
        run("export", str(out), "--to", "mlx", str(mlx_export), "--dtype", "f32", "--base-config",
            str(base_folder / "config.json"), "--force", "-q")
        result["mlx"] = check_mlx(base_folder, mlx_export, ids, reference_logits, base_logits)
        if kind == "layer0":  # without --base-config: num_layers = -1, every block
            run("export", str(out), "--to", "mlx", str(work / "layer0-mlx-all"), "--dtype", "f32", "--force", "-q")
            result["mlx_without_base_config"] = check_mlx(base_folder, work / "layer0-mlx-all", ids, reference_logits, base_logits)
        run("export", str(out), "--to", "kohya", str(work / f"{kind}-kohya.safetensors"), "--force", "-q")
        gguf_export = work / f"{kind}.gguf"
        done = run("export", str(out), "--to", "gguf", str(gguf_export), "--dtype", "f32", "--base-config",
                   str(base_folder / "config.json"), "--force", "-q", check=kind != "dora")
        if kind == "dora":  # llama.cpp has no DoRA: refused, naming the module, nothing written
            assert done.returncode == 1 and "DoRA" in done.stderr and not gguf_export.exists(), done.stderr
            result["gguf"] = "refused: " + done.stderr.strip().split(": ")[-1]
        else:
            result["gguf"] = check_gguf(gguf_export, f)
            base_gguf = work / "base.gguf"
            if result["gguf"] is not None and not base_gguf.exists():
                write_base_gguf(base_folder, base_gguf)
            if result["gguf"] is not None:
                result["llama_cpp"] = check_llama_cpp(base_gguf, gguf_export, ids, reference_logits, base_logits)
                if kind == "lora" and result["llama_cpp"] is not None:
                    unpermuted_copy(gguf_export, work / "lora-unpermuted.gguf")
                    wrong = check_llama_cpp(base_gguf, work / "lora-unpermuted.gguf", ids, reference_logits, base_logits)
                    result["llama_cpp_without_rope_permutation"] = wrong
        if kind == "dora":
            result["validate"] = check_validate(out, adapter, base_folder, f, w0)
        figures[kind] = result
        log(f"{kind}: {json.dumps(result)}")
    return figures


def low_rank_relative(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> float:
    """`‖B1 A1 − B2 A2‖_F / ‖B2 A2‖_F` from 2k × 2k Gram matrices (nothing out × in formed)."""
    x = np.concatenate([b1, -b2], axis=1)
    y = np.concatenate([a1, a2], axis=0)
    difference = float(np.sum((x.T @ x) * (y @ y.T)))
    reference = float(np.sum((b2.T @ b2) * (a2 @ a2.T)))
    return max(difference, 0.0) ** 0.5 / reference ** 0.5


def check_wide(work: Path, log=print) -> dict:
    """A 7B-shaped pair of modules (q_proj 4096 × 4096, up_proj 4096 → 11008, r = 16, trained-like
    scales), converted (plain, so it is quick) and exported to PEFT in f32, f16 and bf16: per dtype
    the worst relative change of a module's ΔW between the `.lba` and the exported factors."""
    from safetensors.numpy import save_file
    from safetensors.torch import load_file  # numpy has no bfloat16

    rng = np.random.default_rng(7)
    adapter = work / "adapter-wide"
    adapter.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for path, (inf, outf) in {"model.layers.0.self_attn.q_proj": (4096, 4096), "model.layers.0.mlp.up_proj": (4096, 11008)}.items():
        tensors[f"base_model.model.{path}.lora_A.weight"] = (rng.standard_normal((16, inf)) / 64).astype(np.float16)
        tensors[f"base_model.model.{path}.lora_B.weight"] = (rng.standard_normal((outf, 16)) * 1e-3).astype(np.float16)
    save_file(tensors, str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 16, "lora_alpha": 32,
                                                             "target_modules": ["q_proj", "up_proj"]}))
    out = work / "wide.lba"
    run(str(adapter), str(out), "--plain", "-q", "--force")
    f = lba.read(str(out))
    result = {}
    for dtype in ("f32", "f16", "bf16"):
        export = work / f"wide-peft-{dtype}"
        run("export", str(out), "--to", "peft", str(export), "--dtype", dtype, "--force", "-q")
        exported = load_file(str(export / "adapter_model.safetensors"))
        worst = 0.0
        for m in f.modules:
            a, b = m.factors()
            ea = exported[m.source["a"]].double().numpy()  # a PEFT source keeps its tensor names
            eb = exported[m.source["b"]].double().numpy()
            worst = max(worst, low_rank_relative(ea, eb, a, b))
        result[dtype] = worst
    log(f"wide: {json.dumps(result)}")
    return result


def check_validate(out: Path, adapter: Path, base_folder: Path, f: lba.LBAFile, w0: dict) -> dict:
    """`lordba-validate --reference --base` on the DoRA file: its per-module fidelity (the DoRA
    layer's effect on Gaussian inputs) against the same quantity in weight space from PEFT's own
    merge of the original adapter, `‖E_lba − E_peft‖_F/‖E_peft‖_F` with `E = W' − W₀`, which is
    its expectation on isotropic inputs. Returns the range of their ratio over the modules."""
    from peft import PeftModel

    validate = CONVERT.parent / "lordba-validate"
    result = subprocess.run([str(validate), str(out), "--reference", str(adapter), "--base", str(base_folder / "model.safetensors"),
                             "--no-timing", "--tokens", "2048", "--json", "-"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    merged = module_weights(PeftModel.from_pretrained(load_base(base_folder), str(adapter)).merge_and_unload())
    expected = lba_weights(f, w0)
    ratios = []
    for m in report["modules"]:
        assert m["dora"]["norms_applied"] is True, m
        path = m["name"].removeprefix("base_model.model.")
        weight_space = relative(expected[path] - w0[path], merged[path] - w0[path])
        ratios.append(m["fidelity"] / weight_space)
    return {"fidelity_over_weight_space_min": min(ratios), "fidelity_over_weight_space_max": max(ratios)}


def table(figures: dict) -> str:
    """The figures as a Markdown table."""
    rows = ["| adapter | PEFT f32 ΔW | PEFT f32 logits | PEFT f16 ΔW | PEFT f16 logits | mlx-lm logits | GGUF ΔW | llama.cpp logits | conversion (logits) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for kind, r in figures.items():
        mlx = f"{r['mlx']['logits']:.1e}" if r["mlx"] else "not installed"
        gguf = f"{r['gguf']['delta_w']:.1e}" if isinstance(r["gguf"], dict) else (r["gguf"] or "gguf not installed")
        cpp = r.get("llama_cpp")
        cpp = f"{cpp['logits']:.1e}" if cpp else ("-" if not isinstance(r["gguf"], dict) else "not installed")
        rows.append(f"| {kind} | {r['peft_f32']['delta_w']:.1e} | {r['peft_f32']['logits']:.1e} | {r['peft_f16']['delta_w']:.1e} "
                    f"| {r['peft_f16']['logits']:.1e} | {mlx} | {gguf} | {cpp} | {r['conversion_logits']:.3f} |")
    return "\n".join(rows)


def main() -> int:
    if len(sys.argv) > 1:
        work = Path(sys.argv[1])
        work.mkdir(parents=True, exist_ok=True)
        figures = check_all(work)
    else:
        with tempfile.TemporaryDirectory() as d:
            figures = check_all(Path(d))
    print(table(figures))
    with tempfile.TemporaryDirectory() as d:
        wide = check_wide(Path(d))
    print("4096-wide PEFT export, worst relative ΔW change: " + ", ".join(f"{k} {v:.1e}" for k, v in wide.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
