"""A site's `Votes.xml`: the up and down votes of every post, so that pm_score can be computed from
exact votes, or from the votes an answer got in its first days (`--score-window`).

Stack Overflow's Votes.xml has over 200 M rows, so it is read like a big Posts.xml: cut into byte
ranges (a plain file) or fragments of whole rows (a `.7z` member, see archive.py), through the same
prolog guard and row cutter (posts_xml.split_rows, range_rows), and each piece is parsed where it
runs into partial sums per (post, day). Only those partials are spilled; pass 2 sums them for the
answers the build keeps (pipeline/route.py), so no process holds a table that grows with the file.
Rows: `<row Id PostId VoteTypeId CreationDate [UserId] [BountyAmount]/>`, dates cut to the day.
"""

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from lxml import etree

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.sources.posts_xml import byte_ranges, range_rows

NAME = "votes.xml"  # the member or file name, compared in lower case
ROOT = "votes"
UP, DOWN = "2", "3"  # VoteTypeId of an upvote and a downvote; the other types (accepted, bounty, ...) do not score
# A plain Votes.xml is read in ranges of this size: its rows are small (~80 bytes), so a range is
# about 200k votes, whose partials (a few MB) are one spill file; 4 MB ranges would make 4x the files.
PIECE_BYTES = 16 << 20
# Partial sums of one piece: up and down votes of a post on a day (days since 1970-01-01, UTC). No
# site or dump column: a piece is of one dump, which the build keeps beside its spill file.
PARTIALS = pa.schema([("post_id", pa.int64()), ("day", pa.int32()), ("up", pa.int32()), ("down", pa.int32())])
FEED_BYTES = 1 << 20  # fed to the parser at a time: libxml2 refuses one buffer over 10 MB without huge_tree


def day_number(date: pl.Expr) -> pl.Expr:
    """A dump date (2018-03-12T15:40:02.123) as days since 1970-01-01, the unit of every vote and answer
    day; null where unreadable."""
    return date.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).cast(pl.Int32)


def _slices(fragment: bytes):
    return (fragment[at : at + FEED_BYTES] for at in range(0, len(fragment), FEED_BYTES))


def parse_votes(fragment: bytes, first_line: int | Callable[[], int], label: str) -> tuple[pa.Table, dict[str, int]]:
    """PARTIALS of one fragment of whole `<row>`s, sorted by post, and counts: votes_read (rows),
    up_votes, down_votes, other_votes (other types), votes_unreadable (an up or down vote without a
    readable PostId or CreationDate). Errors name the line in the whole file."""
    parser = etree.XMLPullParser(events=("end",), tag="row", resolve_entities=False, no_network=True,
                                 load_dtd=False)
    posts, dates, up = [], [], []
    other = 0
    try:
        for piece in (b"<votes>", *_slices(fragment), b"</votes>"):
            parser.feed(piece)
            for _, row in parser.read_events():
                kind = row.get("VoteTypeId")
                if kind == UP or kind == DOWN:
                    posts.append(row.get("PostId"))
                    dates.append(row.get("CreationDate"))
                    up.append(kind == UP)
                else:
                    other += 1
                row.clear()
                while row.getprevious() is not None:
                    del row.getparent()[0]
        parser.close()
    except etree.XMLSyntaxError as exc:
        start = first_line() if callable(first_line) else first_line
        raise InputError(f"{label}: line {start + (exc.position[0] if exc.position else 1) - 1}: "
                         f"not well-formed XML ({exc.msg})") from None
    votes = pl.DataFrame({"post_id": posts, "date": dates, "up": up},
                         schema={"post_id": pl.String, "date": pl.String, "up": pl.Boolean})
    votes = votes.select(
        pl.col("post_id").cast(pl.Int64, strict=False),
        day=day_number(pl.col("date")), up="up",
    )
    readable = votes.filter(pl.col("post_id").is_not_null() & pl.col("day").is_not_null())
    partials = readable.group_by("post_id", "day").agg(
        up=pl.col("up").sum().cast(pl.Int32), down=(~pl.col("up")).sum().cast(pl.Int32),
    ).sort("post_id", "day")
    ups = int(readable["up"].sum() or 0)
    counts = {"votes_read": len(posts) + other, "up_votes": ups, "down_votes": readable.height - ups,
              "other_votes": other, "votes_unreadable": votes.height - readable.height}
    return partials.to_arrow().cast(PARTIALS), counts


@dataclass(frozen=True)
class VotesFragment:
    """Whole rows of a Votes.xml (a `.7z` member's, cut by split_rows), parsed where it runs."""

    fragment: bytes
    first_line: object
    label: str
    kind = "votes"
    html = False

    def read(self) -> tuple[str, pa.Table, dict[str, int]]:
        return "votes", *parse_votes(self.fragment, self.first_line, self.label)


@dataclass(frozen=True)
class VotesRange:
    """The rows whose `<row` starts in [start, end) of a Votes.xml beside a Posts.xml."""

    location: str
    size: int
    start: int
    end: int
    kind = "votes"
    html = False

    def read(self) -> tuple[str, pa.Table, dict[str, int]]:
        with storage.open_input(self.location) as handle:
            fragment, first_line = range_rows(handle, self.size, self.start, self.end, self.location, ROOT)
        return VotesFragment(fragment, first_line, self.location).read()


def ranges(location: str):
    """A plain Votes.xml's pieces: fixed byte ranges, so the cut depends on the file alone."""
    size = storage.size(location)
    for start, end in byte_ranges(size, PIECE_BYTES):
        yield VotesRange(location, size, start, end)
