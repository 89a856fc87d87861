"""The two Hub layouts, from local Parquet/JSONL or a Hub dataset id (streamed with `datasets`).

- `stack-exchange-preferences` (H4): one row a question with its answers and their pm_score;
  read into POSTS, so it goes through the same dedup, pairing and split as a dump.
- `stack-exchange-paired`: one row a ready-made pair, response_j preferred over response_k;
  read into GIVEN_PAIRS and kept as given (the layout has no per-answer scores to re-pair on).
"""

import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.schema import ANSWER, GIVEN_PAIRS, POSTS, QUESTION
from stackpref.sources.posts_xml import licence_for
from stackpref.sources.sites import HOST_PATTERN, is_host

PAIRED_COLUMNS = ("qid", "question", "date", "metadata", "response_j", "response_k")
PREFERENCES_COLUMNS = ("qid", "question", "answers", "date", "metadata")
# Rows per batch handed to a worker: a paired row carries a question and two answers (several KB),
# and up to 2 x workers batches are in flight, pickled, in the main process.
TABLE_BATCH_ROWS = 2_048
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # ids and scores are stored as int64
# A single cell (a question or an answer's text) bigger than this is refused: the longest real
# Stack Exchange post is under 1 MB, and a worker holds a cell several times over (HTML, Markdown,
# prompt, pairs), so one hostile 1 GiB cell would cost many GB of memory.
MAX_CELL_BYTES = 64 << 20
_HTML = re.compile(r"<(p|pre|code|a|ul|ol|li|blockquote|br|h[1-6]|strong|em|img|hr)[\s>/]", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    """The H4 sets keep HTML bodies; other exports are already Markdown and must not be re-parsed."""
    return bool(_HTML.search(text or ""))


def detect_layout(columns: list[str], source: str) -> str:
    if "response_j" in columns or "response_k" in columns:
        layout, needed = "paired", PAIRED_COLUMNS
    elif "answers" in columns:
        layout, needed = "preferences", PREFERENCES_COLUMNS
    else:
        raise InputError(
            f"{source}: unknown layout (columns: {', '.join(columns)}); expected stack-exchange-paired "
            f"({', '.join(PAIRED_COLUMNS)}) or stack-exchange-preferences ({', '.join(PREFERENCES_COLUMNS)})"
        )
    missing = [c for c in needed if c not in columns and c not in ("date", "metadata")]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)} for the stack-exchange-{layout} layout "
            f"(has: {', '.join(columns)})"
        )
    return layout


# The host of a URL in a metadata list: scheme, then the authority up to a port, path, query or fragment.
_URL_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]*)"


def site_from_metadata(metadata, fallback: str, source: str, row: int) -> str:
    """The layouts' metadata holds URLs (question, site, author): the first URL's host names the
    site. Entries that are not URLs are passed over; a URL without a host name is refused, since
    its rows would land under a made-up site."""
    for entry in metadata or []:
        match = re.match(_URL_HOST, str(entry))
        if match:
            return _checked_host(match.group(1), str(entry), source, row)
    return fallback


def _checked_host(host: str, url: str, source: str, row: int) -> str:
    if not is_host(host.lower()):
        raise InputError(f"{source}: row {row}: metadata URL {url[:100]!r} has no valid host name (expected "
                         "e.g. https://beer.stackexchange.com/questions/1); fix or drop that entry")
    return host.lower()


# A Parquet column chunk that decompresses to more than this is refused before it is read: writers
# put a few thousand rows in a row group (datasets: 1,000), a few MB; one huge chunk is a cell
# bomb (a 49 KB file can hold a 1 GiB string) that would take GBs to decompress and convert.
MAX_PARQUET_CHUNK_BYTES = 256 << 20


def _check_parquet_sizes(location: str, meta) -> None:
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            if chunk.total_uncompressed_size > MAX_PARQUET_CHUNK_BYTES:
                raise InputError(
                    f"{location}: row group {group}: column {chunk.path_in_schema} decompresses to "
                    f"{chunk.total_uncompressed_size >> 20} MB, over the {MAX_PARQUET_CHUNK_BYTES >> 20} MB limit "
                    "(rewrite it with smaller row groups, e.g. pyarrow row_group_size=10_000)")


