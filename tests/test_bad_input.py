"""Bad input to `stackpref build`: a one-line `Error: ...` that names the file (and line), the
exit code of its error class, and nothing left behind: no --out folder, no staging folder.

Every input is hand-made here, small, in the real dump format (a UTF-8 BOM, the XML declaration,
`<posts>`, one `<row .../>` a line, bodies as escaped HTML).
"""

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import XML_DECL, cli_build, dump_row, posts_xml

import stackpref.pipeline.build  # noqa: F401  (imported up front so the timing test times the build, not imports)
from stackpref.errors import InputError, OutputExistsError, StackprefError

pytestmark = pytest.mark.slow

py7zr = pytest.importorskip("py7zr")

BOTH_SPLITS = ["--split", "sft=0,train=0.5,test=0.5"]


ROWS = [
    dump_row(Id="1", PostTypeId="1", AcceptedAnswerId="2", CreationDate="2020-03-01T10:00:00.000", Score="5",
         ViewCount="210", Title="How long should bread dough rest before shaping?",
         Body="<p>My dough is sticky and tears when I shape it. How long should it rest first?</p>\n",
         OwnerUserId="7", Tags="<bread><dough>", AnswerCount="3", ContentLicense="CC BY-SA 4.0"),
    dump_row(Id="2", PostTypeId="2", ParentId="1", CreationDate="2020-03-01T11:00:00.000", Score="12",
         Body="<p>Rest it <strong>20 minutes</strong>, covered. The gluten relaxes and it stops tearing.</p>\n",
         OwnerUserId="8", ContentLicense="CC BY-SA 4.0"),
    dump_row(Id="3", PostTypeId="2", ParentId="1", CreationDate="2020-03-01T12:00:00.000", Score="0",
         Body="<p>Just knead in more flour until it stops sticking.</p>\n",
         OwnerUserId="9", ContentLicense="CC BY-SA 4.0"),
    dump_row(Id="4", PostTypeId="2", ParentId="1", CreationDate="2020-03-02T08:30:00.000", Score="-2",
         Body="<p>Put it in the fridge overnight and shape it cold.</p>\n",
         OwnerDisplayName="guest", ContentLicense="CC BY-SA 4.0"),
]
GOOD_POSTS = posts_xml(ROWS)


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _leftovers(out: Path) -> list[Path]:
    """Staging (`.NAME.*.tmp`) and trash (`.NAME.*.old`) folders the writer makes beside OUT."""
    return sorted(out.parent.glob(f".{out.name}.*"))


