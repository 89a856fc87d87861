"""Duplicate links (a site's PostLinks.xml, LinkTypeId 3): questions marked as duplicates share a
cluster, and so a split, whatever their text; beside Posts.xml, inside a site's .7z, across dump
versions, and on a real dump's own PostLinks.xml."""

import json
import random
import string

import polars as pl
import py7zr
import pytest
from conftest import SHARED_SITES, needs_shared
from helpers import XML_DECL, cli_build, dump_row, posts_xml, read_config
from lxml import etree

pytestmark = pytest.mark.slow

HOST = "brewing.example.org"
LINKED = [(2, 30), (5, 17), (33, 9)]  # question numbers; 33 -> 9 also checks the link's direction
NOT_DUPLICATE = (1, 2)  # LinkTypeId 1 ("linked"): never joins clusters
MISSING = 99_999  # a deleted post


def _words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9))) for _ in range(n))


def _site_rows(questions: int = 40, seed: int = 0) -> list[str]:
    """Distinct questions of random words (no two near each other), each with three answers of
    different scores, so that every question gives pairs."""
    rng = random.Random(seed)
    rows, post = [], 1000
    for q in range(1, questions + 1):
        rows.append(dump_row(Id=q, PostTypeId=1, CreationDate=f"2020-01-{q % 28 + 1:02d}T10:00:00.000",
                             Score=3, Title=f"{_words(rng, 6).capitalize()}?", Body=f"<p>{_words(rng, 30)}</p>",
                             OwnerUserId=q, AnswerCount=3))
        for score in (9, 3, 0):
            post += 1
            rows.append(dump_row(Id=post, PostTypeId=2, ParentId=q, CreationDate="2020-02-01T10:00:00.000",
                                 Score=score, Body=f"<p>{_words(rng, 25)}</p>", OwnerUserId=post))
    return rows


def _links_xml(links: list[tuple[int, int, int]]) -> str:
    rows = [dump_row(Id=i + 1, CreationDate="2020-03-01T10:00:00.000", PostId=a, RelatedPostId=b, LinkTypeId=kind)
            for i, (a, b, kind) in enumerate(links)]
    return XML_DECL + "<postlinks>\n" + "\n".join(rows) + "\n</postlinks>\n"


LINKS = [(a, b, 3) for a, b in LINKED] + [(*NOT_DUPLICATE, 1), (7, MISSING, 3)]


def _questions(out) -> pl.DataFrame:
    """(question_id, cluster_id, split) of every question in the output."""
    frames = [read_config(out, config).select("question_id", "cluster_id", "split") for config in ("pairs", "sft")]
    return pl.concat(frames).unique().sort("question_id")


def _assert_linked_together(out, joined: bool) -> None:
    by_id = {row["question_id"]: row for row in _questions(out).iter_rows(named=True)}
    for a, b in LINKED:
        assert a in by_id and b in by_id
        same = (by_id[a]["cluster_id"], by_id[a]["split"]) == (by_id[b]["cluster_id"], by_id[b]["split"])
        assert same if joined else by_id[a]["cluster_id"] != by_id[b]["cluster_id"], (a, b, by_id[a], by_id[b])
    assert by_id[NOT_DUPLICATE[0]]["cluster_id"] != by_id[NOT_DUPLICATE[1]]["cluster_id"]


def _manifest(out) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_links_beside_posts_join_clusters_and_are_counted(tmp_path):
    site = tmp_path / HOST
    site.mkdir()
    (site / "Posts.xml").write_text(posts_xml(_site_rows()), encoding="utf-8")
    (site / "PostLinks.xml").write_text(_links_xml(LINKS), encoding="utf-8")
    out = tmp_path / "out"
    assert cli_build(site, out).exit_code == 0
    _assert_linked_together(out, joined=True)
    manifest = _manifest(out)
    clusters = manifest["counts"]["question_clusters"]
    assert clusters["duplicate_links"] == {"links_read": 5, "unreadable": 0, "duplicate_links": 4, "resolved": 3,
                                           "not_in_build": 1}
    assert clusters["merged_by_links"] == 3 and clusters["merged_by_text"] == 0
    assert manifest["inputs"][0]["companions"][0]["location"] == f"{HOST}/PostLinks.xml"  # no local absolute path
    card = " ".join((out / "README.md").read_text().split())
    assert "5 links read, 4 of them duplicate links, 3 joining two questions of this build, 1 ignored" in card
    assert "0 merges by text, 3 more by duplicate links" in card

    off = tmp_path / "off"
    assert cli_build(site, off, "--no-duplicate-links").exit_code == 0
    _assert_linked_together(off, joined=False)
    assert "duplicate_links" not in _manifest(off)["counts"]["question_clusters"]
    assert "Duplicate links were not used (`--no-duplicate-links`)" in (off / "README.md").read_text()


