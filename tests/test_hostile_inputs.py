"""Hostile input to `stackpref build` (issue 17, input side): every case gives one `Error: ` line
naming the file and the problem, its exit code (3 input, 2 config), no traceback, no output folder,
no staging or spill folder left beside it, and the input files unchanged.

Every input is generated here, in the test's tmp folder. The memory cases build a small `.7z` that
expands to hundreds of MB and measure the build's peak RSS in a subprocess.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import cli_build, dump_row, invoke, one_error_line, posts_xml, read_config

from stackpref.config import MAX_CONFIG_BYTES, resolve_config
from stackpref.errors import ConfigError, InputError, UnreachableError
from stackpref.sources import posts_xml as posts_module
from stackpref.sources.sites import bundled_sample

HOST = "hostile.stackexchange.com"
QUESTION = dict(PostTypeId="1", CreationDate="2020-03-01T10:00:00.000", Score="5", OwnerUserId="7",
                Title="How long should bread dough rest before shaping?", Tags="<bread>",
                Body="<p>My dough is sticky and tears when I shape it. How long should it rest?</p>")
ANSWER = dict(PostTypeId="2", ParentId="1", CreationDate="2020-03-01T11:00:00.000", Score="3", OwnerUserId="8",
              Body="<p>Rest it twenty minutes, covered, and the gluten relaxes.</p>")
ANSWERS = [{"answer_id": 11, "text": "Rest it.", "pm_score": 3, "selected": True, "author": "a", "author_id": 1},
           {"answer_id": 12, "text": "Knead it.", "pm_score": 1, "selected": False, "author": "b", "author_id": 2}]
PREFERENCE_ROW = {"qid": 1, "question": "How long should dough rest?", "answers": ANSWERS, "date": "2020/03/01",
                  "metadata": [f"https://{HOST}/questions/1"]}
HUGE = "9" * 30


def _digests(paths) -> dict:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths if Path(p).is_file()}


def _refused(tmp_path: Path, inputs: list[Path], args: list, names: str, *says: str,
             code: int = InputError.exit_code) -> str:
    """Build `args` into tmp_path/out/build with the spill dir tmp_path/spill; check the promise."""
    out, spill = tmp_path / "out" / "build", tmp_path / "spill"
    out.parent.mkdir(exist_ok=True)
    spill.mkdir(exist_ok=True)
    before = _digests(inputs)
    result = cli_build(*args[:1], out, "--tmp-dir", spill, *args[1:])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}\n{result.output}")
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    lines = result.output.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.output}"
    line = lines[0]
    assert line.startswith("Error: ") and names in line, line
    said = line.split(names, 1)[1]
    for text in says:
        assert text in said, f"{text!r} not in {said!r}"
    assert not out.exists()
    assert list(out.parent.iterdir()) == [], "something left beside OUT"
    assert list(spill.iterdir()) == [], "spill left in the tmp dir"
    assert _digests(inputs) == before, "an input was changed"
    return line


def _dump(tmp_path: Path, rows: list[str]) -> Path:
    folder = tmp_path / "in" / HOST
    folder.mkdir(parents=True)
    path = folder / "Posts.xml"
    path.write_text(posts_xml(rows), encoding="utf-8")
    return path


def _jsonl(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "in" / f"{HOST}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _lines(*rows: dict) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# --- integers beyond int64 ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Id", "Score", "ParentId", "OwnerUserId"])
def test_dump_integer_beyond_int64(tmp_path, name):
    question, answer = dict(Id="1", **QUESTION), dict(Id="2", **ANSWER)
    (answer if name == "ParentId" else question)[name] = HUGE
    src = _dump(tmp_path, [dump_row(**question), dump_row(**answer)])
    _refused(tmp_path, [src], [src], str(src), "line 3" if name != "ParentId" else "line 4", name, "64 bits")


def test_table_qid_beyond_int64(tmp_path):
    src = _jsonl(tmp_path, _lines({**PREFERENCE_ROW, "qid": int(HUGE)}))
    _refused(tmp_path, [src], [src], str(src), "row 1", "qid", "64 bits")


# --- duplicate ids ------------------------------------------------------------------------------


def test_dump_duplicate_post_id(tmp_path):
    src = _dump(tmp_path, [dump_row(Id="1", **QUESTION), dump_row(Id="2", **ANSWER), dump_row(Id="2", **ANSWER)])
    _refused(tmp_path, [src], [src], str(src), "line 5", "duplicate post Id 2")


def test_table_duplicate_qid(tmp_path):
    other = [{**a, "answer_id": a["answer_id"] + 10} for a in ANSWERS]
    src = _jsonl(tmp_path, _lines(PREFERENCE_ROW, {**PREFERENCE_ROW, "answers": other}))
    _refused(tmp_path, [src], [src], str(src), "row 2", "duplicate qid 1")


def _many_posts(questions: int = 40) -> list[str]:
    rows = []
    for q in range(questions):
        qid = 3 * q + 1
        rows.append(dump_row(Id=str(qid), **{**QUESTION, "Title": f"Question {qid}: how long should dough {q} rest?"}))
        for offset, score in ((1, "5"), (2, "0")):
            rows.append(dump_row(Id=str(qid + offset), **{**ANSWER, "ParentId": str(qid), "Score": score,
                                                         "Body": f"<p>Answer {qid + offset}: rest it {q} minutes.</p>"}))
    return rows


def _packed(tmp_path: Path, posts: Path) -> Path:
    import py7zr

    archive = tmp_path / "in" / f"{HOST}.7z"
    with py7zr.SevenZipFile(archive, "w") as packed:
        packed.write(posts, "Posts.xml")
    posts.unlink()
    return archive


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "7z"])
@pytest.mark.parametrize("repeated", ["question", "answer"])
def test_dump_duplicate_post_id_in_two_pieces(tmp_path, monkeypatch, packed, repeated):
    """A post in two pieces of one dump (each piece is checked on its own) is refused with both lines."""
    from stackpref.pipeline import unique_ids

    monkeypatch.setattr(posts_module, "FRAGMENT_BYTES", 2048)  # a dozen pieces
    monkeypatch.setattr(unique_ids, "READBACK_ROWS", 7)  # their ids read back in a dozen ranges
    rows = _many_posts()
    again = dump_row(Id="1", **{**QUESTION, "Title": "A second question 1"}) if repeated == "question" else \
        dump_row(Id="2", **{**ANSWER, "ParentId": "4", "Body": "<p>A second answer 2.</p>"})
    src = _dump(tmp_path, [*rows, again])
    src = _packed(tmp_path, src) if packed else src
    first = 3 if repeated == "question" else 4  # after the BOM/declaration line and <posts>
    _refused(tmp_path, [src], [src, "-j", "1"], str(src), f"duplicate post Id {first - 2} at lines {first} and 123",
             "is this two dumps joined?")


def test_dump_out_of_order_but_unique_builds_as_sorted(tmp_path, monkeypatch):
    """Pieces whose id spans overlap are read back and checked, and pass when no id repeats."""
    monkeypatch.setattr(posts_module, "FRAGMENT_BYTES", 2048)
    from stackpref.pipeline import unique_ids

    read_back = []
    overlapping = unique_ids.overlapping
    monkeypatch.setattr(unique_ids, "overlapping", lambda spans: read_back.append(overlapping(spans)) or read_back[-1])
    monkeypatch.setattr(unique_ids, "READBACK_ROWS", 7)
    rows = _many_posts()
    blocks = [rows[at:at + 3] for at in range(0, len(rows), 3)]  # a question and its answers
    shuffled = [row for block in blocks[::2] + blocks[1::2] for row in block]  # every piece spans most ids
    outputs = []
    for name, order in (("sorted", rows), ("shuffled", shuffled)):
        folder = tmp_path / name / HOST
        folder.mkdir(parents=True)
        (folder / "Posts.xml").write_text(posts_xml(order), encoding="utf-8")
        result = cli_build(folder, tmp_path / f"{name}-out", "-j", "1", "--no-near-dup",
                           "--split", "sft=0,train=1,test=0")
        assert result.exit_code == 0, result.output
        pairs = read_config(tmp_path / f"{name}-out", "pairs")
        outputs.append(pairs.drop("cluster_id").sort("chosen_id", "rejected_id"))
    assert outputs[0].height == 40 and outputs[0].equals(outputs[1])
    assert read_back[0] == [] and len(read_back[1]) > 2  # sorted: the spans prove it; shuffled: read back


# --- not regular files, encrypted archives ------------------------------------------------------


def test_fifo_source(tmp_path):
    fifo = tmp_path / "in" / "Posts.xml"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    _refused(tmp_path, [], [fifo], str(fifo), "FIFO", "not a regular file")


def test_device_source(tmp_path):
    _refused(tmp_path, [], ["/dev/zero"], "/dev/zero", "device", "not a regular file")


@pytest.mark.parametrize("header_encryption", [True, False])
def test_encrypted_7z(tmp_path, header_encryption):
    py7zr = pytest.importorskip("py7zr")
    src = tmp_path / "in" / f"{HOST}.7z"
    src.parent.mkdir()
    data = posts_xml([dump_row(Id="1", **QUESTION), dump_row(Id="2", **ANSWER)]).encode()
    with py7zr.SevenZipFile(src, "w", password="secret", header_encryption=header_encryption) as archive:
        archive.writestr(data, "Posts.xml")
    _refused(tmp_path, [src], [src], str(src), "encrypted")


# --- bad table cells ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Infinity", "NaN", "2.5"])
def test_table_pm_score_not_an_integer(tmp_path, text):
    src = _jsonl(tmp_path, json.dumps(PREFERENCE_ROW).replace('"pm_score": 3', f'"pm_score": {text}') + "\n")
    _refused(tmp_path, [src], [src], str(src), "row 1", "pm_score must be an integer")


def test_table_null_answer(tmp_path):
    src = _jsonl(tmp_path, _lines({**PREFERENCE_ROW, "answers": [ANSWERS[0], None, ANSWERS[1]]}))
    _refused(tmp_path, [src], [src], str(src), "row 1", "answers[1] is null")


@pytest.mark.parametrize("url", ["http://[::1", "https://not a host/questions/1", "ftp://-bad-.example/x"])
def test_table_metadata_url_without_a_host(tmp_path, url):
    """A metadata URL names the row's site: one without a host name is refused, not made a site."""
    good = {**PREFERENCE_ROW, "qid": 5, "answers": [{**a, "answer_id": a["answer_id"] + 50} for a in ANSWERS]}
    src = _jsonl(tmp_path, _lines(good, {**PREFERENCE_ROW, "metadata": ["see the notes", url]}))
    _refused(tmp_path, [src], [src], str(src), "row 2", "metadata URL", "no valid host name")


