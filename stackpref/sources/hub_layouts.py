"""The two Hub layouts, from local Parquet/JSONL or a Hub dataset id (streamed with `datasets`).

- `stack-exchange-preferences` (H4): one row a question with its answers and their pm_score;
  read into POSTS, so it goes through the same dedup, pairing and split as a dump.
- `stack-exchange-paired`: one row a ready-made pair, response_j preferred over response_k;
  read into GIVEN_PAIRS and kept as given (the layout has no per-answer scores to re-pair on).
"""

import re
from collections.abc import Iterator
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.schema import ANSWER, GIVEN_PAIRS, POSTS, QUESTION
from stackpref.sources.posts_xml import licence_for

PAIRED_COLUMNS = ("qid", "question", "date", "metadata", "response_j", "response_k")
PREFERENCES_COLUMNS = ("qid", "question", "answers", "date", "metadata")
# Rows per batch handed to a worker: a paired row carries a question and two answers (several KB),
# and up to 2 x workers batches are in flight, pickled, in the main process.
TABLE_BATCH_ROWS = 2_048
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


def site_from_metadata(metadata, fallback: str) -> str:
    """The layouts' metadata holds URLs (question, site, author); the host names the site."""
    for url in metadata or []:
        host = urlparse(str(url)).netloc
        if host:
            return host
    return fallback


def iter_tables(location: str) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet or JSONL file (a local path or a URI) in record batches."""
    parquet = location.endswith(".parquet")
    try:
        if storage.size(location) == 0:
            raise InputError(f"{location}: the file is empty")
        with storage.open_input(location) as handle:
            if parquet:
                yield from pq.ParquetFile(handle).iter_batches(batch_size=TABLE_BATCH_ROWS)
            else:
                yield from pa_json.open_json(handle, read_options=pa_json.ReadOptions(block_size=8 << 20))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        where = None if parquet else _bad_json_line(location)
        at = f"line {where}: " if where else ""
        raise InputError(f"{location}: {at}cannot read as {'parquet' if parquet else 'jsonl'} ({exc})") from None


def _bad_json_line(location: str) -> int | None:
    """pyarrow's row numbers restart at every block; on the error path, find the real line."""
    import json

    with storage.open_input(location) as handle:
        for number, line in enumerate(handle.read().splitlines(), start=1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError:
                    return number
    return None


def _integer(value, name: str, source: str, row: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{source}: row {row}: {name} must be an integer, got {value!r}") from None


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
        hosts = pl.col("metadata").list.eval(pl.element().str.extract(r"^[A-Za-z]+://([^/]+)")).list.drop_nulls() \
            .list.first().fill_null(site)
    date = pl.col("date").cast(pl.String) if "date" in frame.columns else pl.lit(None, dtype=pl.String)
    out = frame.select(
        site=hosts, question_id=qid, question=pl.col("question").fill_null(""), creation_date=date,
        chosen=pl.col("response_j").fill_null(""), rejected=pl.col("response_k").fill_null(""), source=pl.lit(source),
    )
    return out.to_arrow().cast(GIVEN_PAIRS)  # a Table: the workers take either


def _preferences_batch(rows: list[dict], source: str, site: str, first_row: int) -> pa.RecordBatch:
    out = {name: [] for name in POSTS.names}

    def add(**values) -> None:
        for name in POSTS.names:
            out[name].append(values.get(name))

    for number, row in enumerate(rows, start=first_row):
        row_site = site_from_metadata(row.get("metadata"), site)
        qid = _integer(row["qid"], "qid", source, number)
        date = row.get("date")
        common = dict(site=row_site, creation_date=date, license=licence_for(date, None), source=source, tags=[])
        add(post_id=qid, post_type=QUESTION, body=row["question"] or "", **common)
        for answer in row["answers"] or []:
            author_id = answer.get("author_id")
            add(
                post_id=_integer(answer.get("answer_id"), "answer_id", source, number),
                post_type=ANSWER,
                parent_id=qid,
                pm_score=_integer(answer.get("pm_score"), "pm_score", source, number),
                accepted=str(answer.get("selected")).lower() == "true",
                body=answer.get("text") or "",
                owner_user_id=int(author_id) if str(author_id or "").isdigit() else None,
                owner_display_name=answer.get("author"),
                **common,
            )
    return pa.RecordBatch.from_pydict(out, schema=POSTS)
