"""A site's `.7z` archive: one member read as a stream of byte chunks, never written to disk.

py7zr pushes decompressed bytes into writer objects; a bounded queue turns that push into the
pull the XML parser wants, so at most a few chunks are in memory at once.

How much py7zr hands over at a time grows with the compression ratio (up to 128 MB a step for rows
that repeat), so what it hands over is queued in chunks of CHUNK_BYTES, at most QUEUED_CHUNKS
deep: what waits here stays a few MB whatever a small archive expands to.
"""

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import py7zr
from py7zr.io import Py7zIO, WriterFactory

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.sources import post_links, votes
from stackpref.sources.base import Source
from stackpref.sources.posts_file import PostsFragment
from stackpref.sources.posts_xml import split_rows
from stackpref.sources.sites import SiteOverrides, dump_host

_DONE = object()
ARCHIVE_RATIO = 5  # a site .7z holds about 5x its size in XML
CHUNK_BYTES = 1 << 20  # a decompressed chunk handed over at a time
QUEUED_CHUNKS = 8  # chunks waiting for the consumer: at most QUEUED_CHUNKS x CHUNK_BYTES


class _Stopped(Exception):
    """The reader stopped early: ends py7zr's extraction instead of letting it decompress the rest."""


def safe_member_names(path: str) -> list[str]:
    """All member names, after refusing any that is absolute or climbs out with `..`."""
    try:
        with storage.open_input(path) as handle, py7zr.SevenZipFile(handle, "r") as archive:
            names = archive.getnames()
    except py7zr.exceptions.PasswordRequired:
        raise InputError(f"{path}: the archive is encrypted (password-protected); Stack Exchange dumps are not: "
                         "give a plain .7z") from None
    except (py7zr.Bad7zFile, py7zr.exceptions.ArchiveError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .7z archive ({exc})") from None
    for name in names:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and parts[0].endswith(":")):
            raise InputError(f"{path}: member {name!r} climbs out of the archive's folder; refusing the archive")
    return names


def find_member(path: str, lower_name: str) -> str | None:
    """The member whose file name is `lower_name` in any letter case, in any folder of the archive."""
    return next((name for name in safe_member_names(path) if PurePosixPath(name).name.lower() == lower_name), None)


def find_posts_member(path: str) -> str:
    if member := find_member(path, "posts.xml"):
        return member
    names = safe_member_names(path)
    raise InputError(f"{path}: no Posts.xml member (members: {', '.join(names[:10]) or 'none'})")


class _QueueWriter(Py7zIO):
    def __init__(self, sink: "queue.Queue", stop: threading.Event):
        self.sink, self.stop, self.written = sink, stop, 0

    def write(self, s) -> int:
        """Queue `s` in chunks of at most CHUNK_BYTES, so that what waits in the queue is bounded
        however much py7zr hands over at once."""
        view = memoryview(s).cast("B")
        for at in range(0, len(view), CHUNK_BYTES):
            chunk = bytes(view[at : at + CHUNK_BYTES])
            while not self.stop.is_set():
                try:
                    self.sink.put(chunk, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self.stop.is_set():
                raise _Stopped
        self.written += len(view)
        return len(view)

    def read(self, size=None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.written

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self.written


class _QueueFactory(WriterFactory):
    def __init__(self, sink: "queue.Queue", stop: threading.Event):
        self.sink, self.stop = sink, stop

    def create(self, filename: str) -> Py7zIO:
        return _QueueWriter(self.sink, self.stop)


def iter_member_chunks(path: str, member: str) -> Iterator[bytes]:
    """Decompress `member` in a thread and yield its bytes in order."""
    sink: queue.Queue = queue.Queue(maxsize=QUEUED_CHUNKS)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with storage.open_input(path) as handle, py7zr.SevenZipFile(handle, "r") as archive:
                archive.extract(targets=[member], factory=_QueueFactory(sink, stop))
        except _Stopped:  # the reader has what it wanted (a host pre-scan reads only the head)
            pass
        except BaseException as exc:  # handed to the consumer thread below
            failure.append(exc)
        finally:
            while not stop.is_set():
                try:
                    sink.put(_DONE, timeout=0.1)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=produce, name=f"7z:{storage.name(path)}", daemon=True)
    thread.start()
    try:
        while (chunk := sink.get()) is not _DONE:
            yield chunk
    finally:
        stop.set()
        thread.join(timeout=5)
    if failure and isinstance(failure[0], py7zr.exceptions.PasswordRequired):
        raise InputError(f"{path}: {member} is encrypted (password-protected); Stack Exchange dumps are not: "
                         "give a plain .7z")
    if failure:
        raise InputError(f"{path}: cannot decompress {member} ({failure[0]})")


@dataclass(frozen=True)
class ArchiveSource(Source):
    """A site's `.7z`: its Posts.xml member is decompressed here, as a stream, and cut into fragments
    of whole rows that the workers parse."""

    kind = "archive"
    dump = True

    @classmethod
    def claims(cls, name: str) -> bool:
        return name.lower().endswith(".7z")

    @classmethod
    def from_file(cls, location: str, sites: SiteOverrides | None = None) -> "ArchiveSource":
        """The site: --site, a host-named archive, or its Posts.xml's links to its own questions (see sites.py)."""
        return cls(location, dump_host(location, paths=[location], names=[storage.name(location)], name_first=True,
                                       head=lambda: iter_member_chunks(location, find_posts_member(location)),
                                       sites=sites))

    def text_bytes(self) -> int:
        return storage.size(self.location) * ARCHIVE_RATIO

    def pieces(self) -> Iterator[PostsFragment]:
        member = find_posts_member(self.location)
        label = f"{self.location}:{member}"
        for fragment, line in split_rows(iter_member_chunks(self.location, member), label):
            yield PostsFragment(fragment, line, self.site, self.location, label)

    def companions(self) -> Iterator["PostLinksMember"]:
        if member := find_member(self.location, post_links.NAME):
            yield PostLinksMember(self.location, member, self.site)

    def posts_chunks(self) -> Iterator[bytes]:
        return iter_member_chunks(self.location, find_posts_member(self.location))

    def has_votes(self) -> bool:
        return find_member(self.location, votes.NAME) is not None

    def votes(self) -> Iterator[votes.VotesFragment]:
        """The Votes.xml member, decompressed here as a stream and cut into fragments of whole rows."""
        if member := find_member(self.location, votes.NAME):
            label = f"{self.location}:{member}"
            for fragment, line in split_rows(iter_member_chunks(self.location, member), label, votes.ROOT):
                yield votes.VotesFragment(fragment, line, label)


@dataclass(frozen=True)
class PostLinksMember:
    """The PostLinks.xml member of a site's .7z, decompressed as a stream where the piece runs."""

    location: str
    member: str
    site: str
    kind = "links"
    html = False

    def read(self):
        table, counts = post_links.read_duplicate_links(iter_member_chunks(self.location, self.member), self.site,
                                                        f"{self.location}:{self.member}")
        return "links", table, counts
