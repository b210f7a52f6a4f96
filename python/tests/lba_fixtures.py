"""The `.lba` files the Python tests read: the bundled samples and synthetic adapters (PEFT with
DoRA, conv, embedding, mixed ranks, modules_to_save; MLX; kohya with conv; a diffusers
pipeline LoRA), converted with
several option sets by the `lordba-convert` binary (`LORDBA_CONVERT`, default
`.build/debug/lordba-convert`); and `mlx_from_peft`, a PEFT LoRA rewritten as MLX-LM writes it.
numpy only (safetensors are read and written by hand).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np

from lordba import lba

ROOT = Path(__file__).resolve().parents[2]
CONVERT = Path(os.environ.get("LORDBA_CONVERT", ROOT / ".build/debug/lordba-convert"))


# ---------------------------------------------------------------------------------------------
# safetensors, numpy only

ST_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I64": "<i8", "U8": "<u1"}


def st_read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, bytes], dict, dict]:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    arrays, raw = {}, {}
    base = 8 + n
    for name, info in header.items():
        begin, end = info["data_offsets"]
        blob = data[base + begin:base + end]
        raw[name] = blob
        if info["dtype"] == "BF16":
            arrays[name] = (np.frombuffer(blob, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(info["shape"])
        elif info["dtype"] in ST_DTYPES:
            arrays[name] = np.frombuffer(blob, ST_DTYPES[info["dtype"]]).reshape(info["shape"])
    return arrays, raw, header, meta


def st_write(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    names = {np.dtype("<f2"): "F16", np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64"}
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": names[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# ---------------------------------------------------------------------------------------------
# Synthetic adapters

def make_mixed_peft(folder: Path) -> None:
    rng = np.random.default_rng(5)
    p = "base_model.model."
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    folder.mkdir()
    st_write(folder / "adapter_model.safetensors", {
        p + "model.layers.0.self_attn.q_proj.lora_A.weight": f32(4, 48),
        p + "model.layers.0.self_attn.q_proj.lora_B.weight": f32(32, 4),
        p + "model.layers.0.self_attn.q_proj.lora_magnitude_vector": np.abs(f32(32)) + 1,
        p + "model.layers.0.self_attn.v_proj.lora_A.weight": f32(8, 48).astype(np.float16),
        p + "model.layers.0.self_attn.v_proj.lora_B.weight": f32(32, 8).astype(np.float16),
        p + "model.embed_tokens.lora_embedding_A": f32(4, 70),
        p + "model.embed_tokens.lora_embedding_B": f32(20, 4),
        p + "conv.lora_A.weight": f32(4, 3, 3, 3),
        p + "conv.lora_B.weight": f32(10, 4, 1, 1),
        p + "classifier.weight": f32(2, 32),
        p + "classifier.bias": f32(2),
        p + "extra.counter": np.array(7, dtype=np.int64),
    }, {"format": "pt"})
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 4, "lora_alpha": 8, "rank_pattern": {"v_proj": 8}, "alpha_pattern": {"v_proj": 4},
        "use_dora": True, "use_rslora": False, "modules_to_save": ["classifier"],
        "target_modules": ["q_proj", "v_proj", "embed_tokens", "conv"], "task_type": "CAUSAL_LM"}))


def make_mlx(folder: Path) -> None:
    rng = np.random.default_rng(6)
    folder.mkdir()
    tensors = {}
    for layer in range(2):
        for proj, (n_in, n_out) in {"self_attn.q_proj": (40, 40), "mlp.down_proj": (72, 40)}.items():
            tensors[f"model.layers.{layer}.{proj}.lora_a"] = rng.standard_normal((n_in, 8)).astype(np.float32)
            tensors[f"model.layers.{layer}.{proj}.lora_b"] = rng.standard_normal((8, n_out)).astype(np.float32)
    st_write(folder / "adapters.safetensors", tensors)
    (folder / "adapter_config.json").write_text(json.dumps({"lora_parameters": {"rank": 8, "scale": 10.0}}))


def mlx_from_peft(peft: Path, folder: Path) -> None:
    """The PEFT LoRA in the folder `peft` (one rank and alpha, no rsLoRA) as MLX-LM writes it: each
    module under its model path (no `base_model.model.` prefix), the factors transposed
    (`<path>.lora_a` [in, r], `<path>.lora_b` [r, out]), and the scale alpha / r in `lora_parameters`."""
    config = json.loads((peft / "adapter_config.json").read_text())
    assert not (config.get("use_rslora") or config.get("rank_pattern") or config.get("alpha_pattern")), config
    arrays, _, _, _ = st_read(peft / "adapter_model.safetensors")
    tensors = {}
    for name, array in arrays.items():
        path, _, factor = name.removeprefix("base_model.model.").rpartition(".lora_")
        tensors[path + {"A.weight": ".lora_a", "B.weight": ".lora_b"}[factor]] = np.ascontiguousarray(array.T)
    folder.mkdir()
    st_write(folder / "adapters.safetensors", tensors)
    (folder / "adapter_config.json").write_text(json.dumps(
        {"fine_tune_type": "lora", "lora_parameters": {"rank": config["r"], "scale": config["lora_alpha"] / config["r"]}}))


def make_kohya(path: Path) -> None:
    rng = np.random.default_rng(7)
    st_write(path, {
        "lora_unet_block_0_proj.lora_down.weight": rng.standard_normal((4, 40)).astype(np.float16),
        "lora_unet_block_0_proj.lora_up.weight": rng.standard_normal((24, 4)).astype(np.float16),
        "lora_unet_block_0_proj.alpha": np.array(2.0, dtype=np.float32),
        "lora_unet_block_0_conv.lora_down.weight": rng.standard_normal((4, 5, 3, 3)).astype(np.float16),
        "lora_unet_block_0_conv.lora_up.weight": rng.standard_normal((12, 4, 1, 1)).astype(np.float16),
        "lora_unet_block_0_conv.alpha": np.array(4.0, dtype=np.float32),
    }, {"ss_network_dim": "4"})


OPTION_SETS = {
    "default": [],
    "plain": ["--plain"],
    "bf16": ["--scale-dtype", "bf16"],
    "f32": ["--scale-dtype", "f32"],
    "e4m3": ["--scale-dtype", "e4m3"],
    "f16": ["--scale-dtype", "f16"],
    "compact": ["--scales", "compact"],
    "k2x": ["--binary-rank", "2x"],
}
# Only for the bundled samples (real adapters): a byte budget and the binary rank alone.
SAMPLE_OPTION_SETS = {
    "size8": ["--size-ratio", "8"],
    "k2x-only": ["--binary-rank", "2x"],
}




def make_diffusers(path: Path) -> None:
    """A diffusers pipeline LoRA: unet attention (to_q r 4, to_k r 2) and text_encoder q_proj
    (r 8) under their component prefixes, configs in `lora_adapter_metadata`."""
    rng = np.random.default_rng(8)
    unet = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1."
    st_write(path, {
        unet + "to_q.lora_A.weight": rng.standard_normal((4, 32)).astype(np.float16),
        unet + "to_q.lora_B.weight": rng.standard_normal((32, 4)).astype(np.float16),
        unet + "to_k.lora_A.weight": rng.standard_normal((2, 32)).astype(np.float16),
        unet + "to_k.lora_B.weight": rng.standard_normal((24, 2)).astype(np.float16),
        "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight":
            rng.standard_normal((8, 40)).astype(np.float16),
        "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight":
            rng.standard_normal((40, 8)).astype(np.float16),
    }, {"format": "pt", "lora_adapter_metadata": json.dumps({
        "unet.r": 4, "unet.lora_alpha": 8, "unet.rank_pattern": {"to_k": 2}, "unet.alpha_pattern": {},
        "unet.target_modules": ["to_q", "to_k"], "unet.use_rslora": False, "unet.peft_type": "LORA",
        "text_encoder.r": 8, "text_encoder.lora_alpha": 16, "text_encoder.rank_pattern": {},
        "text_encoder.alpha_pattern": {}, "text_encoder.target_modules": ["q_proj"],
        "text_encoder.use_rslora": False, "text_encoder.peft_type": "LORA"})})


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(CONVERT), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"lordba-convert {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result




def convert_all(d: Path) -> dict:
    """Converts every input with its option sets into `d`: {(input, option): (source, .lba, report)}."""
    if not CONVERT.exists():
        raise FileNotFoundError(f"{CONVERT} not found: build it (swift build) or set LORDBA_CONVERT")
    inputs = {"minilm": ROOT / "samples/minilm-cls-r8", "tiny": ROOT / "samples/tiny-llama-lora-f16"}
    make_mixed_peft(d / "mixed")
    make_mlx(d / "mlx")
    make_kohya(d / "kohya.safetensors")
    make_diffusers(d / "pytorch_lora_weights.safetensors")
    inputs.update({"mixed": d / "mixed", "mlx": d / "mlx", "kohya": d / "kohya.safetensors",
                   "diffusers": d / "pytorch_lora_weights.safetensors"})
    files = {}
    for name, source in inputs.items():
        if name in ("minilm", "tiny"):
            sets = {**OPTION_SETS, **SAMPLE_OPTION_SETS}
        elif name == "mixed":
            sets = OPTION_SETS
        else:
            sets = {k: OPTION_SETS[k] for k in ("default", "plain", "e4m3")}
        for option, flags in sets.items():
            out = d / f"{name}-{option}.lba"
            report = d / f"{name}-{option}.json"
            run(str(source), str(out), "-q", "--report-json", str(report), *flags)
            files[(name, option)] = (source, out, json.loads(report.read_text())["inputs"][0])
    return files


def weights_path(source: Path) -> Path:
    if source.is_file():
        return source
    for name in ("adapter_model.safetensors", "adapters.safetensors"):
        if (source / name).exists():
            return source / name
    raise AssertionError(source)


def source_factors(arrays: dict, module: lba.Module, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The source LoRA's (A [r, in], B [out, r]) in float64."""
    a = arrays[module.source["a"]].astype(np.float64)
    b = arrays[module.source["b"]].astype(np.float64)
    if layout == "mlx":
        a, b = a.T, b.T
    return a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)


def low_rank_difference(b1, a1, b2, a2) -> float:
    """||B1 A1 - B2 A2||_F / ||B2 A2||_F from Gram matrices (nothing out x in)."""
    x = np.concatenate([b1, -b2], axis=1)
    y = np.concatenate([a1, a2], axis=0)
    diff = float(np.sum((x.T @ x) * (y @ y.T)))
    norm = float(np.sum((b2.T @ b2) * (a2 @ a2.T)))
    return max(diff, 0.0) ** 0.5 / norm ** 0.5
