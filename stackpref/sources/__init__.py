"""Sources: turn what the user points at into readers of POSTS (or GIVEN_PAIRS) batches.

A source is a Stack Exchange site dump (`Posts.xml`, the site's `.7z`, a folder holding either),
a folder of several sites, a Parquet/JSONL file in one of the Hub layouts, or a Hub dataset id
(`owner/name`, needs network access). Files and folders are local paths or URIs (`s3://...`).
"""

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

import pyarrow as pa

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.sources import archive, hub_layouts
from stackpref.sources.posts_xml import read_posts_xml

CHUNK_BYTES = 1 << 20
TABLE_SUFFIXES = (".parquet", ".jsonl", ".json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DUMP_DATE = re.compile(r"[-_](19|20)\d\d([-_]\d\d){0,2}$")
# Sites that live outside *.stackexchange.com.
_OWN_DOMAINS = {
    "stackoverflow": "stackoverflow.com",
    "serverfault": "serverfault.com",
    "superuser": "superuser.com",
    "askubuntu": "askubuntu.com",
    "mathoverflow": "mathoverflow.net",
    "stackapps": "stackapps.com",
}


def site_host(name: str) -> str:
    """Host name of a site from its folder or archive name: `beer-2017` -> beer.stackexchange.com,
    `datascience.meta.stackexchange.com.7z` as is, `stackoverflow.com-Posts.7z` -> stackoverflow.com."""
    name = re.sub(r"\.7z$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"-posts$", "", name, flags=re.IGNORECASE)
    name = _DUMP_DATE.sub("", name).lower()
    if "." in name:
        return name
    if name in _OWN_DOMAINS:
        return _OWN_DOMAINS[name]
    return name.replace("-meta", ".meta") + ".stackexchange.com"


def file_sha256(location: str) -> str:
    digest = hashlib.sha256()
    for chunk in _file_chunks(location):
        digest.update(chunk)
    return digest.hexdigest()


def _file_chunks(location: str) -> Iterator[bytes]:
    with storage.open_input(location) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


@dataclass(frozen=True)
class Source:
    """One input: `kind` is posts_xml, archive, table or hub."""

    kind: str
    location: str
    site: str

    def describe(self) -> dict:
        """What the manifest records about this input."""
        info = {"kind": self.kind, "location": self.location, "site": self.site}
        if self.kind != "hub":
            info["bytes"] = storage.size(self.location)
            info["sha256"] = file_sha256(self.location)
        return info

    @property
    def is_dump(self) -> bool:
        """A Posts.xml (plain, read by byte ranges, or in a .7z, read through `xml_chunks`)."""
        return self.kind in ("posts_xml", "archive")

    def xml_chunks(self) -> tuple[Iterator[bytes], str]:
        """A dump's bytes, and the label errors name it by (`site.7z:Posts.xml` for an archive)."""
        if self.kind == "posts_xml":
            return _file_chunks(self.location), self.location
        member = archive.find_posts_member(self.location)
        return archive.iter_member_chunks(self.location, member), f"{self.location}:{member}"

    def batches(self, skipped: Counter) -> Iterator[tuple[str, pa.RecordBatch]]:
        """Yield ('posts', POSTS batch) or ('pairs', GIVEN_PAIRS batch) in this process; skipped rows
        go to `skipped`. (The build hands a dump's fragments to its workers instead.)"""
        if self.is_dump:
            chunks, label = self.xml_chunks()
            for batch in read_posts_xml(chunks, site=self.site, source=self.location, skipped=skipped, label=label):
                yield "posts", batch
        elif self.kind == "table":
            yield from hub_layouts.convert_batches(
                hub_layouts.iter_tables(self.location), source=self.location, site=self.site
            )
        else:
            yield from hub_layouts.convert_batches(
                hub_layouts.iter_hub_dataset(self.location), source=self.location, site=self.site
            )


def bundled_sample() -> Path:
    """The demo site dump shipped with the package (written by the stackpref team)."""
    return Path(str(resources.files("stackpref") / "sample" / "coffee.stackexchange.com" / "Posts.xml"))


def _site_dir(folder: str) -> Source | None:
    posts = next((loc for loc, what in storage.children(folder)
                  if what == "file" and storage.name(loc).lower() == "posts.xml"), None)
    return Source("posts_xml", posts, site_host(storage.name(folder))) if posts else None


def _file_source(location: str) -> Source | None:
    """The source a file is, by its suffix; None for any other file."""
    name = storage.name(location)
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".xml":  # the folder names the site (a local one after following links)
        local = not storage.is_uri(location)
        folder = Path(location).resolve().parent.name if local else storage.name(storage.parent(location))
        return Source("posts_xml", location, site_host(folder))
    if suffix == ".7z":
        return Source("archive", location, site_host(name))
    if suffix in TABLE_SUFFIXES:
        return Source("table", location, PurePosixPath(name).stem)
    return None


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
            elif what == "file" and storage.name(child).lower().endswith((".7z", *TABLE_SUFFIXES)):
                found.append(_file_source(child))
        if not found:
            raise InputError(f"{location}: no Posts.xml, site folder, .7z, .parquet or .jsonl found in this folder")
        return found
    if _HUB_ID.match(location):
        return [Source("hub", location, location.split("/")[-1])]
    raise InputError(f"{location}: no such file or folder (and not a Hub dataset id of the form owner/name)")


def resolve_all(locations: list[str]) -> list[Source]:
    """All sources for a build; the bundled sample when none is given."""
    if not locations:
        return [Source("posts_xml", str(bundled_sample()), "coffee.stackexchange.com")]
    return [source for location in locations for source in resolve(location)]
