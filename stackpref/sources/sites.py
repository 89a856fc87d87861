"""Which site a dump is: its host name, and the bundled demo site.

A dump's host comes, in this order, from
1. `--site PATH=HOST` for the dump at PATH (its Posts.xml, the folder holding it, or its .7z);
2. a `.7z` named after its host (`beer.stackexchange.com.7z`, `stackoverflow.com-Posts.7z`);
3. the dump's links to its own questions: in the first PRESCAN_BYTES of rows, a link
   `http(s)://HOST/questions/ID/slug` counts for HOST only when ID is a question of the dump and the
   slug agrees with its Title (links to other sites, even to a sibling such as a meta site, fail that
   test); the host with the most such questions wins, with at least MIN_SELF_LINKS;
4. a folder (or an archive) whose name is a host name, optionally with a dump-date suffix
   (`beer.stackexchange.com-2016`).
Anything else (`beer-2017`, `corpus200`, `se-genai-2023`) stops with an InputError asking for
`--site`: a guessed host would put links to a site that does not exist in every row.
"""

import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path

import pyarrow as pa

from stackpref.errors import ConfigError, InputError
from stackpref.output import storage
from stackpref.schema import QUESTION
from stackpref.sources.posts_xml import parse_rows, split_rows

_DUMP_DATE = re.compile(r"[-_](19|20)\d\d([-_]\d\d){0,2}$")
# Dot-separated labels of [a-z0-9-] (none starting or ending with `-`), ending in a letter TLD.
HOST_PATTERN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
_HOST = re.compile(HOST_PATTERN)
# A link to a question: /questions/ID/slug, or the share form /q/ID/USER_ID (no slug).
_LINK = re.compile(r"https?://([A-Za-z0-9.-]+)/(questions|q)/(\d+)(?:/([^/?#\"'<>\s()\[\]]*))?")
PRESCAN_BYTES = 8 << 20  # the head of a dump read for self-links (oldest posts first: links point back)
_PRESCAN_PIECE = 1 << 16  # rows parsed at a time: a bad row costs the links of this many bytes
MIN_SELF_LINKS = 2  # verified questions a host needs to be taken as the dump's own
# A made-up site under the reserved TLD .invalid (RFC 6761): its URLs can never reach a real host.
SAMPLE_SITE = "coffee.sample.invalid"


def is_host(name: str) -> bool:
    """Whether `name` (lowercase) is a host name: `beer.stackexchange.com`, `cooking.example.org`."""
    return bool(_HOST.fullmatch(name))


