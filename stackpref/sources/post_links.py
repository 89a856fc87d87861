"""A site's `PostLinks.xml`, the dump companion that says which questions moderators (or the
community) closed as duplicates of which: `<row PostId RelatedPostId LinkTypeId .../>`, type 3.

Such duplicates are usually paraphrases that no text similarity finds, so the build joins their
clusters by these links (see pipeline/plan.py). Only duplicate links are kept; the file is
streamed through the same prolog guard as Posts.xml (no DTD, no entities), in constant memory.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
from lxml import etree

from stackpref.errors import InputError
from stackpref.sources import base
from stackpref.sources.base import file_chunks
from stackpref.sources.posts_xml import _guard_prolog

NAME = "postlinks.xml"  # the member or file name, compared in lower case
DUPLICATE = 3  # LinkTypeId of "closed as a duplicate of"
LINKS = pa.schema([("site", pa.string()), ("post_id", pa.int64()), ("related_post_id", pa.int64())])


def read_duplicate_links(chunks: Iterable[bytes], site: str, label: str) -> tuple[pa.Table, dict[str, int]]:
    """The duplicate links of a PostLinks.xml given as byte chunks, and counts: links read, duplicate
    links, rows skipped for a missing or non-integer id."""
    parser = etree.XMLPullParser(events=("end",), tag="row", resolve_entities=False, no_network=True,
                                 load_dtd=False, huge_tree=True)
    posts, related = [], []
    counts: Counter = Counter()

    def take() -> None:
        for _, row in parser.read_events():
            counts["links_read"] += 1
            if row.get("LinkTypeId") == str(DUPLICATE):
                try:
                    pair = int(row.get("PostId")), int(row.get("RelatedPostId"))
                except (TypeError, ValueError):
                    counts["links_unreadable"] += 1
                else:
                    posts.append(pair[0])
                    related.append(pair[1])
            row.clear()
            while row.getprevious() is not None:
                del row.getparent()[0]

    try:
        for chunk in _guard_prolog(iter(chunks), label):
            parser.feed(chunk)
            take()
        parser.close()
        take()
    except etree.XMLSyntaxError as exc:
        raise InputError(f"{label}: not well-formed XML ({exc})") from None
    counts["duplicate_links"] = len(posts)
    table = pa.table({"site": [site] * len(posts), "post_id": posts, "related_post_id": related}, schema=LINKS)
    return table, dict(counts)


@dataclass(frozen=True)
class PostLinksFile:
    """A PostLinks.xml beside a site's Posts.xml."""

    location: str
    site: str
    kind = "links"
    html = False

    def read(self) -> tuple[str, pa.Table, dict[str, int]]:
        table, counts = read_duplicate_links(file_chunks(self.location), self.site, self.location)
        return "links", table, counts


def beside(posts_location: str) -> str | None:
    """The PostLinks.xml in the folder of a Posts.xml, if there is one (any letter case)."""
    return base.beside(posts_location, NAME)
