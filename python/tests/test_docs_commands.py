"""Every command the README and docs/ show runs as shown.

From each page (README.md, docs/*.md), the ```sh blocks made of `lordba-` commands (and
comments) are run in order, in a fresh folder holding a copy of samples/, with the tools' folder
first on PATH (the folder of `LORDBA_CONVERT`, default `.build/debug`). A line's comment may
name the status it must end with (`# exit 3`); otherwise it must succeed. Blocks marked ```text
show usage with placeholders, and blocks with other steps (`apt-get`, `swift build`, `tar`, …)
are procedures run by other checks (`.ci/run`, the release tests) or by hand; neither is run here.

    LORDBA_CONVERT=.build/debug/lordba-convert python3 -m pytest -q python/tests/test_docs_commands.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONVERT = Path(os.environ.get("LORDBA_CONVERT", ROOT / ".build/debug/lordba-convert"))
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"sh", "bash", "shell", "console"}
EXPECTED_STATUS = re.compile(r"#.*\bexit (\d+)\b")


@dataclass(frozen=True)
class Command:
    page: Path
    line: int
    text: str

    @property
    def expected_status(self) -> int:
        match = EXPECTED_STATUS.search(self.text)
        return int(match.group(1)) if match else 0

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}: {self.text}"


def shown_commands(page: Path) -> list[Command]:
    """The commands of the page's runnable blocks: shell blocks of `lordba-` lines only, in order."""
    commands: list[Command] = []
    block: list[Command] | None = None
    runnable = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            if block is None:
                block, runnable = [], stripped[3:].strip() in SHELL_FENCES
            else:
                if runnable:
                    commands.extend(block)
                block = None
            continue
        if block is None or not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("lordba-"):
            block.append(Command(page, number, stripped))
        else:
            runnable = False
    return commands


def test_pages_show_commands():
    """The parser finds the README's commands (a parser that finds none would pass every page)."""
    readme = shown_commands(ROOT / "README.md")
    assert any(c.text.startswith("lordba-convert samples/") for c in readme), readme
    assert sum(len(shown_commands(p)) for p in PAGES) >= 30


def test_expected_status_is_read_from_the_comment():
    page = ROOT / "README.md"
    assert Command(page, 1, "lordba-convert a b --max-error 0.1   # exit 3").expected_status == 3
    assert Command(page, 1, "lordba-convert a b").expected_status == 0


@pytest.mark.parametrize("page", [p for p in PAGES if shown_commands(p)], ids=lambda p: p.name)
def test_page_commands_run_as_shown(page: Path, tmp_path: Path):
    if not CONVERT.exists():
        pytest.fail(f"{CONVERT} not found: build it (swift build) or set LORDBA_CONVERT")
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    env = dict(os.environ, PATH=f"{CONVERT.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("GITHUB_ACTIONS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    for command in shown_commands(page):
        result = subprocess.run(
            ["bash", "-c", command.text], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=900,
        )
        assert result.returncode == command.expected_status, (
            f"{command}\nexit {result.returncode}, expected {command.expected_status}\n"
            f"{result.stderr.strip()[-2000:]}"
        )
