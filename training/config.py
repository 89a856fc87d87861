"""The typed config of `stackpref train sft` / `train dpo`, and recipes (YAML) that fill it.

A recipe reads like a lab note: shared keys at the top, and optional `sft:` / `dpo:` mappings that
apply to one stage only, so one file (tiny-cpu.yaml) can drive both stages. Unknown keys are an
error. Flags override the recipe; the resolved config is saved beside the checkpoint as
`train_config.yaml`, which `--recipe` can load again. No torch here: `--help` stays fast.
"""

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from stackpref.config import reject_unknown_keys
from stackpref.errors import ConfigError

STAGES = ("sft", "dpo")
TINY = "tiny"  # `--model tiny`: a random-init Llama built under the output (see training/tiny.py)
CONFIG_FILE = "train_config.yaml"


def _opt(default, help: str, stages: tuple[str, ...] = STAGES, **metadata):
    """A field with its help, the stages it applies to, and what the command line needs beyond its type
    (see stackpref/options.py)."""
    return field(default=default, metadata={"help": help, "stages": stages, **metadata})


@dataclass
class TrainConfig:
    stage: str = _opt("sft", "sft or dpo (set by the command).")
    data: str = _opt("stackpref-data", "A stackpref build folder or a Hub dataset id in its layout.",
                     aliases=("-d",))
    model: str | None = _opt(
        None, "Base model: a local folder, a Hub id already in the local cache, or 'tiny' (a random-init "
        "2-layer Llama with a tokenizer trained on the data, built under the output; no download). "
        "dpo default: the base of the --sft run.", aliases=("-m",),
    )
    output: str | None = _opt(None, "Folder for the adapter, checkpoints, metrics.jsonl and train_config.yaml.",
                              aliases=("-o",))
    sft: str | None = _opt(None, "The `train sft` output to start from; it is also the reference model.", ("dpo",))
    load_in_4bit: bool = _opt(True, "Load the base in 4-bit NF4 with double quantization (QLoRA).")
    lora_r: int = _opt(16, "LoRA rank.", ("sft",))
    lora_alpha: int = _opt(32, "LoRA alpha (scale alpha/r).", ("sft",))
    lora_dropout: float = _opt(0.05, "LoRA dropout.", ("sft",))
    lora_target_modules: list[str] | None = _opt(
        None, "Module names to adapt; default: every linear projection found in the model (lm_head excluded). "
        "dpo trains the SFT adapter further, so it keeps that adapter's settings.", ("sft",))
    learning_rate: float | None = _opt(None, "Peak learning rate; default 1e-4 for sft, 5e-5 for dpo.")
    num_train_epochs: float = _opt(1.0, "Epochs over the train split (max_steps wins when set).")
    max_steps: int = _opt(-1, "Stop after this many optimizer steps; -1: run the epochs.")
    per_device_train_batch_size: int = _opt(4, "Train batch size per device.")
    per_device_eval_batch_size: int = _opt(8, "Eval batch size per device.")
    gradient_accumulation_steps: int = _opt(1, "Batches per optimizer step.")
    gradient_checkpointing: bool = _opt(True, "Recompute activations in the backward pass to save memory.")
    warmup_steps: float = _opt(0.03, "Warmup: a step count, or a fraction of the run when below 1.")
    lr_scheduler_type: str = _opt("cosine", "Learning-rate schedule (transformers names).")
    optim: str | None = _opt(None, "Optimizer; default paged_adamw_32bit on CUDA, adamw_torch on CPU.")
    weight_decay: float = _opt(0.0, "Weight decay.")
    max_length: int | None = _opt(
        None, "Longest prompt + response in tokens; default: the build's max_length. Longer rows are "
        "dropped with a warning and a count, never cut.")
    chat_template: str | None = _opt(
        None, "Conversational builds: a Jinja chat template file over the tokenizer's own; default: the one the "
        "build counted its lengths with (kept in its manifest), else the tokenizer's. dpo keeps the SFT run's.",
        ("sft",))
    packing: bool = _opt(False, "Pack several short examples per sequence (needs flash attention to stay "
                         "exact; SFT only).", ("sft",))
    attn_implementation: str | None = _opt(None, "Attention kernel (e.g. sdpa, flash_attention_2); default: "
                                           "the model's.")
    beta: float = _opt(0.1, "DPO beta: how far the policy may move from the reference.", ("dpo",))
    loss_type: str = _opt("sigmoid", "DPO loss (TRL names: sigmoid, ipo, hinge, robust, ...).", ("dpo",))
    precompute_ref_log_probs: bool = _opt(False, "Compute the reference log-probs once before training.",
                                          ("dpo",))
    max_train_samples: int | None = _opt(None, "Use only the first N train rows (quick runs).")
    max_eval_samples: int | None = _opt(None, "Use only the first N eval rows.")
    logging_steps: int = _opt(10, "Log metrics every N steps.")
    eval_steps: int | None = _opt(None, "Evaluate every N steps; default: at the end of each epoch.")
    save_steps: int = _opt(100, "Save a checkpoint every N steps (kept: the last 2).")
    seed: int = _opt(42, "Seed for initialisation, shuffling and dropout.")
    report_to: list[str] = _opt(("none",), "TRL/transformers report_to backends (wandb, tensorboard, ...).")
    merge: bool = _opt(False, "Also save the base with the adapter merged in, under OUTPUT/merged.", ("sft",))
    trust_remote_code: bool = _opt(False, "Allow the model's own code to run (off unless asked for).")

    def __post_init__(self) -> None:
        self.report_to = list(self.report_to)
        if self.learning_rate is None:
            self.learning_rate = 1e-4 if self.stage == "sft" else 5e-5
        self.validate()

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(f"stage must be sft or dpo; got {self.stage!r}")
        if not self.output:
            raise ConfigError("an output folder is needed: pass --output DIR")
        if self.stage == "dpo" and not self.sft:
            raise ConfigError("train dpo starts from an SFT adapter: pass --sft DIR (the output of `train sft`)")
        if self.stage == "sft" and not self.model:
            raise ConfigError("train sft needs --model (a local model folder, a cached Hub id, or 'tiny')")
        for name in ("lora_r", "lora_alpha", "per_device_train_batch_size", "per_device_eval_batch_size",
                     "gradient_accumulation_steps", "logging_steps", "save_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1; got {getattr(self, name)}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout must be in [0, 1); got {self.lora_dropout}")
        if self.learning_rate <= 0 or self.beta <= 0:
            raise ConfigError(f"learning_rate and beta must be > 0; got {self.learning_rate} and {self.beta}")
        if self.max_length is not None and self.max_length < 2:
            raise ConfigError(f"max_length must be >= 2 tokens; got {self.max_length}")

    def to_dict(self) -> dict:
        """Only the keys that apply to this stage, so a saved config reloads for the same stage."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if self.stage in f.metadata["stages"]}


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
RECIPES = resources.files("stackpref.training") / "recipes"


def recipe_path(name: str) -> Path:
    """A recipe by file path, or by the name of one shipped in training/recipes (`tiny-cpu`)."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = RECIPES / (name if name.endswith(".yaml") else f"{name}.yaml")
    if shipped.is_file():
        return Path(str(shipped))
    known = sorted(p.name.removesuffix(".yaml") for p in RECIPES.iterdir() if p.name.endswith(".yaml"))
    raise ConfigError(f"recipe {name!r}: no such file and no shipped recipe of that name (shipped: {', '.join(known)})")


