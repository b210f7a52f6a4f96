"""Shared fixtures of the Python tests: `work`, the converted `.lba` files (`lba_fixtures`); `task`,
a tiny LLaMA with a LoRA trained on the refine task (benchmarks/refine_task.py), converted with the
freshly built `lordba-convert`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import lba_fixtures

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