def _assert_refused(result, out: Path, names: str, *says: str, code: int = InputError.exit_code) -> str:
    """Exit `code`, one `Error: ` line naming `names` and saying each of `says`, nothing left behind."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}\n{result.output}"
    )
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.output.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.output}"
    line = lines[0]
    assert line.startswith("Error: "), line
    assert names in line, line
    said = line.split(names, 1)[1]  # what is said about the file (tmp_path's name holds test names)
    for text in says:
        assert text in said, f"{text!r} not in {said!r}"
    assert not out.exists()
    assert _leftovers(out) == []
    return line


def _read_pairs(out: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(f) for f in sorted((out / "data" / "pairs").glob("*.parquet")))


def test_exit_codes_are_the_error_classes():
    assert InputError.exit_code == 3
    assert OutputExistsError.exit_code == 4
    assert issubclass(InputError, StackprefError) and issubclass(OutputExistsError, StackprefError)


def test_good_posts_builds(tmp_path):
    """The hand-made file the bad cases are cut from is itself good."""
    src = _write(tmp_path / "cooking.stackexchange.com" / "Posts.xml", GOOD_POSTS)
    out = tmp_path / "out"
    result = cli_build(src, out, *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    assert _read_pairs(out).num_rows == 3  # pm 3+1 (accepted), 0, -1: three pairs at margin >= 1
    assert _leftovers(out) == []


# --- truncated and not-XML files ----------------------------------------------------------------


def test_truncated_in_the_middle_of_adump_row(tmp_path):
    cut = GOOD_POSTS.index("tears when")  # inside the question's Body, on line 3
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", GOOD_POSTS[:cut])
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "line 3:", "not well-formed XML")


def test_truncated_in_the_middle_of_a_row_says_truncated(tmp_path):
    cut = GOOD_POSTS.index("tears when")
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", GOOD_POSTS[:cut])
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "truncated")


def test_truncated_after_a_completedump_row(tmp_path):
    """Cut after the last `<row .../>` line, before `</posts>`: every row parses, the end is missing."""
    text = GOOD_POSTS[: GOOD_POSTS.index("</posts>")]
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", text)
    out = tmp_path / "out"
    lines = text.count("\n") + 1
    _assert_refused(cli_build(src, out), out, str(src), f"line {lines}:", "not well-formed XML", "truncated")


def test_truncated_deep_in_a_big_file_names_the_right_line(tmp_path):
    """The parser is fed 1 MiB chunks; the line number must still be the line in the whole file."""
    rows = []
    for i in range(1, 12_001):
        if i % 3 == 1:
            rows.append(dump_row(Id=str(i), PostTypeId="1", Score="1", Title=f"Question number {i}",
                             Body=f"<p>Body of question {i}, padded with a few words of text.</p>"))
        else:
            rows.append(dump_row(Id=str(i), PostTypeId="2", ParentId=str(i - (i - 1) % 3), Score=str(i % 5),
                             Body=f"<p>Answer {i} says something that might be useful.</p>"))
    text = XML_DECL + "<posts>\n" + "\n".join(rows) + "\n</posts>\n"
    cut = text.index('<row Id="9000"') + 30
    assert len(text[:cut].encode()) > 1 << 20  # past the first chunk
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", text[:cut])
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "line 9002:", "not well-formed XML")


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"


@pytest.mark.parametrize("site", ["beer-2017", "quantumcomputing-2018"])  # CRLF and LF line ends
def test_real_dump_cut_mid_row_names_the_line(tmp_path, site):
    """A real dump (read from ../shared at run time) cut in the middle of a row two thirds in."""
    real = SHARED_DATA / site / "Posts.xml"
    if not real.is_file():
        pytest.skip(f"real data not found at {real} (../shared is absent in a user's checkout)")
    data = real.read_bytes()
    row = data.index(b"<row ", len(data) * 2 // 3)
    cut = data.index(b'Body="', row) + 20
    src = _write(tmp_path / site / "Posts.xml", data[:cut])
    out = tmp_path / "out"
    line = data[:cut].count(b"\n") + 1
    _assert_refused(cli_build(src, out), out, str(src), f"line {line}:", "not well-formed XML")


def test_csv_named_posts_xml(tmp_path):
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", "Id,PostTypeId,Score,Body\n1,1,5,How long should dough rest?\n")
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "line 1:", "not well-formed XML")


def test_csv_named_posts_xml_is_not_called_truncated(tmp_path):
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", "Id,PostTypeId,Score,Body\n1,1,5,How long should dough rest?\n")
    out = tmp_path / "out"
    line = _assert_refused(cli_build(src, out), out, str(src), "not well-formed XML")
    assert "truncated" not in line.split(str(src), 1)[1]


def test_bad_row_attribute_names_its_line(tmp_path):
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", GOOD_POSTS.replace('Id="3"', 'Id="three"'))
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "line 5:", "bad <row> attribute", "three")


# --- entity bombs -------------------------------------------------------------------------------


def _billion_laughs() -> str:
    """Ten levels of ten references each: 10**9 copies of `lol` if it were expanded (3 GB)."""
    decl = ['<!DOCTYPE posts [', '  <!ENTITY lol0 "lol">']
    for level in range(1, 10):
        decl.append(f'  <!ENTITY lol{level} "{("&lol%d;" % (level - 1)) * 10}">')
    decl.append("]>")
    rows = [
        '  <row Id="1" PostTypeId="1" Score="1" Title="Laughs" Body="&lol9;" />',
        '  <row Id="2" PostTypeId="2" ParentId="1" Score="3" Body="&lol9;&lol9;" />',
        '  <row Id="3" PostTypeId="2" ParentId="1" Score="0" Body="&lol8;" />',
    ]
    return XML_DECL + "\n".join(decl) + "\n<posts>\n" + "\n".join(rows) + "\n</posts>\n"


def test_billion_laughs_is_refused_fast(tmp_path):
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", _billion_laughs())
    out = tmp_path / "out"
    start = time.perf_counter()
    result = cli_build(src, out)
    elapsed = time.perf_counter() - start
    _assert_refused(result, out, str(src), "line 2:", "DTD")
    assert elapsed < 2.0, f"took {elapsed:.1f}s"


def test_billion_laughs_inside_a_7z_is_refused(tmp_path):
    src = tmp_path / "cooking.stackexchange.com.7z"
    _write_7z(src, [("Posts.xml", _billion_laughs().encode())])
    out = tmp_path / "out"
    start = time.perf_counter()
    result = cli_build(src, out)
    assert time.perf_counter() - start < 2.0
    _assert_refused(result, out, f"{src}:Posts.xml", "DTD")


def test_billion_laughs_behind_a_long_prolog_is_refused_fast(tmp_path):
    """The DOCTYPE after a comment longer than the first 1 MiB read. Refused today only because
    libxml2 (>= 2.11) caps entity amplification; see the xfail below for what gets through."""
    text = _billion_laughs().replace("<!DOCTYPE", "<!--" + "x" * (1 << 20) + "-->\n<!DOCTYPE", 1)
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", text)
    out = tmp_path / "out"
    start = time.perf_counter()
    result = cli_build(src, out)
    elapsed = time.perf_counter() - start
    _assert_refused(result, out, str(src))
    assert elapsed < 2.0, f"took {elapsed:.1f}s"


def _entity_posts() -> str:
    """A DTD with one harmless entity used in every body: must be refused, not expanded."""
    return (
        "<!DOCTYPE posts [\n  <!ENTITY who \"EXPANDED-ENTITY\">\n]>\n<posts>\n"
        '  <row Id="1" PostTypeId="1" Score="2" Title="Entity" Body="&lt;p&gt;What is &who;?&lt;/p&gt;" />\n'
        '  <row Id="2" PostTypeId="2" ParentId="1" Score="9" Body="&lt;p&gt;It is &who; indeed.&lt;/p&gt;" />\n'
        '  <row Id="3" PostTypeId="2" ParentId="1" Score="0" Body="&lt;p&gt;No idea about &who;.&lt;/p&gt;" />\n'
        "</posts>\n"
    )


def test_dtd_with_an_entity_is_refused(tmp_path):
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", XML_DECL + _entity_posts())
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out, *BOTH_SPLITS), out, str(src), "line 2:", "DTD")


def test_dtd_behind_a_long_prolog_is_refused(tmp_path):
    text = XML_DECL + "<!--" + "x" * (1 << 20) + "-->\n" + _entity_posts()
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", text)
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out, *BOTH_SPLITS), out, str(src), "no element in the first")


def test_dtd_in_utf16_is_refused(tmp_path):
    src = tmp_path / "cooking.example.org" / "Posts.xml"
    _write(src, ('<?xml version="1.0" encoding="utf-16"?>\n' + _entity_posts()).encode("utf-16"))
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out, *BOTH_SPLITS), out, str(src), "UTF-16")


# --- .7z archives -------------------------------------------------------------------------------


def _write_7z(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """py7zr's writestr refuses names that are absolute or climb out (ValueError 'Specified path is
    bad'); a hostile archive is made by other tools, so go under that check with _writestr."""
    with py7zr.SevenZipFile(path, "w") as archive:
        for name, data in members:
            try:
                archive.writestr(data, name)
            except ValueError:
                archive._writestr(data, name)
    with py7zr.SevenZipFile(path, "r") as archive:
        assert archive.getnames() == [name.replace("\\", "/") for name, _ in members]
    return path


