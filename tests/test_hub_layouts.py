"""The two Hub layouts, written here as small local files: `stack-exchange-preferences` (one row a
question with its answers and their pm_score) and `stack-exchange-paired` (one row a ready-made
pair, response_j preferred). The text is hand-written for these tests.
"""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from stackpref.cli import cli

pytestmark = pytest.mark.slow

BOTH_SPLITS = ["--split", "sft=0,train=0.5,test=0.5"]


def _meta(host: str, qid: int, user: int) -> list[str]:
    return [f"https://{host}/questions/{qid}", f"https://{host}", f"https://{host}/users/{user}"]


def _answer(answer_id: int, author_id: int, pm_score: int, selected: bool, text: str, host: str) -> dict:
    return {
        "answer_id": answer_id,
        "author": f"user{author_id}",
        "author_id": str(author_id),
        "author_profile": f"https://{host}/users/{author_id}",
        "pm_score": pm_score,
        "selected": selected,
        "text": text,
    }


COOKING, UNIX, BIKES = "cooking.stackexchange.com", "unix.stackexchange.com", "bicycles.stackexchange.com"

# pm_scores are chosen so that recomputing them would change them: an accepted answer with pm 0
# (Askell's formula gives >= 1 to any accepted answer), a negative one, and ties that must not pair.
PREFERENCES = [
    {
        "qid": 12, "date": "2012/03/14", "metadata": _meta(COOKING, 12, 3),
        "question": "<p>Every time I whisk milk into my roux it turns lumpy. I melt 2 tbsp butter, stir in "
                    "2 tbsp flour, cook it for a minute, then pour in a cup of cold milk.</p>"
                    "<p>What am I doing wrong?</p>",
        "answers": [
            _answer(13, 31, 4, True, "<p>Add the milk <strong>gradually</strong>: a splash at a time, whisking "
                                     "each splash into a smooth paste before adding the next.</p>", COOKING),
            _answer(14, 32, 1, False, "Run it through a blender afterwards; **30 seconds** on high and the "
                                      "lumps are gone.", COOKING),
            _answer(15, 33, 1, False, "<p>Pour it through a fine sieve and press the lumps through.</p>", COOKING),
        ],
    },
    {
        "qid": 40, "date": "2014/07/02", "metadata": _meta(UNIX, 40, 9),
        "question": "<p>How do I count the lines of every <code>.py</code> file under a folder, "
                    "recursively?</p>",
        "answers": [
            _answer(41, 51, 6, True, "<p>Use <code>find</code> and <code>wc</code>:</p>"
                                     "<pre><code>find . -name '*.py' -exec cat {} + | wc -l\n</code></pre>", UNIX),
            _answer(44, 52, 2, False, "<p>With bash 4 or later:</p>"
                                      "<pre><code>shopt -s globstar\nwc -l **/*.py\n</code></pre>", UNIX),
            _answer(47, 53, -1, False, "Open each file in an editor and add up the line numbers.", UNIX),
        ],
    },
    {
        "qid": 12, "date": "2011/09/20", "metadata": _meta(BIKES, 12, 4),  # same qid, other site
        "question": "How tight should a bike chain be? Mine droops about an inch between the cogs.",
        "answers": [
            _answer(18, 61, 0, True, "On a derailleur bike the derailleur sets the tension; an inch of droop "
                                     "is fine if it does not skip.", BIKES),
            _answer(19, 62, 3, False, "<p>With a single speed aim for about <em>half an inch</em> of play at the "
                                      "tightest point of the chainring.</p>", BIKES),
        ],
    },
    {
        "qid": 77, "date": "2013/11/05", "metadata": _meta(COOKING, 77, 5),
        "question": "Why does my bread go stale faster in the fridge than on the counter?",
        "answers": [
            _answer(78, 34, 5, False, "<p>Starch <strong>retrogradation</strong>: the starch recrystallises "
                                      "fastest just above freezing, so the fridge speeds it up.</p>", COOKING),
            _answer(79, 35, 2, True, "Fridges are dry, so the bread dries out.", COOKING),
            _answer(80, 36, 2, False, "<p>Keep it in a bread box instead.</p>", COOKING),
            _answer(81, 37, 0, False, "Freeze it, then toast slices straight from the freezer.", COOKING),
        ],
    },
    {
        "qid": 90, "date": "2015/02/11", "metadata": _meta(UNIX, 90, 8),
        "question": "<p>How can I see which process is listening on port 8080?</p>",
        "answers": [
            _answer(91, 54, 3, True, "<pre><code>sudo ss -ltnp 'sport = :8080'\n</code></pre>"
                                     "<p>The last column names the process.</p>", UNIX),
            _answer(92, 55, 1, False, "Try `lsof -i :8080`.", UNIX),
        ],
    },
    {
        "qid": 150, "date": "2016/06/30", "metadata": _meta(BIKES, 150, 6),
        "question": "<p>My disc brakes squeal when wet. Is that a problem?</p>",
        "answers": [
            _answer(151, 63, 2, True, "<p>Squeal in the wet is normal and harmless; it stops once the rotor "
                                      "dries.</p>", BIKES),
            _answer(152, 64, 0, False, "Spray some WD-40 on the rotors.", BIKES),
            _answer(153, 65, 1, False, "<p>Clean the rotors with isopropyl alcohol.</p>", BIKES),
        ],
    },
    {
        "qid": 210, "date": "2018/01/19", "metadata": _meta(COOKING, 210, 7),
        "question": "Can I use baking soda instead of baking powder?",
        "answers": [
            _answer(211, 38, 3, True, "<p>Only with an acid in the recipe; use about <code>1/4</code> as much "
                                      "soda plus something acidic like buttermilk.</p>", COOKING),
            _answer(212, 39, 3, False, "Yes, but add a teaspoon of lemon juice per quarter teaspoon of soda.",
                    COOKING),
            _answer(213, 40, 0, False, "<p>No.</p>", COOKING),
        ],
    },
    {
        "qid": 300, "date": "2019/05/23", "metadata": _meta(UNIX, 300, 10),
        "question": "<p>How do I make a bash script stop on the first failing command?</p>",
        "answers": [
            _answer(301, 56, 4, True, "<p>Put this at the top:</p><pre><code>set -euo pipefail\n</code></pre>",
                    UNIX),
            _answer(302, 57, 1, False, "Check `$?` after every command.", UNIX),
        ],
    },
]


