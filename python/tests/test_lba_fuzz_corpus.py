"""Reader parity on the fuzzing corpus: every file in `tests/corpus/` (deterministic mutants of
each kind from `fuzz_reader.py --make-corpus`, and every finding of a fuzzing run) is either
rejected by both readers — the Python `lordba.lba.parse` with an LBAError, the Swift
`lordba-convert inspect` with exit status 1 — or accepted by both; the Python reader never
raises anything else. (The reverse direction, the Swift corruption tests' rejected files,
is `test_python_rejects_every_file_the_swift_corruption_tests_rejected` in test_lba.py.)"""

from __future__ import annotations

from pathlib import Path

from lba_fixtures import run
from lordba import lba

CORPUS = Path(__file__).resolve().parent / "corpus"


def python_accepts(path: Path) -> bool:
    try:
        lba.parse(path.read_bytes(), path.name)
    except lba.LBAError:
        return False
    return True


def test_both_readers_agree_on_every_corpus_file():
    files = sorted(CORPUS.glob("*.lba"))
    assert len(files) >= 50, f"only {len(files)} files in {CORPUS}"
    disagreements, rejected = [], 0
    for path in files:
        swift = run("inspect", str(path), check=False)
        assert swift.returncode in (0, 1), (path.name, swift.returncode, swift.stderr)
        accepted = python_accepts(path)
        rejected += not accepted
        if accepted != (swift.returncode == 0):
            disagreements.append(f"{path.name}: Python {'accepts' if accepted else 'rejects'}, "
                                 f"Swift {'accepts' if swift.returncode == 0 else 'rejects: ' + swift.stderr.strip()}")
    assert not disagreements, "\n".join(disagreements)
    assert rejected >= len(files) // 2, f"only {rejected} of {len(files)} corpus files are rejected"
