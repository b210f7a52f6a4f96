"""lordba-eval on the tiny LLaMA task (conftest.py), the teacher against PEFT itself (the task's
LoRA as PEFT and as MLX-LM write it), a sequence classifier: samples/minilm-cls-r8 (a
`modules_to_save` head) on a random MiniLM-shaped BERT, and the inputs lordba-eval refuses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import lba_fixtures
import pytest
import torch
from conftest import CONVERT, HOSTILE, ROOT, Hostile, Task, lordba, tool

from lordba import lba, metrics
from lordba.eval import main as eval_main
from lordba.harness import STUDENT, TEACHER, open_pair
from lordba.refine import main as refine_main

MINILM = ROOT / "samples/minilm-cls-r8"


def test_eval_figures(task: Task) -> None:
    figures = json.loads(lordba("eval", task.converted, "--base", task.base, "--adapter", task.lora,
                                "--data", task.eval, "--json", "--threads", "1").stdout)
    assert figures["task"] == "causal-lm" and figures["samples"] == 32
    assert 0 < figures["kl_original"] < figures["kl_base"]
    assert figures["share_kept"] == pytest.approx(1 - figures["kl_original"] / figures["kl_base"])
    assert 0 < figures["share_kept"] < 1
    assert figures["top1_agreement"] > figures["top1_agreement_base"]
    loss = figures["loss"]
    assert loss["original"] < loss["lba"] < loss["base"], loss  # the LoRA learned the held-out task
    assert figures["gain_kept"] == pytest.approx((loss["base"] - loss["lba"]) / (loss["base"] - loss["original"]))
    line = lordba("eval", task.converted, "--base", task.base, "--adapter", task.lora, "--data", task.eval,
                  "--threads", "1").stdout.strip()
    assert len(line.splitlines()) == 1 and "share of the adapter's effect kept" in line and "gain kept" in line


def peft_logits(base_model: torch.nn.Module, adapter: Path, batch: metrics.Batch) -> torch.Tensor:
    from peft import PeftModel

    model = PeftModel.from_pretrained(base_model, str(adapter)).eval()
    with torch.no_grad():
        return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits


def test_teacher_is_the_peft_adapter(task: Task) -> None:
    from transformers import AutoModelForCausalLM

    pair = open_pair(task.converted, task.base, task.lora, dtype="float32", device="cpu", ste=False)
    batch = next(metrics.batches(pair.tokens(task.eval, samples=4, seq_len=None).sequences, 4, "cpu"))
    with torch.no_grad():
        teacher, student = pair.logits(batch, TEACHER), pair.logits(batch, STUDENT)
    reference = peft_logits(AutoModelForCausalLM.from_pretrained(str(task.base), local_files_only=True), task.lora, batch)
    assert torch.allclose(teacher, reference, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(student, reference, atol=1e-3)  # the .lba is an approximation


@pytest.fixture(scope="module")
def mlx(task: Task, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The task's LoRA as MLX-LM writes it (model paths, factors transposed) and its .lba."""
    folder = tmp_path_factory.mktemp("mlx")
    adapter, converted = folder / "adapter", folder / "mlx.lba"
    lba_fixtures.mlx_from_peft(task.lora, adapter)
    subprocess.run([str(tool(CONVERT)), str(adapter), str(converted), "-q"], check=True)
    return adapter, converted


