"""Stream a Stack Exchange `Posts.xml` (from any byte-chunk source) into Arrow batches of POSTS.

The stream is checked and cut into fragments of whole rows in one process (`split_rows`), and
the fragments are parsed anywhere (`parse_rows`), so a plain file and a member decompressed out
of a `.7z` go through the same code, parsing uses every core, and memory stays flat.
"""

import datetime
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa
from lxml import etree

from stackpref.errors import InputError
from stackpref.schema import ANSWER, POSTS, QUESTION

BATCH_ROWS = 8_192  # bounds the memory of one batch in flight (about 10 MB of HTML)
FRAGMENT_BYTES = 4 << 20  # XML handed to a worker at a time
# One row (and whatever lies between it and the next row) bigger than this is refused: the biggest
# real post is under 1 MB, and the buffer holding a row must not grow with what a small archive
# expands to (1 GiB of one row or of whitespace from a 157 KB .7z would take GBs otherwise).
MAX_ROW_BYTES = 64 << 20
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # ids and scores are stored as int64
_PROLOG_LIMIT = 1 << 16  # a real dump's prolog is under 100 bytes
_FIRST_TAG = re.compile(rb"<[A-Za-z_]")
_ROW = b"<row"
_COUNT_BYTES = 1 << 20
_TAGS_OLD = re.compile(r"<([^<>]+)>")
# `<!DOCTYPE name>`, optionally with an external id (`SYSTEM "uri"` or `PUBLIC "id" "uri"`, either
# quote style): up to where `>` must follow. Anything else there (`[`: an internal subset) is refused.
_WS = rb"[ \t\r\n]"
_QUOTED = rb"(?:\"[^\"]*\"|'[^']*')"
_DOCTYPE_HEAD = re.compile(rb"<!DOCTYPE" + _WS + rb"+[A-Za-z_:][\w.:-]*(?:" + _WS + rb"+(?:SYSTEM|PUBLIC" + _WS
                           + rb"+" + _QUOTED + rb")" + _WS + rb"+" + _QUOTED + rb")?" + _WS + rb"*")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)

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


def _prolog_refusal(prolog: bytes) -> tuple[int, str] | None:
    """(offset, what) of the first thing in a prolog that could declare entities, or None. An
    external `<!DOCTYPE posts SYSTEM "posts.dtd">` (some real dumps have one) declares none here,
    and the external DTD is never loaded (nothing is parsed with load_dtd, and no network), so it
    is let through; an internal subset (`[...]`), any `<!ENTITY`, a second or malformed DOCTYPE is not."""
    doctypes = [match.start() for match in _DOCTYPE.finditer(prolog)]
    if len(doctypes) > 1:
        return doctypes[1], "a second DTD declaration"
    if doctypes:
        head = _DOCTYPE_HEAD.match(prolog, doctypes[0])
        after = prolog[head.end() : head.end() + 1] if head else b""
        if after == b"[":
            return doctypes[0], "a DTD with an internal subset ([...])"
        if after != b">":
            return doctypes[0], "a DTD declaration that is not a plain external reference"
    if entity := _ENTITY.search(prolog):
        return entity.start(), "a DTD/entity declaration (<!ENTITY)"
    return None


def _guard_prolog(chunks: Iterator[bytes], source: str) -> Iterator[bytes]:
    """Refuse a DTD that could declare entities before the parser sees it: libxml2 expands internal
    entities even inside attributes, so an internal subset is the one way to an entity-expansion
    bomb. An external reference alone (`<!DOCTYPE posts SYSTEM "posts.dtd">`) is accepted and never
    loaded. Real dumps are UTF-8; their prolog is under 100 bytes."""
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
        if refusal := _prolog_refusal(prolog):
            at, what = refusal
            line = prolog[:at].count(b"\n") + 1
            raise InputError(
                f"{source}: line {line}: {what} is not allowed in a Stack Exchange dump (refused: it can "
                "expand into an entity bomb; only an external <!DOCTYPE name SYSTEM \"uri\"> is accepted, never loaded)"
            )
        yield head
        break
    else:
        if not head.strip(b"\xef\xbb\xbf \t\r\n"):
            raise InputError(f"{source}: the file is empty")
        yield head
    yield from chunks


def _int(value: str | None, name: str = "value") -> int | None:
    """An int64 attribute (absent or empty: None); beyond 64 bits is a ValueError naming it."""
    if not value:
        return None
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(f"{name}={value[:40]!r}{'...' if len(value) > 40 else ''} does not fit in 64 bits")
    return number


# The dumps' dates: 2016-01-26T15:47:30.557 (UTC); the time, its seconds and their fraction may be absent.
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,9})?)?)?Z?")


