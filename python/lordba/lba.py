#!/usr/bin/env python3
"""Reference reader for LoRDBA `.lba` files, written from `formats/lba.md` alone.

Only numpy is needed. zstd-compressed sections are decoded by the system's libzstd through
ctypes (the library every `.lba` writer links; no Python package is involved).

    import lba
    f = lba.read("adapter.lba")          # verifies every check of spec section 8
    for m in f.modules:
        A, B = m.factors()                # A' [k, in], B' [out, k], dequantized, float64
        dW = B @ A                        # the module's delta (scale folded in)
    f.carried[0].array()                  # carried tensors as numpy arrays

    python3 -m lordba.lba FILE.lba   # prints a summary
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import sys
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAGIC = b"\x89LBA\r\n\x1a\n"
COMPRESSED_TABLE = 1            # preamble flag bit 0 (1.1)
MAX_TABLE = 64 << 20            # largest decoded table accepted
MAJOR = 1
MINOR = 1  # the newest minor version this reader knows
ALIGN = 64
MAX_INT = 2**63 - 1
ZSTD_RATIO = 32768
MAX_DIM = 2**31 - 1             # largest in, out, rank, binary_rank and carried dimension
DECODED_SLACK = 32 << 20        # step 10: decoded sections <= 64 x file length + 32 MiB
ZSTD_WINDOW_LOG_MAX = 27  # 128 MiB

DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}
NUMPY_DTYPES = {
    "BOOL": "?", "U8": "<u1", "I8": "<i1", "I16": "<i2", "U16": "<u2", "F16": "<f2", "I32": "<i4",
    "U32": "<u4", "F32": "<f4", "C64": "<c8", "F64": "<f8", "I64": "<i8", "U64": "<u8",
}
SCALE_WIDTH = {"f16": 2, "bf16": 2, "f32": 4, "e4m3": 1}
LAYOUTS = {"peft", "mlx", "kohya"}
KINDS = {"linear", "embedding", "conv"}
ROLES = {"magnitude", "modules_to_save", "bias", "other"}
MODULE_CONTENTS = ["sign_a", "sign_b", "scale_a", "scale_b", "scale_m"]
CONTENTS = set(MODULE_CONTENTS) | {"carried"}


class LBAError(ValueError):
    """The file is not a valid `.lba`; the message names the file and the part."""


# ---------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli, reflected 0x82F63B78), table driven, 8 bytes per step with numpy tables.

def _crc_tables() -> np.ndarray:
    tables = np.zeros((8, 256), dtype=np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tables[0, n] = c
    for k in range(1, 8):
        for n in range(256):
            prev = int(tables[k - 1, n])
            tables[k, n] = (prev >> 8) ^ int(tables[0, prev & 0xFF])
    return tables


_CRC = _crc_tables()
_CRC_LISTS = [list(map(int, t)) for t in _CRC]


def crc32c(data: bytes) -> int:
    t0, t1, t2, t3, t4, t5, t6, t7 = _CRC_LISTS
    crc = 0xFFFFFFFF
    n = len(data)
    whole = n - n % 8
    mv = memoryview(data)
    if whole:
        words = np.frombuffer(mv[:whole], dtype="<u8").tolist()
        for w in words:
            x = crc ^ (w & 0xFFFFFFFF)
            hi = w >> 32
            crc = (t7[x & 0xFF] ^ t6[(x >> 8) & 0xFF] ^ t5[(x >> 16) & 0xFF] ^ t4[x >> 24]
                   ^ t3[hi & 0xFF] ^ t2[(hi >> 8) & 0xFF] ^ t1[(hi >> 16) & 0xFF] ^ t0[hi >> 24])
    for b in data[whole:]:
        crc = (crc >> 8) ^ t0[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# zstd through the system library (ctypes).

class _Zstd:
    def __init__(self) -> None:
        name = ctypes.util.find_library("zstd") or "libzstd.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as error:  # pragma: no cover - depends on the machine
            raise LBAError(f"zstd sections need libzstd ({error})") from None
        lib.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
        lib.ZSTD_getFrameContentSize.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.ZSTD_findFrameCompressedSize.restype = ctypes.c_size_t
        lib.ZSTD_findFrameCompressedSize.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.ZSTD_isError.restype = ctypes.c_uint
        lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
        lib.ZSTD_createDCtx.restype = ctypes.c_void_p
        lib.ZSTD_freeDCtx.argtypes = [ctypes.c_void_p]
        lib.ZSTD_DCtx_setParameter.restype = ctypes.c_size_t
        lib.ZSTD_DCtx_setParameter.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.ZSTD_decompressDCtx.restype = ctypes.c_size_t
        lib.ZSTD_decompressDCtx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                            ctypes.c_void_p, ctypes.c_size_t]
        self.lib = lib

    def decode(self, stored: bytes, expected: int) -> bytes | str:
        """The decoded bytes, or a string saying what is wrong."""
        lib = self.lib
        size = lib.ZSTD_getFrameContentSize(stored, len(stored))
        if size >= 2**64 - 2:
            return "the zstd frame does not declare its content size"
        if size != expected:
            return f"the zstd frame declares {size} bytes, decoded_length is {expected}"
        frame = lib.ZSTD_findFrameCompressedSize(stored, len(stored))
        if lib.ZSTD_isError(frame):
            return "not a valid zstd frame"
        if frame != len(stored):
            return f"{len(stored) - frame} bytes follow the zstd frame"
        out = ctypes.create_string_buffer(max(expected, 1))
        ctx = lib.ZSTD_createDCtx()
        try:
            lib.ZSTD_DCtx_setParameter(ctx, 100, ZSTD_WINDOW_LOG_MAX)  # ZSTD_d_windowLogMax
            got = lib.ZSTD_decompressDCtx(ctx, out, expected, stored, len(stored))
        finally:
            lib.ZSTD_freeDCtx(ctx)
        if lib.ZSTD_isError(got):
            return "the zstd frame does not decode (corrupt, or a window above 128 MiB)"
        if got != expected:
            return f"the zstd frame decodes to {got} bytes, decoded_length is {expected}"
        return out.raw[:expected]


_zstd: _Zstd | None = None


# ---------------------------------------------------------------------------------------------
# Strict JSON (spec section 5).

class _Float(float):
    """A JSON number written with a fraction or an exponent (not an integer)."""


def _parse_json(text: bytes, path: str) -> Any:
    def fail(problem: str) -> LBAError:
        return LBAError(f"{path}: table: {problem}")

    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as error:
        raise fail(f"not valid UTF-8 ({error.reason} at byte {error.start})") from None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for key, value in items:
            key = _text(key)
            if isinstance(value, str):
                value = _text(value)
            if _nfc(key) in seen:
                raise fail(f"duplicate key {json.dumps(key)}")
            seen.add(_nfc(key))
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise fail(f"{name} is not a JSON number")

    def integer(token: str) -> int:
        return int(token)

    try:
        value = json.loads(decoded, object_pairs_hook=pairs, parse_constant=constant,
                           parse_float=lambda s: _Float(s), parse_int=integer)
    except LBAError:
        raise
    except (ValueError, RecursionError) as error:
        raise fail(f"invalid JSON ({error})") from None
    depth = _depth(value)
    if depth > 32:
        raise fail(f"nested {depth} levels deep (at most 32)")
    return value


def _text(s: str) -> str:
    """Lone surrogates (from escapes such as \\ud800 without a partner) become U+FFFD (spec 5)."""
    if any("\ud800" <= ch <= "\udfff" for ch in s):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in s)
    return s


def _nfc(s: str) -> str:
    """Names are compared after NFC normalization (spec 5)."""
    return unicodedata.normalize("NFC", s)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


# ---------------------------------------------------------------------------------------------
# The decoded file.

@dataclass
class Module:
    """One LoRDBA module: `dW = B' @ A'` with `A' = diag(m) S_A diag(a)`, `B' = diag(b) S_B^T`."""

    name: str
    kind: str
    kernel: list[int] | None
    in_features: int
    out_features: int
    rank: int
    binary_rank: int
    lora_scale: float
    source: dict[str, str]
    sign_a: np.ndarray  # int8 +-1, [k, in]
    sign_b: np.ndarray  # int8 +-1, [k, out]
    scale_a: np.ndarray | None  # float32 [in] or None (all ones)
    scale_b: np.ndarray  # float32 [out]
    scale_m: np.ndarray  # float32 [k]
    dora_magnitude: str | None = None

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
    name: str
    dtype: str
    shape: list[int]
    data: bytes
    role: str | None = None

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
    path: str
    version: tuple[int, int]
    layout: str
    scale_dtype: str
    metadata: dict[str, str]
    modules: list[Module]
    carried: list[Carried]
    sections: list[dict[str, Any]]
    file_length: int
    table_length: int
    table: dict[str, Any] = field(repr=False, default_factory=dict)

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


# ---------------------------------------------------------------------------------------------
# Reading.

def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _u16(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 2], "little")


def _u32(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 4], "little")


def _u64(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 8], "little")


def _sign_bytes(rows: int, cols: int) -> int:
    return rows * ((cols + 63) // 64) * 8


def read(path: str) -> LBAFile:
    """Reads and fully validates the `.lba` at `path`."""
    with open(path, "rb") as handle:
        data = handle.read()
    return parse(data, path)


def parse(data: bytes, path: str = "<memory>") -> LBAFile:
    """Validates and decodes the bytes of a `.lba` file (every check of spec section 8)."""
    def fail(context: str, problem: str) -> LBAError:
        return LBAError(f"{path}: {context}: {problem}")

    size = len(data)
    # 1. signature and size
    if data[:min(size, 8)] != MAGIC[:min(size, 8)]:
        raise LBAError(f"{path}: not a .lba file (bad magic)")
    if size < 64:
        raise fail("preamble", f"truncated: {size} bytes, a preamble needs 64")
    # 2. version
    major, minor = _u16(data, 8), _u16(data, 10)
    if major != MAJOR:
        raise fail("preamble", f"unsupported format version {major}.{minor}")
    # 3. preamble CRC
    if crc32c(data[:60]) != _u32(data, 60):
        raise fail("preamble", "checksum mismatch")
    # 4. flags and reserved bytes (1.1: bit 0 = the table is one zstd frame, its JSON length at 44)
    flags = _u32(data, 12)
    if flags & ~COMPRESSED_TABLE or (flags and minor < 1):
        raise fail("preamble", f"unknown flags 0x{flags:08x}")
    table_decoded_length = _u64(data, 44)
    if any(data[52:60]) or (not flags and table_decoded_length):
        raise fail("preamble", "reserved bytes are not zero")
    # 5. offsets and lengths
    table_offset, table_length, file_length = _u64(data, 16), _u64(data, 24), _u64(data, 32)
    if table_offset != 64:
        raise fail("preamble", f"table offset {table_offset}, must be 64")
    if file_length > size:
        raise fail("file", f"truncated: {size} bytes, the preamble declares {file_length}")
    if file_length != size:
        raise fail("file", f"{size - file_length} bytes of trailing data after the declared length {file_length}")
    if file_length % ALIGN:
        raise fail("preamble", f"file length {file_length} is not a multiple of 64")
    if not 1 <= table_length <= file_length - 64:
        raise fail("preamble", f"table length {table_length} does not fit in a file of {file_length} bytes")
    # 6. table CRC
    table_bytes = data[64:64 + table_length]
    if crc32c(table_bytes) != _u32(data, 40):
        raise fail("table", "checksum mismatch")
    if flags:
        if not 1 <= table_decoded_length <= MAX_TABLE or table_decoded_length > 32768 * table_length:
            raise fail("preamble", f"compressed table decodes to {table_decoded_length} bytes")
        global _zstd
        if _zstd is None:
            _zstd = _Zstd()
        out = _zstd.decode(table_bytes, table_decoded_length)
        if isinstance(out, str):
            raise fail("table", out)
        table_bytes = out
    # 7. the table
    table = _parse_json(table_bytes, path)
    t = _Table(path, (major, minor), table)
    t.read()
    # 9. placement
    cursor = 64 + table_length
    for index, s in enumerate(t.sections):
        expected = _aligned(cursor)
        if any(data[cursor:min(expected, file_length)]):
            raise fail(f"padding before section {index}", "nonzero byte")
        if s["offset"] != expected:
            raise fail(f"section {index}", f"offset {s['offset']}, expected {expected}")
        end = s["offset"] + s["length"]
        if end > file_length:
            raise fail(f"section {index}", f"runs past the end of the {file_length}-byte file")
        cursor = end
    if _aligned(cursor) != file_length:
        raise fail("file", f"contents end at {cursor}, so the file must be {_aligned(cursor)} bytes, not {file_length}")
    if any(data[cursor:file_length]):
        raise fail("padding at the end of the file", "nonzero byte")
    # 10. total decoded size (scale sections at 4 bytes per value), before anything is decoded
    total = 0
    for s in t.sections:
        if s["content"] in ("scale_a", "scale_b"):
            total += s["decoded_length"] // SCALE_WIDTH[t.scale_dtype] * 4
        elif s["content"] in CONTENTS:
            total += s["decoded_length"]
    if total > 64 * file_length + DECODED_SLACK:
        raise fail("file", f"sections decode to more than 64 × the file's {file_length} bytes + 32 MiB")
    # 11, 12. section CRCs and zstd frames
    decoded: list[bytes] = []
    for index, s in enumerate(t.sections):
        stored = data[s["offset"]:s["offset"] + s["length"]]
        if crc32c(stored) != s["crc32c"]:
            raise fail(f"section {index} ({s['content']})", "checksum mismatch")
        if s["encoding"] == "zstd":
            if _zstd is None:
                _zstd = _Zstd()
            out = _zstd.decode(stored, s["decoded_length"])
            if isinstance(out, str):
                raise fail(f"section {index} ({s['content']})", out)
            decoded.append(out)
        else:
            decoded.append(stored)
    # 13, 14. sign padding bits, finite scales, and decoding
    return t.build(decoded, size)


class _Table:
    """Spec section 5: members, types, ranges, enumerations, cross-references, shapes."""

    def __init__(self, path: str, version: tuple[int, int], table: Any) -> None:
        self.path = path
        self.version = version
        self.table = table
        self.strict = version[1] <= MINOR

    def fail(self, context: str, problem: str) -> LBAError:
        return LBAError(f"{self.path}: {context}: {problem}")

    def members(self, value: Any, context: str, required: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(context, f"expected an object, found {type(value).__name__}")
        known = set(required) | set(optional)
        if self.strict:
            for key in value:
                if key not in known:
                    raise self.fail(context, f"unknown member {json.dumps(key)}")
        out = {}
        for key, kind in required.items():
            if key not in value:
                raise self.fail(context, f"missing member {json.dumps(key)}")
            out[key] = self.typed(value[key], kind, context, key)
        for key, kind in optional.items():
            if key in value:
                out[key] = self.typed(value[key], kind, context, key)
        return out

    def typed(self, value: Any, kind: Any, context: str, key: str) -> Any:
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or isinstance(value, _Float):
                raise self.fail(context, f"member {json.dumps(key)} must be an integer")
            if not 0 <= value <= MAX_INT:
                raise self.fail(context, f"member {json.dumps(key)} is out of range ({value})")
            return value
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
                raise self.fail(context, f"member {json.dumps(key)} must be a finite number")
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                raise self.fail(context, f"member {json.dumps(key)} must be a string")
            return value
        if kind == "list":
            if not isinstance(value, list):
                raise self.fail(context, f"member {json.dumps(key)} must be an array")
            return value
        if kind == "obj":
            if not isinstance(value, dict):
                raise self.fail(context, f"member {json.dumps(key)} must be an object")
            return value
        raise AssertionError(kind)

    def read(self) -> None:
        has_roles = self.version[1] >= 1
        root = self.members(self.table, "table",
                            {"format": "str", "version": "list", "layout": "str", "scale_dtype": "str",
                             "metadata": "obj", "modules": "list", "carried": "list", "sections": "list"}, {})
        if root["format"] != "lba":
            raise self.fail("table", f"format is {json.dumps(root['format'])}, expected \"lba\"")
        v = root["version"]
        if (len(v) != 2 or any(isinstance(x, (bool, _Float)) or not isinstance(x, int) for x in v)
                or tuple(v) != self.version):
            raise self.fail("table", f"version {v} does not match the preamble's {self.version}")
        if root["layout"] not in LAYOUTS:
            raise self.fail("table", f"unknown layout {json.dumps(root['layout'])}")
        if root["scale_dtype"] not in SCALE_WIDTH:
            raise self.fail("table", f"unknown scale_dtype {json.dumps(root['scale_dtype'])}")
        self.layout = root["layout"]
        self.scale_dtype = root["scale_dtype"]
        width = SCALE_WIDTH[self.scale_dtype]
        for key, value in root["metadata"].items():
            if not isinstance(value, str):
                raise self.fail("table", f"metadata {json.dumps(key)} is not a string")
            if "\x00" in key:
                raise self.fail("table", f"metadata key {json.dumps(key)} holds U+0000")
        self.metadata = dict(root["metadata"])

        sections = []
        for index, value in enumerate(root["sections"]):
            context = f"section {index}"
            if not isinstance(value, dict) or not isinstance(value.get("content"), str):
                raise self.fail(context, "needs a string member \"content\"")
            content = value["content"]
            owner_key = {"carried": "tensor"}.get(content, "module")
            if content not in CONTENTS:
                if self.strict:
                    raise self.fail(context, f"unknown content {json.dumps(content)}")
                owner = {}
            else:
                owner = {owner_key: "int"}
            s = self.members(value, context, {"content": "str", **owner, "offset": "int", "length": "int",
                                               "decoded_length": "int", "encoding": "str", "crc32c": "int"}, {})
            if s["crc32c"] > 0xFFFFFFFF:
                raise self.fail(context, "crc32c does not fit in 32 bits")
            if s["encoding"] not in ("raw", "zstd"):
                raise self.fail(context, f"unknown encoding {json.dumps(s['encoding'])}")
            if s["encoding"] == "raw" and s["length"] != s["decoded_length"]:
                raise self.fail(context, "raw section whose length differs from decoded_length")
            if s["encoding"] == "zstd" and (s["length"] == 0 or s["decoded_length"] > ZSTD_RATIO * s["length"]):
                raise self.fail(context, f"decoded_length {s['decoded_length']} is impossible for {s['length']} bytes of zstd")
            s["owner"] = s.get(owner_key) if content in CONTENTS else None
            s["claimed"] = False
            sections.append(s)
        self.sections = sections

        def claim(index: int, content: str, owner: int, context: str) -> dict[str, Any]:
            if index >= len(sections):
                raise self.fail(context, f"{content} refers to section {index}, but there are {len(sections)}")
            s = sections[index]
            if s["content"] != content or s["owner"] != owner:
                raise self.fail(context, f"{content} refers to section {index}, which holds {s['content']} of another owner")
            if s["claimed"]:
                raise self.fail(context, f"section {index} is used twice")
            s["claimed"] = True
            return s

        modules = []
        if not root["modules"]:
            raise self.fail("table", "the module list is empty")
        names: set[str] = set()
        for index, value in enumerate(root["modules"]):
            context = f"module {index}"
            optional: dict[str, Any] = {"kernel": "list"}
            if has_roles:
                optional["dora"] = "obj"
            m = self.members(value, context, {"name": "str", "kind": "str", "in": "int", "out": "int", "rank": "int",
                                               "binary_rank": "int", "lora_scale": "number", "source": "obj",
                                               "sections": "obj"}, optional)
            context = f"module {json.dumps(m['name'])}"
            if _nfc(m["name"]) in names:
                raise self.fail(context, "duplicate module name")
            names.add(_nfc(m["name"]))
            for key in ("in", "out", "rank", "binary_rank"):
                if not 1 <= m[key] <= MAX_DIM:
                    raise self.fail(context, f"{key} = {m[key]} is outside 1…{MAX_DIM}")
            if m["binary_rank"] > 64 * m["rank"]:
                raise self.fail(context, f"binary_rank = {m['binary_rank']} is above 64 × rank = {64 * m['rank']}")
            if not float(m["lora_scale"]) > 0:
                raise self.fail(context, f"lora_scale = {m['lora_scale']} must be finite and above 0")
            if m["kind"] not in KINDS:
                raise self.fail(context, f"unknown kind {json.dumps(m['kind'])}")
            if m["kind"] == "conv":
                kernel = m.get("kernel")
                if kernel is None:
                    raise self.fail(context, "conv module without kernel")
                if any(isinstance(k, (bool, _Float)) or not isinstance(k, int) or k < 1 for k in kernel):
                    raise self.fail(context, "kernel entries must be integers >= 1")
                product = math.prod(kernel)
                if m["in"] % product:
                    raise self.fail(context, f"kernel {kernel} does not divide in = {m['in']}")
            elif "kernel" in m:
                raise self.fail(context, "kernel is only for conv modules")
            m["source"] = self.members(m["source"], context + " source", {"a": "str", "b": "str", "dtype": "str"},
                                       {"alpha": "str"})
            if m["source"]["dtype"] not in DTYPE_BITS:
                raise self.fail(context, f"unknown source dtype {json.dumps(m['source']['dtype'])}")
            refs = self.members(m["sections"], context + " sections",
                                {"sign_a": "int", "sign_b": "int", "scale_b": "int", "scale_m": "int"},
                                {"scale_a": "int"})
            k, n_in, n_out = m["binary_rank"], m["in"], m["out"]
            expected = {"sign_a": _sign_bytes(k, n_in), "sign_b": _sign_bytes(k, n_out),
                        "scale_a": n_in * width, "scale_b": n_out * width, "scale_m": k * 4}
            for content in MODULE_CONTENTS:
                if content in refs:
                    s = claim(refs[content], content, index, context)
                    if s["decoded_length"] != expected[content]:
                        raise self.fail(f"section {refs[content]} ({content})",
                                        f"holds {s['decoded_length']} bytes, the shapes need {expected[content]}")
            m["refs"] = refs
            if "dora" in m:
                d = self.members(m["dora"], context + " dora", {"magnitude": "str"}, {})
                m["dora"] = d["magnitude"]
            modules.append(m)
        self.modules = modules

        carried = []
        tensor_names: set[str] = set()
        for index, value in enumerate(root["carried"]):
            context = f"carried tensor {index}"
            optional = {"role": "str"} if has_roles else {}
            c = self.members(value, context, {"name": "str", "dtype": "str", "shape": "list", "section": "int"},
                             optional)
            context = f"carried tensor {json.dumps(c['name'])}"
            if _nfc(c["name"]) in tensor_names:
                raise self.fail(context, "duplicate carried tensor name")
            tensor_names.add(_nfc(c["name"]))
            if c["dtype"] not in DTYPE_BITS:
                raise self.fail(context, f"unknown dtype {json.dumps(c['dtype'])}")
            if "role" in c and c["role"] not in ROLES:
                raise self.fail(context, f"unknown role {json.dumps(c['role'])}")
            shape = c["shape"]
            if any(isinstance(d, (bool, _Float)) or not isinstance(d, int) or d < 0 for d in shape):
                raise self.fail(context, "shape entries must be non-negative integers")
            if any(d > MAX_DIM for d in shape):
                raise self.fail(context, f"a dimension of {shape} is above {MAX_DIM}")
            bits = math.prod(shape) * DTYPE_BITS[c["dtype"]]
            s = claim(c["section"], "carried", index, context)
            if bits % 8 or s["decoded_length"] != bits // 8:
                raise self.fail(f"section {c['section']} (carried)",
                                f"holds {s['decoded_length']} bytes, {c['dtype']} {shape} needs {bits / 8:g}")
            carried.append(c)
        self.carried = carried

        for m in modules:
            if "dora" not in m:
                continue
            context = f"module {json.dumps(m['name'])} dora"
            match = [c for c in carried if c["name"] == m["dora"]]
            if not match:
                raise self.fail(context, f"magnitude {json.dumps(m['dora'])} is not a carried tensor")
            if match[0].get("role") != "magnitude":
                raise self.fail(context, f"magnitude {json.dumps(m['dora'])} does not have role \"magnitude\"")
            if math.prod(match[0]["shape"]) != m["out"]:
                raise self.fail(context, f"magnitude has {math.prod(match[0]['shape'])} elements, out = {m['out']}")
        owners = [m["dora"] for m in modules if "dora" in m]
        if len(owners) != len(set(owners)):
            raise self.fail("modules", "a DoRA magnitude is used by two modules")

        for index, s in enumerate(sections):
            if s["content"] in CONTENTS and not s["claimed"]:
                raise self.fail(f"section {index}", "not referenced by its owner")

    def build(self, decoded: list[bytes], size: int) -> LBAFile:
        modules = []
        for m in self.modules:
            refs = m["refs"]
            k = m["binary_rank"]
            sign_a = _signs(decoded[refs["sign_a"]], k, m["in"], self, refs["sign_a"])
            sign_b = _signs(decoded[refs["sign_b"]], k, m["out"], self, refs["sign_b"])
            scale_a = _scales(decoded[refs["scale_a"]], self.scale_dtype) if "scale_a" in refs else None
            scale_b = _scales(decoded[refs["scale_b"]], self.scale_dtype)
            scale_m = _scales(decoded[refs["scale_m"]], "f32")
            for content, values in (("scale_a", scale_a), ("scale_b", scale_b), ("scale_m", scale_m)):
                if values is not None and not np.isfinite(values).all():
                    bad = int(np.nonzero(~np.isfinite(values))[0][0])
                    raise self.fail(f"module {json.dumps(m['name'])} {content} (section {refs[content]})",
                                    f"value {bad} is {values[bad]} (scales must be finite)")
            modules.append(Module(
                name=m["name"], kind=m["kind"], kernel=m.get("kernel"), in_features=m["in"], out_features=m["out"],
                rank=m["rank"], binary_rank=k, lora_scale=m["lora_scale"], source=m["source"],
                sign_a=sign_a, sign_b=sign_b, scale_a=scale_a,
                scale_b=scale_b, scale_m=scale_m, dora_magnitude=m.get("dora")))
        carried = [Carried(name=c["name"], dtype=c["dtype"], shape=list(c["shape"]), data=decoded[c["section"]],
                           role=c.get("role")) for c in self.carried]
        sections = [{k: v for k, v in s.items() if k != "claimed"} for s in self.sections]
        return LBAFile(path=self.path, version=self.version, layout=self.layout, scale_dtype=self.scale_dtype,
                       metadata=self.metadata, modules=modules, carried=carried, sections=sections,
                       file_length=size, table_length=0, table=self.table)


def _signs(raw: bytes, rows: int, cols: int, table: _Table, index: int) -> np.ndarray:
    wpr = (cols + 63) // 64
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little").reshape(rows, wpr * 64)
    if rows and bits[:, cols:].any():
        row = int(np.nonzero(bits[:, cols:].any(axis=1))[0][0])
        raise table.fail(f"section {index}", f"sign row {row} has a padding bit set")
    return (1 - 2 * bits[:, :cols].astype(np.int8)).astype(np.int8)


def e4m3_to_float(codes: np.ndarray) -> np.ndarray:
    """OCP E4M3FN: bias 7, subnormals m*2^-9, 0x7F/0xFF NaN, no infinity."""
    codes = codes.astype(np.int32)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exponent = (codes >> 3) & 0xF
    mantissa = codes & 0x7
    value = np.where(exponent == 0, mantissa * 2.0 ** -9, (1 + mantissa / 8.0) * 2.0 ** (exponent - 7.0))
    value = np.where((codes & 0x7F) == 0x7F, np.nan, value)
    return (sign * value).astype(np.float32)


def _scales(raw: bytes, dtype: str) -> np.ndarray:
    if dtype == "f16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if dtype == "bf16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    if dtype == "f32":
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return e4m3_to_float(np.frombuffer(raw, dtype=np.uint8))


# ---------------------------------------------------------------------------------------------

def summary(f: LBAFile) -> str:
    lines = [f"{f.path}: .lba {f.version[0]}.{f.version[1]}, {f.file_length} bytes, layout {f.layout}, "
             f"scales {f.scale_dtype}; {len(f.modules)} modules, {len(f.carried)} carried tensors; all checks passed"]
    for key in sorted(f.metadata):
        value = f.metadata[key]
        lines.append(f"  metadata {key} = {value if len(value) <= 80 else value[:77] + '...'}")
    for m in f.modules:
        extra = f" dora({m.dora_magnitude})" if m.dora_magnitude else ""
        kernel = f" kernel {m.kernel}" if m.kernel else ""
        lines.append(f"  {m.name}: {m.kind}{kernel} {m.in_features}->{m.out_features} r={m.rank} k={m.binary_rank} "
                     f"s={m.lora_scale:g}{' compact' if m.scale_a is None else ''}{extra}")
    for c in f.carried:
        lines.append(f"  carried {c.name}: {c.dtype} {c.shape}" + (f" role {c.role}" if c.role else ""))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: python3 lba.py FILE.lba", file=sys.stderr)
        return 64
    try:
        f = read(argv[1])
    except (LBAError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        print(summary(f))
    except BrokenPipeError:  # e.g. piped into head
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
