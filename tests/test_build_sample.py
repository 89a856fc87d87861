"""The bundled sample (a site dump the team wrote): known questions, known answers, known pairs."""

import json
from collections import Counter

import datasets
import polars as pl
import pytest
from conftest import run_build
from helpers import read_config

from stackpref.sources import bundled_sample
from stackpref.sources.posts_xml import read_posts_xml

pytestmark = pytest.mark.slow

QUESTION_9_PROMPT = '''Question: Python script to log brew temperature writes duplicate rows and skips seconds

I wrote a small script that logs the water temperature from a USB thermocouple reader while I do pour-overs, so I can compare brews afterwards. It mostly works, but the CSV ends up with duplicate timestamps and sometimes a gap of several seconds.

```
import csv
import time
import serial

port = serial.Serial("/dev/ttyUSB0", 9600, timeout=1)

with open("brew_log.csv", "a", newline="") as fh:
    writer = csv.writer(fh)
    while True:
        line = port.readline().decode().strip()
        if not line:
            continue
        temp = float(line)
        if temp < 93:
            print("warning: water below 93 C")
        writer.writerow([int(time.time()), temp])
        time.sleep(1)
```

The reader sends a value roughly every 500 ms. Why do I get duplicates & gaps, and how should I structure this so every reading ends up in the file exactly once with a sensible timestamp?

Answer:'''


@pytest.fixture(scope="module")
def all_pairs_build(tmp_path_factory):
    """Every question in the pairs train split, so each question's pairs can be checked."""
    out = tmp_path_factory.mktemp("allpairs") / "out"
    run_build(out, split={"sft": 0.0, "train": 1.0, "test": 0.0})
    return out


def test_golden_question_markdown_and_pairs(all_pairs_build):
    pairs = read_config(all_pairs_build, "pairs").filter(pl.col("question_id") == 9).sort("chosen_id", "rejected_id")
    assert pairs["prompt"].unique().to_list() == [QUESTION_9_PROMPT]
    # Answers 10 (score 31, accepted: pm 5+1), 11 (12: pm 4), 12 (4: pm 2), 13 (0: pm 0).
    assert pairs.select("chosen_id", "rejected_id", "chosen_pm_score", "rejected_pm_score", "margin").rows() == [
        (10, 11, 6, 4, 2), (10, 12, 6, 2, 4), (10, 13, 6, 0, 6), (11, 12, 4, 2, 2), (11, 13, 4, 0, 4), (12, 13, 2, 0, 2),
    ]
    chosen_10 = pairs.filter(pl.col("chosen_id") == 10)["chosen"][0]
    assert chosen_10.startswith(" There are two separate problems.\n\n**1. `time.sleep(1)` fights the device.**")
    assert "```py\nimport csv\nimport time\nimport serial\n\nTHRESHOLD_C = 93.0\n" in chosen_10
    assert "if temp < THRESHOLD_C and elapsed > 5:" in chosen_10  # &lt; in the dump, < in the code
    row = pairs.row(0, named=True)
    assert row["question_url"] == "https://coffee.sample.invalid/questions/9"
    assert row["chosen_accepted"] is True and row["rejected_accepted"] is False


def test_low_score_accepted_answer_gets_its_bonus(all_pairs_build):
    # Question 27: accepted answer 28 has score 1 (pm 1 + 1 = 2).
    pairs = read_config(all_pairs_build, "pairs")
    side = pairs.filter(pl.col("chosen_id") == 28)
    side = side if side.height else pairs.filter(pl.col("rejected_id") == 28)
    accepted_pm = side["chosen_pm_score"][0] if side["chosen_id"][0] == 28 else side["rejected_pm_score"][0]
    assert accepted_pm == 2


def test_ties_never_pair_and_margins_hold(all_pairs_build):
    pairs = read_config(all_pairs_build, "pairs")
    assert (pairs["margin"] >= 1).all()
    assert (pairs["chosen_pm_score"] - pairs["rejected_pm_score"] == pairs["margin"]).all()
    # Question 104's answers 106 and 107 both score 23: never a pair between them, yet each pairs
    # with answer 105 (score 87, accepted).
    tied = pairs.filter(pl.col("chosen_id").is_in([106, 107]) & pl.col("rejected_id").is_in([106, 107]))
    assert tied.height == 0
    assert pairs.filter((pl.col("chosen_id") == 105) & pl.col("rejected_id").is_in([106, 107])).height == 2


def test_duplicate_answer_keeps_higher_score(all_pairs_build):
    pairs = read_config(all_pairs_build, "pairs")
    ids = set(pairs["chosen_id"].to_list()) | set(pairs["rejected_id"].to_list())
    assert 109 in ids and 110 not in ids  # same body; 109 scored 4, 110 scored 1
    manifest = json.loads((all_pairs_build / "manifest.json").read_text())
    assert manifest["counts"]["funnel"]["answers"]["dropped"]["duplicate_answer"] == 1


def test_exact_duplicate_questions_share_cluster_and_split(sample_build):
    rows = pl.concat([read_config(sample_build, "pairs").select("question_id", "cluster_id", "split"),
                      read_config(sample_build, "sft").select("question_id", "cluster_id", "split")])
    dup = rows.filter(pl.col("question_id").is_in([5, 101])).unique()
    assert dup["cluster_id"].n_unique() == 1 and dup["split"].n_unique() == 1
    assert set(dup["question_id"]) == {5, 101}


def test_authors_and_licence_kept(all_pairs_build):
    pairs = read_config(all_pairs_build, "pairs")
    assert pairs.filter(pl.col("question_id") == 115)["question_author"].null_count() > 0  # no owner at all
    assert "Marguerite D." in pairs["chosen_author"].to_list() + pairs["rejected_author"].to_list()
    assert pairs["license"].unique().to_list() == ["CC BY-SA 4.0"]


def test_sample_meets_its_brief():
    raw = bundled_sample().read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf<?xml")
    assert b"\r\n" in raw and b"<pre><code>" not in raw  # escaped HTML, CRLF like the real dumps
    skipped = Counter()
    posts = pl.concat(pl.from_arrow(b) for b in read_posts_xml([raw], site="s", source="sample", skipped=skipped))
    answers = posts.filter(pl.col("post_type") == 2)
    per_question = answers.group_by("parent_id").len()
    assert per_question.filter(pl.col("len") >= 2).height >= 30
    assert (answers["score"] < 0).sum() >= 3
    assert posts.filter(pl.col("owner_user_id").is_null() & pl.col("owner_display_name").is_null()).height >= 2
    assert posts["body"].str.contains("<pre><code>").sum() >= 5  # the reader keeps HTML; pass 1 converts it
    assert set(skipped) == {"post_type_4", "post_type_5", "post_type_7"}


def test_sample_build_loads_with_datasets_and_has_no_leak(sample_build):
    manifest = json.loads((sample_build / "manifest.json").read_text())
    for config in ("pairs", "sft"):
        loaded = datasets.load_dataset(str(sample_build), config)
        assert set(loaded) == {"train", "test"}
        for split in ("train", "test"):
            assert loaded[split].num_rows == manifest["counts"]["splits"][config][split] > 0
    assert manifest["overlap_check"]["passed"]
    assert manifest["counts"]["splits"]["pairs"]["train"] >= 30