def creation_date(value: str | None) -> str | None:
    """A post's CreationDate as the dump writes it, checked: dates order the dumps of a site (the
    newest supersedes the others), so one that is not a date, or that lies in the future (after
    tomorrow, UTC: a clock may be a day off), is refused rather than taken or clamped: clamped, it
    would still date its dump to today; refused, the error names its line, to be fixed. Absent: None."""
    if value is None:
        return None
    match = _DATE.fullmatch(value)
    try:
        if not match:
            raise ValueError
        moment = datetime.datetime(*(int(part or 0) for part in match.groups()))
    except ValueError:
        raise ValueError(f"CreationDate {value!r} is not a date like 2016-01-26T15:47:30.557") from None
    latest = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(days=1)
    if moment > latest:
        raise ValueError(f"CreationDate {value!r} is in the future (after {latest:%Y-%m-%d} UTC); a post cannot "
                         "be dated after its dump was made")
    return value


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
        date = creation_date(a.get("CreationDate"))
        c["site"].append(self.site)
        post_id = _int(a["Id"], "Id")
        if post_id is None:
            raise ValueError("Id is empty")
        c["post_id"].append(post_id)
        c["post_type"].append(post_type)
        c["parent_id"].append(_int(a.get("ParentId"), "ParentId"))
        c["accepted_answer_id"].append(_int(a.get("AcceptedAnswerId"), "AcceptedAnswerId"))
        c["creation_date"].append(date)
        c["score"].append(_int(a.get("Score"), "Score") or 0)
        c["pm_score"].append(None)
        c["accepted"].append(None)
        c["title"].append(a.get("Title"))
        c["body"].append(a.get("Body") or "")
        c["tags"].append(parse_tags(a.get("Tags")))
        c["owner_user_id"].append(_int(a.get("OwnerUserId"), "OwnerUserId"))
        c["owner_display_name"].append(a.get("OwnerDisplayName"))
        c["license"].append(licence_for(date, a.get("ContentLicense")))
        c["source"].append(self.source)

    def flush(self) -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict(self.cols, schema=POSTS)
        self.reset()
        return batch


def _root_start(buffer: bytes, label: str, at_end: bool = False, root: str = "posts") -> int:
    """Offset just past the `<posts>` (`root`) start tag, or -1 while the buffer does not hold it all
    yet; refuses any other root, and (at the end of the input) a stream without one."""
    match = _FIRST_TAG.search(buffer)
    end = buffer.find(b">", match.start()) if match else -1
    if end < 0:
        if not at_end:
            return -1
        body = re.sub(rb"^(\xef\xbb\xbf)?\s*(<\?.*?\?>)?\s*", b"", buffer, flags=re.DOTALL)
        line = buffer[: len(buffer) - len(body)].count(b"\n") + 1
        raise InputError(f"{label}: line {line}: not well-formed XML (no <{root}> element; is this {_file(root)}?)")
    name = re.match(rb"<([A-Za-z_][\w.:-]*)", buffer[match.start():]).group(1).decode("utf-8", "replace")
    if name != root:
        raise InputError(f"{label}: the root element is <{name}>, expected <{root}> (is this {_file(root)}?)")
    return end + 1


def _file(root: str) -> str:
    """The dump file whose root element is `root`: posts -> Posts.xml, votes -> Votes.xml."""
    return f"{root.capitalize()}.xml"


def split_rows(chunks: Iterable[bytes], label: str, root: str = "posts") -> Iterator[tuple[bytes, int]]:
    """Cut a Posts.xml byte stream into fragments of whole `<row>` elements (about FRAGMENT_BYTES
    each), with the line each starts on, so workers can parse them in parallel. Checks here what
    needs the whole stream: the prolog (no DTD), the root (`<posts>`) and the end (`</posts>`).
    A row never holds a raw `<`, so `<row` always starts an element. `root`: votes for a Votes.xml."""
    stream = _guard_prolog(iter(chunks), label)
    buffer, start = _open_root(stream, label, root)
    if buffer[start - 2 : start] == b"/>":  # <posts/>: no rows
        return
    line = 1 + buffer[:start].count(b"\n")
    buffer = buffer[start:]
    for chunk in itertools.chain([b""], _bounded(stream)):  # the head may already hold many rows
        buffer += chunk
        for fragment, rest in _whole_fragments(buffer):
            if fragment.strip():
                yield fragment, line
            line += fragment.count(b"\n")
            buffer = rest
        if len(buffer) > FRAGMENT_BYTES + MAX_ROW_BYTES:  # no row starts in all that: refuse, not grow
            _refuse_oversized(buffer, label, line)
    tail_line = line
    for fragment, _ in _whole_fragments(_rows_before_end(buffer, label, lambda: tail_line, root), final=True):
        if fragment.strip():
            yield fragment, line
        line += fragment.count(b"\n")


_STEP_BYTES = 1 << 20


