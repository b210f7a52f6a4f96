"""Attach `.lba` adapters to a PyTorch model unmerged: the base weights stay as they are and every
adapted `nn.Linear` gets a forward hook that adds the active adapter's branch to its output.

Several adapters can be attached at once; one is active per call, and `swap` changes which by
setting one attribute (no allocation, no copy of any weight).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn

from lordba import lba
from lordba.model_paths import model_path
from lordba.torch.branches import PackedBranch, SignBranch

Branch = SignBranch | PackedBranch
_STATE = "_lordba_adapters"


class AttachError(ValueError):
    """The `.lba` does not fit the model; the message names the file and the module."""


@dataclass
class Adapter:
    """One attached `.lba`: its branches by model module path."""

    name: str
    path: str
    packed: bool
    branches: dict[str, Branch]
    source_names: dict[str, str]  # model path -> the .lba module name
    decoded_bytes: int  # the decoded size of the sections the branches come from

    @property
    def nbytes(self) -> int:
        """Bytes of tensor storage the adapter holds."""
        return sum(t.untyped_storage().nbytes() for b in self.branches.values() for t in b.tensors())


@dataclass
class _Attachments:
    """What a model carries while adapters are attached: the adapters, the active one, the hooks."""

    adapters: dict[str, Adapter] = field(default_factory=dict)
    active: Adapter | None = None
    hooks: dict[str, torch.utils.hooks.RemovableHandle] = field(default_factory=dict)


def _state(model: nn.Module) -> _Attachments:
    state = getattr(model, _STATE, None)
    if state is None:
        state = _Attachments()
        setattr(model, _STATE, state)
    return state


def _hook(state: _Attachments, path: str):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
        adapter = state.active
        branch = adapter.branches.get(path) if adapter is not None else None
        if branch is None:
            return None
        # Without autograd nothing else needs the base output: the branch is added to it in place.
        return branch.apply(inputs[0], output, inplace=not torch.is_grad_enabled())
    return hook


def _load(model: nn.Module, path: str, packed: bool) -> tuple[dict[str, Branch], dict[str, str], int]:
    f = lba.read(path)
    where = os.fspath(path)
    branches: dict[str, Branch] = {}
    names: dict[str, str] = {}
    if packed:
        from lordba.torch.ops import SCALE_DTYPES
        scale_dtype = SCALE_DTYPES[f.scale_dtype]
    if f.layout not in ("peft", "mlx"):
        raise AttachError(f"{where}: a {f.layout} adapter has no transformers module paths (peft and mlx do)")
    for m in f.modules:
        target = model_path(m.name)
        try:
            layer = model.get_submodule(target)
        except AttributeError:
            raise AttachError(f"{where}: module {m.name} ({target}) is not in the model") from None
        if m.kind != "linear" or m.dora_magnitude is not None:
            what = "DoRA" if m.dora_magnitude is not None else m.kind
            raise AttachError(f"{where}: module {m.name}: {what} modules are not supported (linear LoRA only)")
        if not isinstance(layer, nn.Linear):
            raise AttachError(f"{where}: module {m.name} ({target}) is a {type(layer).__name__}, not nn.Linear")
        if (layer.out_features, layer.in_features) != (m.out_features, m.in_features):
            raise AttachError(f"{where}: module {m.name}: the .lba has in={m.in_features}, out={m.out_features}; "
                              f"the model's {target} has in={layer.in_features}, out={layer.out_features}")
        if packed:
            if layer.weight.device.type != "cpu":
                raise AttachError(f"{where}: module {m.name}: packed branches run on the CPU, {target} is on "
                                  f"{layer.weight.device}")
            branches[target] = PackedBranch.from_module(m, scale_dtype)
        else:
            branches[target] = SignBranch.from_module(m, layer.weight.device)
        names[target] = m.name
    decoded = sum(s["decoded_length"] for s in f.sections if s["content"] != "carried")
    return branches, names, decoded


def attach(model: nn.Module, path: str | os.PathLike, name: str | None = None, packed: bool = False) -> Adapter:
    """Attaches the `.lba` at `path` as adapter `name` (default: the file's stem) and makes it active.

    With `packed`, the branches keep the file's sign rows (1 bit per entry) and stored scales and run
    on the compiled sign GEMM (CPU); otherwise they hold ±1 float32 matrices and run as matmuls.
    A module the model lacks, of another shape, or not a linear LoRA module is an `AttachError`
    naming it; nothing is attached then.
    """
    name = name if name is not None else os.path.splitext(os.path.basename(os.fspath(path)))[0]
    if name in adapters(model):
        raise AttachError(f"{os.fspath(path)}: an adapter named {name!r} is already attached")
    branches, names, decoded = _load(model, path, packed)
    state = _state(model)
    adapter = Adapter(name, os.fspath(path), packed, branches, names, decoded)
    for target in branches:
        if target not in state.hooks:
            state.hooks[target] = model.get_submodule(target).register_forward_hook(_hook(state, target))
    state.adapters[name] = adapter
    state.active = adapter
    return adapter


def swap(model: nn.Module, name: str | None) -> None:
    """Makes adapter `name` the active one (None: none, the base model alone)."""
    state = _state(model)
    if name is not None and name not in state.adapters:
        raise KeyError(f"no adapter named {name!r} is attached (attached: {', '.join(state.adapters) or 'none'})")
    state.active = state.adapters[name] if name is not None else None


def detach(model: nn.Module, name: str | None = None) -> None:
    """Removes adapter `name` (None: every adapter, and the hooks with them)."""
    state = _state(model)
    if name is not None and name not in state.adapters:
        raise KeyError(f"no adapter named {name!r} is attached")
    for key in [name] if name is not None else list(state.adapters):
        adapter = state.adapters.pop(key)
        if state.active is adapter:
            state.active = None
    used = {target for a in state.adapters.values() for target in a.branches}
    for target in [t for t in state.hooks if t not in used]:
        state.hooks.pop(target).remove()
    if not state.adapters:
        delattr(model, _STATE)


def adapters(model: nn.Module) -> dict[str, Adapter]:
    """The attached adapters by name."""
    return dict(_state(model).adapters) if hasattr(model, _STATE) else {}


def active(model: nn.Module) -> Adapter | None:
    """The active adapter, if any."""
    state = getattr(model, _STATE, None)
    return state.active if state is not None else None
