"""One `.lba` module as a PyTorch branch `ΔW·x = b ⊙ S_Bᵀ·(m ⊙ S_A·(a ⊙ x))`, in two forms.

* `SignBranch` (``packed=False``): the signs as ±1 float32 matrices, plain matmuls (any device).
* `PackedBranch` (``packed=True``): the sign rows as the file stores them (1 bit per entry) and the
  scales in their stored dtype, run by `torch.ops.lordba.sign_gemm` (CPU).

Both add the branch to the base layer's output: `apply(x, y) = y + ΔW·x`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lordba.lba import Module


def _stored_scales(values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """Scales the reader widened to float32, back in their stored dtype (exact: they came from it)."""
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(dtype)


def _sign_rows(signs: np.ndarray) -> torch.Tensor:
    """±1 rows `[k, n]` packed as the file stores them: bit 1 = −1, 64-bit words of little-endian bytes."""
    k, n = signs.shape
    row_bytes = (n + 63) // 64 * 8
    packed = np.zeros((k, row_bytes), dtype=np.uint8)
    packed[:, :(n + 7) // 8] = np.packbits(signs < 0, axis=1, bitorder="little")
    return torch.from_numpy(packed)


class _Sections:
    """What both forms hold: the two sign matrices and the three scale vectors of one module."""

    sign_a: torch.Tensor
    sign_b: torch.Tensor
    scale_a: torch.Tensor | None
    scale_b: torch.Tensor
    scale_m: torch.Tensor

    def tensors(self) -> list[torch.Tensor]:
        """The tensors the branch holds (what its memory is)."""
        return [t for t in (self.sign_a, self.sign_b, self.scale_a, self.scale_b, self.scale_m) if t is not None]


@dataclass
class SignBranch(_Sections):
    """The module's signs as ±1 floats and its scales as float32."""

    sign_a: torch.Tensor  # [k, in]
    sign_b: torch.Tensor  # [k, out]
    scale_a: torch.Tensor | None  # [in]
    scale_b: torch.Tensor  # [out]
    scale_m: torch.Tensor  # [k]

    @classmethod
    def from_module(cls, m: Module, device: torch.device | None = None) -> SignBranch:
        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(device)
        return cls(tensor(m.sign_a), tensor(m.sign_b), None if m.scale_a is None else tensor(m.scale_a),
                   tensor(m.scale_b), tensor(m.scale_m))

    def apply(self, x: torch.Tensor, y: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """`y + ΔW·x` (added to `y` itself with `inplace`)."""
        h = x.to(torch.float32)
        if self.scale_a is not None:
            h = h * self.scale_a
        h = (h @ self.sign_a.T) * self.scale_m
        branch = ((h @ self.sign_b) * self.scale_b).to(y.dtype)
        return y.add_(branch) if inplace else y + branch

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(`diag(m)·S_A·diag(a)` `[k, in]`, `diag(b)·S_Bᵀ` `[out, k]`) in float32: the branch as LoRA factors."""
        return _factors(self.sign_a, self.sign_b, self.scale_a, self.scale_b, self.scale_m)


@dataclass
class PackedBranch(_Sections):
    """The module's sign rows packed (1 bit per entry) and its scales in the file's dtype."""

    sign_a: torch.Tensor  # uint8 [k, ⌈in/64⌉·8]
    sign_b: torch.Tensor  # uint8 [k, ⌈out/64⌉·8]
    scale_a: torch.Tensor | None  # [in], stored dtype
    scale_b: torch.Tensor  # [out], stored dtype
    scale_m: torch.Tensor  # float32 [k]
    in_features: int

    @classmethod
    def from_module(cls, m: Module, scale_dtype: torch.dtype) -> PackedBranch:
        return cls(_sign_rows(m.sign_a), _sign_rows(m.sign_b),
                   None if m.scale_a is None else _stored_scales(m.scale_a, scale_dtype),
                   _stored_scales(m.scale_b, scale_dtype),
                   torch.from_numpy(np.ascontiguousarray(m.scale_m, dtype=np.float32)), m.in_features)

    def apply(self, x: torch.Tensor, y: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """`y + ΔW·x`, added to `y` itself with `inplace` (inference: a fresh output as large as `y`
        costs page faults comparable to the branch itself)."""
        from lordba.torch import ops  # the compiled extension, loaded on first packed use

        if x.dtype != y.dtype or x.dtype not in ops.ACTIVATION_DTYPES:
            result = self.apply(x.float(), y.float()).to(y.dtype)
            return y.copy_(result) if inplace else result
        args = (self.sign_a, self.sign_b, self.scale_a, self.scale_b, self.scale_m)
        if not inplace:
            return ops.sign_gemm(x, y, *args)
        # Eager calls skip the dispatcher; a traced graph (torch.compile) gets the operator.
        (ops.sign_gemm_add_ if torch.compiler.is_compiling() else ops.add_branch_)(y, x, *args)
        return y

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(`diag(m)·S_A·diag(a)` `[k, in]`, `diag(b)·S_Bᵀ` `[out, k]`) in float32: the branch as LoRA factors."""
        return _factors(_unpack(self.sign_a, self.in_features), _unpack(self.sign_b, self.scale_b.shape[0]),
                        self.scale_a, self.scale_b, self.scale_m)


def _unpack(rows: torch.Tensor, n: int) -> torch.Tensor:
    """Packed sign rows `[k, ⌈n/64⌉·8]` as ±1 float32 `[k, n]`."""
    bits = np.unpackbits(rows.numpy(), axis=1, bitorder="little")[:, :n]
    return torch.from_numpy(1 - 2 * bits.astype(np.float32))


def _factors(sign_a: torch.Tensor, sign_b: torch.Tensor, scale_a: torch.Tensor | None, scale_b: torch.Tensor,
             scale_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = sign_a if scale_a is None else sign_a * scale_a.float()
    return scale_m.float()[:, None] * a, sign_b.T * scale_b.float()[:, None]
