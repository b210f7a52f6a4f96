"""A reproducible held-out task for `lordba-refine`: a tiny LLaMA, a LoRA trained on it, and the
figures of converting and refining that LoRA.

The task: text made of sentences that walk a Markov chain over a small word list. The base model
is pretrained on one chain; the LoRA learns a *different* chain (other successors for every
word) from training text, and is judged on held-out text of the same chain, so the LoRA's eval
loss improvement over the base is real and held out. Everything is seeded; the tokenizer is a
byte-level one (256 byte tokens and `<s>`) built offline with `tokenizers`.

    PYTHONPATH=python python3 python/benchmarks/refine_task.py WORKDIR

builds WORKDIR/{base,lora,train.txt,eval.txt}, converts the LoRA with `lordba-convert`
(`LORDBA_CONVERT`), refines it with and without `--ste` on 128 training sequences and with
`--self-generate 128`, evaluates each file with `lordba-eval` on the held-out text, and prints
one table (docs/refine.md). The test suite builds a smaller instance with the same functions.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WORDS = ("the a one red blue green small large old new cat dog bird fish tree house river stone hill road "
         "sees finds takes holds moves follows makes keeps under over near behind with from into quick slow "
         "bright dark warm cold").split()
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ModelShape:
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 688
    context: int = 256


def chain(seed: int, successors: int = 3) -> dict[str, list[str]]:
    """Each word's allowed next words, fixed by `seed`."""
    rng = random.Random(seed)
    return {w: rng.sample(WORDS, successors) for w in WORDS}


def corpus(chain_seed: int, sample_seed: int, count: int, length: int = 72) -> list[str]:
    """`count` lines of about `length` characters walking the chain of `chain_seed`."""
    links = chain(chain_seed)
    rng = random.Random(sample_seed)
    lines = []
    for _ in range(count):
        word = rng.choice(WORDS)
        words = [word]
        while sum(len(w) + 1 for w in words) < length:
            word = rng.choice(links[word])
            words.append(word)
        lines.append(" ".join(words))
    return lines


def write_tokenizer(folder: Path) -> int:
    """A byte-level tokenizer: ids 0–255 are bytes, 256 is `<s>` (BOS). Returns the vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    byte_chars = sorted(alphabet, key=lambda c: _byte_of(c))
    vocab = {c: i for i, c in enumerate(byte_chars)}
    vocab["<s>"] = 256
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 256)])
    tokenizer.add_special_tokens(["<s>"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", pad_token="<s>")
    fast.save_pretrained(str(folder))
    return 257


def _byte_of(char: str) -> int:
    """Inverse of GPT-2's bytes-to-unicode table (printable bytes map to themselves)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return table[char]


def encode(folder: Path, lines: list[str]) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return [tokenizer(line)["input_ids"] for line in lines]


def _train(model, sequences: list[list[int]], steps: int, lr: float, batch: int, seed: int) -> float:
    import torch

    generator = torch.Generator().manual_seed(seed)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        rows = torch.randint(len(sequences), (batch,), generator=generator).tolist()
        length = min(len(sequences[r]) for r in rows)
        ids = torch.tensor([sequences[r][:length] for r in rows])
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return float(loss.detach())


def build_base(folder: Path, shape: ModelShape, *, pretrain_steps: int, seed: int = 0) -> None:
    """A LLaMA of `shape`, pretrained on chain 1 for `pretrain_steps` steps, saved with its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    vocab = write_tokenizer(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                         num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                         num_key_value_heads=shape.kv_heads, max_position_embeddings=shape.context,
                         bos_token_id=256, eos_token_id=None, pad_token_id=256, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    if pretrain_steps:
        _train(model, encode(folder, corpus(1, 1, 2048)), pretrain_steps, 3e-3, 16, seed)
    model.save_pretrained(str(folder))


def train_lora(base: Path, folder: Path, lines: list[str], *, rank: int, steps: int, lr: float = 3e-3, seed: int = 0) -> None:
    """A PEFT LoRA (rank `rank`, alpha 2·rank, all 7 projections) trained on `lines`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, lora_dropout=0.0, task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    _train(model, encode(base, lines), steps, lr, 16, seed)
    model.save_pretrained(str(folder))


