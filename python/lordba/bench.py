"""`python -m lordba.bench`: a `.lba` run unmerged in PyTorch against the base model and PEFT's LoRA.

On a stack of LLaMA-7B-shaped decoder layers (random float32 base weights) with a PEFT LoRA of rank
r on all 7 projections, converted with `lordba-convert` (default pipeline), one run times side by
side, in alternating rounds (medians): the base alone, base + `.lba` packed (the sign GEMM), base +
`.lba` as ±1 floats, and base + the PEFT LoRA unmerged with float32 and bfloat16 factors; at T = 1
(decode) and T = 512 (prefill). Prints the overhead of each over the base, the adapter bytes held
in memory, and the time of a swap between two attached adapters.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaModel

from lordba.torch import attach, detach, swap
from lordba.torch import ops

PROJECTIONS = {"self_attn": ["q_proj", "k_proj", "v_proj", "o_proj"], "mlp": ["gate_proj", "up_proj", "down_proj"]}
VARIANTS = [".lba packed", ".lba ±1 floats", "PEFT LoRA f32", "PEFT LoRA bf16"]


def default_convert() -> str:
    return os.environ.get("LORDBA_CONVERT", str(Path(__file__).resolve().parents[2] / ".build/debug/lordba-convert"))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lordba.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=2, help="decoder layers (7B: 32; about 0.8 GB of float32 each)")
    p.add_argument("--rank", type=int, default=16, help="LoRA rank r")
    p.add_argument("--tokens", type=int, nargs="+", default=[1, 512], help="token counts T")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per T (medians are reported)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    p.add_argument("--cpu-time", action="store_true",
                   help="count the process's CPU time instead of wall time (meaningful with --threads 1 on a busy machine)")
    p.add_argument("--convert", default=default_convert(), help="lordba-convert (default: $LORDBA_CONVERT)")
    p.add_argument("--work-dir", help="folder for the generated adapter (default: a temporary one)")
    args = p.parse_args(argv)
    if args.layers < 1 or args.rank < 1 or args.rounds < 1 or args.threads < 1 or min(args.tokens) < 1:
        p.error("--layers, --rank, --rounds, --threads and --tokens must be positive")
    return args


def llama_7b_layers(layers: int) -> LlamaModel:
    config = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32,
                         num_hidden_layers=layers, vocab_size=32, max_position_embeddings=4096)
    torch.manual_seed(0)
    return LlamaModel(config).eval()


def write_lora(model: LlamaModel, rank: int, folder: Path) -> int:
    """A seeded PEFT LoRA (float16 factors) on every projection; returns its bytes of factors."""
    generator = torch.Generator().manual_seed(1)
    tensors = {}
    for i, layer in enumerate(model.layers):
        for block, names in PROJECTIONS.items():
            for name in names:
                linear = getattr(getattr(layer, block), name)
                key = f"base_model.model.layers.{i}.{block}.{name}"
                a = torch.randn(rank, linear.in_features, generator=generator) / linear.in_features ** 0.5
                tensors[f"{key}.lora_A.weight"] = a.half()
                tensors[f"{key}.lora_B.weight"] = (torch.randn(linear.out_features, rank, generator=generator) * 0.01).half()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, folder / "adapter_model.safetensors")
    targets = [n for names in PROJECTIONS.values() for n in names]
    LoraConfig(r=rank, lora_alpha=rank, target_modules=targets).save_pretrained(folder)
    return sum(t.numel() * t.element_size() for t in tensors.values())


def timed(body: Callable[[], None], minimum: float = 0.05, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per call of `body` on `clock`, repeated until `minimum` seconds have passed."""
    calls, start = 0, clock()
    while True:
        body()
        calls += 1
        elapsed = clock() - start
        if elapsed >= minimum:
            return elapsed / calls


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    if not Path(args.convert).exists():
        print(f"error: {args.convert} not found (build it with swift build, or set LORDBA_CONVERT)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work_dir) if args.work_dir else Path(scratch)
        return run(args, work)


def run(args: argparse.Namespace, work: Path) -> int:
    model = llama_7b_layers(args.layers)
    lora_dir, lba_path = work / f"lora-r{args.rank}", work / f"lora-r{args.rank}.lba"
    f16_bytes = write_lora(model, args.rank, lora_dir)
    subprocess.run([args.convert, str(lora_dir), str(lba_path), "--force", "--quiet"], check=True)

    start = time.perf_counter()
    packed = attach(model, lba_path, name="packed", packed=True)
    attach_seconds = time.perf_counter() - start
    floats = attach(model, lba_path, name="floats")
    attach(model, lba_path, name="packed-2", packed=True)
    # PEFT wraps the same nn.Linear objects (the lordba hooks stay on them as its base layers).
    peft_model = PeftModel.from_pretrained(model, str(lora_dir), adapter_name="f32").eval()
    peft_model.load_adapter(str(lora_dir), adapter_name="bf16")
    peft_bytes = {"f32": 0, "bf16": 0}
    for name, p in peft_model.named_parameters():
        if ".bf16." in name:
            p.data = p.data.to(torch.bfloat16)
        for adapter in peft_bytes:
            if f".{adapter}." in name:
                peft_bytes[adapter] += p.numel() * p.element_size()

    def use(variant: str) -> None:
        lordba = {".lba packed": "packed", ".lba ±1 floats": "floats"}.get(variant)
        swap(model, lordba)
        peft = {"PEFT LoRA f32": "f32", "PEFT LoRA bf16": "bf16"}.get(variant)
        if peft is None:
            peft_model.base_model.disable_adapter_layers()
        else:
            peft_model.base_model.enable_adapter_layers()
            peft_model.base_model.set_adapter(peft)

    names = ["base"] + VARIANTS
    modules = len(packed.branches)
    print(f"lordba.bench: {args.layers} LLaMA-7B-shaped decoder layers (4096 / 11008, random float32 weights), "
          f"PEFT LoRA r = {args.rank} on {', '.join(n for v in PROJECTIONS.values() for n in v)} ({modules} modules); "
          f"sign GEMM path {ops.cpu_path()}, torch {torch.__version__} with {args.threads} threads; "
          f"{'process CPU' if args.cpu_time else 'wall'} time, medians of {args.rounds} alternating rounds")
    print(f".lba {lba_path.stat().st_size} bytes (default conversion of the float16 LoRA, {f16_bytes} bytes of factors)")
    clock = time.process_time if args.cpu_time else time.perf_counter
    table: dict[int, dict[str, float]] = {}
    with torch.no_grad():
        for tokens in args.tokens:
            x = torch.randn(1, tokens, 4096, generator=torch.Generator().manual_seed(tokens))
            samples: dict[str, list[float]] = {n: [] for n in names}
            for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for name in order:
                    use(name)
                    seconds = timed(lambda: model(inputs_embeds=x), minimum=0 if tokens > 64 else 0.5, clock=clock)
                    if round_ > 0:
                        samples[name].append(seconds)
            table[tokens] = {n: statistics.median(s) for n, s in samples.items()}
    use("base")

    header = f"{'':<18}" + "".join(f"{f'T = {t} ms':>14}{'overhead':>10}" for t in args.tokens)
    print(header)
    for name in names:
        cells = ""
        for tokens in args.tokens:
            ms, base = table[tokens][name] * 1e3, table[tokens]["base"] * 1e3
            cells += f"{ms:>14.1f}" + (f"{(ms / base - 1) * 100:>+9.1f}%" if name != "base" else f"{'':>10}")
        print(f"{name:<18}{cells}")

    print("adapter bytes in memory:")
    rows = [(".lba packed", packed.nbytes), (".lba ±1 floats", floats.nbytes), ("PEFT LoRA f32", peft_bytes["f32"]),
            ("PEFT LoRA bf16", peft_bytes["bf16"]), ("PEFT LoRA f16 (its file)", f16_bytes)]
    for name, size in rows:
        print(f"  {name:<26}{size:>14,} B{f16_bytes / size:>9.1f}× smaller than PEFT f16"
              if name != "PEFT LoRA f16 (its file)" else f"  {name:<26}{size:>14,} B")
    print(f"  .lba packed: {packed.nbytes / packed.decoded_bytes:.3f}× the decoded size of its sections "
          f"({packed.decoded_bytes:,} B)")

    swaps = [timed(lambda: (swap(model, "packed"), swap(model, "packed-2")), minimum=0.02) / 2 for _ in range(7)]
    print(f"swap between two attached adapters: {statistics.median(swaps) * 1e6:.2f} µs (median of 7); "
          f"attach of the packed .lba: {attach_seconds * 1e3:.0f} ms")
    detach(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
