"""No lost data (issue 17): an OUT that is, holds or lies in an input is refused; one build per OUT
(a lock beside it); a folder that appears at OUT while a build runs survives; `--overwrite` keeps
the old build until the new one is in place; one bad CreationDate cannot make an older dump the
newer; text options are read as UTF-8 and config values are typed.

Every refusal: its exit code, one `Error: ` line naming the problem, no traceback, the inputs and
any folder of the user's untouched, nothing of the build's left beside OUT.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SHARED_SITES, needs_shared
from helpers import cli_build, dump_row, invoke, posts_xml, read_config

import stackpref
import stackpref.pipeline.build as build_module
from stackpref.config import resolve_config
from stackpref.errors import ConfigError, InputError, OutputExistsError, StackprefError
from stackpref.output import writer
from stackpref.pipeline.plan import LATEST_DATES, newest_dumps

BOTH_SPLITS = ["--split", "sft=0,train=0.5,test=0.5"]
HOST = "cooking.example.org"


def _rows(question: int = 1, day: int = 1) -> list[str]:
    """One question with three answers (three pairs at margin >= 1)."""
    date = f"2020-03-{day:02d}T10:00:00.000"
    return [
        dump_row(Id=str(question), PostTypeId="1", AcceptedAnswerId=str(question + 1), CreationDate=date, Score="5",
                 Title=f"How long should bread dough {question} rest before shaping?",
                 Body="<p>My dough is sticky and tears when I shape it. How long should it rest first?</p>",
                 OwnerUserId="7", Tags="<bread><dough>", ContentLicense="CC BY-SA 4.0"),
        dump_row(Id=str(question + 1), PostTypeId="2", ParentId=str(question), CreationDate=date, Score="12",
                 Body="<p>Rest it <strong>20 minutes</strong>, covered. The gluten relaxes.</p>",
                 OwnerUserId="8", ContentLicense="CC BY-SA 4.0"),
        dump_row(Id=str(question + 2), PostTypeId="2", ParentId=str(question), CreationDate=date, Score="0",
                 Body="<p>Just knead in more flour until it stops sticking.</p>", OwnerUserId="9",
                 ContentLicense="CC BY-SA 4.0"),
        dump_row(Id=str(question + 3), PostTypeId="2", ParentId=str(question), CreationDate=date, Score="-2",
                 Body="<p>Put it in the fridge overnight and shape it cold.</p>", OwnerUserId="9",
                 ContentLicense="CC BY-SA 4.0"),
    ]


def _site(folder: Path, rows: list[str] | None = None) -> Path:
    """A dump folder named by its host, holding Posts.xml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Posts.xml").write_text(posts_xml(rows or _rows()), encoding="utf-8")
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(out: Path) -> list[Path]:
    """What the writer makes beside OUT: staging (`.OUT.*.tmp`), old builds (`.OUT.*.old`), the lock."""
    return sorted(out.parent.glob(f".{out.name}.*"))


def _error_line(result, code: int) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}\n{result.output}")
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and result.output.strip().splitlines()[-1] == errors[0], result.output
    return errors[0]


# --- OUT apart from the sources and the tmp dir --------------------------------------------------


def test_out_that_is_a_source_is_refused_and_the_source_kept(tmp_path):
    site = _site(tmp_path / HOST)
    before = _snapshot(site)
    line = _error_line(cli_build(site, site, "--overwrite", *BOTH_SPLITS), ConfigError.exit_code)
    assert f"--out {site} is the source {site}" in line
    assert _snapshot(site) == before and _leftovers(site) == []


def test_out_that_holds_a_source_is_refused_and_the_source_kept(tmp_path):
    dumps = tmp_path / "dumps"
    site = _site(dumps / HOST)
    (dumps / "notes.txt").write_text("mine\n")
    before = _snapshot(dumps)
    for given in (site, dumps, site / "Posts.xml"):
        line = _error_line(cli_build(given, dumps, "--overwrite", *BOTH_SPLITS), ConfigError.exit_code)
        assert f"--out {dumps}" in line and ("contains the source" in line or "is the source" in line), line
        assert _snapshot(dumps) == before and _leftovers(dumps) == []


def test_out_inside_a_source_is_refused(tmp_path):
    site = _site(tmp_path / HOST)
    before = _snapshot(site)
    for extra in ([], ["--overwrite"]):
        out = site / "out"
        line = _error_line(cli_build(site, out, *extra, *BOTH_SPLITS), ConfigError.exit_code)
        assert f"--out {out} lies inside the source {site}" in line
        assert not out.exists() and _leftovers(out) == [] and _snapshot(site) == before