def tool(env: str, name: str) -> str:
    return os.environ.get(env, str(ROOT / ".build/debug" / name))


def run_json(command: list[str]) -> dict:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def main(argv: list[str]) -> int:
    import argparse

    import torch

    p = argparse.ArgumentParser(description="Build the refine task and measure convert → refine → eval on it.")
    p.add_argument("work", type=Path, nargs="?", default=Path("refine-task"))
    p.add_argument("--threads", type=int, help="CPU threads for every step (default: PyTorch's choice)")
    p.add_argument("--lora-steps", type=int, default=200, help="LoRA training steps (default 200)")
    p.add_argument("--lora-lr", type=float, default=3e-3, help="LoRA learning rate (default 0.003)")
    args = p.parse_args(argv[1:])
    work = args.work
    threads = ["--threads", str(args.threads)] if args.threads else []
    if args.threads:
        torch.set_num_threads(args.threads)
    work.mkdir(parents=True, exist_ok=True)
    base, lora = work / "base", work / "lora"
    started = time.monotonic()
    if not (base / "config.json").exists():
        build_base(base, ModelShape(), pretrain_steps=200)
    (work / "train.txt").write_text("\n".join(corpus(2, 10, 1024)) + "\n")
    (work / "eval.txt").write_text("\n".join(corpus(2, 20, 256)) + "\n")
    if not (lora / "adapter_model.safetensors").exists():
        train_lora(base, lora, corpus(2, 10, 1024), rank=16, steps=args.lora_steps, lr=args.lora_lr)
    print(f"task built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    weights = lora / "adapter_model.safetensors"
    python = [sys.executable, "-m"]
    train = ["--data", str(work / "train.txt"), "--samples", "128"]
    runs: dict[str, Path] = {}
    for name, convert_options, refines in (
            ("default", [], (("scales", train), ("--ste", ["--ste", *train]),
                             ("--ste --self-generate 128", ["--ste", "--self-generate", "128"]))),
            ("size-ratio-16", ["--size-ratio", "16"], (("--ste", ["--ste", *train]),))):
        converted = work / f"{name}.lba"
        subprocess.run([tool("LORDBA_CONVERT", "lordba-convert"), str(weights), str(converted), "--force", "-q",
                        *convert_options], check=True)
        runs[f"{name}, as converted"] = converted
        for label, extra in refines:
            out = work / f"{name}-{label.replace('--', '').replace(' ', '-')}.lba"
            report = run_json(python + ["lordba.refine", str(converted), "--base", str(base), "--adapter",
                                        str(weights), "-o", str(out), "--force", "--report-json", "-", *threads, *extra])
            runs[f"{name}, refined {label}"] = out
            print(f"{name} {label}: {report['seconds']:.0f} s wall, {report['cpu_seconds']:.0f} s CPU, held-out share "
                  f"kept {report['share_kept_before']:.3f} → {report['share_kept_after']:.3f}", file=sys.stderr)
    fp16 = sum(2 * m["rank"] * (m["in"] + m["out"]) for m in _modules(runs["default, as converted"]))
    print("| .lba | bytes | vs fp16 factors | share of effect kept | top-1 agreement | eval loss | gain kept |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, path in runs.items():
        figures = run_json(python + ["lordba.eval", str(path), "--base", str(base), "--adapter", str(weights),
                                     "--data", str(work / "eval.txt"), "--json", *threads])
        size = path.stat().st_size
        loss = figures["loss"]
        print(f"| {label} | {size} | {fp16 / size:.1f}× | {100 * figures['share_kept']:.1f} % | "
              f"{100 * figures['top1_agreement']:.1f} % | {loss['lba']:.4f} | {100 * figures['gain_kept']:.1f} % |")
    print(f"base eval loss {loss['base']:.4f}, LoRA {loss['original']:.4f} (fp16 factors: {fp16} bytes)")
    return 0


def _modules(path: Path) -> list[dict]:
    sys.path.insert(0, str(ROOT / "python"))
    from lordba import lba

    return [{"rank": m.rank, "in": m.in_features, "out": m.out_features} for m in lba.read(str(path)).modules]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
