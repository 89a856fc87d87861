"""The one build-folder reader (stackpref.output.folder) on a real build of the bundled sample, and the
same reader, `inspect`, `validate`, `load` and eval's pairs reader on an s3:// copy of that build
served by moto on 127.0.0.1: a build in an object store reads back as the local one does."""

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from helpers import moto_s3
from huggingface_hub import DatasetCard
from stackpref.eval.data import load_pairs

import stackpref
from stackpref.errors import BuildInvalidError, ConfigError, InputError
from stackpref.output.folder import CARD, MANIFEST, BuildFolder, written_keys
from stackpref.output.inspection import summarize
from stackpref.output.validate import validate_build

pytestmark = pytest.mark.slow

boto3 = pytest.importorskip("boto3", reason="the S3 tests need moto and boto3 (in [dev])")

BUCKET = "stackpref-folder-test"  # not test_engines' bucket: storage keeps one S3 client per bucket
PARQUET = {"pairs": {"train": "data/pairs/train-00000-of-00001.parquet", "test": "data/pairs/test-00000-of-00001.parquet"},
           "sft": {"train": "data/sft/train-00000-of-00001.parquet", "test": "data/sft/test-00000-of-00001.parquet"}}


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("folder") / "out"
    stackpref.build(stackpref.BuildConfig(out=str(out)))
    return out


@pytest.fixture(scope="module")
def s3_build(build) -> str:
    """The build copied to a moto S3 server on a free local port, with the environment that points
    pyarrow and boto3 at it."""
    with moto_s3(BUCKET):
        client = boto3.client("s3")
        for file in build.rglob("*"):
            if file.is_file():
                client.upload_file(str(file), BUCKET, f"builds/out/{file.relative_to(build).as_posix()}")
        yield f"s3://{BUCKET}/builds/out"


def _parquet_keys(out: Path) -> pl.DataFrame:
    """The build's keys read straight from its Parquet files, the way the build itself read them."""
    return pl.concat([
        pl.read_parquet(out / path, columns=["site", "question_id", "cluster_id", "split", *extra])
        .with_columns(pl.col("license").cast(pl.Categorical), config=pl.lit(config))
        for config, extra in (("pairs", ["margin", "license"]), ("sft", ["license"]))
        for path in sorted(PARQUET[config].values())
    ], how="diagonal")


def test_files_per_config_and_split(build):
    folder = BuildFolder(build)
    for config, splits in PARQUET.items():
        for split, path in splits.items():
            assert folder.files(config, split) == [str(build / path)]
        assert folder.files(config) == sorted(str(build / path) for path in splits.values())
    assert folder.data_paths() == sorted(p for splits in PARQUET.values() for p in splits.values())
    assert folder.frame("pairs", "test").equals(pl.read_parquet(build / PARQUET["pairs"]["test"]))
    assert folder.frame("sft", columns=["question_id"]).height == 21
    with pytest.raises(InputError, match=rf"{build}: the sft config has no 'sft' split \(it has train, test\)"):
        folder.files("sft", "sft")
    with pytest.raises(ConfigError, match="unknown config 'dpo'; a build has pairs, sft"):
        folder.files("dpo")


def test_keys_are_what_the_parquet_files_hold(build):
    """The split of a key is the question split of its file, which for a build is each row's own."""
    expected = _parquet_keys(build)
    assert written_keys(str(build)).equals(expected)
    assert written_keys(str(build)).schema == expected.schema
    keys = BuildFolder(build).keys()
    assert keys.columns == ["site", "question_id", "cluster_id", "split", "config"]
    assert keys.equals(expected.select(keys.columns))
    assert keys.group_by("config", "split").len().sort("config", "split").rows() == [
        ("pairs", "test", 16), ("pairs", "train", 60), ("sft", "sft", 13), ("sft", "test", 8)]


def test_manifest_and_card_read_back(build):
    folder = BuildFolder(build)
    assert folder.manifest == json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    assert folder.card_text == (build / CARD).read_text(encoding="utf-8")
    assert folder.card == DatasetCard(folder.card_text).data.to_dict()
    assert folder.data_files("sft") == {"train": "data/sft/train-*.parquet", "test": "data/sft/test-*.parquet"}
    with pytest.raises(ConfigError, match="unknown config 'dpo'; the dataset card declares: pairs, sft"):
        folder.data_files("dpo")


def test_missing_manifest_card_or_data_name_the_location(build, tmp_path):
    copy = Path(shutil.copytree(build, tmp_path / "copy"))
    (copy / MANIFEST).unlink()
    (copy / CARD).unlink()
    shutil.rmtree(copy / "data")
    folder = BuildFolder(copy)
    assert not folder.has(MANIFEST)
    with pytest.raises(InputError, match=rf"^{copy}: no manifest.json; not a stackpref build"):
        _ = folder.manifest
    with pytest.raises(InputError, match=rf"^{copy}: no README.md; no dataset card"):
        _ = folder.card
    with pytest.raises(InputError, match=rf"^{copy}: no data/pairs/\*-\*.parquet; is this a stackpref build\?"):
        folder.keys()
    with pytest.raises(BuildInvalidError, match=rf"^{copy}: no manifest.json"):
        validate_build(copy)
    # A split the card declares, without its files (a split without rows has neither).
    other = Path(shutil.copytree(build, tmp_path / "other"))
    shutil.rmtree(other / "data" / "sft")
    with pytest.raises(InputError, match=rf"^{other}: no data/sft/train-\*.parquet, though the card declares sft/train"):
        BuildFolder(other).keys()


def test_reader_on_s3_reads_what_the_local_build_holds(build, s3_build):
    local, remote = BuildFolder(build), BuildFolder(s3_build)
    assert remote.manifest == local.manifest and remote.card == local.card
    assert remote.data_paths() == local.data_paths()
    assert remote.files("pairs", "train") == [f"{s3_build}/{PARQUET['pairs']['train']}"]
    assert remote.keys().equals(local.keys())
    assert written_keys(s3_build).equals(written_keys(str(build)))
    assert remote.frame("sft", "train").equals(local.frame("sft", "train"))
    with pytest.raises(InputError, match=rf"^s3://{BUCKET}/nothing: no manifest.json"):
        _ = BuildFolder(f"s3://{BUCKET}/nothing").manifest


def test_inspect_validate_load_and_eval_read_an_s3_build(build, s3_build):
    assert summarize(s3_build) == {**summarize(build), "out": s3_build}
    remote, local = validate_build(s3_build), validate_build(build)
    assert remote.out == s3_build and remote.files == local.files
    assert remote.manifest == local.manifest and remote.card == local.card
    assert load_pairs(s3_build, "test").equals(load_pairs(str(build), "test"))
    for config in ("pairs", "sft"):
        loaded, expected = stackpref.load(s3_build, config), stackpref.load(build, config)
        assert list(loaded) == list(expected)
        for split in expected:
            assert loaded[split].features == expected[split].features
            assert loaded[split].to_list() == expected[split].to_list()


def test_validate_refuses_an_s3_build_without_its_manifest(s3_build):
    client = boto3.client("s3")
    for path in (CARD, *PARQUET["pairs"].values()):
        client.copy_object(Bucket=BUCKET, Key=f"partial/out/{path}", CopySource=f"{BUCKET}/builds/out/{path}")
    partial = f"s3://{BUCKET}/partial/out"
    with pytest.raises(BuildInvalidError, match=rf"^{partial}: no manifest.json; not a stackpref build"):
        validate_build(partial)
    with pytest.raises(InputError, match=rf"^{partial}: no data/sft/train-\*.parquet, though the card declares"):
        summarize(partial)
