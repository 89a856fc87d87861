"""benchmarks/make_corpus.py on the real dumps in ../shared: a small corpus is well-formed, its ids and
references hold, copies of one real question are far apart (not unlisted near duplicates), and its
planted-duplicate ground truth is right."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
from conftest import REPO, SHARED_SITES, needs_shared
from lxml import etree

from stackpref.sources import resolve_all

pytestmark = needs_shared

_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&#?\w+;")


def _load_script():
    spec = importlib.util.spec_from_file_location("make_corpus", REPO / "benchmarks" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(path: Path) -> dict[int, dict]:
    rows = {}
    for _, el in etree.iterparse(str(path), events=("end",), tag="row"):
        post_id = int(el.get("Id"))
        assert post_id not in rows, f"duplicate Id {post_id}"
        rows[post_id] = dict(el.attrib)
        el.clear()
    return rows


def _text(row: dict) -> tuple[str, str]:
    return row.get("Title") or "", row.get("Body") or ""


@pytest.fixture(scope="module")
def script():
    return _load_script()


@pytest.mark.parametrize("site_dirs", [False, True])
def test_small_corpus(tmp_path, script, site_dirs):
    argv = ["--out", str(tmp_path), "--size-mb", "4", "--seed", "7", "--near-dup-rate", "0.05",
            "--exact-dup-rate", "0.03", "--sites", "beer-2017,datascience-meta-2024", "--quiet"]
    report = script.main(argv + (["--site-dirs", "--newline", "mixed"] if site_dirs else []))
    files = sorted(tmp_path.glob("sites/*/Posts.xml") if site_dirs else [tmp_path / "Posts.xml"])
    assert files and report["bytes"] == sum(f.stat().st_size for f in files) >= 4e6
    assert files[0].read_bytes().startswith(b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>')

    by_site = {f.parent.name if site_dirs else None: _rows(f) for f in files}
    everything = {}
    for site, rows in by_site.items():
        assert not set(rows) & set(everything), "ids are unique across site folders too"
        everything.update(rows)
        for row in rows.values():  # references resolve within the row's own file
            for ref in ("ParentId", "AcceptedAnswerId"):
                if row.get(ref):
                    assert int(row[ref]) in rows, f"{site}: {ref}={row[ref]} of post {row['Id']} is not written"
            if row["PostTypeId"] == "2":
                assert rows[int(row["ParentId"])]["PostTypeId"] == "1"
    questions = sum(r["PostTypeId"] == "1" for r in everything.values())
    assert questions == report["questions"] and report["copies"] == 2

    # Copies of one real post (same id % stride) are far apart: copy 1's words are replaced, the
    # Body's tags and entities and the whitespace-separated token count kept.
    stride, planted_base = script.COPY_STRIDE, script.PLANTED_BASE
    copy_jaccards, changed, total = [], 0, 0
    for post_id, row in everything.items():
        twin = everything.get(post_id + stride)
        if post_id >= planted_base or twin is None:
            continue
        assert row["PostTypeId"] == twin["PostTypeId"]
        body, twin_body = _text(row)[1], _text(twin)[1]
        assert _TAG.findall(body) == _TAG.findall(twin_body) and _ENTITY.findall(body) == _ENTITY.findall(twin_body)
        for a, b in zip(_text(row), _text(twin)):
            ta, tb = a.split(), b.split()
            assert len(ta) == len(tb)
            changed += sum(x != y for x, y in zip(ta, tb))
            total += len(ta)
        if row["PostTypeId"] == "1":
            assert _text(row) != _text(twin)
            copy_jaccards.append(script.jaccard(script.shingles(script.tokens(*_text(row))),
                                                script.shingles(script.tokens(*_text(twin)))))
    assert len(copy_jaccards) > 500
    assert max(copy_jaccards) < 0.35, sorted(copy_jaccards)[-5:]
    assert 0.15 < changed / total < 0.45
    for summary in report["copy_jaccard"].values():
        assert summary["n"] == script.COPY_JACCARD_SAMPLE and summary["p95"] < 0.3

    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    kinds = {t["kind"] for t in truth}
    assert kinds == {"near", "exact"}
    from_copy1 = 0
    for t in truth:
        planted, source = by_site[t["site"]][t["id"]], by_site[t["source_site"]][t["source_id"]]
        assert planted["PostTypeId"] == source["PostTypeId"] == "1"
        if t["kind"] == "exact":
            assert _text(planted) == _text(source) and t["jaccard"] == 1.0
        else:
            assert _text(planted) != _text(source) and 0.5 <= t["jaccard"] <= 0.99
            measured = script.jaccard(script.shingles(script.tokens(*_text(source))),
                                      script.shingles(script.tokens(*_text(planted))))
            assert measured == pytest.approx(t["jaccard"], abs=1e-3)
        assert int(planted["AnswerCount"]) == int(source["AnswerCount"])
        if t["source_id"] >= stride:  # made from the perturbed copy: far from the real text in copy 0
            from_copy1 += 1
            real = everything[t["source_id"] - stride]
            assert script.jaccard(script.shingles(script.tokens(*_text(real))),
                                  script.shingles(script.tokens(*_text(planted)))) < 0.35
    assert from_copy1 > 0
    corpus = json.loads((tmp_path / "corpus.json").read_text())
    assert corpus["planted"]["near"] + corpus["planted"]["exact"] == len(truth)
    # Built with its own hosts (--site), never as a real site whose links the copies keep.
    assert corpus["build_sites"] == script.build_sites(tmp_path) == [
        f"{f}={script.corpus_host(f.parent.name if site_dirs else None)}" for f in files]
    sources = resolve_all([corpus["build_source"]], corpus["build_sites"])
    assert sorted(s.site for s in sources) == sorted(e.rsplit("=", 1)[1] for e in corpus["build_sites"])
    assert all(s.site.endswith(".bench.invalid") for s in sources)


def test_deterministic(tmp_path, script):
    argv = ["--size-mb", "2", "--seed", "3", "--sites", "datascience-meta-2024", "--quiet"]
    script.main(["--out", str(tmp_path / "a"), *argv])
    script.main(["--out", str(tmp_path / "b"), *argv])
    for name in ("Posts.xml", "truth.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_default_sites(script):
    """beer-2016 and beer-2017 are dumps of one site: by default only beer-2017 is used."""
    default = script.site_names(SHARED_SITES, None)
    assert "beer-2017" in default and "beer-2016" not in default
    assert script.site_names(SHARED_SITES, "beer-2016,beer-2017") == ["beer-2016", "beer-2017"]


def test_absent_data(tmp_path, script):
    with pytest.raises(SystemExit, match="absent"):
        script.main(["--out", str(tmp_path), "--size-mb", "1", "--data", str(tmp_path / "nowhere")])
