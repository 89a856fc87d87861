"""Sources: turn what the user points at into Source objects, one class per source type.

A source is a Stack Exchange site dump (`Posts.xml`, the site's `.7z`, a folder holding either),
a folder of several sites, a Parquet/JSONL file in one of the Hub layouts, or a Hub dataset id
(`owner/name`, needs network access). Files and folders are local paths or URIs (`s3://...`).
A new source type is one module with a `Source` subclass (see base.py) plus its line in FILE_TYPES.
"""

import os
import stat
from pathlib import PurePosixPath

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.sources.archive import ArchiveSource
from stackpref.sources.base import Source
from stackpref.sources.hub_dataset import HUB_ID, HubSource
from stackpref.sources.posts_file import PostsXmlSource
from stackpref.sources.sites import SAMPLE_SITE, SiteOverrides, bundled_sample, host_from_name
from stackpref.sources.table import TableSource

# File source types, by suffix; a folder of sites holds site folders and the types after the first.
FILE_TYPES: list[type[Source]] = [PostsXmlSource, ArchiveSource, TableSource]
_IN_FOLDERS = FILE_TYPES[1:]

__all__ = ["FILE_TYPES", "SiteOverrides", "Source", "bundled_sample", "host_from_name", "resolve", "resolve_all"]


def _site_dir(folder: str, sites: SiteOverrides | None) -> Source | None:
    posts = next((loc for loc, what in storage.children(folder)
                  if what == "file" and storage.name(loc).lower() == "posts.xml"), None)
    return PostsXmlSource.from_file(posts, sites) if posts else None


def _file_source(location: str, sites: SiteOverrides | None, types: list[type[Source]] = FILE_TYPES) -> Source | None:
    """The source a file is, by its suffix; None for any other file. Dumps are given the --site
    entries (see sites.py); table sources name their sites per row."""
    name = storage.name(location)
    kind = next((kind for kind in types if kind.claims(name)), None)
    if kind is None:
        return None
    return kind.from_file(location, sites) if kind.dump else kind.from_file(location)


def _kind(location: str) -> str | None:
    if not storage.is_uri(location):  # sources must be regular files or folders, never a FIFO or a device
        try:
            mode = os.stat(location).st_mode
        except OSError:
            mode = None
        if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            what = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or \
                stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
            raise InputError(f"{location}: {what}, not a regular file or folder; sources must be files or folders")
    try:
        return storage.kind(location)
    except OSError as exc:  # an object store that refuses (no credentials, no such bucket)
        raise InputError(f"{location}: cannot read ({exc})") from None


def resolve(location: str, sites: SiteOverrides | None = None) -> list[Source]:
    """Every source found at one location, in a stable (sorted) order. A dump whose site cannot be
    told raises at once, or, with `sites`, waits in it for `sites.finish()` (see resolve_all)."""
    found_kind = _kind(location)
    if found_kind == "file":
        source = _file_source(location, sites)
        if source is None:
            suffix = PurePosixPath(storage.name(location)).suffix
            raise InputError(f"{location}: unsupported file type {suffix or '(none)'}; expected Posts.xml, a site .7z, "
                             ".parquet or .jsonl")
        return [source]
    if found_kind == "dir":
        site = _site_dir(location, sites)
        if site:
            return [site]
        found: list[Source] = []
        for child, what in storage.children(location):
            if what == "dir" and (sub := _site_dir(child, sites)):
                found.append(sub)
            elif what == "file" and (source := _file_source(child, sites, _IN_FOLDERS)):
                found.append(source)
        if not found:
            raise InputError(f"{location}: no Posts.xml, site folder, .7z, .parquet or .jsonl found in this folder")
        return found
    if HUB_ID.match(location):
        return [HubSource.from_id(location)]
    raise InputError(f"{location}: no such file or folder (and not a Hub dataset id of the form owner/name)")


def resolve_all(locations: list[str], sites: list[str] | tuple[str, ...] = ()) -> list[Source]:
    """All sources for a build; the bundled sample when none is given. `sites`: the build's
    `--site PATH=HOST` entries; one that names no dump is an error, as is a dump without a host."""
    overrides = SiteOverrides(sites)
    if not locations:
        found = [PostsXmlSource(str(bundled_sample()), SAMPLE_SITE)]
    else:
        found = [source for location in locations for source in resolve(location, overrides)]
    overrides.finish()
    return found
