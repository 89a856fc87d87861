"""Lengths for the filter: tokens from a real tokenizer when one is given, characters otherwise.

Rows that are too long are dropped, never truncated: a cut answer teaches the model to stop
mid-sentence, and a cut prompt pairs an answer with a question it does not answer.
"""

import os

from .errors import ConfigError, MissingDependencyError

TOKENIZE_BATCH = 2048


class LengthMeter:
    """`measure(texts, prompt=...)` -> lengths. With a tokenizer, prompts count their special tokens
    (e.g. BOS) and responses do not; the filter adds one for the EOS the trainers append."""

    def __init__(self, tokenizer: str | None = None, trust_remote_code: bool = False):
        self.tokenizer = _load_tokenizer(tokenizer, trust_remote_code) if tokenizer else None
        self.unit = "tokens" if self.tokenizer is not None else "characters"
        self.eos_tokens = 1 if self.tokenizer is not None and self.tokenizer.eos_token else 0

    def measure(self, texts: list[str], prompt: bool) -> list[int]:
        """Lengths of `texts`; each distinct text is tokenized once, by the Rust batch encoder
        (every core), without transformers' per-text Python wrapping."""
        if self.tokenizer is None:
            return [len(t) for t in texts]
        distinct = list(dict.fromkeys(texts))
        backend = self.tokenizer.backend_tokenizer
        lengths: dict[str, int] = {}
        for start in range(0, len(distinct), TOKENIZE_BATCH):
            chunk = distinct[start : start + TOKENIZE_BATCH]
            for text, encoding in zip(chunk, backend.encode_batch(chunk, add_special_tokens=prompt)):
                lengths[text] = len(encoding.ids)
        return [lengths[t] for t in texts]


def _load_tokenizer(name: str, trust_remote_code: bool):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")  # the Rust batch encoder uses every core
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise MissingDependencyError("--tokenizer needs transformers: pip install 'stackpref'") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--tokenizer {name!r}: cannot load it ({str(exc).splitlines()[0]}); pass a local folder "
            "holding tokenizer.json / tokenizer_config.json, or a Hub name when online"
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"--tokenizer {name!r} has no fast (Rust) tokenizer; batched counting needs one")
    return tokenizer
