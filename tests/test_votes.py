"""Votes.xml: up and down votes per answer from a real dump's own Votes.xml (beside Posts.xml or in
its .7z), read in pieces, summed in pass 2, and `--score-window DAYS`. Expected values are
recomputed here from the raw XML, independently of the build's code."""

import datetime
import importlib.util
import json
import math
import shutil
from collections import Counter

import polars as pl
import py7zr
import pyarrow as pa
import pytest
from conftest import REPO, SHARED_SITES, needs_shared, run_build
from helpers import XML_DECL, cli_build, dump_row, one_error_line, read_config
from lxml import etree

from stackpref.errors import ConfigError, InputError
from stackpref.pipeline import plan, process
from stackpref.pipeline.runner import Step
from stackpref.sources import posts_xml, votes
from stackpref.sources.archive import iter_member_chunks

pytestmark = pytest.mark.slow

SITE = SHARED_SITES / "quantumcomputing-2018"
HOST = "quantumcomputing.stackexchange.com"
WINDOW = 30


def _rows(path, tag="row"):
    for _, row in etree.iterparse(str(path), tag=tag):
        yield dict(row.attrib)
        row.clear()


def _day(date: str) -> int:
    return (datetime.date.fromisoformat(date[:10]) - datetime.date(1970, 1, 1)).days


@pytest.fixture(scope="module")
def raw():
    """The dump recomputed by hand: answers (id, question, Score, day) and up/down votes (post, day)."""
    if not SITE.is_dir():
        pytest.skip(f"{SITE} is absent")
    posts = pl.DataFrame([(int(r["Id"]), r["PostTypeId"], int(r.get("ParentId") or 0), int(r["Score"]),
                           _day(r["CreationDate"]), r["CreationDate"]) for r in _rows(SITE / "Posts.xml")],
                         schema=["post_id", "type", "question", "score", "day", "date"], orient="row")
    cast = pl.DataFrame([(int(r["PostId"]), r["VoteTypeId"] == "2", _day(r["CreationDate"]))
                         for r in _rows(SITE / "Votes.xml") if r["VoteTypeId"] in ("2", "3")],
                        schema=["post_id", "up", "vote_day"], orient="row")
    answers = posts.filter(pl.col("type") == "2").join(posts.filter(pl.col("type") == "1").select(
        question="post_id"), on="question", how="semi")  # routed: their question is in the dump
    dump_day = max(posts["day"].max(), cast["vote_day"].max())
    joined = answers.join(cast, on="post_id", how="left")
    inside = (pl.col("vote_day") - pl.col("day")) < WINDOW
    net = pl.col("up").cast(pl.Int64) * 2 - 1
    per_answer = joined.group_by("post_id", "score", "day", "date").agg(
        net=net.sum(), window=net.filter(inside).sum(), votes=pl.col("up").count(),
        window_votes=pl.col("up").filter(inside).count(),
    ).with_columns(young=pl.col("day") + WINDOW > dump_day)
    return {"posts": posts, "cast": cast, "answers": per_answer}


def _pm(score: int, accepted: bool) -> int:
    """Askell et al.'s formula, written out again: round(log2(1 + score)) half up, -1 below 0, +1 accepted."""
    base = -1 if score < 0 else math.floor(math.log2(1 + score) + 0.5)
    return base + int(accepted)


def _sides(out) -> pl.DataFrame:
    """(answer_id, score, pm_score, accepted) of every answer in a build's output."""
    pairs = read_config(out, "pairs")
    sides = [pairs.select(answer_id=f"{side}_id", score=f"{side}_score", pm_score=f"{side}_pm_score",
                          accepted=f"{side}_accepted") for side in ("chosen", "rejected")]
    sft = read_config(out, "sft").select("answer_id", "score", "pm_score", "accepted")
    return pl.concat([*sides, sft]).unique()


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    if not SITE.is_dir():
        pytest.skip(f"{SITE} is absent")
    root = tmp_path_factory.mktemp("votes")
    return {"default": (root / "default", run_build(root / "default", SITE, workers=1)),
            "window": (root / "window", run_build(root / "window", SITE, workers=1, score_window=WINDOW))}


