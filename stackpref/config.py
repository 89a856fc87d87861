"""The build's typed config: every option with its help text, validated with messages that carry
the value and the fix. Files are loaded strictly: an unknown key is an error, not a silent no-op."""

import dataclasses
import difflib
import json
import math
import os
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stackpref.errors import ConfigError
from stackpref.splits import QUESTION_SPLITS

DEFAULT_TEMPLATE = "Question: {question}\n\nAnswer: "
ENGINES = ("local", "ray")
NEAR_DUP_POLICIES = ("same-split", "keep-one")
BAD_INPUT_POLICIES = ("fail", "skip")
FORMATS = ("standard", "conversational")  # the output's; stackpref.schema.output_schemas has their schemas
MAX_SCORE_WINDOW = 3650  # days: ten years; Stack Exchange began in 2008, so a longer one leaves hardly any answer
PAIRINGS = ("score", "later-wins")
# Options that say how a build runs, not what it makes: the same output whatever their values.
RUN_OPTIONS = ("workers", "tmp_dir", "engine", "ray_address")
DEFAULT_SPLIT = {"sft": 0.4, "train": 0.5, "test": 0.1}


def _opt(default, help: str, **metadata):
    """A field with its help and what the command line needs beyond its type (see stackpref/options.py)."""
    return field(default=default, metadata={"help": help, **metadata})


