"""What the writer refuses: content a reader would reject or could not reproduce (the checks of
formats/lba.md sections 5–8 and the Swift `LBAWriter.validate`), each a one-line LBAError
naming the file, the module or tensor, and the problem."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from . import _json, lba_scales
from .lba_format import (DTYPE_BITS, KINDS, LAYOUTS, MAX_BINARY_RANK_MULTIPLE, MAX_DIM, ROLES, SCALE_WIDTH, LBAError,
                         SourceKey, bounded_product, tensor_bytes)
from .lba_model import Carried, LBAFile, Module


def validate(f: LBAFile, path: str) -> tuple[list[Module], list[Carried]]:
    """Checks `f`; returns its modules and carried tensors sorted as writers sort them (by
    NFC-normalized name, comparing Unicode scalar values)."""
    def fail(context: str, problem: str) -> LBAError:
        return LBAError(f"{path}: {context}: {problem}")

    if f.layout not in LAYOUTS:
        raise fail("table", f"unknown layout {json.dumps(f.layout)} (one of {', '.join(sorted(LAYOUTS))})")
    if f.scale_dtype not in SCALE_WIDTH:
        raise fail("table", f"unknown scale_dtype {json.dumps(f.scale_dtype)} (one of {', '.join(SCALE_WIDTH)})")
    keys: set[str] = set()
    for key, value in f.metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise fail("metadata", f"{key!r} = {value!r}: keys and values must be strings")
        _text(key, fail, "metadata", "key")
        _text(value, fail, "metadata", f"value of {json.dumps(key)}")
        if "\x00" in key:
            raise fail("metadata", f"key {json.dumps(key)} holds a NUL character")
        if _json.nfc(key) in keys:
            raise fail("metadata", f"key {json.dumps(key)} appears twice (after NFC normalization)")
        keys.add(_json.nfc(key))
    if not f.modules:
        raise fail("table", "an adapter needs at least one module")
    names: set[str] = set()
    for m in f.modules:
        _check_module(m, f.scale_dtype, names, fail)
    tensor_names: set[str] = set()
    for c in f.carried:
        _check_carried(c, tensor_names, fail)
    magnitudes = {_json.nfc(c.name): c for c in f.carried}
    owners: set[str] = set()
    for m in f.modules:
        if m.dora_magnitude is None:
            continue
        context = f"module {json.dumps(m.name)} dora"
        _text(m.dora_magnitude, fail, context, "magnitude")
        tensor = magnitudes.get(_json.nfc(m.dora_magnitude))
        if tensor is None or tensor.role != "magnitude":
            raise fail(context, f"magnitude {json.dumps(m.dora_magnitude)} is not a carried tensor of role \"magnitude\"")
        if bounded_product(list(tensor.shape)) != m.out_features:
            raise fail(context, f"magnitude has shape {tensor.shape}, out = {m.out_features} elements")
        if _json.nfc(m.dora_magnitude) in owners:
            raise fail(context, f"magnitude {json.dumps(m.dora_magnitude)} is used by two modules")
        owners.add(_json.nfc(m.dora_magnitude))
    return (sorted(f.modules, key=lambda m: _json.nfc(m.name)), sorted(f.carried, key=lambda c: _json.nfc(c.name)))


def _text(value: Any, fail, context: str, what: str) -> None:
    if not isinstance(value, str):
        raise fail(context, f"{what} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise fail(context, f"{what} {value!r} is not Unicode text (a lone surrogate)") from None


def _dimension(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 1 <= value <= MAX_DIM


def _unique(name: Any, names: set[str], fail, what: str) -> str:
    """The message context of `what` (module, carried tensor) `name`, a new name (after NFC)."""
    _text(name, fail, what, "name")
    context = f"{what} {json.dumps(name)}"
    if _json.nfc(name) in names:
        raise fail(context, f"duplicate {what} name")
    names.add(_json.nfc(name))
    return context


def _check_module(m: Module, scale_dtype: str, names: set[str], fail) -> None:
    context = _unique(m.name, names, fail, "module")
    if m.kind not in KINDS:
        raise fail(context, f"unknown kind {json.dumps(m.kind)} (one of {', '.join(sorted(KINDS))})")
    for label, value in (("in", m.in_features), ("out", m.out_features), ("rank", m.rank),
                         ("binary_rank", m.binary_rank)):
        if not _dimension(value):
            raise fail(context, f"{label} = {value} is outside 1…{MAX_DIM}")
    if m.binary_rank > MAX_BINARY_RANK_MULTIPLE * m.rank:
        raise fail(context, f"binary_rank = {m.binary_rank} is above {MAX_BINARY_RANK_MULTIPLE} × rank = "
                            f"{MAX_BINARY_RANK_MULTIPLE * m.rank}")
    if isinstance(m.lora_scale, bool) or not math.isfinite(float(m.lora_scale)) or not float(m.lora_scale) > 0:
        raise fail(context, f"lora_scale = {m.lora_scale} must be finite and above 0")
    if m.kind == "conv":
        if not m.kernel or not all(_dimension(k) for k in m.kernel):
            raise fail(context, f"conv kernel {m.kernel} needs entries from 1 to {MAX_DIM}")
        size = bounded_product(list(m.kernel))
        if size is None or m.in_features % size:
            raise fail(context, f"kernel {m.kernel} does not divide in = {m.in_features}")
    elif m.kernel is not None:
        raise fail(context, "kernel is only for conv modules")
    if not isinstance(m.source, dict) or any(key not in m.source for key in (SourceKey.A, SourceKey.B, SourceKey.DTYPE)):
        raise fail(context, "source needs \"a\", \"b\" and \"dtype\"")
    for key in (SourceKey.A, SourceKey.B, SourceKey.ALPHA, SourceKey.DTYPE):
        if m.source.get(key) is not None:
            _text(m.source[key], fail, context, f"source {key}")
    if m.source[SourceKey.DTYPE] not in DTYPE_BITS:
        raise fail(context, f"unknown source dtype {json.dumps(m.source[SourceKey.DTYPE])}")
    k = m.binary_rank
    for label, signs, cols in (("sign_a", m.sign_a, m.in_features), ("sign_b", m.sign_b, m.out_features)):
        signs = np.asarray(signs)
        if signs.shape != (k, cols):
            raise fail(context, f"{label} has shape {list(signs.shape)}, binary_rank and the features need [{k}, {cols}]")
        if not np.isin(signs, (-1, 1)).all():
            raise fail(context, f"{label} holds values other than +1 and -1")
    for label, values, count, dtype in (("scale_a", m.scale_a, m.in_features, scale_dtype),
                                        ("scale_b", m.scale_b, m.out_features, scale_dtype),
                                        ("scale_m", m.scale_m, k, "f32")):
        if values is None:
            if label == "scale_a":
                continue
            raise fail(context, f"{label} is missing")
        if np.shape(values) != (count,):
            raise fail(context, f"{label} has shape {list(np.shape(values))}, expected [{count}]")
        problem = lba_scales.stored(np.asarray(values), dtype)[1]
        if problem:
            raise fail(context, f"{label} {problem}")


def _check_carried(c: Carried, names: set[str], fail) -> None:
    context = _unique(c.name, names, fail, "carried tensor")
    if c.dtype not in DTYPE_BITS:
        raise fail(context, f"unknown dtype {json.dumps(c.dtype)}")
    if c.role is not None and c.role not in ROLES:
        raise fail(context, f"unknown role {json.dumps(c.role)} (one of {', '.join(sorted(ROLES))})")
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 0 <= d <= MAX_DIM for d in c.shape):
        raise fail(context, f"shape {c.shape} needs integer dimensions from 0 to {MAX_DIM}")
    expected = tensor_bytes(list(c.shape), c.dtype)
    if expected is None or len(c.data) != expected:
        raise fail(context, f"{len(c.data)} bytes for {c.dtype} shape {c.shape} (expected {expected})")
