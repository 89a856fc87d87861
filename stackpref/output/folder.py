"""One reader of a build folder, local or at a URI (`s3://...`): its manifest, its card, its
Parquet files per config and file split, and the keys of every row for the leakage check.

`validate`, `inspect`, `load`, eval's and training's readers and the build's own final check all read
through it, and it reads only through `stackpref.output.storage`, so each works on every location a
build can be written to.
"""

import json
from collections.abc import Sequence
from functools import cached_property

import polars as pl
import yaml

from stackpref.errors import BuildInvalidError, ConfigError, InputError
from stackpref.output import storage
from stackpref.schema import output_schemas
from stackpref.splits import CONFIGS, FILE_SPLITS

CARD = "README.md"
MANIFEST = "manifest.json"
_IDS = ["site", "question_id", "cluster_id"]  # a row's question and its cluster
# What the Hub reads from a dataset card's YAML; stackpref's card always has them.
_CARD_KEYS = ("license", "language", "task_categories", "size_categories", "pretty_name", "configs", "dataset_info")


class BuildFolder:
    """A build folder as its files hold it (OUT/README.md, OUT/manifest.json, OUT/data/{config}/
    {file split}-NNNNN-of-NNNNN.parquet). What is missing is an InputError naming the location."""

    def __init__(self, location) -> None:
        self.location = str(location)

    def path(self, relative: str) -> str:
        """The location of `relative` (with `/`, as the manifest and the card write paths)."""
        return storage.join(self.location, *relative.split("/"))

    def has(self, relative: str) -> bool:
        return storage.kind(self.path(relative)) == "file"

    def _text(self, relative: str, missing: str) -> str:
        if not self.has(relative):
            raise InputError(f"{self.location}: no {relative}; {missing}")
        with storage.open_input(self.path(relative)) as handle:
            data = handle.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(f"{self.path(relative)}: not UTF-8 text ({error})") from None

    @property
    def schemas(self) -> dict:
        """The output schemas of this build's format (standard while its manifest is not written yet)."""
        return output_schemas(self.manifest["config"].get("format") if self.has(MANIFEST) else None)

    @cached_property
    def manifest(self) -> dict:
        text = self._text(MANIFEST, "not a stackpref build (make one with `stackpref build`)")
        try:
            return json.loads(text)
        except ValueError as error:
            raise InputError(f"{self.path(MANIFEST)}: not valid JSON ({error})") from None

    @cached_property
    def card_text(self) -> str:
        return self._text(CARD, "no dataset card; is this a stackpref build?")

    @cached_property
    def card(self) -> dict:
        """The card's YAML metadata, parsed by huggingface_hub's DatasetCard as the Hub would;
        BuildInvalidError when it is unparsable or lacks what the Hub reads."""
        from huggingface_hub import DatasetCard

        try:
            data = DatasetCard(self.card_text).data.to_dict()
        except (ValueError, yaml.YAMLError) as error:
            raise BuildInvalidError(f"{self.path(CARD)}: the card's YAML metadata is invalid: "
                                    f"{' '.join(str(error).split())}") from None
        missing = [key for key in _CARD_KEYS if not data.get(key)]
        if missing:
            raise BuildInvalidError(f"{self.path(CARD)}: the card's YAML metadata lacks {', '.join(missing)}")
        return data

    def data_files(self, config: str) -> dict[str, str]:
        """`{file split: path pattern}` the card declares for `config` (its splits with rows);
        ConfigError names the configs it has."""
        for entry in self.card["configs"]:
            if entry.get("config_name") == config:
                return {files["split"]: files["path"] for files in entry["data_files"]}
        names = ", ".join(str(entry.get("config_name")) for entry in self.card["configs"])
        if config in CONFIGS:
            raise ConfigError(f"{self.location}: the {config} config has no rows in this build, so its card does not "
                              f"declare it; it declares: {names}")
        raise ConfigError(f"unknown config {config!r}; the dataset card declares: {names}")

    def data_paths(self) -> list[str]:
        """Every file under data/, by its path in the folder with `/` (its path in a Hub repo), sorted:
        what validate holds against the manifest, so a stray file anywhere there is seen."""
        found, folders = [], ["data"]
        while folders:
            folder = folders.pop()
            for location, what in storage.children(self.path(folder)):
                (folders if what == "dir" else found).append(f"{folder}/{storage.name(location)}")
        return sorted(found)

    def _split_files(self, config: str, split: str | None) -> list[tuple[str, str]]:
        """(file split, location) of the Parquet files of `config`, of one file split or all, by name.
        A split with no rows has no files (a 0-row Parquet file is never written): [] for it, once
        the folder holds data/ at all."""
        if config not in CONFIGS:
            raise ConfigError(f"unknown config {config!r}; a build has {', '.join(CONFIGS)}")
        if split is not None and split not in FILE_SPLITS[config]:
            raise InputError(f"{self.location}: the {config} config has no {split!r} split "
                             f"(it has {', '.join(FILE_SPLITS[config])})")
        wanted = FILE_SPLITS[config] if split is None else (split,)
        found = [(storage.name(location).split("-", 1)[0], location)
                 for location in storage.files(self.path(f"data/{config}"), suffix=".parquet")]
        found = [(name, location) for name, location in found if name in wanted]
        if not found and storage.kind(self.path("data")) != "dir":
            raise InputError(f"{self.location}: no data/{config}/{split or '*'}-*.parquet; is this a stackpref build?")
        missing = [name for name in wanted if name not in {found_split for found_split, _ in found}]
        for name in missing if self.has(CARD) else ():
            if name in self._declared().get(config, ()):
                raise InputError(f"{self.location}: no data/{config}/{name}-*.parquet, though the card declares "
                                 f"{config}/{name}; is the build complete?")
        return found

    def _declared(self) -> dict[str, list[str]]:
        """{config: [file split]} the card declares; {} for a card whose metadata cannot be read
        (validate says why: here it only tells a split without rows from a missing one)."""
        try:
            return {str(entry.get("config_name")): [files["split"] for files in entry["data_files"]]
                    for entry in self.card["configs"]}
        except Exception:  # noqa: BLE001
            return {}

    def files(self, config: str, split: str | None = None) -> list[str]:
        """The Parquet files of `config` (of one file split, or all), sorted by name, from the layout."""
        return [location for _, location in self._split_files(config, split)]

    def frame(self, config: str, split: str | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """`columns` (default: all) of the rows of `config`, of one file split or all, file by file
        (no rows, in the contract's schema, for a split without files)."""
        frames = [storage.read_frame(location, columns) for location in self.files(config, split)]
        if not frames:
            empty = pl.from_arrow(self.schemas[config].empty_table())
            return empty.select(columns) if columns else empty
        return pl.concat(frames)

    def keys(self, extra: Sequence[str] = (), categorical: Sequence[str] = ()) -> pl.DataFrame:
        """(site, question_id, cluster_id, split, the `extra` columns a config has, config) of every row,
        pairs then sft, file by file in name order. `split` is the question split of the file the row is
        in (what a trainer reads), whatever the row's own column says: a row copied into another split's
        file is a leak. `categorical` extras (a few distinct strings) are cast file by file, for keys of
        large builds."""
        def read(config: str, split: str, location: str | None) -> pl.DataFrame:
            columns = [name for name in extra if name in output_schemas()[config].names]
            frame = (storage.read_frame(location, [*_IDS, *columns]) if location is not None
                     else pl.from_arrow(output_schemas()[config].empty_table()))
            return frame.select(
                *_IDS, pl.lit(FILE_SPLITS[config][split]).alias("split"),
                *(pl.col(name).cast(pl.Categorical) if name in categorical else pl.col(name) for name in columns),
                pl.lit(config).alias("config"),
            )

        # Each config's columns even when it has no files (a split, or a whole config, without rows).
        empty = [read(config, next(iter(FILE_SPLITS[config])), None) for config in CONFIGS]
        return pl.concat([*empty, *(read(config, split, location) for config in CONFIGS
                                    for split, location in self._split_files(config, None))], how="diagonal")


def written_keys(location: str) -> pl.DataFrame:
    """The keys the build checks for leakage and counts in its manifest, read back from the folder it
    has just written: margin for the pairs, and `license` as Categorical, since this is the one table
    that grows with the output."""
    return BuildFolder(location).keys(["margin", "license"], categorical=["license"])
