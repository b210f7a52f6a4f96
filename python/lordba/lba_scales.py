"""Scale values as a `.lba` stores them (formats/lba.md 6.3): e4m3, f16, bf16 or f32, little
endian, rounded to nearest with ties to even (e4m3 saturating at ±448), exactly as the Swift
writer rounds them (`ScaleDType`, `E4M3.bits`, `BFloat16Bits.bits`)."""

from __future__ import annotations

import numpy as np

from .lba_format import SCALE_WIDTH, LBAError

_LARGEST = {"f16": 65504.0, "bf16": float(np.array(0x7F7F0000, dtype=np.uint32).view(np.float32)),
            "f32": float(np.finfo(np.float32).max), "e4m3": 448.0}


def e4m3_to_float(codes: np.ndarray) -> np.ndarray:
    """OCP E4M3FN: bias 7, subnormals m*2^-9, 0x7F/0xFF NaN, no infinity."""
    codes = codes.astype(np.int32)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exponent = (codes >> 3) & 0xF
    mantissa = codes & 0x7
    value = np.where(exponent == 0, mantissa * 2.0 ** -9, (1 + mantissa / 8.0) * 2.0 ** (exponent - 7.0))
    value = np.where((codes & 0x7F) == 0x7F, np.nan, value)
    return (sign * value).astype(np.float32)


def _e4m3_codes(values: np.ndarray) -> np.ndarray:
    """The nearest E4M3 codes (ties to even), saturating to ±448 (finite inputs)."""
    raw = values.view(np.uint32)
    magnitude = raw & np.uint32(0x7FFFFFFF)
    sign = ((raw >> np.uint32(24)) & np.uint32(0x80)).astype(np.uint8)
    normal = ((magnitude + np.uint32(0x7FFFF) + ((magnitude >> np.uint32(20)) & np.uint32(1))) >> np.uint32(20))
    normal = (normal.astype(np.int64) - (120 << 3)).clip(0, 0x7E).astype(np.uint8)
    steps = np.rint(magnitude.view(np.float32) * np.float32(512)).clip(0, 8).astype(np.uint8)
    code = np.where(magnitude >= 0x43E00000, np.uint8(0x7E), np.where(magnitude >= 0x3C800000, normal, steps))
    return (sign | code).astype(np.uint8)


def _bf16_bits(values: np.ndarray) -> np.ndarray:
    raw = values.view(np.uint32).astype(np.uint64)
    return ((raw + 0x7FFF + ((raw >> 16) & 1)) >> 16).astype(np.uint16)


def stored(values: np.ndarray, dtype: str) -> tuple[np.ndarray, str | None]:
    """The stored form of `values` (float32) in `dtype` — uint8 codes, uint16 bits or float32 —
    and a description of the first value that cannot be stored (non-finite, or non-finite
    once rounded: an f16 scale above 65504 is refused, not stored as infinity), else None."""
    if dtype not in SCALE_WIDTH:
        raise LBAError(f"unknown scale dtype {dtype!r} (one of {', '.join(SCALE_WIDTH)})")
    values = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    bad = ~np.isfinite(values)
    if dtype == "f16":
        with np.errstate(over="ignore"):
            out = values.astype("<f2")
        bad |= ~np.isfinite(out)
    elif dtype == "bf16":
        out = _bf16_bits(values).astype("<u2")
        bad |= (out & 0x7F80) == 0x7F80
    elif dtype == "f32":
        out = values.astype("<f4")
    else:
        out = _e4m3_codes(values)
    problem = None
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        problem = (f"value {index} is {float(values[index])!r}, not finite in {dtype} "
                   f"(largest {_LARGEST[dtype]:g})")
    return out, problem


def decode(raw: bytes | np.ndarray, dtype: str) -> np.ndarray:
    """Stored scale bytes (or the array `stored` returns) as float32."""
    if dtype == "f16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if dtype == "bf16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    if dtype == "f32":
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return e4m3_to_float(np.frombuffer(raw, dtype=np.uint8))


def quantize_scales(values: np.ndarray, dtype: str) -> np.ndarray:
    """`values` (taken as float32) rounded exactly as a `.lba` of `scale_dtype` `dtype` stores
    them ("e4m3", "f16", "bf16" or "f32"), as float32.

    Raises LBAError for a value that cannot be stored: NaN or ±∞, or a finite value that rounds
    to infinity (f16 above 65504, bf16 above its largest); e4m3 saturates finite values at ±448.
    """
    out, problem = stored(values, dtype)
    if problem:
        raise LBAError(f"scales: {problem}")
    return decode(out.tobytes(), dtype).reshape(np.shape(values))
