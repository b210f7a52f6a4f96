"""An attached adapter as a PEFT LoRA state dict, in memory: `lora_A = diag(m)·S_A·diag(a)` and
`lora_B = diag(b)·S_Bᵀ` in float32 (used with `r = lora_alpha = k`), balanced per rank channel by
powers of two as `lordba-convert export --to peft --dtype f32` balances them, so the two agree."""

from __future__ import annotations

import math

import torch
from torch import nn

from lordba.torch.attach import Adapter, active


def to_peft_state_dict(model_or_adapter: nn.Module | Adapter) -> dict[str, torch.Tensor]:
    """`{"base_model.model.<path>.lora_A.weight": …, "….lora_B.weight": …}` of an adapter, or of a
    model's active adapter."""
    adapter = model_or_adapter if isinstance(model_or_adapter, Adapter) else active(model_or_adapter)
    if adapter is None:
        raise ValueError("the model has no active lordba adapter")
    state: dict[str, torch.Tensor] = {}
    for target, branch in adapter.branches.items():
        lora_a, lora_b = balanced(*branch.factors())
        state[f"base_model.model.{target}.lora_A.weight"] = lora_a.contiguous()
        state[f"base_model.model.{target}.lora_B.weight"] = lora_b.contiguous()
    return state


def balanced(lora_a: torch.Tensor, lora_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same `B·A` with each rank channel `j` of `A` [k, in] scaled by `2^e` and of `B` [out, k]
    by `2^−e`, `2^e ≈ √(max|B[:, j]| / max|A[j]|)` (exact: powers of two), so that neither factor
    sits near the edge of a narrow float type; the exporters' rule."""
    largest_a = lora_a.abs().amax(dim=1).tolist()
    largest_b = lora_b.abs().amax(dim=0).tolist()
    exponents = [_exponent(x, y) for x, y in zip(largest_a, largest_b)]
    if not any(exponents):
        return lora_a, lora_b
    up = torch.tensor([math.ldexp(1.0, e) for e in exponents], dtype=lora_a.dtype)
    down = torch.tensor([math.ldexp(1.0, -e) for e in exponents], dtype=lora_b.dtype)
    return lora_a * up[:, None], lora_b * down[None, :]


def _exponent(largest_a: float, largest_b: float) -> int:
    """`round(log2(largest_b / largest_a) / 2)`, halves away from zero; 0 for zero or non-finite."""
    if not (largest_a > 0 and largest_b > 0 and math.isfinite(largest_a) and math.isfinite(largest_b)):
        return 0
    half = math.log2(largest_b / largest_a) / 2
    return int(math.copysign(math.floor(abs(half) + 0.5), half))