def _answers_by_id() -> dict[tuple[str, int], dict]:
    return {
        (row["metadata"][1].split("//")[1], a["answer_id"]): {**a, "qid": row["qid"]}
        for row in PREFERENCES for a in row["answers"]
    }


def _expected_preference_pairs() -> set[tuple[str, int, int, int]]:
    """(site, qid, chosen id, rejected id) for every answer pair at margin >= 1 (at most 6 a question,
    under the cap of 10, and every text fits the default length limits)."""
    pairs = set()
    for row in PREFERENCES:
        site = row["metadata"][1].split("//")[1]
        for a in row["answers"]:
            for b in row["answers"]:
                if a["pm_score"] - b["pm_score"] >= 1:
                    pairs.add((site, row["qid"], a["answer_id"], b["answer_id"]))
    return pairs


def _build(src: Path, out: Path, *extra: str):
    result = CliRunner().invoke(cli, ["build", str(src), "--out", str(out), "-q", *extra])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}:") and "leakage check passed" in result.output
    return result


def _read(out: Path, config: str) -> list[dict]:
    rows = []
    for split in ("train", "test"):  # a split without rows has no file (datasets cannot load an empty one)
        for f in sorted((out / "data" / config).glob(f"{split}-*.parquet")):
            rows.extend(pq.read_table(f).to_pylist())
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def _write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


# --- stack-exchange-preferences ------------------------------------------------------------------


@pytest.fixture(scope="module", params=["jsonl", "parquet"])
def preferences_build(request, tmp_path_factory) -> tuple[Path, list[dict], list[dict]]:
    folder = tmp_path_factory.mktemp(f"prefs-{request.param}")
    writer = _write_jsonl if request.param == "jsonl" else _write_parquet
    src = writer(folder / f"h4-prefs.{request.param}", PREFERENCES)
    out = folder / "out"
    _build(src, out, *BOTH_SPLITS)
    return out, _read(out, "pairs"), _read(out, "sft")


