"""The parts of `stackpref eval` a reader sees, without a model: foreign inputs (gzip, hh-rlhf's
dialogues), the printed table, `--compare`'s header and paired CIs, the plots, the self-judge guard,
the defaults in --help, the train_config defaults, and the reference cache's key."""

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from stackpref.eval import metrics, models, plots, refcache, report
from stackpref.eval.compare import compare, labels
from stackpref.eval.config import EvalConfig
from stackpref.eval.data import extract_prompt, load_pairs

from stackpref.cli import cli
from stackpref.errors import ConfigError, InputError

HH_RLHF = Path(__file__).resolve().parents[2] / "shared" / "data" / "pairs" / "hh-rlhf-harmless-base-test.jsonl.gz"


@pytest.mark.skipif(not HH_RLHF.is_file(), reason=f"{HH_RLHF} is absent: the real hh-rlhf file lives in ../shared")
def test_hh_rlhf_as_published_splits_like_trl_on_every_row():
    from trl.data_utils import extract_prompt as trl_extract_prompt

    frame = load_pairs(str(HH_RLHF))  # the .jsonl.gz itself, not a decompressed copy
    with gzip.open(HH_RLHF, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    assert frame.height == len(rows) > 2000
    expected = [trl_extract_prompt(row) for row in rows]
    for column in ("prompt", "chosen", "rejected"):
        assert frame[column].to_list() == [e[column] for e in expected], column
    assert (frame["chosen"].str.len_chars() > 0).all() and (frame["rejected"].str.len_chars() > 0).all()


def test_gzip_inputs_and_a_broken_one(tmp_path):
    rows = [{"chosen": "Q: a?\n\nA: good", "rejected": "Q: a?\n\nA: bad"}]
    for name in ("pairs.jsonl.gz", "pairs.json.gz"):
        (tmp_path / name).write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
        assert load_pairs(str(tmp_path / name)).select("prompt", "chosen", "rejected").row(0) == (
            "Q: a?\n\nA:", " good", " bad")
    (tmp_path / "cut.jsonl.gz").write_bytes((tmp_path / "pairs.jsonl.gz").read_bytes()[:-8])
    with pytest.raises(InputError, match=r"cut.jsonl.gz: not readable as jsonl.gz"):
        load_pairs(str(tmp_path / "cut.jsonl.gz"))
    (tmp_path / "pairs.csv.gz").write_bytes(b"")
    with pytest.raises(InputError, match=r"\.parquet, \.jsonl or \.json file \(optionally \.gz\)"):
        load_pairs(str(tmp_path / "pairs.csv.gz"))


def test_empty_dialogue_is_a_clear_error(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"chosen": "", "rejected": "x"}) + "\n")
    with pytest.raises(InputError, match="row 0 has an empty chosen or rejected dialogue"):
        load_pairs(str(tmp_path / "p.jsonl"))
    (tmp_path / "n.jsonl").write_text(json.dumps({"chosen": "a b", "rejected": "a c"}) + "\n"
                                      + json.dumps({"chosen": None, "rejected": "x"}) + "\n")
    with pytest.raises(InputError, match="row 1 has an empty prompt, chosen or rejected"):
        load_pairs(str(tmp_path / "n.jsonl"))
    assert extract_prompt("ab", "ab") == ("a", "b", "b")


def _report(accuracy_scores, reference=("adapter", "sft adapter", "r1"), data_input="file `pairs.jsonl`",
            data_hash="h1", win=None) -> dict:
    """A report as run.py builds it, its numbers computed by the metric modules."""
    chosen, rejected = accuracy_scores
    overall = metrics.load("reward_accuracy").compute(chosen_scores=list(chosen), rejected_scores=list(rejected),
                                                      bootstrap_samples=200)
    kind, description, ref_id = reference
    return {
        "format": report.FORMAT, "checkpoint": {"path": "ckpt", "kind": "adapter", "stage": "dpo", "base": "b",
                                                "load_in_4bit": False},
        "reference": {"kind": kind, "description": description, "id": ref_id, "cache": "off"},
        "data": {"source": "pairs.jsonl", "input": data_input, "split": None, "pairs": len(chosen),
                 "scored": len(chosen), "max_length": 512, "dropped_over_max_length": 0, "hash": data_hash,
                 "from_train_config": ["max_length"]},
        "beta": 0.1, "primary_scorer": "implicit_reward",
        "reward_accuracy": {"implicit_reward": {"overall": overall}},
        "win_rate": win, "seconds": {"tokenize": 0.5, "policy": 1.25, "total": 2.0}, "pairs_per_second": 20.0,
        "config": {"bootstrap": 500, "seed": 0}, "versions": {"torch": "x"},
    }


