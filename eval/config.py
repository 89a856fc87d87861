"""The typed config of `stackpref eval`: every option with its help text, validated with messages that
name the value and the fix. No torch here, so `stackpref eval --help` stays fast."""

import dataclasses
from dataclasses import dataclass, field

from stackpref.errors import ConfigError

ENGINES = ("auto", "hf", "vllm")


NEEDS = ("torch", "transformers", "peft", "evaluate", "matplotlib", "sklearn")  # checked before a run imports them
DEFAULT_DATA = "stackpref-data"  # the Hub dataset a checkpoint without a train_config.yaml is evaluated on


def _opt(default, help: str, **metadata):
    """A field with its help and what the command line needs beyond its type (see stackpref/options.py)."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class EvalConfig:
    checkpoint: str = _opt(None, "LoRA adapter folder, merged model, or reward model (sequence classification).")
    data: str | None = _opt(None, "A build folder, a Hub dataset repo, or a Parquet/JSONL file of pairs (.gz too; "
                            "prompt/chosen/rejected, or chosen/rejected dialogues sharing a prefix).", aliases=("-d",),
                            shown_default="the checkpoint's train_config data, else stackpref-data")
    split: str = _opt("test", "Split of a build or repo to evaluate on (a file is taken whole).")
    output: str | None = _opt(None, "Folder for report.json, report.md and the plots.", aliases=("-o",),
                              shown_default="./eval-<checkpoint folder name>")
    ref: str | None = _opt(None, "Reference for the implicit DPO reward: a model or adapter folder, or 'base' (the "
                           "adapter switched off).", shown_default="the SFT adapter `train dpo` recorded, else base")
    beta: float | None = _opt(None, "DPO beta of the implicit reward.", shown_default="the checkpoint's train_config "
                              "beta, else 0.1")
    load_in_4bit: bool | None = _opt(None, "Load the base in 4-bit NF4.", shown_default="as the checkpoint was trained")
    max_pairs: int | None = _opt(None, "Evaluate only the first N pairs.", shown_default="all")
    max_length: int | None = _opt(None, "Drop (and count) pairs whose prompt + longest response exceeds N tokens, "
                                  "as training dropped them.",
                                  shown_default="the checkpoint's train_config max_length, else no limit")
    chat_template: str | None = _opt(None, "Conversational (message-list) pairs: a Jinja chat template file to "
                                     "render them with, over the one training used.",
                                     shown_default="the checkpoint's saved tokenizer's, else train_config's "
                                     "chat_template, else the base tokenizer's")
    batch_tokens: int = _opt(16384, "Padded tokens per scoring batch (rows are length-sorted, so little padding).")
    bootstrap: int = _opt(1000, "Bootstrap resamples for the 95% confidence intervals.")
    seed: int = _opt(0, "Seed of the bootstrap and of sampled generation.")
    ref_cache: bool = _opt(True, "Cache reference log-probs on disk, keyed by reference and token ids.")
    cache_dir: str | None = _opt(None, "Reference cache folder.", shown_default="$STACKPREF_CACHE/eval-ref, else "
                                 "~/.cache/stackpref/eval-ref")
    judge: str | None = _opt(None, "Win-rate judge: a reward model folder, 'implicit' (this checkpoint's DPO "
                             "reward; needs --allow-self-judge), or 'llm' (--judge-url).", shown_default="no win rate")
    allow_self_judge: bool = _opt(False, "Let --judge implicit judge the checkpoint's own generations: biased toward "
                                  "the model by construction; the report marks it.", flag=True, shown_default="off")
    judge_url: str | None = _opt(None, "Base URL of an OpenAI-compatible API (e.g. http://127.0.0.1:8000/v1).",
                                 shown_default="none; needed with --judge llm")
    judge_model: str | None = _opt(None, "Model name sent to the judge endpoint.",
                                   shown_default="none; needed with --judge llm")
    judge_workers: int = _opt(8, "Concurrent requests to the LLM judge.")
    baseline: str = _opt("chosen", "What generations are compared with: 'chosen' (the held-out chosen answer), "
                         "another checkpoint, or an earlier eval output folder (its generations.jsonl).")
    num_prompts: int = _opt(64, "Held-out prompts to generate for (distinct prompts, in data order).")
    max_new_tokens: int = _opt(256, "Longest generation in tokens (generation also stops at EOS).")
    temperature: float = _opt(0.0, "Sampling temperature; 0 is greedy decoding.")
    top_p: float = _opt(1.0, "Nucleus sampling mass (with temperature > 0).")
    generation_batch_size: int = _opt(16, "Prompts per generate call.")
    engine: str = _opt("auto", "Generation engine: vllm (CUDA, vllm installed), hf, or auto (vllm when it can).",
                       choices=ENGINES)
    trust_remote_code: bool = _opt(False, "Allow the model's own code to run.", flag=True, shown_default="off")

    def __post_init__(self) -> None:
        if not self.checkpoint:
            raise ConfigError("eval needs a CHECKPOINT: an adapter folder, a merged model or a reward model")
        for name in ("batch_tokens", "bootstrap", "judge_workers", "num_prompts", "max_new_tokens",
                     "generation_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1; got {getattr(self, name)}")
        for name in ("max_pairs", "max_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.beta is not None and self.beta <= 0:
            raise ConfigError(f"beta must be > 0; got {self.beta}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError(f"temperature must be >= 0 and top_p in (0, 1]; got {self.temperature} and {self.top_p}")
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {self.engine!r}")
        if self.judge == "implicit" and not self.allow_self_judge:
            raise ConfigError("--judge implicit would have this checkpoint's DPO reward judge its own generations, "
                              "biased toward it by construction: use a reward model or 'llm', or pass "
                              "--allow-self-judge")
        if self.judge == "llm" and not (self.judge_url and self.judge_model):
            raise ConfigError("--judge llm needs --judge-url (an OpenAI-compatible base URL) and --judge-model")

    def from_checkpoint(self, train_config: dict) -> "EvalConfig":
        """This config with what was not given taken from the run's train_config.yaml (the data and
        max_length training used, so eval scores the pairs training's eval scored); the data's
        prompt/response format is the build's, which training reads unchanged, and a conversational
        build's chat template is the one training applied (chat.use_template)."""
        data = self.data or train_config.get("data") or DEFAULT_DATA
        max_length = self.max_length or train_config.get("max_length")
        return dataclasses.replace(self, data=data, max_length=max_length)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