def test_symlinks_are_resolved(tmp_path):
    site = _site(tmp_path / "real" / HOST)
    link = tmp_path / "link"
    link.symlink_to(site, target_is_directory=True)
    before = _snapshot(site)
    line = _error_line(cli_build(site, link, "--overwrite", *BOTH_SPLITS), ConfigError.exit_code)
    assert "is the source" in line
    # the source given through a link to a folder that holds OUT's parent
    line = _error_line(cli_build(link, tmp_path / "real", "--overwrite", *BOTH_SPLITS), ConfigError.exit_code)
    assert "contains the source" in line
    assert _snapshot(site) == before and link.is_symlink()


def test_out_that_is_or_holds_the_tmp_dir_is_refused(tmp_path):
    site = _site(tmp_path / HOST)
    out = tmp_path / "out"
    (out / "spill").mkdir(parents=True)
    (out / "spill" / "keep.txt").write_text("mine\n")
    for tmp_dir, relation in ((out, "is"), (out / "spill", "contains")):
        line = _error_line(cli_build(site, out, "--overwrite", "--tmp-dir", tmp_dir, *BOTH_SPLITS),
                           ConfigError.exit_code)
        assert f"--out {out} {relation} the --tmp-dir {tmp_dir}" in line
    assert (out / "spill" / "keep.txt").read_text() == "mine\n" and _leftovers(out) == []


def test_out_inside_the_tmp_dir_is_fine(tmp_path):
    """A build removes only its own spill folder in the tmp dir, never anything beside it."""
    site = _site(tmp_path / "in" / HOST)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = cli_build(site, scratch / "out", "--tmp-dir", scratch, *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in scratch.iterdir()) == ["out"]


@pytest.mark.parametrize("out, other, relation", [
    ("s3://bucket/data", "s3://bucket/data", "is"),
    ("s3://bucket/data/", "s3://bucket/data", "is"),
    ("s3://bucket/data", "s3://bucket/data/beer.stackexchange.com/Posts.xml", "contains"),
    ("s3://bucket", "s3://bucket/data", "contains"),
    ("s3://bucket/data/out", "s3://bucket/data", "lies inside"),
    ("s3://bucket/data2", "s3://bucket/data", None),
    ("s3://bucket/data", "gs://bucket/data", None),
    ("s3://other/data", "s3://bucket/data", None),
    ("s3://bucket/data", "someone/se-paired", None),  # a Hub id: nothing local to lose
])
def test_uris_are_compared_by_prefix(out, other, relation):
    if relation is None:
        writer.check_apart(out, [other])
        writer.check_apart(out, [], tmp_dir=other)
    else:
        with pytest.raises(ConfigError, match=f"{relation} the source {re.escape(other)}"):
            writer.check_apart(out, [other])


# --- one build per OUT, checked again at the end --------------------------------------------------


def _during_build(monkeypatch, action):
    """Run `action(stage)` once the build has written its files, before it moves them into place."""
    original = build_module.written_keys

    def hooked(stage):
        action(stage)
        return original(stage)

    monkeypatch.setattr(build_module, "written_keys", hooked)


def test_a_folder_made_at_out_during_a_build_survives(tmp_path, monkeypatch):
    site = _site(tmp_path / HOST)
    out = tmp_path / "out"

    def user_makes_out(stage):
        out.mkdir()
        (out / "mine.txt").write_text("my own work\n")

    _during_build(monkeypatch, user_makes_out)
    line = _error_line(cli_build(site, out, *BOTH_SPLITS), OutputExistsError.exit_code)
    assert str(out) in line and "appeared while this build ran" in line and "nothing was written" in line
    assert _snapshot(out) == {"mine.txt": b"my own work\n"}
    assert _leftovers(out) == []


