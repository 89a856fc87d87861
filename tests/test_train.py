"""`stackpref train sft` / `train dpo` on CPU with a tiny random-init Llama whose tokenizer is trained
on the build's own text: the real QLoRA path (bitsandbytes 4-bit NF4 + peft LoRA + TRL), only small."""

import json

import pytest
import torch
import yaml
from click.testing import CliRunner
from easy_site import FIXED_ANSWER
from stackpref.training import train
from stackpref.training.config import resolve
from stackpref.training.data import drop_over_length, load_split
from stackpref.training.dpo import dpo_trainer
from stackpref.training.model import load_base, load_tokenizer
from stackpref.training.sft import sft_trainer
from stackpref.training.tiny import train_tokenizer
from transformers import AutoModelForCausalLM

from stackpref.cli import cli
from stackpref.errors import ConfigError, InputError, OutputExistsError

pytestmark = pytest.mark.slow

PROJECTIONS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


@pytest.fixture(scope="module")
def sft_run(easy_build, tmp_path_factory):
    return train("sft", recipe="tiny-cpu", data=str(easy_build), output=str(tmp_path_factory.mktemp("sft") / "run"))


@pytest.fixture(scope="module")
def dpo_run(easy_build, sft_run, tmp_path_factory):
    return train("dpo", recipe="tiny-cpu", data=str(easy_build), sft=str(sft_run),
                 output=str(tmp_path_factory.mktemp("dpo") / "run"))


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _run_record(run) -> dict:
    return json.loads((run / "run.json").read_text())


def record_data(run) -> str:
    return yaml.safe_load((run / "train_config.yaml").read_text())["data"]


def test_base_is_4bit_nf4_with_lora_on_every_projection(sft_run, tmp_path):
    import bitsandbytes as bnb
    from peft.tuners.lora import LoraLayer

    assert sorted(json.loads((sft_run / "adapter_config.json").read_text())["target_modules"]) == PROJECTIONS
    config = resolve("sft", "tiny-cpu", data=record_data(sft_run), model=str(sft_run / "tiny-base"), output=str(tmp_path / "again"))
    trainer, _ = sft_trainer(config, tmp_path)
    wrapped = {name: module for name, module in trainer.model.named_modules() if isinstance(module, LoraLayer)}
    assert len(wrapped) == 2 * len(PROJECTIONS)  # 2 layers x every projection
    assert {name.rsplit(".", 1)[-1] for name in wrapped} == set(PROJECTIONS)
    for module in wrapped.values():
        assert isinstance(module.base_layer, bnb.nn.Linear4bit)
        assert module.base_layer.weight.quant_type == "nf4"
        assert module.base_layer.weight.quant_state.nested  # double quantization
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    # TRL casts a quantized base's LoRA weights to bf16, on a CPU too (README: precision of the adapter).
    assert {p.dtype for p in trainer.model.parameters() if p.requires_grad} == {torch.bfloat16}


def test_sft_lowers_training_loss_and_keeps_eos_a_target(sft_run, tmp_path):
    losses = [m["loss"] for m in _metrics(sft_run) if "loss" in m]
    assert len(losses) >= 4
    assert losses[-1] < losses[0] - 0.5, losses
    record = _run_record(sft_run)
    assert record["global_step"] == 40 and record["device"] == "cpu"

    config = resolve("sft", "tiny-cpu", data=record_data(sft_run), model=str(sft_run / "tiny-base"),
                     output=str(tmp_path / "again"))
    trainer, _ = sft_trainer(config, tmp_path)
    tokenizer = trainer.processing_class
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    batch = next(iter(trainer.get_train_dataloader()))
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        last = int(mask.sum()) - 1
        assert ids[last] == tokenizer.eos_token_id and labels[last] == tokenizer.eos_token_id  # EOS is learned
        assert (labels[mask == 0] == -100).all()  # padding is not
        prompt_tokens = (labels[: last + 1] == -100).sum()
        assert 0 < prompt_tokens < last  # the question is context, not a target
    # the answer the sft split teaches is the easy site's fixed one, ending in EOS
    assert tokenizer.decode(batch["input_ids"][0][batch["labels"][0] != -100]).strip() == FIXED_ANSWER + "</s>"


