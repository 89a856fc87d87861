"""Is a build folder what the output contract promises? Checked before a build is published, from
its files rather than its own claims (Parquet footers and schemas, the key columns, the card's
YAML), so a broken or edited build is refused with the reason before anything leaves the machine.

The files are tied together: the manifest records the rows, bytes and sha256 of every Parquet file
(recomputed here: a flipped bit or a same-size edit is seen), its counts are recomputed from the
rows, and the card must be exactly what `card.render` makes of the manifest. Last, every config
the card declares is loaded with `datasets.load_dataset`, as a user would (when datasets is
installed; a note says when it is not).
"""

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stackpref._version import __version__
from stackpref.errors import BuildInvalidError, InputError
from stackpref.output import card as card_text
from stackpref.output import storage
from stackpref.output.folder import CARD, MANIFEST, BuildFolder
from stackpref.output.leakage import overlap_check
from stackpref.output.manifest import row_counts, split_counts
from stackpref.schema import output_schemas
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
    notes: tuple[str, ...] = ()  # checks skipped, and why (one line each)


def validate_build(out: str | Path) -> ValidBuild:
    """Every check `stackpref push` makes before it sends anything; raises BuildInvalidError, also
    for what is missing or unreadable (the reader's InputError), since all of it is a refusal."""
    folder = BuildFolder(out)
    try:
        if storage.kind(folder.location) != "dir":
            raise BuildInvalidError(f"{out}: no such build folder")
        manifest = _checked_manifest(folder)
        data = _check_parquet_files(folder, manifest)
        keys = folder.keys(["margin", "license"])
        _check_leakage(folder, manifest, keys)
        _check_counts(folder, manifest, keys)
        _check_card(folder, manifest)
        _check_card_text(folder, manifest)
        notes = _check_loads(folder)
        files = tuple(BuildFile(name, storage.size(folder.path(name))) for name in (CARD, MANIFEST))
    except InputError as error:
        raise BuildInvalidError(str(error)) from None
    return ValidBuild(out=out if storage.is_uri(out) else Path(out), manifest=manifest, card=folder.card,
                      files=(*files, *data), notes=notes)


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
        if not isinstance(entry, dict) or not all(key in entry for key in ("rows", "bytes", "sha256")):
            raise BuildInvalidError(f"{folder.path(MANIFEST)}: the entry of {path} lacks rows, bytes or sha256 "
                                    "(a build by an older stackpref?); rebuild it")
        rows = _checked_rows(location, output_schemas(manifest["config"].get("format"))[config])
        size = storage.size(location)
        if (rows, size) != (entry["rows"], entry["bytes"]):
            raise BuildInvalidError(f"{location}: {rows} rows and {size} bytes, {MANIFEST} says {entry['rows']} and "
                                    f"{entry['bytes']}; was it changed after the build?")
        if rows == 0:
            raise BuildInvalidError(f"{location}: no rows; datasets cannot load a 0-row Parquet file (a build "
                                    "writes none: rebuild, or remove the file and its manifest entry)")
        digest = storage.sha256(location)
        if digest != entry["sha256"]:
            raise BuildInvalidError(f"{location}: sha256 {digest[:16]}…, {MANIFEST} says {str(entry['sha256'])[:16]}…; "
                                    "the file was changed after the build (rebuild it)")
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


def _check_counts(folder: BuildFolder, manifest: dict, keys) -> None:
    """The manifest's counts against the files: rows per config and split (from `files`), and per
    site, licence and margin (recomputed from the rows); the funnel adds up."""
    path = folder.path(MANIFEST)
    try:
        counts = manifest["counts"]
        recorded = {"splits": counts["splits"], **{name: counts[name] for name in ("sites", "licenses", "margins")}}
        funnel = counts["funnel"]
    except (KeyError, TypeError) as error:
        raise BuildInvalidError(f"{path}: counts lack {error}; not a manifest this stackpref writes") from None
    fresh = {"splits": split_counts(manifest["files"]), **row_counts(keys)}
    for name, value in fresh.items():
        if recorded[name] != value:
            raise BuildInvalidError(f"{path}: counts.{name} differ from what the Parquet files hold "
                                    f"({_first_difference(recorded[name], value)}); was it edited after the build?")
    for stage, entry in funnel.items() if isinstance(funnel, dict) else ():
        try:
            balanced = entry["entered"] == entry["kept"] + sum(entry["dropped"].values())
        except (KeyError, TypeError, AttributeError):
            balanced = False
        if not balanced:
            raise BuildInvalidError(f"{path}: counts.funnel.{stage}: entered is not kept plus dropped; was it edited "
                                    "after the build?")


def _first_difference(recorded, fresh, where: str = "") -> str:
    """Where two count tables first differ, as `key: recorded N, files M`."""
    if isinstance(recorded, dict) and isinstance(fresh, dict):
        for key in sorted(set(recorded) | set(fresh), key=str):
            if recorded.get(key) != fresh.get(key):
                return _first_difference(recorded.get(key), fresh.get(key), f"{where}{'.' if where else ''}{key}")
    return f"{where or 'value'}: recorded {recorded}, files {fresh}"


def _check_leakage(folder: BuildFolder, manifest: dict, keys) -> None:
    """The leakage check the build recorded, and the same check recomputed from the files, with
    each row in the split of the file it is in (what a trainer will read), whatever its columns say."""
    for where, check in ((MANIFEST, manifest["overlap_check"]), ("the Parquet files", overlap_check(keys))):
        if not check.get("passed"):
            raise BuildInvalidError(
                f"{folder.location}: leakage check failed in {where} ({check.get('questions_in_two_splits')} "
                f"questions, {check.get('clusters_in_two_splits')} clusters in more than one split); refusing this build"
            )


