"""What SFT and DPO runs share: the output folder, the trainer arguments, the metrics log, resuming,
and saving the adapter with the resolved config beside it."""

import json
import time
from pathlib import Path

import torch
from stackpref.training import config as train_config
from stackpref.training.model import compute_dtype, device_type
from transformers import TrainerCallback

from stackpref.errors import InputError, OutputExistsError
from stackpref.output.manifest import package_versions

METRICS_FILE = "metrics.jsonl"
RUN_FILE = "run.json"
_VERSIONED = ("torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets")


class JsonlMetrics(TrainerCallback):
    """Every logged metric (loss, rewards/accuracies, rewards/margins, logps, eval_*) as one JSON line."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs}) + "\n")


def prepare_output(config: train_config.TrainConfig, resume: bool) -> Path:
    """The output folder: new (or empty) for a fresh run, holding checkpoints for --resume. Under
    `accelerate launch` / `torchrun` the main process checks and makes it before the others go on
    (they would find it no longer empty)."""
    from accelerate import PartialState

    out, state = Path(config.output), PartialState()
    with state.main_process_first():
        if resume:
            if not any((out / "checkpoints").glob("checkpoint-*")):
                raise InputError(f"--resume: {out}/checkpoints holds no checkpoint to continue from")
        elif state.is_main_process and out.exists() and any(out.iterdir()):
            raise OutputExistsError(f"{out} exists and is not empty: pass --resume to continue that run, "
                                    "or choose another --output")
        out.mkdir(parents=True, exist_ok=True)
    return out


def trainer_arguments(config: train_config.TrainConfig, out: Path, **stage_specific) -> dict:
    """Keyword arguments shared by TRL's SFTConfig and DPOConfig."""
    cuda = device_type() == "cuda"
    return {
        "output_dir": str(out / "checkpoints"),
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "per_device_eval_batch_size": config.per_device_eval_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "gradient_checkpointing": config.gradient_checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "warmup_steps": config.warmup_steps,
        "lr_scheduler_type": config.lr_scheduler_type,
        "optim": config.optim or ("paged_adamw_32bit" if cuda else "adamw_torch"),
        "weight_decay": config.weight_decay,
        "logging_steps": config.logging_steps,
        "eval_strategy": "steps" if config.eval_steps else "epoch",
        "eval_steps": config.eval_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "seed": config.seed,
        "data_seed": config.seed,
        "report_to": config.report_to,
        "bf16": compute_dtype() == torch.bfloat16,
        "use_cpu": not cuda,
        **stage_specific,
    }


def train_and_save(trainer, config: train_config.TrainConfig, out: Path, resume: bool, facts: dict) -> dict:
    """Train (from the last checkpoint with --resume), evaluate, save the adapter, tokenizer, resolved
    config and a run record (versions, device, timings, what was dropped)."""
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    final_eval = trainer.evaluate()
    if not trainer.is_world_process_zero():  # one process writes the results
        return {}
    # Only the trained adapter: DPO's frozen "ref" copy is the SFT adapter, already saved by `train sft`.
    trainer.model.save_pretrained(str(out), selected_adapters=["default"])
    trainer.processing_class.save_pretrained(str(out))
    train_config.save(config, out)
    record = {
        "stage": config.stage,
        "device": device_type(),
        "global_step": trainer.state.global_step,
        "train_seconds": round(time.perf_counter() - started, 2),
        "train_metrics": result.metrics,
        "eval_metrics": final_eval,
        **facts,
        "versions": package_versions(_VERSIONED),
    }
    (out / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record

