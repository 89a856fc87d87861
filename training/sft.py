"""`stackpref train sft`: QLoRA supervised fine-tuning on the build's `sft/train`, loss on the
completion only, evaluated on `sft/test`.

A conversational build trains as prompt/completion message lists with TRL's completion-only loss:
TRL renders prompt (with the generation prompt) and prompt + completion through the chat template
and masks the common prefix, so the loss is on the assistant turn whatever the template. TRL's
`assistant_only_loss` needs `{% generation %}` markers, which Qwen3's template lacks, and TRL 1.16's
`get_training_chat_template` refuses to patch it ("not training-compatible"); a patched template
would also render other tokens than the build counted."""

from pathlib import Path

from stackpref.training.config import TINY, TrainConfig
from stackpref.training.data import build_option, built_chat_template, conversational, drop_over_length, load_split
from stackpref.training.model import load_base, load_tokenizer, lora_config, use_chat_template
from stackpref.training.run import METRICS_FILE, JsonlMetrics, prepare_output, train_and_save, trainer_arguments
from stackpref.training.tiny import build_tiny_model


def run_sft(config: TrainConfig, resume: bool = False) -> Path:
    out = prepare_output(config, resume)
    trainer, facts = sft_trainer(config, out)
    train_and_save(trainer, config, out, resume, facts)
    if config.merge and trainer.is_world_process_zero():
        merge_adapter(config, out)
    return out


def sft_trainer(config: TrainConfig, out: Path):
    """TRL's SFTTrainer over a 4-bit base with a fresh LoRA adapter, ready to train; and the facts of
    the data (rows kept, rows dropped as too long) for the run record."""
    from trl import SFTConfig, SFTTrainer

    train = load_split(config.data, "sft", "train", config.max_train_samples)
    test = load_split(config.data, "sft", "test", config.max_eval_samples)
    if config.model == TINY:
        from accelerate import PartialState

        tiny = out / "tiny-base"
        with PartialState().main_process_first():  # one process builds it, the others load it
            if not tiny.is_dir():  # a resumed run keeps the base it started with
                build_tiny_model(_texts(train), tiny, seed=config.seed)
        config.model = str(tiny.resolve())
    tokenizer = load_tokenizer(config.model, config.trust_remote_code)
    if conversational(train):
        use_chat_template(tokenizer, config.chat_template, config.model, built_chat_template(config.data))
    config.max_length = config.max_length or build_option(config.data, "max_length") or 1024
    train, train_dropped = drop_over_length(train, tokenizer, config.max_length, "sft/train")
    test, test_dropped = drop_over_length(test, tokenizer, config.max_length, "sft/test")

    model = load_base(config.model, tokenizer, load_in_4bit=config.load_in_4bit,
                      attn_implementation=config.attn_implementation, trust_remote_code=config.trust_remote_code)
    peft_config = lora_config(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_target_modules)
    args = SFTConfig(**trainer_arguments(
        config, out, max_length=config.max_length, completion_only_loss=True, packing=config.packing,
    ))
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=test, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=[JsonlMetrics(out / METRICS_FILE)])
    return trainer, {
        "rows": {"train": len(train), "test": len(test)},
        "dropped_over_max_length": {"train": train_dropped, "test": test_dropped},
        "lora_target_modules": sorted(peft_config.target_modules),
    }


def _texts(rows) -> list[str]:
    """The rows' text, to train the tiny tokenizer on (a conversational row: its turns' contents)."""
    if conversational(rows):
        return [m["content"] for row in rows for m in row["prompt"] + row["completion"]]
    return [p + c for p, c in zip(rows["prompt"], rows["completion"])]


def merge_adapter(config: TrainConfig, out: Path) -> Path:
    """The base in its compute dtype (merging into 4-bit weights would round the adapter away) with the
    adapter folded in, saved with the tokenizer under OUTPUT/merged."""
    from peft import PeftModel

    tokenizer = load_tokenizer(str(out))
    base = load_base(config.model, tokenizer, load_in_4bit=False, trust_remote_code=config.trust_remote_code)
    merged = PeftModel.from_pretrained(base, str(out)).merge_and_unload()
    merged.config.use_cache = True
    merged.save_pretrained(out / "merged")
    tokenizer.save_pretrained(out / "merged")
    return out / "merged"
