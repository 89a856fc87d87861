"""What a checkpoint is (LoRA adapter, merged causal LM, reward model), and loading it with its
reference for the implicit DPO reward.

The reference of an adapter checkpoint lives on the same model: the base is loaded once, the policy
adapter and (for a DPO run) the SFT adapter are two named adapters on one PeftModel, and the
reference is one `set_adapter` away, or `disable_adapter` for the bare base. A second model is
loaded only when `--ref` names a model that is not an adapter on the same base.
"""

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import xxhash
import yaml

from stackpref.errors import ConfigError, InputError
from stackpref.extras import require

POLICY, REFERENCE = "default", "reference"
ADAPTER, CAUSAL, REWARD = "adapter", "causal", "reward"
_CHUNK = 16 << 20  # bytes read at a time while hashing weight files


@dataclass
class Checkpoint:
    """A model folder (or Hub id) as read from its files, before anything is loaded."""

    path: str
    kind: str  # ADAPTER, CAUSAL or REWARD
    base: str | None = None  # an adapter's base model
    train_config: dict = field(default_factory=dict)  # train_config.yaml of a `stackpref train` output

    @property
    def stage(self) -> str | None:
        return self.train_config.get("stage")


def describe(path: str) -> Checkpoint:
    folder = Path(path)
    if not folder.is_dir():
        if folder.exists():
            raise InputError(f"{path}: a file; a checkpoint is a model or adapter folder (or a Hub model id)")
        return Checkpoint(path, CAUSAL)
    saved = folder / "train_config.yaml"
    train_config = (yaml.safe_load(saved.read_text(encoding="utf-8")) or {}) if saved.is_file() else {}
    adapter_file = folder / "adapter_config.json"
    if adapter_file.is_file():
        adapter = json.loads(adapter_file.read_text(encoding="utf-8"))
        if adapter.get("task_type") not in (None, "CAUSAL_LM"):
            raise InputError(f"{path}: a {adapter['task_type']} adapter; eval takes causal-LM adapters, merged models "
                             "and reward models (sequence classification) saved whole")
        base = train_config.get("model") or adapter.get("base_model_name_or_path")
        if not base:
            raise InputError(f"{adapter_file}: no base_model_name_or_path, and no train_config.yaml naming the model")
        return Checkpoint(str(folder), ADAPTER, base, train_config)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise InputError(f"{path}: neither adapter_config.json nor config.json; not a model or adapter folder")
    architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    kind = REWARD if any(a.endswith("ForSequenceClassification") for a in architectures) else CAUSAL
    return Checkpoint(str(folder), kind, None, train_config)


