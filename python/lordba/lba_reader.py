"""The reader: `parse` runs the checks of formats/lba.md section 8, one function per step, in
the spec's order; sizes read from the file are bounded before anything is allocated from them
(steps 7, 8 and 10), and zstd frames decode into buffers of their checked length (step 12)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _json, _zstd, lba_scales
from ._crc32c import crc32c
from .lba_format import (COMPRESSED_TABLE, CONTENTS, KNOWN_FLAGS, MAGIC, MAJOR, MAX_TABLE, PREAMBLE,
                         RAW, SCALE_A, SCALE_B, SCALE_M, SCALE_WIDTH, SIGN_A, SIGN_B,
                         ZSTD, ZSTD_RATIO, CarriedKey, LBAError, ModuleKey, Preamble, SectionKey, aligned,
                         memory_size, sign_bytes, tensor_bytes, within_decoded_budget)
from .lba_model import Carried, LBAFile, Module
from .lba_table import TableReader


def read(path: str) -> LBAFile:
    """Reads and fully validates the `.lba` at `path`."""
    with open(path, "rb") as handle:
        data = handle.read()
    return parse(data, str(path))


def parse(data: bytes, path: str = "<memory>") -> LBAFile:
    """Validates and decodes the bytes of a `.lba` file (every check of spec section 8)."""
    data = bytes(data)
    check_signature(data, path)                                          # 1
    version = check_major_version(data, path)                            # 2
    check_preamble_crc(data, path)                                       # 3
    p = check_flags_and_reserved_bytes(data, path, version)              # 4
    check_offsets_and_lengths(data, path, p)                             # 5
    json_bytes = check_table_crc(data, path, p)                          # 6
    table = read_table(json_bytes, path, version)                        # 7
    check_section_sizes(table)                                           # 8
    check_placement(data, path, table, p)                                # 9
    check_total_decoded_size(table, p)                                   # 10
    stored = check_section_crcs(data, path, table)                       # 11
    decoded = decode_sections(stored, path, table)                       # 12
    signs = read_signs(decoded, table)                                   # 13
    scales = read_scales(decoded, table)                                 # 14
    return _assemble(table, p, signs, scales, decoded, stored, json_bytes, data)


@dataclass
class _Preamble:
    flags: int
    table_decoded_length: int
    table_length: int = 0
    file_length: int = 0


def _u16(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 2], "little")


def _u32(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 4], "little")


def _u64(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 8], "little")


def _fail(path: str, context: str, problem: str) -> LBAError:
    return LBAError(f"{path}: {context}: {problem}")


def check_signature(data: bytes, path: str) -> None:
    """Step 1: the magic, then at least a whole preamble."""
    prefix = min(len(data), len(MAGIC))
    if data[:prefix] != MAGIC[:prefix]:
        raise LBAError(f"{path}: not a .lba file (bad magic)")
    if len(data) < PREAMBLE:
        raise _fail(path, "preamble", f"truncated: {len(data)} bytes, a preamble needs {PREAMBLE}")


def check_major_version(data: bytes, path: str) -> tuple[int, int]:
    """Step 2: a major version this reader implements (nothing past byte 12 is read first)."""
    major, minor = _u16(data, Preamble.MAJOR), _u16(data, Preamble.MINOR)
    if major != MAJOR:
        raise _fail(path, "preamble", f"unsupported format version {major}.{minor}")
    return major, minor


def check_preamble_crc(data: bytes, path: str) -> None:
    """Step 3."""
    if crc32c(data[:Preamble.PREAMBLE_CRC]) != _u32(data, Preamble.PREAMBLE_CRC):
        raise _fail(path, "preamble", "checksum mismatch")


def check_flags_and_reserved_bytes(data: bytes, path: str, version: tuple[int, int]) -> _Preamble:
    """Step 4: known flags only (compressed_table from 1.1 on), zero reserved bytes, and a
    table_decoded_length that is zero for a raw table and bounded for a compressed one."""
    flags = _u32(data, Preamble.FLAGS)
    if flags & ~KNOWN_FLAGS or (flags and version[1] < 1):
        raise _fail(path, "preamble", f"unknown flags 0x{flags:08x}")
    decoded_length = _u64(data, Preamble.TABLE_DECODED_LENGTH)
    if any(data[Preamble.RESERVED:Preamble.PREAMBLE_CRC]) or (not flags & COMPRESSED_TABLE and decoded_length):
        raise _fail(path, "preamble", "reserved bytes are not zero")
    if flags & COMPRESSED_TABLE:
        table_length = _u64(data, Preamble.TABLE_LENGTH)
        if not 1 <= decoded_length <= MAX_TABLE or decoded_length > ZSTD_RATIO * table_length:
            raise _fail(path, "preamble", f"compressed table decodes to {decoded_length} bytes")
    return _Preamble(flags=flags, table_decoded_length=decoded_length)


def check_offsets_and_lengths(data: bytes, path: str, p: _Preamble) -> None:
    """Step 5: the table at 64; the declared file length is the actual one, a multiple of 64;
    the table fits."""
    table_offset = _u64(data, Preamble.TABLE_OFFSET)
    p.table_length, p.file_length = _u64(data, Preamble.TABLE_LENGTH), _u64(data, Preamble.FILE_LENGTH)
    size, file_length = len(data), p.file_length
    if table_offset != PREAMBLE:
        raise _fail(path, "preamble", f"table offset {table_offset}, must be {PREAMBLE}")
    if file_length > size:
        raise _fail(path, "file", f"truncated: {size} bytes, the preamble declares {file_length}")
    if file_length != size:
        raise _fail(path, "file", f"{size - file_length} bytes of trailing data after the declared length {file_length}")
    if file_length % 64:
        raise _fail(path, "preamble", f"file length {file_length} is not a multiple of 64")
    if not 1 <= p.table_length <= file_length - PREAMBLE:
        raise _fail(path, "preamble", f"table length {p.table_length} does not fit in a file of {file_length} bytes")


def check_table_crc(data: bytes, path: str, p: _Preamble) -> bytes:
    """Step 6: the table CRC over the stored bytes; a compressed table is one zstd frame of
    exactly table_decoded_length bytes. Returns the JSON bytes."""
    stored = data[PREAMBLE:PREAMBLE + p.table_length]
    if crc32c(stored) != _u32(data, Preamble.TABLE_CRC):
        raise _fail(path, "table", "checksum mismatch")
    if not p.flags & COMPRESSED_TABLE:
        return stored
    out = _zstd.decode(stored, p.table_decoded_length)
    if isinstance(out, str):
        raise _fail(path, "table", out)
    return out


def read_table(json_bytes: bytes, path: str, version: tuple[int, int]) -> TableReader:
    """Step 7: strict JSON, then members, types, ranges, enumerations, names, references."""
    table = TableReader(path, version, _json.parse(json_bytes, path))
    table.read()
    return table


def check_section_sizes(table: TableReader) -> None:
    """Step 8: known encodings; raw sections as long as decoded; zstd claims within 32768:1;
    every decoded_length exactly what the shapes need (6.2–6.4)."""
    for index, s in enumerate(table.sections):
        context = f"section {index}"
        length, decoded = s[SectionKey.LENGTH], s[SectionKey.DECODED_LENGTH]
        if s[SectionKey.ENCODING] not in (RAW, ZSTD):
            raise table.fail(context, f"unknown encoding {json.dumps(s[SectionKey.ENCODING])}")
        if s[SectionKey.ENCODING] == RAW and length != decoded:
            raise table.fail(context, "raw section whose length differs from decoded_length")
        if s[SectionKey.ENCODING] == ZSTD and (length == 0 or decoded > ZSTD_RATIO * length):
            raise table.fail(context, f"decoded_length {decoded} is impossible for {length} bytes of zstd")
    width = SCALE_WIDTH[table.scale_dtype]
    for m in table.modules:
        k, n_in, n_out = m[ModuleKey.BINARY_RANK], m[ModuleKey.IN], m[ModuleKey.OUT]
        expected = {SIGN_A: sign_bytes(k, n_in), SIGN_B: sign_bytes(k, n_out),
                    SCALE_A: n_in * width, SCALE_B: n_out * width, SCALE_M: k * 4}
        for content, index in m["refs"].items():
            actual = table.sections[index][SectionKey.DECODED_LENGTH]
            if actual != expected[content]:
                raise table.fail(f"section {index} ({content})",
                                 f"holds {actual} bytes, the shapes need {expected[content]}")
    for c in table.carried:
        index = c[CarriedKey.SECTION]
        expected = tensor_bytes(c[CarriedKey.SHAPE], c[CarriedKey.DTYPE])
        actual = table.sections[index][SectionKey.DECODED_LENGTH]
        if expected is None or actual != expected:
            needs = "a whole number of bytes it does not fill" if expected is None else expected
            raise table.fail(f"section {index} (carried)",
                             f"holds {actual} bytes, {c[CarriedKey.DTYPE]} {c[CarriedKey.SHAPE]} needs {needs}")


def check_placement(data: bytes, path: str, table: TableReader, p: _Preamble) -> None:
    """Step 9: canonical placement, nothing past the end, the exact file end, zero padding."""
    cursor = PREAMBLE + p.table_length
    for index, s in enumerate(table.sections):
        expected = aligned(cursor)
        if any(data[cursor:min(expected, p.file_length)]):
            raise _fail(path, f"padding before section {index}", "nonzero byte")
        if s[SectionKey.OFFSET] != expected:
            raise _fail(path, f"section {index}", f"offset {s[SectionKey.OFFSET]}, expected {expected}")
        end = s[SectionKey.OFFSET] + s[SectionKey.LENGTH]
        if end > p.file_length:
            raise _fail(path, f"section {index}", f"runs past the end of the {p.file_length}-byte file")
        cursor = end
    if aligned(cursor) != p.file_length:
        raise _fail(path, "file", f"contents end at {cursor}, so the file must be {aligned(cursor)} bytes, "
                                  f"not {p.file_length}")
    if any(data[cursor:p.file_length]):
        raise _fail(path, "padding at the end of the file", "nonzero byte")


def check_total_decoded_size(table: TableReader, p: _Preamble) -> None:
    """Step 10: known sections decode to at most 64 x file length + 32 MiB (scales at 4 bytes a
    value), checked before anything is decoded."""
    total = sum(memory_size(s[SectionKey.DECODED_LENGTH], s[SectionKey.CONTENT], table.scale_dtype)
                for s in table.sections if s[SectionKey.CONTENT] in CONTENTS)
    if not within_decoded_budget(total, p.file_length):
        raise _fail(table.path, "file", f"sections decode to more than 64 × the file's {p.file_length} bytes + 32 MiB")


def check_section_crcs(data: bytes, path: str, table: TableReader) -> list[memoryview]:
    """Step 11: every section's CRC over its stored bytes. Returns the stored bytes."""
    view = memoryview(data)
    stored = []
    for index, s in enumerate(table.sections):
        part = view[s[SectionKey.OFFSET]:s[SectionKey.OFFSET] + s[SectionKey.LENGTH]]
        if crc32c(part) != s[SectionKey.CRC32C]:
            raise _fail(path, f"section {index} ({s[SectionKey.CONTENT]})", "checksum mismatch")
        stored.append(part)
    return stored


