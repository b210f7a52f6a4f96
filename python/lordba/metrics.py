"""Batches of token sequences and the figures computed on them: KL, top-1 agreement, LM loss.

For a causal LM every real token position counts once; for a sequence classifier each sequence
counts once (its pooled logits). `KL(p‖q) = Σ p (log p − log q)` with `p` the reference (the
original adapter) and `q` the model compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor       # [B, L]
    attention_mask: torch.Tensor  # [B, L], 1 on real tokens

    def weights(self, task: str) -> torch.Tensor:
        """Which logit rows count: every real token (causal LM) or every sequence (classifier)."""
        if task == "seq-cls":
            return torch.ones(self.input_ids.shape[0], dtype=torch.float32, device=self.input_ids.device)
        return self.attention_mask.to(torch.float32)


def batches(sequences: list[list[int]], size: int, device: str, pad: int = 0) -> Iterator[Batch]:
    """Right-padded batches in order."""
    for start in range(0, len(sequences), size):
        chunk = sequences[start:start + size]
        length = max(len(s) for s in chunk)
        ids = torch.full((len(chunk), length), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), length), dtype=torch.long)
        for row, s in enumerate(chunk):
            ids[row, :len(s)] = torch.tensor(s, dtype=torch.long)
            mask[row, :len(s)] = 1
        yield Batch(ids.to(device), mask.to(device))


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(logits.to(torch.float32), dim=-1)


def kl_rows(reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """KL(reference‖other) per row, from log-probabilities."""
    return (reference.exp() * (reference - other)).sum(dim=-1)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


@dataclass
class Totals:
    """Sums over batches: weighted KL, agreement and LM loss, and their weights."""

    kl: float = 0.0
    agree: float = 0.0
    weight: float = 0.0
    loss: float = 0.0
    loss_weight: float = 0.0

    def add(self, reference: torch.Tensor, other: torch.Tensor, weights: torch.Tensor) -> None:
        self.kl += float((kl_rows(reference, other) * weights).sum())
        self.agree += float(((reference.argmax(-1) == other.argmax(-1)).float() * weights).sum())
        self.weight += float(weights.sum())

    def add_loss(self, logp: torch.Tensor, batch: Batch) -> None:
        """Next-token cross-entropy of a causal LM over the real tokens."""
        targets = batch.input_ids[:, 1:]
        mask = batch.attention_mask[:, 1:].to(torch.float32)
        picked = logp[:, :-1].gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        self.loss += float((-picked * mask).sum())
        self.loss_weight += float(mask.sum())

    @property
    def mean_kl(self) -> float:
        return self.kl / max(self.weight, 1.0)

    @property
    def agreement(self) -> float:
        return self.agree / max(self.weight, 1.0)

    @property
    def mean_loss(self) -> float | None:
        return self.loss / self.loss_weight if self.loss_weight else None


def share_kept(kl_student: float, kl_base: float) -> float | None:
    """1 − KL(t‖s)/KL(t‖base): the share of the adapter's effect on the outputs that is kept."""
    return 1.0 - kl_student / kl_base if kl_base > 0 else None


def gain_kept(loss_base: float | None, loss_original: float | None, loss_lba: float | None) -> float | None:
    """(base − .lba) / (base − original) of the LM loss: the share of the loss improvement kept."""
    if loss_base is None or loss_original is None or loss_lba is None or loss_base == loss_original:
        return None
    return (loss_base - loss_lba) / (loss_base - loss_original)