def _bounded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks, each cut to at most _STEP_BYTES: appending a big chunk (a decompressor may hand
    over a hundred MB of repetitive rows at once) would hold it twice and re-copy what is left of
    it after every fragment cut off its front."""
    for chunk in chunks:
        if len(chunk) <= _STEP_BYTES:
            yield chunk
            continue
        view = memoryview(chunk)
        for at in range(0, len(view), _STEP_BYTES):
            yield bytes(view[at : at + _STEP_BYTES])


def _whole_fragments(buffer: bytes, final: bool = False) -> Iterator[tuple[bytes, bytes]]:
    """(fragment, rest) while `buffer` holds a fragment's worth of rows: each fragment ends before
    the last row that starts within FRAGMENT_BYTES, so none but a single huge row outgrows it (a
    chunk can be bigger than a fragment: py7zr hands over about 6 MB at a time). `final`: the
    buffer is the input's last rows, cut up whole."""
    while len(buffer) >= FRAGMENT_BYTES:
        cut = buffer.rfind(b"<row", 1, FRAGMENT_BYTES)
        if cut <= 0:
            cut = buffer.find(b"<row", FRAGMENT_BYTES)  # one row bigger than a fragment: it alone
            if cut <= 0:
                break  # read on until the next row starts
        fragment, buffer = buffer[:cut], buffer[cut:]
        yield fragment, buffer
    if final:
        yield buffer, b""


def _refuse_oversized(buffer: bytes, label: str, line: int) -> None:
    """`buffer` (starting on `line`) holds no row start after its first FRAGMENT_BYTES and is over
    the bound: one row, or what follows a row up to the next, is over MAX_ROW_BYTES."""
    start = max(buffer.rfind(_ROW, 0, FRAGMENT_BYTES), 0)
    line += buffer[:start].count(b"\n")
    close = buffer.find(b">", start)
    if 0 <= close < start + MAX_ROW_BYTES:
        what = (f"the row there is followed by more than {MAX_ROW_BYTES >> 20} MB of "
                f"{'whitespace' if not buffer[close + 1:].strip() else 'text'} before the next <row")
    else:
        what = f"a row over the {MAX_ROW_BYTES >> 20} MB limit for one row (no real post is near it)"
    raise InputError(f"{label}: line {line}: {what}")


def _open_root(stream: Iterator[bytes], label: str, root: str = "posts") -> tuple[bytes, int]:
    """The stream's head, read until it holds the whole `<posts>` (`root`) start tag, and the offset past it."""
    buffer = b""
    for chunk in stream:
        buffer += chunk
        start = _root_start(buffer, label, root=root)
        if start >= 0:
            return buffer, start
        if len(buffer) > MAX_ROW_BYTES:
            raise InputError(f"{label}: line 1: the <{root}> start tag does not end within {MAX_ROW_BYTES >> 20} MB")
    _root_start(buffer, label, at_end=True, root=root)  # raises: the input ended before a whole root tag
    raise AssertionError("unreachable")


def _rows_before_end(tail: bytes, label: str, first_line: Callable[[], int], root: str = "posts") -> bytes:
    """The rows of a dump's last stretch, up to `</posts>` (`root`); refuses a truncated file or
    content after the root. `first_line()`: the line `tail` starts on, asked only for an error."""
    close = f"</{root}>".encode()
    end = tail.rfind(close)
    if end < 0:
        line = first_line() + tail.count(b"\n")
        raise InputError(
            f"{label}: line {line}: not well-formed XML (the document ends before "
            f"{close.decode()}); the file ends in the middle of the XML: is it truncated?"
        )
    if tail[end + len(close) :].strip():
        line = first_line() + tail[:end].count(b"\n")
        raise InputError(f"{label}: line {line}: not well-formed XML (content after {close.decode()})")
    return tail[:end]


def byte_ranges(size: int, step: int | None = None) -> list[tuple[int, int]]:
    """A plain Posts.xml cut into fixed byte ranges (`step`, default FRAGMENT_BYTES), each read by
    whichever worker takes it (the cut does not depend on the engine or the worker count, so
    neither does the output)."""
    step = step or FRAGMENT_BYTES
    return [(start, min(start + step, size)) for start in range(0, size, step)] or [(0, 0)]


def _next_row(handle, offset: int, size: int, limit: int | None = None) -> int:
    """Offset of the first `<row` at or after `offset` (and before `limit`), or -1 when none is left
    (-2 when none starts before `limit` though the file goes on)."""
    step = 1 << 16
    stop = size if limit is None else min(size, limit)
    while offset < stop:
        hit = handle.read_at(step + len(_ROW) - 1, offset).find(_ROW)
        if hit >= 0 and (limit is None or offset + hit < limit):
            return offset + hit
        offset += step
        step = min(step * 2, _COUNT_BYTES)
    return -1 if stop == size else -2


