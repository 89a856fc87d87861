"""The parts of `stackpref eval` that need no model: bootstrap intervals, the paired difference, the
two-order verdicts, reading pairs (TRL's prompt split), the breakdowns, and the command's error paths
(the length-controlled win rate is in test_eval_lc.py)."""

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from stackpref.eval import stats
from stackpref.eval.accuracy import _groups
from stackpref.eval.data import data_hash, extract_prompt, load_pairs, pm_margin_bucket
from stackpref.eval.scoring import batches

from stackpref.cli import cli
from stackpref.errors import InputError


def test_outcomes_count_ties_half():
    assert stats.outcomes([2, 1, 0.5], [1, 1, 0.7]).tolist() == [1.0, 0.5, 0.0]


def test_bootstrap_is_seeded_and_covers_the_mean():
    values = np.random.default_rng(3).normal(1.0, 2.0, 500)
    mean, low, high = stats.mean_ci(values, samples=2000, seed=7)
    assert (mean, low, high) == stats.mean_ci(values, samples=2000, seed=7)
    assert low < mean < high
    standard_error = values.std() / np.sqrt(values.size)
    assert high - low == pytest.approx(2 * 1.96 * standard_error, rel=0.15)


def test_bootstrap_in_blocks_keeps_the_interval(monkeypatch):
    values = np.arange(50, dtype=float)
    whole = stats.mean_ci(values, samples=2000, seed=1)
    monkeypatch.setattr(stats, "_BLOCK", 50 * 7)  # 7 resamples per block, as with a huge n
    blocked = stats.mean_ci(values, samples=2000, seed=1)
    assert blocked[0] == whole[0]
    assert blocked[1:] == pytest.approx(whole[1:], abs=0.6)


def test_a_win_or_loss_needs_both_orders():
    first = [1, 1, 0, 0, 0.5, 1]
    second = [1, 0, 0, 1, 0.5, 0.5]
    assert stats.combine_orders(first, second).tolist() == [1.0, 0.5, 0.0, 0.5, 0.5, 0.5]


def test_paired_difference_cancels_what_the_pairs_share():
    """Two runs right on the same hard/easy pairs except 10 of 200: the paired interval is far narrower
    than either run's own and holds the true difference of 5 points."""
    a = np.tile([1.0, 0.0], 100)
    b = a.copy()
    b[np.flatnonzero(a == 0)[:10]] = 1.0
    diff, low, high = stats.paired_difference_ci(a, b, samples=2000, seed=0)
    own = stats.mean_ci(a, samples=2000, seed=0)
    assert diff == pytest.approx(0.05) and low <= 0.05 <= high and low > 0
    assert high - low < (own[2] - own[1]) / 2


def test_batches_sort_by_length_and_respect_the_budget():
    lengths = np.array([5, 50, 20, 49, 3, 100])
    packed = batches(lengths, width=2, batch_tokens=200)
    assert [b.tolist() for b in packed] == [[5], [1, 3], [2, 0, 4]]  # 2 x 100; 2 x 2 x 50; 3 x 2 x 20


def test_shared_prefix_dialogues_split_like_trl():
    from trl.data_utils import extract_prompt as trl_extract_prompt

    cases = [("Q: why?\n\nA: because x", "Q: why?\n\nA: no"), ("Human: hi Assistant: yes", "Human: hi Assistant: yo"),
             ("Human: hi Assistant: ok", "Human: hi Assistant: ok then"),  # a prefix: its last character is
             ("A: x ", "A: x y"), ("same", "same"),  # the shorter response, never an empty one
             ("a ", "b"), ("x", "y")]  # the first character differs: TRL then reads index -1
    for chosen, rejected in cases:
        theirs = trl_extract_prompt({"chosen": chosen, "rejected": rejected})
        assert extract_prompt(chosen, rejected) == (theirs["prompt"], theirs["chosen"], theirs["rejected"])
    assert extract_prompt("A: x ", "A: x y") == ("A: x", " ", " y")


def test_pairs_from_files(tmp_path):
    (tmp_path / "dialogues.jsonl").write_text(
        json.dumps({"chosen": "Q: a?\n\nA: good", "rejected": "Q: a?\n\nA: bad", "site": "x"}) + "\n")
    frame = load_pairs(str(tmp_path / "dialogues.jsonl"))
    assert frame.select("prompt", "chosen", "rejected").row(0) == ("Q: a?\n\nA:", " good", " bad")
    pl.DataFrame({"prompt": ["p"], "chosen": ["c"]}).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="lack the column\\(s\\) rejected"):
        load_pairs(str(tmp_path / "bad.parquet"))
    with pytest.raises(InputError, match="no such file or folder"):
        load_pairs(str(tmp_path / "missing"))


def test_data_hash_sees_every_text_and_the_boundaries():
    one = pl.DataFrame({"prompt": ["ab"], "chosen": ["c"], "rejected": ["d"]})
    moved = pl.DataFrame({"prompt": ["a"], "chosen": ["bc"], "rejected": ["d"]})
    assert data_hash(one) == data_hash(one.clone()) != data_hash(moved)


def test_breakdowns_by_margin_site_and_longer_side():
    frame = pl.DataFrame({
        "prompt": ["p"] * 5, "chosen": ["long answer", "a", "bb", "same", "x"], "rejected": ["b", "longer", "cc", "same",
                                                                                          "y"],
        "site": ["s1", "s1", "s2", "s2", None], "margin": [1, 2, 3, 7, None],
    })
    assert pm_margin_bucket(frame).to_list() == ["1", "2", "3+", "3+", "unknown"]
    groups = {k: {label: rows.tolist() for label, rows in v.items()} for k, v in _groups(frame).items()}
    assert groups["margin_bucket"] == {"1": [0], "2": [1], "3+": [2, 3], "unknown": [4]}
    assert groups["site"] == {"s1": [0, 1], "s2": [2, 3], "unknown": [4]}
    assert groups["longer_side"] == {"chosen longer": [0], "rejected longer": [1], "same length": [2, 3, 4]}


def test_command_errors_exit_with_their_codes(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["eval"])
    assert result.exit_code == 2 and "give a CHECKPOINT" in result.output
    result = runner.invoke(cli, ["eval", str(tmp_path), "--judge", "llm"])
    assert result.exit_code == 2 and "--judge-url" in result.output
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text("{}")
    result = runner.invoke(cli, ["eval", str(tmp_path), "--output", str(tmp_path / "out")])
    assert result.exit_code == 4 and "--overwrite" in result.output
    result = runner.invoke(cli, ["eval", "--compare", str(tmp_path / "out"), str(tmp_path)])
    assert result.exit_code == 3 and "report format" in result.output