@needs_shared
def test_up_minus_down_votes_equal_score_for_every_answer_kept(raw, builds, monkeypatch, tmp_path):
    answers = raw["answers"]
    assert answers.filter(pl.col("net") != pl.col("score")).is_empty()  # the dump itself: all 1,060 answers
    out, manifest = builds["default"]
    kept = _sides(out).join(answers.select("post_id", "net"), left_on="answer_id", right_on="post_id")
    assert kept.height == _sides(out).height > 300
    assert (kept["net"] == kept["score"]).all()
    # The votes the build itself attached to the answers it scored (in this process: workers=1).
    seen = []

    def record(bucket, context):
        seen.append(bucket.answers.select("answer_id", "score", "up_votes", "down_votes"))
        return bucket, Counter()

    at = next(i for i, step in enumerate(process.STEPS) if step.name == "score_answers")
    monkeypatch.setattr(process, "STEPS", [*process.STEPS[:at], Step("answers", record), *process.STEPS[at:]])
    run_build(tmp_path / "out", SITE, workers=1)
    used = pl.concat(seen)
    assert used.height > 800 and used["up_votes"].null_count() == 0
    assert (used["up_votes"] - used["down_votes"] == used["score"]).all()
    # Counts: every vote read, the up and down ones, and those on the answers routed.
    counted = manifest["counts"]["question_clusters"]["votes"]
    cast = raw["cast"]
    assert counted["votes_read"] == sum(1 for _ in _rows(SITE / "Votes.xml"))
    assert (counted["up_votes"], counted["down_votes"]) == (cast["up"].sum(), (~cast["up"]).sum())
    assert counted["unreadable"] == 0
    assert counted["on_answers"] == answers["votes"].sum()
    assert counted["not_on_answers"] == cast.height - answers["votes"].sum() > 0  # questions' and deleted posts'
    assert (counted["answers"], counted["net_not_score"]) == (answers.height, 0)
    companions = {entry["location"].rsplit("/", 1)[-1]: entry for entry in manifest["inputs"][0]["companions"]}
    assert companions["Votes.xml"]["bytes"] == (SITE / "Votes.xml").stat().st_size
    assert len(companions["Votes.xml"]["sha256"]) == 64


@needs_shared
def test_score_window_scores_by_the_first_days_and_drops_young_answers(raw, builds):
    answers = raw["answers"]
    out, manifest = builds["window"]
    default_out, default = builds["default"]
    kept = _sides(out).join(answers, left_on="answer_id", right_on="post_id")
    assert kept.height == _sides(out).height > 250
    assert not kept["young"].any()  # no answer whose 30 days were not over by the dump
    for row in kept.iter_rows(named=True):  # pm_score from the window's votes, not from Score
        assert row["pm_score"] == _pm(row["window"], row["accepted"]), row
    assert (kept["window"] != kept["net"]).sum() > 10  # and those differ for some of them
    funnel, before = manifest["counts"]["funnel"]["answers"], default["counts"]["funnel"]["answers"]
    young = funnel["dropped"]["younger_than_score_window"]
    assert 0 < young <= answers["young"].sum()
    assert funnel["kept"] < before["kept"]
    counted = manifest["counts"]["question_clusters"]["votes"]
    assert counted["window_days"] == WINDOW
    assert counted["in_window"] == answers["window_votes"].sum() < counted["on_answers"]
    assert manifest["config"]["score_window"] == WINDOW
    card = (out / "README.md").read_text()
    assert "30 days" in card and "upvotes" in card.lower()
    assert "30 days" not in (default_out / "README.md").read_text()


@needs_shared
def test_score_window_without_votes_stops_with_one_line(tmp_path):
    site = tmp_path / "beer-2017"
    shutil.copytree(SHARED_SITES / "beer-2017", site)
    result = cli_build(site, tmp_path / "out", "--score-window", "30")
    line = one_error_line(result, InputError.exit_code)
    assert "Posts.xml" in line and "--score-window needs the site's Votes.xml" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("days", ["0", "-3", "3651", "soon"])
def test_score_window_must_be_a_bounded_number_of_days(days, tmp_path):
    result = cli_build(tmp_path, tmp_path / "out", "--score-window", days)
    assert result.exit_code in (ConfigError.exit_code, 2) and days in result.output  # 2: click's own type check


