"""Fuzzes the Python `.lba` reader (`lordba.lba.parse`) with atheris (libFuzzer) and the
structure-aware mutations of `fuzz_mutations.py`.

Property: `parse` raises nothing but `LBAError`, and its peak Python allocation (tracemalloc,
which numpy reports to) stays within 40 x the input size + 3 x the decoded lengths the file
declares (bounded by formats/lba.md step 10 before anything is decoded) + 4 MiB. Tracing costs
about 10x, so it measures every `--trace-every`th input (default 16); an address-space limit
(`--memory-limit`, default 2 GiB) guards every input, a MemoryError being a finding. A violation
stops the run and its input is written to `--findings` (then copy it to `tests/corpus/`: the
pytest `test_lba_fuzz_corpus.py` replays every corpus file through both readers).

    python3 python/tests/fuzz_reader.py --seconds 50           # bounded, as CI runs it
    nice python3 python/tests/fuzz_reader.py --runs 1000000     # the long run (one core)
    python3 python/tests/fuzz_reader.py --no-instrument ... DIR # uninstrumented, seeded from DIR
    python3 python/tests/fuzz_reader.py --parity 200 ...        # also compare with lordba-convert
                                                                # inspect every 200th input (a
                                                                # disagreement is a finding too)
    python3 python/tests/fuzz_reader.py --make-corpus DIR       # deterministic mutants per kind
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import atheris
import numpy  # noqa: F401  (imported before instrumenting, so only lordba is instrumented)
import zstandard  # noqa: F401

if "--no-instrument" in sys.argv:         # no coverage feedback: about 2x the executions a second
    from lordba import lba
else:
    with atheris.instrument_imports(include=["lordba"]):
        from lordba import lba

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_mutations  # noqa: E402

MIB = 1 << 20


def declared_decoded(data: bytes) -> int:
    """The decoded bytes the file's table claims (0 when it does not read), capped at the step
    10 budget the reader enforces before decoding anything."""
    parts = fuzz_mutations.Parts(data)
    total = 0
    if parts.ok:
        for s in parts.table["sections"]:
            value = s.get("decoded_length")
            if isinstance(value, int) and value > 0:
                total += value
        length = int.from_bytes(data[24:32], "little") if len(data) >= 32 else 0
        total += int.from_bytes(data[44:52], "little") if data[12:13] == b"\x01" else length
    return min(total, 64 * len(data) + 32 * MIB)


def memory_bound(data: bytes) -> int:
    return 40 * len(data) + 3 * declared_decoded(data) + 4 * MIB


class Checker:
    """Runs one input through the reader and checks the property (and parity, sampled)."""

    def __init__(self, findings: Path, parity_every: int, convert: Path | None, trace_every: int,
                 parity_continue: bool = False) -> None:
        self.parity_continue = parity_continue
        self.findings = findings
        self.trace_every = trace_every
        self.parity_every = parity_every
        self.convert = convert
        self.count = 0
        self.disagreements = 0
        self.scratch = Path(tempfile.mkdtemp(prefix="lba-fuzz-"))

    def save(self, data: bytes, kind: str) -> Path:
        self.findings.mkdir(parents=True, exist_ok=True)
        path = self.findings / f"{kind}-{hashlib.sha256(data).hexdigest()[:16]}.lba"
        path.write_bytes(data)
        return path

    def __call__(self, data: bytes) -> None:
        self.count += 1
        traced = self.count % self.trace_every == 0
        if traced:
            tracemalloc.start()
        try:
            try:
                lba.parse(data)
                accepted = True
            except lba.LBAError:
                accepted = False
            except BaseException:
                self.save(data, "crash")
                raise
            peak = tracemalloc.get_traced_memory()[1] if traced else 0
        finally:
            if traced:
                tracemalloc.stop()
        if peak > memory_bound(data):
            self.save(data, "memory")
            raise AssertionError(f"parse allocated {peak} bytes for a {len(data)}-byte input "
                                 f"(bound {memory_bound(data)})")
        if self.parity_every and self.count % self.parity_every == 0:
            self.parity(data, accepted)

    def parity(self, data: bytes, accepted: bool) -> None:
        path = self.scratch / "input.lba"
        path.write_bytes(data)
        result = subprocess.run([str(self.convert), "inspect", str(path)], capture_output=True, text=True)
        if (result.returncode == 0) != accepted:
            self.disagreements += 1
            saved = self.save(data, "parity")
            message = (f"parity: Python {'accepts' if accepted else 'rejects'}, Swift "
                       f"{'accepts' if result.returncode == 0 else 'rejects'}: {saved} {result.stderr.strip()[:200]}")
            if not self.parity_continue:
                raise AssertionError(message)
            print(message, file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, help="stop after this many seconds")
    parser.add_argument("--runs", type=int, help="stop after this many executions")
    parser.add_argument("--findings", type=Path, default=Path("fuzz-findings"), help="where violating inputs go")
    parser.add_argument("--parity", type=int, default=0, metavar="N",
                        help="also run every Nth input through lordba-convert inspect (LORDBA_CONVERT)")
    parser.add_argument("--parity-continue", action="store_true",
                        help="record parity disagreements in --findings and go on instead of stopping")
    parser.add_argument("--make-corpus", type=Path, metavar="DIR",
                        help="write deterministic mutants of each kind to DIR and exit")
    parser.add_argument("--memory-limit", type=int, default=2048, help="address-space limit in MiB")
    parser.add_argument("--trace-every", type=int, default=16, help="measure allocations of every Nth input")
    parser.add_argument("--no-instrument", action="store_true",
                        help="no coverage feedback for lordba (faster; mutants then grow from the seeds and any "
                             "corpus folders given after the options, e.g. an instrumented run's)")
    args, rest = parser.parse_known_args()
    if args.make_corpus:
        return make_corpus(args.make_corpus)
    limit = args.memory_limit * MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    root = Path(__file__).resolve().parents[2]
    convert = Path(os.environ.get("LORDBA_CONVERT", root / ".build/debug/lordba-convert"))
    checker = Checker(args.findings, args.parity, convert if args.parity else None, args.trace_every,
                      args.parity_continue)
    seeds = fuzz_mutations.seeds()
    corpus = Path(tempfile.mkdtemp(prefix="lba-fuzz-corpus-"))
    for n, seed in enumerate(seeds):
        (corpus / f"seed{n}.lba").write_bytes(seed)
    for path in sorted((Path(__file__).resolve().parent / "corpus").glob("*.lba")):
        (corpus / path.name).write_bytes(path.read_bytes())
    # Uninstrumented, libFuzzer keeps no input (none adds coverage): the mutator then starts from
    # the seeds and the files of the corpus folders given, read here.
    pool = seeds + [p.read_bytes() for folder in rest if Path(folder).is_dir() for p in sorted(Path(folder).iterdir())
                    if p.is_file() and p.stat().st_size >= 64] if args.no_instrument else seeds

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if len(data) < 64 or rng.random() < 0.05:
            data = rng.choice(pool)
        out = fuzz_mutations.mutate(data, rng, lambda d: atheris.Mutate(d, max(len(d), 64)))
        return out[:max_size]

    libfuzzer = [sys.argv[0], str(corpus), "-max_len=65536", "-rss_limit_mb=0", "-timeout=20", "-print_final_stats=1",
                 f"-artifact_prefix={args.findings}/"]
    if args.seconds:
        libfuzzer.append(f"-max_total_time={args.seconds}")
    if args.runs:
        libfuzzer.append(f"-runs={args.runs}")
    args.findings.mkdir(parents=True, exist_ok=True)
    atheris.Setup(libfuzzer + rest, checker, custom_mutator=custom_mutator)
    atheris.Fuzz()      # libFuzzer exits the process: "Done N runs in S second(s)" and its stats
    return 0


def make_corpus(folder: Path) -> int:
    """A few deterministic mutants per mutation kind, for the parity test."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = fuzz_mutations.seeds()
    kinds = fuzz_mutations.STRUCTURED[1:] + [None]
    written = 0
    for k, kind in enumerate(kinds):
        for n in range(12):
            rng = random.Random(1000 * k + n)
            seed = seeds[n % len(seeds)]
            if kind is None:
                data = fuzz_mutations.mutate_preamble(seed, rng) if n % 2 else fuzz_mutations.mutate_size(seed, rng)
            else:
                parts = fuzz_mutations.Parts(seed)
                data = kind(parts, rng)
            if data is None or len(data) > 16384:
                continue
            name = getattr(kind, "__name__", "mutate_preamble_or_size").removeprefix("mutate_")
            (folder / f"{name}-{n}.lba").write_bytes(data)
            written += 1
    for n, seed in enumerate(seeds):
        (folder / f"seed-{n}.lba").write_bytes(seed)
    print(f"{written} mutants and {len(seeds)} seeds in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
