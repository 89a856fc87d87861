"""A plain Posts.xml: read in fixed byte ranges by the workers themselves, so the main process
never moves the dump's bytes."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from stackpref.output import storage
from stackpref.schema import POSTS
from stackpref.sources import post_links, votes
from stackpref.sources.base import Source, beside, file_chunks
from stackpref.sources.posts_xml import byte_ranges, parse_rows, range_rows
from stackpref.sources.sites import SiteOverrides, dump_host, file_head


@dataclass(frozen=True)
class PostsFragment:
    """Whole rows of a dump (`first_line`: their line, or a function giving it), parsed where it runs."""

    fragment: bytes
    first_line: object
    site: str
    source: str
    label: str
    kind = "posts"
    html = True

    def read(self) -> tuple[str, pa.Table, dict[str, int]]:
        skipped: Counter = Counter()
        batches = list(parse_rows(self.fragment, self.first_line, site=self.site, source=self.source,
                                  label=self.label, skipped=skipped))
        return "posts", pa.Table.from_batches(batches, schema=POSTS), dict(skipped)


@dataclass(frozen=True)
class PostsRange:
    """The rows whose `<row` starts in [start, end) of a Posts.xml."""

    location: str
    size: int
    start: int
    end: int
    site: str
    kind = "posts"
    html = True

    def read(self) -> tuple[str, pa.Table, dict[str, int]]:
        with storage.open_input(self.location) as handle:
            fragment, first_line = range_rows(handle, self.size, self.start, self.end, self.location)
            return PostsFragment(fragment, first_line, self.site, self.location, self.location).read()


@dataclass(frozen=True)
class PostsXmlSource(Source):
    kind = "posts_xml"
    dump = True

    @classmethod
    def claims(cls, name: str) -> bool:
        return name.lower().endswith(".xml")

    @classmethod
    def from_file(cls, location: str, sites: SiteOverrides | None = None) -> "PostsXmlSource":
        """The site: --site, the dump's links to its own questions, or a host-named folder (the one
        given, or a local one after following links); see sites.py."""
        folder = storage.parent(location)
        names = [storage.name(folder)]
        if not storage.is_uri(location):
            names.append(Path(location).resolve().parent.name)
        return cls(location, dump_host(location, paths=[location, folder], names=names,
                                       head=lambda: file_head(location), sites=sites))

    def pieces(self) -> Iterator[PostsRange]:
        size = storage.size(self.location)
        for start, end in byte_ranges(size):
            yield PostsRange(self.location, size, start, end, self.site)

    def describe(self) -> dict:
        """The Posts.xml, and each companion file beside it that the build may read."""
        info = super().describe()
        found = [loc for loc in (post_links.beside(self.location), beside(self.location, votes.NAME)) if loc]
        if found:
            info["companions"] = [{"location": loc, "bytes": storage.size(loc), "sha256": storage.sha256(loc)}
                                  for loc in found]
        return info

    def companions(self) -> Iterator[post_links.PostLinksFile]:
        if links := post_links.beside(self.location):
            yield post_links.PostLinksFile(links, self.site)

    def posts_chunks(self) -> Iterator[bytes]:
        return file_chunks(self.location)

    def has_votes(self) -> bool:
        return beside(self.location, votes.NAME) is not None

    def votes(self) -> Iterator[votes.VotesRange]:
        if found := beside(self.location, votes.NAME):
            yield from votes.ranges(found)
