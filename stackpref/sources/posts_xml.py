"""Stream a Stack Exchange `Posts.xml` (from any byte-chunk source) into Arrow batches of POSTS.

The parser is fed chunks, so a plain file and a member decompressed out of a `.7z` go through
the same code, and memory stays flat: each `<row>` is turned into columns and then freed.
"""

import re
from collections import Counter
from collections.abc import Iterable, Iterator

import pyarrow as pa
from lxml import etree

from ..errors import InputError
from ..schema import ANSWER, POSTS, QUESTION

BATCH_ROWS = 8_192  # bounds the memory of one batch in flight (about 10 MB of HTML)
_PROLOG_LIMIT = 1 << 16  # a real dump's prolog is under 100 bytes
_FIRST_TAG = re.compile(rb"<[A-Za-z_]")
_TAGS_OLD = re.compile(r"<([^<>]+)>")

# Stack Exchange's licence by contribution date, for dumps that predate the ContentLicense column:
# https://stackoverflow.com/help/licensing
_LICENCE_BY_DATE = (("2011-04-08", "CC BY-SA 2.5"), ("2018-05-02", "CC BY-SA 3.0"))


def licence_for(date: str | None, given: str | None) -> str:
    """The post's own ContentLicense when the dump has it, else the one in force on its date."""
    if given:
        return given
    day = (date or "").replace("/", "-")[:10]
    for until, licence in _LICENCE_BY_DATE:
        if day and day < until:
            return licence
    return "CC BY-SA 4.0"


def parse_tags(raw: str | None) -> list[str]:
    """Both dump forms: `<a><b>` (old) and `|a|b|` (2024 on)."""
    if not raw:
        return []
    if raw.startswith("|"):
        return [t for t in raw.split("|") if t]
    return _TAGS_OLD.findall(raw)


def _guard_prolog(chunks: Iterator[bytes], source: str) -> Iterator[bytes]:
    """Refuse a DTD before the parser sees it: libxml2 expands internal entities even inside
    attributes, so a document type declaration is the one way to an entity-expansion bomb.
    Real dumps are UTF-8 and never have one; their prolog is under 100 bytes."""
    head = b""
    for chunk in chunks:
        head += chunk
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"{source}: line 1: UTF-16 text; Stack Exchange dumps are UTF-8")
        match = _FIRST_TAG.search(head)
        if not match and len(head) <= _PROLOG_LIMIT:
            continue
        if not match:
            raise InputError(f"{source}: no element in the first {_PROLOG_LIMIT // 1024} KiB; not a Posts.xml")
        prolog = head[: match.start()]
        if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
            line = prolog[: prolog.find(b"<!")].count(b"\n") + 1
            raise InputError(
                f"{source}: line {line}: a DTD/entity declaration is not allowed in a "
                "Stack Exchange dump (refused: it can expand into an entity bomb)"
            )
        yield head
        break
    else:
        if not head.strip(b"\xef\xbb\xbf \t\r\n"):
            raise InputError(f"{source}: the file is empty")
        yield head
    yield from chunks


def _int(value: str | None) -> int | None:
    return int(value) if value else None


class _Columns:
    """Row-wise appends into column lists, flushed as one RecordBatch."""

    def __init__(self, site: str, source: str):
        self.site, self.source = site, source
        self.reset()

    def reset(self) -> None:
        self.cols: dict[str, list] = {name: [] for name in POSTS.names}

    def __len__(self) -> int:
        return len(self.cols["post_id"])

    def append(self, a, post_type: int) -> None:
        c = self.cols
        date = a.get("CreationDate")
        c["site"].append(self.site)
        c["post_id"].append(int(a["Id"]))
        c["post_type"].append(post_type)
        c["parent_id"].append(_int(a.get("ParentId")))
        c["accepted_answer_id"].append(_int(a.get("AcceptedAnswerId")))
        c["creation_date"].append(date)
        c["score"].append(int(a.get("Score") or 0))
        c["pm_score"].append(None)
        c["accepted"].append(None)
        c["title"].append(a.get("Title"))
        c["body"].append(a.get("Body") or "")
        c["tags"].append(parse_tags(a.get("Tags")))
        c["owner_user_id"].append(_int(a.get("OwnerUserId")))
        c["owner_display_name"].append(a.get("OwnerDisplayName"))
        c["license"].append(licence_for(date, a.get("ContentLicense")))
        c["source"].append(self.source)

    def flush(self) -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict(self.cols, schema=POSTS)
        self.reset()
        return batch


def read_posts_xml(
    chunks: Iterable[bytes], *, site: str, source: str, skipped: Counter, label: str | None = None
) -> Iterator[pa.RecordBatch]:
    """Yield POSTS batches (bodies as the dump's HTML; workers convert them). Post types other than question and answer are
    counted into `skipped` under `post_type_<n>`; a malformed file raises InputError with its line.
    `source` fills the rows' source column; `label` (default: source) names the input in errors."""
    columns = _Columns(site, source)
    source = label or source
    parser = etree.XMLPullParser(
        events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False
    )
    depth = 0
    line = 1

    def events() -> Iterator[tuple[str, etree._Element]]:
        nonlocal line
        at_end = False
        try:
            for chunk in _guard_prolog(iter(chunks), source):
                parser.feed(chunk)
                yield from parser.read_events()
                line += chunk.count(b"\n")
            at_end = True
            parser.close()
            yield from parser.read_events()
        except etree.XMLSyntaxError as exc:
            where = exc.position[0] if exc.position else line
            hint = "; the file ends in the middle of the XML: is it truncated?" if at_end else ""
            raise InputError(f"{source}: line {where}: not well-formed XML ({exc.msg}){hint}") from None

    for event, element in events():
        if event == "start":
            depth += 1
            if depth == 1 and element.getroottree().docinfo.internalDTD is not None:
                raise InputError(f"{source}: a DTD/entity declaration is not allowed in a Stack Exchange dump")
            if depth == 1 and element.tag != "posts":
                raise InputError(f"{source}: the root element is <{element.tag}>, expected <posts> (is this Posts.xml?)")
            continue
        depth -= 1
        if depth != 1 or element.tag != "row":
            continue
        attrs = element.attrib
        try:
            post_type = int(attrs.get("PostTypeId", "0"))
            if post_type in (QUESTION, ANSWER):
                columns.append(attrs, post_type)
            else:
                skipped[f"post_type_{post_type}"] += 1
        except (KeyError, ValueError) as exc:
            raise InputError(
                f"{source}: line {element.sourceline}: bad <row> attribute ({exc.__class__.__name__}: {exc})"
            ) from None
        element.clear()
        parent = element.getparent()
        while element.getprevious() is not None:
            del parent[0]
        if len(columns) >= BATCH_ROWS:
            yield columns.flush()
    if depth != 0:
        raise InputError(f"{source}: line {line}: the document ends inside an element; is the file truncated?")
    if len(columns):
        yield columns.flush()