def parse_split(text: str) -> dict[str, float]:
    """`sft=0.4,train=0.5,test=0.1` -> dict; the config validates names and sum."""
    fractions = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            fractions[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--split: {part!r} is not NAME=FRACTION (e.g. sft=0.4,train=0.5,test=0.1)") from None
        if not sep:
            raise ConfigError(f"--split: {part!r} is not NAME=FRACTION (e.g. sft=0.4,train=0.5,test=0.1)")
    return fractions


def _type_name(value) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a decimal number", str: "a string", list: "a list",
             tuple: "a list", dict: "a mapping", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _type_problem(value, annotation) -> str | None:
    """None when `value` fits the type `annotation`, else what was expected, in words. Types other
    than bool, int, float, str, their lists and mappings, and unions of them are not checked here."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        if value is None and type(None) in args:
            return None
        problems = [_type_problem(value, arg) for arg in args if arg is not type(None)]
        if None in problems:
            return None
        return " or ".join(problems) + (" or null" if type(None) in args else "")
    if annotation is bool:
        return None if isinstance(value, bool) else "true or false"
    if annotation is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if annotation is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if number and math.isfinite(value) else "a finite number"
    if annotation is str:
        return None if isinstance(value, (str, os.PathLike)) else "a string"
    origin = typing.get_origin(annotation)
    if origin in (list, tuple) and args:
        if isinstance(value, (list, tuple)) and all(_type_problem(v, args[0]) is None for v in value):
            return None
        return f"a list of {(_type_problem(object(), args[0]) or 'values').removeprefix('a ').removeprefix('an ')}s"
    if origin is dict and len(args) == 2:
        if isinstance(value, dict) and all(_type_problem(k, args[0]) is None and _type_problem(v, args[1]) is None
                                           for k, v in value.items()):
            return None
        return f"a mapping of {_type_problem(object(), args[0])} to {_type_problem(object(), args[1])}"
    return None


@dataclass
class BuildConfig:
    sources: list[str] = _opt(
        (), "Inputs: Posts.xml files, site .7z archives, folders of sites, Parquet/JSONL files in the "
        "stack-exchange-paired or -preferences layout (local paths or URIs such as s3://...), or Hub "
        "dataset ids. None: the bundled sample.",
    )
    site: list[str] = _opt(
        (), "PATH=HOST: the site host of the dump at PATH (a Posts.xml, its folder or a .7z), for a dump that "
        "does not say it (no links to its own questions, no host-named archive or folder). Repeatable.",
        metavar="PATH=HOST",
    )
    on_bad_input: str = _opt(
        "fail", "fail: a source that cannot be parsed stops the build; skip: leave it out (nothing from it is "
        "written; the manifest and card name it and why) and go on, failing only when nothing is left.",
        choices=BAD_INPUT_POLICIES,
    )
    out: str = _opt("stackpref-data", "Output folder, a local path or a URI (s3://...); written atomically.",
                    aliases=("-o",))
    prompt_template: str = _opt(DEFAULT_TEMPLATE, "Prompt template; must contain {question} (title + body).")
    token_boundary: bool = _opt(
        True,
        "Move the template's trailing whitespace from the prompt to the start of each response, so "
        "prompt and response meet on a token boundary.",
    )
    min_margin: int = _opt(1, "Least pm_score difference between chosen and rejected; ties never pair.")
    max_pairs_per_question: int = _opt(10, "Most pairs kept per question, picked with --seed.")
    pairing: str = _opt(
        "score", "score: the answer with the higher pm_score is chosen; later-wins (Stanford SHP's rule): also keep a "
        "pair only when chosen was posted strictly after rejected, since an early answer gathers votes by being seen "
        "first. later-wins drops pairs posted at the same moment and pairs without answer dates (a "
        "stack-exchange-paired table's ready-made pairs), each counted in the funnel.",
        choices=PAIRINGS,
    )
    min_score_ratio: float | None = _opt(
        None, "Keep a pair only when chosen's net score is at least R times rejected's, where both are positive "
        "(SHP uses 2); pairs where either is <= 0 or unknown (ready-made pairs) are kept. Default: off.",
        metavar="R",
    )
    balance_length: bool = _opt(
        False, "Keep, per site, a seeded subset of the pairs in which chosen is longer as often as it is shorter "
        "(pairs of equal length are all kept), so length does not predict the preference.", flag=True,
    )
    seed: int = _opt(42, "Seed for the split assignment and the pair sampling.")
    tokenizer: str | None = _opt(None, "Tokenizer (local path, or Hub name when online) for token lengths.")
    trust_remote_code: bool = _opt(False, "Allow the tokenizer's own code to run (off unless asked for).",
                                   flag=True)
    max_prompt_tokens: int = _opt(512, "Drop questions whose prompt is longer (tokens, with --tokenizer).")
    max_length: int = _opt(1024, "Drop responses whose prompt + response + EOS is longer (tokens).")
    max_prompt_chars: int = _opt(2048, "Prompt limit in characters when no tokenizer is given.")
    max_length_chars: int = _opt(4096, "Prompt + response limit in characters when no tokenizer is given.")
    format: str = _opt(
        "standard", "standard: prompt, chosen, rejected, completion as strings (the prompt template applied); "
        "conversational: TRL's conversational format, message lists (prompt: [system,] user; chosen, rejected, "
        "completion: assistant), lengths counted through the tokenizer's chat template as TRL applies it.",
        choices=FORMATS,
    )
    system_message: str | None = _opt(None, "conversational: a system turn put before every question.")
    chat_template: str | None = _opt(
        None, "conversational: a Jinja chat template file, for a --tokenizer that has none (e.g. Llama-2 base) or "
        "to replace its own; `train` uses the same one.")
    split: dict[str, float] = _opt(
        None, "Fractions of question clusters per split: sft (SFT train), train (pairs train), test "
        "(held out from both).",
        parse=parse_split, metavar="sft=F,train=F,test=F", shown_default=DEFAULT_SPLIT,
    )
    near_dup: bool = _opt(True, "Cluster near-duplicate questions (MinHash + LSH, verified by true Jaccard).")
    near_dup_threshold: float = _opt(0.9, "Shingle Jaccard at or above which two questions (or two answers "
                                     "of one question) are near-duplicates, whatever their length.")
    near_dup_max_changed: int = _opt(
        60, "Shingles in one text and not the other at or below which two texts are near-duplicates (60: about "
        "two edited words; catches reposts of short questions), at a Jaccard of at least 0.6.")
    duplicate_links: bool = _opt(
        True, "Join the clusters of questions that the site's PostLinks.xml marks as duplicates (beside "
        "Posts.xml or in the .7z), whatever their text.",
    )
    score_window: int | None = _opt(
        None, "Score each answer by the up minus down votes it got in its first DAYS days (the site's Votes.xml, "
        "beside Posts.xml or in the .7z, is then required), so early and late answers compete over equal time; "
        f"answers younger than DAYS when the dump was made are dropped and counted. 1 to {MAX_SCORE_WINDOW}. "
        "Default: the dump's net Score.", metavar="DAYS",
    )
    near_dup_policy: str = _opt(
        "same-split", "same-split: keep every question of a cluster, all in one split (their answers differ); "
        "keep-one: keep only the question with the most answers, drop the rest.",
        choices=NEAR_DUP_POLICIES,
    )
    near_dup_ngram: int = _opt(5, "Characters per shingle.")
    near_dup_bands: int = _opt(32, "LSH bands; bands x rows one-permutation MinHash bins.")
    near_dup_rows: int = _opt(4, "Rows (bins) per LSH band.")
    workers: int = _opt(0, "Worker processes; 0: one per core. Does not change the output.", aliases=("-j",))
    tmp_dir: str | None = _opt(None, "Folder for spill files (default: beside the output), a local path or a "
                               "URI (s3://...). Needs about twice the input's text size free; on a Ray cluster "
                               "it must be storage every node reaches.")
    engine: str = _opt("local", "local: worker processes on this machine; ray: tasks on a Ray cluster (the "
                       "[ray] extra). Does not change the output.", choices=ENGINES)
    ray_address: str | None = _opt(None, "Ray cluster to run on (`auto`, or ray://HOST:PORT); default: start a "
                                   "Ray instance on this machine. Only with --engine ray.")

    def __post_init__(self) -> None:
        if self.split is None:
            self.split = dict(DEFAULT_SPLIT)
        self.check_types()  # before the lists below are made of strings (a string would become its letters)
        self.sources = [str(s) for s in self.sources]
        self.site = [str(s) for s in self.site]
        self.validate()

    def check_types(self) -> None:
        """Each value of the type its field declares, as a config file may give any: booleans are
        booleans (a quoted "false" is a string, not false), integers integers (not 2.5, not true),
        numbers finite numbers; one line naming the key, the value and the type expected."""
        for name, annotation in typing.get_type_hints(type(self)).items():
            value = getattr(self, name)
            expected = _type_problem(value, annotation)
            if expected:
                hint = "; write it unquoted" if annotation is bool and isinstance(value, str) else ""
                raise ConfigError(f"{name}: expected {expected}; got {value!r} ({_type_name(value)}){hint}")

    def validate(self) -> None:
        self.check_types()
        if "{question}" not in self.prompt_template:
            raise ConfigError(f"prompt_template must contain {{question}}; got {self.prompt_template!r}")
        if self.min_margin < 1:
            raise ConfigError(f"min_margin must be >= 1 (ties never pair); got {self.min_margin}")
        if self.max_pairs_per_question < 1:
            raise ConfigError(f"max_pairs_per_question must be >= 1; got {self.max_pairs_per_question}")
        if self.pairing not in PAIRINGS:
            raise ConfigError(f"pairing must be {' or '.join(PAIRINGS)}; got {self.pairing!r}")
        if self.min_score_ratio is not None and self.min_score_ratio <= 0:
            raise ConfigError(f"min_score_ratio must be > 0 (SHP uses 2), or unset to turn it off; got {self.min_score_ratio}")
        for name in ("max_prompt_tokens", "max_length", "max_prompt_chars", "max_length_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.max_length <= self.max_prompt_tokens:
            raise ConfigError(
                f"max_length ({self.max_length}) must exceed max_prompt_tokens ({self.max_prompt_tokens}) "
                "to leave room for a response"
            )
        unknown = set(self.split) - set(QUESTION_SPLITS)
        if unknown or set(self.split) != set(QUESTION_SPLITS):
            raise ConfigError(
                f"split must name exactly {', '.join(QUESTION_SPLITS)}; got {', '.join(self.split) or 'nothing'}"
            )
        if self.score_window is not None and not 1 <= self.score_window <= MAX_SCORE_WINDOW:
            raise ConfigError(f"score_window must be 1 to {MAX_SCORE_WINDOW} days (a whole day at least; at most ten "
                              f"years, since Stack Exchange began in 2008); got {self.score_window}")
        if self.near_dup_policy not in NEAR_DUP_POLICIES:
            raise ConfigError(f"near_dup_policy must be {' or '.join(NEAR_DUP_POLICIES)}; got {self.near_dup_policy!r}")
        if self.on_bad_input not in BAD_INPUT_POLICIES:
            raise ConfigError(f"on_bad_input must be {' or '.join(BAD_INPUT_POLICIES)}; got {self.on_bad_input!r}")
        for entry in self.site:
            path, sep, host = entry.rpartition("=")
            if not sep or not path or not host:
                raise ConfigError(f"site: {entry!r} is not PATH=HOST (e.g. dumps/genai-2023=genai.stackexchange.com)")
        self.check_format()
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {self.engine!r}")
        if self.ray_address and self.engine != "ray":
            raise ConfigError(f"ray_address ({self.ray_address}) is only used with engine ray; pass --engine ray")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0 (0: one per core); got {self.workers}")
        self.minhash_params()  # validates the MinHash numbers
        if any(v < 0 for v in self.split.values()) or abs(sum(self.split.values()) - 1) > 1e-6:
            raise ConfigError(f"split fractions must be >= 0 and sum to 1; got {self.split} (sum {sum(self.split.values()):g})")

    def check_format(self) -> None:
        """The chat options need the conversational format, whose prompt is the question itself."""
        if self.format not in FORMATS:
            raise ConfigError(f"format must be {' or '.join(FORMATS)}; got {self.format!r}")
        if self.format == "standard" and (self.system_message is not None or self.chat_template):
            raise ConfigError("system_message and chat_template apply to conversational output: pass "
                              "--format conversational")
        if self.format == "conversational" and self.prompt_template != DEFAULT_TEMPLATE:
            raise ConfigError("prompt_template applies to standard output; with --format conversational the "
                              "user turn is the question and the chat template formats it")
        if self.chat_template and not Path(self.chat_template).expanduser().is_file():
            raise ConfigError(f"chat_template {self.chat_template!r}: no such file (a Jinja chat template)")

    def minhash_params(self):
        from stackpref.steps.near_dup import MinHashParams

        return MinHashParams(ngram=self.near_dup_ngram, bands=self.near_dup_bands, rows=self.near_dup_rows,
                             threshold=self.near_dup_threshold, max_changed=self.near_dup_max_changed)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(BuildConfig)}


def field_help(name: str) -> str:
    return FIELDS[name].metadata["help"]


# A config file is a few hundred bytes; a bigger one is refused before it is read (`--config
# /dev/zero`, or a huge file, would otherwise be read whole into memory).
MAX_CONFIG_BYTES = 1 << 20
# Options that name local paths: given in a config file, a relative one is taken from the file's folder.
PATH_OPTIONS = ("sources", "out", "tmp_dir", "tokenizer", "chat_template")


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a 1 KB "billion laughs" of nested aliases expands to GBs, and
    a build config has no use for them."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            kind = f"alias *{event.anchor}" if isinstance(event, yaml.AliasEvent) else f"anchor &{event.anchor}"
            raise yaml.composer.ComposerError(None, None, f"YAML {kind} is not allowed in a config (write each "
                                              "value out)", event.start_mark)
        return super().compose_node(parent, index)


def _read_config_text(path: Path) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file; a config must be a YAML or JSON file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {info.st_size:,} bytes, over the {MAX_CONFIG_BYTES:,}-byte limit for a config "
                              "file (a config is a few options)")
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: over the {MAX_CONFIG_BYTES:,}-byte limit for a config file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _from_folder(folder: Path, value: str, keep_unless_found: bool = False) -> str:
    """A relative local path from a config file, taken from the file's folder; URIs and absolute
    paths as given. `keep_unless_found`: a value that may name something else (a Hub id, a Hub
    tokenizer name) is taken from the folder only when it is there."""
    if not isinstance(value, str) or not value or "://" in value or Path(value).expanduser().is_absolute():
        return value
    joined = folder / value
    if keep_unless_found and not joined.exists():
        return value
    return str(joined)


def _paths_from_folder(data: dict, folder: Path) -> dict:
    data = dict(data)
    if isinstance(data.get("sources"), (list, tuple)):
        data["sources"] = [_from_folder(folder, s, keep_unless_found=True) for s in data["sources"]]
    for name in ("out", "tmp_dir", "chat_template"):
        if name in data:
            data[name] = _from_folder(folder, data[name])
    if "tokenizer" in data:
        data["tokenizer"] = _from_folder(folder, data["tokenizer"], keep_unless_found=True)
    if isinstance(data.get("site"), (list, tuple)):
        data["site"] = site_paths(data["site"], lambda place: _from_folder(folder, place, keep_unless_found=True))
    return data


def site_paths(entries: list, change) -> list:
    """`--site PATH=HOST` entries with `change` applied to each PATH (anything else kept as it is)."""
    changed = []
    for entry in entries:
        place, sep, host = entry.rpartition("=") if isinstance(entry, str) else ("", "", entry)
        changed.append(f"{change(place)}={host}" if sep and place else entry)
    return changed


def load_config_file(path: str | Path) -> dict:
    """Options from a YAML build config, or the `config` of a build's manifest.json (to reproduce it).
    A config file's relative paths (PATH_OPTIONS, --site PATHs) are taken from its folder; a
    manifest's are kept as the build was given them."""
    path = Path(path)
    text = _read_config_text(path)
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_NoAliasLoader)
    except (yaml.YAMLError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({exc})".replace("\n", " ")) from None
    manifest = isinstance(data, dict) and "config" in data and "counts" in data
    if manifest:
        data = data["config"]
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of option: value, got {type(data).__name__}")
    reject_unknown_keys(path, data, FIELDS)
    return data if manifest else _paths_from_folder(data, path.resolve().parent)


def reject_unknown_keys(where: str | Path, data: dict, known) -> None:
    """A misspelt key is an error naming the closest known one, never a silently ignored option."""
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{where}: unknown config key {key!r}{hint}")


def resolve_config(file: str | Path | None = None, **overrides) -> BuildConfig:
    """File values, then every override that is not None (command-line flags win)."""
    values = load_config_file(file) if file else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return BuildConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"bad config value: {exc}") from None
