"""`lordba-eval`: how much of the original adapter's effect a `.lba` keeps, on text.

    lordba-eval IN.lba --base MODEL_DIR --adapter ORIGINAL --data FILE [--json]

Figures (over every real token of a causal LM, or every sequence of a classifier):
KL(original‖.lba) and KL(original‖base), the share of the adapter's effect kept
(1 − the first / the second), top-1 agreement of the `.lba` (and of the base) with the original,
and for a causal LM the next-token loss of the base, the original and the `.lba` with the share
of the loss improvement kept, (base − .lba) / (base − original). See docs/refine.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__, cli, lba, metrics
from .data import DataError
from .harness import STUDENT, TEACHER, open_pair, resolve_device
from .model_paths import DTYPES, BaseModelError
from .teacher import AdapterError

PROG = "lordba-eval"


def parser() -> cli.Parser:
    p = cli.Parser(prog=PROG, description="Compare a .lba with its original adapter on text.")
    cli.add_model_arguments(p, sorted(DTYPES))
    p.add_argument("--data", type=Path, required=True, help=".jsonl (\"text\" or \"input_ids\") or .txt (one sample per line)")
    p.add_argument("--samples", type=int, help="use at most this many samples (default: all)")
    p.add_argument("--seq-len", type=int, help="cut samples to this many tokens (default: whole samples)")
    p.add_argument("--batch-size", type=int, default=16, help="samples per forward pass (default 16)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def evaluate(args: Any) -> dict[str, Any]:
    started = time.monotonic()
    pair = open_pair(args.input, args.base, args.adapter, dtype=args.dtype,
                     device=resolve_device(args.device, args.threads), ste=False)
    data = pair.tokens(args.data, samples=args.samples, seq_len=args.seq_len)
    lba_totals, base_totals, original = metrics.Totals(), metrics.Totals(), metrics.Totals()
    causal = pair.task == "causal-lm"
    import torch

    with torch.no_grad():
        for batch in pair.batches(data.sequences, args.batch_size):
            teacher = pair.log_probs(batch, TEACHER)
            student = pair.log_probs(batch, STUDENT)
            base = pair.log_probs(batch, None)
            weights = batch.weights(pair.task)
            lba_totals.add(teacher, student, weights)
            base_totals.add(teacher, base, weights)
            if causal:
                original.add_loss(teacher, batch)
                lba_totals.add_loss(student, batch)
                base_totals.add_loss(base, batch)
    for name, value in (("KL to the original", lba_totals.mean_kl), ("KL of the base", base_totals.mean_kl)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{args.input}: {name} is {value} on {args.data} (non-finite logits)")
    losses = {"base": base_totals.mean_loss, "original": original.mean_loss, "lba": lba_totals.mean_loss}
    return {
        "schema_version": 1, "tool": PROG, "tool_version": __version__,
        "input": str(args.input), "data": str(args.data), "data_sha256": data.sha256, "task": pair.task,
        "samples": len(data.sequences), "tokens": data.tokens,
        "kl_original": lba_totals.mean_kl, "kl_base": base_totals.mean_kl,
        "share_kept": metrics.share_kept(lba_totals.mean_kl, base_totals.mean_kl),
        "top1_agreement": lba_totals.agreement, "top1_agreement_base": base_totals.agreement,
        "loss": losses if causal else None,
        "gain_kept": metrics.gain_kept(losses["base"], losses["original"], losses["lba"]) if causal else None,
        "seconds": time.monotonic() - started,
    }


def _percent(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def summary(figures: dict[str, Any]) -> str:
    line = (f"{figures['input']}: KL to the original {figures['kl_original']:.4g} (base {figures['kl_base']:.4g}), "
            f"share of the adapter's effect kept {_percent(figures['share_kept'])}, "
            f"top-1 agreement {_percent(figures['top1_agreement'])} (base {_percent(figures['top1_agreement_base'])})")
    if figures["loss"]:
        loss = figures["loss"]
        line += (f"; loss base {loss['base']:.4f} / original {loss['original']:.4f} / .lba {loss['lba']:.4f}, "
                 f"gain kept {_percent(figures['gain_kept'])}")
    return line + f"; {figures['samples']} samples, {figures['tokens']} tokens"


ERRORS = (lba.LBAError, AdapterError, BaseModelError, DataError, OSError, ValueError)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    for name in ("samples", "seq_len", "batch_size", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")

    def body() -> int:
        figures = evaluate(args)
        print(json.dumps(figures, indent=2) if args.json else summary(figures))
        return 0

    return cli.run(body, ERRORS, PROG)


if __name__ == "__main__":
    sys.exit(main())
