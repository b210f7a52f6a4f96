"""Structure-aware mutations of `.lba` files for fuzzing the Python reader (`fuzz_reader.py`).

A file is taken apart into its table (JSON) and its sections' stored bytes, one part is
changed — a table member, a section's payload, a zstd frame's header or blocks, the section
list, a preamble field, the size, or raw bytes — and the file is put back together with its
CRCs, lengths and offsets recomputed unless the mutation is about them, so most mutants pass
the checksums and reach the deep checks (steps 7–14 of formats/lba.md section 8).
"""

from __future__ import annotations

import functools
import json
import random
import struct
from typing import Any, Callable

import numpy as np
import zstandard

from lordba import lba
from lordba._crc32c import crc32c as _crc32c
from lordba.lba_format import aligned

crc32c = functools.lru_cache(maxsize=4096)(_crc32c)   # most mutants keep most sections

INTS = [0, 1, 2, 3, 7, 8, 63, 64, 65, 127, 128, 255, 256, 4096, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
        2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64, -1, -64]
ODD_VALUES: list[Any] = [None, True, False, "", "x", "e\u0301", "\u00e9", "\ud800", "linear", "conv", "embedding",
                         "zstd", "raw", "carried", "magnitude", "diffusers", "F16", "BF16", "F4", [], {}, [1], {"a": 1},
                         1.0, 0.5, 1e300, -0.0]


def _decompress(frame: bytes) -> bytes:
    """A frame's content when it declares at most 1 MiB (the mutator's own bound)."""
    if not 0 <= zstandard.frame_content_size(frame) <= 1 << 20:
        raise zstandard.ZstdError("not a small frame")
    return zstandard.ZstdDecompressor().decompress(frame)


class Parts:
    """A file taken apart: preamble fields, table object, stored section bytes (by table order)."""

    def __init__(self, data: bytes) -> None:
        self.minor = int.from_bytes(data[10:12], "little") if len(data) >= 12 else 1
        self.flags = int.from_bytes(data[12:16], "little") if len(data) >= 16 else 0
        table_length = int.from_bytes(data[24:32], "little") if len(data) >= 32 else 0
        stored = data[64:64 + table_length]
        self.compressed = bool(self.flags & 1)
        try:
            text = _decompress(stored) if self.compressed else stored
            self.table: Any = json.loads(text)
        except Exception:
            self.table = None
        self.sections: list[bytes] = []
        if isinstance(self.table, dict) and isinstance(self.table.get("sections"), list):
            for s in self.table["sections"]:
                try:
                    offset, length = int(s["offset"]), int(s["length"])
                    self.sections.append(data[offset:offset + length] if 0 <= offset <= len(data) and length < 1 << 24
                                         else b"")
                except Exception:
                    self.sections.append(b"")

    @property
    def ok(self) -> bool:
        return isinstance(self.table, dict) and isinstance(self.table.get("sections"), list) and \
            all(isinstance(s, dict) for s in self.table["sections"])


def assemble(parts: Parts, rng: random.Random, *, fix_crc: bool = True, fix_lengths: bool = True,
             fix_offsets: bool = True, json_text: Callable[[bytes], bytes] | None = None) -> bytes:
    """The file for `parts`: sections in table order at canonical offsets, table CRC and
    preamble CRC recomputed (each fix can be left out so that check is reached instead)."""
    table = parts.table
    sections = table["sections"]
    for s, stored in zip(sections, parts.sections):
        if fix_crc:
            s["crc32c"] = crc32c(stored)
        if fix_lengths:
            s["length"] = len(stored)
            if s.get("encoding") == "raw":
                s["decoded_length"] = len(stored)
    region = 0
    for _ in range(8):
        offset = 64 + region
        if fix_offsets:
            for s, stored in zip(sections, parts.sections):
                s["offset"] = offset
                offset = aligned(offset + len(stored))
        text = json.dumps(table, separators=(",", ":"), ensure_ascii=rng.random() < 0.1).encode("utf-8", "surrogatepass")
        if json_text is not None:
            text = json_text(text)
        stored_table = zstandard.ZstdCompressor(level=1).compress(text) if parts.compressed else text
        if aligned(len(stored_table)) == region or not fix_offsets:
            break
        region = aligned(len(stored_table))
    out = bytearray(64 + len(stored_table))
    out[64:] = stored_table
    for s, stored in zip(sections, parts.sections):
        try:
            offset = int(s["offset"])
        except Exception:
            continue
        if 64 + len(stored_table) <= offset < 1 << 22:
            if len(out) < offset:
                out += bytes(offset - len(out))
            out[offset:offset + len(stored)] = stored
    out += bytes(-len(out) % 64)
    preamble = lba.MAGIC + struct.pack("<HHIQQQIQ", 1, parts.minor, parts.flags, 64, len(stored_table), len(out),
                                       crc32c(stored_table), len(text) if parts.compressed else 0)
    preamble += bytes(60 - len(preamble))
    out[:64] = preamble + struct.pack("<I", crc32c(preamble))
    return bytes(out)