def load_recipe(name: str, stage: str) -> dict:
    """The recipe's values for `stage`: its top-level keys, then its `stage:` section over them."""
    path = recipe_path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of option: value")
    sections = {s: data.pop(s) or {} for s in STAGES if s in data}
    reject_unknown_keys(path, data, FIELDS)
    for section_stage, section in sections.items():
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: the {section_stage}: section must be a mapping of option: value")
        reject_unknown_keys(f"{path} ({section_stage}:)", section, FIELDS)
    values = {**data, **sections.get(stage, {})}
    if values.get("stage", stage) != stage:
        raise ConfigError(f"{path}: this recipe is for train {values['stage']}, not train {stage}")
    values.pop("stage", None)
    return values


def resolve(stage: str, recipe: str | None = None, **overrides) -> TrainConfig:
    """Recipe values, then every override that is not None (flags win)."""
    values = load_recipe(recipe, stage) if recipe else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    reject_unknown_keys("options", values, FIELDS)
    wrong_stage = sorted(k for k in values if stage not in FIELDS[k].metadata["stages"])
    if wrong_stage:
        raise ConfigError(f"{', '.join(wrong_stage)}: not an option of train {stage}")
    for name in ("data", "output", "sft", "chat_template"):  # saved configs name paths absolutely, to rerun anywhere
        if values.get(name) and (name != "data" or Path(values[name]).exists()):
            values[name] = str(Path(values[name]).expanduser().resolve())
    try:
        return TrainConfig(stage=stage, **values)
    except TypeError as exc:
        raise ConfigError(f"bad training option: {exc}") from None


def save(config: TrainConfig, folder: Path) -> Path:
    """Write the resolved config as YAML (a recipe `--recipe` can load to repeat the run)."""
    path = folder / CONFIG_FILE
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    return path


def read_saved(folder: str | Path) -> dict:
    """The train_config.yaml a run saved in `folder` (empty when there is none)."""
    path = Path(folder) / CONFIG_FILE
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