def test_preferences_pairs_are_every_pair_at_the_margin(preferences_build):
    _, pairs, _ = preferences_build
    got = {(p["site"], p["question_id"], p["chosen_id"], p["rejected_id"]) for p in pairs}
    assert len(got) == len(pairs)
    assert got == _expected_preference_pairs()
    splits = {p["split"] for p in pairs}
    assert splits == {"train", "test"}, "the fixture should put questions in both splits"


def test_preferences_margin_is_the_pm_score_difference(preferences_build):
    _, pairs, _ = preferences_build
    for p in pairs:
        assert p["margin"] is not None and p["margin"] >= 1
        assert p["chosen_pm_score"] - p["rejected_pm_score"] == p["margin"]


def test_preferences_pm_scores_and_accepted_are_taken_as_given(preferences_build):
    _, pairs, sft = preferences_build
    given = _answers_by_id()
    for p in pairs:
        chosen, rejected = given[p["site"], p["chosen_id"]], given[p["site"], p["rejected_id"]]
        assert (p["chosen_pm_score"], p["rejected_pm_score"]) == (chosen["pm_score"], rejected["pm_score"])
        assert (p["chosen_accepted"], p["rejected_accepted"]) == (chosen["selected"], rejected["selected"])
        assert p["chosen_score"] is None and p["rejected_score"] is None  # the layout has no net Score
    # The accepted bike answer with pm 0 loses to the unaccepted one with pm 3 (not recomputed to +1).
    bike = [p for p in pairs if p["site"] == BIKES and p["question_id"] == 12]
    assert [(p["chosen_id"], p["rejected_id"], p["rejected_accepted"]) for p in bike] == [(19, 18, True)]
    for row in sft:
        answer = given[row["site"], row["answer_id"]]
        assert (row["pm_score"], row["accepted"]) == (answer["pm_score"], answer["selected"])


def test_preferences_site_comes_from_the_metadata_url(preferences_build):
    _, pairs, sft = preferences_build
    given = _answers_by_id()
    for row in pairs + sft:
        assert row["site"] in (COOKING, UNIX, BIKES)  # not the file name ("h4-prefs")
        assert row["question_url"] == f"https://{row['site']}/questions/{row['question_id']}"
    for p in pairs:
        assert given[p["site"], p["chosen_id"]]["qid"] == p["question_id"]
        assert p["chosen_author"] == f"https://{p['site']}/users/{given[p['site'], p['chosen_id']]['author_id']}"
    # qid 12 on two sites stays two questions.
    assert {p["site"] for p in pairs if p["question_id"] == 12} == {COOKING, BIKES}


def test_preferences_html_becomes_markdown(preferences_build):
    _, pairs, sft = preferences_build
    texts = {}
    for p in pairs:
        texts[p["site"], p["chosen_id"]] = p["chosen"]
        texts[p["site"], p["rejected_id"]] = p["rejected"]
    for row in sft:
        texts[row["site"], row["answer_id"]] = row["completion"]
    for row in pairs + sft:
        assert "<p>" not in row["prompt"] and "<code>" not in row["prompt"]
    for text in texts.values():
        assert not any(tag in text for tag in ("<p>", "</p>", "<pre>", "<code>", "<strong>", "<em>")), text

    find = texts[UNIX, 41]
    assert "```" in find and "find . -name '*.py' -exec cat {} + | wc -l" in find
    assert find.index("Use `find` and `wc`:") < find.index("```")
    globstar = texts[UNIX, 44]
    assert "```" in globstar and "shopt -s globstar\nwc -l **/*.py" in globstar  # code kept byte for byte
    assert "**gradually**" in texts[COOKING, 13]
    # Plain Markdown is left as written (after the leading space of the token boundary).
    blender = next(a for r in PREFERENCES for a in r["answers"] if a["answer_id"] == 14)
    assert texts[COOKING, 14] == " " + blender["text"]
    assert texts[UNIX, 92] == " Try `lsof -i :8080`."
    # The question's prompt: the template around the Markdown question, the trailing space moved.
    port = next(p for p in pairs if p["site"] == UNIX and p["question_id"] == 90)
    assert port["prompt"] == "Question: How can I see which process is listening on port 8080?\n\nAnswer:"


