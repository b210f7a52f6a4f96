"""`lordba-refine`: train a `.lba`'s scales (and with `--ste` its signs) so the adapted model
matches the original adapter's outputs.

    lordba-refine IN.lba --base MODEL_DIR --adapter ORIGINAL -o OUT.lba --data FILE [--ste]

The teacher is the base plus the original adapter (read through the `.lba`'s `source` names and
`lora_scale`, after checking its SHA-256); the student is the base plus the `.lba`. A held-out
share of the data picks the best step; a file worse than the input is never written (if no step
beats it, the output is the input unchanged). See docs/refine.md.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__, cli, lba
from .data import DataError, TokenData, split_held_out
from .harness import open_pair, resolve_device, self_generate
from .model_paths import DTYPES, BaseModelError
from .teacher import AdapterError, weights_file
from .training import TrainOptions, TrainResult, train

PROG = "lordba-refine"


def parser() -> cli.Parser:
    p = cli.Parser(prog=PROG, description="Train a .lba's scales (and signs with --ste) against the original adapter's logits.")
    cli.add_model_arguments(p, sorted(DTYPES))
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.lba")
    p.add_argument("--data", type=Path, help=".jsonl (\"text\" or \"input_ids\") or .txt (one sample per line)")
    p.add_argument("--self-generate", type=int, metavar="N", help="sample N sequences from the original adapted model instead of --data")
    p.add_argument("--samples", type=int, default=128, help="samples read from --data (default 128)")
    p.add_argument("--seq-len", type=int, default=64, help="tokens per sample; longer samples are cut (default 64)")
    p.add_argument("--held-out", type=float, default=0.125, help="share of the samples held out to pick the best step (default 0.125)")
    p.add_argument("--ste", action="store_true", help="also train the signs (straight-through estimator from the stored signs)")
    p.add_argument("--steps", type=int, default=200, help="optimizer steps (default 200)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate of the log-scales (default 0.01)")
    p.add_argument("--sign-lr", type=float, help="Adam learning rate of the sign latents with --ste (default: --lr)")
    p.add_argument("--batch-size", type=int, default=16, help="samples per step (default 16)")
    p.add_argument("--round-share", type=float, default=0.25,
                   help="last share of the steps that trains with the scales rounded as stored (default 0.25)")
    p.add_argument("--eval-every", type=int, default=10, help="steps between held-out evaluations (default 10)")
    p.add_argument("--seed", type=int, default=1, help="seed of the sample order and --self-generate (default 1)")
    p.add_argument("--report-json", metavar="PATH|-", help="write the run's figures as JSON (- for standard output)")
    p.add_argument("--force", action="store_true", help="replace an existing output (a regular file that is not an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return p


def _check_usage(p: cli.Parser, args: Any) -> None:
    if (args.data is None) == (args.self_generate is None):
        p.error("give either --data FILE or --self-generate N")
    for name in ("samples", "seq_len", "steps", "batch_size", "eval_every", "self_generate", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.held_out < 1:
        p.error("--held-out must be between 0 and 1")
    if not 0 <= args.round_share <= 1:
        p.error("--round-share must be between 0 and 1")
    for name in ("lr", "sign_lr"):
        value = getattr(args, name)
        if value is not None and not (value >= 0 and value < float("inf")):
            p.error(f"--{name.replace('_', '-')} must be a finite number ≥ 0")


def _metadata(args: Any, data: TokenData, result: TrainResult, options: TrainOptions) -> dict[str, str]:
    def number(x: float | None) -> str:
        return "none" if x is None else f"{x:.6g}"

    share = (lambda kl: None if result.kl_base <= 0 else 1 - kl / result.kl_base)
    return {
        "lordba.refine.tool_version": __version__,
        "lordba.refine.base": args.base.resolve().name,
        "lordba.refine.data": "self-generated" if args.self_generate else args.data.name,
        "lordba.refine.data_sha256": data.sha256,
        "lordba.refine.samples": str(len(data.sequences)),
        "lordba.refine.seq_len": str(args.seq_len),
        "lordba.refine.held_out": number(args.held_out),
        "lordba.refine.ste": "true" if args.ste else "false",
        "lordba.refine.steps": str(options.steps),
        "lordba.refine.best_step": str(result.best_step),
        "lordba.refine.lr": number(options.lr),
        "lordba.refine.sign_lr": number(options.sign_lr),
        "lordba.refine.batch_size": str(options.batch_size),
        "lordba.refine.round_share": number(options.round_share),
        "lordba.refine.seed": str(options.seed),
        "lordba.refine.dtype": args.dtype,
        "lordba.refine.kl_base": number(result.kl_base),
        "lordba.refine.kl_before": number(result.kl_before),
        "lordba.refine.kl_after": number(result.kl_after),
        "lordba.refine.share_kept_before": number(share(result.kl_before)),
        "lordba.refine.share_kept_after": number(share(result.kl_after)),
    }


def refined_file(file: lba.LBAFile, result: TrainResult, metadata: dict[str, str]) -> lba.LBAFile:
    assert result.best is not None
    modules = []
    for module in file.modules:
        e = result.best[module.name]
        modules.append(dataclasses.replace(module, sign_a=e.sign_a, sign_b=e.sign_b, scale_a=e.scale_a,
                                           scale_b=e.scale_b, scale_m=e.scale_m))
    merged = {k: v for k, v in file.metadata.items() if not k.startswith("lordba.refine.")}
    merged.update(metadata)
    return dataclasses.replace(file, modules=modules, metadata=merged)


def _copy_unchanged(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        temporary.write_bytes(source.read_bytes())
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def _report(args: Any, data: TokenData, result: TrainResult, status: str, held: int, total: float) -> dict[str, Any]:
    share = (lambda kl: None if result.kl_base <= 0 else 1 - kl / result.kl_base)
    return {
        "schema_version": 1, "tool": PROG, "tool_version": __version__,
        "input": str(args.input), "output": str(args.output), "status": status,
        "data": "self-generated" if args.self_generate else str(args.data), "data_sha256": data.sha256,
        "train_samples": len(data.sequences) - held, "held_out_samples": held,
        "kl_base": result.kl_base, "kl_before": result.kl_before, "kl_after": result.kl_after,
        "share_kept_before": share(result.kl_before), "share_kept_after": share(result.kl_after),
        "top1_agreement_before": result.agreement_before, "top1_agreement_after": result.agreement_after,
        "steps": result.steps_run, "best_step": result.best_step, "stopped": result.stopped,
        "train_seconds": result.seconds, "seconds": total, "cpu_seconds": _cpu_seconds(),
        "options": {"ste": args.ste, "steps": args.steps, "lr": args.lr, "sign_lr": args.sign_lr or args.lr,
                    "batch_size": args.batch_size, "seq_len": args.seq_len, "samples": args.samples,
                    "self_generate": args.self_generate, "held_out": args.held_out, "round_share": args.round_share,
                    "eval_every": args.eval_every, "seed": args.seed, "dtype": args.dtype, "device": args.device},
    }


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far (on a shared machine, what the work cost)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def refine(args: Any) -> int:
    started = time.monotonic()
    inputs = [args.input, weights_file(args.adapter), args.base] + ([args.data] if args.data else [])
    cli.check_output(args.output, inputs, force=args.force)
    if args.report_json and args.report_json != "-":
        cli.check_output(Path(args.report_json), inputs + [args.output], force=args.force)
    device = resolve_device(args.device, args.threads)
    import torch

    torch.manual_seed(args.seed)
    pair = open_pair(args.input, args.base, args.adapter, dtype=args.dtype, device=device, ste=args.ste)
    if args.self_generate:
        data = self_generate(pair, args.self_generate, args.seq_len, args.seed)
    else:
        data = pair.tokens(args.data, samples=args.samples, seq_len=args.seq_len)
    train_set, held_out = split_held_out(data, args.held_out)
    options = TrainOptions(steps=args.steps, lr=args.lr, sign_lr=args.sign_lr if args.sign_lr is not None else args.lr,
                           batch_size=args.batch_size, round_share=args.round_share, eval_every=args.eval_every,
                           seed=args.seed)
    result = train(pair, train_set, held_out, options)
    if result.best is not None:
        lba.write(refined_file(pair.file, result, _metadata(args, data, result, options)), str(args.output),
                  overwrite=args.force)
        status = "refined"
    else:
        _copy_unchanged(args.input, args.output)
        status = "unchanged"
    total = time.monotonic() - started
    if args.report_json:
        cli.write_json(args.report_json, _report(args, data, result, status, len(held_out), total),
                       inputs + [args.output], args.force)
    if not args.quiet:
        print(_summary(args, result, status, total), file=sys.stderr if args.report_json == "-" else sys.stdout)
    return 0


def _summary(args: Any, result: TrainResult, status: str, total: float) -> str:
    def share(kl: float) -> str:
        return "n/a" if result.kl_base <= 0 else f"{100 * (1 - kl / result.kl_base):.1f} %"

    stopped = f"; stopped: {result.stopped}" if result.stopped else ""
    if status == "unchanged":
        return (f"unchanged {args.input} → {args.output}: no step beat the input (held-out KL {result.kl_before:.4g}, "
                f"share of the adapter's effect kept {share(result.kl_before)}); wrote the input unchanged; "
                f"{result.steps_run} steps, {total:.1f} s{stopped}")
    return (f"ok {args.input} → {args.output}: held-out KL {result.kl_before:.4g} → {result.kl_after:.4g}, "
            f"share of the adapter's effect kept {share(result.kl_before)} → {share(result.kl_after)}, "
            f"{result.steps_run} steps (best {result.best_step}), {total:.1f} s{stopped}")


ERRORS = (lba.LBAError, AdapterError, BaseModelError, DataError, cli.OutputError, OSError, ValueError)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    _check_usage(p, args)
    return cli.run(lambda: refine(args), ERRORS, PROG)


if __name__ == "__main__":
    sys.exit(main())
