"""A small .7z that expands to hundreds of MB of valid rows builds with flat memory.

py7zr decompresses up to 128 MB per step when rows repeat (the step grows with the compression
ratio), and such steps used to be copied and queued 8 deep in the build's process: a 1.4 MB
archive of 400 MB of rows peaked at 1,041 MB. The archive reader now caps py7zr's step and hands
over 1 MB chunks (sources/archive.py), and split_rows cuts any big chunk (posts_xml.py). The build
runs with one worker, so every stage runs in the measured process.

STACKPREF_EXPANDED_MB sets the expanded size (CI: 400; 2048 measured once, see the README of benchmarks).
"""

import os
import random
import subprocess
import sys

import py7zr
import pytest

pytestmark = pytest.mark.slow

EXPANDED_MB = int(os.environ.get("STACKPREF_EXPANDED_MB", "400"))
PEAK_LIMIT_MB = 1024


def _write_posts(path, size_mb: int, questions: int = 3000) -> None:
    """A valid Posts.xml: `questions` questions with two answers each (distinct texts), then tag
    wiki rows (PostTypeId 5, as real dumps hold) with one repeated body up to `size_mb` MB:
    every row is parsed, and the file compresses about 300 to 1."""
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    wiki = "&lt;p&gt;" + " ".join(rng.choice(words) for _ in range(300)) + "&lt;/p&gt;"
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\r\n<posts>\r\n')
        post = 0
        for _ in range(questions):
            post += 1
            qid = post
            title, body = " ".join(rng.choices(words, k=8)), " ".join(rng.choices(words, k=40))
            out.write(f'  <row Id="{qid}" PostTypeId="1" CreationDate="2015-01-01T00:00:00.000" Score="3" '
                      f'Body="&lt;p&gt;{body}&lt;/p&gt;" Title="{title}?" Tags="&lt;x&gt;" '
                      'ContentLicense="CC BY-SA 3.0" />\r\n')
            for score in (0, 4):
                post += 1
                body = " ".join(rng.choices(words, k=30))
                out.write(f'  <row Id="{post}" PostTypeId="2" ParentId="{qid}" CreationDate="2015-01-02T00:00:00.000" '
                          f'Score="{score}" Body="&lt;p&gt;{body}&lt;/p&gt;" ContentLicense="CC BY-SA 3.0" />\r\n')
        while out.tell() < size_mb << 20:
            out.write("".join(f'  <row Id="{post + k}" PostTypeId="5" CreationDate="2015-01-01T00:00:00.000" '
                              f'Body="{wiki}" />\r\n' for k in range(1, 2001)))
            post += 2000
        out.write("</posts>\r\n")


CLI = "import sys; from stackpref.cli import main; sys.argv[0] = 'stackpref'; main()"
MEASURE = (
    "import resource, subprocess, sys; "
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "sys.stderr.write(r.stderr[-2000:]); "
    "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def test_small_archive_expanding_to_hundreds_of_mb_builds_in_flat_memory(tmp_path):
    posts = tmp_path / "Posts.xml"
    _write_posts(posts, EXPANDED_MB)
    archive = tmp_path / "big.example.org.7z"
    with py7zr.SevenZipFile(archive, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as packed:
        packed.write(posts, "Posts.xml")
    expanded = posts.stat().st_size
    posts.unlink()
    assert archive.stat().st_size < 5 << 20 and expanded > EXPANDED_MB << 20
    out = tmp_path / "out"
    # A wrapper process, so that only the build (not this test session's other children) is measured.
    result = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-c", CLI, "build",
                             str(archive), "--out", str(out), "-q", "--site", f"{archive}=big.example.org",
                             "--workers", "1"], capture_output=True, text=True, timeout=600)
    code, peak_kb = (int(word) for word in result.stdout.split())
    assert code == 0, result.stderr
    assert (out / "manifest.json").is_file()
    assert peak_kb >> 10 < PEAK_LIMIT_MB, f"peak RSS {peak_kb >> 10} MB for a {archive.stat().st_size >> 10} KB .7z"
