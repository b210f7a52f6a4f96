"""zstd for `.lba` sections and tables, through the `zstandard` package, with every bound the
format sets (formats/lba.md 6.1 and section 8, step 12).

Decoding checks, in this order: the bytes are exactly one zstd frame (no skippable frame, no
trailing bytes), its header declares its content size, equal to the expected length, and a
window of at most 128 MiB (single-segment frames: the content size); then it is decoded into a
buffer of the expected length plus one byte, so a frame that produces more than it declares is
caught without allocating more.
"""

from __future__ import annotations

import zstandard

from .lba_format import ZSTD_LEVEL, ZSTD_WINDOW_LOG_MAX

_FRAME_MAGIC = 0xFD2FB528
_SKIPPABLE_MAGIC_MASK, _SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
_MAX_WINDOW = 1 << ZSTD_WINDOW_LOG_MAX
_DECODER_WINDOW_LIMIT = 1 << 31     # the largest window limit libzstd can be given


def _frame_length(frame: bytes) -> int | None:
    """The length of the zstd frame at the start of `frame` (RFC 8878 3.1.1), or None when the
    bytes do not hold a complete one. Walks the block headers without decoding."""
    if len(frame) < 5 or int.from_bytes(frame[:4], "little") != _FRAME_MAGIC:
        return None
    try:
        position = zstandard.frame_header_size(frame)
    except zstandard.ZstdError:
        return None
    checksum = frame[4] & 0x04
    while True:
        if position + 3 > len(frame):
            return None
        header = int.from_bytes(frame[position:position + 3], "little")
        kind, size = (header >> 1) & 3, header >> 3
        if kind == 3:                          # reserved block type
            return None
        position += 3 + (1 if kind == 1 else size)
        if position > len(frame):
            return None
        if header & 1:                         # last block
            break
    position += 4 if checksum else 0
    return position if position <= len(frame) else None


def _window(frame: bytes) -> int | None:
    """The window a frame's header asks for (RFC 8878 3.1.1.1.2), or None for a single-segment
    frame, whose window is its content size."""
    if frame[4] & 0x20:
        return None
    descriptor = frame[5]
    base = 1 << (10 + (descriptor >> 3))
    return base + base // 8 * (descriptor & 7)


def decode(stored: bytes, expected: int) -> bytes | str:
    """The `expected` bytes that `stored` (exactly one zstd frame) decodes to, or a string
    saying what is wrong."""
    if len(stored) >= 4 and int.from_bytes(stored[:4], "little") & _SKIPPABLE_MAGIC_MASK == _SKIPPABLE_MAGIC:
        return "not a valid zstd frame (a skippable frame holds no content)"
    length = _frame_length(stored)
    if length is None:
        return "not a valid zstd frame"
    if length != len(stored):
        return f"{len(stored) - length} bytes follow the zstd frame"
    try:
        declared = zstandard.frame_content_size(stored)
    except zstandard.ZstdError:          # e.g. the descriptor's reserved bit set
        return "not a valid zstd frame"
    if declared < 0:
        return "the zstd frame does not declare its content size"
    if declared != expected:
        return f"the zstd frame declares {declared} bytes, decoded_length is {expected}"
    window = _window(stored)
    if window is not None and window > _MAX_WINDOW:
        return f"the zstd frame's window of {window} bytes is above the limit of {_MAX_WINDOW}"
    limit = min(max(_MAX_WINDOW, expected), _DECODER_WINDOW_LIMIT)
    out = bytearray(expected + 1)
    view = memoryview(out)
    filled = 0
    try:
        reader = zstandard.ZstdDecompressor(max_window_size=limit).stream_reader(stored, read_across_frames=False)
        with reader:
            while filled <= expected:
                got = reader.readinto(view[filled:])
                if not got:
                    break
                filled += got
    except zstandard.ZstdError:
        return "the zstd frame does not decode (corrupt, or a window above 128 MiB)"
    if filled != expected:
        more = "more than " if filled > expected else ""
        return f"the zstd frame decodes to {more}{filled} bytes, decoded_length is {expected}"
    return bytes(view[:expected])


class Compressor:
    """The writer's zstd: level 3, content size in the header, no checksum, no dictionary ID,
    single-threaded (formats/lba.md 6.1)."""

    def __init__(self) -> None:
        self._context = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True, write_checksum=False,
                                                 write_dict_id=False, threads=0)

    def compress(self, data: bytes) -> bytes:
        return self._context.compress(data)


LIBRARY_VERSION = ".".join(map(str, zstandard.ZSTD_VERSION))
