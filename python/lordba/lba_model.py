"""The decoded content of a `.lba` file: modules, carried tensors, metadata (formats/lba.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .lba_format import NUMPY_DTYPES


@dataclass
class Module:
    """One LoRDBA module: `dW = B' @ A'` with `A' = diag(m) S_A diag(a)`, `B' = diag(b) S_B^T`."""

    name: str
    kind: str                      # "linear", "embedding" or "conv"
    kernel: list[int] | None       # conv only: the spatial kernel shape
    in_features: int
    out_features: int
    rank: int                      # the source LoRA rank r (informational)
    binary_rank: int               # k
    lora_scale: float              # s (informational: already folded into scale_m)
    source: dict[str, str]         # {"a", "b", "dtype"} and kohya's optional "alpha"
    sign_a: np.ndarray             # int8 ±1, [k, in]
    sign_b: np.ndarray             # int8 ±1, [k, out]
    scale_a: np.ndarray | None     # float32 [in], or None (all ones: compact scales)
    scale_b: np.ndarray            # float32 [out]
    scale_m: np.ndarray            # float32 [k], always stored as f32
    dora_magnitude: str | None = None   # the carried DoRA magnitude tensor's name

    def factors(self, fold_middle_into: str = "a") -> tuple[np.ndarray, np.ndarray]:
        """(A' [k, in], B' [out, k]) in float64 with `m` folded into A' (or into B' with "b")."""
        a = self.sign_a.astype(np.float64)
        if self.scale_a is not None:
            a = a * self.scale_a.astype(np.float64)[None, :]
        b = self.sign_b.T.astype(np.float64) * self.scale_b.astype(np.float64)[:, None]
        m = self.scale_m.astype(np.float64)
        if fold_middle_into == "a":
            a = a * m[:, None]
        else:
            b = b * m[None, :]
        return a, b

    def delta(self) -> np.ndarray:
        """The dense `dW = B' A'`, [out, in] (tests and small modules only)."""
        a, b = self.factors()
        return b @ a


@dataclass
class Carried:
    """A tensor of the source adapter carried through unchanged (its bytes as in the source)."""

    name: str
    dtype: str                     # a safetensors dtype
    shape: list[int]
    data: bytes
    role: str | None = None        # "magnitude", "modules_to_save", "bias", "other" or None

    def array(self) -> np.ndarray:
        """The tensor as a numpy array (BF16 widened to float32); sub-byte and 8-bit float types
        have no numpy dtype and raise ValueError (use `.data`)."""
        if self.dtype == "BF16":
            bits = np.frombuffer(self.data, dtype="<u2").astype(np.uint32) << 16
            return bits.view(np.float32).reshape(self.shape)
        if self.dtype not in NUMPY_DTYPES:
            raise ValueError(f"{self.name}: {self.dtype} has no numpy dtype")
        return np.frombuffer(self.data, dtype=NUMPY_DTYPES[self.dtype]).reshape(self.shape)


@dataclass
class LBAFile:
    """A read `.lba` (or content to write as one with `lordba.lba.write`)."""

    path: str
    version: tuple[int, int]
    layout: str                    # "peft", "mlx", "kohya" or "diffusers"
    scale_dtype: str               # storage of scale_a/scale_b: "e4m3", "f16", "bf16" or "f32"
    metadata: dict[str, str]
    modules: list[Module]
    carried: list[Carried]
    sections: list[dict[str, Any]]
    file_length: int
    table_length: int
    table: dict[str, Any] = field(repr=False, default_factory=dict)
    # How this file stored each payload: SHA-256 of the decoded bytes (section payloads and the
    # table's JSON) -> the zstd frame that held them, or None when they were stored raw. The
    # writer reuses these for identical payloads, so content written back unchanged gives the
    # original bytes whatever libzstd version made the frames.
    stored_forms: dict[bytes, bytes | None] = field(repr=False, default_factory=dict)

    def module(self, name: str) -> Module:
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(name)

    def carried_tensor(self, name: str) -> Carried:
        for t in self.carried:
            if t.name == name:
                return t
        raise KeyError(name)
