"""Shared fixtures of the Python tests: `work`, the converted `.lba` files (`lba_fixtures`); `task`,
a tiny LLaMA with a LoRA trained on the refine task (benchmarks/refine_task.py), converted with the
freshly built `lordba-convert`; `hostile`, inputs that `lordba-refine` and `lordba-eval` refuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import lba_fixtures

from lordba.data import MAX_LINE_BYTES

ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
CONVERT = Path(os.environ.get("LORDBA_CONVERT", ROOT / ".build/debug/lordba-convert"))
VALIDATE = Path(os.environ.get("LORDBA_VALIDATE", ROOT / ".build/debug/lordba-validate"))
sys.path.insert(0, str(PYTHON_DIR / "benchmarks"))


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> dict:
    """{"dir": folder, "files": {(input, option): (source, .lba path, report of that input)}}."""
    d = tmp_path_factory.mktemp("lba")
    try:
        files = lba_fixtures.convert_all(d)
    except FileNotFoundError as error:
        pytest.fail(str(error))
    return {"dir": d, "files": files}


@dataclass(frozen=True)
class Task:
    """A tiny base model, a LoRA trained on it, its default `.lba` and calibration/eval text."""

    folder: Path
    base: Path
    lora: Path
    weights: Path
    converted: Path
    train: Path
    eval: Path


def tool(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} not found: build it (swift build) or set LORDBA_CONVERT / LORDBA_VALIDATE")
    return path


def lordba(module: str, *args: object, check: bool = True) -> subprocess.CompletedProcess:
    """Runs `python -m lordba.<module>` as the console scripts do (the package need not be installed)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PYTHON_DIR), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", f"lordba.{module}", *map(str, args)], capture_output=True,
                            text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"lordba.{module} failed ({result.returncode}): {result.stderr}")
    return result


@pytest.fixture(scope="session")
def task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    import refine_task as rt

    folder = tmp_path_factory.mktemp("refine-task")
    base, lora = folder / "base", folder / "lora"
    rt.build_base(base, rt.ModelShape(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, context=128),
                  pretrain_steps=0)
    train_lines = rt.corpus(2, 10, 64)
    rt.train_lora(base, lora, train_lines, rank=8, steps=40, lr=1e-2)
    (folder / "train.txt").write_text("\n".join(train_lines) + "\n")
    (folder / "eval.txt").write_text("\n".join(rt.corpus(2, 20, 32)) + "\n")
    weights = lora / "adapter_model.safetensors"
    converted = folder / "default.lba"
    subprocess.run([str(tool(CONVERT)), str(weights), str(converted), "-q"], check=True)
    return Task(folder=folder, base=base, lora=lora, weights=weights, converted=converted,
                train=folder / "train.txt", eval=folder / "eval.txt")


#: Hostile `--data` files: name → (content, what the refusal says). lordba-refine and lordba-eval
#: read data through the same code (lordba.data).
BAD_DATA = {
    "bad.txt": (b"cat sees dog\n\xff\xfe broken\n", "not valid UTF-8"),
    "huge.txt": (b"x" * (MAX_LINE_BYTES + 1) + b"\n", f"line 1 is longer than {MAX_LINE_BYTES} bytes"),
    "ids.jsonl": (b'{"input_ids": [1, 2, 99999]}\n{"input_ids": [3, 4]}\n', "outside the model's vocabulary"),
    "long.jsonl": (json.dumps({"input_ids": [5] * 200}).encode() + b"\n", "longer than the model's context"),
    "empty.txt": (b"\n  \n", "no samples"),
    "fields.jsonl": (b'{"txt": "a"}\n', "expected \"text\""),
}
#: Every case of the `hostile` fixture.
HOSTILE = (*BAD_DATA, "changed-adapter", "config-disagrees", "other-shape-base", "unet-base", "missing-base", "not-lba")


@dataclass(frozen=True)
class Hostile:
    """An input that lordba-refine and lordba-eval refuse with one line naming `named` and saying
    `problem`; the inputs it does not replace are the task's."""

    named: Path
    problem: str
    input: Path | None = None
    base: Path | None = None
    adapter: Path | None = None
    data: Path | None = None

    def args(self, task: Task, data: Path) -> list[str]:
        """IN.lba --base --adapter --data: the task's (and `data`), with this case's in place."""
        return [str(self.input or task.converted), "--base", str(self.base or task.base),
                "--adapter", str(self.adapter or task.lora), "--data", str(self.data or data)]


@pytest.fixture(scope="session")
def hostile(task: Task, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Hostile]:
    """The `HOSTILE` cases by name, their files built once in one folder."""
    import refine_task as rt

    folder = tmp_path_factory.mktemp("hostile")
    cases: dict[str, Hostile] = {}
    for name, (content, problem) in BAD_DATA.items():
        (folder / name).write_bytes(content)
        cases[name] = Hostile(folder / name, problem, data=folder / name)
    # The adapter with its last byte changed: not the file the .lba was converted from.
    changed = folder / "changed.safetensors"
    changed.write_bytes(task.weights.read_bytes()[:-1] + b" ")
    cases["changed-adapter"] = Hostile(changed, "differs from the", adapter=changed)
    # A base whose config.json gives other shapes than its weights.
    wrong = folder / "wrong-base"
    wrong.mkdir()
    for item in task.base.iterdir():
        (wrong / item.name).write_bytes(item.read_bytes())
    config = json.loads((wrong / "config.json").read_text())
    config["intermediate_size"] = 96
    (wrong / "config.json").write_text(json.dumps(config))
    cases["config-disagrees"] = Hostile(wrong, "disagree with config.json", base=wrong)
    # A base of another shape entirely: the .lba's modules point at layers of other sizes.
    other = folder / "other-base"
    rt.build_base(other, rt.ModelShape(hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64, context=128),
                  pretrain_steps=0)
    cases["other-shape-base"] = Hostile(other, "the .lba's", base=other)
    unet = folder / "unet"
    unet.mkdir()
    (unet / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel", "in_channels": 4}))
    cases["unet-base"] = Hostile(unet, "supported:", base=unet)
    missing = folder / "missing-base"
    cases["missing-base"] = Hostile(missing, "no config.json", base=missing)
    not_lba = folder / "not.lba"
    not_lba.write_bytes(b"PK\x03\x04" + bytes(60))
    cases["not-lba"] = Hostile(not_lba, "not a .lba file", input=not_lba)
    assert tuple(cases) == HOSTILE
    return cases
