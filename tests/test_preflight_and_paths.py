"""The published manifest names inputs without local absolute paths; OUT and --tmp-dir are checked
before any work (a folder to write in, with room), and an I/O error during the build is one line
naming the file."""

import json
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from helpers import cli_build, invoke, one_error_line, posts_xml

from stackpref.errors import ConfigError, StackprefError
from stackpref.output import manifest, preflight, storage
from stackpref.sources import bundled_sample

SAMPLE = bundled_sample().parent  # the bundled site folder (coffee.sample.invalid/Posts.xml)


def _site(tmp_path: Path) -> Path:
    """A copy of the bundled sample with a PostLinks.xml beside it (a companion in the manifest)."""
    site = tmp_path / "dumps" / SAMPLE.name
    shutil.copytree(SAMPLE, site)
    (site / "PostLinks.xml").write_text(posts_xml([]).replace("posts>", "postlinks>"), encoding="utf-8")
    return site


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value



def _nothing_left(folder: Path, before: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == before


# --- manifest paths ------------------------------------------------------------------------------


def test_manifest_holds_no_absolute_path(tmp_path):
    site, out, spill = _site(tmp_path), tmp_path / "out", tmp_path / "spill"
    spill.mkdir()
    result = cli_build(site, out, "--tmp-dir", spill, "--site", f"{site}={SAMPLE.name}")
    assert result.exit_code == 0, result.output
    text = (out / "manifest.json").read_text(encoding="utf-8")
    record = json.loads(text)
    for value in _strings(record):
        assert not value.startswith("/") and str(tmp_path) not in value, value
    assert str(tmp_path) not in text and str(tmp_path) not in (out / "README.md").read_text(encoding="utf-8")
    [source] = record["inputs"]
    assert source["location"] == f"{SAMPLE.name}/Posts.xml"  # as the card names it
    assert source["companions"][0]["location"] == f"{SAMPLE.name}/PostLinks.xml"
    config = record["config"]
    assert config["sources"] == [SAMPLE.name] and config["out"] == "out" and config["tmp_dir"] == "spill"
    assert config["site"] == [f"{SAMPLE.name}={SAMPLE.name}"]
    assert invoke("validate", out).exit_code == 0


def test_relative_paths_stay_as_typed_and_the_manifest_reproduces(tmp_path, monkeypatch):
    _site(tmp_path)
    monkeypatch.chdir(tmp_path)
    given = f"dumps/{SAMPLE.name}"
    assert cli_build(given, Path("out")).exit_code == 0
    record = json.loads(Path("out/manifest.json").read_text(encoding="utf-8"))
    assert record["config"]["sources"] == [given] and record["config"]["out"] == "out"
    assert record["inputs"][0]["location"] == f"{given}/Posts.xml"
    again = invoke("build", "--config", "out/manifest.json", "--out", "again", "-q")
    assert again.exit_code == 0, again.output
    assert json.loads(Path("again/manifest.json").read_text())["counts"] == record["counts"]


def test_shown_path_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert manifest.shown_path("s3://bucket/dumps/x.7z") == "s3://bucket/dumps/x.7z"
    assert manifest.shown_path("owner/name") == "owner/name"  # a Hub id, or a relative path: as given
    assert manifest.shown_path("../dumps/x.7z") == "../dumps/x.7z"
    assert manifest.shown_path(str(tmp_path / "dumps" / "x.7z")) == "dumps/x.7z"  # inside the working folder
    assert manifest.shown_path("/elsewhere/site/x.7z") == "x.7z"
    assert manifest.shown_path("/elsewhere/site/Posts.xml", folder=True) == "site/Posts.xml"
    assert manifest.shown_path(None) is None
    config = manifest.shown_config({"sources": ["/a/b", "c"], "out": "/x/out", "tmp_dir": None, "tokenizer": "gpt2",
                                    "site": ["/a/b=b.example.com", "c=c.example.com"]})
    assert config == {"sources": ["b", "c"], "out": "out", "tmp_dir": None, "tokenizer": "gpt2",
                      "site": ["b=b.example.com", "c=c.example.com"]}


# --- preflight -----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["proc", "proc-missing-parent", "file-parent"])
def test_out_that_cannot_be_written_is_one_line(tmp_path, where):
    (tmp_path / "afile").write_text("x")
    out = {"proc": Path("/proc/stackpref-out"), "proc-missing-parent": Path("/proc/no/such/out"),
           "file-parent": tmp_path / "afile" / "out"}[where]
    before = {p.name for p in tmp_path.iterdir()}
    line = one_error_line(cli_build(SAMPLE, out), ConfigError.exit_code)
    assert f"--out {out}" in line and "choose another --out" in line
    _nothing_left(tmp_path, before)


@pytest.mark.parametrize("where", ["proc", "file", "missing"])
def test_tmp_dir_that_cannot_be_written_is_one_line(tmp_path, where):
    (tmp_path / "afile").write_text("x")
    tmp = {"proc": Path("/proc"), "file": tmp_path / "afile", "missing": tmp_path / "missing"}[where]
    before = {p.name for p in tmp_path.iterdir()}
    line = one_error_line(cli_build(SAMPLE, tmp_path / "out", "--tmp-dir", tmp), ConfigError.exit_code)
    assert f"--tmp-dir {tmp}" in line and "--tmp-dir" in line.split(";")[-1]
    _nothing_left(tmp_path, before)


def test_full_filesystem_is_refused_before_any_work(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 20, 10 << 20, 4096))
    before = {p.name for p in tmp_path.iterdir()}
    line = one_error_line(cli_build(SAMPLE, tmp_path / "out"), ConfigError.exit_code)
    assert "--out" in line and "free" in line and "needs about" in line
    _nothing_left(tmp_path, before)


def test_room_adds_up_on_one_filesystem(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1000, 0, 1000))
    (tmp_path / "spill").mkdir()
    preflight.check_room(str(tmp_path / "out"), str(tmp_path / "spill"), 300)  # 150 + 600 <= 1000
    with pytest.raises(ConfigError, match="--out and --tmp-dir"):
        preflight.check_room(str(tmp_path / "out"), str(tmp_path / "spill"), 600)  # 300 + 1200 > 1000
    assert not list(tmp_path.glob(".stackpref-probe-*")) and not list((tmp_path / "spill").iterdir())


def test_a_write_error_during_the_build_is_one_line_naming_the_file(tmp_path, monkeypatch):
    original = storage.write_frame

    def full(frame, location, compression):
        if "/b0" in location:  # pass 2's routed spill files
            raise OSError(28, "No space left on device")
        original(frame, location, compression)

    monkeypatch.setattr(storage, "write_frame", full)
    spill = tmp_path / "spill"
    spill.mkdir()
    line = one_error_line(cli_build(SAMPLE, tmp_path / "out", "--tmp-dir", spill, "-j", "1"), StackprefError.exit_code)
    assert str(spill) in line and "No space left on device" in line and "Traceback" not in line
    assert not (tmp_path / "out").exists() and not list(spill.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name not in ("spill",)]
