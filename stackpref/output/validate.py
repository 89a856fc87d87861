"""Is a build folder what the output contract promises? Checked before a build is published, from
its files rather than its own claims (Parquet footers and schemas, the key columns, the card's
YAML), so a broken or edited build is refused with the reason before anything leaves the machine."""

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stackpref.errors import BuildInvalidError, InputError
from stackpref.output import storage
from stackpref.output.folder import CARD, MANIFEST, BuildFolder
from stackpref.output.leakage import overlap_check
from stackpref.schema import OUTPUT_SCHEMAS
from stackpref.splits import CONFIGS, FILE_SPLITS


@dataclass(frozen=True)
class BuildFile:
    path: str  # relative to the build folder, with `/`: also its path in the Hub repo
    bytes: int


@dataclass(frozen=True)
class ValidBuild:
    out: Path | str  # a local folder as a Path, a URI as given
    manifest: dict
    card: dict  # the card's YAML metadata
    files: tuple[BuildFile, ...]  # what a push publishes: the card, the manifest, the Parquet files


def validate_build(out: str | Path) -> ValidBuild:
    """Every check `stackpref push` makes before it sends anything; raises BuildInvalidError, also
    for what is missing or unreadable (the reader's InputError), since all of it is a refusal."""
    folder = BuildFolder(out)
    try:
        if storage.kind(folder.location) != "dir":
            raise BuildInvalidError(f"{out}: no such build folder")
        manifest = _checked_manifest(folder)
        data = _check_parquet_files(folder, manifest)
        _check_leakage(folder, manifest)
        _check_card(folder, manifest)
        files = tuple(BuildFile(name, storage.size(folder.path(name))) for name in (CARD, MANIFEST))
    except InputError as error:
        raise BuildInvalidError(str(error)) from None
    return ValidBuild(out=out if storage.is_uri(out) else Path(out), manifest=manifest, card=folder.card,
                      files=(*files, *data))


def _checked_manifest(folder: BuildFolder) -> dict:
    manifest, path = folder.manifest, folder.path(MANIFEST)
    missing = [key for key in ("files", "counts", "overlap_check") if key not in manifest]
    if missing:
        raise BuildInvalidError(f"{path}: not a stackpref manifest (no {', '.join(missing)})")
    expected = {f"{config}/{split}" for config in CONFIGS for split in FILE_SPLITS[config]}
    if set(manifest["files"]) != expected:
        raise BuildInvalidError(f"{path}: files must list {', '.join(sorted(expected))}; got {', '.join(manifest['files'])}")
    return manifest


def _check_parquet_files(folder: BuildFolder, manifest: dict) -> list[BuildFile]:
    """The Parquet files in the folder are exactly the ones the manifest lists, each as it was
    written: the contract's schema, the recorded rows and bytes."""
    listed = {entry["path"]: (key.split("/")[0], entry) for key, entries in manifest["files"].items() for entry in entries}
    stored = set(folder.data_paths())
    for path in sorted(stored - set(listed)):
        raise BuildInvalidError(f"{folder.path(path)}: not listed in {MANIFEST}; a build's data/ holds only the "
                                "files its manifest lists (rebuild, or remove the file)")
    for path in sorted(set(listed) - stored):
        raise BuildInvalidError(f"{folder.path(path)}: listed in {MANIFEST} but missing")
    files = []
    for path, (config, entry) in sorted(listed.items()):
        location = folder.path(path)
        rows = _checked_rows(location, OUTPUT_SCHEMAS[config])
        size = storage.size(location)
        if (rows, size) != (entry["rows"], entry["bytes"]):
            raise BuildInvalidError(f"{location}: {rows} rows and {size} bytes, {MANIFEST} says {entry['rows']} and "
                                    f"{entry['bytes']}; was it changed after the build?")
        files.append(BuildFile(path, size))
    return files


