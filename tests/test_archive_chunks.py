"""Cutting a dump stream into fragments of whole rows, whatever the chunks it arrives in: py7zr hands
over about 6 MB at a time, more than a fragment, and a fragment past libxml2's 10 MB limit used to
fail a real site's archive that the same Posts.xml, given plain, built fine."""

import re

import py7zr
import pytest
from conftest import SHARED_SITES, needs_shared
from helpers import cli_build

from stackpref.sources import posts_xml
from stackpref.sources.posts_xml import split_rows

_ID_ATTRS = re.compile(rb'\b(Id|ParentId|AcceptedAnswerId)="(\d+)"')


def merged_dump(copies: int = 1) -> bytes:
    """The six real dumps as one Posts.xml (each dump's ids moved by a multiple of 10^7, so none
    collide), CRLF line ends, `copies` times over with fresh ids."""
    rows = []
    folders = sorted(p for p in SHARED_SITES.iterdir() if (p / "Posts.xml").is_file())
    for copy in range(copies):
        for number, folder in enumerate(folders):
            offset = (copy * len(folders) + number + 1) * 10_000_000

            def moved(match: re.Match, offset: int = offset) -> bytes:
                return match[1] + b'="' + str(int(match[2]) + offset).encode() + b'"'

            for line in (folder / "Posts.xml").read_bytes().splitlines():
                if line.strip().startswith(b"<row"):
                    rows.append(_ID_ATTRS.sub(moved, line.strip()))
    head = b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\r\n<posts>\r\n'
    return head + b"".join(b"  " + row + b"\r\n" for row in rows) + b"</posts>\r\n"


def _chunks(data: bytes, size: int):
    return (data[i : i + size] for i in range(0, len(data), size))


@needs_shared
@pytest.mark.parametrize("chunk", [1_000_003, 4 << 20, (4 << 20) + 1, 6 << 20, 7_340_033, 64 << 20])
def test_fragments_hold_every_row_once_and_stay_small_at_any_chunk_size(chunk):
    data = merged_dump()
    rows = data.count(b"<row ")
    fragments = list(split_rows(_chunks(data, chunk), "merged"))
    assert b"".join(f for f, _ in fragments).count(b"<row ") == rows
    assert all(f.lstrip().startswith(b"<row") for f, _ in fragments)
    assert max(len(f) for f, _ in fragments) <= posts_xml.FRAGMENT_BYTES
    # Each fragment's line is the line of the file it starts on.
    for fragment, line in fragments:
        first = fragment.lstrip()[:60]
        assert data[: data.index(first)].count(b"\n") + 1 == line + fragment[: fragment.index(first)].count(b"\n")


def test_a_row_bigger_than_a_fragment_travels_alone(monkeypatch):
    monkeypatch.setattr(posts_xml, "FRAGMENT_BYTES", 1000)
    rows = [b'<row Id="1" Body="' + b"x" * 5000 + b'" />', *(b'<row Id="%d" />' % i for i in range(2, 200))]
    data = b"<posts>\n" + b"\n".join(rows) + b"\n</posts>\n"
    fragments = [f for f, _ in split_rows(_chunks(data, 3000), "big")]
    assert fragments[0].strip() == rows[0]
    assert all(len(f) <= 1000 for f in fragments[1:])
    assert b"".join(fragments).count(b"<row") == len(rows)


@needs_shared
def test_a_site_archive_of_tens_of_megabytes_builds_as_its_plain_posts_xml(tmp_path):
    data = merged_dump(copies=2)  # about 32 MB of XML
    assert len(data) > 30 << 20
    plain = tmp_path / "merged.example.org"
    plain.mkdir()
    (plain / "Posts.xml").write_bytes(data)
    archive = tmp_path / "merged.example.org.7z"
    with py7zr.SevenZipFile(archive, "w") as seven:
        seven.write(plain / "Posts.xml", "Posts.xml")
    outs = {}
    for name, source in (("plain", plain), ("archive", archive)):
        outs[name] = tmp_path / f"out-{name}"
        result = cli_build(source, outs[name], "--no-near-dup")
        assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(outs["plain"]) for p in (outs["plain"] / "data").rglob("*.parquet"))
    assert files == sorted(p.relative_to(outs["archive"]) for p in (outs["archive"] / "data").rglob("*.parquet"))
    for path in files:
        assert (outs["plain"] / path).read_bytes() == (outs["archive"] / path).read_bytes(), path