def host_from_name(name: str) -> str | None:
    """The host a folder or archive name spells, or None: `beer.stackexchange.com.7z`,
    `stackoverflow.com-Posts.7z`, `beer.stackexchange.com-2016` name theirs; `beer-2017`, `corpus200`
    and `se-genai-2023` name none."""
    name = re.sub(r"\.7z$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"-posts$", "", name, flags=re.IGNORECASE)
    name = _DUMP_DATE.sub("", name).lower()
    return name if is_host(name) else None


def _letters(text: str) -> str:
    """Lowercase ASCII letters and digits only (accents folded), so a slug compares with a title
    however the slug was cut (`what's` -> `whats` or `what-s`, `1+1` -> `11`)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", folded)


def _head_rows(chunks: Iterable[bytes], label: str) -> Iterator[pa.RecordBatch]:
    """POSTS batches of the rows in the first PRESCAN_BYTES of a Posts.xml stream, less the last
    (it may be cut) and any that do not parse: the read proper reports those, with their lines.
    Raises InputError only for what spoils the whole file (a DTD, another root, UTF-16)."""
    parts, size = [], 0
    stream = iter(chunks)
    try:
        for chunk in stream:
            parts.append(chunk)
            size += len(chunk)
            if size >= PRESCAN_BYTES:
                break
    finally:
        if hasattr(stream, "close"):
            stream.close()  # a .7z member's decompressing thread is told to stop here
    head = b"".join(parts)[:PRESCAN_BYTES]
    cut = head.rfind(b"<row")
    if cut <= 0:
        return
    for fragment, _ in split_rows([head[:cut] + b"</posts>"], label):
        start = 0
        while start < len(fragment):
            end = fragment.find(b"<row", start + _PRESCAN_PIECE)
            end = len(fragment) if end < 0 else end
            try:
                yield from parse_rows(fragment[start:end], 1, site="", source=label, label=label, skipped=Counter())
            except InputError:
                pass
            start = end


def host_from_links(chunks: Iterable[bytes], label: str) -> str | None:
    """The host the dump's head links to as its own (see the module doc), or None: no such links,
    a tie, or a head that does not parse (the read proper reports what is wrong with it)."""
    titles: dict[int, str] = {}
    links: list[tuple[str, int, str]] = []
    try:
        for batch in _head_rows(chunks, label):
            rows = batch.select(["post_id", "post_type", "title", "body"]).to_pydict()
            for post_id, post_type, title, body in zip(rows["post_id"], rows["post_type"], rows["title"],
                                                       rows["body"]):
                if post_type == QUESTION:
                    titles[post_id] = _letters(title or "")
                for host, form, question, slug in _LINK.findall(body or ""):
                    if form == "questions" and slug:  # /q/ID/N: N is a user id, not a slug
                        links.append((host.lower().removeprefix("www.").rstrip("."), int(question), slug))
    except (InputError, OSError):
        return None
    verified: dict[str, set[int]] = {}
    for host, question, slug in links:
        slug = _letters(slug)
        if question in titles and slug and titles[question].startswith(slug) and is_host(host):
            verified.setdefault(host, set()).add(question)
    ranked = sorted(((len(ids), host) for host, ids in verified.items()), reverse=True)
    if not ranked or ranked[0][0] < MIN_SELF_LINKS or (len(ranked) > 1 and ranked[1][0] == ranked[0][0]):
        return None
    return ranked[0][1]


def file_head(location: str) -> Iterable[bytes]:
    """The first PRESCAN_BYTES of a file (a local path or a URI)."""
    with storage.open_input(location) as handle:
        yield handle.read(PRESCAN_BYTES)


def _path_key(location: str) -> str:
    location = str(location)
    if storage.is_uri(location):
        return location.rstrip("/")
    return os.path.realpath(location)


class SiteOverrides:
    """The `--site PATH=HOST` entries of a build: which dump each names, and whether each was used
    (one that names no dump is a typo, not something to ignore). Dumps whose host cannot be told are
    collected here too, so that an unused entry (the likely cause) is reported before them."""

    def __init__(self, entries: Iterable[str] = ()):
        self.hosts: dict[str, str] = {}
        self.entries: dict[str, str] = {}
        self.used: set[str] = set()
        self.unknown: list[InputError] = []
        for entry in entries:
            path, sep, host = str(entry).rpartition("=")
            host = host.strip().lower().rstrip(".")
            if not sep or not path:
                raise ConfigError(f"--site {entry}: not PATH=HOST (e.g. dumps/genai-2023=genai.stackexchange.com)")
            if not is_host(host):
                raise ConfigError(f"--site {entry}: {host!r} is not a host name (dot-separated labels of a-z, 0-9 "
                                  "and -, ending in a letter TLD, e.g. genai.stackexchange.com)")
            key = _path_key(path)
            if self.hosts.get(key, host) != host:
                raise ConfigError(f"--site {entry}: {path} is given two hosts ({self.hosts[key]} and {host})")
            self.hosts[key] = host
            self.entries.setdefault(key, str(entry))

    def host_for(self, paths: Iterable[str]) -> str | None:
        """The host given for the first of `paths` that an entry names (and mark it used)."""
        for path in paths:
            key = _path_key(path)
            if key in self.hosts:
                self.used.add(key)
                return self.hosts[key]
        return None

    def finish(self) -> None:
        """After every source is resolved: refuse an entry that named no dump, then a dump without a host."""
        unused = [self.entries[key] for key in self.hosts if key not in self.used]
        if unused:
            raise ConfigError(f"--site {unused[0]}: no dump among the sources is at that path (give the Posts.xml, "
                              "the folder holding it, or the .7z)")
        if self.unknown:
            raise self.unknown[0]


def dump_host(location: str, *, paths: list[str], names: list[str], head: Callable[[], Iterable[bytes]],
              name_first: bool = False, sites: SiteOverrides | None = None) -> str:
    """The host of the dump at `location` (see the module doc for the order). `paths`: where a
    `--site` entry may name it; `names`: folder or archive names that may spell the host; `head`:
    the dump's Posts.xml bytes from the start; `name_first`: the name outranks the links (an archive's
    own name). Without a host: an InputError, raised now, or kept in `sites` and "" returned."""
    if sites and (given := sites.host_for(paths)):
        return given
    named = next((host for name in names if (host := host_from_name(name))), None)
    if name_first and named:
        return named
    try:
        chunks = head()
    except (InputError, OSError):  # an unreadable archive: its read says so, or --on-bad-input skip skips it
        chunks = None
    host = (chunks is not None and host_from_links(chunks, location)) or named
    if host:
        return host
    shown = " or ".join(repr(name) for name in dict.fromkeys(names))
    error = InputError(f"{location}: cannot tell which site this dump is (it does not link its own questions, and "
                       f"{shown} is not a host name); pass --site {paths[-1]}=HOST with the site's host (such as "
                       "genai.stackexchange.com)")
    if sites is None:
        raise error
    sites.unknown.append(error)
    return ""


def bundled_sample() -> Path:
    """The demo site dump shipped with the package (written by the stackpref team)."""
    return Path(str(resources.files("stackpref") / "sample" / SAMPLE_SITE / "Posts.xml"))
