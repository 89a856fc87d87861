"""The dataset card (README.md of a build): Hub YAML metadata plus text for people, rendered from
the manifest through the template in data_cards/, so every number in it comes from the counts."""

import hashlib
import json
import os
import re
from importlib import resources
from pathlib import PurePath

import jinja2
import yaml

from stackpref.config import RUN_OPTIONS, field_help
from stackpref.output import storage
from stackpref.output.bias import MEANINGS
from stackpref.schema import hub_features, output_schemas
from stackpref.splits import CONFIGS, FILE_SPLITS

# Options that hold local paths: the card shows them by name, so it says nothing about the
# machine it was built on and the same build renders the same card anywhere.
_PATH_OPTIONS = ("sources", "out", "tokenizer", "chat_template")


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for `n` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return label
    return "100M<n<1B"


# The language of a site's text, by the first label of its host (`es.stackoverflow.com`,
# `french.meta.stackexchange.com`); every other site is English. Why each:
_LOCALIZED_STACK_OVERFLOW = {  # Stack Overflow in another language: questions and answers in it
    "es": "es", "ru": "ru", "pt": "pt", "ja": "ja",
}
_LANGUAGE_SITES = {  # a site about a language: written in that language, with English beside it
    "french": "fr", "german": "de", "spanish": "es", "russian": "ru", "japanese": "ja", "portuguese": "pt",
    "italian": "it", "chinese": "zh", "korean": "ko", "ukrainian": "uk", "esperanto": "eo", "latin": "la",
}
_OWN_LANGUAGE_SITES = {"rus": "ru"}  # rus.stackexchange.com: the Russian language, asked about in Russian


def site_languages(site: str) -> list[str]:
    """The ISO 639-1 codes of a site's text, from its host (see the tables above); ["en"] by default."""
    host = str(site).lower().strip().rstrip(".")
    first = host.split(".", 1)[0]
    if host.endswith("stackoverflow.com") and first in _LOCALIZED_STACK_OVERFLOW:
        return [_LOCALIZED_STACK_OVERFLOW[first]]
    if host.endswith("stackexchange.com") and first in _OWN_LANGUAGE_SITES:
        return [_OWN_LANGUAGE_SITES[first]]
    if host.endswith("stackexchange.com") and first in _LANGUAGE_SITES:
        return [_LANGUAGE_SITES[first], "en"]
    return ["en"]


def languages(record: dict) -> list[str]:
    """The card's `language`: every language of the build's sites (those read and those with rows), sorted."""
    sites = set(record["counts"]["sites"]) | {info["site"] for info in record["inputs"] if info.get("site")}
    return sorted({code for site in sites for code in site_languages(site)}) or ["en"]


def split_rows(record: dict) -> dict[str, dict[str, int]]:
    """`{config: {file split: rows}}` of the splits that have rows: what the card declares (datasets
    cannot load a 0-row Parquet file, so a split with none has no files and no entry)."""
    files = record["files"]
    held = {name: {split: sum(f["rows"] for f in files[f"{name}/{split}"]) for split in FILE_SPLITS[name]}
            for name in CONFIGS}
    return {name: {split: n for split, n in splits.items() if n} for name, splits in held.items()
            if any(splits.values())}


def empty_splits(record: dict) -> list[str]:
    """`config/split` of every file split with no rows, left out of the card's configs."""
    declared = split_rows(record)
    return [f"{name}/{split}" for name in CONFIGS for split in FILE_SPLITS[name] if split not in declared.get(name, {})]


def metadata(record: dict) -> dict:
    """Hub YAML: licence, language, task, size, configs (data_files per split), dataset_info. Only
    the splits with rows are declared, and only the configs with any (pairs the default, else sft)."""
    files = record["files"]
    declared = split_rows(record)
    configs, infos = [], []
    for name in ("pairs", "sft"):
        if name not in declared:
            continue
        configs.append({
            "config_name": name,
            "data_files": [{"split": split, "path": f"data/{name}/{split}-*.parquet"} for split in declared[name]],
            **({"default": True} if not configs else {}),
        })
        infos.append({
            "config_name": name,
            "features": hub_features(output_schemas(record["config"].get("format"))[name]),
            "splits": [
                {"name": split, "num_bytes": sum(f["bytes"] for f in files[f"{name}/{split}"]), "num_examples": n}
                for split, n in declared[name].items()
            ],
        })
    total = sum(n for splits in declared.values() for n in splits.values())
    return {
        "license": "cc-by-sa-4.0",
        "language": languages(record),
        "task_categories": ["text-generation"],
        "tags": ["stack-exchange", "preference", "dpo", "sft", "stackpref"],
        "size_categories": [size_category(total)],
        "pretty_name": "Stack Exchange preference pairs (" + ", ".join(sorted(record["counts"]["sites"])[:4])
        + (", ..." if len(record["counts"]["sites"]) > 4 else "") + ")",
        "configs": configs,
        "dataset_info": infos,
    }


