"""Lengths for the filter: tokens from a real tokenizer when one is given, characters otherwise.

Rows that are too long are dropped, never truncated: a cut answer teaches the model to stop
mid-sentence, and a cut prompt pairs an answer with a question it does not answer.
"""

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from stackpref.errors import ConfigError, MissingDependencyError

TOKENIZE_BATCH = 2048


@dataclass(frozen=True)
class ChatFormat:
    """The chat template as TRL applies it to a conversational row: the prompt rendered with the
    generation prompt, prompt + response without, each encoded without special tokens (the template
    writes them), special tokens' strings (bos_token, eos_token, ...) passed to the template as
    transformers passes them.

    Rendering goes through transformers' own `render_jinja_template` (its sandboxed jinja2
    environment, filters and `{% generation %}` tag), not a copy of it: a copy that drifts by one
    whitespace rule would count other tokens than the trainer sees. Importing it takes about 0.6 s
    per worker process and no torch (benchmarks/README.md has the cost of a build)."""

    template: str
    special_tokens: tuple[tuple[str, str], ...]
    system_message: str | None = None

    def prompt(self, question: str) -> list[dict]:
        system = [] if self.system_message is None else [{"role": "system", "content": self.system_message}]
        return [*system, {"role": "user", "content": question}]

    def render(self, messages: list[dict], add_generation_prompt: bool) -> str:
        from transformers.utils.chat_template_utils import render_jinja_template

        rendered, _ = render_jinja_template(conversations=[messages], chat_template=self.template,
                                            add_generation_prompt=add_generation_prompt,
                                            **dict(self.special_tokens))
        return rendered[0]


class LengthMeter:
    """`measure(texts, prompt=...)` and `measure_responses(prompts, responses, prompt_lengths)` -> lengths. With a
    tokenizer, prompts count their special tokens (e.g. BOS) and responses do not; the filter adds
    `eos_tokens` for the EOS the trainers append to a standard row. With a `ChatFormat`
    (conversational), a prompt is the question rendered as TRL renders it, and a response counts the
    tokens prompt + response adds to the prompt: their sum is exactly TRL's sequence, EOS included.

    Only the main process loads the tokenizer through transformers (`LengthMeter.load`); workers get
    `spec()`, the backend's serialized form as transformers configured it, and rebuild it with
    `tokenizers` alone (`from_spec`): the same counts, without importing transformers (and with it
    torch, when installed) in every process; a chat format imports only transformers' template
    renderer (no torch).
    """

    def __init__(self, backend=None, eos_tokens: int = 0, chat: ChatFormat | None = None):
        if backend is not None:  # a tokenizer.json saved with either set would cap or inflate the counts
            backend.no_truncation()
            backend.no_padding()
        self.backend = backend
        self.eos_tokens = eos_tokens
        self.chat = chat
        self.unit = "tokens" if backend is not None else "characters"

    @classmethod
    def load(cls, tokenizer: str | None, trust_remote_code: bool = False) -> "LengthMeter":
        if not tokenizer:
            return cls()
        loaded = _load_tokenizer(tokenizer, trust_remote_code)
        return cls(loaded.backend_tokenizer, 1 if loaded.eos_token else 0)

    @classmethod
    def for_build(cls, config) -> "LengthMeter":
        """The meter of a build (`BuildConfig`): `load`, with the chat template for conversational output."""
        if config.format != "conversational" or not config.tokenizer:
            return cls.load(config.tokenizer, config.trust_remote_code)
        loaded = _load_tokenizer(config.tokenizer, config.trust_remote_code)
        template = (Path(config.chat_template).expanduser().read_text(encoding="utf-8") if config.chat_template
                    else loaded.chat_template)
        if not isinstance(template, str) or not template:
            raise ConfigError(f"--tokenizer {config.tokenizer!r} has no chat template (a base model's tokenizer?), so "
                              "conversational lengths cannot be counted as TRL will: pass --chat-template FILE, or "
                              "build with --format standard")
        chat = ChatFormat(template, tuple(sorted(loaded.special_tokens_map.items())), config.system_message)
        return cls(loaded.backend_tokenizer, 0, chat)

    def spec(self) -> tuple | None:
        """What a worker needs to count the same tokens: (backend JSON, EOS tokens, chat format), or None."""
        return None if self.backend is None else (self.backend.to_str(), self.eos_tokens, self.chat)

    @classmethod
    def from_spec(cls, spec: tuple | None) -> "LengthMeter":
        if spec is None:
            return cls()
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(spec[0]), *spec[1:])

    def measure(self, texts: list[str], prompt: bool) -> list[int]:
        """Lengths of `texts` (with a chat format, prompts are questions: rendered, then counted)."""
        if self.chat is not None and prompt:
            rendered = {q: self.chat.render(self.chat.prompt(q), add_generation_prompt=True) for q in dict.fromkeys(texts)}
            return self._count([rendered[q] for q in texts], special=False)
        return self._count(texts, special=prompt)

    def measure_responses(self, prompts: list[str], responses: list[str], prompt_lengths: list[int]) -> list[int]:
        """Chat format: lengths of `responses` as what each assistant turn adds to its rendered prompt (of
        `prompt_lengths`, from `measure`)."""
        whole = [self.chat.render([*self.chat.prompt(p), {"role": "assistant", "content": r}], add_generation_prompt=False)
                 for p, r in zip(prompts, responses)]
        return [n - m for n, m in zip(self._count(whole, special=False), prompt_lengths)]

    def _count(self, texts: list[str], special: bool) -> list[int]:
        """Each distinct text tokenized once, by the Rust batch encoder (on every core, unless a worker
        pool already uses them: see engines/local.py), without transformers' per-text Python wrapping."""
        if self.backend is None:
            return [len(t) for t in texts]
        distinct = list(dict.fromkeys(texts))
        lengths: dict[str, int] = {}
        for start in range(0, len(distinct), TOKENIZE_BATCH):
            chunk = distinct[start : start + TOKENIZE_BATCH]
            for text, encoding in zip(chunk, self.backend.encode_batch(chunk, add_special_tokens=special)):
                lengths[text] = len(encoding.ids)
        return [lengths[t] for t in texts]


