"""The writer: an `LBAFile`'s content as `.lba` bytes, laid out exactly as the Swift writer
(`LBAWriter`) lays them out (formats/lba.md sections 3–6, 9 and 10), and written atomically.

Zstd frames depend on the libzstd version; payloads (and the table) the file was read with
reuse the frames it stored them as (`LBAFile.stored_forms`), so content written back unchanged
is byte-identical to the input whichever libzstd made it, and changed payloads are compressed
with the `zstandard` package's libzstd under the same rule.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import struct
import tempfile
from dataclasses import dataclass

import numpy as np

from . import _json, _zstd
from ._crc32c import crc32c
from .lba_format import (CARRIED, COMPRESSED_TABLE, FORMAT_NAME, LAYOUT_MINOR, MAGIC, MAJOR, MIN_SAVING,
                         PREAMBLE, RAW, SCALE_A, SCALE_B, SCALE_M, SIGN_A, SIGN_B, ZSTD, ZSTD_RATIO,
                         CarriedKey, Key, LBAError, ModuleKey, SectionKey, SourceKey, DORA_MAGNITUDE,
                         aligned, memory_size, within_decoded_budget)
from .lba_model import LBAFile, Module
from .lba_validation import validate
from . import lba_scales


@dataclass
class _Section:
    content: str
    owner: int
    stored: bytes
    decoded_length: int
    encoding: str


@dataclass
class _Layout:
    stored: bytes            # the table as stored (JSON, or its zstd frame)
    decoded_length: int      # the JSON's length when `stored` is a frame, else 0
    offsets: list[int]
    file_length: int
    minor: int
    json: bytes


def to_bytes(f: LBAFile) -> bytes:
    """The `.lba` bytes of `f` (what `write` writes)."""
    return encode(f)


def write(f: LBAFile, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Writes `f` to `path` atomically (a temporary file in the same folder, fsync, rename).

    Refuses (LBAError) an existing `path` unless `overwrite`, and always one that is not a
    regular file or is the file `f` was read from. Nothing is left behind on failure."""
    target = os.fspath(path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            raise LBAError(f"{target}: exists and is not a regular file; not replaced")
        if not overwrite:
            raise LBAError(f"{target}: exists (pass overwrite=True to replace it)")
        if f.path and os.path.exists(f.path) and os.path.samefile(f.path, target):
            raise LBAError(f"{target}: is the file this content was read from; write to another path")
    data = encode(f, target)
    folder = os.path.dirname(os.path.abspath(target))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            _create(temporary, target)
    except FileExistsError:
        _remove(temporary)
        raise LBAError(f"{target}: exists (pass overwrite=True to replace it)") from None
    except BaseException:
        _remove(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _create(temporary: str, target: str) -> None:
    """Renames `temporary` to `target` unless `target` exists: a hard link fails if the path
    appeared meanwhile; where the file system has no hard links, a checked rename."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "exists", target) from None
        os.replace(temporary, target)
    else:
        os.unlink(temporary)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------------------------

def encode(f: LBAFile, path: str = "<memory>", *, compression: bool = True, table_compression: bool = True) -> bytes:
    """The bytes of `f`. `compression=False` stores every section and the table raw;
    `table_compression=False` keeps the table raw (a file a 1.0 reader can read), as the Swift
    writer's `LBAWriter(compression:tableCompression:)` options do."""
    modules, carried = validate(f, path)
    forms = f.stored_forms
    compressor = _zstd.Compressor() if compression else None

    def candidate(payload: bytes) -> bytes | None:
        if compressor is None or len(payload) <= MIN_SAVING:
            return None
        key = hashlib.sha256(payload).digest()
        return forms[key] if key in forms else compressor.compress(payload)

    sections: list[_Section] = []
    budget_memory = budget_stored = 0

    def store(payload: bytes, content: str, owner: int) -> int:
        nonlocal budget_memory, budget_stored
        frame = candidate(payload)
        budget_memory += memory_size(len(payload), content, f.scale_dtype)
        if frame is not None and not within_decoded_budget(budget_memory, budget_stored + len(frame)):
            frame = None
        if frame is not None and _keeps_compressed(len(payload), len(frame)):
            section = _Section(content, owner, frame, len(payload), ZSTD)
        else:
            section = _Section(content, owner, payload, len(payload), RAW)
        budget_stored += len(section.stored)
        sections.append(section)
        return len(sections) - 1

    module_refs = []
    for index, m in enumerate(modules):
        refs = {}
        for content, payload in _module_payloads(m, f.scale_dtype):
            refs[content] = store(payload, content, index)
        module_refs.append(refs)
    carried_refs = [store(bytes(c.data), CARRIED, index) for index, c in enumerate(carried)]

    plain_minor = max(LAYOUT_MINOR[f.layout], 1 if any(c.role is not None for c in carried) else 0)

    def table(offsets: list[int], minor: int) -> bytes:
        return _json.dumps(_table(f, modules, carried, sections, offsets, module_refs, carried_refs, minor))

    layout = _table_layout(sections, table, plain_minor, None)
    assert layout is not None
    original = forms.get(b"table:" + hashlib.sha256(layout.json).digest(), b"")
    if compressor is not None and table_compression and original is not None:
        def frame_of(json: bytes) -> bytes | None:
            stored = forms.get(b"table:" + hashlib.sha256(json).digest())
            frame = stored if stored is not None else compressor.compress(json)
            return frame if len(json) <= ZSTD_RATIO * len(frame) else None

        # Try the region the stored table had first: when that reproduces it exactly, the file
        # is laid out as it was, whichever libzstd's frame sizes the iteration from 0 would see.
        packed = None
        for key, frame in forms.items():
            if key.startswith(b"table:") and frame is not None:
                packed = _table_layout(sections, table, 1, frame_of, start=aligned(len(frame)))
                if packed is None or b"table:" + hashlib.sha256(packed.json).digest() != key:
                    packed = None
        packed = packed or _table_layout(sections, table, 1, frame_of)
        if packed is not None and packed.file_length < layout.file_length:
            layout = packed
    return _file_bytes(sections, layout)


def _keeps_compressed(raw: int, compressed: int) -> bool:
    saving = max(MIN_SAVING, (raw + 99) // 100)
    return compressed <= raw - saving and raw <= ZSTD_RATIO * compressed


def _signs(signs: np.ndarray) -> bytes:
    """Rows of 64-bit little-endian words, bit 1 for -1, zero padding bits (6.2)."""
    rows, cols = signs.shape
    bits = np.zeros((rows, (cols + 63) // 64 * 64), dtype=np.uint8)
    bits[:, :cols] = signs < 0
    return np.packbits(bits, axis=1, bitorder="little").tobytes()


def _module_payloads(m: Module, scale_dtype: str) -> list[tuple[str, bytes]]:
    payloads = [(SIGN_A, _signs(m.sign_a)), (SIGN_B, _signs(m.sign_b))]
    if m.scale_a is not None:
        payloads.append((SCALE_A, lba_scales.stored(m.scale_a, scale_dtype)[0].tobytes()))
    payloads.append((SCALE_B, lba_scales.stored(m.scale_b, scale_dtype)[0].tobytes()))
    payloads.append((SCALE_M, lba_scales.stored(m.scale_m, "f32")[0].tobytes()))
    return payloads


def _table(f: LBAFile, modules: list[Module], carried: list, sections: list[_Section], offsets: list[int],
           module_refs: list[dict[str, int]], carried_refs: list[int], minor: int) -> dict:
    """The table object, members in the spec's order (5.1–5.4)."""
    module_objects = []
    for m, refs in zip(modules, module_refs):
        o: dict = {ModuleKey.NAME: m.name, ModuleKey.KIND: m.kind}
        if m.kind == "conv":
            o[ModuleKey.KERNEL] = [int(k) for k in m.kernel or []]
        o.update({ModuleKey.IN: int(m.in_features), ModuleKey.OUT: int(m.out_features), ModuleKey.RANK: int(m.rank),
                  ModuleKey.BINARY_RANK: int(m.binary_rank), ModuleKey.LORA_SCALE: float(m.lora_scale)})
        source = {SourceKey.A: m.source[SourceKey.A], SourceKey.B: m.source[SourceKey.B]}
        if m.source.get(SourceKey.ALPHA) is not None:
            source[SourceKey.ALPHA] = m.source[SourceKey.ALPHA]
        source[SourceKey.DTYPE] = m.source[SourceKey.DTYPE]
        o[ModuleKey.SOURCE] = source
        if m.dora_magnitude is not None:
            o[ModuleKey.DORA] = {DORA_MAGNITUDE: m.dora_magnitude}
        o[ModuleKey.SECTIONS] = dict(refs)
        module_objects.append(o)
    carried_objects = []
    for c, ref in zip(carried, carried_refs):
        o = {CarriedKey.NAME: c.name, CarriedKey.DTYPE: c.dtype, CarriedKey.SHAPE: [int(d) for d in c.shape]}
        if c.role is not None:
            o[CarriedKey.ROLE] = c.role
        o[CarriedKey.SECTION] = ref
        carried_objects.append(o)
    section_objects = [{
        SectionKey.CONTENT: s.content,
        SectionKey.TENSOR if s.content == CARRIED else SectionKey.MODULE: s.owner,
        SectionKey.OFFSET: offset,
        SectionKey.LENGTH: len(s.stored),
        SectionKey.DECODED_LENGTH: s.decoded_length,
        SectionKey.ENCODING: s.encoding,
        SectionKey.CRC32C: crc32c(s.stored),
    } for s, offset in zip(sections, offsets)]
    return {
        Key.FORMAT: FORMAT_NAME,
        Key.VERSION: [MAJOR, minor],
        Key.LAYOUT: f.layout,
        Key.SCALE_DTYPE: f.scale_dtype,
        Key.METADATA: dict(sorted(f.metadata.items(), key=lambda item: item[0].encode("utf-8"))),
        Key.MODULES: module_objects,
        Key.CARRIED: carried_objects,
        Key.SECTIONS: section_objects,
    }


def _table_layout(sections: list[_Section], table, minor: int, frame_of, start: int = 0) -> _Layout | None:
    """The fixed point of table length and section offsets (section 10): raw, lengths only
    grow, so it settles in a few rounds; compressed (`frame_of` given) a layout that has not
    settled after 12 rounds, or a frame above the zstd ratio, is given up (None)."""
    region = start
    for _ in range(12):
        offsets, offset = [], PREAMBLE + region
        for s in sections:
            offsets.append(offset)
            offset = aligned(offset + len(s.stored))
        json = table(offsets, minor)
        stored = json
        if frame_of is not None:
            frame = frame_of(json)
            if frame is None:
                return None
            stored = frame
        if aligned(len(stored)) == region:
            end = aligned(offsets[-1] + len(sections[-1].stored)) if sections else PREAMBLE + region
            return _Layout(stored, len(json) if frame_of else 0, offsets, end, minor, json)
        region = aligned(len(stored))
    return None


def _file_bytes(sections: list[_Section], layout: _Layout) -> bytes:
    flags = COMPRESSED_TABLE if layout.decoded_length else 0
    head = bytearray(MAGIC + struct.pack("<HHIQQQIQ", MAJOR, layout.minor, flags, PREAMBLE, len(layout.stored),
                                         layout.file_length, crc32c(layout.stored), layout.decoded_length))
    head += bytes(PREAMBLE - 4 - len(head))
    head += struct.pack("<I", crc32c(bytes(head)))
    out = bytearray(layout.file_length)
    out[:PREAMBLE] = head
    out[PREAMBLE:PREAMBLE + len(layout.stored)] = layout.stored
    for s, offset in zip(sections, layout.offsets):
        out[offset:offset + len(s.stored)] = s.stored
    return bytes(out)