def test_links_inside_a_site_archive(tmp_path):
    archive = tmp_path / f"{HOST}.7z"
    with py7zr.SevenZipFile(archive, "w") as seven:
        seven.writestr(posts_xml(_site_rows()).encode(), "Posts.xml")
        seven.writestr(_links_xml(LINKS).encode(), "PostLinks.xml")
    out = tmp_path / "out"
    assert cli_build(archive, out).exit_code == 0
    _assert_linked_together(out, joined=True)
    assert _manifest(out)["counts"]["question_clusters"]["duplicate_links"]["resolved"] == 3


def test_links_of_an_older_dump_apply_to_the_newer_one(tmp_path):
    older, newer = tmp_path / "2019" / HOST, tmp_path / "2020" / HOST
    for folder in (older, newer):
        folder.mkdir(parents=True)
    rows = _site_rows()
    (older / "Posts.xml").write_text(posts_xml(rows[: len(rows) // 2]), encoding="utf-8")  # questions 1-20
    (older / "PostLinks.xml").write_text(_links_xml(LINKS), encoding="utf-8")
    (newer / "Posts.xml").write_text(posts_xml(rows), encoding="utf-8")  # no PostLinks.xml beside it
    out = tmp_path / "out"
    result = cli_build(older, out, newer)  # two dumps of one site: the newer supersedes the older
    assert result.exit_code == 0, result.output
    _assert_linked_together(out, joined=True)


def test_a_malformed_postlinks_names_its_file(tmp_path):
    site = tmp_path / HOST
    site.mkdir()
    (site / "Posts.xml").write_text(posts_xml(_site_rows(4)), encoding="utf-8")
    (site / "PostLinks.xml").write_text(_links_xml(LINKS)[:-20], encoding="utf-8")
    result = cli_build(site, tmp_path / "out")
    assert result.exit_code != 0 and "PostLinks.xml" in result.output and "not well-formed" in result.output
    assert not (tmp_path / "out").exists()


@needs_shared
def test_real_marked_duplicates_share_a_split(tmp_path):
    """quantumcomputing-2018 with its dump's own PostLinks.xml: every duplicate pair the build keeps
    is in one cluster and one split (11 have both ends among its questions)."""
    folder = SHARED_SITES / "quantumcomputing-2018"
    links = []
    for _, row in etree.iterparse(str(folder / "PostLinks.xml"), tag="row", resolve_entities=False, no_network=True):
        if row.get("LinkTypeId") == "3":
            links.append((int(row.get("PostId")), int(row.get("RelatedPostId"))))
    out = tmp_path / "out"
    assert cli_build(folder, out).exit_code == 0
    by_id = {row["question_id"]: row for row in _questions(out).iter_rows(named=True)}
    kept = [(a, b) for a, b in links if a in by_id and b in by_id]
    assert len(kept) >= 5, kept
    for a, b in kept:
        assert by_id[a]["cluster_id"] == by_id[b]["cluster_id"] and by_id[a]["split"] == by_id[b]["split"], (a, b)
    counts = _manifest(out)["counts"]["question_clusters"]["duplicate_links"]
    assert counts["duplicate_links"] == len(set(links)) and counts["resolved"] == 11

    off = tmp_path / "off"
    assert cli_build(folder, off, "--no-duplicate-links").exit_code == 0
    by_id = {row["question_id"]: row for row in _questions(off).iter_rows(named=True)}
    apart = [(a, b) for a, b in links if a in by_id and b in by_id and by_id[a]["split"] != by_id[b]["split"]]
    assert apart, "without links some marked duplicates land in different splits: the test would show nothing"
