"""The ray engine against the local one, on a local Ray instance the tests start (2 CPUs) and stop:
the same inputs and options give the same Parquet bytes, card and counts. And builds whose inputs,
spill and output all live on an S3-compatible server (moto, started on 127.0.0.1)."""

import json
from pathlib import Path

import pytest
from conftest import SHARED_SITES, needs_shared, run_build
from helpers import moto_s3

from stackpref.errors import InputError, OutputExistsError
from stackpref.pipeline import plan
from stackpref.sources import posts_xml

pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray", reason="the ray engine needs the [ray] extra (in [dev])")
boto3 = pytest.importorskip("boto3", reason="the S3 tests need moto and boto3 (in [dev])")

BUCKET = "stackpref-test"


@pytest.fixture(scope="module")
def s3_env():
    """A moto S3 server, and the environment that points pyarrow and boto3 at it."""
    with moto_s3(BUCKET) as env:
        yield env


@pytest.fixture(scope="module")
def ray_instance(s3_env):
    """Ray on this machine with 2 CPUs; its workers get the S3 server's environment."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", runtime_env={"env_vars": s3_env})
    yield
    ray.shutdown()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_build(one: Path, two: Path) -> None:
    """Byte-identical Parquet and card; the manifest's counts, files and leakage check equal."""
    a, b = _files(one), _files(two)
    assert sorted(a) == sorted(b)
    for name in a:
        if name != "manifest.json":
            assert a[name] == b[name], name
    first, second = json.loads(a["manifest.json"]), json.loads(b["manifest.json"])
    for key in ("counts", "files", "overlap_check", "length_unit"):
        assert first[key] == second[key], key


@needs_shared
def test_ray_engine_builds_the_six_real_dumps_byte_for_byte_as_local(real_build, ray_instance, tmp_path):
    out = tmp_path / "out"  # same folder name as real_build: the card names the output by it
    manifest = run_build(out, SHARED_SITES, engine="ray")
    assert_same_build(real_build, out)
    counts = manifest["counts"]
    assert counts["question_clusters"]["clusters_with_duplicates"] >= 1  # near-duplicate clustering ran
    versions = counts["funnel"]["dump_versions"]["dropped"]
    assert versions["deleted_in_newer_dump"] == 7 and versions["superseded_by_newer_dump"] > 1000  # beer-2016 by 2017
    assert manifest["config"]["engine"] == "ray"


@needs_shared
def test_engines_agree_with_many_byte_ranges_and_buckets(ray_instance, tmp_path, monkeypatch):
    """Small byte ranges (dozens a dump, rows cut at every boundary) and nine buckets: the local
    engine with whole-file ranges, the local engine and the ray engine with small ones, all equal."""
    sources = [SHARED_SITES / name for name in ("beer-2016", "beer-2017", "cardano-2021")]
    monkeypatch.setattr(plan, "BUCKET_TEXT_BYTES", 1 << 19)
    whole = run_build(tmp_path / "whole" / "out", *sources, workers=2)
    monkeypatch.setattr(posts_xml, "FRAGMENT_BYTES", 1 << 16)
    run_build(tmp_path / "local" / "out", *sources, workers=2)
    run_build(tmp_path / "ray" / "out", *sources, engine="ray")
    assert len(whole["files"]["pairs/train"]) == 9  # 4 to 4.5 MB of text in 512 KB buckets
    assert_same_build(tmp_path / "whole" / "out", tmp_path / "local" / "out")
    assert_same_build(tmp_path / "whole" / "out", tmp_path / "ray" / "out")


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_bad_row_deep_in_a_dump_is_named_by_its_line(engine, ray_instance, tmp_path, monkeypatch):
    """The error comes from a worker that read a range far from the start, and still names the
    line in the whole file."""
    rows = [f'  <row Id="{i}" PostTypeId="1" Score="1" Title="Question {i}" Body="&lt;p&gt;Body {i}&lt;/p&gt;" />'
            for i in range(1, 400)]
    rows[300] = '  <row Id="not-a-number" PostTypeId="1" Body="x" />'
    dump = tmp_path / "cooking.example.org" / "Posts.xml"
    dump.parent.mkdir()
    dump.write_text('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(rows) + "\n</posts>\n")
    monkeypatch.setattr(posts_xml, "FRAGMENT_BYTES", 4096)
    with pytest.raises(InputError, match=r"Posts.xml: line 303: bad <row> attribute"):
        run_build(tmp_path / "out", dump, engine=engine, workers=2)
    assert not (tmp_path / "out").exists()


def _upload(sites: list[str], prefix: str) -> None:
    client = boto3.client("s3")
    for name in sites:
        client.upload_file(str(SHARED_SITES / name / "Posts.xml"), BUCKET, f"{prefix}/{name}/Posts.xml")


def _download(prefix: str, into: Path) -> list[str]:
    client = boto3.client("s3")
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    keys = [o["Key"] for o in listed if not o["Key"].endswith("/")]  # not pyarrow's empty folder markers
    for key in keys:
        target = into / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(BUCKET, key, str(target))
    return keys


@needs_shared
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_build_from_s3_to_s3(engine, ray_instance, s3_env, tmp_path):
    """Inputs, spill and output on the S3 server, through the s3:// paths a user would give; the
    result is the local build of the same files, byte for byte, and nothing is left in the spill."""
    sites = ["beer-2016", "beer-2017"]
    local_in = tmp_path / "in"  # the same folder names as on S3: the card names inputs by them
    local_in.mkdir()
    for name in sites:
        (local_in / name).symlink_to(SHARED_SITES / name)
    run_build(tmp_path / "local" / "out", local_in, workers=2)
    _upload(sites, f"{engine}/in")
    run_build(f"s3://{BUCKET}/{engine}/builds/out", f"s3://{BUCKET}/{engine}/in", engine=engine,
              tmp_dir=f"s3://{BUCKET}/{engine}/spill", workers=2)
    keys = _download(f"{engine}/builds", tmp_path / "s3")
    assert sorted(keys) == sorted(f"{engine}/builds/out/{name}" for name in _files(tmp_path / "local" / "out"))
    assert_same_build(tmp_path / "local" / "out", tmp_path / "s3" / "out")
    spill = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"{engine}/spill/stackpref-spill")
    assert spill.get("KeyCount") == 0


def test_an_s3_output_that_exists_is_refused(s3_env, tmp_path):
    boto3.client("s3").put_object(Bucket=BUCKET, Key="taken/out/manifest.json", Body=b"{}")
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        run_build(f"s3://{BUCKET}/taken/out", workers=1)
