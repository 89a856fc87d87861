"""Is a build folder what the output contract promises? Checked before a build is published, from
its files rather than its own claims (Parquet footers and schemas, the key columns, the card's
YAML), so a broken or edited build is refused with the reason before anything leaves the machine."""

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from stackpref.errors import BuildInvalidError, ConfigError
from stackpref.output.leakage import overlap_check
from stackpref.schema import OUTPUT_SCHEMAS

CARD = "README.md"
MANIFEST = "manifest.json"
SPLITS = ("train", "test")
# The question split a file's rows belong to: train pairs, SFT rows, or held out.
_FILE_SPLIT = {"pairs/train": "train", "pairs/test": "test", "sft/train": "sft", "sft/test": "test"}
# What the Hub reads from a dataset card's YAML; stackpref's card always has them.
_CARD_KEYS = ("license", "language", "task_categories", "size_categories", "pretty_name", "configs", "dataset_info")


@dataclass(frozen=True)
class BuildFile:
    path: str  # relative to the build folder, with `/`: also its path in the Hub repo
    bytes: int


@dataclass(frozen=True)
class ValidBuild:
    out: Path
    manifest: dict
    card: dict  # the card's YAML metadata
    files: tuple[BuildFile, ...]  # what a push publishes: the card, the manifest, the Parquet files


def validate_build(out: str | Path) -> ValidBuild:
    """Every check `stackpref push` makes before it sends anything; raises BuildInvalidError."""
    out = Path(out)
    if not out.is_dir():
        raise BuildInvalidError(f"{out}: no such build folder")
    manifest = _read_manifest(out)
    data = _check_parquet_files(out, manifest)
    _check_leakage(out, manifest)
    card = card_metadata(out)
    _check_card(out / CARD, card, manifest)
    return ValidBuild(out=out, manifest=manifest, card=card, files=(
        BuildFile(CARD, (out / CARD).stat().st_size), BuildFile(MANIFEST, (out / MANIFEST).stat().st_size), *data,
    ))


def card_metadata(out: Path) -> dict:
    """The YAML metadata of the build's card, parsed by huggingface_hub's DatasetCard as the Hub
    would; raises BuildInvalidError when it is missing, unparsable or lacks what the Hub reads."""
    from huggingface_hub import DatasetCard

    path = out / CARD
    if not path.is_file():
        raise BuildInvalidError(f"{out}: no dataset card ({CARD}); is this a stackpref build?")
    try:
        data = DatasetCard(path.read_text(encoding="utf-8")).data.to_dict()
    except (ValueError, yaml.YAMLError) as error:
        raise BuildInvalidError(f"{path}: the card's YAML metadata is invalid: {' '.join(str(error).split())}") from None
    missing = [key for key in _CARD_KEYS if not data.get(key)]
    if missing:
        raise BuildInvalidError(f"{path}: the card's YAML metadata lacks {', '.join(missing)}")
    return data


def declared_data_files(card: dict, config: str) -> dict[str, str]:
    """`{split: path pattern}` of one config of the card; ConfigError names the configs it has."""
    for entry in card["configs"]:
        if entry.get("config_name") == config:
            return {files["split"]: files["path"] for files in entry["data_files"]}
    names = ", ".join(str(entry.get("config_name")) for entry in card["configs"])
    raise ConfigError(f"unknown config {config!r}; the dataset card declares: {names}")