def _win(judge="implicit") -> dict:
    outcome = [1.0, 0.0, 0.5, 1.0, 1.0, 0.0, 1.0, 0.5]
    result = metrics.load("win_rate").compute(first=outcome, second=outcome,
                                              model_lengths=[10, 20, 30, 40, 50, 60, 70, 80],
                                              baseline_lengths=[45] * 8, bootstrap_samples=100)
    return {"judge": judge, "self_judged": judge == "implicit", "baseline": "held-out chosen answers",
            "prompts": {"asked": 64, "used": 8, "reason": "the data has only 8 distinct prompts"},
            "unparsed_verdicts": 0, **result}


def test_printed_table_has_metric_value_ci_and_n():
    rng = np.random.default_rng(0)
    chosen, rejected = rng.normal(1, 1, 40), rng.normal(0, 1, 40)
    built = _report((chosen, rejected), win=_win())
    lines = report.terminal_table(built).splitlines()
    assert lines[0].split() == ["metric", "value", "95%", "CI", "n"]
    overall = built["reward_accuracy"]["implicit_reward"]["overall"]
    low, high = overall["accuracy_ci"]
    row = next(line for line in lines if line.startswith("reward accuracy (implicit_reward)"))
    assert row.split()[-4:] == [f"{overall['accuracy']:.1%}", f"[{low:.1%},", f"{high:.1%}]", "40"]
    win = built["win_rate"]
    row = next(line for line in lines if line.startswith("LC win rate [self-judged]"))
    assert row.split()[-4:] == [f"{win['lc_win_rate']:.1%}", f"[{win['lc_win_rate_ci'][0]:.1%},",
                                f"{win['lc_win_rate_ci'][1]:.1%}]", "8"]
    markdown = report.markdown(built)
    assert report.SELF_JUDGED in markdown and "8 prompts of the 64 asked: the data has only 8 distinct" in markdown
    assert "data: file `pairs.jsonl`, 40 of 40 pairs scored; 0 dropped as longer than max_length 512 tokens (from " \
           "the checkpoint's train_config.yaml)" in markdown
    assert "speed: 20.0 pairs/s scored (tokenize 0.5 s, policy 1.2 s, total 2.0 s)" in markdown
    assert "split `test`" not in markdown and "instruction difficulty left out" in markdown
    assert not report.markdown(_report((chosen, rejected), win=_win("llm"))).count("Self-judged")


def _run(folder: Path, built: dict, chosen, rejected, kept=None) -> Path:
    folder.mkdir(parents=True)
    (folder / report.REPORT_JSON).write_text(json.dumps(built))
    kept = np.arange(len(chosen)) if kept is None else kept
    np.savez(folder / report.PAIR_SCORES, kept=kept, implicit_reward=np.column_stack([chosen, rejected]))
    return folder


def test_compare_says_when_references_differ_and_gives_a_paired_difference(tmp_path):
    rng = np.random.default_rng(1)
    chosen, rejected = rng.normal(0.5, 1, 300), rng.normal(0, 1, 300)
    better = chosen + np.where(chosen < rejected, 0.6, 0.0)  # B fixes some of A's wrong pairs, breaks none
    sft = _run(tmp_path / "sft" / "eval", _report((chosen, rejected), reference=("base", "base, adapters off", "r0")),
               chosen, rejected)
    dpo = _run(tmp_path / "dpo" / "eval", _report((better, rejected)), better, rejected)
    table = compare(sft, dpo)
    assert table.startswith("# `sft/eval` (A) vs `dpo/eval` (B)")
    header = next(line for line in table.splitlines() if line.startswith("| reward accuracy"))
    assert "NOT COMPARABLE" in header and "references differ (A: base, adapters off; B: sft adapter)" in header

    same = _run(tmp_path / "dpo2" / "eval", _report((better, rejected)), better, rejected)
    table = compare(dpo, same)
    assert "NOT COMPARABLE" not in table
    fixed = compare(sft.parent / "eval", tmp_path / "dpo" / "eval")  # paired: same pairs (same data hash)
    row = next(line for line in fixed.splitlines() if line.startswith("| implicit_reward"))
    gain = ((better > rejected).mean() - (chosen > rejected).mean()) * 100
    assert f"{gain:+.1f} pts [" in row and ", n=300 |" in row
    low = float(row.split("pts [")[1].split(",")[0])
    assert 0 < low < gain  # every changed pair went A wrong -> B right: the paired CI excludes 0
    assert labels(dpo, dpo) == ("eval (A)", "eval (B)")