def decode_sections(stored: list[memoryview], path: str, table: TableReader) -> list[bytes | None]:
    """Step 12: each zstd section is one frame that declares and decodes to exactly its
    decoded_length, with a window of at most 128 MiB. Unknown contents are not decoded."""
    decoded: list[bytes | None] = []
    for index, (s, part) in enumerate(zip(table.sections, stored)):
        if s[SectionKey.CONTENT] not in CONTENTS:
            decoded.append(None)
        elif s[SectionKey.ENCODING] == ZSTD:
            out = _zstd.decode(bytes(part), s[SectionKey.DECODED_LENGTH])
            if isinstance(out, str):
                raise _fail(path, f"section {index} ({s[SectionKey.CONTENT]})", out)
            decoded.append(out)
        else:
            decoded.append(bytes(part))
    return decoded


def read_signs(decoded: list[bytes | None], table: TableReader) -> list[tuple[np.ndarray, np.ndarray]]:
    """Step 13: no sign row has a padding bit set. Returns each module's (S_A, S_B) as int8 ±1."""
    out = []
    for m in table.modules:
        k, refs = m[ModuleKey.BINARY_RANK], m["refs"]
        out.append((_signs(decoded[refs[SIGN_A]], k, m[ModuleKey.IN], table, refs[SIGN_A]),
                    _signs(decoded[refs[SIGN_B]], k, m[ModuleKey.OUT], table, refs[SIGN_B])))
    return out


