"""The table's JSON (formats/lba.md section 5): a strict parser for the reader and the
serializer whose bytes equal the Swift writer's (compact, members in the given order, strings
escaped as the Swift writer escapes them, numbers as section 10 says)."""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any

from .lba_format import MAX_DEPTH, LBAError


MAX_INTEGER_LITERAL = 2**64 - 1     # integer literals from here on are refused (formats/lba.md 5)


class Float(float):
    """A JSON number written with a fraction or an exponent (never an integer, spec 5)."""


def parse(text: bytes, path: str) -> Any:
    """The JSON document `text`: UTF-8, no duplicate keys (after NFC), no NaN/Infinity, numbers
    with a fraction or an exponent as `Float`, lone surrogates as U+FFFD, at most 32 levels."""
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
            key = text_value(key)
            if isinstance(value, str):
                value = text_value(value)
            if nfc(key) in seen:
                raise fail(f"duplicate key {json.dumps(key)}")
            seen.add(nfc(key))
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise fail(f"{name} is not a JSON number")

    def integer(token: str) -> int:
        value = int(token)
        if value >= MAX_INTEGER_LITERAL:
            raise fail(f"integer literal out of range ({token[:24]}{'…' if len(token) > 24 else ''})")
        return value

    try:
        value = json.loads(decoded, object_pairs_hook=pairs, parse_constant=constant, parse_float=Float,
                           parse_int=integer)
    except LBAError:
        raise
    except (ValueError, RecursionError) as error:
        raise fail(f"invalid JSON ({error})") from None
    depth = _depth(value)
    if depth > MAX_DEPTH:
        raise fail(f"nested {depth} levels deep (at most {MAX_DEPTH})")
    return value


def text_value(s: str) -> str:
    """Lone surrogates (from escapes such as \\ud800 without a partner) become U+FFFD (spec 5)."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in s)


def nfc(s: str) -> str:
    """Names are compared after NFC normalization (spec 5)."""
    return s if s.isascii() else unicodedata.normalize("NFC", s)


def _depth(value: Any) -> int:
    """Levels of nested arrays and objects (iteratively: no recursion limit to hit)."""
    depth, level = 0, [value]
    while True:
        containers = [v for v in level if isinstance(v, (dict, list))]
        if not containers:
            return depth
        depth += 1
        level = [item for c in containers for item in (c.values() if isinstance(c, dict) else c)]


def is_integer(value: Any) -> bool:
    """A JSON integer (no fraction, no exponent; not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# Serializing exactly as the Swift writer does.

def number(value: float) -> str:
    """`lora_scale`'s text: an integer when integral and below 1e15 in magnitude, else the
    shortest round-trip decimal (Python's `repr` and Swift's `Double.description` agree)."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if value == math.floor(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON: dicts in insertion order, control characters escaped as the Swift
    writer escapes them (`\\n`, `\\u001f`, …), everything else as is."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(number(value))
    elif isinstance(value, dict):
        out.append("{")
        for n, (key, item) in enumerate(value.items()):
            if n:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif value is None:
        out.append("null")
    else:
        raise TypeError(f"cannot serialize {type(value).__name__}")