def test_mlx_layout_is_the_same_adapter(task: Task, mlx: tuple[Path, Path]) -> None:
    """The pair opened on the MLX-LM copy: its teacher (`source.a/b` read back transposed) is the
    PEFT adapter, its student the PEFT layout's .lba, module by module on the same layers."""
    from transformers import AutoModelForCausalLM

    adapter, converted = mlx
    pairs = {"peft": open_pair(task.converted, task.base, task.lora, dtype="float32", device="cpu", ste=False),
             "mlx": open_pair(converted, task.base, adapter, dtype="float32", device="cpu", ste=False)}
    assert pairs["mlx"].file.layout == "mlx"
    assert {m.name for m in pairs["mlx"].file.modules} == {m.name.removeprefix("base_model.model.")
                                                           for m in pairs["peft"].file.modules}
    batch = next(metrics.batches(pairs["peft"].tokens(task.eval, samples=4, seq_len=None).sequences, 4, "cpu"))
    with torch.no_grad():
        logits = {(layout, branch): pair.logits(batch, branch) for layout, pair in pairs.items()
                  for branch in (TEACHER, STUDENT, None)}
    reference = peft_logits(AutoModelForCausalLM.from_pretrained(str(task.base), local_files_only=True), task.lora, batch)
    assert not torch.allclose(logits["mlx", None], reference, atol=1e-3)  # the adapter moves the logits
    assert torch.allclose(logits["mlx", TEACHER], reference, atol=1e-5, rtol=1e-5)
    assert torch.allclose(logits["mlx", STUDENT], logits["peft", STUDENT], atol=1e-6, rtol=1e-6)
    assert not torch.allclose(logits["mlx", STUDENT], reference, atol=1e-3)  # the .lba is an approximation


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A random BERT of MiniLM-L6's shapes (small vocabulary), the sample converted, token data."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("minilm")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=128, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(folder / "base"))
    converted = folder / "cls.lba"
    subprocess.run([str(tool(CONVERT)), str(MINILM / "adapter_model.safetensors"), str(converted), "-q"], check=True)
    generator = torch.Generator().manual_seed(1)
    data = folder / "ids.jsonl"
    data.write_text("".join(json.dumps({"input_ids": torch.randint(1, 128, (24,), generator=generator).tolist()}) + "\n"
                            for _ in range(24)))
    return folder / "base", converted, data


def test_sequence_classifier_with_a_carried_head(minilm: tuple[Path, Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoModelForSequenceClassification

    base, converted, data = minilm
    pair = open_pair(converted, base, MINILM, dtype="float32", device="cpu", ste=False)
    assert pair.task == "seq-cls"
    batch = next(metrics.batches(pair.tokens(data, samples=4, seq_len=None).sequences, 4, "cpu"))
    with torch.no_grad():
        teacher = pair.logits(batch, TEACHER)
    reference = peft_logits(AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=2), MINILM, batch)
    assert teacher.shape == (4, 2)
    assert torch.allclose(teacher, reference, atol=1e-5, rtol=1e-5)

    assert eval_main([str(converted), "--base", str(base), "--adapter", str(MINILM), "--data", str(data),
                      "--json", "--threads", "1"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["task"] == "seq-cls" and figures["loss"] is None and figures["samples"] == 24
    assert 0 <= figures["kl_original"] and figures["share_kept"] is not None

    out = tmp_path / "cls-refined.lba"
    assert refine_main([str(converted), "--base", str(base), "--adapter", str(MINILM), "--data", str(data), "-o",
                        str(out), "--steps", "4", "--eval-every", "2", "--threads", "1"]) == 0
    refined = lba.read(str(out))
    assert [c.name for c in refined.carried] == [c.name for c in lba.read(str(converted)).carried]


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_inputs_are_refused_in_one_line(task: Task, hostile: dict[str, Hostile], case: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The inputs lordba-refine refuses (conftest.py): exit 1, one line naming the file and the
    problem, no figures printed and no file written."""
    hostile_case = hostile[case]
    folder = hostile_case.named.parent
    before = sorted(folder.iterdir())
    monkeypatch.chdir(tmp_path)
    code = eval_main([*hostile_case.args(task, task.eval), "--json", "--threads", "1"])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("lordba-eval: error: "), err
    assert str(hostile_case.named) in err and hostile_case.problem in err, err
    assert captured.out == ""
    assert not any(tmp_path.iterdir()) and sorted(folder.iterdir()) == before