def test_preferences_jsonl_and_parquet_give_the_same_pairs(tmp_path):
    jsonl_out, parquet_out = tmp_path / "j", tmp_path / "p"
    _build(_write_jsonl(tmp_path / "h4.jsonl", PREFERENCES), jsonl_out, *BOTH_SPLITS)
    _build(_write_parquet(tmp_path / "h4.parquet", PREFERENCES), parquet_out, *BOTH_SPLITS)
    files = sorted(p.relative_to(jsonl_out) for p in jsonl_out.glob("data/*/*.parquet"))
    assert files and files == sorted(p.relative_to(parquet_out) for p in parquet_out.glob("data/*/*.parquet"))
    for path in files:
        assert pq.read_table(jsonl_out / path).equals(pq.read_table(parquet_out / path)), path


def test_preferences_selected_as_strings(tmp_path):
    """Exports that carry `selected` as "True"/"False" strings read the same as booleans."""
    rows = [{**row, "answers": [{**a, "selected": str(a["selected"])} for a in row["answers"]]}
            for row in PREFERENCES]
    out = tmp_path / "out"
    _build(_write_jsonl(tmp_path / "h4.jsonl", rows), out, *BOTH_SPLITS)
    given = _answers_by_id()
    pairs = _read(out, "pairs")
    assert {(p["site"], p["question_id"], p["chosen_id"], p["rejected_id"]) for p in pairs} == \
        _expected_preference_pairs()
    for p in pairs:
        assert p["chosen_accepted"] == given[p["site"], p["chosen_id"]]["selected"]


# --- stack-exchange-paired ------------------------------------------------------------------------


def _paired(qid: int, host: str, question: str, j: str, k: str, date: str = "2017/04/01") -> dict:
    return {"qid": qid, "question": question, "date": date, "metadata": _meta(host, qid, qid + 1000),
            "response_j": j, "response_k": k}


_GLOBSTAR = "With bash 4 or later:\n\n```\nshopt -s globstar\nwc -l **/*.py\n```"
_FIND = "Use `find`:\n\n```\nfind . -name '*.py' | xargs wc -l\n```"
PAIRED = [
    # One answer in several pairs, as the layout has it: A > B, A > C, B > C.
    _paired(40, UNIX, "How do I count the lines of every .py file under a folder?", _GLOBSTAR, _FIND),
    _paired(40, UNIX, "How do I count the lines of every .py file under a folder?", _GLOBSTAR,
            "Open each file and add up the line numbers."),
    _paired(40, UNIX, "How do I count the lines of every .py file under a folder?", _FIND,
            "Open each file and add up the line numbers."),
    _paired(12, COOKING, "Why does my roux go lumpy when I add milk?",
            "Add the milk a splash at a time and whisk each splash smooth.", "Use a blender."),
    _paired(12, COOKING, "Why does my roux go lumpy when I add milk?",
            "Add the milk a splash at a time and whisk each splash smooth.", "Strain it through a sieve."),
    _paired(77, COOKING, "Why does bread go stale faster in the fridge?",
            "Starch **retrogradation** is fastest just above freezing.", "Fridges are dry."),
    _paired(90, UNIX, "Which process is listening on port 8080?",
            "`sudo ss -ltnp 'sport = :8080'` shows it in the last column.", "Reboot and see."),
    _paired(150, BIKES, "My disc brakes squeal when wet. Is that a problem?",
            "It is normal and stops once the rotors dry.", "Spray WD-40 on the rotors."),
    _paired(150, BIKES, "My disc brakes squeal when wet. Is that a problem?",
            "Clean the rotors with isopropyl alcohol if it persists when dry.", "Spray WD-40 on the rotors."),
    _paired(210, COOKING, "Can I use baking soda instead of baking powder?",
            "Only with an acid in the recipe, at about a quarter of the amount.", "No."),
    _paired(300, UNIX, "How do I stop a bash script on the first error?",
            "Put `set -euo pipefail` at the top.", "Check `$?` after every command."),
    _paired(300, UNIX, "How do I stop a bash script on the first error?",
            "Put `set -euo pipefail` at the top.", "Wrap everything in `if` statements."),
    _paired(12, BIKES, "How tight should a single speed chain be?",
            "About half an inch of play at the tightest point.", "As tight as you can get it."),
]