def test_a_second_build_to_the_same_out_fails_at_once_naming_the_lock(tmp_path, monkeypatch):
    site = _site(tmp_path / HOST)
    out = tmp_path / "out"
    seen = []

    def second_build(stage):
        started = time.monotonic()
        with pytest.raises(OutputExistsError) as refused:
            stackpref.build(resolve_config(sources=[str(site)], out=str(out), split={"sft": 0, "train": .5, "test": .5}))
        seen.append((str(refused.value), time.monotonic() - started))
        assert not out.exists()

    _during_build(monkeypatch, second_build)
    result = cli_build(site, out, *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    [(message, seconds)] = seen
    lock = writer.lock_path(out)
    assert f"{out}: another build is writing it (pid {os.getpid()} on host {socket.gethostname()}" in message
    assert f"holds the lock {lock}" in message and seconds < 5
    assert (out / "manifest.json").is_file() and _leftovers(out) == []


@pytest.mark.slow
def test_two_builds_at_once_one_wins_the_other_exits_4(tmp_path):
    site = _site(tmp_path / HOST, [row for q in range(1, 200, 4) for row in _rows(q)])
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from stackpref.cli import main; main()", "build", str(site), "--out", str(out),
               "-q", "--workers", "1", *BOTH_SPLITS]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert sorted(code for code, _ in results) == [0, OutputExistsError.exit_code], results
    [(_, loser)] = [r for r in results if r[0] != 0]
    assert loser.startswith("Error: ") and len(loser.strip().splitlines()) == 1 and str(out) in loser, loser
    assert json.loads((out / "manifest.json").read_text())["overlap_check"]["passed"]
    assert _leftovers(out) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_lock_of_a_killed_build_is_taken_over(tmp_path):
    site = _site(tmp_path / HOST)
    out = tmp_path / "out"
    lock = writer.lock_path(out)
    pid = _dead_pid()
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "2020-01-01T00:00:00Z"}))
    stage = out.parent / f".{out.name}.x7kq2m.tmp"  # its staging folder, half written
    (stage / "data").mkdir(parents=True)
    (stage / "data" / "part.parquet").write_bytes(b"PAR1")
    result = cli_build(site, out, *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    assert f"removed {stage}, the unfinished staging folder" in result.output
    assert f"took over the lock {lock} of pid {pid} on host {socket.gethostname()}" in result.output
    assert "no longer running" in result.output
    assert (out / "manifest.json").is_file() and _leftovers(out) == []


def test_a_lock_of_another_host_is_not_taken_over(tmp_path):
    site = _site(tmp_path / HOST)
    out = tmp_path / "out"
    lock = writer.lock_path(out)
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere.example.org", "since": "2020-01-01T00:00:00Z"}))
    line = _error_line(cli_build(site, out, *BOTH_SPLITS), OutputExistsError.exit_code)
    assert f"the lock {lock} is held by pid 1 on host elsewhere.example.org" in line and "remove the lock" in line
    assert not out.exists() and _leftovers(out) == [lock]


# --- --overwrite keeps the old build until the new one is in place --------------------------------


def _old_build(tmp_path: Path) -> tuple[Path, Path, dict]:
    site = _site(tmp_path / HOST)
    out = tmp_path / "out"
    assert cli_build(site, out, *BOTH_SPLITS).exit_code == 0
    return site, out, _snapshot(out)


def _fail_second_move(monkeypatch, error: BaseException):
    """Make the move of the new build into place fail, after the old one was moved aside."""
    original = writer._move

    def move(source: Path, target: Path) -> None:
        if source.name.endswith(".tmp"):
            raise error
        original(source, target)

    monkeypatch.setattr(writer, "_move", move)


def test_a_failure_between_the_overwrite_moves_keeps_the_old_build(tmp_path, monkeypatch):
    site, out, before = _old_build(tmp_path)
    _site(site, _rows(question=10))  # a different build
    _fail_second_move(monkeypatch, OSError(28, "No space left on device"))
    line = _error_line(cli_build(site, out, "--overwrite", *BOTH_SPLITS), StackprefError.exit_code)
    assert f"{out}: cannot move the new build into place (No space left on device)" in line
    assert "previous build was kept" in line
    assert _snapshot(out) == before and _leftovers(out) == []


def test_an_interrupt_between_the_overwrite_moves_keeps_the_old_build(tmp_path, monkeypatch):
    site, out, before = _old_build(tmp_path)
    _fail_second_move(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        stackpref.build(resolve_config(sources=[str(site)], out=str(out)), overwrite=True)
    assert _snapshot(out) == before and _leftovers(out) == []


def _killed_between_the_moves(out: Path) -> Path:
    """What a build killed between the two moves of --overwrite leaves: no OUT, the old build aside."""
    aside = out.parent / f".{out.name}.4242.k1ll3d.old"
    aside.mkdir()
    out.rename(aside / out.name)
    return aside


def test_an_old_build_left_aside_by_a_killed_overwrite_is_restored(tmp_path):
    site, out, before = _old_build(tmp_path)
    aside = _killed_between_the_moves(out)
    result = cli_build(site, out, *BOTH_SPLITS)  # no --overwrite: restored, then refused as it exists
    line = _error_line(result, OutputExistsError.exit_code)
    assert "already exists" in line
    assert f"restored {out} from {aside}" in result.output
    assert _snapshot(out) == before and _leftovers(out) == []

    aside = _killed_between_the_moves(out)
    _site(site, _rows(question=10))
    result = cli_build(site, out, "--overwrite", *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    assert f"restored {out} from {aside}" in result.output
    assert _snapshot(out) != before and _leftovers(out) == []
    assert set(read_config(out, "pairs")["question_id"]) == {10}


def test_an_old_build_left_beside_a_replaced_out_is_removed(tmp_path):
    site, out, _ = _old_build(tmp_path)
    aside = out.parent / f".{out.name}.4242.k1ll3d.old"
    shutil.copytree(out, aside / out.name)  # killed after the new build was moved in, before the cleanup
    result = cli_build(site, out, "--overwrite", *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    assert f"removed {aside}" in result.output
    assert _leftovers(out) == []


# --- dump versions: one bad row cannot reorder them ----------------------------------------------


def test_the_dump_date_is_not_its_one_latest_date():
    older = [f"2016-01-{d:02d}T00:00:00" for d in range(1, 29)] * 5
    newer = older + [f"2017-03-{d:02d}T00:00:00" for d in range(1, 11)]
    sites = {"old": "beer", "new": "beer"}
    assert newer_dump(older, newer, sites) == "new"
    # one, or a few, wrong late dates in the older dump: still older than a dump with more new posts
    assert newer_dump(older + ["2019-06-01T00:00:00"], newer, sites) == "new"
    assert newer_dump(older + ["2019-06-01T00:00:00"] * 9, newer, sites) == "new"
    # few posts: every date counts, oldest first
    assert newest_dumps({"old": ["2020-01-01", "2020-01-02"], "new": ["2020-01-01", "2020-01-02", "2020-01-03"]},
                        sites) == {"beer": "new"}
    assert newest_dumps({"old": "2020-01-02", "new": None}, sites) == {"beer": "old"}  # one date, or none
    assert LATEST_DATES >= 10


def newer_dump(older: list[str], newer: list[str], sites: dict) -> str:
    return newest_dumps({"old": older, "new": newer}, sites)["beer"]


def _beer_dumps(tmp_path: Path, bad_date: str | None = None) -> tuple[Path, Path, int]:
    """tmp copies of beer-2016 and beer-2017 in host-named folders; with `bad_date`, one row of the
    2016 dump (returned: its line) says it."""
    older = tmp_path / "2016" / "beer.stackexchange.com"
    newer = tmp_path / "2017" / "beer.stackexchange.com"
    older.mkdir(parents=True)
    newer.mkdir(parents=True)
    shutil.copyfile(SHARED_SITES / "beer-2017" / "Posts.xml", newer / "Posts.xml")
    lines = (SHARED_SITES / "beer-2016" / "Posts.xml").read_bytes().split(b"\n")
    line = next(i for i, text in enumerate(lines) if b'PostTypeId="2"' in text and i > len(lines) // 2) + 1
    if bad_date is not None:
        lines[line - 1] = re.sub(rb'CreationDate="[^"]*"', f'CreationDate="{bad_date}"'.encode(), lines[line - 1])
    (older / "Posts.xml").write_bytes(b"\n".join(lines))
    return older, newer, line


@needs_shared
@pytest.mark.parametrize("bad, says", [("zzz", "is not a date"), ("9999-12-31", "is in the future"),
                                       ("2016-02-30T10:00:00.000", "is not a date")])
def test_a_bad_creation_date_is_refused_with_its_line(tmp_path, bad, says):
    older, newer, line = _beer_dumps(tmp_path, bad)
    out = tmp_path / "out"
    error = _error_line(cli_build(older, out, newer), InputError.exit_code)
    assert f"{older / 'Posts.xml'}: line {line}: " in error and f"CreationDate '{bad}' {says}" in error, error
    assert not out.exists() and _leftovers(out) == []


@needs_shared
@pytest.mark.slow
def test_a_wrong_late_date_in_the_older_dump_drops_nothing_of_the_newer(tmp_path):
    """2017-12-31 is after every post of beer-2017, yet a date: taken, it must not date beer-2016."""
    older, newer, _ = _beer_dumps(tmp_path / "bad", "2017-12-31T23:59:59.000")
    clean_older, clean_newer, _ = _beer_dumps(tmp_path / "clean")
    manifests = {}
    for name, sources in (("bad", (older, newer)), ("clean", (clean_older, clean_newer))):
        result = cli_build(sources[0], tmp_path / name / "out", sources[1])
        assert result.exit_code == 0, result.output
        manifests[name] = json.loads((tmp_path / name / "out" / "manifest.json").read_text())
    versions = {name: m["counts"]["funnel"]["dump_versions"] for name, m in manifests.items()}
    assert versions["bad"] == versions["clean"]
    assert versions["clean"]["dropped"]["superseded_by_newer_dump"] > 1000
    for config in ("pairs", "sft"):
        assert read_config(tmp_path / "bad" / "out", config).equals(read_config(tmp_path / "clean" / "out", config))


# --- text options as UTF-8, typed config values ---------------------------------------------------


def test_a_non_ascii_prompt_template_is_kept_and_escapes_still_work(tmp_path):
    site = _site(tmp_path / HOST)
    out = tmp_path / "out"
    result = cli_build(site, out, "--prompt-template", r"Antwort (ü) — {question}\n\nA:\t", *BOTH_SPLITS)
    assert result.exit_code == 0, result.output
    prompts = read_config(out, "pairs")["prompt"].to_list()
    assert prompts and all(p.startswith("Antwort (ü) — How long") and "\n\nA:" in p and "\\" not in p
                           for p in prompts)


@pytest.mark.parametrize("template, says", [(r"Q {question} \x4", r"bad escape \x4 at character 14"),
                                            (r"\u12 {question}", r"bad escape \u12 at character 1"),
                                            (r"\N{NO SUCH NAME} {question}", "bad escape"),
                                            ("{question} \\", "a lone backslash at the end")])
def test_a_broken_template_escape_is_one_line(tmp_path, template, says):
    out = tmp_path / "out"
    line = _error_line(invoke("build", "--out", out, "-q", "--prompt-template", template), ConfigError.exit_code)
    assert "--prompt-template" in line and says in line, line
    assert not out.exists() and _leftovers(out) == []


@pytest.mark.parametrize("yaml_line, says", [
    ('near_dup: "false"', "near_dup: expected true or false; got 'false' (a string); write it unquoted"),
    ("duplicate_links: 'no'", "duplicate_links: expected true or false; got 'no' (a string)"),
    ("token_boundary: 0", "token_boundary: expected true or false; got 0 (an integer)"),
    ('seed: "42"', "seed: expected an integer; got '42' (a string)"),
    ("seed: true", "seed: expected an integer; got True (a boolean)"),
    ("workers: 2.5", "workers: expected an integer; got 2.5 (a decimal number)"),
    ('workers: "4"', "workers: expected an integer; got '4' (a string)"),
    ("max_pairs_per_question: 2.5", "max_pairs_per_question: expected an integer; got 2.5"),
    ("near_dup_threshold: .nan", "near_dup_threshold: expected a finite number; got nan"),
    ("near_dup_threshold: '0.9'", "near_dup_threshold: expected a finite number; got '0.9' (a string)"),
    ("split: {sft: .nan, train: 0.5, test: 0.5}", "split: expected a mapping of a string to a finite number"),
    ("sources: dumps/", "sources: expected a list of strings; got 'dumps/' (a string)"),
    ("tokenizer: 5", "tokenizer: expected a string or null; got 5 (an integer)"),
])
def test_config_values_are_typed(tmp_path, yaml_line, says):
    config = tmp_path / "build.yaml"
    config.write_text(yaml_line + "\n", encoding="utf-8")
    out = tmp_path / "out"
    line = _error_line(invoke("build", "--config", config, "--out", out, "-q"), ConfigError.exit_code)
    assert says in line, line
    assert not out.exists() and _leftovers(out) == []


def test_typed_config_values_that_fit_are_taken(tmp_path):
    config = tmp_path / "build.yaml"
    config.write_text("near_dup: no\nduplicate_links: false\nnear_dup_threshold: 1\nseed: 7\nworkers: 2\n")
    loaded = resolve_config(config)
    assert (loaded.near_dup, loaded.duplicate_links, loaded.near_dup_threshold, loaded.seed) == (False, False, 1, 7)
    assert resolve_config(sources=[Path("a"), "b"], out=Path("x")).sources == ["a", "b"]