def _read_manifest(out: Path) -> dict:
    path = out / MANIFEST
    if not path.is_file():
        raise BuildInvalidError(f"{out}: no {MANIFEST}; not a stackpref build (make one with `stackpref build`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise BuildInvalidError(f"{path}: not valid JSON ({error})") from None
    missing = [key for key in ("files", "counts", "overlap_check") if key not in manifest]
    if missing:
        raise BuildInvalidError(f"{path}: not a stackpref manifest (no {', '.join(missing)})")
    expected = {f"{config}/{split}" for config in OUTPUT_SCHEMAS for split in SPLITS}
    if set(manifest["files"]) != expected:
        raise BuildInvalidError(f"{path}: files must list {', '.join(sorted(expected))}; got {', '.join(manifest['files'])}")
    return manifest


def _check_parquet_files(out: Path, manifest: dict) -> list[BuildFile]:
    """The Parquet files on disk are exactly the ones the manifest lists, each as it was written:
    the contract's schema, the recorded rows and bytes."""
    listed = {entry["path"]: (key.split("/")[0], entry) for key, entries in manifest["files"].items() for entry in entries}
    on_disk = {p.relative_to(out).as_posix() for p in (out / "data").rglob("*") if p.is_file()}
    for path in sorted(on_disk - set(listed)):
        raise BuildInvalidError(f"{out / path}: not listed in {MANIFEST}; a build's data/ holds only the files "
                                "its manifest lists (rebuild, or remove the file)")
    for path in sorted(set(listed) - on_disk):
        raise BuildInvalidError(f"{out / path}: listed in {MANIFEST} but missing")
    files = []
    for path, (config, entry) in sorted(listed.items()):
        file = out / path
        _check_schema(file, OUTPUT_SCHEMAS[config])
        rows, size = pq.ParquetFile(file).metadata.num_rows, file.stat().st_size
        if (rows, size) != (entry["rows"], entry["bytes"]):
            raise BuildInvalidError(f"{file}: {rows} rows and {size} bytes, {MANIFEST} says {entry['rows']} and "
                                    f"{entry['bytes']}; was it changed after the build?")
        files.append(BuildFile(path, size))
    return files


def _check_schema(file: Path, expected: pa.Schema) -> None:
    try:
        schema = pq.read_schema(file)
    except (pa.ArrowException, OSError) as error:
        raise BuildInvalidError(f"{file}: not a readable Parquet file ({error})") from None
    if schema.equals(expected):
        return
    for field in expected:
        if field.name not in schema.names:
            raise BuildInvalidError(f"{file}: column {field.name!r} ({field.type}) is missing")
        if schema.field(field.name).type != field.type:
            raise BuildInvalidError(f"{file}: column {field.name!r} is {schema.field(field.name).type}; "
                                    f"the output contract says {field.type}")
    extra = [name for name in schema.names if name not in expected.names]
    raise BuildInvalidError(f"{file}: columns differ from the output contract"
                            + (f": unexpected {', '.join(extra)}" if extra else " (order or nullability)"))


def _check_leakage(out: Path, manifest: dict) -> None:
    """The leakage check the build recorded, and the same check recomputed from the files, with
    each row in the split of the file it is in (what a trainer will read), whatever its columns say."""
    rows = pl.concat([
        pl.read_parquet(out / entry["path"], columns=["site", "question_id", "cluster_id"])
        .with_columns(split=pl.lit(_FILE_SPLIT[key]))
        for key, entries in manifest["files"].items() for entry in entries
    ])
    for where, check in ((MANIFEST, manifest["overlap_check"]), ("the Parquet files", overlap_check(rows))):
        if not check.get("passed"):
            raise BuildInvalidError(
                f"{out}: leakage check failed in {where} ({check.get('questions_in_two_splits')} questions, "
                f"{check.get('clusters_in_two_splits')} clusters in more than one split); refusing this build"
            )


def _check_card(path: Path, card: dict, manifest: dict) -> None:
    """The card declares exactly what the build holds: configs pairs and sft, whose data_files
    patterns match exactly the listed files of each split, with the features and row counts the
    files have. Then `datasets.load_dataset(OUT, config)` reads what the card says."""
    try:
        names = sorted(str(entry.get("config_name")) for entry in card["configs"])
        if names != sorted(OUTPUT_SCHEMAS):
            raise BuildInvalidError(f"{path}: the card declares configs {', '.join(names)}; a build has pairs and sft")
        infos = {info["config_name"]: info for info in card["dataset_info"]}
        every_file = [entry["path"] for entries in manifest["files"].values() for entry in entries]
        for config, schema in OUTPUT_SCHEMAS.items():
            patterns = declared_data_files(card, config)
            if sorted(patterns) != sorted(SPLITS):
                raise BuildInvalidError(f"{path}: config {config} declares splits {', '.join(patterns)}; "
                                        "a build has train and test")
            for split, pattern in patterns.items():
                matched = sorted(p for p in every_file if fnmatchcase(p, pattern))
                listed = sorted(entry["path"] for entry in manifest["files"][f"{config}/{split}"])
                if matched != listed:
                    raise BuildInvalidError(f"{path}: {config}/{split} declares {pattern!r}, which matches "
                                            f"{len(matched)} of the build's files, not its {len(listed)}")
            info = infos[config]
            declared = {s["name"]: s["num_examples"] for s in info["splits"]}
            held = {split: sum(e["rows"] for e in manifest["files"][f"{config}/{split}"]) for split in SPLITS}
            if declared != held:
                raise BuildInvalidError(f"{path}: dataset_info declares {declared} rows for {config}; "
                                        f"the files hold {held}")
            if [feature["name"] for feature in info["features"]] != schema.names:
                raise BuildInvalidError(f"{path}: dataset_info features of {config} differ from the files' columns")
    except (KeyError, TypeError, AttributeError) as error:
        raise BuildInvalidError(f"{path}: configs or dataset_info do not have the shape stackpref writes "
                                f"({type(error).__name__}: {error})") from None