def iter_tables(location: str) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet or JSONL file (a local path or a URI) in record batches, each checked: valid
    UTF-8 text, no cell over MAX_CELL_BYTES."""
    parquet = location.endswith(".parquet")
    try:
        if storage.size(location) == 0:
            raise InputError(f"{location}: the file is empty")
        with storage.open_input(location) as handle:
            if parquet:
                reader = pq.ParquetFile(handle)
                _check_parquet_sizes(location, reader.metadata)
                batches = reader.iter_batches(batch_size=TABLE_BATCH_ROWS)
            else:
                batches = pa_json.open_json(handle, read_options=pa_json.ReadOptions(block_size=8 << 20))
            for batch in batches:
                try:
                    batch.validate(full=True)
                except pa.ArrowInvalid as exc:
                    where = None if parquet else _bad_json_line(location)
                    at = f"line {where}: " if where else ""
                    raise InputError(f"{location}: {at}not valid UTF-8 text ({exc})") from None
                yield batch
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        where = None if parquet else _bad_json_line(location)
        at = f"line {where}: " if where else ""
        raise InputError(f"{location}: {at}cannot read as {'parquet' if parquet else 'jsonl'} ({exc})") from None


def _bad_json_line(location: str) -> int | None:
    """pyarrow's row numbers restart at every block; on the error path, find the real line (read a
    line at a time; a line over MAX_CELL_BYTES is named as the bad one, unread)."""
    import json

    number, rest = 0, b""
    with storage.open_input(location) as handle:
        while True:
            chunk = handle.read(1 << 20)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop() if chunk else b""
            for line in lines:
                number += 1
                if line.strip():
                    try:
                        json.loads(line)
                    except ValueError:  # UnicodeDecodeError included
                        return number
            if len(rest) > MAX_CELL_BYTES:
                return number + 1
            if not chunk:
                return None


def _integer(value, name: str, source: str, row: int) -> int:
    """An int64 value: an integer (or a float with no fraction), never inf, NaN, 2.5 or out of range."""
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{source}: row {row}: {name} must be an integer, got {value!r}") from None
    if not INT64_MIN <= number <= INT64_MAX:
        raise InputError(f"{source}: row {row}: {name} {number} is out of range (ids and scores must fit in 64 bits)")
    return number


def _text(value, name: str, source: str, row: int) -> str:
    """A text cell: a string (null: empty), at most MAX_CELL_BYTES."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{source}: row {row}: {name} must be text, got {type(value).__name__}")
    if len(value) > MAX_CELL_BYTES // 4 and len(value.encode("utf-8")) > MAX_CELL_BYTES:
        raise InputError(f"{source}: row {row}: {name} is {len(value.encode('utf-8')) >> 20} MB, over the "
                         f"{MAX_CELL_BYTES >> 20} MB limit for one cell (no real post is near it)")
    return value


def iter_hub_dataset(repo_id: str) -> Iterator[pa.RecordBatch]:
    """Stream a Hub dataset's train split; needs network access."""
    import datasets

    try:
        stream = datasets.load_dataset(repo_id, split="train", streaming=True)
        for batch in stream.iter(batch_size=TABLE_BATCH_ROWS):
            yield pa.RecordBatch.from_pydict(batch)
    except Exception as exc:  # datasets raises many types for "not found / offline"
        raise InputError(f"{repo_id}: cannot stream this Hub dataset ({exc.__class__.__name__}: {exc})") from None


def convert_batches(batches: Iterator[pa.RecordBatch], *, source: str, site: str):
    """Yield ('posts', batch) or ('pairs', batch) for each input batch, by the detected layout."""
    layout = None
    first_row = 1
    for batch in batches:
        if layout is None:
            layout = detect_layout(batch.schema.names, source)
        if layout == "paired":
            yield "pairs", _paired_batch(batch, source, site, first_row)
        else:
            yield "posts", _preferences_batch(batch.to_pylist(), source, site, first_row)
        first_row += batch.num_rows
    if layout is None:
        raise InputError(f"{source}: no rows")