def _partials(pieces) -> pl.DataFrame:
    """The partial sums of `pieces`, summed per (post, day) as pass 2 sums them."""
    partials = pl.from_arrow(pa.concat_tables([piece.read()[1] for piece in pieces]))
    return partials.group_by("post_id", "day").agg(pl.col("up").sum(), pl.col("down").sum()).sort("post_id", "day")


@needs_shared
@pytest.mark.parametrize("piece_bytes", [977, 4096, 65_536, 333_333])
def test_votes_cut_in_pieces_sum_as_read_whole(raw, piece_bytes, monkeypatch):
    location = str(SITE / "Votes.xml")
    whole = _partials(votes.ranges(location))
    monkeypatch.setattr(votes, "PIECE_BYTES", piece_bytes)
    pieces = list(votes.ranges(location))
    assert len(pieces) == -(-(SITE / "Votes.xml").stat().st_size // piece_bytes)
    assert _partials(pieces).equals(whole)
    cast = raw["cast"].group_by("post_id", day="vote_day").agg(
        up=pl.col("up").sum().cast(pl.Int32), down=(~pl.col("up")).sum().cast(pl.Int32)).sort("post_id", "day")
    assert whole.equals(cast)


@needs_shared
def test_votes_member_cut_in_fragments_sums_as_read_whole(tmp_path, monkeypatch):
    archive = tmp_path / f"{HOST}.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.write(SITE / "Votes.xml", "Votes.xml")
    whole = _partials(votes.ranges(str(SITE / "Votes.xml")))
    monkeypatch.setattr(posts_xml, "FRAGMENT_BYTES", 3_000)
    fragments = [votes.VotesFragment(f, line, "label") for f, line in posts_xml.split_rows(
        iter_member_chunks(str(archive), "Votes.xml"), "label", votes.ROOT)]
    assert len(fragments) > 300
    assert _partials(fragments).equals(whole)


def _same_output(one, two) -> None:
    files = sorted(p.relative_to(one) for p in one.rglob("*.parquet"))
    assert files and files == sorted(p.relative_to(two) for p in two.rglob("*.parquet"))
    for name in files:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    first, second = (json.loads((d / "manifest.json").read_text())["counts"] for d in (one, two))
    assert first == second


@needs_shared
@pytest.mark.parametrize("window", [None, WINDOW])
def test_a_site_archive_with_votes_builds_as_the_folder(builds, tmp_path, window):
    archive = tmp_path / f"{HOST}.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        for name in ("Posts.xml", "PostLinks.xml", "Votes.xml"):
            z.write(SITE / name, f"{HOST}/{name}")
    out = tmp_path / "out"
    manifest = run_build(out, archive, workers=1, score_window=window)
    _same_output(builds["window" if window else "default"][0], out)
    assert manifest["counts"]["question_clusters"]["votes"]["votes_read"] > 10_000


@needs_shared
def test_many_pieces_ranges_and_workers_give_the_same_output(builds, tmp_path, monkeypatch):
    """Votes in 64 KB pieces, summed in post-id ranges of ~500 partials, by a pool of 2 workers."""
    monkeypatch.setattr(votes, "PIECE_BYTES", 1 << 16)
    monkeypatch.setattr(plan, "JOIN_PARTIALS", 500)
    out = tmp_path / "out"
    run_build(out, SITE, workers=2, score_window=WINDOW)
    _same_output(builds["window"][0], out)


@needs_shared
def test_ray_engine_sums_votes_as_local(builds, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="the ray engine needs the [ray] extra (in [dev])")
    monkeypatch.setattr(plan, "JOIN_PARTIALS", 2_000)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    try:
        run_build(tmp_path / "out", SITE, engine="ray", score_window=WINDOW)
    finally:
        ray.shutdown()
    _same_output(builds["window"][0], tmp_path / "out")


@needs_shared
def test_make_corpus_votes_read_as_one_piece_over_the_parsers_buffer(tmp_path):
    """benchmarks/make_corpus.py --votes-rows: the real votes repeated with shifted post ids; its
    16 MB piece is one buffer too big for libxml2 unless fed in slices."""
    spec = importlib.util.spec_from_file_location("make_corpus", REPO / "benchmarks" / "make_corpus.py")
    make_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_corpus)
    rows = 160_000
    report = make_corpus.main(["--out", str(tmp_path), "--size-mb", "1", "--sites", SITE.name,
                               "--votes-rows", str(rows), "--quiet"])
    assert report["votes"]["rows"] == rows and report["votes"]["bytes"] > 10 << 20
    pieces = list(votes.ranges(str(tmp_path / "Votes.xml")))
    assert len(pieces) == 1
    _, partials, counts = pieces[0].read()
    assert counts["votes_read"] == rows and counts["votes_unreadable"] == 0
    real = sum(1 for _ in _rows(SITE / "Votes.xml"))
    copies = pl.from_arrow(partials)["post_id"] // make_corpus.COPY_STRIDE
    assert copies.unique().sort().to_list() == list(range(-(-rows // real)))


@needs_shared
def test_unreadable_votes_are_counted_and_an_entity_declaration_refused(tmp_path):
    site = tmp_path / SITE.name
    site.mkdir()
    shutil.copy(SITE / "Posts.xml", site)
    day = "2018-03-12T00:00:00.000"
    rows = [dump_row(Id=1, PostId=2, VoteTypeId=2, CreationDate=day),
            dump_row(Id=2, PostId="two", VoteTypeId=3, CreationDate=day),
            dump_row(Id=3, PostId=2, VoteTypeId=2, CreationDate="yesterday"),
            dump_row(Id=4, PostId=2, VoteTypeId=5, CreationDate=day)]
    (site / "Votes.xml").write_text(XML_DECL + "<votes>\n" + "\n".join(rows) + "\n</votes>\n", encoding="utf-8")
    counted = run_build(tmp_path / "out", site, workers=1)["counts"]["question_clusters"]["votes"]
    assert (counted["votes_read"], counted["up_votes"], counted["unreadable"], counted["other_votes"]) == (4, 1, 2, 1)
    bomb = XML_DECL + '<!DOCTYPE votes [<!ENTITY a "aaaaaaaa">]>\n<votes>\n' + rows[0] + "\n</votes>\n"
    (site / "Votes.xml").write_text(bomb, encoding="utf-8")
    line = one_error_line(cli_build(site, tmp_path / "refused"), InputError.exit_code)
    assert "Votes.xml: line 2" in line and "DTD" in line
    (site / "Votes.xml").write_text(XML_DECL + "<posts>\n" + rows[0] + "\n</posts>\n", encoding="utf-8")
    line = one_error_line(cli_build(site, tmp_path / "refused"), InputError.exit_code)
    assert "Votes.xml" in line and "expected <votes>" in line


@needs_shared
def test_an_older_dump_with_its_votes_adds_none_of_them(raw, builds, tmp_path):
    """Two dumps of the site, both with Votes.xml: only the newest one's votes score its answers
    (counted twice, the window scores would double)."""
    older = tmp_path / "quantumcomputing-2018-06"
    older.mkdir()
    lines = (SITE / "Posts.xml").read_text(encoding="utf-8").splitlines(keepends=True)
    early = [line for line in lines if 'CreationDate="2018-06' > line.partition('CreationDate="')[2][:7] or "<row" not in line]
    (older / "Posts.xml").write_text("".join(early), encoding="utf-8")
    shutil.copy(SITE / "Votes.xml", older)
    out = tmp_path / "out"
    manifest = run_build(out, older, SITE, workers=1, score_window=WINDOW)
    assert manifest["counts"]["funnel"]["dump_versions"]["dropped"]["superseded_by_newer_dump"] > 500
    kept = _sides(out).join(raw["answers"], left_on="answer_id", right_on="post_id")
    assert kept.height == _sides(out).height > 250
    assert [row["pm_score"] for row in kept.iter_rows(named=True)] == \
        [_pm(row["window"], row["accepted"]) for row in kept.iter_rows(named=True)]
    counted = manifest["counts"]["question_clusters"]["votes"]
    assert counted["on_answers"] == builds["window"][1]["counts"]["question_clusters"]["votes"]["on_answers"]