def test_py7zr_refuses_climbing_names_when_writing(tmp_path):
    """What py7zr allows: its public writer refuses `../x`, so the hostile archives below are made
    with `_writestr`; a backslash name (`..\\x`) it does write, and reads back as `../x`."""
    with py7zr.SevenZipFile(tmp_path / "a.7z", "w") as archive:
        with pytest.raises(ValueError, match="Specified path is bad"):
            archive.writestr(b"x", "../x")
        archive.writestr(b"x", "..\\x")
    with py7zr.SevenZipFile(tmp_path / "a.7z", "r") as archive:
        assert archive.getnames() == ["../x"]


@pytest.mark.parametrize("members", [
    [("../Posts.xml", GOOD_POSTS.encode())],
    [("Posts.xml", GOOD_POSTS.encode()), ("../x", b"outside")],
    [("site/../../Posts.xml", GOOD_POSTS.encode())],
    [("/tmp/Posts.xml", GOOD_POSTS.encode())],
    [("..\\Posts.xml", GOOD_POSTS.encode())],
], ids=["dotdot-posts", "dotdot-x-beside-posts", "nested-dotdot", "absolute", "backslash"])
def test_7z_member_climbing_out_is_refused(tmp_path, monkeypatch, members):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # where a careless extract of "../x" would land: tmp_path
    (tmp_path / "in").mkdir()
    src = _write_7z(tmp_path / "in" / "cooking.stackexchange.com.7z", members)
    out = tmp_path / "out"
    bad = next(name for name, _ in members if ".." in name or name.startswith("/"))
    _assert_refused(cli_build(src, out), out, str(src), "climbs out", repr(bad.replace("\\", "/")))
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "in", "in/cooking.stackexchange.com.7z", "work"
    ]


