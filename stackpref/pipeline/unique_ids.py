"""A dump holds each post once, across all the pieces it is read in.

Each piece refuses a post Id it holds twice (sources/posts_xml.parse_rows); a post in two pieces
of one source would be paired twice and written under two questions. Each piece reports the span
of its post ids, and pieces whose spans do not overlap cannot share an id: a dump that lists its
posts by Id (most do) is proven by the spans alone, at no cost. The pieces whose spans overlap
have their (site, post id) columns read back, one id range at a time, so memory stays bounded
whatever the order: not every real dump is sorted (datascience.meta's 2024 dump lists a stretch of
its posts in descending order, and with 64 KB pieces every one of its pieces overlaps another).
"""

import math
import re
from collections.abc import Callable, Iterable, Iterator

import polars as pl

from stackpref.errors import InputError
from stackpref.output import storage

READBACK_ROWS = 5_000_000  # (site, post id) rows held at once when the spans of pieces overlap


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
    post_id = next((found for found in map(_repeated_id, _id_ranges(spans, files)) if found is not None), None)
    if post_id is None:
        return
    again = chunks()
    lines = _lines_with_id(again, post_id) if again is not None else []
    where = f"lines {lines[0]:,} and {lines[1]:,}" if len(lines) >= 2 else "two places"
    raise InputError(f"{label}: duplicate post Id {post_id} at {where} (a dump holds each post once; is this two "
                     "dumps joined?)")


def _id_ranges(spans: list[tuple[int, int, str]], files: list[str]) -> Iterator[tuple[list[str], int, int]]:
    """(files, low, high): the ids of `files` cut into ranges [low, high) of about READBACK_ROWS rows."""
    if not files:
        return
    chosen = set(files)
    low = min(span[0] for span in spans if span[2] in chosen)
    high = max(span[1] for span in spans if span[2] in chosen) + 1
    parts = max(1, math.ceil(sum(storage.parquet_rows(path) for path in files) / READBACK_ROWS))
    width = math.ceil((high - low) / parts)
    for start in range(low, high, width):
        yield files, start, min(start + width, high)


def _repeated_id(part: tuple[list[str], int, int]) -> int | None:
    """The least post id held twice (by one site) among those in [low, high) of the files, or None."""
    files, low, high = part
    ids = pl.concat([storage.read_frame(path, ["site", "post_id"]).filter(pl.col("post_id").is_between(low, high - 1))
                     .with_columns(pl.col("site").cast(pl.Categorical)) for path in files])
    twice = ids.filter(pl.struct("site", "post_id").is_duplicated())
    return None if twice.is_empty() else twice["post_id"].min()


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
