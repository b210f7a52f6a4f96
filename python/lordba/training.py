"""The refinement loop: train the `.lba` branch to match the original adapter's logits.

Loss: mean KL(teacher‖student) over the calibration tokens (Adam). After every `eval_every`
steps the student is evaluated on the held-out samples *as it would be written* (scales
normalised and rounded to the file's dtype, signs hard); the best such state is kept, and it
replaces the input only when it beats the input's own held-out KL. The last `round_share` of the
steps trains with that rounding in the forward pass (straight through), so the kept state is
the one training converged to. A non-finite loss stops training; the best state so far stands.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from . import metrics
from .harness import STUDENT, TEACHER, Pair
from .student import ExportedModule

CACHE_LIMIT = 512 << 20  # teacher log-probabilities kept in memory up to this many bytes


@dataclass(frozen=True)
class TrainOptions:
    steps: int = 200
    lr: float = 1e-2
    sign_lr: float = 1e-2
    batch_size: int = 16
    round_share: float = 0.25
    eval_every: int = 10
    seed: int = 1


@dataclass
class TrainResult:
    kl_base: float                 # held-out KL(teacher‖base)
    kl_before: float               # held-out KL(teacher‖input .lba)
    kl_after: float                # held-out KL of the kept state (= before when nothing beat it)
    agreement_before: float
    agreement_after: float
    best_step: int                 # 0: no step beat the input
    steps_run: int
    stopped: str | None            # why training stopped early (non-finite loss)
    seconds: float
    best: dict[str, ExportedModule] | None = field(default=None, repr=False)


class _Targets:
    """Teacher log-probabilities of fixed batches, cached when they fit in `CACHE_LIMIT`."""

    def __init__(self, pair: Pair, sequences: list[list[int]], batch_size: int) -> None:
        self.pair = pair
        self.batches = pair.batches(sequences, batch_size)
        vocab = self._width()
        cells = sum(b.input_ids.numel() if pair.task != "seq-cls" else b.input_ids.shape[0] for b in self.batches)
        self.cache: list[torch.Tensor] | None = None
        if cells * vocab * 4 <= CACHE_LIMIT:
            with torch.no_grad():
                self.cache = [pair.log_probs(b, TEACHER) for b in self.batches]

    def _width(self) -> int:
        with torch.no_grad():
            return int(self.pair.logits(self.batches[0], None).shape[-1])

    def __len__(self) -> int:
        return len(self.batches)

    def get(self, index: int) -> tuple[metrics.Batch, torch.Tensor]:
        batch = self.batches[index]
        if self.cache is not None:
            return batch, self.cache[index]
        with torch.no_grad():
            return batch, self.pair.log_probs(batch, TEACHER)


def _evaluate(pair: Pair, held: _Targets, branch: str | None) -> metrics.Totals:
    totals = metrics.Totals()
    with torch.no_grad():
        for index in range(len(held)):
            batch, teacher = held.get(index)
            totals.add(teacher, pair.log_probs(batch, branch), batch.weights(pair.task))
    return totals


def train(pair: Pair, train_set: list[list[int]], held_out: list[list[int]], options: TrainOptions) -> TrainResult:
    started = time.monotonic()
    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    order = torch.randperm(len(train_set), generator=generator).tolist()
    targets = _Targets(pair, [train_set[i] for i in order], options.batch_size)
    held = _Targets(pair, held_out, options.batch_size)

    base = _evaluate(pair, held, None)
    pair.set_rounded(False)
    before = _evaluate(pair, held, STUDENT)  # the input exactly: every delta is 0, signs as stored
    best_kl, best_step, best, best_agreement = before.mean_kl, 0, None, before.agreement

    scale_parameters, sign_parameters = [], []
    for student in pair.students.values():
        for name, parameter in student.named_parameters():
            (sign_parameters if name.startswith("latent") else scale_parameters).append(parameter)
    groups = [{"params": scale_parameters, "lr": options.lr}]
    if sign_parameters:
        groups.append({"params": sign_parameters, "lr": options.sign_lr})
    optimizer = torch.optim.Adam(groups)

    round_from = options.steps - max(1, round(options.steps * options.round_share)) if options.round_share > 0 else options.steps
    stopped: str | None = None
    steps_run = 0
    epoch_order: list[int] = []
    for step in range(1, options.steps + 1):
        if not epoch_order:
            epoch_order = torch.randperm(len(targets), generator=generator).tolist()
        batch, teacher = targets.get(epoch_order.pop())
        pair.set_rounded(step > round_from)
        student = pair.log_probs(batch, STUDENT)
        loss = metrics.weighted_mean(metrics.kl_rows(teacher, student), batch.weights(pair.task))
        if not torch.isfinite(loss):
            stopped = f"the loss became {float(loss.detach())} at step {step}"
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps_run = step
        if step % options.eval_every == 0 or step == options.steps:
            pair.set_rounded(True)
            totals = _evaluate(pair, held, STUDENT)
            if math.isfinite(totals.mean_kl) and totals.mean_kl < best_kl:
                best_kl, best_step, best_agreement = totals.mean_kl, step, totals.agreement
                best = {name: s.export() for name, s in pair.students.items()}
    pair.set_rounded(False)
    return TrainResult(kl_base=base.mean_kl, kl_before=before.mean_kl, kl_after=best_kl,
                       agreement_before=before.agreement, agreement_after=best_agreement, best_step=best_step,
                       steps_run=steps_run, stopped=stopped, seconds=time.monotonic() - started, best=best)