def test_good_7z_builds_without_extracting(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    archive = _write_7z(tmp_path / "cooking.stackexchange.com.7z", [("Posts.xml", GOOD_POSTS.encode())])
    out = tmp_path / "from7z"
    result = cli_build(archive, out, *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    pairs = _read_pairs(out)
    assert pairs.num_rows == 3
    assert set(pairs["site"].to_pylist()) == {"cooking.stackexchange.com"}
    # Nothing was extracted: the only Posts.xml-like file anywhere is none at all (the archive
    # was written from memory), and the working folder is still empty.
    assert [p for p in tmp_path.rglob("*") if p.name.lower() == "posts.xml"] == []
    assert list(work.iterdir()) == []
    assert _leftovers(out) == []

    # Same pairs as from the plain file of the same site.
    plain = _write(tmp_path / "plain" / "cooking.stackexchange.com" / "Posts.xml", GOOD_POSTS)
    result = cli_build(plain, tmp_path / "fromxml", *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    assert _read_pairs(tmp_path / "fromxml").equals(pairs)


def test_7z_without_posts_xml(tmp_path):
    src = _write_7z(tmp_path / "cooking.stackexchange.com.7z", [("Comments.xml", b"<comments />")])
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "no Posts.xml member", "Comments.xml")


def test_not_a_7z(tmp_path):
    src = _write(tmp_path / "cooking.stackexchange.com.7z", b"7z\xbc\xaf\x27\x1c" + b"\x00" * 10 + b"not really")
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "not a readable .7z archive")


def test_truncated_posts_xml_inside_a_7z(tmp_path):
    text = GOOD_POSTS[: GOOD_POSTS.index("tears when")]
    src = _write_7z(tmp_path / "cooking.stackexchange.com.7z", [("Posts.xml", text.encode())])
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, f"{src}:Posts.xml", "line 3:", "not well-formed XML")


# --- Hub-layout tables --------------------------------------------------------------------------

PAIRED_ROW = {
    "qid": 12,
    "question": "How do I stop a roux from going lumpy when I add milk?",
    "date": "2012/03/14",
    "metadata": ["https://cooking.stackexchange.com/questions/12", "https://cooking.stackexchange.com",
                 "https://cooking.stackexchange.com/users/3"],
    "response_j": "Add the milk a splash at a time and whisk each splash smooth before adding more.",
    "response_k": "Use a blender.",
}


@pytest.mark.parametrize("missing", ["response_k", "response_j", "question", "qid"])
def test_paired_parquet_missing_a_column(tmp_path, missing):
    src = tmp_path / "paired.parquet"
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in PAIRED_ROW.items() if k != missing}]), src)
    out = tmp_path / "out"
    line = _assert_refused(cli_build(src, out), out, str(src), f"missing column(s) {missing}", "stack-exchange-paired")
    assert f"{missing}," not in line.split("has: ", 1)[1] + ","


def test_table_in_neither_layout(tmp_path):
    src = tmp_path / "other.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "q", "text": "a"}]), src)
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "unknown layout", "prompt, text")


def test_parquet_that_is_not_parquet(tmp_path):
    src = _write(tmp_path / "paired.parquet", "qid,question,response_j,response_k\n1,q,a,b\n")
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "cannot read as parquet")


def test_jsonl_that_is_not_json(tmp_path):
    src = _write(tmp_path / "paired.jsonl", "qid,question,response_j,response_k\n1,q,a,b\n")
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "cannot read as jsonl")


def test_jsonl_bad_line_is_named(tmp_path):
    good = '{"qid": %d, "question": "q%d", "response_j": "a", "response_k": "b"}\n'
    src = _write(tmp_path / "paired.jsonl", good % (1, 1) + good % (2, 2) + '{"qid": 3, "question": \n')
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "line 3")


def test_paired_row_with_null_qid(tmp_path):
    src = tmp_path / "paired.parquet"
    pq.write_table(pa.Table.from_pylist([PAIRED_ROW, {**PAIRED_ROW, "qid": None}]), src)
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "qid")


