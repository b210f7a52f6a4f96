"""Differentiable adapter branches for training a `.lba` against its original adapter.

Each adapted `nn.Linear` of the base is wrapped in a `BranchedLinear` holding several branches
(the original adapter, the `.lba` being trained) of which one, or none, is active, so one copy of
the base model serves as base, teacher and student.

The student keeps the `.lba` form `ΔW·x = b ⊙ (S_Bᵀ · (m ⊙ (S_A · (a ⊙ x))))`. Each scale vector is
trained in log form relative to its stored value, `v = v₀ · exp(δ)` with `δ` starting at 0, so a
scale keeps its sign and the untrained student is exactly the stored file. With sign training the
signs are `sign(ℓ)` of a latent `ℓ` started at the stored ±1, and the gradient passes straight
through (identity straight-through estimator). With `rounded` set, the forward pass uses the
values exactly as they would be written: `a` and `b` normalised as the converter does (largest
magnitude 1, 256 for e4m3) and rounded to the file's scale dtype, `m` in f32, with the rounding
passed straight through, so the last part of training sees what the file will hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import lba
from .teacher import TeacherFactors

NORMALISED_MAX = {"e4m3": 256.0, "f16": 1.0, "bf16": 1.0, "f32": 1.0}
E4M3_MAX = 448.0


def round_to_dtype(values: torch.Tensor, dtype: str) -> torch.Tensor:
    """The float32 values `values` become when stored as `dtype` (round to nearest even)."""
    if dtype == "f16":
        return values.to(torch.float16).to(torch.float32)
    if dtype == "bf16":
        return values.to(torch.bfloat16).to(torch.float32)
    if dtype == "e4m3":
        return values.clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).to(torch.float32)
    return values


def _straight_through(values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return values + (target - values).detach()


class TeacherBranch(nn.Module):
    """The original LoRA branch, `scale · B @ A`, frozen."""

    def __init__(self, factors: TeacherFactors) -> None:
        super().__init__()
        self.register_buffer("a", factors.a.clone())
        self.register_buffer("b", factors.b * factors.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.a.T) @ self.b.T


class _Scale(nn.Module):
    """A scale vector `v₀ · exp(δ)`; `δ` is the trained parameter."""

    def __init__(self, stored: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("stored", torch.from_numpy(np.array(stored, dtype=np.float32)))
        self.delta = nn.Parameter(torch.zeros_like(self.stored))

    def forward(self) -> torch.Tensor:
        return self.stored * torch.exp(self.delta)


@dataclass
class ExportedModule:
    """What the file will hold for one module: ±1 signs and the stored scale values."""

    sign_a: np.ndarray  # int8 [k, in]
    sign_b: np.ndarray  # int8 [k, out]
    scale_a: np.ndarray | None
    scale_b: np.ndarray
    scale_m: np.ndarray


class StudentBranch(nn.Module):
    """One `.lba` module, trainable: its scales (log form) and, with `train_signs`, its signs."""

    def __init__(self, module: lba.Module, scale_dtype: str, train_signs: bool) -> None:
        super().__init__()
        self.scale_dtype = scale_dtype
        self.train_signs = train_signs
        self.rounded = False
        sign_a = torch.from_numpy(module.sign_a.astype(np.float32))
        sign_b = torch.from_numpy(module.sign_b.astype(np.float32))
        if train_signs:
            self.latent_a = nn.Parameter(sign_a)
            self.latent_b = nn.Parameter(sign_b)
        else:
            self.register_buffer("latent_a", sign_a)
            self.register_buffer("latent_b", sign_b)
        self.a = _Scale(module.scale_a) if module.scale_a is not None else None
        self.m = _Scale(module.scale_m)
        self.b = _Scale(module.scale_b)

    def signs(self) -> tuple[torch.Tensor, torch.Tensor]:
        hard_a = torch.where(self.latent_a >= 0, 1.0, -1.0)
        hard_b = torch.where(self.latent_b >= 0, 1.0, -1.0)
        if not self.train_signs:
            return hard_a, hard_b
        return _straight_through(self.latent_a, hard_a), _straight_through(self.latent_b, hard_b)

    def scales(self) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        a = self.a() if self.a is not None else None
        m, b = self.m(), self.b()
        if not self.rounded:
            return a, m, b
        top = NORMALISED_MAX[self.scale_dtype]
        m_factor = torch.ones((), dtype=m.dtype, device=m.device)
        outer = []
        for v in (a, b):
            if v is None:
                outer.append(None)
                continue
            peak = v.detach().abs().max()
            c = top / peak if peak > 0 else torch.ones_like(peak)
            normalised = v * c
            outer.append(_straight_through(normalised, round_to_dtype(normalised.detach(), self.scale_dtype)))
            m_factor = m_factor / c
        return outer[0], m * m_factor, outer[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sign_a, sign_b = self.signs()
        a, m, b = self.scales()
        h = x * a if a is not None else x
        return (((h @ sign_a.T) * m) @ sign_b) * b

    @torch.no_grad()
    def export(self) -> ExportedModule:
        """The module as it will be written (the `rounded` forward's values)."""
        was = self.rounded
        self.rounded = True
        a, m, b = self.scales()
        self.rounded = was
        sign_a = np.where(self.latent_a.cpu().numpy() >= 0, 1, -1).astype(np.int8)
        sign_b = np.where(self.latent_b.cpu().numpy() >= 0, 1, -1).astype(np.int8)
        as_np = (lambda t: None if t is None else t.detach().cpu().numpy().astype(np.float32))
        return ExportedModule(sign_a=sign_a, sign_b=sign_b, scale_a=as_np(a), scale_b=as_np(b), scale_m=as_np(m))


class BranchedLinear(nn.Module):
    """A base `nn.Linear` plus named adapter branches, one of which (or none) is active."""

    def __init__(self, base: nn.Linear) -> None:
        super().__init__()
        self.base = base
        self.branches = nn.ModuleDict()
        self.active: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.active is None:
            return y
        return y + self.branches[self.active](x.to(torch.float32)).to(y.dtype)


def install(model: nn.Module, layers: dict[str, tuple[str, nn.Linear]]) -> dict[str, BranchedLinear]:
    """Wraps each layer (keyed by `.lba` name, with its model path) in a `BranchedLinear`."""
    wrapped: dict[str, BranchedLinear] = {}
    for name, (path, layer) in layers.items():
        parent_path, _, attribute = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        wrapper = BranchedLinear(layer)
        setattr(parent, attribute, wrapper)
        wrapped[name] = wrapper
    return wrapped


def activate(wrappers: dict[str, BranchedLinear], branch: str | None) -> None:
    for wrapper in wrappers.values():
        wrapper.active = branch
