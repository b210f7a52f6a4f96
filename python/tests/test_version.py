"""The Python package carries the tools' version: one release, one number."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import lordba

ROOT = Path(__file__).resolve().parents[2]


def test_package_version_is_the_tools_version() -> None:
    swift = (ROOT / "Sources/LoRDBA/Support/ToolVersion.swift").read_text()
    tools = re.search(r'static let current = "([^"]+)"', swift)
    assert tools is not None
    project = tomllib.loads((ROOT / "python/pyproject.toml").read_text())["project"]["version"]
    assert project == tools.group(1) == lordba.__version__
