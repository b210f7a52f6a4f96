"""The Python writer (`lordba.lba.write`, `to_bytes`, `quantize_scales`): files read and written
back are byte-identical to what `lordba-convert` wrote; changed content is read back by both
readers; the spec's worked example; refusals; quantization against independent references."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lba_fixtures import CONVERT, run
from lordba import lba
from lordba.lba_writer import encode

VALIDATE = CONVERT.parent / "lordba-validate"


def test_every_converted_file_is_rewritten_byte_identically(work):
    kinds = set()
    for key, (_, path, _) in work["files"].items():
        data = path.read_bytes()
        f = lba.read(str(path))
        assert lba.to_bytes(f) == data, key
        compressed_table = bool(data[12] & 1)
        kinds.add(("compressed table" if compressed_table else "raw table"))
        kinds.add(f.layout)
        kinds.add(f.scale_dtype)
        if f.carried:
            kinds.add("carried")
        if any(m.dora_magnitude for m in f.modules):
            kinds.add("dora")
        if any(s["encoding"] == "zstd" for s in f.sections):
            kinds.add("zstd section")
    assert kinds >= {"compressed table", "peft", "mlx", "kohya", "diffusers", "e4m3", "f16", "bf16",
                     "f32", "carried", "dora", "zstd section"}, kinds


def test_raw_tables_and_raw_sections_round_trip(work, tmp_path):
    """lordba-convert always compresses the table (it always pays with the conversion record);
    the Swift writer's `tableCompression: false` (and the spec's example below) writes it raw.
    A raw table read back is kept raw, and both readers accept the result."""
    for key in (("mixed", "default"), ("kohya", "plain"), ("diffusers", "e4m3")):
        f = lba.read(str(work["files"][key][1]))
        for options in ({"table_compression": False}, {"compression": False}):
            raw = encode(f, **options)
            assert not raw[12] & 1 and int.from_bytes(raw[44:52], "little") == 0
            back = lba.parse(raw)
            assert back.version == ((1, 1) if f.carried or f.layout == "diffusers" else (1, 0))
            assert lba.to_bytes(back) == raw, (key, options)
            if options == {"compression": False}:
                assert all(s["encoding"] == "raw" for s in back.sections)
        out = tmp_path / f"{key[0]}.lba"
        out.write_bytes(raw)
        assert run("inspect", str(out), check=False).returncode == 0, key


def test_write_is_atomic_and_refuses_what_it_must_not_replace(work, tmp_path):
    source = work["files"][("mixed", "default")][1]
    f = lba.read(str(source))
    out = tmp_path / "copy.lba"
    lba.write(f, out)
    assert out.read_bytes() == source.read_bytes()
    with pytest.raises(lba.LBAError, match="exists"):
        lba.write(f, out)
    out.write_bytes(b"keep")
    lba.write(f, str(out), overwrite=True)
    assert out.read_bytes() == source.read_bytes()
    with pytest.raises(lba.LBAError, match="not a regular file"):
        lba.write(f, tmp_path, overwrite=True)
    link = tmp_path / "link.lba"
    link.symlink_to(out)
    with pytest.raises(lba.LBAError, match="not a regular file"):
        lba.write(f, link, overwrite=True)
    copy = lba.read(str(out))
    with pytest.raises(lba.LBAError, match="read from"):
        lba.write(copy, out, overwrite=True)
    broken = dataclasses.replace(f, modules=[])
    with pytest.raises(lba.LBAError, match="at least one module"):
        lba.write(broken, tmp_path / "never.lba")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.lba", "link.lba"]


def test_changed_scales_signs_and_metadata_are_read_back_by_both_readers(work, tmp_path):
    rng = np.random.default_rng(3)
    for key in (("minilm", "default"), ("mixed", "f16"), ("kohya", "e4m3"), ("diffusers", "default")):
        f = lba.read(str(work["files"][key][1]))
        expected = {}
        for m in f.modules:
            m.scale_b = (m.scale_b * rng.uniform(0.5, 1.5, m.scale_b.shape)).astype(np.float32)
            m.scale_m = (m.scale_m * 1.25).astype(np.float32)
            flip = rng.random(m.sign_a.shape) < 0.1
            m.sign_a = np.where(flip, -m.sign_a, m.sign_a).astype(np.int8)
            expected[m.name] = (m.sign_a.copy(), lba.quantize_scales(m.scale_b, f.scale_dtype), m.scale_m.copy())
        f.metadata["lordba.refine.steps"] = "100"
        f.metadata["Zz"] = "sorted by UTF-8 bytes: before lowercase keys"
        out = tmp_path / f"{key[0]}-{key[1]}.lba"
        lba.write(f, out)
        back = lba.read(str(out))
        for m in back.modules:
            sign_a, scale_b, scale_m = expected[m.name]
            assert np.array_equal(m.sign_a, sign_a) and np.array_equal(m.scale_m, scale_m)
            assert np.array_equal(m.scale_b.view(np.uint32), scale_b.view(np.uint32)), m.name
        assert back.metadata["lordba.refine.steps"] == "100"
        keys = list(back.table["metadata"])
        assert keys == sorted(keys, key=lambda k: k.encode()) and keys[0] == "Zz"
        assert lba.to_bytes(back) == out.read_bytes()
        assert run("inspect", str(out), check=False).returncode == 0, key
        result = subprocess.run([str(VALIDATE), str(out), "--no-timing"], capture_output=True, text=True)
        assert result.returncode == 0, (key, result.stderr)


def test_fresh_compression_is_valid_for_both_readers(work, tmp_path):
    """Without the frames the file was read with, the writer compresses with its own libzstd
    (the table too): a valid file with the same content."""
    f = lba.read(str(work["files"][("tiny", "default")][1]))
    f.stored_forms = {}
    out = tmp_path / "fresh.lba"
    lba.write(f, out)
    back = lba.read(str(out))
    assert back.version == f.version and back.metadata == f.metadata
    for a, b in zip(f.modules, back.modules):
        assert np.array_equal(a.sign_b, b.sign_b) and np.array_equal(a.scale_a, b.scale_a)
    assert run("inspect", str(out), check=False).returncode == 0


def spec_example() -> lba.LBAFile:
    """The module of formats/lba.md section 11."""
    q = lba.Module(name="q", kind="linear", kernel=None, in_features=3, out_features=2, rank=4, binary_rank=1,
                   lora_scale=2.0, source={"a": "q.lora_A.weight", "b": "q.lora_B.weight", "dtype": "F16"},
                   sign_a=np.array([[1, -1, 1]], np.int8), sign_b=np.array([[-1, 1]], np.int8), scale_a=None,
                   scale_b=np.array([1, 0.5], np.float32), scale_m=np.array([0.25], np.float32))
    return lba.LBAFile(path="", version=(1, 0), layout="peft", scale_dtype="f16", metadata={}, modules=[q],
                       carried=[], sections=[], file_length=0, table_length=0)


def test_the_specs_worked_example():
    from lordba._crc32c import crc32c
    raw = encode(spec_example(), table_compression=False)
    assert len(raw) == 1152 and crc32c(raw) == 0xBCA199EB
    assert raw[64:64 + 782].startswith(b'{"format":"lba","version":[1,0],"layout":"peft","scale_dtype":"f16"')
    packed = lba.to_bytes(spec_example())       # the default writer compresses this table (1.1)
    assert packed[10] == 1 and packed[12] & 1 and len(packed) < len(raw)
    f = lba.parse(packed)
    assert np.allclose(f.modules[0].delta(), [[-0.25, 0.25, -0.25], [0.125, -0.125, 0.125]])


@pytest.mark.parametrize("change, message", [
    (lambda m: setattr(m, "scale_b", np.array([1, np.inf], np.float32)), 'module "q": scale_b value 1 is inf'),
    (lambda m: setattr(m, "scale_b", np.array([1, 7e4], np.float32)), "scale_b value 1 is 70000.0, not finite in f16"),
    (lambda m: setattr(m, "scale_m", np.array([np.nan], np.float32)), "scale_m value 0 is nan"),
    (lambda m: setattr(m, "sign_a", np.array([[1, 0, 1]], np.int8)), "sign_a holds values other than"),
    (lambda m: setattr(m, "sign_b", np.array([[1, 1, 1]], np.int8)), "sign_b has shape"),
    (lambda m: setattr(m, "binary_rank", 300), "binary_rank = 300 is above 64 × rank"),
    (lambda m: setattr(m, "lora_scale", float("nan")), "lora_scale = nan"),
    (lambda m: setattr(m, "kind", "conv"), "conv kernel None"),
    (lambda m: setattr(m, "dora_magnitude", "q.m"), 'magnitude "q.m" is not a carried tensor'),
])
def test_the_writer_refuses_content_a_reader_would_reject(change, message):
    f = spec_example()
    change(f.modules[0])
    with pytest.raises(lba.LBAError, match=message.replace("(", r"\(")):
        lba.to_bytes(f)


def test_quantize_scales_rounds_as_the_format_stores():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(200_000) * np.exp(rng.uniform(-14, 6, 200_000))).astype(np.float32)
    x = np.concatenate([x, [0.0, -0.0, 448.0, 2.0 ** -9, 2.0 ** -10, 3 * 2.0 ** -10, 2.0 ** -6]]).astype(np.float32)
    inside = x[np.abs(x) <= 448]
    reference = torch.from_numpy(inside).to(torch.float8_e4m3fn).to(torch.float32).numpy()
    assert np.array_equal(lba.quantize_scales(inside, "e4m3").view(np.uint32), reference.view(np.uint32))
    assert np.array_equal(lba.quantize_scales(np.array([449, 1e30, -500], np.float32), "e4m3"), [448, 448, -448])
    reference = torch.from_numpy(x).to(torch.bfloat16).to(torch.float32).numpy()
    assert np.array_equal(lba.quantize_scales(x, "bf16").view(np.uint32), reference.view(np.uint32))
    small = x[np.abs(x) < 60000]
    assert np.array_equal(lba.quantize_scales(small, "f16"), small.astype(np.float16).astype(np.float32))
    assert np.array_equal(lba.quantize_scales(x, "f32"), x)
    for dtype, bad in (("f16", 65520.0), ("bf16", 3.4e38), ("e4m3", np.inf), ("f32", np.nan)):
        with pytest.raises(lba.LBAError, match="not finite"):
            lba.quantize_scales(np.array([1.0, bad], np.float32), dtype)
    with pytest.raises(lba.LBAError, match="unknown scale dtype"):
        lba.quantize_scales(x, "f8")


def test_console_script_entry_point_and_typing():
    root = Path(lba.__file__).resolve().parents[1]
    assert 'lordba-lba = "lordba.lba:main"' in (root / "pyproject.toml").read_text()
    assert (root / "lordba" / "py.typed").exists()
    assert lba.main(["--help"]) == 64
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(["python3", "-c", "import sys; from lordba.lba import main; sys.exit(main(['/nonexistent.lba']))"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "error:" in result.stderr
