"""The base model, and where each `.lba` module and carried head lives in it.

Bases load from a local folder only. `.lba` module names are the adapter's own: PEFT prefixes the
model's module path with `base_model.model.` (`base_model.model.model.layers.0.self_attn.q_proj`),
MLX-LM uses the model path itself (`model.layers.0.self_attn.q_proj`), so both map onto a
`transformers` model by dropping that prefix. A `modules_to_save` head carried in the `.lba`
(`base_model.model.classifier.weight`) is loaded into the model the same way.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import lba

PEFT_PREFIX = "base_model.model."
SUPPORTED = ("supported: a local transformers folder (config.json + weights) of a causal language model "
             "(AutoModelForCausalLM) or a sequence classifier (AutoModelForSequenceClassification), "
             "with a PEFT or MLX-LM adapter")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class BaseModelError(ValueError):
    """The base model cannot be used with the `.lba`; the message names the folder and module."""


@dataclass
class BaseModel:
    model: nn.Module
    task: str  # "causal-lm" or "seq-cls"
    tokenizer: object | None
    vocab_size: int
    context: int | None
    folder: Path


def model_path(name: str) -> str:
    """The module path inside a transformers model for a `.lba` module or carried tensor name."""
    path = name[len(PEFT_PREFIX):] if name.startswith(PEFT_PREFIX) else name
    return path.replace(".modules_to_save.default.", ".")


def task_of(file: lba.LBAFile) -> str:
    config = file.metadata.get("lordba.source_config")
    task = ""
    if config:
        try:
            task = str(json.loads(config).get("task_type") or "")
        except (json.JSONDecodeError, AttributeError):
            task = ""
    heads = [c for c in file.carried if c.role == "modules_to_save"]
    return "seq-cls" if task == "SEQ_CLS" or (not task and heads) else "causal-lm"


def _head_labels(file: lba.LBAFile) -> int | None:
    for c in file.carried:
        if c.role == "modules_to_save" and c.name.endswith(".weight") and len(c.shape) == 2:
            return int(c.shape[0])
    return None


def load_base(folder: Path, file: lba.LBAFile, *, dtype: str, device: str) -> BaseModel:
    """Loads the base for the `.lba`'s task, refusing what is not a transformers model folder."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    if file.layout not in ("peft", "mlx"):
        raise BaseModelError(f"{file.path}: a {file.layout} adapter; {SUPPORTED}")
    if not (folder / "config.json").is_file():
        raise BaseModelError(f"{folder}: no config.json; {SUPPORTED}")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except Exception as error:  # noqa: BLE001  transformers raises several types here
        raise BaseModelError(f"{folder}: config.json is not a transformers model config ({_first_line(error)}); {SUPPORTED}") from None
    task = task_of(file)
    kwargs: dict = {"local_files_only": True, "dtype": DTYPES[dtype]}
    auto = AutoModelForCausalLM
    if task == "seq-cls":
        auto = AutoModelForSequenceClassification
        labels = _head_labels(file)
        if labels is not None:
            config.num_labels = labels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, info = auto.from_pretrained(str(folder), config=config, output_loading_info=True, **kwargs)
    except ValueError as error:
        if "Unrecognized configuration class" in str(error):
            raise BaseModelError(f"{folder}: a {config.model_type} model has no {auto.__name__[4:]} class; {SUPPORTED}") from None
        raise BaseModelError(f"{folder}: cannot load the base model ({_first_line(error)})") from None
    except Exception as error:  # noqa: BLE001  size mismatches and missing files
        raise BaseModelError(f"{folder}: the weights disagree with config.json or cannot be read ({_first_line(error)})") from None
    heads = {model_path(c.name) for c in file.carried if c.role == "modules_to_save"}
    missing = [k for k in info.get("missing_keys", []) if k not in heads]
    mismatched = info.get("mismatched_keys", [])
    if mismatched:
        raise BaseModelError(f"{folder}: weight {_key(mismatched[0])} has a shape config.json does not give it")
    if missing:
        raise BaseModelError(f"{folder}: config.json names weight {missing[0]}, which the folder's weights lack "
                             f"({len(missing)} missing)")
    model.to(device)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    tokenizer = None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception:  # noqa: BLE001  a folder without a tokenizer is fine for pre-tokenised data
        tokenizer = None
    vocab = int(getattr(model.config, "vocab_size", 0) or model.get_input_embeddings().weight.shape[0])
    context = getattr(model.config, "max_position_embeddings", None)
    return BaseModel(model=model, task=task, tokenizer=tokenizer, vocab_size=vocab,
                     context=int(context) if context else None, folder=folder)


def _key(entry: object) -> str:
    return str(entry[0]) if isinstance(entry, (tuple, list)) else str(entry)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def resolve_modules(base: BaseModel, file: lba.LBAFile) -> dict[str, nn.Linear]:
    """Each `.lba` module's `nn.Linear` in the base, checked against the recorded shape."""
    found: dict[str, nn.Linear] = {}
    for module in file.modules:
        if module.kind != "linear":
            raise BaseModelError(f"{file.path}: module {module.name} is a {module.kind} module; refining handles linear modules")
        if module.dora_magnitude is not None:
            raise BaseModelError(f"{file.path}: module {module.name} is a DoRA module; refining handles plain LoRA modules")
        path = model_path(module.name)
        try:
            layer = base.model.get_submodule(path)
        except AttributeError:
            raise BaseModelError(f"{base.folder}: the base has no module {path} (for {module.name} of {file.path})") from None
        if not isinstance(layer, nn.Linear):
            raise BaseModelError(f"{base.folder}: {path} is a {type(layer).__name__}, not a linear layer (for {module.name})")
        if (layer.in_features, layer.out_features) != (module.in_features, module.out_features):
            raise BaseModelError(f"{base.folder}: {path} is {layer.in_features} → {layer.out_features}, the .lba's "
                                 f"{module.name} is {module.in_features} → {module.out_features}")
        found[module.name] = layer
    return found


def load_heads(base: BaseModel, file: lba.LBAFile) -> list[str]:
    """Copies the carried `modules_to_save` tensors into the model; returns their model paths."""
    loaded = []
    parameters = dict(base.model.named_parameters())
    for carried in file.carried:
        if carried.role != "modules_to_save":
            continue
        path = model_path(carried.name)
        target = parameters.get(path)
        if target is None:
            raise BaseModelError(f"{base.folder}: the base has no parameter {path} (carried {carried.name} of {file.path})")
        try:
            values = torch.from_numpy(np.array(carried.array(), dtype=np.float32))
        except ValueError:
            raise BaseModelError(f"{file.path}: carried {carried.name} has dtype {carried.dtype}, which cannot be loaded") from None
        if tuple(values.shape) != tuple(target.shape):
            raise BaseModelError(f"{base.folder}: {path} has shape {list(target.shape)}, carried {carried.name} {list(values.shape)}")
        with torch.no_grad():
            target.copy_(values.to(target.dtype))
        loaded.append(path)
    return loaded
