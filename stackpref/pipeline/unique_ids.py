"""A dump holds each post once, across all the pieces it is read in.

Each piece refuses a post Id it holds twice (sources/posts_xml.parse_rows); a post in two pieces
of one source would be paired twice and written under two questions. Each piece reports the span
of its post ids, and pieces whose spans do not overlap cannot share an id: every real dump lists
its posts by Id, so the spans alone prove it, at no cost. Only the pieces whose spans overlap (a
dump whose rows were shuffled or concatenated) have their (site, post id) columns read back.
"""

import re
from collections.abc import Callable, Iterable, Iterator

import polars as pl

from stackpref.errors import InputError
from stackpref.output import storage


def overlapping(spans: list[tuple[int, int, str]]) -> list[str]:
    """The spill files among (lowest id, highest id, file) whose span overlaps another's."""
    found: set[str] = set()
    reach: tuple[int, str] | None = None  # the highest id seen so far, and its file
    for low, high, path in sorted(spans):
        if reach is not None and low <= reach[0]:
            found.update((path, reach[1]))
        if reach is None or high > reach[0]:
            reach = (high, path)
    return sorted(found)


def check_unique_ids(spans: list[tuple[int, int, str]], label: str,
                     chunks: Callable[[], Iterable[bytes] | None]) -> None:
    """Refuse a source whose pieces share a (site, post id), naming the id and, when the source's
    bytes can be read again (`chunks()`, called only then), the lines it is on."""
    files = overlapping(spans)
    if not files:
        return
    ids = pl.concat([storage.read_frame(path, ["site", "post_id"]) for path in files])
    twice = ids.filter(pl.struct("site", "post_id").is_duplicated()).sort("post_id").head(1)
    if twice.is_empty():
        return
    post_id = twice["post_id"][0]
    again = chunks()
    lines = _lines_with_id(again, post_id) if again is not None else []
    where = f"lines {lines[0]:,} and {lines[1]:,}" if len(lines) >= 2 else "two places"
    raise InputError(f"{label}: duplicate post Id {post_id} at {where} (a dump holds each post once; is this two "
                     "dumps joined?)")


def _lines_with_id(chunks: Iterable[bytes], post_id: int) -> list[int]:
    """The lines on which a `<row` has Id="post_id", the first two (read only for an error)."""
    row = re.compile(rb'<row\b[^>]*?\sId="' + str(post_id).encode() + rb'"')
    found = []
    for number, line in enumerate(_lines(chunks), start=1):
        if row.search(line):
            found.append(number)
            if len(found) == 2:
                break
    return found


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts
    yield rest
