"""QLoRA SFT and DPO on a stackpref build, through TRL, peft and bitsandbytes (extra `train`).

`train("sft", ...)` then `train("dpo", sft=..., ...)`; options are the fields of
`stackpref.training.config.TrainConfig`, `recipe` names a YAML recipe (flags win over it).
"""

from pathlib import Path

__all__ = ["train"]


def train(stage: str, *, recipe: str | None = None, resume: bool = False, **options) -> Path:
    """Run one training stage and return its output folder (adapter, tokenizer, train_config.yaml,
    metrics.jsonl, run.json)."""
    from stackpref.training.config import resolve

    from stackpref.extras import require

    config = resolve(stage, recipe, **options)
    require("train", "torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate")
    if stage == "sft":
        from stackpref.training.sft import run_sft

        return run_sft(config, resume)
    from stackpref.training.dpo import run_dpo

    return run_dpo(config, resume)