def test_paired_metadata_url_without_a_host(tmp_path):
    src = tmp_path / "in" / "pairs.parquet"
    src.parent.mkdir(parents=True)
    pq.write_table(pa.table({
        "qid": [1, 2], "question": ["Why rest dough?", "Why knead dough?"], "date": ["2020-03-01"] * 2,
        "metadata": [[f"https://{HOST}/questions/1"], ["notes", "https://a b/questions/2"]],
        "response_j": ["It relaxes.", "It builds gluten."], "response_k": ["No idea.", "Habit."],
    }), src)
    _refused(tmp_path, [src], [src], str(src), "row 2", "'https://a b/questions/2'", "no valid host name")


def test_unreachable_output_store(tmp_path, monkeypatch):
    """An s3:// OUT that cannot be reached (no network here) is one line before any work, exit 8."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    spill = tmp_path / "spill"
    spill.mkdir()
    result = cli_build(bundled_sample(), "s3://stackpref-no-such-bucket/out", "--tmp-dir", spill)
    line = one_error_line(result, UnreachableError.exit_code)
    assert "s3://stackpref-no-such-bucket: cannot reach it" in line and "network" in line
    assert list(spill.iterdir()) == []


def test_nothing_left_to_write(tmp_path):
    """Every question over the prompt limit: one line with the drops, not a build with no files."""
    src = _dump(tmp_path, [dump_row(Id="1", **QUESTION), dump_row(Id="2", **ANSWER),
                           dump_row(Id="3", **{**ANSWER, "Score": "0"})])
    _refused(tmp_path, [src], [src, "--max-prompt-chars", "10"], "nothing to write",
             "1 questions prompt_too_long", "2 answers question_dropped")


def test_jsonl_invalid_utf8(tmp_path):
    good = _lines({**PREFERENCE_ROW, "qid": 5, "answers": [{**a, "answer_id": a["answer_id"] + 50} for a in ANSWERS]})
    src = _jsonl(tmp_path, good.encode() + json.dumps(PREFERENCE_ROW).encode().replace(b"dough", b"d\xff\xfeugh") + b"\n")
    _refused(tmp_path, [src], [src], str(src), "line 2", "UTF-8")


def test_parquet_cell_bomb_is_refused_unread(tmp_path, monkeypatch):
    """A Parquet string that decompresses past the bound is refused from the footer (the bound is
    lowered here so the test file stays small)."""
    from stackpref.sources import hub_layouts

    monkeypatch.setattr(hub_layouts, "MAX_PARQUET_CHUNK_BYTES", 1 << 20)
    src = tmp_path / "in" / f"{HOST}.parquet"
    src.parent.mkdir()
    pq.write_table(pa.Table.from_pylist([{**PREFERENCE_ROW, "question": "x" * (2 << 20)}]), src, compression="zstd")
    assert src.stat().st_size < 64 << 10
    _refused(tmp_path, [src], [src], str(src), "question", "decompresses to 2 MB", "limit")


def test_table_cell_over_the_bound(tmp_path, monkeypatch):
    from stackpref.sources import hub_layouts

    monkeypatch.setattr(hub_layouts, "MAX_CELL_BYTES", 1 << 10)
    src = _jsonl(tmp_path, _lines({**PREFERENCE_ROW, "question": "y" * 5000}))
    _refused(tmp_path, [src], [src], str(src), "row 1", "question", "limit for one cell")


# --- nested rows --------------------------------------------------------------------------------


def test_row_nested_in_a_row(tmp_path):
    outer = dump_row(Id="1", **QUESTION).replace(" />", '><row Id="5" PostTypeId="2" ParentId="1" Body="x" /></row>')
    src = _dump(tmp_path, [outer, dump_row(Id="2", **ANSWER)])
    _refused(tmp_path, [src], [src], str(src), "line 3", "<row> inside another <row>")


# --- rows and whitespace over the bound (plain files; the bound lowered in process) ---------------


@pytest.mark.parametrize("what", ["row", "whitespace"])
def test_plain_file_row_or_gap_over_the_bound(tmp_path, monkeypatch, what):
    monkeypatch.setattr(posts_module, "MAX_ROW_BYTES", 1 << 20)
    monkeypatch.setattr(posts_module, "FRAGMENT_BYTES", 256 << 10)
    big = dump_row(Id="1", **{**QUESTION, "Body": "z" * (3 << 20)}) if what == "row" else dump_row(Id="1", **QUESTION)
    gap = "" if what == "row" else " " * (3 << 20)
    src = _dump(tmp_path, [big + gap, dump_row(Id="2", **ANSWER)])
    _refused(tmp_path, [src], [src, "-j", "1"], str(src), "line 3", "whitespace" if what == "whitespace" else "MB limit")


# --- config files -------------------------------------------------------------------------------


def test_config_billion_laughs_is_refused(tmp_path):
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    rows += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]"
             for i in range(9)]
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join(rows) + "\n")
    result = invoke("build", "--config", config, "--out", tmp_path / "out", "-q")
    assert result.exit_code == ConfigError.exit_code, result.output
    assert "anchor" in result.output and str(config) in result.output and len(result.output.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["dev", "big"])
def test_config_not_a_small_regular_file(tmp_path, kind):
    if kind == "dev":
        config = Path("/dev/zero")
    else:
        config = tmp_path / "big.yaml"
        config.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    result = invoke("build", "--config", config, "--out", tmp_path / "out", "-q")
    assert result.exit_code == ConfigError.exit_code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(config) in lines[0], result.output
    assert ("not a regular file" if kind == "dev" else "limit") in lines[0]


def test_config_paths_are_taken_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    (folder / "dumps" / HOST).mkdir(parents=True)
    (folder / "build.yaml").write_text(f"sources: [dumps/{HOST}, owner/name]\nout: built\ntmp_dir: spill\n")
    monkeypatch.chdir(tmp_path)
    config = resolve_config(folder / "build.yaml")
    assert config.sources == [str(folder / "dumps" / HOST), "owner/name"]  # a Hub id stays one
    assert (config.out, config.tmp_dir) == (str(folder / "built"), str(folder / "spill"))
    flags = resolve_config(folder / "build.yaml", out="here")  # flags stay relative to the working folder
    assert flags.out == "here"


@pytest.mark.parametrize("flag, value", [("--near-dup-ngram", "1000000"), ("--near-dup-bands", "100000000"),
                                         ("--near-dup-rows", "100000000")])
def test_near_dup_numbers_are_bounded(tmp_path, flag, value):
    result = invoke("build", "--out", tmp_path / "out", "-q", flag, value)
    assert result.exit_code == ConfigError.exit_code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "<=" in lines[0] and "Traceback" not in result.output, result.output
    assert not (tmp_path / "out").exists()


# --- memory: small archives that expand to hundreds of MB ----------------------------------------


def _peak_build(tmp_path: Path, src: Path) -> tuple[subprocess.CompletedProcess, int]:
    """`stackpref build SRC` in a subprocess; its peak RSS in bytes (the largest of the children)."""
    code = ("import resource, subprocess, sys\n"
            "r = subprocess.run([sys.executable, '-c', 'from stackpref.cli import main; main()', *sys.argv[1:]],"
            " capture_output=True, text=True)\n"
            "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr)\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, file=sys.stderr)\n"
            "sys.exit(r.returncode)\n")
    out, spill = tmp_path / "out" / "build", tmp_path / "spill"
    out.parent.mkdir()
    spill.mkdir()
    proc = subprocess.run([sys.executable, "-c", code, "build", str(src), "--out", str(out), "--tmp-dir", str(spill),
                           "-q", "-j", "2"], capture_output=True, text=True, timeout=240)
    peak = int(proc.stderr.rsplit("PEAK", 1)[1])
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not out.exists() and list(out.parent.iterdir()) == [] and list(spill.iterdir()) == []
    return proc, peak


def _archive(tmp_path: Path, head: bytes, filler: bytes, times: int, tail: bytes) -> Path:
    """A .7z whose Posts.xml is head + filler * times + tail, written as a stream (never whole)."""
    py7zr = pytest.importorskip("py7zr")
    plain = tmp_path / "plain.xml"
    with plain.open("wb") as handle:
        handle.write(head)
        for _ in range(times):
            handle.write(filler)
        handle.write(tail)
    src = tmp_path / "in" / f"{HOST}.7z"
    src.parent.mkdir()
    with py7zr.SevenZipFile(src, "w") as archive:
        archive.write(plain, "Posts.xml")
    plain.unlink()
    return src


@pytest.mark.slow
@pytest.mark.parametrize("what", ["row", "whitespace"])
def test_small_archive_expanding_to_a_huge_row_or_gap(tmp_path, what):
    first = posts_xml([dump_row(Id="1", **QUESTION)]).rsplit("</posts>", 1)[0].encode()
    if what == "row":
        head, filler, tail = first + b'  <row Id="2" PostTypeId="2" ParentId="1" Body="', b"a" * (1 << 20), b'" />\n</posts>\n'
    else:
        head, filler, tail = first, b" " * (1 << 20), (dump_row(Id="2", **ANSWER) + "\n</posts>\n").encode()
    src = _archive(tmp_path, head, filler, 300, tail)
    assert src.stat().st_size < 1 << 20
    before = _digests([src])
    proc, peak = _peak_build(tmp_path, src)
    assert proc.returncode == InputError.exit_code, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("PEAK")]
    assert len(lines) == 1 and str(src) in lines[0] and "64 MB" in lines[0], proc.stderr
    assert peak < 1 << 30, f"peak RSS {peak >> 20} MB"
    assert _digests([src]) == before