def fix_checksums(data: bytearray) -> bytes:
    """Recomputes the preamble and table CRCs and, where the table reads, the section CRCs."""
    if len(data) < 64:
        return bytes(data)
    parts = Parts(bytes(data))
    table_length = int.from_bytes(data[24:32], "little")
    if parts.ok:
        changed = False
        for s, stored in zip(parts.table["sections"], parts.sections):
            if isinstance(s.get("crc32c"), int) and s["crc32c"] != crc32c(stored):
                s["crc32c"] = crc32c(stored)
                changed = True
        if changed and not parts.compressed:
            text = json.dumps(parts.table, separators=(",", ":")).encode("utf-8", "surrogatepass")
            if len(text) == table_length:
                data[64:64 + table_length] = text
    data[40:44] = struct.pack("<I", crc32c(bytes(data[64:64 + table_length])))
    data[60:64] = struct.pack("<I", crc32c(bytes(data[:60])))
    return bytes(data)


# ---------------------------------------------------------------------------------------------
# The mutations: each returns a new file or None when it does not apply.

def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _nodes(v, path + (i,))
    return out


def _interesting(rng: random.Random, old: Any) -> Any:
    if isinstance(old, int) and not isinstance(old, bool) and rng.random() < 0.6:
        return rng.choice([old + 1, old - 1, old * 2, old // 2, old + 64, old - 64, old ^ (1 << rng.randrange(64)),
                           rng.choice(INTS)])
    return rng.choice(INTS + ODD_VALUES) if rng.random() < 0.5 else rng.choice(ODD_VALUES)


def mutate_table_value(parts: Parts, rng: random.Random) -> bytes | None:
    paths = _nodes(parts.table)[1:]
    if not paths:
        return None
    path = rng.choice(paths)
    parent = parts.table
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = rng.random()
    if action < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif action < 0.25 and isinstance(parent, list):
        parent.insert(key, parent[key] if rng.random() < 0.5 else _interesting(rng, None))
    elif action < 0.3 and isinstance(parent, dict):
        parent[rng.choice(["x", "kernel", "dora", "role", "alpha", "module", "tensor", "scale_a"])] = \
            _interesting(rng, None)
    else:
        parent[key] = _interesting(rng, parent[key])
    touched = path[0] == "sections" and len(path) >= 3
    return assemble(parts, rng, fix_crc=not (touched and path[2] == "crc32c"),
                    fix_lengths=not (touched and path[2] in ("length", "decoded_length", "encoding")),
                    fix_offsets=not (touched and path[2] == "offset"))


def mutate_table_text(parts: Parts, rng: random.Random) -> bytes | None:
    """Edits of the JSON text: duplicate members, escapes, number syntax, nesting, truncation."""
    def edit(text: bytes) -> bytes:
        choice = rng.randrange(7)
        if choice == 0:
            return text.replace(b'"name":', b'"name":"dup","name":', 1)
        if choice == 1:
            return text.replace(b'"format":"lba"', rng.choice([b'"format":"lba","format":"lba"', b'"f\\u006frmat":"lba"',
                                                                b'"format":"lb\\u0061"']), 1)
        if choice == 2:
            digits = [i for i, c in enumerate(text) if 48 <= c <= 57]
            if digits:
                i = rng.choice(digits)
                return text[:i + 1] + rng.choice([b".0", b"e0", b"E+1", b"0", b"-"]) + text[i + 1:]
        if choice == 3:
            return text[:-1] + b',"deep":' + b"[" * rng.choice([5, 31, 33, 2000]) + b"]" * 4 + b"}"
        if choice == 4 and len(text) > 2:
            i = rng.randrange(len(text))
            return text[:i] + text[i + 1:]
        if choice == 5:
            return text.replace(b'"', b"'", 1) if rng.random() < 0.3 else text + b" \n"
        return text.replace(b'"q', b'"\\ud800q', 1)
    return assemble(parts, rng, json_text=edit)


