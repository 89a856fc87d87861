"""Near-duplicate questions and answers through a whole build, on two small hand-written sites."""

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import run_build
from helpers import dump_row, read_config

pytestmark = pytest.mark.slow

ESPRESSO = (
    "My espresso shots run fast and taste sour even though I grind very fine. I use a bottomless "
    "portafilter, eighteen grams in and thirty six grams out, and the shot finishes in about fifteen "
    "seconds. The beans were roasted ten days ago by a local roaster. I have tried tamping harder and "
    "it made no difference at all. What else should I change first, the dose, the grind or the beans?"
    ' The machine is a single boiler with a PID, set to ninety three degrees, and I let it warm up for half an hour before the first shot. My grinder is a flat burr model that I bought second hand last spring, and I clean it every weekend with a brush. The water is filtered tap water with moderate hardness, and I buy the same medium roast from the same shop every two weeks. I weigh every dose on a scale with a resolution of a tenth of a gram, and I distribute with a needle tool before tamping.'
)
# The same question reposted on another site: two sentences swapped and a word changed.
ESPRESSO_REPOST = (
    "My espresso shots run fast and taste sour even though I grind very fine. The beans were roasted "
    "ten days ago by a local roaster. I use a bottomless portafilter, eighteen grams in and thirty six "
    "grams out, and the shot finishes in about fifteen seconds. I have tried tamping harder and it "
    "made no difference at all. What else should I change first, the dose, the grind or the coffee?"
    ' The machine is a single boiler with a PID, set to ninety three degrees, and I let it warm up for half an hour before the first shot. My grinder is a flat burr model that I bought second hand last spring, and I clean it every weekend with a brush. The water is filtered tap water with moderate hardness, and I buy the same medium roast from the same shop every two weeks. I weigh every dose on a scale with a resolution of a tenth of a gram, and I distribute with a needle tool before tamping.'
)
KETTLE = (
    "Is it safe to leave water standing in an electric gooseneck kettle overnight? I fill it in the "
    "evening so the morning pour over is quicker, but a friend said standing water tastes flat and "
    "might grow something. The kettle is stainless steel inside and I descale it every month."
)
ANSWER = (
    "Flat taste comes from dissolved gas leaving the water, not from anything growing in it. Reheating "
    "drives off more gas anyway, so for brewing it makes almost no difference. Empty and rinse it once "
    "a day if the flat taste bothers you, and keep descaling monthly as you already do. Limescale, "
    "not standing water, is what changes the taste of a kettle over months, and a stainless kettle "
    "does not leach anything into water left in it for a night."
)
ANSWER_EDIT = ANSWER.replace("almost no difference", "very little difference")


def write_site(folder: Path, questions: list[tuple[int, str, str, list[tuple[int, int, str]]]]) -> Path:
    """questions: (id, title, body, [(answer id, score, body)])."""
    lines = []
    for qid, title, body, answers in questions:
        lines.append(dump_row(Id=qid, PostTypeId=1, CreationDate="2020-01-01T00:00:00.000", Score=3,
                         Body=f"<p>{body}</p>", OwnerUserId=1, Title=title, Tags="<brewing>",
                         AnswerCount=len(answers)))
        for aid, score, text in answers:
            lines.append(dump_row(Id=aid, PostTypeId=2, ParentId=qid, CreationDate="2020-01-02T00:00:00.000",
                             Score=score, Body=f"<p>{text}</p>", OwnerUserId=aid))
    folder.mkdir(parents=True)
    path = folder / "Posts.xml"
    path.write_text('\ufeff<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(lines) + "\n</posts>",
                    encoding="utf-8")
    return path


@pytest.fixture
def two_sites(tmp_path) -> Path:
    root = tmp_path / "sites"
    write_site(root / "coffee.example.org-2020", [
        (1, "Sour fast espresso shots", ESPRESSO,
         [(2, 10, "Grind finer until the shot takes thirty seconds."), (3, 2, "Use fresher beans."),
          (4, 0, "Buy a better grinder, a fine setting on a cheap burr set still makes boulders.")]),
        (5, "Water left in the kettle overnight", KETTLE,
         [(6, 7, ANSWER), (7, 1, ANSWER_EDIT), (8, 0, "Boil fresh water every time, it tastes better.")]),
    ])
    write_site(root / "baristas.example.org-2021", [
        (10, "Sour fast espresso shots", ESPRESSO_REPOST,
         [(11, 5, "Check the burrs: worn burrs cannot grind fine enough."), (12, 1, "Dose nineteen grams.")]),
    ])
    return root


def rows(out: Path) -> pl.DataFrame:
    return pl.concat([
        read_config(out, c).select("site", "question_id", "cluster_id", "split") for c in ("pairs", "sft")
    ]).unique()


def funnel(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["counts"]


def test_near_duplicates_across_sites_share_cluster_and_split(two_sites, tmp_path):
    for seed in range(5):  # whatever split the cluster draws, both questions follow it
        out = tmp_path / f"out{seed}"
        run_build(out, two_sites, seed=seed, split={"sft": 0.34, "train": 0.33, "test": 0.33})
        found = rows(out).filter(pl.col("question_id").is_in([1, 10]))
        assert set(found["site"]) == {"coffee.example.org", "baristas.example.org"}
        assert found["cluster_id"].n_unique() == 1 and found["split"].n_unique() == 1
    clusters = funnel(out)["question_clusters"]
    assert clusters["verified_pairs"] == 1 and clusters["size_histogram"] == {"2": 1}


def test_without_near_dup_the_repost_is_its_own_cluster(two_sites, tmp_path):
    out = tmp_path / "out"
    run_build(out, two_sites, near_dup=False, split={"sft": 0.0, "train": 1.0, "test": 0.0})
    found = rows(out).filter(pl.col("question_id").is_in([1, 10]))
    assert found["cluster_id"].n_unique() == 2


def test_keep_one_keeps_the_question_with_most_answers(two_sites, tmp_path):
    out = tmp_path / "out"
    run_build(out, two_sites, near_dup_policy="keep-one", split={"sft": 0.0, "train": 1.0, "test": 0.0})
    assert set(rows(out)["question_id"]) == {1, 5}  # question 1 has 3 answers, its repost 10 has 2
    counts = funnel(out)["funnel"]
    assert counts["questions"]["dropped"]["near_duplicate_question"] == 1
    assert counts["answers"]["dropped"]["question_dropped"] == 2


def test_near_duplicate_answer_keeps_the_better_one(two_sites, tmp_path):
    out = tmp_path / "out"
    run_build(out, two_sites, split={"sft": 0.0, "train": 1.0, "test": 0.0})
    pairs = read_config(out, "pairs").filter(pl.col("question_id") == 5)
    ids = set(pairs["chosen_id"]) | set(pairs["rejected_id"])
    assert 6 in ids and 7 not in ids  # 7 is 6 edited and posted again, with a lower score
    assert funnel(out)["funnel"]["answers"]["dropped"]["near_duplicate_answer"] == 1


def test_workers_do_not_change_the_output(two_sites, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run_build(one, two_sites, workers=1)
    run_build(two, two_sites, workers=2)
    files = sorted(p.relative_to(one) for p in (one / "data").rglob("*.parquet"))
    assert files == sorted(p.relative_to(two) for p in (two / "data").rglob("*.parquet"))
    for path in files:
        assert (one / path).read_bytes() == (two / path).read_bytes()
