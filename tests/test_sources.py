"""Readers: both Tags forms, any row order, CRLF/LF, BOM, skipped post types, site names."""

from collections import Counter

import polars as pl
import pytest

from stackpref.errors import InputError
from stackpref.sources import host_from_name, resolve, resolve_all
from stackpref.sources.posts_xml import licence_for, parse_tags, read_posts_xml

ROWS = [
    '<row Id="3" PostTypeId="2" ParentId="1" CreationDate="2015-01-02T00:00:00.000" Score="-2" '
    'Body="&lt;p&gt;Late &amp;amp; wrong.&lt;/p&gt;&#xA;" OwnerDisplayName="gone" />',
    '<row Id="1" PostTypeId="1" AcceptedAnswerId="2" CreationDate="2010-05-01T00:00:00.000" Score="5" '
    'Body="&lt;p&gt;Why?&lt;/p&gt;" Title="A &amp; B" Tags="&lt;brewing&gt;&lt;v60&gt;" OwnerUserId="4" />',
    '<row Id="2" PostTypeId="2" ParentId="1" CreationDate="2019-01-01T00:00:00.000" Score="3" '
    'Body="&lt;p&gt;Because.&lt;/p&gt;" ContentLicense="CC BY-SA 4.0" />',
    '<row Id="4" PostTypeId="5" CreationDate="2019-01-01T00:00:00.000" Score="0" Body="wiki" />',
    '<row Id="5" PostTypeId="1" CreationDate="2024-01-01T00:00:00.000" Score="0" Body="x" Title="t" Tags="|a|b-c|" />',
]


def dump(newline: str, bom: bool = True) -> bytes:
    head = ("\ufeff" if bom else "") + '<?xml version="1.0" encoding="utf-8"?>' + newline + "<posts>" + newline
    return (head + newline.join("  " + r for r in ROWS) + newline + "</posts>").encode()


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
@pytest.mark.parametrize("bom", [True, False])
def test_reads_rows_in_any_order_and_both_tag_forms(newline, bom):
    skipped = Counter()
    data = dump(newline, bom)
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]  # tiny chunks: the parser must resume
    posts = pl.concat(pl.from_arrow(b) for b in read_posts_xml(chunks, site="s", source="x", skipped=skipped))
    assert skipped == {"post_type_5": 1}
    assert posts["post_id"].to_list() == [3, 1, 2, 5]
    rows = {r["post_id"]: r for r in posts.iter_rows(named=True)}
    assert rows[1]["tags"] == ["brewing", "v60"] and rows[5]["tags"] == ["a", "b-c"]
    assert rows[1]["title"] == "A & B"
    assert rows[3]["body"] == "<p>Late &amp; wrong.</p>\n" and rows[3]["score"] == -2 and rows[3]["owner_display_name"] == "gone"
    assert rows[1]["license"] == "CC BY-SA 2.5" and rows[3]["license"] == "CC BY-SA 3.0"
    assert rows[2]["license"] == "CC BY-SA 4.0"


def test_parse_tags_and_licence_dates():
    assert parse_tags("<a><b-c>") == ["a", "b-c"] and parse_tags("|x|y|") == ["x", "y"] and parse_tags(None) == []
    assert licence_for("2011-04-07T23:00:00", None) == "CC BY-SA 2.5"
    assert licence_for("2018-05-01T00:00:00", None) == "CC BY-SA 3.0"
    assert licence_for("2018-05-02T00:00:00", None) == "CC BY-SA 4.0"
    assert licence_for("2010-01-01", "CC BY-SA 4.0") == "CC BY-SA 4.0"


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("beer.stackexchange.com-2016", "beer.stackexchange.com"),
        ("cardano.stackexchange.com.7z", "cardano.stackexchange.com"),
        ("stackoverflow.com-Posts.7z", "stackoverflow.com"),
        ("coffee.sample.invalid", "coffee.sample.invalid"),
        ("beer-2017", None),  # names no host: the dump's own links, or --site, must say it
        ("datascience-meta-2024", None),
        ("superuser", None),
        ("corpus200", None),
    ],
)
def test_host_from_name(name, host):
    assert host_from_name(name) == host


