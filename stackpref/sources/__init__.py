"""Sources: turn what the user points at into Source objects, one class per source type.

A source is a Stack Exchange site dump (`Posts.xml`, the site's `.7z`, a folder holding either),
a folder of several sites, a Parquet/JSONL file in one of the Hub layouts, or a Hub dataset id
(`owner/name`, needs network access). Files and folders are local paths or URIs (`s3://...`).
A new source type is one module with a `Source` subclass (see base.py) plus its line in FILE_TYPES.
"""

from pathlib import PurePosixPath

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.sources.archive import ArchiveSource
from stackpref.sources.base import Source
from stackpref.sources.hub_dataset import HUB_ID, HubSource
from stackpref.sources.posts_file import PostsXmlSource
from stackpref.sources.sites import SAMPLE_SITE, bundled_sample, site_host
from stackpref.sources.table import TableSource

# File source types, by suffix; a folder of sites holds site folders and the types after the first.
FILE_TYPES: list[type[Source]] = [PostsXmlSource, ArchiveSource, TableSource]
_IN_FOLDERS = FILE_TYPES[1:]

__all__ = ["FILE_TYPES", "Source", "bundled_sample", "resolve", "resolve_all", "site_host"]


def _site_dir(folder: str) -> Source | None:
    posts = next((loc for loc, what in storage.children(folder)
                  if what == "file" and storage.name(loc).lower() == "posts.xml"), None)
    return PostsXmlSource(posts, site_host(storage.name(folder))) if posts else None


def _file_source(location: str, types: list[type[Source]] = FILE_TYPES) -> Source | None:
    """The source a file is, by its suffix; None for any other file."""
    name = storage.name(location)
    return next((kind.from_file(location) for kind in types if kind.claims(name)), None)


def _kind(location: str) -> str | None:
    try:
        return storage.kind(location)
    except OSError as exc:  # an object store that refuses (no credentials, no such bucket)
        raise InputError(f"{location}: cannot read ({exc})") from None


def resolve(location: str) -> list[Source]:
    """Every source found at one location, in a stable (sorted) order."""
    found_kind = _kind(location)
    if found_kind == "file":
        source = _file_source(location)
        if source is None:
            suffix = PurePosixPath(storage.name(location)).suffix
            raise InputError(f"{location}: unsupported file type {suffix or '(none)'}; expected Posts.xml, a site .7z, "
                             ".parquet or .jsonl")
        return [source]
    if found_kind == "dir":
        site = _site_dir(location)
        if site:
            return [site]
        found: list[Source] = []
        for child, what in storage.children(location):
            if what == "dir" and (sub := _site_dir(child)):
                found.append(sub)
            elif what == "file" and (source := _file_source(child, _IN_FOLDERS)):
                found.append(source)
        if not found:
            raise InputError(f"{location}: no Posts.xml, site folder, .7z, .parquet or .jsonl found in this folder")
        return found
    if HUB_ID.match(location):
        return [HubSource.from_id(location)]
    raise InputError(f"{location}: no such file or folder (and not a Hub dataset id of the form owner/name)")


def resolve_all(locations: list[str]) -> list[Source]:
    """All sources for a build; the bundled sample when none is given."""
    if not locations:
        return [PostsXmlSource(str(bundled_sample()), SAMPLE_SITE)]
    return [source for location in locations for source in resolve(location)]
