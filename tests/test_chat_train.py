"""`stackpref train sft` then `dpo` on a conversational build, with the real Qwen3 tokenizer and its
chat template on a tiny random Qwen3-shaped model of the real vocabulary: the loss is on the
assistant turn only, finite, and falls."""

import json
import math

import pytest
from click.testing import CliRunner
from conftest import SHARED_SITES, needs_shared, run_build
from stackpref.training.config import resolve
from stackpref.training.sft import sft_trainer
from stackpref.training.tiny import build_tiny_model_for

from stackpref.cli import cli

QWEN3 = SHARED_SITES.parent.parent / "tokenizers" / "qwen3"
pytestmark = [pytest.mark.slow, needs_shared,
              pytest.mark.skipif(not QWEN3.is_dir(), reason=f"{QWEN3} is absent: the real tokenizers live beside the checkout")]

SHORT = {"max_length": 160, "max_prompt_tokens": 96}  # short rows: logits over 151k tokens cost memory on a CPU


@pytest.fixture(scope="module")
def chat_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("chat") / "out"
    run_build(out, SHARED_SITES / "beer-2017", SHARED_SITES / "cardano-2021", tokenizer=str(QWEN3),
              format="conversational", **SHORT)
    return out


@pytest.fixture(scope="module")
def qwen_tiny(tmp_path_factory):
    return build_tiny_model_for(QWEN3, tmp_path_factory.mktemp("qwen-tiny") / "model")


def _options(**more) -> list[str]:
    # The same two rows every step (one batch of them): the loss of a batch must fall as it is trained on,
    # while the losses of different batches would differ by more than four steps move them.
    values = {"max_steps": 4, "learning_rate": 1e-2, "per_device_train_batch_size": 2, "max_train_samples": 2,
              "logging_steps": 1, "max_eval_samples": 2, "save_steps": 100, "warmup_steps": 0, **more}
    return [part for key, value in values.items() for part in (f"--{key.replace('_', '-')}", str(value))]


def test_labels_cover_exactly_the_assistant_turn(chat_build, qwen_tiny, tmp_path):
    config = resolve("sft", data=str(chat_build), model=str(qwen_tiny), output=str(tmp_path / "run"),
                     per_device_train_batch_size=4, gradient_checkpointing=False)
    trainer, _ = sft_trainer(config, tmp_path)
    tokenizer = trainer.processing_class
    rows = {tuple(row["input_ids"]): row for row in trainer.train_dataset}
    batch = next(iter(trainer.get_train_dataloader()))
    for ids, mask, labels in zip(batch["input_ids"], batch["attention_mask"], batch["labels"]):
        ids, labels = ids[mask.bool()].tolist(), labels[mask.bool()].tolist()
        row = rows[tuple(ids)]
        # The assistant turn, rendered here by the tokenizer's own chat template: prompt + completion,
        # less the prompt with the generation prompt.
        whole = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True, return_dict=True)
        prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
        assistant = whole["input_ids"][len(prompt):]
        assert whole["input_ids"] == ids and whole["input_ids"][: len(prompt)] == prompt
        assert labels == [-100] * len(prompt) + assistant
        text = tokenizer.decode(assistant)
        assert text == f"<think>\n\n</think>\n\n{row['completion'][0]['content'].strip()}<|im_end|>\n"
    assert len(batch["input_ids"]) == 4


def _losses(run) -> list[float]:
    return [m["loss"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in m]


def test_sft_then_dpo_through_the_cli_with_the_qwen3_chat_template(chat_build, qwen_tiny, tmp_path):
    runner = CliRunner()
    sft = runner.invoke(cli, ["train", "sft", "--data", str(chat_build), "--model", str(qwen_tiny), "--output",
                              str(tmp_path / "sft"), "--no-gradient-checkpointing", *_options()])
    assert sft.exit_code == 0, sft.output
    dpo = runner.invoke(cli, ["train", "dpo", "--data", str(chat_build), "--sft", str(tmp_path / "sft"), "--output",
                              str(tmp_path / "dpo"), "--no-gradient-checkpointing", *_options(learning_rate=5e-3)])
    assert dpo.exit_code == 0, dpo.output
    for run in (tmp_path / "sft", tmp_path / "dpo"):
        losses = _losses(run)
        assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
        assert losses[-1] < losses[0], losses
    saved = json.loads((tmp_path / "sft" / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in (saved.get("chat_template") or (tmp_path / "sft" / "chat_template.jinja").read_text())
