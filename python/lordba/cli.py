"""What the console scripts share: usage errors (exit 64), one-line errors (exit 1), output checks."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable

USAGE = 64


class OutputError(ValueError):
    """The output path cannot be written; the message names it."""


class Parser(argparse.ArgumentParser):
    """argparse with the project's exit status for bad usage (64)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(USAGE)


def add_model_arguments(p: argparse.ArgumentParser, dtypes: list[str]) -> None:
    """IN.lba, the base, the original adapter and where to run: what refine and eval share."""
    p.add_argument("input", type=Path, metavar="IN.lba")
    p.add_argument("--base", type=Path, required=True, metavar="MODEL_DIR", help="local transformers folder of the base model")
    p.add_argument("--adapter", type=Path, required=True, metavar="ORIGINAL",
                   help="the adapter the .lba was converted from (safetensors file or its folder)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument("--dtype", choices=dtypes, default="float32", help="dtype of the base model's weights (default float32)")
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: PyTorch's choice)")


def check_output(path: Path, inputs: list[Path], *, force: bool) -> None:
    """Refuses an output that names an input, is not a regular file, or exists without `force`."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    resolved = Path(os.path.realpath(path))
    for source in inputs:
        candidates = [source] if source.is_file() else [p for p in source.iterdir() if p.is_file()] if source.is_dir() else []
        for candidate in candidates:
            same = Path(os.path.realpath(candidate)) == resolved
            if not same and info is not None:
                try:
                    same = os.path.samefile(candidate, path)
                except OSError:
                    same = False
            if same:
                raise OutputError(f"{path}: the output names an input ({candidate}); choose another output path")
    if info is None:
        if not resolved.parent.is_dir():
            raise OutputError(f"{path}: the folder {resolved.parent} does not exist")
        return
    if stat.S_ISLNK(info.st_mode):
        raise OutputError(f"{path}: is a symbolic link; refusing to write through it")
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{path}: exists and is not a regular file; refusing to replace it")
    if not force:
        raise OutputError(f"{path}: exists; --force replaces it")


def write_json(target: str, document: dict[str, Any], inputs: list[Path], force: bool) -> None:
    """`--report-json PATH|-`: the report as JSON, atomically (temp file + rename)."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    path = Path(target)
    check_output(path, inputs, force=force)
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def run(body: Callable[[], int], errors: tuple[type[BaseException], ...], prog: str) -> int:
    """Runs a command; an expected error becomes one line on stderr and exit 1."""
    try:
        return body()
    except errors as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing written", file=sys.stderr)
        return 130
