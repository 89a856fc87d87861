"""One DPO checkpoint and one set of pairs through `stackpref eval` and through TRL's
`DPOTrainer.evaluate()`, for the tests that hold eval to TRL's numbers (standard and conversational)."""

from pathlib import Path

import polars as pl


def with_swapped(frame: pl.DataFrame, rows: int = 15) -> pl.DataFrame:
    """The pairs plus `rows` of them with chosen and rejected swapped, so the accuracy is not just 1.0."""
    swapped = frame.head(rows).rename({"chosen": "rejected", "rejected": "chosen"}).select(frame.columns)
    return pl.concat([frame, swapped])


def eval_and_trl(run: Path, data: Path, frame: pl.DataFrame, tmp_path: Path):
    """(eval's implicit-reward summary, TRL's metrics, eval's loaded checkpoint, the DPOTrainer) for the
    DPO run `run` on `frame`, fp32, TRL's reference a frozen copy of the SFT adapter as in training."""
    from datasets import Dataset
    from peft import PeftModel, set_peft_model_state_dict
    from safetensors.torch import load_file
    from stackpref.eval import accuracy, models
    from stackpref.eval.config import EvalConfig
    from stackpref.training.model import load_base, load_tokenizer
    from trl import DPOConfig, DPOTrainer

    from stackpref.progress import Progress

    config = EvalConfig(checkpoint=str(run), data=str(data), load_in_4bit=False, ref_cache=False, batch_tokens=2048)
    loaded = models.load(config.checkpoint, load_in_4bit=False)
    with Progress(False) as bar:
        ours = accuracy.summarize(accuracy.score_pairs(loaded, frame, config, bar), frame, config)["implicit_reward"]

    sft = run.parent / "sft"
    tokenizer = load_tokenizer(str(sft))
    policy = PeftModel.from_pretrained(load_base(str(sft / "tiny-base"), tokenizer, load_in_4bit=False), str(sft),
                                       is_trainable=True)
    pairs = Dataset.from_list(frame.select("prompt", "chosen", "rejected").to_dicts())
    # One eval batch: TRL averages per-batch means, which equals the mean over pairs only for equal batches.
    args = DPOConfig(output_dir=str(tmp_path), per_device_eval_batch_size=len(pairs), beta=0.1, max_length=None,
                     bf16=False, use_cpu=True, report_to=[])
    trainer = DPOTrainer(model=policy, args=args, train_dataset=pairs, eval_dataset=pairs, processing_class=tokenizer)
    loaded_keys = set_peft_model_state_dict(trainer.model, load_file(run / "adapter_model.safetensors"),
                                            adapter_name="default")
    assert not loaded_keys.unexpected_keys
    return ours, trainer.evaluate(), loaded, trainer


def assert_equal_to_trl(ours: dict, theirs: dict) -> None:
    assert ours["overall"]["ties"] == 0  # TRL counts a tie as wrong, RewardBench as half: none here
    assert 0.6 < ours["overall"]["accuracy"] < 0.9
    assert abs(ours["overall"]["accuracy"] - theirs["eval_rewards/accuracies"]) < 1e-4
    assert abs(ours["overall"]["mean_margin"] - theirs["eval_rewards/margins"]) < 1e-4