def _paired_batch(batch: pa.RecordBatch, source: str, site: str, first_row: int) -> pa.Table:
    """Columnar: a paired file has one row per pair, often millions of them."""
    import polars as pl

    frame = pl.from_arrow(batch)
    qid = frame["qid"].cast(pl.Int64, strict=False)
    bad = (qid.is_null()).arg_true()
    if len(bad):
        raise InputError(f"{source}: row {first_row + bad[0]}: qid must be an integer, got {frame['qid'][bad[0]]!r}")
    hosts = pl.lit(site)
    if "metadata" in frame.columns and frame["metadata"].dtype == pl.List(pl.String):
        first_url = pl.col("metadata").list.eval(pl.element().filter(pl.element().str.contains(_URL_HOST))).list.first()
        urls = frame.select(url=first_url, host=first_url.str.extract(_URL_HOST).str.to_lowercase())
        bad = urls.select((pl.col("url").is_not_null() & ~pl.col("host").str.contains(f"^(?:{HOST_PATTERN})$"))
                          .arg_true()).to_series()
        if len(bad):
            _checked_host(urls["host"][bad[0]], urls["url"][bad[0]], source, first_row + bad[0])
        hosts = pl.lit(urls["host"]).fill_null(site)
    date = pl.col("date").cast(pl.String) if "date" in frame.columns else pl.lit(None, dtype=pl.String)
    out = frame.select(
        site=hosts, question_id=qid, question=pl.col("question").fill_null(""), creation_date=date,
        chosen=pl.col("response_j").fill_null(""), rejected=pl.col("response_k").fill_null(""), source=pl.lit(source),
    )
    return out.to_arrow().cast(GIVEN_PAIRS)  # a Table: the workers take either


def _preferences_batch(rows: list[dict], source: str, site: str, first_row: int) -> pa.RecordBatch:
    out = {name: [] for name in POSTS.names}

    seen: set[tuple[str, int]] = set()  # a post twice in one batch would be paired twice (and break the read)

    def add(**values) -> None:
        key = (values["site"], values["post_id"])
        if key in seen:
            what = "qid" if values["post_type"] == QUESTION else "answer_id"
            raise InputError(f"{source}: row {values['row']}: duplicate {what} {values['post_id']} on "
                             f"{values['site']} (each question and answer once; refusing the file)")
        seen.add(key)
        for name in POSTS.names:
            out[name].append(values.get(name))

    for number, row in enumerate(rows, start=first_row):
        row_site = site_from_metadata(row.get("metadata"), site, source, number)
        qid = _integer(row["qid"], "qid", source, number)
        date = row.get("date")
        date = None if date is None else str(date)  # JSON dates arrive as datetime.date
        common = dict(row=number, site=row_site, creation_date=date, license=licence_for(date, None), source=source, tags=[])
        add(post_id=qid, post_type=QUESTION, body=_text(row["question"], "question", source, number), **common)
        for index, answer in enumerate(row["answers"] or []):
            if not isinstance(answer, dict):
                raise InputError(f"{source}: row {number}: answers[{index}] is {'null' if answer is None else repr(answer)}, "
                                 "expected an answer (answer_id, text, pm_score)")
            author_id = answer.get("author_id")
            add(
                post_id=_integer(answer.get("answer_id"), "answer_id", source, number),
                post_type=ANSWER,
                parent_id=qid,
                pm_score=_integer(answer.get("pm_score"), "pm_score", source, number),
                accepted=str(answer.get("selected")).lower() == "true",
                body=_text(answer.get("text"), f"answers[{index}].text", source, number),
                owner_user_id=_integer(author_id, "author_id", source, number) if str(author_id or "").isdigit() else None,
                owner_display_name=answer.get("author"),
                **{**common, "creation_date": None},  # the layout dates the question only
            )
    return pa.RecordBatch.from_pydict(out, schema=POSTS)