def _by_name(location: str) -> str:
    """A local path or a URI by its name; anything else (a Hub id, a relative name) as given."""
    if storage.is_uri(location):
        return storage.name(location)
    path = PurePath(location)
    return path.name if path.is_absolute() or location.startswith(".") else location


def input_name(info: dict) -> str:
    """How the card names an input: `site-folder/Posts.xml` (the folder names the site), a file by
    its name, a Hub dataset by its id."""
    if info["kind"] == "hub":
        return info["location"]
    path = PurePath(info["location"])
    return f"{path.parent.name}/{path.name}" if info["kind"] == "posts_xml" else path.name


def skipped_sources(record: dict) -> list[dict]:
    """The inputs --on-bad-input skip left out, named as the card names inputs, each reason with
    the input's full location shortened to that name (so the card says nothing about the machine)
    and fit for a code span."""
    shown = []
    for info in record.get("skipped_sources", []):
        name, reason = input_name(info), info["reason"].replace(info["location"], input_name(info))
        if info["kind"] == "posts_xml" and not storage.is_uri(info["location"]):  # a file beside it (PostLinks.xml)
            folder = PurePath(info["location"]).parent
            for path in {str(folder), os.path.abspath(folder)} - {"", "."}:
                reason = reason.replace(path + os.sep, folder.name + "/")
        shown.append({**info, "name": name, "reason": reason.replace("`", "'")})
    return shown


def options(config: dict) -> list[dict]:
    """Every option that shapes the data, with its value (as a config file would hold it) and what
    it does; how the build ran (RUN_OPTIONS) is left to the manifest, so the card of a build does
    not depend on the machine or the engine that made it."""
    rows = []
    for name, value in config.items():
        if name in RUN_OPTIONS:
            continue
        if name in _PATH_OPTIONS and value is not None:
            value = [_by_name(v) for v in value] if isinstance(value, list) else _by_name(value)
        shown = json.dumps(value, ensure_ascii=False).replace("|", "\\|")
        rows.append({"name": name, "value": shown, "help": field_help(name).replace("|", "\\|")})
    return rows


# Where the card's usage examples name the dataset: left in the build's own README (its folder or
# repo is not known yet); `stackpref push` fills in the repo id in the README it uploads.
PLACEHOLDER = "REPO_ID_OR_PATH"
_NAMED = re.compile(r'stackpref\.load\("([^"\n]+)"\)')


def fill_repo_id(text: str, repo_id: str) -> str:
    """The card `text` with the repo id in its usage examples, as push uploads it."""
    return text.replace(PLACEHOLDER, repo_id)


def seal(record: dict) -> str:
    """The card of `record`, its sha256 recorded in it (`card_sha256`, which the card itself does not
    show), so that a later stackpref, whose template differs, can still tell the card is as built."""
    text = render(record)
    record["card_sha256"] = digest(text)
    return text


def digest(text: str, repo_id: str | None = None) -> str:
    """sha256 of a card's text, with a pushed card's repo id put back to the placeholder."""
    unfilled = text.replace(repo_id, PLACEHOLDER) if repo_id else text
    return hashlib.sha256(unfilled.encode("utf-8")).hexdigest()


def named_repo(text: str) -> str | None:
    """The repo id a pushed card's examples name (None for a build's own card, or none found)."""
    found = _NAMED.search(text)
    return found.group(1) if found and found.group(1) != PLACEHOLDER else None


def bias_value(value: float | None, name: str) -> str:
    """A bias diagnostic as the card shows it: shares in percent, gaps as numbers, `-` when undefined."""
    if value is None:
        return "-"
    return f"{value:.1%}" if name.startswith("chosen_") else f"{value:g}"


def render(record: dict) -> str:
    template_text = (resources.files("stackpref.data_cards") / "dataset_card.md.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["bias_value"] = bias_value
    bias = record["counts"]["pair_bias"]
    header = yaml.safe_dump(metadata(record), sort_keys=False, allow_unicode=True)
    return env.from_string(template_text).render(
        yaml_header=header, m=record, options=options(record["config"]),
        tokenizer=_by_name(record["config"]["tokenizer"]) if record["config"]["tokenizer"] else None,
        inputs=[{**info, "name": input_name(info)} for info in record["inputs"]],
        skipped=skipped_sources(record), empty=empty_splits(record), bias_meanings=MEANINGS,
        bias_rows=[("all", bias["all"]), *bias["sites"].items()],
    )