def fingerprint(path: str) -> str:
    """A stable id of a model's contents: a folder's configs and weights hashed whole (xxh3, GB/s), a Hub
    id by the commit its local snapshot resolves to, so a cached reference is never reused for a
    changed model."""
    folder = Path(path)
    if not folder.is_dir():
        return f"hub:{path}@{hub_revision(path)}"
    digest = xxhash.xxh3_128()
    for file in sorted(folder.iterdir()):
        if not file.is_file() or file.suffix not in (".json", ".safetensors", ".bin", ".model"):
            continue
        digest.update(file.name.encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return f"{folder.resolve()}#{digest.hexdigest()}"


def hub_revision(repo_id: str) -> str:
    """The commit of the cached snapshot `from_pretrained` loads offline (its config.json's folder)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    if not isinstance(found, str):
        raise InputError(f"{repo_id}: not a folder and not in the local Hugging Face cache; download it first "
                         "(eval resolves a Hub id to the cached snapshot's commit)")
    return Path(found).parent.name


@dataclass
class Reference:
    """How the reference log-probs are computed: an adapter on the policy's model, the bare base under
    it, or a separate model; `id` names it in the report and keys the on-disk cache."""

    how: str  # "adapter", "base" or "model"
    description: str
    id: str
    model: object = None  # only when how == "model"


@dataclass
class Loaded:
    checkpoint: Checkpoint
    model: object  # PeftModel, causal LM or sequence classifier, in eval mode
    tokenizer: object
    reference: Reference | None
    load_in_4bit: bool

    @property
    def tokenizer_saved(self) -> bool:
        """Whether the tokenizer (and its chat template) is the one saved in the checkpoint folder."""
        return _has_tokenizer(self.checkpoint)

    @contextlib.contextmanager
    def policy(self):
        """The model with the checkpoint's own adapter active."""
        if self.checkpoint.kind == ADAPTER:
            self.model.set_adapter(POLICY)
        yield self.model

    @contextlib.contextmanager
    def reference_model(self):
        """The reference: the reference adapter, the base with adapters off, or the separate model."""
        how = self.reference.how
        if how == "model":
            yield self.reference.model
        elif how == "base":
            with self.model.disable_adapter():
                yield self.model
        else:
            self.model.set_adapter(REFERENCE)
            try:
                yield self.model
            finally:
                self.model.set_adapter(POLICY)


def tokenizer_of(checkpoint: Checkpoint, trust_remote_code: bool = False):
    """The checkpoint's tokenizer, and whether it is the one saved in its folder (`stackpref train` saves
    it, chat template included) rather than the base's."""
    from stackpref.training.model import load_tokenizer

    saved = _has_tokenizer(checkpoint)
    return load_tokenizer(checkpoint.path if saved else checkpoint.base or checkpoint.path, trust_remote_code), saved


def _has_tokenizer(checkpoint: Checkpoint) -> bool:
    return checkpoint.kind == REWARD or Path(checkpoint.path, "tokenizer_config.json").is_file()


def load(path: str, *, ref: str | None = None, load_in_4bit: bool | None = None, trust_remote_code: bool = False,
         tokenizer=None) -> Loaded:
    """Load CHECKPOINT and its reference; `ref` None takes the reference `stackpref train dpo` recorded
    (its SFT adapter), else the base under an adapter; a merged model without `ref` has none. A given
    `tokenizer` (from `tokenizer_of`, its chat template chosen) is used as it is."""
    checkpoint = describe(path)
    if load_in_4bit is None:
        load_in_4bit = bool(checkpoint.train_config.get("load_in_4bit", False))
    if tokenizer is None:
        tokenizer, _ = tokenizer_of(checkpoint, trust_remote_code)
    if checkpoint.kind == REWARD:
        if ref:
            raise ConfigError(f"--ref {ref}: a reward model ({path}) scores pairs itself and takes no reference")
        model = _load_reward_model(path, tokenizer, load_in_4bit, trust_remote_code)
        return Loaded(checkpoint, model, tokenizer, None, load_in_4bit)
    if checkpoint.kind == CAUSAL:
        if ref == "base":
            raise ConfigError(f"--ref base: {path} is a merged model, with no adapter to switch off; pass the "
                              "reference model or adapter folder")
        model = _load_causal(path, tokenizer, load_in_4bit, trust_remote_code)
        reference = _separate_reference(ref, tokenizer, load_in_4bit, trust_remote_code) if ref else None
        return Loaded(checkpoint, model, tokenizer, reference, load_in_4bit)

    from peft import PeftModel

    base = _load_causal(checkpoint.base, tokenizer, load_in_4bit, trust_remote_code)
    model = PeftModel.from_pretrained(base, path, adapter_name=POLICY).eval()
    quant = f"{'4-bit NF4' if load_in_4bit else 'full-precision'} base {checkpoint.base}"
    recorded = checkpoint.train_config.get("sft") if checkpoint.stage == "dpo" else None
    if not ref and recorded and not Path(recorded).is_dir():
        raise InputError(f"{path}: its reference, the SFT adapter {recorded} recorded in train_config.yaml, is gone; "
                         "pass --ref (that adapter's new place, or 'base')")
    ref = ref or recorded or "base"
    if ref == "base":
        reference = Reference("base", f"{quant}, adapters off", _reference_id("base", checkpoint.base, None,
                                                                                 load_in_4bit))
    elif (other := describe(ref)).kind == ADAPTER and _same_model(other.base, checkpoint.base):
        model.load_adapter(ref, adapter_name=REFERENCE)
        model.set_adapter(POLICY)
        reference = Reference("adapter", f"{quant} + adapter {ref}",
                              _reference_id("adapter", checkpoint.base, ref, load_in_4bit))
    else:
        reference = _separate_reference(ref, tokenizer, load_in_4bit, trust_remote_code)
    return Loaded(checkpoint, model, tokenizer, reference, load_in_4bit)


def _same_model(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and (a == b or Path(a).resolve() == Path(b).resolve())


def _reference_id(how: str, base: str, adapter: str | None, load_in_4bit: bool) -> str:
    from stackpref.training.model import compute_dtype, device_type

    parts = {"how": how, "base": fingerprint(base), "adapter": fingerprint(adapter) if adapter else None,
             "load_in_4bit": load_in_4bit, "dtype": str(compute_dtype()), "device": device_type()}
    return json.dumps(parts, sort_keys=True)


def _separate_reference(ref: str, tokenizer, load_in_4bit: bool, trust_remote_code: bool) -> Reference:
    """A reference that is not an adapter on the checkpoint's base: loaded as a model of its own."""
    described = describe(ref)
    if described.kind == REWARD:
        raise ConfigError(f"--ref {ref}: a reward model; the reference must be a causal LM or an adapter of one")
    if described.kind == ADAPTER:
        from peft import PeftModel

        model = PeftModel.from_pretrained(_load_causal(described.base, tokenizer, load_in_4bit, trust_remote_code),
                                          ref).eval()
        return Reference("model", f"base {described.base} + adapter {ref}",
                         _reference_id("model", described.base, ref, load_in_4bit), model)
    model = _load_causal(ref, tokenizer, load_in_4bit, trust_remote_code)
    return Reference("model", f"model {ref}", _reference_id("model", ref, None, load_in_4bit), model)


def _load_causal(name: str, tokenizer, load_in_4bit: bool, trust_remote_code: bool):
    """The base exactly as `stackpref train` loaded it (same 4-bit config, pad token, embedding size)."""
    from stackpref.training.model import load_base

    if load_in_4bit:
        require("eval", "bitsandbytes")
    model = load_base(name, tokenizer, load_in_4bit=load_in_4bit, trust_remote_code=trust_remote_code)
    model.config.use_cache = True  # load_base turns it off for training; generation wants it
    return model.eval()


def _load_reward_model(path: str, tokenizer, load_in_4bit: bool, trust_remote_code: bool):
    from stackpref.training.model import compute_dtype, device_type, quantization_config
    from transformers import AutoModelForSequenceClassification

    kwargs = {"dtype": compute_dtype(), "trust_remote_code": trust_remote_code}
    if load_in_4bit:
        require("eval", "bitsandbytes")
        kwargs["quantization_config"] = quantization_config()
    if device_type() == "cuda":
        kwargs["device_map"] = {"": 0}
    model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    if model.config.num_labels != 1:
        raise InputError(f"{path}: a classifier with {model.config.num_labels} labels; a reward model has one")
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id  # it finds each row's last token by the pad id
    return model.eval()

