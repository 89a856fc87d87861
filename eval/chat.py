"""The prompt/response format of eval's pairs: standard (text) or conversational (TRL's message lists),
which chat template renders message lists and where it came from, and the text views that judges,
breakdowns and generations.jsonl need. Tokenizing is scoring.py's (TRL's way); this module only
decides what the tokenizer renders with, so eval renders rows as training did."""

import json
from pathlib import Path

import polars as pl
import xxhash

from stackpref.errors import ConfigError, InputError, StackprefError
from stackpref.output.folder import MANIFEST, BuildFolder

STANDARD, CONVERSATIONAL = "standard", "conversational"


def data_format(frame: pl.DataFrame) -> str:
    """Conversational when the prompts are message lists, as TRL's `is_conversational` decides."""
    return CONVERSATIONAL if isinstance(frame.schema["prompt"], pl.List) else STANDARD


def is_chat(values: list) -> bool:
    """Whether a column's values (prompts or responses) are message lists."""
    return bool(values) and isinstance(values[0], list)


def response_text(response) -> str:
    """A response as text: itself, or the content of its (last, assistant) message."""
    return response[-1]["content"] if isinstance(response, list) else response


def prompt_text(prompt) -> str:
    """A prompt as an LLM judge reads it: itself, or its last user turn (the question, no system turn)."""
    if isinstance(prompt, str):
        return prompt
    return next(m["content"] for m in reversed(prompt) if m["role"] == "user")


def prompt_key(prompt) -> str:
    """A hashable key of a prompt, equal for equal prompts in either format (and after a JSON round trip)."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False, sort_keys=True)


def as_responses(prompts: list, texts: list[str]) -> list:
    """Generated or baseline texts in the prompts' format: one assistant turn each for message lists."""
    return [[{"role": "assistant", "content": t}] for t in texts] if is_chat(prompts) else list(texts)


def response_chars(frame: pl.DataFrame, column: str) -> pl.Series:
    """Characters of each response in `column`, counted on the assistant text for message lists."""
    values = frame[column]
    if isinstance(values.dtype, pl.List):
        values = values.list.last().struct.field("content")
    return values.str.len_chars()


def use_template(tokenizer, given: str | None, checkpoint, saved_with_checkpoint: bool) -> dict:
    """Set the chat template eval renders message lists with, training's unless --chat-template overrides
    it: the template of the tokenizer saved with the checkpoint (`train sft|dpo` save theirs, with the
    template they applied), else train_config.yaml's chat_template file, else the base tokenizer's.
    Returns where it came from, for the report."""
    trained = tokenizer.chat_template if saved_with_checkpoint else None
    recorded = checkpoint.train_config.get("chat_template")
    if given:
        tokenizer.chat_template, origin, source = _read(given, "--chat-template"), "option", f"--chat-template {given}"
    elif trained:
        origin, source = "checkpoint", f"the tokenizer saved in {checkpoint.path} (as training applied it)"
    elif recorded:
        tokenizer.chat_template = _read(recorded, "train_config.yaml chat_template")
        origin, source = "train_config", f"train_config.yaml chat_template {recorded}"
    else:
        origin, source = "base tokenizer", "the base model's tokenizer"
    if not tokenizer.chat_template:
        raise InputError(f"{checkpoint.path}: the pairs are conversational but its tokenizer has no chat template; "
                         "pass --chat-template FILE (the one training used)")
    return {"source": source, "from": origin, "xxh3": _digest(tokenizer.chat_template),
            "differs_from_training": bool(trained) and origin == "option" and trained != tokenizer.chat_template}


def _read(path: str, what: str) -> str:
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"{what} {path}: no such file (a Jinja chat template)")
    return file.read_text(encoding="utf-8")


def _digest(template) -> str:
    text = template if isinstance(template, str) else json.dumps(template, sort_keys=True)
    return xxhash.xxh3_64_hexdigest(text.encode("utf-8"))


def system_messages(frame: pl.DataFrame) -> dict:
    """The system turns the prompts carry: how many prompts have one, and the distinct texts (up to 3)."""
    first = frame["prompt"].list.first()
    texts = frame.select(pl.when(first.struct.field("role") == "system").then(first.struct.field("content"))
                         .alias("system"))["system"]
    distinct = texts.drop_nulls().unique(maintain_order=True).to_list()
    return {"prompts_with_one": texts.is_not_null().sum(), "of": frame.height, "distinct": len(distinct),
            "texts": distinct[:3]}


def trained_format(train_config: dict) -> dict:
    """The format and system message of the build the checkpoint was trained on (its manifest's config),
    or {} when unknown (a Hub repo, a moved build)."""
    data = train_config.get("data")
    try:
        folder = BuildFolder(data) if data else None
        built = folder.manifest["config"] if folder and folder.has(MANIFEST) else None
    except (OSError, StackprefError):
        built = None
    return {"format": built.get("format", STANDARD), "system_message": built.get("system_message")} if built else {}


def describe_format(frame: pl.DataFrame, given: str | None, train_config: dict) -> dict:
    """The report's prompt_format section before a template is chosen; refuses --chat-template on text pairs."""
    found = data_format(frame)
    if found == STANDARD and given:
        raise ConfigError(f"--chat-template {given}: the pairs are standard (text prompts); a chat template applies "
                          "to conversational (message-list) pairs")
    trained = trained_format(train_config)
    section = {"format": found, "trained_on": trained.get("format"), "chat_template": None}
    if found == CONVERSATIONAL:
        section["system_message"] = {**system_messages(frame), "trained_with": trained.get("system_message")}
    return section