def _pick_section(parts: Parts, rng: random.Random) -> tuple[int, dict, bytes | None] | None:
    """A random section: its index, table entry and decoded bytes (None: a frame that does not
    decode), or None when there is no section."""
    sections = parts.table["sections"]
    if not sections:
        return None
    i = rng.randrange(len(sections))
    payload: bytes | None = parts.sections[i]
    if sections[i].get("encoding") == "zstd":
        try:
            payload = _decompress(payload)
        except zstandard.ZstdError:
            payload = None
    return i, sections[i], payload


def mutate_section_payload(parts: Parts, rng: random.Random) -> bytes | None:
    """A section's decoded bytes changed (bits, NaN/∞ scales, padding bits, length), re-encoded
    raw or as zstd, with lengths kept consistent."""
    picked = _pick_section(parts, rng)
    if picked is None or picked[2] is None:
        return None
    i, s, decoded = picked
    payload = bytearray(decoded)
    choice = rng.randrange(6)
    if choice == 0 and payload:
        bit = rng.randrange(len(payload) * 8)
        payload[bit // 8] ^= 1 << (bit % 8)
    elif choice == 1 and payload:
        j = rng.randrange(len(payload))
        payload[j] = rng.choice([0x7F, 0xFF, 0x80, 0x7C, 0x7E])       # e4m3 NaN, f16/bf16 ∞ and NaN bytes
    elif choice == 2 and len(payload) >= 8:
        payload[rng.randrange(len(payload) // 8) * 8 + 7] |= 0x80      # a sign word's top bit (padding if cols % 64)
    elif choice == 3:
        payload = payload[:-rng.choice([1, 2, 4, 8])] if payload and rng.random() < 0.5 else payload + bytes(8)
    elif choice == 4 and len(payload) >= 4:
        j = rng.randrange(len(payload) // 4) * 4
        payload[j:j + 4] = struct.pack("<f", rng.choice([float("nan"), float("inf"), -float("inf"), 1e38]))
    else:
        payload = bytearray(len(payload))
    if rng.random() < 0.5:
        s["encoding"] = "zstd"
        parts.sections[i] = zstandard.ZstdCompressor(level=1).compress(bytes(payload))
    else:
        s["encoding"] = "raw"
        parts.sections[i] = bytes(payload)
    s["decoded_length"] = len(payload)
    return assemble(parts, rng)


def _frame(rng: random.Random, payload: bytes) -> bytes:
    kind = rng.randrange(10)
    size = rng.choice([len(payload), len(payload) + 1, max(0, len(payload) - 1), 0, 1 << 20])
    if kind == 0:
        return zstandard.ZstdCompressor(write_content_size=False).compress(payload)
    if kind == 1:
        return zstandard.ZstdCompressor(write_checksum=True).compress(payload)
    if kind == 2:
        return struct.pack("<II", 0x184D2A50 + rng.randrange(16), 4) + b"skip"      # a skippable frame
    if kind == 3:
        return zstandard.ZstdCompressor().compress(payload) * 2                       # two frames
    if kind == 4:
        return zstandard.ZstdCompressor().compress(payload) + bytes(rng.randrange(1, 5))
    if kind == 5:                                  # raw blocks declaring `size` (not single segment)
        window = rng.choice([0x00, 0x58, 0x88, 0x89, 0xF8])       # 1 KiB, 128 MiB, 256 MiB, …, 2^41
        header = struct.pack("<IBB", 0xFD2FB528, 0xC0, window) + struct.pack("<Q", size)
        block = struct.pack("<I", 1 | (len(payload) << 3))[:3] + payload
        return header + block
    if kind == 6:                                  # one RLE block of `size` bytes, single segment
        header = struct.pack("<IB", 0xFD2FB528, 0xE0) + struct.pack("<Q", size)
        return header + struct.pack("<I", 1 | (1 << 1) | (size << 3))[:3] + b"\x00"
    if kind == 7:                                  # a reserved block type
        return struct.pack("<IB", 0xFD2FB528, 0x20) + bytes([len(payload) & 0xFF]) + b"\x07\x00\x00"
    frame = bytearray(zstandard.ZstdCompressor().compress(payload))
    if kind == 8 and len(frame) > 6:
        frame[rng.randrange(4, len(frame))] ^= 1 << rng.randrange(8)
        return bytes(frame)
    return bytes(frame[:rng.randrange(1, len(frame) + 1)])


def mutate_zstd_frame(parts: Parts, rng: random.Random) -> bytes | None:
    """A section (or the table) as an odd zstd frame: no content size, a checksum, skippable,
    two frames, trailing bytes, huge windows, wrong declared sizes, RLE bombs, reserved blocks."""
    sections = parts.table["sections"]
    if rng.random() < 0.2:
        table = json.dumps(parts.table, separators=(",", ":")).encode()
        parts.compressed = True
        parts.minor = max(parts.minor, 1)
        parts.flags |= 1
        out = bytearray(assemble(parts, rng))
        frame = _frame(rng, table)
        end = 64 + int.from_bytes(out[24:32], "little")
        out[64:end] = frame[:end - 64].ljust(end - 64, b"\0")
        return fix_checksums(out)
    picked = _pick_section(parts, rng)
    if picked is None:
        return None
    i, s, decoded = picked
    payload = decoded if decoded is not None else parts.sections[i]
    parts.sections[i] = _frame(rng, payload)
    s["encoding"] = "zstd"
    s["decoded_length"] = len(payload) if rng.random() < 0.8 else rng.choice(INTS[:20])
    return assemble(parts, rng)


def mutate_section_list(parts: Parts, rng: random.Random) -> bytes | None:
    """Sections swapped, duplicated, dropped or owned by another module/tensor."""
    sections = parts.table["sections"]
    if len(sections) < 2:
        return None
    i, j = rng.sample(range(len(sections)), 2)
    choice = rng.randrange(4)
    if choice == 0:
        sections[i], sections[j] = sections[j], sections[i]
        parts.sections[i], parts.sections[j] = parts.sections[j], parts.sections[i]
    elif choice == 1:
        sections.append(dict(sections[i]))
        parts.sections.append(parts.sections[i])
    elif choice == 2:
        del sections[i]
        del parts.sections[i]
    else:
        for key in ("module", "tensor"):
            if key in sections[i]:
                sections[i][key] = rng.choice([0, 1, 2, len(sections)])
    return assemble(parts, rng)


def mutate_preamble(data: bytes, rng: random.Random) -> bytes | None:
    """One preamble field set to an odd value, the preamble CRC recomputed (mostly)."""
    out = bytearray(data)
    field = rng.choice([(8, 2), (10, 2), (12, 4), (16, 8), (24, 8), (32, 8), (40, 4), (44, 8), (52, 8)])
    value = rng.choice(INTS + [int.from_bytes(out[field[0]:field[0] + field[1]], "little") + rng.choice([-1, 1, 64])])
    out[field[0]:field[0] + field[1]] = (value % (1 << (8 * field[1]))).to_bytes(field[1], "little")
    if rng.random() < 0.9:
        out[60:64] = struct.pack("<I", crc32c(bytes(out[:60])))
    return bytes(out)


def mutate_size(data: bytes, rng: random.Random) -> bytes | None:
    """Truncated or extended (by zeros or bytes), with or without the declared length following."""
    n = rng.choice([0, 1, 7, 8, 63, 64, len(data) - 64, len(data) - 1, len(data) + 64])
    out = bytearray(data[:max(0, n)] + bytes(max(0, n - len(data))))
    if len(out) >= 64 and rng.random() < 0.5:
        out[32:40] = struct.pack("<Q", len(out))
        out[60:64] = struct.pack("<I", crc32c(bytes(out[:60])))
    return bytes(out)


STRUCTURED = [mutate_table_value, mutate_table_value, mutate_table_text, mutate_section_payload, mutate_zstd_frame,
              mutate_section_list]


def mutate(data: bytes, rng: random.Random, byte_mutator: Callable[[bytes], bytes] | None = None) -> bytes:
    """One mutation of `data` (a valid or already mutated file)."""
    try:
        return _mutate(data, rng, byte_mutator)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, MemoryError,
            zstandard.ZstdError):
        return _flip(data, rng)     # a mutant too odd to take apart again: flip bits instead


def _mutate(data: bytes, rng: random.Random, byte_mutator: Callable[[bytes], bytes] | None) -> bytes:
    choice = rng.random()
    if choice < 0.1:
        out = mutate_preamble(data, rng)
    elif choice < 0.15:
        out = mutate_size(data, rng)
    elif choice < 0.3:
        out = byte_mutator(data) if byte_mutator else _flip(data, rng)
        out = fix_checksums(bytearray(out)) if rng.random() < 0.8 else out
    else:
        parts = Parts(data)
        out = rng.choice(STRUCTURED)(parts, rng) if parts.ok else None
    return out if out is not None else _flip(data, rng)


def _flip(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return lba.MAGIC
    out = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        bit = rng.randrange(len(out) * 8)
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Seeds: small valid files covering every kind, dtype, layout and encoding.

def seeds() -> list[bytes]:
    from lordba.lba_writer import encode
    rng = np.random.default_rng(1)

    def signs(rows: int, cols: int) -> np.ndarray:
        return np.where(rng.random((rows, cols)) < 0.5, -1, 1).astype(np.int8)

    def module(name: str, kind: str, n_in: int, n_out: int, k: int, compact: bool = False, **extra: Any) -> lba.Module:
        return lba.Module(name=name, kind=kind, kernel=extra.get("kernel"), in_features=n_in, out_features=n_out,
                          rank=max(1, k // 2), binary_rank=k, lora_scale=extra.get("scale", 2.0),
                          source={"a": name + ".lora_A.weight", "b": name + ".lora_B.weight", "dtype": "F16"},
                          sign_a=signs(k, n_in), sign_b=signs(k, n_out),
                          scale_a=None if compact else rng.uniform(0.1, 1, n_in).astype(np.float32),
                          scale_b=rng.uniform(-1, 1, n_out).astype(np.float32),
                          scale_m=rng.uniform(0.01, 2, k).astype(np.float32), dora_magnitude=extra.get("dora"))

    def file(layout: str, dtype: str, modules: list, carried: list = (), metadata: dict | None = None) -> lba.LBAFile:
        return lba.LBAFile(path="", version=(1, 0), layout=layout, scale_dtype=dtype, metadata=metadata or {},
                           modules=modules, carried=list(carried), sections=[], file_length=0, table_length=0)

    magnitude = lba.Carried("m.q.lora_magnitude_vector", "F32", [16], np.ones(16, np.float32).tobytes(), "magnitude")
    files = [
        encode(file("peft", "f16", [module("q", "linear", 3, 2, 1, compact=True)]), table_compression=False),
        encode(file("peft", "e4m3", [module("c", "conv", 72, 8, 8, kernel=[3, 3]),
                                     module("e", "embedding", 65, 16, 8, scale=0.35355339059327373)],
                    [lba.Carried("head.bias", "F32", [100], bytes(400), "bias")],
                    {"lordba.tool_version": "0.2.0", "note": "é"})),
        encode(file("diffusers", "bf16", [module("m.q", "linear", 130, 16, 4, dora="m.q.lora_magnitude_vector")],
                    [magnitude, lba.Carried("x.counter", "I64", [], bytes(8), "other")])),
        encode(file("mlx", "f32", [module("a", "linear", 64, 64, 2), module("b", "linear", 1, 1, 1)]),
               compression=False),
        encode(file("kohya", "f16", [module("k", "linear", 200, 70, 16, scale=1e-05)],
                    [lba.Carried("k.alpha", "BF16", [1], bytes(2)), lba.Carried("w4", "F4", [4], bytes(2))])),
    ]
    return files
