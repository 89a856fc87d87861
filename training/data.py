"""The training side of the output contract: the `sft` and `pairs` splits of a build, reduced to the
columns TRL reads, and held to a token budget by dropping (never cutting) what does not fit."""

import logging

from stackpref.errors import InputError
from stackpref.output.folder import MANIFEST, BuildFolder

log = logging.getLogger("stackpref.training")

COLUMNS = {"sft": ("prompt", "completion"), "pairs": ("prompt", "chosen", "rejected")}


def load_split(data: str, config: str, split: str, limit: int | None = None):
    """One split of a build folder (local or at a URI) or Hub repo, with only the columns TRL trains on."""
    import stackpref

    dataset = stackpref.load(data, config=config)
    if split not in dataset:
        raise InputError(f"{data}: the {config} config has no {split!r} split (it has {', '.join(dataset)})")
    rows = dataset[split]
    missing = [c for c in COLUMNS[config] if c not in rows.column_names]
    if missing:
        raise InputError(f"{data}: {config}/{split} lacks the column(s) {', '.join(missing)}")
    rows = rows.select_columns(list(COLUMNS[config]))
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    if len(rows) == 0:
        raise InputError(f"{data}: {config}/{split} is empty; build from more data or change the split")
    return rows


def _manifest(data: str) -> dict:
    """The manifest of a build folder (local or at a URI); {} for a Hub repo."""
    folder = BuildFolder(data)
    return folder.manifest if folder.has(MANIFEST) else {}


def build_option(data: str, name: str):
    """An option the build ran with, e.g. max_length (the token budget it filtered with); None for a Hub repo."""
    return _manifest(data).get("config", {}).get(name)


def built_chat_template(data: str) -> str | None:
    """The chat template a conversational build counted its lengths with (its manifest keeps it whole),
    or None (a standard build, a build by characters, a Hub repo)."""
    return (_manifest(data).get("chat_template") or {}).get("text")


def conversational(rows) -> bool:
    """Whether rows are in TRL's conversational format (message lists: `build --format conversational`)."""
    return isinstance(rows[0]["prompt"], list)


def token_lengths(rows, tokenizer, responses: tuple[str, ...]) -> list[int]:
    """Tokens of prompt + the longest response, tokenized the way TRL will: prompt, response and EOS as
    one string, or (conversational) the chat template applied to the prompt and response turns."""
    longest, chats = [0] * len(rows), conversational(rows)
    for column in responses:
        if chats:
            turns = [p + r for p, r in zip(rows["prompt"], rows[column])]
            encoded = tokenizer.apply_chat_template(turns, tokenize=True, return_dict=True)["input_ids"]
        else:
            texts = [p + r + tokenizer.eos_token for p, r in zip(rows["prompt"], rows[column])]
            encoded = tokenizer(texts, add_special_tokens=True)["input_ids"]
        longest = [max(a, len(b)) for a, b in zip(longest, encoded)]
    return longest


def drop_over_length(rows, tokenizer, max_length: int, what: str):
    """Rows whose tokens fit `max_length`, and how many did not; the count is logged, not hidden."""
    responses = tuple(c for c in rows.column_names if c != "prompt")
    lengths = token_lengths(rows, tokenizer, responses)
    keep = [i for i, n in enumerate(lengths) if n <= max_length]
    dropped = len(rows) - len(keep)
    if dropped:
        log.warning("%s: %d of %d rows are longer than max_length %d tokens with this tokenizer; they are "
                    "dropped rather than truncated (build with --tokenizer of this model to filter them there)",
                    what, dropped, len(rows), max_length)
        rows = rows.select(keep)
    return rows, dropped