def test_compare_says_when_data_differs(tmp_path):
    chosen, rejected = np.arange(10.0), np.zeros(10)
    a = _run(tmp_path / "a", _report((chosen, rejected)), chosen, rejected)
    b = _run(tmp_path / "b", _report((chosen, rejected), data_input="`build` split `test`", data_hash="h2"),
             chosen, rejected)
    table = compare(a, b)
    assert "inputs differ (A file `pairs.jsonl`, B `build` split `test`)" in table
    assert "the pairs differ (data hashes)" in table and "not paired: different pairs" in table


def test_plots_skip_a_single_bar_and_split_margins_at_zero(tmp_path):
    one = {"overall": {}, "by_margin_bucket": {"1": {"accuracy": 0.7, "accuracy_ci": [0.6, 0.8], "n": 9}}}
    assert plots.accuracy_by_margin(one, "implicit_reward", tmp_path / "a.png") is None
    assert not (tmp_path / "a.png").exists()
    two = {"by_margin_bucket": {**one["by_margin_bucket"], "2": {"accuracy": 0.9, "accuracy_ci": [0.8, 1.0], "n": 4}}}
    assert plots.accuracy_by_margin(two, "implicit_reward", tmp_path / "b.png").is_file()
    for margins in (np.array([-0.3, -0.01, 0.02, 0.5, 1.7]), np.array([0.1, 0.2, 5.0]), np.array([-3.0, -1.0])):
        edges = plots.zero_edged_bins(margins, 7)
        assert np.isclose(edges, 0).any() and edges[0] <= margins.min() and edges[-1] >= margins.max()
    assert plots.zero_edged_bins(np.zeros(4), 5).tolist() == [0.0, 1.0]
    path = plots.win_tie_loss(_win("llm"), tmp_path / "w.png")
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_self_judge_is_refused_unless_allowed():
    with pytest.raises(ConfigError, match="--allow-self-judge"):
        EvalConfig(checkpoint="x", judge="implicit")
    assert EvalConfig(checkpoint="x", judge="implicit", allow_self_judge=True).allow_self_judge
    result = CliRunner().invoke(cli, ["eval", "x", "--judge", "implicit"])
    assert result.exit_code == 2 and "biased toward it by construction" in result.output


def test_every_option_shows_its_default():
    from stackpref.eval.commands import eval_command

    fields = {f for f in EvalConfig.__dataclass_fields__} - {"checkpoint"}
    options = {p.name: p for p in eval_command.params if p.name in fields}
    assert options.keys() == fields
    missing = [name for name, option in options.items() if "[default:" not in option.help]
    assert not missing, missing


def test_train_config_gives_data_and_max_length_unless_given():
    taken = EvalConfig(checkpoint="x").from_checkpoint({"data": "build", "max_length": 96})
    assert (taken.data, taken.max_length) == ("build", 96)
    given = EvalConfig(checkpoint="x", data="other", max_length=50).from_checkpoint({"data": "build", "max_length": 96})
    assert (given.data, given.max_length) == ("other", 50)
    assert EvalConfig(checkpoint="x").from_checkpoint({}).data == "stackpref-data"


def test_cache_key_holds_versions_and_format(monkeypatch):
    key = refcache.key("ref", "tokens")
    assert key == refcache.key("ref", "tokens") != refcache.key("ref2", "tokens")
    monkeypatch.setattr(refcache, "package_versions", lambda names: {"torch": "0.0-other"})
    assert refcache.key("ref", "tokens") != key
    monkeypatch.undo()
    monkeypatch.setattr(refcache, "FORMAT", refcache.FORMAT + 1)
    assert refcache.key("ref", "tokens") != key


def test_fingerprint_hashes_whole_files_and_resolves_hub_revisions(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"a" * 1000)
    stat = weights.stat()
    before = models.fingerprint(str(folder))
    weights.write_bytes(b"b" * 1000)  # same size, same mtime: only the content tells them apart
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert models.fingerprint(str(folder)) != before

    import huggingface_hub

    hub = tmp_path / "hub"
    for commit in ("1" * 40, "2" * 40):
        snapshot = hub / "models--org--tiny" / "snapshots" / commit
        snapshot.mkdir(parents=True)
        (snapshot / "config.json").write_text("{}")
    (hub / "models--org--tiny" / "refs").mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    (hub / "models--org--tiny" / "refs" / "main").write_text("1" * 40)
    first = models.fingerprint("org/tiny")
    (hub / "models--org--tiny" / "refs" / "main").write_text("2" * 40)
    assert first == f"hub:org/tiny@{'1' * 40}" != models.fingerprint("org/tiny")
    with pytest.raises(InputError, match="org/absent: not a folder and not in the local Hugging Face cache"):
        models.fingerprint("org/absent")

