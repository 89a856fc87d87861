"""What every source type says about itself, and the pieces it is read in.

A source type is one class: how it is recognised (`claims`), how big it is (`text_bytes`, for the
plan's bucket count), how the manifest describes it (`describe`), and the pieces it is read in
(`pieces`). A piece is a small frozen dataclass whose `read()` returns one Arrow table of POSTS or
GIVEN_PAIRS rows; the read pass wraps each piece in a spill task that any engine can run.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

import pyarrow as pa

from stackpref.output import storage

CHUNK_BYTES = 1 << 20


class Piece(Protocol):
    """One unit of reading: `read()` -> (kind: 'posts', 'pairs', 'links' or 'votes', table, counts)."""

    kind: str  # 'posts' (POSTS rows), 'pairs' (GIVEN_PAIRS rows), 'links' (a dump's duplicate links), 'votes' (PARTIALS)
    html: bool  # bodies are HTML for sure (a dump), else converted only when they look like it

    def read(self) -> tuple[str, pa.Table, dict[str, int]]: ...


def file_chunks(location: str) -> Iterator[bytes]:
    with storage.open_input(location) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


@dataclass(frozen=True)
class Source:
    """One input. `kind` names the type in the manifest; `dump` marks a site dump, of which a site
    may be given several versions (the newest supersedes the older post by post)."""

    location: str
    site: str

    kind: ClassVar[str]
    dump: ClassVar[bool] = False

    @classmethod
    def claims(cls, name: str) -> bool:
        """Whether a file of this name is this type of source (by its suffix)."""
        return False

    @classmethod
    def from_file(cls, location: str) -> "Source":
        raise NotImplementedError

    def text_bytes(self) -> int:
        """About how many bytes of text the source holds, without reading it."""
        return storage.size(self.location)

    def describe(self) -> dict:
        """What the manifest records about this input."""
        return {"kind": self.kind, "location": self.location, "site": self.site,
                "bytes": storage.size(self.location), "sha256": storage.sha256(self.location)}

    def pieces(self) -> Iterator[Piece]:
        raise NotImplementedError

    def companions(self) -> Iterator[Piece]:
        """Pieces of the dump's companion files (a site's duplicate links), read beside its posts."""
        return iter(())

    def posts_chunks(self) -> Iterator[bytes] | None:
        """The source's Posts.xml bytes read again, to find the lines of a bad row (None: not a dump)."""
        return None

    def has_votes(self) -> bool:
        """Whether the dump comes with its Votes.xml (beside its Posts.xml, or in its .7z)."""
        return False

    def votes(self) -> Iterator[Piece]:
        """The pieces of the dump's Votes.xml (see sources/votes.py), read after its posts."""
        return iter(())


def beside(posts_location: str, lower_name: str) -> str | None:
    """The file named `lower_name` (in any letter case) in the folder of a Posts.xml, if there is one."""
    folder = storage.parent(posts_location)
    return next((loc for loc, what in storage.children(folder)
                 if what == "file" and storage.name(loc).lower() == lower_name), None)