def _checked_rows(location: str, expected: pa.Schema) -> int:
    """The file's row count, from its footer, once its schema is the contract's."""
    try:
        with storage.open_input(location) as handle:
            footer = pq.ParquetFile(handle)
            schema, rows = footer.schema_arrow, footer.metadata.num_rows
    except (pa.ArrowException, OSError) as error:
        raise BuildInvalidError(f"{location}: not a readable Parquet file ({error})") from None
    if schema.equals(expected):
        return rows
    for field in expected:
        if field.name not in schema.names:
            raise BuildInvalidError(f"{location}: column {field.name!r} ({field.type}) is missing")
        if schema.field(field.name).type != field.type:
            raise BuildInvalidError(f"{location}: column {field.name!r} is {schema.field(field.name).type}; "
                                    f"the output contract says {field.type}")
    extra = [name for name in schema.names if name not in expected.names]
    raise BuildInvalidError(f"{location}: columns differ from the output contract"
                            + (f": unexpected {', '.join(extra)}" if extra else " (order or nullability)"))


def _check_leakage(folder: BuildFolder, manifest: dict) -> None:
    """The leakage check the build recorded, and the same check recomputed from the files, with
    each row in the split of the file it is in (what a trainer will read), whatever its columns say."""
    for where, check in ((MANIFEST, manifest["overlap_check"]), ("the Parquet files", overlap_check(folder.keys()))):
        if not check.get("passed"):
            raise BuildInvalidError(
                f"{folder.location}: leakage check failed in {where} ({check.get('questions_in_two_splits')} "
                f"questions, {check.get('clusters_in_two_splits')} clusters in more than one split); refusing this build"
            )


def _check_card(folder: BuildFolder, manifest: dict) -> None:
    """The card declares exactly what the build holds: configs pairs and sft, whose data_files
    patterns match exactly the listed files of each split, with the features and row counts the
    files have. Then `datasets.load_dataset(OUT, config)` reads what the card says."""
    path, card = folder.path(CARD), folder.card
    try:
        names = sorted(str(entry.get("config_name")) for entry in card["configs"])
        if names != sorted(CONFIGS):
            raise BuildInvalidError(f"{path}: the card declares configs {', '.join(names)}; a build has "
                                    f"{' and '.join(CONFIGS)}")
        infos = {info["config_name"]: info for info in card["dataset_info"]}
        every_file = [entry["path"] for entries in manifest["files"].values() for entry in entries]
        for config in CONFIGS:
            patterns, splits = folder.data_files(config), FILE_SPLITS[config]
            if sorted(patterns) != sorted(splits):
                raise BuildInvalidError(f"{path}: config {config} declares splits {', '.join(patterns)}; "
                                        f"a build has {' and '.join(splits)}")
            for split, pattern in patterns.items():
                matched = sorted(p for p in every_file if fnmatchcase(p, pattern))
                listed = sorted(entry["path"] for entry in manifest["files"][f"{config}/{split}"])
                if matched != listed:
                    raise BuildInvalidError(f"{path}: {config}/{split} declares {pattern!r}, which matches "
                                            f"{len(matched)} of the build's files, not its {len(listed)}")
            info = infos[config]
            declared = {s["name"]: s["num_examples"] for s in info["splits"]}
            held = {split: sum(e["rows"] for e in manifest["files"][f"{config}/{split}"]) for split in splits}
            if declared != held:
                raise BuildInvalidError(f"{path}: dataset_info declares {declared} rows for {config}; "
                                        f"the files hold {held}")
            if [feature["name"] for feature in info["features"]] != OUTPUT_SCHEMAS[config].names:
                raise BuildInvalidError(f"{path}: dataset_info features of {config} differ from the files' columns")
    except (KeyError, TypeError, AttributeError) as error:
        raise BuildInvalidError(f"{path}: configs or dataset_info do not have the shape stackpref writes "
                                f"({type(error).__name__}: {error})") from None
