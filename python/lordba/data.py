"""Calibration data for `lordba-refine` and `lordba-eval`: token sequences from a text file.

Accepted files: `.jsonl` (one JSON object per line with `text`, tokenised by the base model's
tokenizer, or pre-tokenised `input_ids`) and `.txt` (one sample per line). The file is streamed
line by line with a bounded line length, so a huge or hostile file costs at most one line of
memory; every problem is a `DataError` naming the file and the line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

MAX_LINE_BYTES = 4 << 20   # one sample's line (4 MiB)
MAX_SAMPLES = 1 << 20      # samples read from one file


class DataError(ValueError):
    """The calibration data cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class TokenData:
    """Token sequences (each truncated to the sequence length) and the SHA-256 of their source."""

    sequences: list[list[int]]
    sha256: str
    source: str  # the file, or "self-generated"

    @property
    def tokens(self) -> int:
        return sum(len(s) for s in self.sequences)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, decoded as strict UTF-8."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise DataError(f"{path}: cannot open ({error.strerror})") from None
    with handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(f"{path}: line {number} is longer than {MAX_LINE_BYTES} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(f"{path}: line {number} is not valid UTF-8 (byte {error.start})") from None
            text = text.rstrip("\r\n")
            if text.strip():
                yield number, text


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


Tokenize = Callable[[str], list[int]]


def _sample(path: Path, number: int, line: str, jsonl: bool, tokenize: Tokenize | None) -> list[int]:
    where = f"{path}: line {number}"
    if not jsonl:
        if tokenize is None:
            raise DataError(f"{where}: text needs a tokenizer, and the base model folder has none")
        return tokenize(line)
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object with \"text\" or \"input_ids\"")
    if "input_ids" in record:
        ids = record["input_ids"]
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise DataError(f"{where}: \"input_ids\" must be a list of integers")
        return ids
    if isinstance(record.get("text"), str):
        if tokenize is None:
            raise DataError(f"{where}: text needs a tokenizer, and the base model folder has none")
        return tokenize(record["text"])
    raise DataError(f"{where}: expected \"text\" (a string) or \"input_ids\" (a list of integers)")


def read_tokens(path: Path, *, tokenize: Tokenize | None, vocab_size: int, context: int | None,
                seq_len: int | None, limit: int | None) -> TokenData:
    """Reads up to `limit` samples, each cut to `seq_len` tokens (None: whole).

    A sample with a token id outside the vocabulary, or longer than the model's `context`
    before truncation, is an error: the first is a tokenizer mismatch, the second means the
    text was not prepared for this model.
    """
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".txt"):
        raise DataError(f"{path}: unsupported data file (expected .jsonl with \"text\" or \"input_ids\", or .txt)")
    sequences: list[list[int]] = []
    for number, line in _lines(path):
        if limit is not None and len(sequences) >= limit:
            break
        if len(sequences) >= MAX_SAMPLES:
            raise DataError(f"{path}: more than {MAX_SAMPLES} samples")
        ids = _sample(path, number, line, suffix == ".jsonl", tokenize)
        if not ids:
            continue
        bad = next((i for i in ids if i < 0 or i >= vocab_size), None)
        if bad is not None:
            raise DataError(f"{path}: line {number}: token id {bad} is outside the model's vocabulary (0..{vocab_size - 1})")
        if context is not None and len(ids) > context:
            raise DataError(f"{path}: line {number}: {len(ids)} tokens, longer than the model's context ({context})")
        sequences.append(ids[:seq_len] if seq_len else ids)
    if not sequences:
        raise DataError(f"{path}: no samples (the file is empty or has only blank lines)")
    return TokenData(sequences=sequences, sha256=file_sha256(path), source=str(path))


def split_held_out(data: TokenData, share: float) -> tuple[list[list[int]], list[list[int]]]:
    """(train, held-out): the last `share` of the samples (at least one) is held out."""
    n = len(data.sequences)
    if n < 2:
        raise DataError(f"{data.source}: {n} sample; refining needs at least 2 (one is held out to pick the best step)")
    held = min(n - 1, max(1, round(n * share)))
    return data.sequences[: n - held], data.sequences[n - held:]
