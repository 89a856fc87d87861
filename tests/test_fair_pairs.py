"""Fair pairs (issue 14): the bias diagnostics recomputed from the written rows, SHP's time-fair and
score-ratio rules, and the length-balanced subset, on the real dumps in ../shared and on hand-made
frames for the edge cases (equal timestamps, missing dates, scores that are not both positive)."""

import datetime
import json
import statistics
from collections import Counter

import polars as pl
import pytest
from conftest import REPO, SHARED_SITES, needs_shared, run_build
from helpers import invoke, read_config
from steps_frames import bucket, context, pairs, ready_answers, ready_questions

from stackpref.config import BuildConfig
from stackpref.errors import ConfigError
from stackpref.steps.fairness import balance_length, keep_fair_pairs
from stackpref.steps.outcome import keep_questions_with_rows
from stackpref.steps.pairing import pair_at_margin

QC = SHARED_SITES / "quantumcomputing-2018"
SAMPLE = REPO / "stackpref" / "sample"
WIDE = 1000  # pairs per question: the cap never binds, so a rule's output is the default's filtered by it


def _manifest(out) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _when(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def _pair_ids(out) -> set[tuple[int, int]]:
    return set(read_config(out, "pairs").select("chosen_id", "rejected_id").iter_rows())


@pytest.fixture(scope="module")
def qc_builds(tmp_path_factory) -> dict:
    """quantumcomputing-2018 with the cap out of the way: default, later-wins, score ratio 2."""
    if not SHARED_SITES.is_dir():
        pytest.skip(f"{SHARED_SITES} is absent")
    root = tmp_path_factory.mktemp("fair-qc")
    options = {"default": {}, "later": {"pairing": "later-wins"}, "ratio": {"min_score_ratio": 2.0}}
    for name, extra in options.items():
        run_build(root / name, QC, max_pairs_per_question=WIDE, **extra)
    return {name: root / name for name in options}


@pytest.fixture(scope="module")
def six_later(tmp_path_factory):
    if not SHARED_SITES.is_dir():
        pytest.skip(f"{SHARED_SITES} is absent")
    out = tmp_path_factory.mktemp("fair-later") / "out"
    run_build(out, SHARED_SITES, pairing="later-wins")
    return out


@pytest.fixture(scope="module")
def six_balanced(tmp_path_factory):
    if not SHARED_SITES.is_dir():
        pytest.skip(f"{SHARED_SITES} is absent")
    out = tmp_path_factory.mktemp("fair-balanced") / "out"
    run_build(out, SHARED_SITES, balance_length=True)
    return out


# --- later-wins and the score ratio on a real dump ------------------------------------------------


@needs_shared
def test_later_wins_keeps_only_pairs_whose_chosen_is_newer(qc_builds):
    from lxml import etree

    out = qc_builds["later"]
    rows = read_config(out, "pairs")
    assert rows.height > 50
    dump = {int(row.get("Id")): row.get("CreationDate")
            for _, row in etree.iterparse(str(QC / "Posts.xml"), tag="row") if row.get("PostTypeId") == "2"}
    for chosen_id, rejected_id, chosen_date, rejected_date in rows.select(
            "chosen_id", "rejected_id", "chosen_creation_date", "rejected_creation_date").iter_rows():
        assert (chosen_date, rejected_date) == (dump[chosen_id], dump[rejected_id])  # the dump's own dates
        assert _when(chosen_date) > _when(rejected_date), (chosen_id, rejected_id)
    assert _manifest(out)["counts"]["funnel"]["pairs"]["dropped"]["chosen_posted_first"] > rows.height


@needs_shared
def test_later_wins_is_the_default_pairs_filtered_by_posting_time(qc_builds):
    default = read_config(qc_builds["default"], "pairs")
    newer = default.filter(pl.col("chosen_creation_date").str.to_datetime() > pl.col("rejected_creation_date")
                           .str.to_datetime())
    assert _pair_ids(qc_builds["later"]) == set(newer.select("chosen_id", "rejected_id").iter_rows())
    dropped = _manifest(qc_builds["later"])["counts"]["funnel"]["pairs"]["dropped"]
    fair = {"chosen_posted_first", "posted_same_moment", "no_answer_dates"}
    assert sum(n for reason, n in dropped.items() if reason in fair) == default.height - newer.height


@needs_shared
def test_min_score_ratio_keeps_the_default_pairs_that_meet_it(qc_builds):
    default, kept = read_config(qc_builds["default"], "pairs"), read_config(qc_builds["ratio"], "pairs")
    both_positive = (pl.col("chosen_score") > 0) & (pl.col("rejected_score") > 0)
    meets = ~both_positive | (pl.col("chosen_score") >= 2 * pl.col("rejected_score"))
    assert kept.filter(both_positive).height > 20 and kept.filter(~both_positive).height > 20  # both cases seen
    assert kept.filter(~meets).is_empty()
    assert _pair_ids(qc_builds["ratio"]) == set(default.filter(meets).select("chosen_id", "rejected_id").iter_rows())
    dropped = _manifest(qc_builds["ratio"])["counts"]["funnel"]["pairs"]["dropped"]
    assert dropped["below_min_score_ratio"] == default.filter(~meets).height > 0


# --- the diagnostics add up with the rows --------------------------------------------------------


def _recomputed(rows: list[dict]) -> dict:
    """The diagnostics from the rows, written out here apart from stackpref/output/bias.py."""
    dated = [r for r in rows if r["chosen_creation_date"] and r["rejected_creation_date"]]
    scored = [r["chosen_score"] - r["rejected_score"] for r in rows
              if r["chosen_score"] is not None and r["rejected_score"] is not None]
    ages = [(_when(r["rejected_creation_date"]) - _when(r["chosen_creation_date"])).total_seconds() / 86400
            for r in dated]
    n = len(rows)
    return {
        "pairs": n,
        "dated_pairs": len(dated),
        "chosen_older": sum(_when(r["chosen_creation_date"]) < _when(r["rejected_creation_date"]) for r in dated)
        / len(dated),
        "chosen_longer": sum(r["chosen_length"] > r["rejected_length"] for r in rows) / n,
        "chosen_accepted": sum(bool(r["chosen_accepted"]) for r in rows) / n,
        "chosen_by_asker": sum(r["chosen_author"] is not None and r["chosen_author"] == r["question_author"]
                               for r in rows) / n,
        "median_score_gap": statistics.median(scored),
        "median_age_gap_days": statistics.median(ages),
    }


def _assert_same(recorded: dict, fresh: dict, where: str) -> None:
    for name, value in fresh.items():
        tolerance = 1e-3 if name == "median_age_gap_days" else 1e-12  # the manifest rounds the age to 0.001 days
        assert recorded[name] == pytest.approx(value, abs=tolerance), (where, name)


@needs_shared
@pytest.mark.parametrize("build", ["real_build", "six_later"])
def test_diagnostics_add_up_with_the_written_rows(build, request):
    out = request.getfixturevalue(build)
    bias = _manifest(out)["counts"]["pair_bias"]
    rows = read_config(out, "pairs").to_dicts()
    _assert_same(bias["all"], _recomputed(rows), "all")
    sites = sorted({r["site"] for r in rows})
    assert list(bias["sites"]) == sites and len(sites) == 5
    for site in sites:
        _assert_same(bias["sites"][site], _recomputed([r for r in rows if r["site"] == site]), site)
    for split in ("train", "test"):
        _assert_same(bias["splits"][split], _recomputed([r for r in rows if r["split"] == split]), split)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"| all | {bias['all']['pairs']:,} | {bias['all']['chosen_older']:.1%} |" in card
    assert "| pairs of | pairs | chosen older | chosen longer |" in card


@needs_shared
def test_later_wins_flips_the_age_bias(real_build, six_later):
    default, later = (_manifest(out)["counts"]["pair_bias"]["all"] for out in (real_build, six_later))
    assert default["chosen_older"] > 0.6 and default["median_age_gap_days"] > 0  # the bias the issue reports
    assert later["chosen_older"] == 0 and later["median_age_gap_days"] < 0


@needs_shared
def test_inspect_shows_the_bias_table(six_later):
    result = invoke("inspect", six_later, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["bias"] == _manifest(six_later)["counts"]["pair_bias"]
    result = invoke("inspect", six_later)
    assert result.exit_code == 0 and "bias diagnostics" in result.output


# --- balance-length --------------------------------------------------------------------------------


@needs_shared
def test_balance_length_balances_every_site(six_balanced, real_build):
    """Balanced bucket by bucket, so exactly per site: as many pairs with the longer answer chosen as
    with the shorter. The share of "chosen longer" is then 0.5 less half the share of equal lengths
    (kept, neither longer nor shorter): the tolerance is that, not a sampling error."""
    rows = read_config(six_balanced, "pairs")
    assert rows.height > 500
    sign = (pl.col("chosen_length") - pl.col("rejected_length")).sign()
    per_site = rows.group_by("site").agg(longer=(sign == 1).sum(), shorter=(sign == -1).sum(), ties=(sign == 0).sum(),
                                         n=pl.len())
    bias = _manifest(six_balanced)["counts"]["pair_bias"]["sites"]
    for site, longer, shorter, ties, n in per_site.iter_rows():
        assert longer == shorter > 0, site
        assert bias[site]["chosen_longer"] == pytest.approx(0.5 - ties / (2 * n)), site
        assert 0.45 <= bias[site]["chosen_longer"] <= 0.5, site
    # After the cap, from the same seeded draws: a subset of the default build's pairs.
    assert _pair_ids(six_balanced) <= _pair_ids(real_build)
    counts = _manifest(six_balanced)["counts"]
    before = read_config(real_build, "pairs").height
    assert counts["length_balance"] == {"pairs_before": before, "pairs_kept": rows.height,
                                        "kept_share": rows.height / before}
    assert counts["funnel"]["pairs"]["dropped"]["length_balance"] == before - rows.height
    assert f"`--balance-length` kept {rows.height:,} of {before:,} pairs" in (six_balanced / "README.md").read_text()


@needs_shared
def test_balance_length_is_seeded(six_balanced, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    run_build(again, SHARED_SITES, balance_length=True)
    run_build(other, SHARED_SITES, balance_length=True, seed=7)
    assert _pair_ids(again) == _pair_ids(six_balanced)
    assert _pair_ids(other) != _pair_ids(six_balanced)


# --- ready-made pairs: no answer dates, no scores ------------------------------------------------

_HOST = "tea.stackexchange.com"
_READY = [(1, "How long should green tea steep?", "Two minutes at 80 C; hotter water turns it bitter.", "An hour."),
          (2, "Does milk ruin black tea?", "No: it binds some tannins, so the cup tastes smoother.", "Yes, always."),
          (3, "Can I reuse tea leaves?", "Oolong and pu-erh give several good steeps; teabags do not.", "Never.")]


def test_ready_made_pairs_have_no_dates_and_later_wins_drops_them_counted(tmp_path):
    paired = tmp_path / "paired.jsonl"
    paired.write_text("".join(json.dumps({
        "qid": qid, "question": question, "date": "2020/05/01", "metadata": [f"https://{_HOST}/questions/{qid}"],
        "response_j": good, "response_k": bad}) + "\n" for qid, question, good, bad in _READY), encoding="utf-8")
    sample = next(SAMPLE.iterdir())
    split = {"sft": 0.0, "train": 0.5, "test": 0.5}
    run_build(tmp_path / "score", sample, paired, split=split)
    run_build(tmp_path / "later", sample, paired, split=split, pairing="later-wins", min_score_ratio=2.0)
    given = read_config(tmp_path / "score", "pairs").filter(pl.col("site") == _HOST)
    assert given.height == len(_READY)
    assert given.select("chosen_creation_date", "rejected_creation_date", "chosen_score").null_count().row(0) == (3, 3, 3)
    bias = _manifest(tmp_path / "score")["counts"]["pair_bias"]["sites"][_HOST]
    assert bias["pairs"] == 3 and bias["dated_pairs"] == 0 and bias["chosen_older"] is None
    assert bias["median_score_gap"] is None
    later = _manifest(tmp_path / "later")["counts"]
    assert later["funnel"]["pairs"]["dropped"]["no_answer_dates"] == len(_READY)  # unknown scores: the ratio rule keeps them
    assert _HOST not in later["pair_bias"]["sites"]


# --- the rules on hand-made frames ---------------------------------------------------------------


def _answers(*rows):
    """Three answers of question 1 with pm_scores 3 > 2 > 1, so every pair is made: (11, 12), (11, 13), (12, 13)."""
    defaults = [{"answer_id": 11, "pm_score": 3}, {"answer_id": 12, "pm_score": 2}, {"answer_id": 13, "pm_score": 1}]
    return ready_answers(*({"question_id": 1, **d, **r} for d, r in zip(defaults, rows)))


def _made(answers, **config):
    made, _ = pair_at_margin(bucket(ready_questions({"question_id": 1}), answers), context(**config))
    return made, context(**config)


def test_later_wins_drops_earlier_equal_and_undated_chosen():
    answers = _answers({"creation_date": "2020-01-03T00:00:00.000"}, {"creation_date": "2020-01-03T00:00:00"},
                       {"creation_date": None})
    made, ctx = _made(answers, pairing="later-wins")
    out, drops = keep_fair_pairs(made, ctx)
    assert drops == Counter(posted_same_moment=1, no_answer_dates=2) and out.pairs.is_empty()
    answers = _answers({"creation_date": "2020-01-03T10:00"}, {"creation_date": "2020-01-02"},
                       {"creation_date": "2020-01-03T10:00:00.001"})
    out, drops = keep_fair_pairs(*_made(answers, pairing="later-wins"))
    assert drops == Counter(chosen_posted_first=2)
    assert out.pairs.select("chosen_answer_id", "rejected_answer_id").rows() == [(11, 12)]


def test_score_ratio_applies_only_where_both_scores_are_positive():
    answers = _answers({"score": 5}, {"score": 3}, {"score": 0})
    out, drops = keep_fair_pairs(*_made(answers, min_score_ratio=2.0))
    assert drops == Counter(below_min_score_ratio=1)  # 5 < 2 x 3; 5 vs 0 and 3 vs 0 are not checked
    assert sorted(out.pairs.select("chosen_answer_id", "rejected_answer_id").rows()) == [(11, 13), (12, 13)]


def test_defaults_leave_the_pairs_alone():
    made, ctx = _made(_answers({}, {}, {}))
    for step in (keep_fair_pairs, balance_length):
        out, drops = step(made, ctx)
        assert out is made and drops == Counter()


def test_a_question_whose_pairs_all_fail_is_counted_under_the_rule():
    answers = _answers({"creation_date": "2020-01-01"}, {"creation_date": "2020-01-02"}, {"creation_date": "2020-01-03"})
    made, ctx = _made(answers, pairing="later-wins")
    out, _ = keep_fair_pairs(made, ctx)
    out = bucket(out.questions, out.answers, sft=made.answers.clear(), pairs=out.pairs, emptied=out.emptied,
                 paired_questions=out.pairs.select("site", "question_id"))
    _, drops = keep_questions_with_rows(out, ctx)
    assert drops == Counter(no_fair_pair=1)


def test_balance_length_keeps_ties_and_the_smaller_side():
    longer = [(q, 1, 2) for q in range(1, 6)]
    made = pairs(*longer, (6, 1, 2), (7, 1, 2)).with_columns(
        chosen_response_length=pl.Series([30, 30, 30, 30, 30, 10, 20]), rejected_response_length=pl.Series([20] * 7))
    out, drops = balance_length(bucket(ready_questions({"question_id": 1}), pairs=made), context(balance_length=True))
    assert drops == Counter(length_balance=4)  # 5 longer, 1 shorter, 1 tie: keep 1 longer, the shorter and the tie
    assert sorted(out.pairs["question_id"].to_list())[-2:] == [6, 7]


# --- config ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, message", [
    ({"pairing": "oldest"}, "pairing must be score or later-wins; got 'oldest'"),
    ({"min_score_ratio": 0}, r"min_score_ratio must be > 0 \(SHP uses 2\), or unset to turn it off; got 0"),
    ({"min_score_ratio": -1.5}, "min_score_ratio must be > 0"),
    ({"min_score_ratio": float("inf")}, "min_score_ratio: expected a finite number or null; got inf"),
    ({"balance_length": "yes"}, "balance_length: expected true or false"),
])
def test_bad_values_are_one_line_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        BuildConfig(**values)


def test_build_help_names_the_options():
    result = invoke("build", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for needle in ("--pairing [score|later-wins]", "--min-score-ratio R", "--balance-length", "stack-exchange-paired"):
        assert needle in text, needle