def _signs(raw: Any, rows: int, cols: int, table: TableReader, index: int) -> np.ndarray:
    wpr = (cols + 63) // 64
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little").reshape(rows, wpr * 64)
    if rows and bits[:, cols:].any():
        row = int(np.nonzero(bits[:, cols:].any(axis=1))[0][0])
        raise table.fail(f"section {index}", f"sign row {row} has a padding bit set")
    return (1 - 2 * bits[:, :cols].astype(np.int8)).astype(np.int8)


def read_scales(decoded: list[bytes | None], table: TableReader) -> list[dict[str, np.ndarray | None]]:
    """Step 14: every decoded scale value is finite. Returns each module's a, b, m as float32."""
    out = []
    for m in table.modules:
        refs = m["refs"]
        values: dict[str, np.ndarray | None] = {SCALE_A: None}
        for content in (SCALE_A, SCALE_B, SCALE_M):
            if content not in refs:
                continue
            dtype = "f32" if content == SCALE_M else table.scale_dtype
            v = lba_scales.decode(decoded[refs[content]], dtype)
            if not np.isfinite(v).all():
                bad = int(np.nonzero(~np.isfinite(v))[0][0])
                raise table.fail(f"module {json.dumps(m[ModuleKey.NAME])} {content} (section {refs[content]})",
                                 f"value {bad} is {v[bad]} (scales must be finite)")
            values[content] = v
        out.append(values)
    return out