def test_preferences_answer_with_null_pm_score(tmp_path):
    row = {
        "qid": 5, "question": "<p>Why does bread go stale?</p>", "date": "2013/01/02",
        "metadata": ["https://cooking.stackexchange.com/questions/5"],
        "answers": [
            {"answer_id": 6, "author": "ann", "author_id": "1", "author_profile": "", "pm_score": None,
             "selected": False, "text": "Starch retrogradation."},
            {"answer_id": 7, "author": "bo", "author_id": "2", "author_profile": "", "pm_score": 2,
             "selected": True, "text": "<p>The starch recrystallises.</p>"},
        ],
    }
    src = tmp_path / "prefs.parquet"
    pq.write_table(pa.Table.from_pylist([row]), src)
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "pm_score")


# --- empty files and wrong roots ----------------------------------------------------------------


@pytest.mark.parametrize("name,content", [
    ("site/Posts.xml", b""),
    ("site/Posts.xml", "\ufeff\n".encode()),
    ("paired.jsonl", b""),
    ("paired.parquet", b""),
], ids=["xml-0-bytes", "xml-bom-only", "jsonl-0-bytes", "parquet-0-bytes"])
def test_empty_file(tmp_path, name, content):
    src = _write(tmp_path / name, content)
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "empty")


def test_parquet_with_no_rows(tmp_path):
    src = tmp_path / "paired.parquet"
    pq.write_table(pa.Table.from_pylist([PAIRED_ROW]).slice(0, 0), src)
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "no rows")


@pytest.mark.parametrize("root,row", [
    ("comments", '<row Id="1" PostId="1" Score="0" Text="Rest it longer." CreationDate="2020-03-01T10:05:00.000" />'),
    ("users", '<row Id="7" Reputation="101" DisplayName="baker" CreationDate="2019-11-01T09:00:00.000" />'),
])
def test_root_is_not_posts(tmp_path, root, row):
    src = _write(tmp_path / "cooking.example.org" / "Posts.xml", f"{XML_DECL}<{root}>\n  {row}\n</{root}>\n")
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), f"<{root}>", "expected <posts>")


def test_unsupported_file_type(tmp_path):
    src = _write(tmp_path / "Posts.csv", "Id,Body\n1,hello\n")
    out = tmp_path / "out"
    _assert_refused(cli_build(src, out), out, str(src), "unsupported file type .csv")


def test_missing_source(tmp_path):
    out = tmp_path / "out"
    src = tmp_path / "nowhere" / "Posts.xml"
    _assert_refused(cli_build(src, out), out, str(src), "no such file")


# --- the output folder --------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_existing_output_is_refused_then_replaced_with_overwrite(tmp_path):
    src = _write(tmp_path / "cooking.stackexchange.com" / "Posts.xml", GOOD_POSTS)
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "notes.txt").write_text("my own notes\n")
    (out / "data" / "old.parquet").write_bytes(b"PAR1 old")
    before = _snapshot(out)

    result = cli_build(src, out, *BOTH_SPLITS)
    assert result.exit_code == OutputExistsError.exit_code == 4, result.output
    lines = result.output.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert str(out) in lines[0] and "already exists" in lines[0] and "--overwrite" in lines[0]
    assert _snapshot(out) == before
    assert _leftovers(out) == []

    result = cli_build(src, out, *BOTH_SPLITS, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (out / "notes.txt").exists() and not (out / "data" / "old.parquet").exists()
    assert (out / "manifest.json").is_file() and (out / "README.md").is_file()
    assert _read_pairs(out).num_rows == 3
    assert _leftovers(out) == []


def test_failed_overwrite_keeps_the_old_output(tmp_path):
    good = _write(tmp_path / "good" / "cooking.stackexchange.com" / "Posts.xml", GOOD_POSTS)
    out = tmp_path / "out"
    assert cli_build(good, out, *BOTH_SPLITS).exit_code == 0
    before = _snapshot(out)

    bad = _write(tmp_path / "bad" / "cooking.example.org" / "Posts.xml", GOOD_POSTS[: GOOD_POSTS.index("</posts>")])
    result = cli_build(bad, out, *BOTH_SPLITS, "--overwrite")
    assert result.exit_code == InputError.exit_code, result.output
    assert result.output.startswith("Error: ") and str(bad) in result.output
    assert _snapshot(out) == before
    assert _leftovers(out) == []


def test_output_that_is_a_file(tmp_path):
    src = _write(tmp_path / "cooking.stackexchange.com" / "Posts.xml", GOOD_POSTS)
    out = _write(tmp_path / "out", "not a folder\n")
    result = cli_build(src, out, "--overwrite")
    assert result.exit_code == OutputExistsError.exit_code, result.output
    assert result.output.startswith("Error: ") and "not a folder" in result.output
    assert out.read_text() == "not a folder\n"
    assert _leftovers(out) == []