def test_folder_of_sites(tmp_path):
    for name in ("tea.stackexchange.com-2020", "beer.stackexchange.com"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Posts.xml").write_bytes(dump("\n"))
    (tmp_path / "notes.txt").write_text("ignored")
    sources = resolve(str(tmp_path))
    assert [(s.kind, s.site) for s in sources] == [
        ("posts_xml", "beer.stackexchange.com"), ("posts_xml", "tea.stackexchange.com"),
    ]
    assert resolve(str(tmp_path / "tea.stackexchange.com-2020"))[0].site == "tea.stackexchange.com"
    assert resolve(str(tmp_path / "tea.stackexchange.com-2020" / "Posts.xml"))[0].site == "tea.stackexchange.com"


def test_missing_and_unsupported_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        resolve(str(tmp_path / "nope.xml"))
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(InputError, match="unsupported file type .csv"):
        resolve(str(tmp_path / "x.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Posts.xml"):
        resolve(str(tmp_path / "empty"))
    assert resolve_all([])[0].site == "coffee.sample.invalid"


@pytest.mark.slow
def test_hub_dataset_id_streams_through_datasets(tmp_path, monkeypatch):
    """No network here: `datasets.load_dataset` is replaced by a local iterable dataset, so the test
    covers everything stackpref does with a Hub id (streaming, layout detection, conversion)."""
    import datasets
    from conftest import run_build

    rows = [
        {"qid": q, "question": f"<p>How do I descale kettle model {q}?</p>", "date": "2020/01/0%d" % (q % 9 + 1),
         "metadata": [f"https://coffee.stackexchange.com/questions/{q}"],
         "response_j": f"Use citric acid, a tablespoon per litre, for kettle {q}.",
         "response_k": "Vinegar."}
        for q in range(1, 30)
    ]
    asked = {}

    def fake_load_dataset(repo_id, split, streaming):
        asked.update(repo_id=repo_id, split=split, streaming=streaming)
        return datasets.IterableDataset.from_generator(lambda: iter(rows))

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    manifest = run_build(tmp_path / "out", "someone/se-paired", split={"sft": 0.0, "train": 0.5, "test": 0.5})
    assert asked == {"repo_id": "someone/se-paired", "split": "train", "streaming": True}
    assert manifest["inputs"] == [{"kind": "hub", "location": "someone/se-paired", "site": "se-paired",
                                   "first_post": "2020-01-01", "last_post": "2020-01-09"}]  # the rows' dates
    splits = manifest["counts"]["splits"]["pairs"]
    assert splits["train"] + splits["test"] == 29


@pytest.mark.parametrize("range_bytes", [700, 4096, 1 << 16, 1 << 22])
def test_byte_ranges_hold_every_row_once_with_its_line(range_bytes, monkeypatch):
    """Workers read a plain Posts.xml by byte ranges: together the ranges hold exactly the rows the
    streaming reader cuts, each range starts at a row, and its line is the line in the whole file."""
    from stackpref.output import storage
    from stackpref.sources import bundled_sample, posts_xml

    path = bundled_sample()
    data = path.read_bytes()
    rows = b"".join(fragment for fragment, _ in posts_xml.split_rows([data], "sample"))
    monkeypatch.setattr(posts_xml, "FRAGMENT_BYTES", range_bytes)
    ranges = posts_xml.byte_ranges(len(data))
    assert len(ranges) == -(-len(data) // range_bytes)
    parts = []
    with storage.open_input(str(path)) as handle:
        for start, end in ranges:
            fragment, first_line = posts_xml.range_rows(handle, len(data), start, end, "sample")
            if fragment:
                assert fragment.lstrip().startswith(b"<row")
                offset = data.index(fragment)
                assert first_line() == 1 + data[:offset].count(b"\n")
            parts.append(fragment)
    assert b"".join(parts) == rows and rows.count(b"<row") == data.count(b"<row")