@pytest.fixture(scope="module")
def paired_build(tmp_path_factory) -> tuple[Path, list[dict]]:
    folder = tmp_path_factory.mktemp("paired")
    src = _write_parquet(folder / "se-paired.parquet", PAIRED)
    out = folder / "out"
    _build(src, out, *BOTH_SPLITS)
    return out, _read(out, "pairs")


def test_paired_pairs_are_the_given_pairs(paired_build):
    _, pairs = paired_build
    given = {(r["metadata"][1].split("//")[1], r["qid"], r["response_j"].strip(), r["response_k"].strip())
             for r in PAIRED}
    got = [(p["site"], p["question_id"], p["chosen"].strip(), p["rejected"].strip()) for p in pairs]
    assert len(got) == len(set(got))
    assert set(got) == given  # chosen = response_j, every given pair kept (sft=0: all go to train/test)
    for p in pairs:
        assert p["chosen"].startswith(" ") and p["rejected"].startswith(" ")  # token boundary
        assert p["prompt"].endswith("\n\nAnswer:")


def test_paired_margin_is_unknown(paired_build):
    out, pairs = paired_build
    assert all(p["margin"] is None for p in pairs)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["margins"] == {"unknown": len(pairs)}


def test_paired_no_question_in_two_splits(paired_build):
    out, pairs = paired_build
    split_of: dict[tuple[str, int], set[str]] = {}
    for p in pairs:
        split_of.setdefault((p["site"], p["question_id"]), set()).add(p["split"])
    assert all(len(s) == 1 for s in split_of.values()), split_of
    assert {p["split"] for p in pairs} == {"train", "test"}, "the fixture should put questions in both splits"
    for split in ("train", "test"):
        rows = pq.read_table(next((out / "data" / "pairs").glob(f"{split}-*.parquet")))
        assert set(rows["split"].to_pylist()) <= {split}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overlap_check"]["passed"] and manifest["overlap_check"]["questions_in_two_splits"] == 0


def test_paired_site_and_markdown(paired_build):
    _, pairs = paired_build
    for p in pairs:
        assert p["site"] in (COOKING, UNIX, BIKES)  # from metadata, not the file name "se-paired"
        assert p["question_url"] == f"https://{p['site']}/questions/{p['question_id']}"
    # Markdown responses are not re-parsed: code fences and inline code come out as written.
    by_text = {p["chosen"].strip(): p for p in pairs}
    assert "shopt -s globstar\nwc -l **/*.py\n```" in by_text[_GLOBSTAR]["chosen"]
    assert {p["site"] for p in pairs if p["question_id"] == 12} == {COOKING, BIKES}


def test_paired_without_token_boundary_keeps_text_exact(tmp_path):
    out = tmp_path / "out"
    _build(_write_parquet(tmp_path / "se-paired.parquet", PAIRED), out, *BOTH_SPLITS, "--no-token-boundary")
    given = {(r["qid"], r["response_j"], r["response_k"]) for r in PAIRED}
    pairs = _read(out, "pairs")
    assert {(p["question_id"], p["chosen"], p["rejected"]) for p in pairs} == given
    assert all(p["prompt"].endswith("\n\nAnswer: ") for p in pairs)


def test_paired_identical_sides_are_dropped(tmp_path):
    rows = PAIRED + [_paired(12, COOKING, "Why does my roux go lumpy when I add milk?",
                             "Use a blender.", "Use a blender.")]
    out = tmp_path / "out"
    _build(_write_parquet(tmp_path / "se-paired.parquet", rows), out, *BOTH_SPLITS)
    pairs = _read(out, "pairs")
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    funnel = json.loads((out / "manifest.json").read_text())["counts"]["funnel"]
    assert funnel["pairs"]["dropped"]["identical_responses"] == 1