def test_dpo_starts_from_sft_adapter_and_its_reference_is_the_sft_model(sft_run, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file

    config = resolve("dpo", "tiny-cpu", data=record_data(sft_run), sft=str(sft_run), model=str(sft_run / "tiny-base"),
                     max_length=1024, output=str(tmp_path / "dpo"))
    trainer, facts = dpo_trainer(config, tmp_path)
    assert facts["reference"] == {"model": str(sft_run / "tiny-base"), "adapter": str(sft_run)}

    saved = load_file(sft_run / "adapter_model.safetensors")
    policy = dict(trainer.model.named_parameters())
    some_b = next(k for k in saved if "lora_B" in k)
    name = some_b.replace(".weight", ".default.weight")
    assert saved[some_b].abs().sum() > 0  # SFT really trained the adapter
    torch.testing.assert_close(policy[name].float(), saved[some_b].float(), atol=1e-2, rtol=1e-2)  # bf16 copy

    trainer.model.eval()
    batch = trainer._prepare_inputs(next(iter(trainer.get_eval_dataloader())))
    ref_chosen, ref_rejected = trainer.compute_ref_log_probs(trainer.model, batch)

    tokenizer = load_tokenizer(str(sft_run))
    sft_model = PeftModel.from_pretrained(load_base(config.model, tokenizer), str(sft_run)).eval()
    with torch.inference_mode():
        logits = sft_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    per_token = torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
    own = (per_token * batch["completion_mask"][:, 1:]).sum(1)
    own_chosen, own_rejected = own.chunk(2)
    torch.testing.assert_close(ref_chosen, own_chosen, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(ref_rejected, own_rejected, atol=1e-4, rtol=1e-5)


def test_dpo_on_easy_pairs_reaches_held_out_reward_accuracy(dpo_run):
    record = _run_record(dpo_run)
    assert record["rows"]["test"] >= 25
    assert record["eval_metrics"]["eval_rewards/accuracies"] >= 0.9
    assert record["eval_metrics"]["eval_rewards/margins"] > 0
    saved = yaml.safe_load((dpo_run / "train_config.yaml").read_text())
    assert saved["stage"] == "dpo" and saved["beta"] == 0.1
    logged = {key for m in _metrics(dpo_run) for key in m}
    assert {"loss", "rewards/accuracies", "rewards/margins", "logps/chosen", "eval_rewards/accuracies"} <= logged
    assert not (dpo_run / "ref").exists()  # only the trained adapter is saved


def test_resume_continues_from_the_saved_step(easy_build, tmp_path):
    out = tmp_path / "run"
    options = {"recipe": "tiny-cpu", "data": str(easy_build), "output": str(out), "save_steps": 3,
               "logging_steps": 1}
    train("sft", max_steps=3, **options)
    assert (out / "checkpoints" / "checkpoint-3").is_dir()
    with pytest.raises(OutputExistsError):
        train("sft", max_steps=3, **options)
    train("sft", max_steps=6, resume=True, **options)
    assert _run_record(out)["global_step"] == 6
    # steps 1-3 logged once: the second run went on from checkpoint-3 instead of starting over
    assert [m["step"] for m in _metrics(out) if "loss" in m] == [1, 2, 3, 4, 5, 6]


def test_cli_runs_tiny_recipe_end_to_end(sample_build, tmp_path):
    runner = CliRunner()
    sft = runner.invoke(cli, ["train", "sft", "--recipe", "tiny-cpu", "--data", str(sample_build),
                              "--output", str(tmp_path / "sft"), "--max-steps", "2", "--merge"])
    assert sft.exit_code == 0, sft.output
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "sft" / "merged")
    assert not any("lora" in name for name, _ in merged.named_parameters())  # a plain model, adapter folded in
    dpo = runner.invoke(cli, ["train", "dpo", "--recipe", "tiny-cpu", "--data", str(sample_build),
                              "--sft", str(tmp_path / "sft"), "--output", str(tmp_path / "dpo"), "--max-steps", "2"])
    assert dpo.exit_code == 0, dpo.output
    saved = yaml.safe_load((tmp_path / "dpo" / "train_config.yaml").read_text())
    assert saved["sft"] == str(tmp_path / "sft") and saved["model"] == str(tmp_path / "sft" / "tiny-base")
    assert (tmp_path / "dpo" / "adapter_model.safetensors").is_file()


def test_over_length_rows_are_dropped_with_a_count_never_cut(easy_build, caplog):
    rows = load_split(str(easy_build), "pairs", "train")
    tokenizer = train_tokenizer(list(rows["prompt"]) + list(rows["chosen"]), vocab_size=300)
    lengths = sorted(len(tokenizer(p + c + "</s>")["input_ids"]) for p, c in zip(rows["prompt"], rows["chosen"]))
    budget = lengths[len(lengths) // 2]
    kept, dropped = drop_over_length(rows, tokenizer, budget, "pairs/train")
    assert 0 < dropped < len(rows) and len(kept) + dropped == len(rows)
    assert f"{dropped} of {len(rows)} rows are longer than max_length {budget}" in caplog.text
    for row in kept:
        assert row["chosen"] in rows["chosen"]  # whole rows, not truncated text


def test_unloadable_model_names_what_to_pass(easy_build, tmp_path):
    with pytest.raises(InputError, match="no such model folder"):
        train("sft", data=str(easy_build), model="./no-such-model", output=str(tmp_path / "x"))


def test_recipes_are_strict_and_flags_win(tmp_path):
    config = resolve("sft", "tiny-cpu", output="x", learning_rate=0.5)
    assert config.model == "tiny" and config.learning_rate == 0.5 and config.max_steps == 40
    assert resolve("dpo", "tiny-cpu", output="x", sft="s").model is None  # dpo takes the SFT run's base
    (tmp_path / "typo.yaml").write_text("learning_rat: 0.1\n")
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        resolve("sft", str(tmp_path / "typo.yaml"), output="x", model="tiny")
    with pytest.raises(ConfigError, match="lora_r: not an option of train dpo"):
        resolve("dpo", None, output="x", sft="s", lora_r=8)
    with pytest.raises(ConfigError, match="for train dpo, not train sft"):
        resolve("sft", "llama2-7b-dpo", output="x", model="m")
    with pytest.raises(ConfigError, match="--sft"):
        resolve("dpo", None, output="x")
    seed = resolve("dpo", "llama2-7b-dpo", output="x", sft="s")
    assert (seed.beta, seed.learning_rate, seed.optim, seed.gradient_accumulation_steps) == (0.1, 5e-5,
                                                                                           "paged_adamw_32bit", 4)
    for name, stage in (("qwen3-sft", "sft"), ("qwen3-dpo", "dpo")):  # the chat recipes load, strictly
        assert resolve(stage, name, output="x", sft="s" if stage == "dpo" else None).load_in_4bit