def _stored_forms(table: TableReader, decoded: list[bytes | None], stored: list[memoryview],
                  json_bytes: bytes, data: bytes, p: _Preamble) -> dict[bytes, bytes | None]:
    """Payload digest -> the zstd frame it was stored as (None: raw), for the writer's reuse."""
    forms: dict[bytes, bytes | None] = {}
    for s, payload, part in zip(table.sections, decoded, stored):
        if payload is None:
            continue
        key = hashlib.sha256(payload).digest()
        if s[SectionKey.ENCODING] == ZSTD:
            forms[key] = bytes(part)
        else:
            forms.setdefault(key, None)
    table_frame = data[PREAMBLE:PREAMBLE + p.table_length] if p.flags & COMPRESSED_TABLE else None
    forms[b"table:" + hashlib.sha256(json_bytes).digest()] = table_frame
    return forms


def _assemble(table: TableReader, p: _Preamble, signs: list[tuple[np.ndarray, np.ndarray]],
              scales: list[dict[str, np.ndarray | None]], decoded: list[bytes | None], stored: list[memoryview],
              json_bytes: bytes, data: bytes) -> LBAFile:
    modules = []
    for m, (sign_a, sign_b), values in zip(table.modules, signs, scales):
        modules.append(Module(
            name=m[ModuleKey.NAME], kind=m[ModuleKey.KIND], kernel=m.get(ModuleKey.KERNEL),
            in_features=m[ModuleKey.IN], out_features=m[ModuleKey.OUT], rank=m[ModuleKey.RANK],
            binary_rank=m[ModuleKey.BINARY_RANK], lora_scale=m[ModuleKey.LORA_SCALE], source=m[ModuleKey.SOURCE],
            sign_a=sign_a, sign_b=sign_b, scale_a=values[SCALE_A], scale_b=values[SCALE_B],  # type: ignore[arg-type]
            scale_m=values[SCALE_M], dora_magnitude=m.get(ModuleKey.DORA)))  # type: ignore[arg-type]
    carried = [Carried(name=c[CarriedKey.NAME], dtype=c[CarriedKey.DTYPE], shape=list(c[CarriedKey.SHAPE]),
                       data=decoded[c[CarriedKey.SECTION]], role=c.get(CarriedKey.ROLE))  # type: ignore[arg-type]
               for c in table.carried]
    sections = [{k: v for k, v in s.items() if k != "claimed"} for s in table.sections]
    return LBAFile(path=table.path, version=table.version, layout=table.layout, scale_dtype=table.scale_dtype,
                   metadata=table.metadata, modules=modules, carried=carried, sections=sections,
                   file_length=p.file_length, table_length=p.table_length, table=table.table,
                   stored_forms=_stored_forms(table, decoded, stored, json_bytes, data, p))

