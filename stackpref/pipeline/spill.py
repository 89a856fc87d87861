"""Passes 1 and 2 of a build, as functions a worker process runs on one batch or one shard.

Pass 1 (`spill_batch`): convert a batch's HTML to Markdown, hash every text, compute each
question's LSH band keys, write the batch to a spill file, and hand back only small keys.
Pass 2 (`route_shard`): once the global plan says which bucket each question's cluster goes to,
move every row of a few spill files into its bucket, so each bucket holds whole clusters with all
their answers and the last pass can work bucket by bucket in bounded memory.
"""

from collections import Counter
from functools import lru_cache

import polars as pl
import pyarrow as pa

from stackpref.output import storage
from stackpref.pipeline.plan import is_current
from stackpref.schema import POSTS, QUESTION
from stackpref.sources.hub_layouts import looks_like_html
from stackpref.sources.posts_xml import parse_rows, range_rows
from stackpref.steps import near_dup
from stackpref.steps.text import html_to_md, text_hash

SPILL_COMPRESSION = "lz4"  # spill files are read once or twice: speed over size


def to_markdown(texts: list[str | None], always_html: bool) -> list[str]:
    """Dump bodies are HTML; table sources hold HTML or Markdown, converted only when HTML."""
    return [
        html_to_md(t) if t and (always_html or looks_like_html(t)) else (t or "").strip() for t in texts
    ]


def _bands(texts: list[str], params: near_dup.MinHashParams | None) -> pl.Series:
    """Each question's LSH band keys, stored narrow (see near_dup.narrow_keys)."""
    if params is None or not texts:
        return pl.Series("bands", [[] for _ in texts], dtype=pl.List(pl.UInt32))
    keys = near_dup.narrow_keys(near_dup.band_keys(near_dup.signatures(texts, params), params))
    return pl.Series("bands", keys.tolist(), dtype=pl.List(pl.UInt32))


def spill_batch(kind: str, batch: pa.RecordBatch | pa.Table, always_html: bool, path: str,
                params: near_dup.MinHashParams | None, track_posts: bool) -> dict:
    """Pass 1 for one batch of POSTS ('posts') or GIVEN_PAIRS ('pairs'); returns its keys. Post ids
    come back only with `track_posts` (a site given in several dumps), to count what a newer dump
    superseded or deleted."""
    frame = pl.from_arrow(batch)
    if kind == "posts":
        body = pl.Series("body", to_markdown(frame["body"].to_list(), always_html))
        frame = frame.with_columns(body)
        is_question = frame["post_type"] == QUESTION
        title = frame["title"].fill_null("").str.strip_chars()
        text = pl.when(is_question & (title != "")).then(title + "\n\n" + body).otherwise(body).str.strip_chars()
        frame = frame.with_columns(text=text)
        frame = frame.with_columns(text_hash=pl.Series([text_hash(t) for t in frame["text"]], dtype=pl.Int64))
        questions = frame.filter(is_question)
        bands = _bands(questions["text"].to_list(), params)
        frame = frame.join(questions.select("post_id", "site", "source").with_columns(bands), how="left",
                           on=["site", "post_id", "source"], maintain_order="left")
        keys = {
            "questions": questions.select("site", pl.col("post_id").alias("question_id"), "source", "text_hash")
            .with_columns(bands),
            "answers": frame.filter(~is_question).select("site", pl.col("parent_id").alias("question_id"),
                                                         "text_hash"),
        }
        if track_posts:
            keys["posts"] = frame.select("site", "post_id", "source")
    else:
        frame = frame.with_columns(
            pl.Series("question", to_markdown(frame["question"].to_list(), always_html)),
            pl.Series("chosen", to_markdown(frame["chosen"].to_list(), always_html)),
            pl.Series("rejected", to_markdown(frame["rejected"].to_list(), always_html)),
        )
        frame = frame.with_columns(text=pl.col("question"))
        questions = frame.unique(["site", "question_id"], keep="first", maintain_order=True)  # a row per pair
        questions = questions.select("site", "question_id", "source").with_columns(
            text_hash=pl.Series([text_hash(t) for t in questions["text"]], dtype=pl.Int64),
            bands=_bands(questions["text"].to_list(), params),
        )
        frame = frame.join(questions.select("site", "question_id", "text_hash", "bands"), on=["site", "question_id"],
                           how="left", maintain_order="left")
        keys = {"questions": questions}
    storage.write_frame(frame, path, SPILL_COMPRESSION)
    dates = frame.group_by("source").agg(first=pl.col("creation_date").min(),
                                         last=pl.col("creation_date").max()).rows()
    return {"kind": kind, "rows": frame.height, "dates": dates, **{k: v.to_arrow() for k, v in keys.items()}}


def spill_fragment(fragment: bytes, first_line, site: str, source: str, label: str, path: str,
                   params: near_dup.MinHashParams | None, track_posts: bool) -> dict:
    """Pass 1 for one fragment of a dump (whole rows; `first_line`: its line, or a function giving
    it): parse its rows here, in the worker, then `spill_batch`."""
    skipped: Counter = Counter()
    batches = list(parse_rows(fragment, first_line, site=site, source=source, label=label, skipped=skipped))
    result = spill_batch("posts", pa.Table.from_batches(batches, schema=POSTS), True, path, params, track_posts)
    return {**result, "skipped": dict(skipped)}


def spill_range(location: str, size: int, start: int, end: int, site: str, path: str,
                params: near_dup.MinHashParams | None, track_posts: bool) -> dict:
    """Pass 1 for one byte range of a plain Posts.xml: the worker reads the range itself, so the
    main process never moves the dump's bytes."""
    with storage.open_input(location) as handle:
        fragment, first_line = range_rows(handle, size, start, end, location)
        return spill_fragment(fragment, first_line, site, location, location, path, params, track_posts)


@lru_cache(maxsize=2)
def _route_table(path: str) -> pl.DataFrame:
    return storage.read_frame(path)


def route_shard(kind: str, paths: list[str], route_path: str, newest: dict[str, str], out_dir: str) -> dict:
    """Pass 2 for a few spill files of one kind: drop rows of superseded dumps, then write each row
    into the bucket of its question's cluster (one file per bucket reached). Answers whose question
    is not in the input are counted."""
    frame = pl.concat([storage.read_frame(path) for path in paths], how="vertical_relaxed")
    frame = frame.filter(is_current(newest))
    key = (
        pl.when(pl.col("post_type") == QUESTION).then(pl.col("post_id")).otherwise(pl.col("parent_id"))
        if kind == "posts" else pl.col("question_id")
    )
    frame = frame.with_columns(_question=key).join(
        _route_table(route_path).rename({"question_id": "_question"}), on=["site", "_question"], how="left"
    ).drop("_question")
    orphans = frame.filter(pl.col("bucket").is_null()).height
    name = storage.name(paths[0])
    for (bucket,), part in frame.filter(pl.col("bucket").is_not_null()).partition_by("bucket", as_dict=True).items():
        storage.write_frame(part.drop("bucket"), storage.join(out_dir, f"b{bucket:05d}", f"{kind}-{name}"),
                            SPILL_COMPRESSION)
    return {"orphan_answer": orphans}
