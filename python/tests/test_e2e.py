"""The exports loaded by the real libraries (`e2e_check.py`): skipped unless torch,
transformers and peft are importable (CI installs numpy and pytest only)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e_check  # noqa: E402


def test_exports_load_in_peft_mlx_and_gguf(tmp_path):
    if not e2e_check.CONVERT.exists():
        pytest.fail(f"{e2e_check.CONVERT} not found: build it (swift build) or set LORDBA_CONVERT")
    figures = e2e_check.check_all(tmp_path)
    for kind, result in figures.items():
        # f32: PEFT applies exactly the .lba's ΔW (DoRA: the whole rescaled weight change).
        assert result["peft_f32"]["delta_w"] < 1e-5, (kind, result)
        assert result["peft_f32"]["logits"] < 1e-4, (kind, result)
        # f16 adds one rounding per factor entry.
        assert result["peft_f16"]["delta_w"] < 5e-3, (kind, result)
        if isinstance(result["gguf"], dict):
            assert result["gguf"]["delta_w"] < 1e-6, (kind, result)
        if "validate" in result:
            # lordba-validate's DoRA-layer fidelity agrees with PEFT's merged weights (sampling noise).
            assert 0.9 < result["validate"]["fidelity_over_weight_space_min"], result["validate"]
            assert result["validate"]["fidelity_over_weight_space_max"] < 1.1, result["validate"]
        for key in ("mlx", "mlx_without_base_config"):
            if result.get(key) is not None:
                assert result[key]["logits"] < 1e-5, (kind, key, result)
        if result.get("llama_cpp") is not None:
            # llama.cpp's own numerics (f16 KV cache) move the base logits by ~2e-4 already.
            assert result["llama_cpp"]["logits"] < 5e-3, (kind, result)
        if result.get("llama_cpp_without_rope_permutation") is not None:
            assert result["llama_cpp_without_rope_permutation"]["logits"] > 10 * result["llama_cpp"]["logits"], result


def test_exports_keep_delta_w_at_4096_width(tmp_path):
    """f16 factors of 7B-wide modules stay exact to one rounding (balanced before the cast)."""
    if not e2e_check.CONVERT.exists():
        pytest.fail(f"{e2e_check.CONVERT} not found: build it (swift build) or set LORDBA_CONVERT")
    wide = e2e_check.check_wide(tmp_path)
    assert wide["f32"] <= 1e-6, wide
    assert wide["f16"] <= 1e-3, wide
    assert wide["bf16"] <= 8e-3, wide
