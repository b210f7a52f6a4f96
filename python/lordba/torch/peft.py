"""An attached adapter as a PEFT LoRA state dict, in memory: `lora_A = diag(m)·S_A·diag(a)` and
`lora_B = diag(b)·S_Bᵀ` in float32 (used with `r = lora_alpha = k`), the factors `lordba-convert
export --to peft --dtype f32` writes."""

from __future__ import annotations

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
        lora_a, lora_b = branch.factors()
        state[f"base_model.model.{target}.lora_A.weight"] = lora_a.contiguous()
        state[f"base_model.model.{target}.lora_B.weight"] = lora_b.contiguous()
    return state
