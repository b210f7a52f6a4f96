"""Read and write LoRDBA `.lba` files (formats/lba.md): the reference reader, written from the
spec alone, and a writer whose bytes equal the Swift converter's. numpy and zstandard only.

    from lordba import lba
    f = lba.read("adapter.lba")           # verifies every check of spec section 8
    for m in f.modules:
        A, B = m.factors()                # A' [k, in], B' [out, k], dequantized, float64
    m.scale_b = lba.quantize_scales(new_b, f.scale_dtype)
    lba.write(f, "changed.lba")           # atomic; refuses to replace a file unless overwrite=True

    lordba-lba FILE.lba                   # prints a summary (python3 -m lordba.lba FILE.lba)
"""

from __future__ import annotations

import sys

from ._crc32c import crc32c
from ._json import parse as _parse_json
from .lba_format import (ALIGN, COMPRESSED_TABLE, DTYPE_BITS, KINDS, LAYOUTS, MAGIC, MAJOR, MAX_DIM, MAX_INT,
                         MAX_TABLE, MINOR, MODULE_CONTENTS, NUMPY_DTYPES, ROLES, SCALE_WIDTH, ZSTD_RATIO,
                         ZSTD_WINDOW_LOG_MAX, LBAError)
from .lba_model import Carried, LBAFile, Module
from .lba_reader import parse, read
from .lba_scales import e4m3_to_float, quantize_scales
from .lba_writer import to_bytes, write

__all__ = [
    "LBAError", "LBAFile", "Module", "Carried", "read", "parse", "write", "to_bytes", "quantize_scales",
    "e4m3_to_float", "crc32c", "summary", "main", "MAGIC", "MAJOR", "MINOR", "ALIGN", "COMPRESSED_TABLE",
    "DTYPE_BITS", "KINDS", "LAYOUTS", "MAX_DIM", "MAX_INT", "MAX_TABLE", "MODULE_CONTENTS", "NUMPY_DTYPES",
    "ROLES", "SCALE_WIDTH", "ZSTD_RATIO", "ZSTD_WINDOW_LOG_MAX", "_parse_json",
]


def summary(f: LBAFile) -> str:
    """A few lines describing `f`: version, size, layout, metadata, modules, carried tensors."""
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


def main(argv: list[str] | None = None) -> int:
    """`lordba-lba FILE.lba`: validates the file and prints its summary (exit 1 on a bad file)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: lordba-lba FILE.lba  (validates the file and prints a summary)", file=sys.stderr)
        return 64
    try:
        f = read(args[0])
    except (LBAError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        print(summary(f))
    except BrokenPipeError:  # e.g. piped into head
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