def _line_at(handle, offset: int) -> int:
    """The line of byte `offset`, by counting the newlines before it (only for an error message)."""
    return 1 + sum(handle.read_at(min(_COUNT_BYTES, offset - at), at).count(b"\n")
                   for at in range(0, offset, _COUNT_BYTES))


def range_rows(handle, size: int, start: int, end: int, label: str,
               root: str = "posts") -> tuple[bytes, Callable[[], int]]:
    """The whole rows whose `<row` starts in [start, end) of a Posts.xml open as `handle` (pyarrow's
    `read_at`), and a function giving the line they start on. The range at 0 also checks the prolog
    and the root, and the range holding the last row the end, as `split_rows` does for a stream."""
    if start == 0:
        chunks = (handle.read_at(_COUNT_BYTES, at) for at in range(0, max(size, 1), _COUNT_BYTES))
        head, begin = _open_root(_guard_prolog(chunks, label), label, root)
        if head[begin - 2 : begin] == b"/>":  # <posts/>: no rows
            return b"", lambda: 1
        line = 1 + head[:begin].count(b"\n")
        first_line = lambda: line
    else:
        begin = _next_row(handle, start, size, end)
        if not 0 <= begin < end:
            return b"", lambda: 1  # no row starts here
        first_line = lambda: _line_at(handle, begin)
    bound = max(end, begin) + MAX_ROW_BYTES  # the last row here, up to the next, is at most MAX_ROW_BYTES
    after = _next_row(handle, max(end, begin + 1), size, bound)
    if after == -2 or (after == -1 and size > bound):
        _refuse_oversized(handle.read_at(bound + 1 - begin, begin), label, first_line())
    if after >= 0:
        return handle.read_at(after - begin, begin), first_line
    return _rows_before_end(handle.read_at(size - begin, begin), label, first_line, root), first_line


def parse_rows(fragment: bytes, first_line: int | Callable[[], int], *, site: str, source: str, label: str,
               skipped: Counter) -> Iterator[pa.RecordBatch]:
    """POSTS batches from one fragment of `split_rows` or `range_rows` (bodies as the dump's HTML).
    Post types other than question and answer are counted into `skipped` as `post_type_<n>`; errors
    name the line in the whole file (`first_line`: the fragment's, or a function computing it)."""
    def line(offset: int) -> int:
        return (first_line() if callable(first_line) else first_line) + offset - 1

    columns = _Columns(site, source)
    seen: set[int] = set()  # a duplicate Id in one piece would pair answers twice (and break the read pass)
    parser = etree.XMLPullParser(events=("end",), resolve_entities=False, no_network=True, load_dtd=False)
    try:
        for piece in (b"<posts>", fragment, b"</posts>"):
            parser.feed(piece)
            for _, element in parser.read_events():
                if element.tag == "row" and element.getparent() is not None \
                        and element.getparent().getparent() is not None:
                    raise InputError(f"{label}: line {line(element.sourceline)}: a <row> inside another <row>; "
                                     "dump rows are empty elements (<row ... />), one after another")
                if element.tag != "row" or element.getparent() is None:
                    continue
                attrs = element.attrib
                try:
                    post_type = int(attrs.get("PostTypeId", "0"))
                    if post_type in (QUESTION, ANSWER):
                        columns.append(attrs, post_type)
                        post_id = columns.cols["post_id"][-1]
                        if post_id in seen:
                            raise InputError(f"{label}: line {line(element.sourceline)}: duplicate post Id {post_id} "
                                             "(a dump holds each post once; is this two dumps joined?)")
                        seen.add(post_id)
                    else:
                        skipped[f"post_type_{post_type}"] += 1
                except (KeyError, ValueError) as exc:
                    raise InputError(
                        f"{label}: line {line(element.sourceline)}: bad <row> attribute ({exc.__class__.__name__}: {exc})"
                    ) from None
                element.clear()
                parent = element.getparent()
                while element.getprevious() is not None:
                    del parent[0]
                if len(columns) >= BATCH_ROWS:
                    yield columns.flush()
        parser.close()
    except etree.XMLSyntaxError as exc:
        where = line(exc.position[0] if exc.position else 1)
        raise InputError(f"{label}: line {where}: not well-formed XML ({exc.msg})") from None
    if len(columns):
        yield columns.flush()


def read_posts_xml(
    chunks: Iterable[bytes], *, site: str, source: str, skipped: Counter, label: str | None = None
) -> Iterator[pa.RecordBatch]:
    """The whole stream in one process: `split_rows` then `parse_rows` on each fragment.
    `source` fills the rows' source column; `label` (default: source) names the input in errors."""
    label = label or source
    for fragment, first_line in split_rows(chunks, label):
        yield from parse_rows(fragment, first_line, site=site, source=source, label=label, skipped=skipped)
