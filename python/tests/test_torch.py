"""lordba.torch: `.lba` adapters attached to a tiny LLaMA unmerged (±1 floats and packed signs),
checked against the PEFT export of the same file, the same LoRA as MLX-LM writes it against its
PEFT layout (module names through lordba.model_paths), and the compiled sign GEMM against the
Swift runtime (`lordba-bench apply`) and against the ±1 float path."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM

import lba_fixtures
from lordba import lba
from lordba.model_paths import PEFT_PREFIX, SUPPORTED, BaseModel, BaseModelError, load_base, model_path, resolve_modules
from lordba.torch import AttachError, active, adapters, attach, detach, swap, to_peft_state_dict
from lordba.torch import ops
from lordba.torch.branches import PackedBranch, SignBranch

REPO = Path(__file__).resolve().parents[2]
CONVERT = Path(os.environ.get("LORDBA_CONVERT", REPO / ".build/debug/lordba-convert"))
BENCH = Path(os.environ.get("LORDBA_BENCH", REPO / ".build/debug/lordba-bench"))
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
#: Module shapes (in, out, r) with every tail: `in` and `out` not multiples of 8 or 64, k below 8.
ODD_SHAPES = {"odd.small": (67, 70, 3), "odd.wide": (200, 135, 16), "odd.tall": (130, 300, 9)}
#: The odd adapter converted with each stored scale dtype, with and without input scales.
ODD_VARIANTS = {"odd": [], "odd-f16-compact": ["--scale-dtype", "f16", "--scales", "compact"],
                "odd-bf16": ["--scale-dtype", "bf16"], "odd-f32-compact": ["--scale-dtype", "f32", "--scales", "compact"]}


def run(*args: str | Path) -> None:
    binary = Path(args[0])
    if not binary.exists():
        pytest.fail(f"{binary} not found: build it (swift build) or set LORDBA_CONVERT / LORDBA_BENCH")
    subprocess.run([str(a) for a in args], check=True, capture_output=True)


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=128, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def save_lora(folder: Path, seed: int) -> None:
    """A PEFT LoRA (r = 8, all 7 projections) with random factors large enough to move the logits."""
    model = get_peft_model(tiny_llama(), LoraConfig(r=8, lora_alpha=16, target_modules=PROJECTIONS))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    model.save_pretrained(folder)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("torch")
    out: dict[str, Path] = {}
    for name, seed in (("one", 1), ("two", 2)):
        save_lora(root / f"{name}-lora", seed)
        out[name] = root / f"{name}.lba"
        run(CONVERT, root / f"{name}-lora", out[name], "--quiet")
        out[f"{name}-peft"] = root / f"{name}-peft"
        run(CONVERT, "export", out[name], "--to", "peft", "--dtype", "f32", out[f"{name}-peft"], "--quiet")
    # The first LoRA as MLX-LM writes it: model paths as names, factors transposed.
    lba_fixtures.mlx_from_peft(root / "one-lora", root / "one-mlx-lora")
    out["one-mlx"] = root / "one-mlx.lba"
    run(CONVERT, root / "one-mlx-lora", out["one-mlx"], "--quiet")
    # A shape-only PEFT adapter with odd module shapes, for the kernel's tails.
    odd = root / "odd-lora"
    odd.mkdir()
    generator = torch.Generator().manual_seed(3)
    tensors = {}
    for module, (n_in, n_out, r) in ODD_SHAPES.items():
        tensors[f"base_model.model.{module}.lora_A.weight"] = torch.randn(r, n_in, generator=generator).half()
        tensors[f"base_model.model.{module}.lora_B.weight"] = torch.randn(n_out, r, generator=generator).half()
    save_file(tensors, odd / "adapter_model.safetensors")
    (odd / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 16, "lora_alpha": 16, "target_modules": ["small", "wide", "tall"],
        "rank_pattern": {k.split(".")[1]: v[2] for k, v in ODD_SHAPES.items()},
        "alpha_pattern": {k.split(".")[1]: v[2] for k, v in ODD_SHAPES.items()}}))
    for variant, options in ODD_VARIANTS.items():
        out[variant] = root / f"{variant}.lba"
        run(CONVERT, odd, out[variant], "--quiet", *options)
    out["root"] = root
    return out


def logits(model, tokens: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(tokens).logits


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


TOKENS = torch.randint(0, 128, (2, 24), generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("packed", [False, True])
def test_logits_equal_the_peft_export(files, packed):
    peft_model = PeftModel.from_pretrained(tiny_llama(), files["one-peft"]).eval()
    expected = logits(peft_model, TOKENS)
    model = tiny_llama()
    base = logits(model, TOKENS)
    attach(model, files["one"], packed=packed)
    got = logits(model, TOKENS)
    assert relative(expected, base) > 1e-2  # the adapter moves the logits
    assert relative(got, expected) < 1e-5


def test_swap_and_detach(files):
    model = tiny_llama()
    weights = {n: p.data_ptr() for n, p in model.named_parameters()}
    base = logits(model, TOKENS)
    one = attach(model, files["one"], packed=True)
    two = attach(model, files["two"], name="second")
    assert active(model) is two
    with_two = logits(model, TOKENS)
    swap(model, "one")
    held = [t.data_ptr() for b in one.branches.values() for t in b.tensors()]
    with_one = logits(model, TOKENS)
    assert relative(with_one, with_two) > 1e-2
    swap(model, None)
    assert torch.equal(logits(model, TOKENS), base)
    swap(model, "second")
    assert torch.equal(logits(model, TOKENS), with_two)
    # Swapping moved no weight: the base and the adapter's tensors are where they were.
    assert {n: p.data_ptr() for n, p in model.named_parameters()} == weights
    assert [t.data_ptr() for b in one.branches.values() for t in b.tensors()] == held
    with pytest.raises(KeyError, match="three"):
        swap(model, "three")
    detach(model, "second")
    assert active(model) is None and torch.equal(logits(model, TOKENS), base)
    swap(model, "one")
    assert torch.equal(logits(model, TOKENS), with_one)
    detach(model)
    assert torch.equal(logits(model, TOKENS), base)
    assert not any(m._forward_hooks for m in model.modules())


def test_mismatches_are_one_line_errors_naming_the_module(files):
    model = tiny_llama()
    del model.model.layers[1]
    with pytest.raises(AttachError, match=r"one\.lba: module base_model\.model\.model\.layers\.1\.\S+ "
                                          r"\(model\.layers\.1\.\S+\) is not in the model"):
        attach(model, files["one"])
    model = tiny_llama()
    model.model.layers[0].mlp.up_proj = torch.nn.Linear(64, 96, bias=False)
    with pytest.raises(AttachError, match=r"module base_model\.model\.model\.layers\.0\.mlp\.up_proj: the \.lba has "
                                          r"in=64, out=128; the model's model\.layers\.0\.mlp\.up_proj has in=64, out=96"):
        attach(model, files["one"], packed=True)
    assert not adapters(model) and not any(m._forward_hooks for m in model.modules())
    model.model.layers[0].mlp.up_proj = torch.nn.Linear(64, 128, bias=False)
    attach(model, files["two"], name="x")
    with pytest.raises(AttachError, match="an adapter named 'x' is already attached"):
        attach(model, files["one"], name="x")


def test_module_names_map_onto_the_model(files):
    """PEFT names lose `base_model.model.`, MLX-LM names are the model paths as they are: both
    resolve to the same 14 linear layers of the tiny LLaMA (attach and lordba-refine/-eval alike)."""
    paths = {f"model.layers.{i}.{'mlp' if p in ('gate_proj', 'up_proj', 'down_proj') else 'self_attn'}.{p}"
             for i in range(2) for p in PROJECTIONS}
    assert model_path(PEFT_PREFIX + "model.layers.0.self_attn.q_proj") == "model.layers.0.self_attn.q_proj"
    assert model_path("model.layers.0.self_attn.q_proj") == "model.layers.0.self_attn.q_proj"
    assert model_path(PEFT_PREFIX + "score.modules_to_save.default.weight") == "score.weight"
    peft, mlx = lba.read(files["one"]), lba.read(files["one-mlx"])
    assert (peft.layout, mlx.layout) == ("peft", "mlx")
    assert {m.name for m in peft.modules} == {PEFT_PREFIX + p for p in paths}
    assert {m.name for m in mlx.modules} == paths
    assert {m.source["a"] for m in mlx.modules} == {p + ".lora_a" for p in paths}
    model = tiny_llama()
    base = BaseModel(model=model, task="causal-lm", tokenizer=None, vocab_size=128, context=64, folder=Path("tiny"))
    layers = {p: model.get_submodule(p) for p in paths}
    for f in (peft, mlx):
        resolved = resolve_modules(base, f)  # lordba-refine and lordba-eval
        assert len(resolved) == 14 and all(layer is layers[model_path(name)] for name, layer in resolved.items())
        assert attach(model, f.path, name=f.layout).source_names == {model_path(name): name for name in resolved}
    assert all(len(layer._forward_hooks) == 1 for layer in layers.values())  # one hook per layer, both adapters


@pytest.mark.parametrize("packed", [False, True])
def test_mlx_layout_logits_equal_the_peft_layout(files, packed):
    """The same LoRA written by MLX-LM ([in, r] and [r, out] factors) and by PEFT, converted and
    attached: the same output, that of the PEFT export."""
    expected = logits(PeftModel.from_pretrained(tiny_llama(), files["one-peft"]).eval(), TOKENS)
    model = tiny_llama()
    base = logits(model, TOKENS)
    attach(model, files["one"], packed=packed)
    peft = logits(model, TOKENS)
    detach(model)
    attach(model, files["one-mlx"], packed=packed)
    got = logits(model, TOKENS)
    assert relative(expected, base) > 1e-2  # the adapter moves the logits
    assert relative(got, peft) < 1e-6
    assert relative(got, expected) < 1e-5


@pytest.mark.parametrize("layout", ["kohya", "diffusers"])
def test_kohya_and_diffusers_files_are_refused_in_one_line(tmp_path, layout):
    source = tmp_path / f"{layout}.safetensors"
    {"kohya": lba_fixtures.make_kohya, "diffusers": lba_fixtures.make_diffusers}[layout](source)
    path = tmp_path / f"{layout}.lba"
    lba_fixtures.run(str(source), str(path), "--quiet")
    assert lba.read(path).layout == layout
    model = tiny_llama()
    with pytest.raises(AttachError) as error:
        attach(model, path)
    assert str(error.value) == f"{path}: a {layout} adapter has no transformers module paths (peft and mlx do)"
    assert not adapters(model) and not any(m._forward_hooks for m in model.modules())
    # lordba-refine and lordba-eval (lordba.model_paths) refuse it before looking at the base.
    with pytest.raises(BaseModelError) as error:
        load_base(tmp_path / "no-base", lba.read(path), dtype="float32", device="cpu")
    assert str(error.value) == f"{path}: a {layout} adapter; {SUPPORTED}" and "\n" not in str(error.value)


def test_packed_memory_is_the_decoded_sections(files):
    model = tiny_llama()
    packed = attach(model, files["one"], packed=True)
    floats = attach(model, files["one"], name="floats")
    sections = lba.read(files["one"]).sections
    assert packed.decoded_bytes == sum(s["decoded_length"] for s in sections)
    assert packed.nbytes <= 1.1 * packed.decoded_bytes
    assert floats.nbytes > 8 * packed.nbytes


def test_peft_state_dict_equals_the_export(files):
    exported = load_file(files["one-peft"] / "adapter_model.safetensors")
    for packed in (False, True):
        model = tiny_llama()
        state = to_peft_state_dict(attach(model, files["one"], packed=packed))
        assert state.keys() == exported.keys()
        for key, value in exported.items():
            assert relative(state[key], value) < 1e-6, key


def branches(path: Path) -> list[tuple[str, SignBranch, PackedBranch]]:
    f = lba.read(path)
    return [(m.name, SignBranch.from_module(m), PackedBranch.from_module(m, ops.SCALE_DTYPES[f.scale_dtype]))
            for m in f.modules]


@pytest.mark.parametrize("tokens", [1, 3, 8, 13, 40])
def test_sign_gemm_equals_the_float_path(files, tokens):
    generator = torch.Generator().manual_seed(tokens)
    for path in [files[v] for v in ODD_VARIANTS] + [files["one"]]:
        for name, floats, packed in branches(path):
            n_in, n_out = packed.in_features, packed.scale_b.shape[0]
            x = torch.randn(tokens, n_in, generator=generator)
            y = torch.randn(tokens, n_out, generator=generator)
            expected = floats.apply(x, torch.zeros_like(y))
            got = packed.apply(x, torch.zeros_like(y))
            assert relative(got, expected) < 1e-5, (name, tokens)
            assert torch.equal(packed.apply(x, y), got + y), name
            y_before = y.clone()
            assert packed.apply(x, y, inplace=True) is y and torch.equal(y, got + y_before), name
            torch.ops.lordba.sign_gemm_add_(y_before, x, packed.sign_a, packed.sign_b, packed.scale_a, packed.scale_b,
                                            packed.scale_m)
            assert torch.equal(y_before, y), name
            # bfloat16 in, bfloat16 out: the branch of the rounded input, rounded once.
            xb = x.bfloat16()
            got_bf16 = packed.apply(xb, torch.zeros_like(y).bfloat16())
            assert got_bf16.dtype == torch.bfloat16
            assert torch.equal(got_bf16, packed.apply(xb.float(), torch.zeros_like(y)).bfloat16())


def test_sign_gemm_threads_do_not_change_the_output(files):
    """Token ranges of whole 8-token blocks per thread: every row is computed as on one thread."""
    threads = torch.get_num_threads()
    try:
        for _, _, packed in branches(files["odd"]):
            x = torch.randn(517, packed.in_features, generator=torch.Generator().manual_seed(4))
            zeros = torch.zeros(517, packed.scale_b.shape[0])
            torch.set_num_threads(1)
            one = packed.apply(x, zeros)
            torch.set_num_threads(3)
            assert torch.equal(packed.apply(x, zeros), one)
    finally:
        torch.set_num_threads(threads)


def test_sign_gemm_equals_the_swift_runtime(files):
    """The same module, the same rows: the Swift runtime's bytes, on both CPU paths."""
    root = files["root"]
    generator = torch.Generator().manual_seed(9)
    paths = ["avx2", "sse2"] if ops.set_cpu_path("avx2") else ["sse2"]
    try:
        for variant, (name, _, packed) in [(v, b) for v in ODD_VARIANTS for b in branches(files[v])]:
            x = torch.randn(29, packed.in_features, generator=generator)  # 3 blocks of 8, then 5 tokens
            x.numpy().astype("<f4").tofile(root / "x.f32")
            out = root / f"{variant}-{name}.f32"
            run(BENCH, "apply", files[variant], "--module", name, "--input", root / "x.f32", "--output", out)
            swift = torch.from_numpy(np.fromfile(out, dtype="<f4").reshape(29, -1))
            for path in paths:
                assert ops.set_cpu_path(path)
                got = packed.apply(x, torch.zeros(29, packed.scale_b.shape[0]))
                assert torch.equal(got, swift), (variant, name, path)
    finally:
        ops.set_cpu_path("avx2") or ops.set_cpu_path("sse2")


def test_greedy_generation_equals_the_peft_export(files):
    peft_model = PeftModel.from_pretrained(tiny_llama(), files["one-peft"]).eval()
    model = tiny_llama()
    attach(model, files["one"], packed=True)
    prompt = TOKENS[:1, :6]
    options = dict(max_new_tokens=16, do_sample=False, pad_token_id=0)
    with torch.no_grad():
        expected = peft_model.generate(input_ids=prompt, **options)
        got = model.generate(input_ids=prompt, **options)
        swap(model, None)
        base = model.generate(input_ids=prompt, **options)
    assert torch.equal(got, expected)
    assert not torch.equal(base, expected)  # the adapter changes what is generated

