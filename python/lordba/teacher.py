"""The original adapter, read back through what a `.lba` records about it.

Every `.lba` module names the source tensors that became `A` and `B` (`source`) and the LoRA
scale the converter applied (`lora_scale`), and the file's metadata holds the SHA-256 of the
source weights (`lordba.input_sha256`). So the original `ΔW = s·B·A` of each module is read
straight from the safetensors file by those names, with no layout logic of its own: MLX-LM
factors are stored transposed (`lora_a` [in, r], `lora_b` [r, out]) and are turned back here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from . import lba
from .data import file_sha256


class AdapterError(ValueError):
    """The original adapter does not match the `.lba`; the message names the file and tensor."""


@dataclass(frozen=True)
class TeacherFactors:
    """One module's original factors: `ΔW = scale · B @ A`."""

    a: torch.Tensor  # [r, in], float32
    b: torch.Tensor  # [out, r], float32
    scale: float


def weights_file(path: Path) -> Path:
    """The safetensors file of an adapter given as a file or as a folder holding one."""
    if path.is_dir():
        candidate = path / "adapter_model.safetensors"
        if candidate.is_file():
            return candidate
        found = sorted(path.glob("*.safetensors"))
        if len(found) != 1:
            raise AdapterError(f"{path}: expected one .safetensors file in the folder, found {len(found)}")
        return found[0]
    return path


def check_identity(path: Path, file: lba.LBAFile) -> None:
    """The original must be the very file the `.lba` was converted from."""
    recorded = file.metadata.get("lordba.input_sha256")
    if recorded is None:
        raise AdapterError(f"{file.path}: no lordba.input_sha256 in the metadata; cannot check that {path} is its source")
    actual = file_sha256(path)
    if actual != recorded:
        raise AdapterError(f"{path}: SHA-256 {actual[:16]}… differs from the {recorded[:16]}… recorded in "
                           f"{file.path} (not the adapter it was converted from, or changed since)")


def read_factors(path: Path, file: lba.LBAFile) -> dict[str, TeacherFactors]:
    """Each module's original `A`, `B` and scale, keyed by `.lba` module name."""
    check_identity(path, file)
    transposed = file.layout == "mlx"
    factors: dict[str, TeacherFactors] = {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = set(handle.keys())
            for module in file.modules:
                tensors = []
                for role in ("a", "b"):
                    name = module.source[role]
                    if name not in names:
                        raise AdapterError(f"{path}: tensor {name!r} (source {role.upper()} of {module.name}) is missing")
                    tensor = handle.get_tensor(name).to(torch.float32)
                    tensors.append(tensor.T.contiguous() if transposed else tensor)
                a, b = tensors
                if module.kind == "conv" and a.dim() > 2:
                    a = a.reshape(a.shape[0], -1)
                    b = b.reshape(b.shape[0], -1)
                expected = ((module.rank, module.in_features), (module.out_features, module.rank))
                if (tuple(a.shape), tuple(b.shape)) != expected:
                    raise AdapterError(f"{path}: {module.source['a']} / {module.source['b']} have shapes "
                                       f"{list(a.shape)} / {list(b.shape)}, the .lba records A {list(expected[0])}, B {list(expected[1])}")
                if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
                    raise AdapterError(f"{path}: {module.source['a']} or {module.source['b']} holds a non-finite value")
                factors[module.name] = TeacherFactors(a=a, b=b, scale=float(module.lora_scale))
    except AdapterError:
        raise
    except Exception as error:  # noqa: BLE001  safetensors' own error type is not importable by name
        raise AdapterError(f"{path}: not a readable safetensors file ({error})") from None
    return factors
