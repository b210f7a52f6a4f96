"""One base model carrying both the original adapter and the `.lba`, for refine and eval.

`open_pair` reads the `.lba`, checks the original adapter against it (SHA-256), loads the base
from its local folder, wraps every adapted layer in a `BranchedLinear` with a `teacher` branch
(the original factors) and a `student` branch (the `.lba`), and loads a carried classifier head.
`logits(batch, branch)` then runs the model as the base (`None`), the original or the `.lba`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from . import lba, metrics
from .data import DataError, TokenData, read_tokens
from .model_paths import BaseModel, load_base, load_heads, model_path, resolve_modules
from .student import BranchedLinear, StudentBranch, TeacherBranch, activate, install
from .teacher import read_factors, weights_file

TEACHER, STUDENT = "teacher", "student"


@dataclass
class Pair:
    file: lba.LBAFile
    base: BaseModel
    wrappers: dict[str, BranchedLinear]
    students: dict[str, StudentBranch]
    device: str

    @property
    def task(self) -> str:
        return self.base.task

    @property
    def pad_id(self) -> int:
        """Padding token for batches (a LLaMA classifier pools the last token before it)."""
        pad = getattr(self.base.model.config, "pad_token_id", None)
        return int(pad) if pad is not None else 0

    def batches(self, sequences: list[list[int]], size: int) -> list[metrics.Batch]:
        return list(metrics.batches(sequences, size, self.device, self.pad_id))

    def logits(self, batch: metrics.Batch, branch: str | None) -> torch.Tensor:
        activate(self.wrappers, branch)
        out = self.base.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        return out.logits

    def log_probs(self, batch: metrics.Batch, branch: str | None) -> torch.Tensor:
        return metrics.log_probs(self.logits(batch, branch))

    def set_rounded(self, rounded: bool) -> None:
        for student in self.students.values():
            student.rounded = rounded

    def tokens(self, path: Path, *, samples: int | None, seq_len: int | None) -> TokenData:
        tokenizer = self.base.tokenizer

        def tokenize(text: str) -> list[int]:
            return list(tokenizer(text, add_special_tokens=True)["input_ids"])

        if seq_len is not None and self.base.context is not None and seq_len > self.base.context:
            raise DataError(f"--seq-len {seq_len} is longer than the context of {self.base.folder} ({self.base.context})")
        return read_tokens(path, tokenize=tokenize if tokenizer is not None else None, vocab_size=self.base.vocab_size,
                           context=self.base.context, seq_len=seq_len, limit=samples)


def resolve_device(device: str, threads: int | None = None) -> str:
    """The device to run on (`auto`: CUDA when available); sets PyTorch's CPU threads if given."""
    if threads is not None:
        torch.set_num_threads(threads)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available to this PyTorch")
    return device


def open_pair(lba_path: Path, base_dir: Path, adapter: Path, *, dtype: str, device: str, ste: bool) -> Pair:
    file = lba.read(str(lba_path))
    original = weights_file(adapter)
    factors = read_factors(original, file)
    base = load_base(base_dir, file, dtype=dtype, device=device)
    layers = resolve_modules(base, file)
    load_heads(base, file)
    wrappers = install(base.model, {name: (model_path(name), layer) for name, layer in layers.items()})
    students: dict[str, StudentBranch] = {}
    for module in file.modules:
        wrapper = wrappers[module.name]
        wrapper.branches[TEACHER] = TeacherBranch(factors[module.name]).to(device)
        student = StudentBranch(module, file.scale_dtype, train_signs=ste).to(device)
        wrapper.branches[STUDENT] = student
        students[module.name] = student
    return Pair(file=file, base=base, wrappers=wrappers, students=students, device=device)


def self_generate(pair: Pair, count: int, seq_len: int, seed: int) -> TokenData:
    """`count` sequences of `seq_len` tokens sampled from the original adapted model, from BOS."""
    import hashlib

    if pair.task != "causal-lm":
        raise DataError("--self-generate needs a causal language model; give --data for a sequence classifier")
    config = pair.base.model.config
    bos = getattr(config, "bos_token_id", None)
    if bos is None and pair.base.tokenizer is not None:
        bos = getattr(pair.base.tokenizer, "bos_token_id", None)
    if bos is None:
        raise DataError(f"{pair.base.folder}: the model has no BOS token to start --self-generate from; give --data")
    if pair.base.context is not None and seq_len > pair.base.context:
        raise DataError(f"--seq-len {seq_len} is longer than the context of {pair.base.folder} ({pair.base.context})")
    torch.manual_seed(seed)
    activate(pair.wrappers, TEACHER)
    sequences: list[list[int]] = []
    with torch.no_grad():
        for start in range(0, count, 64):
            rows = min(64, count - start)
            prompt = torch.full((rows, 1), int(bos), dtype=torch.long, device=pair.device)
            out = pair.base.model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True,
                                           max_new_tokens=seq_len - 1, min_new_tokens=seq_len - 1, top_k=0,
                                           top_p=1.0, temperature=1.0, pad_token_id=int(bos))
            sequences.extend(out.cpu().tolist())
    digest = hashlib.sha256(json.dumps(sequences, separators=(",", ":")).encode()).hexdigest()
    return TokenData(sequences=sequences, sha256=digest, source="self-generated")