def check_tokenizer_name(name: str | None) -> None:
    """Fail at once on a tokenizer path that does not exist (the tokenizer itself loads beside the
    first passes); a bare name is a Hub id, checked when it loads."""
    looks_local = name and (name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).expanduser().exists())
    if looks_local and not Path(name).expanduser().is_dir():
        raise ConfigError(f"--tokenizer {name!r}: no such folder (it should hold tokenizer.json or "
                          "tokenizer_config.json)")
    if name and not looks_local:
        _check_hub_name(name)


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_PROBE_SECONDS = 3.0


def _cached(name: str) -> bool:
    """Whether the local Hugging Face cache holds a tokenizer file of Hub repo `name`."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return any(isinstance(try_to_load_from_cache(name, file), str) for file in _TOKENIZER_FILES)
    except Exception:  # noqa: BLE001 (a malformed name or an old huggingface_hub: the load will say)
        return False


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"


def _reachable(endpoint: str, timeout: float = _PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the Hub's host opens within `timeout` seconds (name lookup
    included: it runs in a thread, so a resolver that hangs cannot hold the build)."""
    url = urlsplit(endpoint)
    if not url.hostname:
        return False
    port = url.port or (80 if url.scheme == "http" else 443)
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((url.hostname, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def _check_hub_name(name: str) -> None:
    """A Hub tokenizer that is not in the local cache needs the network: fail at once, in one line,
    when there is none (instead of a minute of retries in transformers)."""
    if _cached(name):
        return
    if _offline():
        raise ConfigError(f"--tokenizer {name!r}: not found in the local Hugging Face cache, and HF_HUB_OFFLINE "
                          "is set; download it once online, or pass a local folder holding tokenizer.json")
    endpoint = _endpoint()
    if not _reachable(endpoint):
        raise ConfigError(f"--tokenizer {name!r}: not found in the local Hugging Face cache, and {endpoint} "
                          "cannot be reached (no network?); download it once online, or pass a local folder "
                          "holding tokenizer.json")


def _load_tokenizer(name: str, trust_remote_code: bool):
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise MissingDependencyError("--tokenizer needs transformers: pip install 'stackpref'") from None
    try:
        try:  # the local cache first: no request at all when it is there
            tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code, local_files_only=True)
        except (OSError, ValueError):
            if _offline() or Path(name).expanduser().is_dir():
                raise
            tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--tokenizer {name!r}: cannot load it ({str(exc).splitlines()[0]}); pass a local folder "
            "holding tokenizer.json / tokenizer_config.json, or a Hub name when online"
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"--tokenizer {name!r} has no fast (Rust) tokenizer; batched counting needs one")
    return tokenizer
