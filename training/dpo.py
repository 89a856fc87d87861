"""`stackpref train dpo`: DPO on the build's `pairs/train`, evaluated on `pairs/test`, starting from
the SFT adapter, with the SFT model as the reference.

The reference choice: the base is loaded once (4-bit), the SFT adapter is loaded onto it as the
trainable policy, and TRL copies it into a frozen second adapter ("ref") that computes the
reference log-probs. So the reference is exactly the SFT model, not the raw base (which is what
"adapter off" would give), and no second copy of the base is held in memory.
"""

from pathlib import Path

from stackpref.training.config import TrainConfig, read_saved
from stackpref.training.data import build_option, conversational, drop_over_length, load_split
from stackpref.training.model import load_base, load_tokenizer, use_chat_template
from stackpref.training.run import METRICS_FILE, JsonlMetrics, prepare_output, train_and_save, trainer_arguments

from stackpref.errors import InputError


def run_dpo(config: TrainConfig, resume: bool = False) -> Path:
    sft_dir = Path(config.sft)
    sft_config = read_saved(sft_dir)
    if not (sft_dir / "adapter_config.json").is_file() or sft_config.get("stage") != "sft":
        raise InputError(f"--sft {config.sft}: not the output of `stackpref train sft` "
                         "(it needs adapter_config.json and train_config.yaml with stage: sft)")
    config.model = config.model or sft_config["model"]
    config.max_length = config.max_length or build_option(config.data, "max_length") or sft_config.get("max_length") or 1024
    out = prepare_output(config, resume)
    trainer, facts = dpo_trainer(config, out)
    train_and_save(trainer, config, out, resume, facts)
    return out


def dpo_trainer(config: TrainConfig, out: Path):
    """TRL's DPOTrainer whose policy is the SFT adapter (trainable) on a 4-bit base and whose reference
    is TRL's frozen copy of that adapter; and the facts of the data for the run record."""
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    train = load_split(config.data, "pairs", "train", config.max_train_samples)
    test = load_split(config.data, "pairs", "test", config.max_eval_samples)
    tokenizer = load_tokenizer(config.sft)  # the SFT run's, pad token and chat template included
    if conversational(train):
        use_chat_template(tokenizer, None, config.sft)
    train, train_dropped = drop_over_length(train, tokenizer, config.max_length, "pairs/train")
    test, test_dropped = drop_over_length(test, tokenizer, config.max_length, "pairs/test")

    base = load_base(config.model, tokenizer, load_in_4bit=config.load_in_4bit,
                     attn_implementation=config.attn_implementation, trust_remote_code=config.trust_remote_code)
    policy = PeftModel.from_pretrained(base, config.sft, is_trainable=True)
    args = DPOConfig(**trainer_arguments(
        config, out, max_length=config.max_length, beta=config.beta, loss_type=[config.loss_type],
        precompute_ref_log_probs=config.precompute_ref_log_probs,
    ))
    trainer = DPOTrainer(model=policy, args=args, train_dataset=train, eval_dataset=test, processing_class=tokenizer,
                         callbacks=[JsonlMetrics(out / METRICS_FILE)])
    return trainer, {
        "rows": {"train": len(train), "test": len(test)},
        "dropped_over_max_length": {"train": train_dropped, "test": test_dropped},
        "reference": {"model": config.model, "adapter": config.sft},
    }