def _check_card(folder: BuildFolder, manifest: dict) -> None:
    """The card declares exactly what the build holds: the configs with rows (pairs, sft), each with
    its splits with rows, whose data_files patterns match exactly the listed files of each split,
    with the features and row counts the files have."""
    path, card = folder.path(CARD), folder.card
    held = {config: {split: sum(e["rows"] for e in manifest["files"][f"{config}/{split}"]) for split in splits}
            for config, splits in FILE_SPLITS.items()}
    held = {config: {split: n for split, n in splits.items() if n} for config, splits in held.items() if any(splits.values())}
    try:
        names = sorted(str(entry.get("config_name")) for entry in card["configs"])
        if names != sorted(held):
            raise BuildInvalidError(f"{path}: the card declares configs {', '.join(names)}; the build has rows in "
                                    f"{' and '.join(sorted(held)) or 'none'}")
        infos = {info["config_name"]: info for info in card["dataset_info"]}
        every_file = [entry["path"] for entries in manifest["files"].values() for entry in entries]
        for config, splits in held.items():
            patterns = folder.data_files(config)
            if sorted(patterns) != sorted(splits):
                raise BuildInvalidError(f"{path}: config {config} declares splits {', '.join(patterns)}; "
                                        f"the build has rows in {' and '.join(splits)}")
            for split, pattern in patterns.items():
                matched = sorted(p for p in every_file if fnmatchcase(p, pattern))
                listed = sorted(entry["path"] for entry in manifest["files"][f"{config}/{split}"])
                if matched != listed:
                    raise BuildInvalidError(f"{path}: {config}/{split} declares {pattern!r}, which matches "
                                            f"{len(matched)} of the build's files, not its {len(listed)}")
            info = infos[config]
            declared = {s["name"]: s["num_examples"] for s in info["splits"]}
            if declared != splits:
                raise BuildInvalidError(f"{path}: dataset_info declares {declared} rows for {config}; "
                                        f"the files hold {splits}")
            columns = output_schemas(manifest["config"].get("format"))[config].names
            if [feature["name"] for feature in info["features"]] != columns:
                raise BuildInvalidError(f"{path}: dataset_info features of {config} differ from the files' columns")
    except (KeyError, TypeError, AttributeError) as error:
        raise BuildInvalidError(f"{path}: configs or dataset_info do not have the shape stackpref writes "
                                f"({type(error).__name__}: {error})") from None


def _check_card_text(folder: BuildFolder, manifest: dict) -> None:
    """The card, byte for byte, is what `card.render` makes of the manifest (with the repo id push
    fills in, in a pushed card): every number in it comes from the counts, so an edited word or
    number is refused (with its line)."""
    path = folder.path(CARD)
    try:
        fresh = card_text.render(manifest)
    except Exception as error:  # noqa: BLE001 - a manifest edited into another shape fails anywhere in the template
        raise BuildInvalidError(f"{folder.path(MANIFEST)}: the card cannot be rendered from it "
                                f"({type(error).__name__}: {' '.join(str(error).split())})") from None
    repo_id = card_text.named_repo(folder.card_text)  # a card as push uploaded it: the repo id filled in
    if (card_text.fill_repo_id(fresh, repo_id) if repo_id else fresh) == folder.card_text:
        return
    built_by = manifest.get("stackpref_version")
    if built_by != __version__ and manifest.get("card_sha256") == card_text.digest(folder.card_text, repo_id):
        return  # another version's template: the card is byte for byte the one its build wrote
    lines, expected = folder.card_text.splitlines(), fresh.splitlines()
    number = next((i for i, (a, b) in enumerate(zip(lines, expected)) if a != b), min(len(lines), len(expected)))
    hint = (f"built by stackpref {built_by}, this is {__version__}: rebuild, or validate with that version"
            if built_by != __version__ else "was it edited after the build? rebuild it")
    shown = lines[number][:60] if number < len(lines) else "(end of file)"
    raise BuildInvalidError(f"{path}: line {number + 1} ({shown!r}) differs from the card rendered from {MANIFEST}; "
                            f"{hint}")


def _check_loads(folder: BuildFolder) -> tuple[str, ...]:
    """Every config the card declares loads with `datasets.load_dataset` (streamed: nothing is
    cached), and yields a first row of each split. Skipped, with a note, without datasets or for a
    build at a URI (datasets would need s3fs or gcsfs)."""
    try:
        import datasets
    except ImportError:
        return ("load check skipped: datasets is not installed (pip install datasets)",)
    if storage.is_uri(folder.location):
        return ("load check skipped: datasets reads a build at a URI only through fsspec's s3fs or gcsfs",)
    for entry in folder.card["configs"]:
        config = entry.get("config_name")
        try:
            loaded = datasets.load_dataset(folder.location, config, streaming=True)
            for split, rows in loaded.items():
                if next(iter(rows), None) is None:
                    raise ValueError(f"split {split} yields no rows")
        except Exception as error:  # noqa: BLE001 - datasets raises many types; each is a refusal
            raise BuildInvalidError(f"{folder.path(CARD)}: config {config} does not load with datasets.load_dataset "
                                    f"({type(error).__name__}: {' '.join(str(error).split())[:300]})") from None
    return ()
