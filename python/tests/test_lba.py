"""Tests of the reference reader `lba.py` against files the Swift converter writes.

The session fixture `work` (conftest.py, `lba_fixtures.py`) converts the bundled samples and
synthetic adapters with several option sets using the `lordba-convert` binary
(`LORDBA_CONVERT`, default `.build/debug/lordba-convert`); these tests read them and export
them back with `lordba-convert export`. Run by `.ci/run` after `swift test`:

    LORDBA_CONVERT=.build/debug/lordba-convert python3 -m pytest -q python/tests

With `LORDBA_REJECTED_DIR=DIR` set for both `swift test` and pytest, the files the Swift
corruption tests reject (kept there by their `reject` helpers) are run through the Python
reader as well; without it that test is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lba_fixtures import (CONVERT, ROOT, low_rank_difference, run, source_factors, st_read, st_write,  # noqa: F401
                          weights_path)
from lordba import lba

# ---------------------------------------------------------------------------------------------
# Reading what the converter writes

def test_every_file_reads_and_reproduces_the_reports_product_errors(work):
    checked = 0
    for (name, option), (source, out, report) in work["files"].items():
        f = lba.read(str(out))
        arrays, raw, header, _ = st_read(weights_path(source))
        assert [m.name for m in f.modules] == [m["name"] for m in report["modules"]]
        for m, r in zip(f.modules, report["modules"]):
            a, b = source_factors(arrays, m, f.layout)
            assert (m.rank, m.binary_rank, m.in_features, m.out_features) == (r["rank"], r["binary_rank"], r["in"], r["out"])
            a2, b2 = m.factors()
            error = low_rank_difference(b2, a2, m.lora_scale * b, a)  # ||B^A^ - sBA|| / ||sBA||
            assert abs(error - r["product_error"]) < 1e-6, (name, option, m.name, error, r["product_error"])
            checked += 1
        # carried tensors: byte-identical to the source
        for c in f.carried:
            assert c.data == raw[c.name], c.name
            assert c.shape == header[c.name]["shape"] and c.dtype == header[c.name]["dtype"]
    assert checked > 200


def test_metadata_records_version_input_hash_and_options(work):
    for (name, option), (source, out, _) in work["files"].items():
        f = lba.read(str(out))
        md = f.metadata
        assert md["lordba.tool_version"]
        assert md["lordba.input_sha256"] == hashlib.sha256(weights_path(source).read_bytes()).hexdigest()
        assert md["lordba.input_file"] == weights_path(source).name
        assert md["lordba.scale_dtype"] == f.scale_dtype
        assert md["lordba.method"] == ("plain" if option == "plain" else "lordba")
        assert md["lordba.scales"] == ("compact" if option == "compact" else "full")
        assert md["lordba.binary_rank"] == ("2x" if option.startswith("k2x") else "1x")
        for key in ("lordba.seed", "lordba.refit_sweeps", "lordba.refine_steps", "lordba.factorization",
                    "lordba.source_layout", "lordba.drop_extra"):
            assert key in md, key
        if option == "compact":
            assert all(m.scale_a is None for m in f.modules)
        if option.startswith("k2x"):
            assert all(m.binary_rank == 2 * m.rank for m in f.modules)


def test_scale_dtypes_and_layouts_are_all_covered(work):
    seen = {(lba.read(str(out)).scale_dtype, lba.read(str(out)).layout) for _, out, _ in work["files"].values()}
    assert {d for d, _ in seen} == {"f16", "bf16", "f32", "e4m3"}
    assert {l for _, l in seen} == {"peft", "mlx", "kohya", "diffusers"}


def test_dora_conv_embedding_and_roles(work):
    f = lba.read(str(work["files"][("mixed", "default")][1]))
    assert f.version == (1, 1)
    q = "base_model.model.model.layers.0.self_attn.q_proj"
    assert f.module(q).dora_magnitude == q + ".lora_magnitude_vector"
    assert [m.dora_magnitude for m in f.modules if m.name != q] == [None] * (len(f.modules) - 1)
    roles = {c.name: c.role for c in f.carried}
    assert roles == {
        "base_model.model.classifier.bias": "modules_to_save",
        "base_model.model.classifier.weight": "modules_to_save",
        "base_model.model.extra.counter": "other",
        q + ".lora_magnitude_vector": "magnitude",
    }
    conv = f.module("base_model.model.conv")
    assert conv.kind == "conv" and conv.kernel == [3, 3] and conv.in_features == 27
    assert f.module("base_model.model.model.embed_tokens").kind == "embedding"
    assert f.module("base_model.model.model.layers.0.self_attn.v_proj").rank == 8
    # files without carried tensors are 1.1 only for the compressed table (flag bit 0)
    tiny = lba.read(str(work["files"][("tiny", "default")][1]))
    tiny_bytes = work["files"][("tiny", "default")][1].read_bytes()
    assert tiny.version == ((1, 1) if int.from_bytes(tiny_bytes[12:16], "little") & 1 else (1, 0))


def test_cli_prints_a_summary(work):
    out = work["files"][("mixed", "default")][1]
    env = {**os.environ, "PYTHONPATH": str(Path(lba.__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-m", "lordba.lba", str(out)], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and "all checks passed" in result.stdout and "dora(" in result.stdout
    bad = work["dir"] / "truncated.lba"
    bad.write_bytes(out.read_bytes()[:-64])
    result = subprocess.run([sys.executable, "-m", "lordba.lba", str(bad)], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and result.stderr.startswith(f"error: {bad}: file: truncated")


# ---------------------------------------------------------------------------------------------
# Corruption: every single bit flip is rejected, by the Python reader and by the Swift one.

def test_every_bit_flip_is_rejected_by_both_readers(work, tmp_path):
    data = bytearray(work["files"][("kohya", "plain")][1].read_bytes())
    lba.parse(bytes(data))
    positions = range(len(data) * 8)
    for bit in positions:
        data[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(lba.LBAError):
            lba.parse(bytes(data))
        data[bit // 8] ^= 1 << (bit % 8)
    # The same files through the Swift reader (a spread of positions: preamble, table, sections).
    step = max(1, len(data) * 8 // 40)
    for bit in list(range(0, len(data) * 8, step)) + [8 * 8, 44 * 8, len(data) * 8 - 1]:
        data[bit // 8] ^= 1 << (bit % 8)
        path = tmp_path / f"flip{bit}.lba"
        path.write_bytes(bytes(data))
        assert run("inspect", str(path), check=False).returncode == 1, bit
        data[bit // 8] ^= 1 << (bit % 8)


REJECTED_DIR = os.environ.get("LORDBA_REJECTED_DIR")


@pytest.mark.skipif(not REJECTED_DIR, reason="LORDBA_REJECTED_DIR not set: run swift test with it first")
def test_python_rejects_every_file_the_swift_corruption_tests_rejected():
    """The corrupted and crafted files the Swift Writing tests reject (kept by their `reject`
    helpers in LORDBA_REJECTED_DIR during `swift test`) are rejected by lba.py too."""
    files = sorted(Path(REJECTED_DIR).glob("*.lba"))
    assert len(files) >= 50, f"only {len(files)} files in {REJECTED_DIR}"
    accepted = []
    for path in files:
        try:
            lba.parse(path.read_bytes(), path.name)
        except lba.LBAError:
            continue
        accepted.append(path.name)
    assert not accepted, f"lba.py accepted {len(accepted)} of {len(files)}: {accepted[:10]}"


def test_truncation_trailing_data_and_table_errors(work):
    data = work["files"][("minilm", "default")][1].read_bytes()
    for bad in (data[:-64], data + b"\0" * 64, data[:40], b"PK" + data[2:]):
        with pytest.raises(lba.LBAError):
            lba.parse(bad)
    with pytest.raises(lba.LBAError, match="duplicate key"):
        lba._parse_json(b'{"a":1,"a":2}', "x")
    with pytest.raises(lba.LBAError, match="not a JSON number"):
        lba._parse_json(b'{"a":NaN}', "x")
    with pytest.raises(lba.LBAError, match="duplicate key"):
        lba._parse_json('{"\u00e9":1,"e\u0301":2}'.encode(), "x")  # canonically equivalent keys
    assert lba._parse_json(b'{"a":"x\\ud800y","b":-0}', "x") == {"a": "x\ufffdy", "b": 0}


# ---------------------------------------------------------------------------------------------
# Exports: the factors' product equals the .lba's delta; configs; GGUF read independently.

def export(work, key, target, *flags, suffix=""):
    out = work["dir"] / f"{key[0]}-{key[1]}-{target}{suffix}"
    run("export", str(work["files"][key][1]), "--to", target, str(out), "--dtype", "f32", "--force", "-q", *flags)
    return out


def peft_scale(config: dict, module_path: str) -> float:
    key = module_path.removeprefix("base_model.model.")
    r = config["rank_pattern"].get(key, config["r"])
    alpha = config["alpha_pattern"].get(key, config["lora_alpha"])
    return alpha / r


@pytest.mark.parametrize("key", [("minilm", "default"), ("tiny", "default"), ("mixed", "default"),
                                 ("mixed", "k2x"), ("mixed", "compact"), ("kohya", "default")])
def test_peft_export_product_equals_the_lba_delta(work, key):
    f = lba.read(str(work["files"][key][1]))
    out = export(work, key, "peft")
    arrays, raw, header, _ = st_read(out / "adapter_model.safetensors")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["use_rslora"] is False and config["peft_type"] == "LORA"
    assert config["use_dora"] == any(m.dora_magnitude for m in f.modules)
    for m in f.modules:
        a_name, b_name = (m.source["a"], m.source["b"]) if f.layout == "peft" else (
            "base_model.model." + m.name + ".lora_A.weight", "base_model.model." + m.name + ".lora_B.weight")
        a = arrays[a_name].astype(np.float64)
        b = arrays[b_name].astype(np.float64)
        if m.kind == "conv":
            assert list(a.shape) == [m.binary_rank, m.in_features // int(np.prod(m.kernel))] + m.kernel
            assert list(b.shape) == [m.out_features, m.binary_rank] + [1] * len(m.kernel)
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        a2, b2 = m.factors()
        assert low_rank_difference(peft_scale(config, m.name) * b, a, b2, a2) < 1e-6, m.name
    for c in f.carried:
        assert raw[c.name] == c.data


def test_f16_export_error(work):
    key = ("tiny", "default")
    f = lba.read(str(work["files"][key][1]))
    out = work["dir"] / "tiny-f16-peft"
    run("export", str(work["files"][key][1]), "--to", "peft", str(out), "--force", "-q")
    arrays, _, _, _ = st_read(out / "adapter_model.safetensors")
    worst = 0.0
    for m in f.modules:
        a = arrays[m.source["a"]].astype(np.float64)
        b = arrays[m.source["b"]].astype(np.float64)
        a2, b2 = m.factors()
        worst = max(worst, low_rank_difference(b, a, b2, a2))
    print(f"f16 export: worst relative ΔW difference {worst:.2e}")
    assert 1e-6 < worst < 2e-3


@pytest.mark.parametrize("key", [("tiny", "default"), ("mlx", "default"), ("mixed", "e4m3")])
def test_mlx_and_kohya_exports(work, key):
    f = lba.read(str(work["files"][key][1]))
    linear_only = all(m.kind == "linear" for m in f.modules)
    if linear_only:
        out = export(work, key, "mlx")
        arrays, _, _, _ = st_read(out / "adapters.safetensors")
        config = json.loads((out / "adapter_config.json").read_text())
        assert config["lora_parameters"]["scale"] == 1 and config["fine_tune_type"] in ("lora", "dora")
        rank = config["lora_parameters"]["rank"]
        for m in f.modules:
            path = m.name.removeprefix("base_model.model.")
            a = arrays[path + ".lora_a"].astype(np.float64)
            b = arrays[path + ".lora_b"].astype(np.float64)
            assert a.shape == (m.in_features, rank) and b.shape == (rank, m.out_features)
            a2, b2 = m.factors()
            assert low_rank_difference(b.T, a.T, b2, a2) < 1e-6
    out = export(work, key, "kohya", suffix=".safetensors")
    arrays, _, _, _ = st_read(out)
    names = {n.removesuffix(".lora_down.weight") for n in arrays if n.endswith(".lora_down.weight")}
    assert len(names) == len(f.modules)
    for m in f.modules:
        base = m.source["a"].removesuffix(".lora_down.weight") if f.layout == "kohya" else \
            "lora_" + m.name.removeprefix("base_model.model.").replace(".", "_")
        a = arrays[base + ".lora_down.weight"].astype(np.float64)
        b = arrays[base + ".lora_up.weight"].astype(np.float64)
        alpha = float(arrays[base + ".alpha"])
        a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        a2, b2 = m.factors()
        assert low_rank_difference(alpha / a.shape[0] * b, a, b2, a2) < 1e-6


class GGUF:
    """An independent GGUF v3 reader (numpy only)."""

    TYPES = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0
        assert self.take(4) == b"GGUF"
        assert self.scalar("<u4") == 3
        n_tensors, n_kv = self.scalar("<u8"), self.scalar("<u8")
        self.kv = {}
        for _ in range(n_kv):
            key = self.string()
            self.kv[key] = self.value(self.scalar("<u4"))
        infos = []
        for _ in range(n_tensors):
            name = self.string()
            dims = [self.scalar("<u8") for _ in range(self.scalar("<u4"))]
            infos.append((name, dims, self.scalar("<u4"), self.scalar("<u8")))
        align = self.kv.get("general.alignment", 32)
        start = (self.pos + align - 1) // align * align
        self.tensors = {}
        for name, dims, kind, offset in infos:
            assert offset % align == 0
            dtype = {0: "<f4", 1: "<f2"}[kind]
            count = int(np.prod(dims))
            begin = start + offset
            self.tensors[name] = np.frombuffer(data[begin:begin + count * np.dtype(dtype).itemsize], dtype).reshape(dims[::-1])

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str):
        size = np.dtype(fmt).itemsize
        return np.frombuffer(self.take(size), fmt)[0].item()

    def string(self) -> str:
        return self.take(self.scalar("<u8")).decode()

    def value(self, kind: int):
        if kind == 8:
            return self.string()
        if kind == 9:
            inner, count = self.scalar("<u4"), self.scalar("<u8")
            return [self.value(inner) for _ in range(count)]
        return self.scalar(self.TYPES[kind])


def test_gguf_export_read_independently(work, tmp_path):
    key = ("tiny", "default")
    f = lba.read(str(work["files"][key][1]))
    base = tmp_path / "config.json"
    heads, kv_heads = 4, 2
    base.write_text(json.dumps({"model_type": "llama", "num_attention_heads": heads, "num_key_value_heads": kv_heads}))
    out = export(work, key, "gguf", "--base-config", str(base), suffix=".gguf")
    g = GGUF(out.read_bytes())
    assert g.kv["general.architecture"] == "llama" and g.kv["general.type"] == "adapter"
    assert g.kv["adapter.type"] == "lora"
    alpha = g.kv["adapter.lora.alpha"]
    names = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
    assert len(g.tensors) == 2 * len(f.modules)
    for m in f.modules:
        parts = m.name.split(".")
        layer = parts[parts.index("layers") + 1]
        name = f"blk.{layer}.{names[parts[-1]]}.weight"
        a = g.tensors[name + ".lora_a"].astype(np.float64)
        b = g.tensors[name + ".lora_b"].astype(np.float64)
        assert a.shape == (m.binary_rank, m.in_features) and b.shape == (m.out_features, m.binary_rank)
        if parts[-1] in ("q_proj", "k_proj"):
            h = heads if parts[-1] == "q_proj" else kv_heads
            # undo llama.cpp's rope row order: reshape(h, 2, n/h/2, k).swapaxes(1, 2) inverted
            n = b.shape[0]
            b = b.reshape(h, n // h // 2, 2, -1).swapaxes(1, 2).reshape(n, -1)
        a2, b2 = m.factors()
        assert low_rank_difference(alpha / b.shape[1] * b, a, b2, a2) < 1e-6, m.name


def test_gguf_needs_base_config_for_q_and_k(work):
    lba_path = work["files"][("tiny", "default")][1]
    result = run("export", str(lba_path), "--to", "gguf", str(work["dir"] / "x.gguf"), "--arch", "llama", check=False)
    assert result.returncode == 1 and "--base-config" in result.stderr
    assert not (work["dir"] / "x.gguf").exists()


def make_llama(folder: Path, dora: bool) -> None:
    """LLaMA-named linear modules of mixed ranks (4 and 8) over two layers, all DoRA or none."""
    rng = np.random.default_rng(11 if dora else 10)
    shapes = {"self_attn.q_proj": (4, 32, 32), "self_attn.k_proj": (8, 32, 16),
              "mlp.up_proj": (8, 32, 48), "mlp.down_proj": (4, 48, 32)}
    tensors = {}
    for layer in range(2):
        for proj, (r, n_in, n_out) in shapes.items():
            p = f"base_model.model.model.layers.{layer}.{proj}"
            tensors[p + ".lora_A.weight"] = rng.standard_normal((r, n_in)).astype(np.float32)
            tensors[p + ".lora_B.weight"] = rng.standard_normal((n_out, r)).astype(np.float32)
            if dora:
                tensors[p + ".lora_magnitude_vector"] = (np.abs(rng.standard_normal(n_out)) + 1).astype(np.float32)
    folder.mkdir()
    st_write(folder / "adapter_model.safetensors", tensors)
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 4, "lora_alpha": 8, "rank_pattern": {"k_proj": 8, "up_proj": 8},
        "use_dora": dora, "target_modules": ["q_proj", "k_proj", "up_proj", "down_proj"]}))


def test_gguf_mixed_ranks_and_mlx_dora(tmp_path):
    heads, kv_heads = 4, 2
    base = tmp_path / "config.json"
    base.write_text(json.dumps({"model_type": "llama", "num_attention_heads": heads, "num_key_value_heads": kv_heads}))
    for dora in (False, True):
        source = tmp_path / f"llama-{dora}"
        make_llama(source, dora)
        out = tmp_path / f"llama-{dora}.lba"
        run(str(source), str(out), "-q")
        f = lba.read(str(out))
        assert {m.binary_rank for m in f.modules} == {4, 8}
        assert all((m.dora_magnitude is not None) == dora for m in f.modules)
        # GGUF: one alpha, each module's lora_b scaled so alpha / k_module gives the stored ΔW.
        gguf = tmp_path / f"llama-{dora}.gguf"
        result = run("export", str(out), "--to", "gguf", str(gguf), "--dtype", "f32", "--base-config", str(base), check=False)
        if dora:
            assert result.returncode == 1 and "DoRA" in result.stderr and not gguf.exists()
        else:
            assert result.returncode == 0, result.stderr
            g = GGUF(gguf.read_bytes())
            alpha = g.kv["adapter.lora.alpha"]
            assert alpha == 8
            names = {"q_proj": "attn_q", "k_proj": "attn_k", "up_proj": "ffn_up", "down_proj": "ffn_down"}
            for m in f.modules:
                parts = m.name.split(".")
                stem = f"blk.{parts[parts.index('layers') + 1]}.{names[parts[-1]]}.weight"
                a = g.tensors[stem + ".lora_a"].astype(np.float64)
                b = g.tensors[stem + ".lora_b"].astype(np.float64)
                assert a.shape == (m.binary_rank, m.in_features)
                if parts[-1] in ("q_proj", "k_proj"):
                    h = heads if parts[-1] == "q_proj" else kv_heads
                    n = b.shape[0]
                    b = b.reshape(h, n // h // 2, 2, -1).swapaxes(1, 2).reshape(n, -1)
                a2, b2 = m.factors()
                assert low_rank_difference(alpha / a.shape[0] * b, a, b2, a2) < 1e-6, m.name
        # MLX: one rank (zero-padded), scale 1; DoRA magnitudes as `<path>.m`, byte-identical.
        mlx = tmp_path / f"llama-{dora}-mlx"
        run("export", str(out), "--to", "mlx", str(mlx), "--dtype", "f32", "-q")
        arrays, raw, header, _ = st_read(mlx / "adapters.safetensors")
        config = json.loads((mlx / "adapter_config.json").read_text())
        assert config["fine_tune_type"] == ("dora" if dora else "lora")
        assert config["lora_parameters"]["rank"] == 8 and config["lora_parameters"]["scale"] == 1
        for m in f.modules:
            path = m.name.removeprefix("base_model.model.")
            a, b = arrays[path + ".lora_a"].astype(np.float64), arrays[path + ".lora_b"].astype(np.float64)
            a2, b2 = m.factors()
            assert low_rank_difference(b.T, a.T, b2, a2) < 1e-6, m.name
            if dora:
                assert raw[path + ".m"] == f.carried_tensor(m.dora_magnitude).data
                assert header[path + ".m"]["shape"] == [m.out_features]
            else:
                assert path + ".m" not in arrays
        # kohya keeps the magnitudes under PEFT's name, and says loaders ignore them.
        kohya = tmp_path / f"llama-{dora}.safetensors"
        result = run("export", str(out), "--to", "kohya", str(kohya), "--dtype", "f32")
        assert ("kohya-format loaders do not read it" in result.stdout) == dora


def test_mlx_num_layers_reaches_the_first_adapted_block(tmp_path):
    """mlx-lm adapts the last `num_layers` blocks: an adapter on blocks 1 and 2 of a 4-block model
    needs num_layers = 3 (from --base-config), or -1 (every block) without it."""
    rng = np.random.default_rng(12)
    source = tmp_path / "partial"
    source.mkdir()
    tensors = {}
    for layer in (1, 2):
        p = f"base_model.model.model.layers.{layer}.self_attn.q_proj"
        tensors[p + ".lora_A.weight"] = rng.standard_normal((4, 16)).astype(np.float32)
        tensors[p + ".lora_B.weight"] = rng.standard_normal((16, 4)).astype(np.float32)
    st_write(source / "adapter_model.safetensors", tensors)
    (source / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 4, "target_modules": ["q_proj"]}))
    out = tmp_path / "partial.lba"
    run(str(source), str(out), "-q", "--plain")
    base = tmp_path / "config.json"
    base.write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 4, "num_attention_heads": 2}))
    with_base = tmp_path / "with-base"
    run("export", str(out), "--to", "mlx", str(with_base), "--base-config", str(base), "-q")
    assert json.loads((with_base / "adapter_config.json").read_text())["num_layers"] == 3
    without = tmp_path / "without"
    run("export", str(out), "--to", "mlx", str(without), "-q")
    assert json.loads((without / "adapter_config.json").read_text())["num_layers"] == -1
    base.write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2}))
    result = run("export", str(out), "--to", "mlx", str(tmp_path / "bad"), "--base-config", str(base), check=False)
    assert result.returncode == 1 and "num_hidden_layers = 2" in result.stderr and not (tmp_path / "bad").exists()
