"""Progress: bytes, percentage, speed and time left where the size is known; plain lines without
control characters when stderr is not a terminal; nothing with -q; text from the data (site and file
names) is never read as rich markup, in progress or in `stackpref inspect`. And a Hub tokenizer with
no network fails at once with the offline hint."""

import io
import os
import re
import subprocess
import sys
import time

from helpers import invoke

from stackpref.progress import Progress

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def test_plain_lines_when_not_a_terminal_with_bytes_percentage_and_time_left():
    stream = io.StringIO()
    with Progress(True, stream=stream, interval=0) as bar:
        bar.step("read beer.stackexchange.com (Posts.xml)", total_bytes=200_000_000)
        time.sleep(0.6)
        bar.advance(1_000, nbytes=50_000_000)
        bar.step("route rows to buckets")
        bar.advance(1, unit="tasks")
    text = stream.getvalue()
    assert not CONTROL.search(text), repr(text)
    lines = text.splitlines()
    assert lines[0] == "stackpref: read beer.stackexchange.com (Posts.xml) (200.0 MB)"
    running = next(line for line in lines if "50.0 of 200.0 MB" in line)
    assert "(25%)" in running and "MB/s" in running and "1,000 rows" in running and "left" in running
    assert any(line.startswith("stackpref: route rows to buckets: done, 1 tasks") for line in lines)


def test_plain_lines_come_every_interval_even_without_advances():
    stream = io.StringIO()
    with Progress(True, stream=stream, interval=0.3) as bar:
        bar.step("verify clusters, filter, split, pair: 1 bucket(s)")
        time.sleep(1.5)
    ticks = [line for line in stream.getvalue().splitlines() if line.endswith(("0:00:00", "0:00:01"))
             and ": done" not in line]
    assert len(ticks) >= 2, stream.getvalue()


def test_disabled_says_nothing():
    stream = io.StringIO()
    with Progress(False, stream=stream, interval=0) as bar:
        bar.step("read x", total_bytes=10)
        bar.advance(1, nbytes=5)
    assert stream.getvalue() == ""


def test_data_text_is_not_markup_on_a_terminal():
    stream = io.StringIO()
    name = "read [bold]evil[/bold] ([/bold]Posts.xml[link=x])"
    with Progress(True, stream=stream, terminal=True) as bar:
        bar.step(name, total_bytes=100)
        bar.advance(3, nbytes=50)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "[bold]evil[/bold] ([/bold]Posts.xml[link=x])" in plain


def test_build_is_quiet_with_q_and_plain_without(tmp_path):
    quiet = invoke("build", "--out", tmp_path / "a", "-q")
    assert quiet.exit_code == 0, quiet.output
    assert "stackpref:" not in quiet.output
    loud = invoke("build", "--out", tmp_path / "b")
    assert loud.exit_code == 0, loud.output
    assert "stackpref: read " in loud.output and not CONTROL.search(loud.output)


def test_inspect_shows_markup_in_the_data_as_text(monkeypatch, capsys):
    from stackpref.output import inspection

    summary = {"out": "/tmp/[bold]x", "splits": {"pairs": {"train": 1, "test": 0}, "sft": {"train": 0, "test": 0}},
               "sites": {"[/bold]site[red]": {"pairs/train": 1}}, "margins": {"[/x]": 1},
               "overlap_check": {"passed": True, "questions_in_two_splits": 0, "questions_checked": 1,
                                 "clusters_in_two_splits": 0, "clusters_checked": 1},
               "examples": [{"question_url": "https://x/[/bold]", "margin": 1, "prompt": "a [/bold] b",
                             "chosen": "[red]c[/red]", "rejected": "d\\"}]}
    numbers = {"pairs": 1, **{name: None for name in inspection.MEANINGS}}
    summary |= {"length_unit": "characters", "bias": {"all": numbers, "sites": {"[/bold]site[red]": numbers}}}
    inspection.print_summary(summary)
    out = capsys.readouterr().out
    for text in ("[/bold]site[red]", "https://x/[/bold]", "a [/bold] b", "[red]c[/red]", "[/x]"):
        assert text in out


def test_hub_tokenizer_without_network_fails_at_once(tmp_path):
    for env in ({"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": ""}):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", "from stackpref.cli import main; main()", "build", "--out", str(tmp_path / "out"),
             "-q", "--tokenizer", "gpt2"], check=False, capture_output=True, text=True, timeout=60,
            env={**os.environ, "HF_HOME": str(tmp_path / "hf"), **env})
        assert time.monotonic() - started < 5
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "not found in the local Hugging Face cache" in lines[0], done.stderr
        assert not (tmp_path / "out").exists()
