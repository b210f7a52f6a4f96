"""Constants of the `.lba` container (`formats/lba.md`), shared by the reader and the writer.

The table's member names are spelled here once (`Key`, `SourceKey`, `SectionKey`, …) and in
the order the writer emits them, so the reader's checks and the writer's output cannot drift
apart.
"""

from __future__ import annotations

MAGIC = b"\x89LBA\r\n\x1a\n"
MAJOR = 1
MINOR = 1                       # the newest minor version this package reads and writes
FORMAT_NAME = "lba"
COMPRESSED_TABLE = 1            # preamble flag bit 0 (1.1): the table is one zstd frame
KNOWN_FLAGS = COMPRESSED_TABLE
PREAMBLE = 64                   # preamble size; also the table's offset
ALIGN = 64
MAX_TABLE = 64 << 20            # largest decoded table accepted
MAX_INT = 2**63 - 1             # largest count/offset/length in the table
MAX_DIM = 2**31 - 1             # largest in, out, rank, binary_rank and carried dimension
MAX_BINARY_RANK_MULTIPLE = 64   # binary_rank <= 64 x rank
MAX_DEPTH = 32                  # JSON nesting a reader accepts
ZSTD_RATIO = 32768              # decoded_length <= 32768 x stored length
ZSTD_WINDOW_LOG_MAX = 27        # 128 MiB
ZSTD_LEVEL = 3                  # the writer's level (formats/lba.md 6.1)
MIN_SAVING = 64                 # a zstd frame is kept when it saves max(64, ceil(raw/100)) bytes
DECODED_EXPANSION = 64          # step 10: decoded sections <= 64 x file length + 32 MiB
DECODED_SLACK = 32 << 20


class Preamble:
    """Byte offsets of the preamble fields."""

    MAGIC = 0                   # 8 bytes
    MAJOR = 8                   # u16
    MINOR = 10                  # u16
    FLAGS = 12                  # u32
    TABLE_OFFSET = 16           # u64, always 64
    TABLE_LENGTH = 24           # u64
    FILE_LENGTH = 32            # u64
    TABLE_CRC = 40              # u32
    TABLE_DECODED_LENGTH = 44   # u64 (1.1)
    RESERVED = 52               # 8 bytes, zero
    PREAMBLE_CRC = 60           # u32 over bytes 0..59


class Key:
    """Members of the top-level table object, in the order writers emit them."""

    FORMAT = "format"
    VERSION = "version"
    LAYOUT = "layout"
    SCALE_DTYPE = "scale_dtype"
    METADATA = "metadata"
    MODULES = "modules"
    CARRIED = "carried"
    SECTIONS = "sections"


class ModuleKey:
    """Members of a module object, in the order writers emit them."""

    NAME = "name"
    KIND = "kind"
    KERNEL = "kernel"           # conv only
    IN = "in"
    OUT = "out"
    RANK = "rank"
    BINARY_RANK = "binary_rank"
    LORA_SCALE = "lora_scale"
    SOURCE = "source"
    DORA = "dora"               # 1.1, optional
    SECTIONS = "sections"


class SourceKey:
    """Members of a module's `source` object, in the order writers emit them."""

    A = "a"
    B = "b"
    ALPHA = "alpha"             # optional
    DTYPE = "dtype"


DORA_MAGNITUDE = "magnitude"    # the one member of a module's `dora` object


class CarriedKey:
    """Members of a carried tensor object, in the order writers emit them."""

    NAME = "name"
    DTYPE = "dtype"
    SHAPE = "shape"
    ROLE = "role"               # 1.1, optional
    SECTION = "section"


class SectionKey:
    """Members of a section object, in the order writers emit them (`module` or `tensor`)."""

    CONTENT = "content"
    MODULE = "module"
    TENSOR = "tensor"
    OFFSET = "offset"
    LENGTH = "length"
    DECODED_LENGTH = "decoded_length"
    ENCODING = "encoding"
    CRC32C = "crc32c"


# Section contents: the five of a module, in file order, and carried tensors.
SIGN_A, SIGN_B, SCALE_A, SCALE_B, SCALE_M, CARRIED = "sign_a", "sign_b", "scale_a", "scale_b", "scale_m", "carried"
MODULE_CONTENTS = (SIGN_A, SIGN_B, SCALE_A, SCALE_B, SCALE_M)
CONTENTS = frozenset(MODULE_CONTENTS) | {CARRIED}
RAW, ZSTD = "raw", "zstd"
ENCODINGS = (RAW, ZSTD)

LAYOUT_MINOR = {"peft": 0, "mlx": 0, "kohya": 0, "diffusers": 1}   # the minor version a layout needs
LAYOUTS = frozenset(LAYOUT_MINOR)
KINDS = frozenset({"linear", "embedding", "conv"})
ROLES = frozenset({"magnitude", "modules_to_save", "bias", "other"})
SCALE_WIDTH = {"f16": 2, "bf16": 2, "f32": 4, "e4m3": 1}
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}
NUMPY_DTYPES = {
    "BOOL": "?", "U8": "<u1", "I8": "<i1", "I16": "<i2", "U16": "<u2", "F16": "<f2", "I32": "<i4",
    "U32": "<u4", "F32": "<f4", "C64": "<c8", "F64": "<f8", "I64": "<i8", "U64": "<u8",
}


class LBAError(ValueError):
    """The file is not a valid `.lba` (or the content cannot be written as one); the message
    names the file and the part."""


def aligned(n: int) -> int:
    """`n` rounded up to a multiple of 64."""
    return (n + ALIGN - 1) // ALIGN * ALIGN


def bounded_product(values: list[int], limit: int = MAX_INT) -> int | None:
    """The product of `values` (non-negative), or None once it passes `limit`: a shape of many
    large dimensions never becomes a huge integer."""
    product = 1
    for value in values:
        product *= value
        if product > limit:
            return None if 0 not in values else 0
    return product


def tensor_bytes(shape: list[int], dtype: str) -> int | None:
    """Bytes of a tensor of `dtype` (a safetensors dtype) and `shape`, or None when the element
    count is not addressable or the bits do not fill whole bytes (6.4)."""
    count = bounded_product(shape)
    if count is None or count * DTYPE_BITS[dtype] % 8:
        return None
    return count * DTYPE_BITS[dtype] // 8


def sign_bytes(rows: int, cols: int) -> int:
    """Bytes of a packed `rows x cols` sign matrix (rows of 64-bit words)."""
    return rows * ((cols + 63) // 64) * 8


def memory_size(decoded_length: int, content: str, scale_dtype: str) -> int:
    """Bytes a decoded section takes in memory (step 10): scales at 4 bytes a value."""
    if content in (SCALE_A, SCALE_B):
        return decoded_length // SCALE_WIDTH[scale_dtype] * 4
    return decoded_length


def within_decoded_budget(memory: int, stored: int) -> bool:
    """Step 10: `memory` decoded bytes fit a file of `stored` bytes."""
    return memory <= DECODED_EXPANSION * stored + DECODED_SLACK
