"""What a build publishes can be trusted and loaded: no 0-row Parquet file (datasets cannot read
one), a card that declares only splits with rows, a manifest whose sha256, rows and counts are
recomputed by validate and push, a card that must be exactly the render of its manifest, and the
card's language taken from the sites."""

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import invoke

from stackpref.errors import BuildInvalidError
from stackpref.output import card
from stackpref.output.folder import BuildFolder
from stackpref.output.validate import validate_build


def _parquet_files(out: Path) -> list[Path]:
    return sorted((out / "data").rglob("*.parquet"))


def _loads_with_datasets(out: Path, tmp_path: Path) -> dict:
    """{config: {split: rows}} of every config the card declares, loaded with datasets.load_dataset."""
    datasets = pytest.importorskip("datasets")
    loaded = {}
    for entry in BuildFolder(out).card["configs"]:
        name = entry["config_name"]
        dataset = datasets.load_dataset(str(out), name, cache_dir=str(tmp_path / "hf-cache"))
        loaded[name] = {split: dataset[split].num_rows for split in dataset}
    return loaded


def test_a_split_with_no_share_has_no_files_and_no_card_entry(tmp_path):
    out = tmp_path / "out"
    result = invoke("build", "--out", out, "-q", "--split", "sft=0,train=0.9,test=0.1")
    assert result.exit_code == 0, result.output
    assert all(pq.ParquetFile(path).metadata.num_rows > 0 for path in _parquet_files(out))
    assert not list((out / "data" / "sft").glob("train-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["sft/train"] == [] and manifest["counts"]["splits"]["sft"]["train"] == 0
    folder = BuildFolder(out)
    assert folder.data_files("sft") == {"test": "data/sft/test-*.parquet"}
    sft_info = next(info for info in folder.card["dataset_info"] if info["config_name"] == "sft")
    assert [split["name"] for split in sft_info["splits"]] == ["test"]
    assert "No rows in `sft/train`" in folder.card_text
    build = validate_build(out)
    assert build.notes == ()
    loaded = _loads_with_datasets(out, tmp_path)
    assert loaded == {config: {split: n for split, n in manifest["counts"]["splits"][config].items() if n}
                      for config in ("pairs", "sft")}


def test_many_buckets_write_no_empty_shard(tmp_path, monkeypatch):
    monkeypatch.setattr("stackpref.pipeline.plan.BUCKET_TEXT_BYTES", 2_000)
    out = tmp_path / "out"
    result = invoke("build", "--out", out, "-q", "--workers", "1")
    assert result.exit_code == 0, result.output
    files = _parquet_files(out)
    totals = {int(path.stem.rsplit("-of-", 1)[1]) for path in files}
    assert len(totals) == 1 and totals.pop() > len(files) // 4 > 0  # many buckets, names keep -of-NNNNN
    assert all(pq.ParquetFile(path).metadata.num_rows > 0 for path in files)
    manifest = validate_build(out).manifest
    assert _loads_with_datasets(out, tmp_path) == manifest["counts"]["splits"]


# --- tampering: each refused by validate and by push's planning step, with one line ----------


def _flip_a_byte(out: Path) -> str:
    path = _parquet_files(out)[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, inside the data pages
    path.write_bytes(bytes(data))
    return f"{path}: sha256 "


def _edit_manifest(out: Path, change) -> Path:
    """Apply `change` to the build's manifest.json and write it back."""
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=2))
    return path


def _edit_a_site_count(out: Path) -> str:
    site = next(iter(json.loads((out / "manifest.json").read_text())["counts"]["sites"]))
    path = _edit_manifest(out, lambda m: m["counts"]["sites"][site].__setitem__(
        "pairs/train", m["counts"]["sites"][site]["pairs/train"] + 1))
    return f"{path}: counts.sites differ from what the Parquet files hold ({site}.pairs/train"


def _edit_a_split_count(out: Path) -> str:
    path = _edit_manifest(out, lambda m: m["counts"]["splits"]["pairs"].__setitem__(
        "test", m["counts"]["splits"]["pairs"]["test"] - 1))
    return f"{path}: counts.splits differ"


def _edit_a_funnel_count(out: Path) -> str:
    stage = next(iter(json.loads((out / "manifest.json").read_text())["counts"]["funnel"]))
    path = _edit_manifest(out, lambda m: m["counts"]["funnel"][stage].__setitem__(
        "kept", m["counts"]["funnel"][stage]["kept"] + 1))
    return f"{path}: counts.funnel.{stage}: entered is not kept plus dropped"


def _edit_a_word_of_the_card(out: Path) -> str:
    path = out / "README.md"
    text = path.read_text()
    path.write_text(text.replace("held out", "kept out", 1))
    line = text[:text.index("held out")].count("\n") + 1
    return f"{path}: line {line} ("


def _edit_a_file_row_count(out: Path) -> str:
    """A file's row count edited in the manifest: its footer says otherwise."""
    entry = json.loads((out / "manifest.json").read_text())["files"]["pairs/train"][0]
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["pairs/train"][0]["rows"] += 1
    path.write_text(json.dumps(manifest, indent=2))
    return f"{out / entry['path']}: {entry['rows']} rows and"


TAMPERINGS = {
    "byte flipped in a Parquet file": _flip_a_byte,
    "site count edited in manifest.json": _edit_a_site_count,
    "split count edited in manifest.json": _edit_a_split_count,
    "funnel count edited in manifest.json": _edit_a_funnel_count,
    "word edited in README.md": _edit_a_word_of_the_card,
    "file rows edited in manifest.json": _edit_a_file_row_count,
}


@pytest.fixture
def build(sample_build, tmp_path) -> Path:
    return Path(shutil.copytree(sample_build, tmp_path / "build"))


def test_the_sample_build_is_valid_and_records_every_checksum(build):
    manifest = validate_build(build).manifest
    entries = [entry for entries in manifest["files"].values() for entry in entries]
    assert entries and all(len(entry["sha256"]) == 64 and entry["rows"] > 0 for entry in entries)


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_tampered_build_is_refused_by_validate_and_push(build, tampering, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    expected = TAMPERINGS[tampering](build)
    with pytest.raises(BuildInvalidError) as raised:
        validate_build(build)
    message = str(raised.value)
    assert message.startswith(expected), message
    assert "\n" not in message
    result = invoke("push", build, "me/coffee", "--dry-run")
    assert result.exit_code == BuildInvalidError.exit_code
    assert result.output == f"Error: {message}\n"
    assert "Traceback" not in result.output


def test_a_pushed_card_with_its_repo_id_is_still_valid(build):
    path = build / "README.md"
    path.write_text(card.fill_repo_id(path.read_text(), "me/coffee"))
    validate_build(build)
    path.write_text(path.read_text().replace('load_dataset("me/coffee", "sft")', 'load_dataset("you/tea", "sft")'))
    with pytest.raises(BuildInvalidError, match="differs from the card rendered from manifest.json"):
        validate_build(build)


def _as_if_built_by_another_version(build: Path, monkeypatch) -> None:
    """The build's manifest says another stackpref wrote it, and this one's template renders another card."""
    _edit_manifest(build, lambda m: m.__setitem__("stackpref_version", "0.0.1"))
    render = card.render
    monkeypatch.setattr(card, "render", lambda record: render(record).replace("held out", "kept apart"))


@pytest.mark.parametrize("pushed", [False, True])
def test_a_card_another_version_wrote_is_checked_by_its_sha256(build, monkeypatch, pushed):
    """A newer template renders another card; the card the build wrote still validates, by the
    sha256 the manifest holds, and an edit to it is still refused."""
    path = build / "README.md"
    if pushed:
        path.write_text(card.fill_repo_id(path.read_text(), "me/coffee"))
    _as_if_built_by_another_version(build, monkeypatch)
    validate_build(build)
    path.write_text(path.read_text().replace("held out", "left out", 1))
    with pytest.raises(BuildInvalidError, match="built by stackpref 0.0.1, this is .*: rebuild"):
        validate_build(build)


# --- the card's language --------------------------------------------------------------------


@pytest.mark.parametrize(("site", "languages"), [
    ("coffee.stackexchange.com", ["en"]),
    ("stackoverflow.com", ["en"]),
    ("meta.stackoverflow.com", ["en"]),
    ("es.stackoverflow.com", ["es"]),
    ("ja.meta.stackoverflow.com", ["ja"]),
    ("french.stackexchange.com", ["fr", "en"]),
    ("french.meta.stackexchange.com", ["fr", "en"]),
    ("german.stackexchange.com", ["de", "en"]),
    ("rus.stackexchange.com", ["ru"]),
    ("english.stackexchange.com", ["en"]),
    ("es.wikipedia.org", ["en"]),  # not a Stack Exchange host: the default
])
def test_site_languages(site, languages):
    assert card.site_languages(site) == languages


def test_the_card_language_comes_from_the_sites(build):
    manifest = json.loads((build / "manifest.json").read_text())
    assert card.metadata(manifest)["language"] == ["en"]
    manifest["inputs"] = [*manifest["inputs"], {**manifest["inputs"][0], "site": "french.meta.stackexchange.com"}]
    assert card.metadata(manifest)["language"] == ["en", "fr"]
    manifest["counts"]["sites"] = {"es.stackoverflow.com": {}}
    manifest["inputs"] = [{**manifest["inputs"][0], "site": "es.stackoverflow.com"}]
    assert card.metadata(manifest)["language"] == ["es"]


def test_without_datasets_the_load_check_is_skipped_with_a_note(build, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` raises ImportError
    assert validate_build(build).notes == ("load check skipped: datasets is not installed (pip install datasets)",)
