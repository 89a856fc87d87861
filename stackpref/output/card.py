"""The dataset card (README.md of a build): Hub YAML metadata plus text for people, rendered from
the manifest through the template in data_cards/, so every number in it comes from the counts."""

import json
import os
from importlib import resources
from pathlib import PurePath

import jinja2
import yaml

from stackpref.config import RUN_OPTIONS, field_help
from stackpref.output import storage
from stackpref.schema import OUTPUT_SCHEMAS

# Options that hold local paths: the card shows them by name, so it says nothing about the
# machine it was built on and the same build renders the same card anywhere.
_PATH_OPTIONS = ("sources", "out", "tokenizer")

_HF_DTYPES = {"string": "string", "int64": "int64", "bool": "bool", "int8": "int8"}


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for `n` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return label
    return "100M<n<1B"


def metadata(record: dict) -> dict:
    """Hub YAML: licence, language, task, size, configs (data_files per split), dataset_info."""
    splits = record["counts"]["splits"]
    files = record["files"]
    configs, infos = [], []
    for name in ("pairs", "sft"):
        configs.append({
            "config_name": name,
            "data_files": [{"split": split, "path": f"data/{name}/{split}-*.parquet"} for split in ("train", "test")],
            **({"default": True} if name == "pairs" else {}),
        })
        infos.append({
            "config_name": name,
            "features": [{"name": f.name, "dtype": _HF_DTYPES[str(f.type)]} for f in OUTPUT_SCHEMAS[name]],
            "splits": [
                {"name": split, "num_bytes": sum(f["bytes"] for f in files[f"{name}/{split}"]),
                 "num_examples": splits[name][split]}
                for split in ("train", "test")
            ],
        })
    total = sum(splits["pairs"].values()) + sum(splits["sft"].values())
    return {
        "license": "cc-by-sa-4.0",
        "language": ["en"],
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


def render(record: dict) -> str:
    template_text = (resources.files("stackpref.data_cards") / "dataset_card.md.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                             lstrip_blocks=True)
    header = yaml.safe_dump(metadata(record), sort_keys=False, allow_unicode=True)
    return env.from_string(template_text).render(
        yaml_header=header, m=record, options=options(record["config"]),
        tokenizer=_by_name(record["config"]["tokenizer"]) if record["config"]["tokenizer"] else None,
        inputs=[{**info, "name": input_name(info)} for info in record["inputs"]],
        skipped=skipped_sources(record),
    )
