"""All six real dumps in ../shared in one build: the output contract holds on data nobody here wrote."""

import json

import datasets
import polars as pl
import pytest
from conftest import SHARED_SITES, needs_shared, run_build
from helpers import read_config

pytestmark = [pytest.mark.slow, needs_shared]


def test_all_six_sites_load_with_datasets(real_build):
    manifest = json.loads((real_build / "manifest.json").read_text())
    assert len(manifest["inputs"]) == 6
    assert len(manifest["counts"]["sites"]) == 5  # beer-2016 and beer-2017 are one site
    for config in ("pairs", "sft"):
        loaded = datasets.load_dataset(str(real_build), config)
        assert set(loaded) == {"train", "test"}
        for split in ("train", "test"):
            assert loaded[split].num_rows == manifest["counts"]["splits"][config][split] > 0
    assert datasets.load_dataset(str(real_build), "pairs")["train"].column_names[:3] == ["prompt", "chosen", "rejected"]


def test_margins_and_no_question_in_two_splits(real_build):
    pairs, sft = read_config(real_build, "pairs"), read_config(real_build, "sft")
    assert (pairs["margin"] >= 1).all()
    rows = pl.concat([pairs.select("site", "question_id", "cluster_id", "split"),
                      sft.select("site", "question_id", "cluster_id", "split")])
    assert rows.group_by("site", "question_id").agg(pl.col("split").n_unique())["split"].max() == 1
    assert rows.group_by("cluster_id").agg(pl.col("split").n_unique())["split"].max() == 1
    # Test questions are in neither training split.
    test_q = set(rows.filter(pl.col("split") == "test").select("site", "question_id").iter_rows())
    train_q = set(rows.filter(pl.col("split") != "test").select("site", "question_id").iter_rows())
    assert test_q and not test_q & train_q


def test_funnel_adds_up(real_build):
    funnel = json.loads((real_build / "manifest.json").read_text())["counts"]["funnel"]
    for stage in funnel.values():
        assert stage["entered"] == stage["kept"] + sum(stage["dropped"].values())
    posts = sum(1 for p in SHARED_SITES.glob("*/Posts.xml") for line in p.open("rb") if b"<row " in line)
    assert funnel["read"]["entered"] == posts
    assert funnel["read"]["dropped"].keys() == {"post_type_4", "post_type_5", "post_type_6", "post_type_7"}


def test_newer_dump_supersedes_older(real_build):
    funnel = json.loads((real_build / "manifest.json").read_text())["counts"]["funnel"]
    # ../shared/data/README.md: 1,569 of beer-2016's 1,576 post ids are in beer-2017, 7 were deleted
    # (counting questions and answers only, the tag-wiki rows aside).
    assert funnel["dump_versions"]["dropped"]["deleted_in_newer_dump"] == 7
    pairs = read_config(real_build, "pairs").filter(pl.col("site") == "beer.stackexchange.com")
    assert pairs.group_by("chosen_id", "rejected_id").len()["len"].max() == 1


@pytest.mark.parametrize("config", ["pairs", "sft"])
def test_two_builds_are_byte_identical(real_build, tmp_path, config):
    again = tmp_path / "again"
    run_build(again, SHARED_SITES)
    for first in sorted((real_build / "data" / config).glob("*.parquet")):
        assert (again / "data" / config / first.name).read_bytes() == first.read_bytes()


def test_beer_scores_come_from_the_2017_dump(real_build):
    from lxml import etree

    scores = {
        int(row.get("Id")): int(row.get("Score"))
        for _, row in etree.iterparse(str(SHARED_SITES / "beer-2017" / "Posts.xml"), tag="row")
    }
    pairs = read_config(real_build, "pairs").filter(pl.col("site") == "beer.stackexchange.com")
    assert pairs.height > 100
    for chosen_id, chosen_score, rejected_id, rejected_score in pairs.select(
        "chosen_id", "chosen_score", "rejected_id", "rejected_score"
    ).iter_rows():
        assert scores[chosen_id] == chosen_score and scores[rejected_id] == rejected_score
