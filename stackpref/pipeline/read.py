"""Pass 1 of a build: a worker reads one piece of a source, converts its HTML to Markdown, hashes
every text, computes each question's LSH keys, writes the rows to a spill file, and hands back
only small keys (question hashes, band keys and sketches, answer hashes, dates)."""

from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from stackpref.output import storage
from stackpref.output.preflight import writing
from stackpref.pipeline.plan import LATEST_DATES
from stackpref.schema import QUESTION
from stackpref.sources.base import Piece
from stackpref.sources.hub_layouts import looks_like_html
from stackpref.steps import near_dup
from stackpref.steps.clusters import lsh_keys_of
from stackpref.steps.text import html_to_md, text_hash

SPILL_COMPRESSION = "lz4"  # spill files are read once or twice: speed over size


def to_markdown(texts: list[str | None], always_html: bool) -> list[str]:
    """Dump bodies are HTML; table sources hold HTML or Markdown, converted only when HTML."""
    return [
        html_to_md(t) if t and (always_html or looks_like_html(t)) else (t or "").strip() for t in texts
    ]


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
        lsh = lsh_keys_of(questions["text"].to_list(), params)
        frame = frame.join(questions.select("post_id", "site", "source").with_columns(lsh["bands"]), how="left",
                           on=["site", "post_id", "source"], maintain_order="left")
        keys = {
            "questions": questions.select("site", pl.col("post_id").alias("question_id"), "source", "text_hash")
            .with_columns(lsh),
            "answers": frame.filter(~is_question).select("site", pl.col("parent_id").alias("question_id"),
                                                         "text_hash"),
        }
        if track_posts:
            keys["posts"] = frame.select("site", "post_id", "source")
        if frame.height:  # pieces whose spans overlap are checked for a post they share (unique_ids.py)
            keys["id_span"] = (frame["post_id"].min(), frame["post_id"].max(), path)
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
        ).with_columns(lsh_keys_of(questions["text"].to_list(), params))
        frame = frame.join(questions.select("site", "question_id", "text_hash", "bands"), on=["site", "question_id"],
                           how="left", maintain_order="left")
        keys = {"questions": questions}
    with writing(path):
        storage.write_frame(frame, path, SPILL_COMPRESSION)
    # (source, first date, latest dates): a dump is dated by its latest dates, not the one latest (plan.py)
    dates = frame.group_by("source").agg(first=pl.col("creation_date").min(),
                                         last=pl.col("creation_date").drop_nulls().top_k(LATEST_DATES)).rows()
    texts = ["text"] if kind == "posts" else ["text", "chosen", "rejected"]
    text_bytes = sum(int(frame[name].str.len_bytes().sum() or 0) for name in texts)
    return {"kind": kind, "rows": frame.height, "text_bytes": text_bytes, "dates": dates,
            **{k: v.to_arrow() if isinstance(v, pl.DataFrame) else v for k, v in keys.items()}}


# Rows per row group of a votes spill file, which is sorted by post: pass 2 reads one post-id range
# of every such file, and the row groups' min/max let it skip the rest (see route.JoinVotes).
VOTES_ROW_GROUP = 16_384


def spill_votes(partials: pa.Table, counts: dict, path: str) -> dict:
    """Pass 1 for a piece of Votes.xml: its partial sums (sources/votes.py PARTIALS, sorted by post)
    to `path`, written even when empty (pass 2 reads every votes file); returns the counts, how many
    partials, their post-id span and the latest vote day."""
    with writing(path):
        storage.write_parquet(partials, path, compression=SPILL_COMPRESSION, row_group_size=VOTES_ROW_GROUP)
    ids, days = partials["post_id"], partials["day"]
    return {"kind": "votes", "counts": counts, "partials": partials.num_rows,
            "posts": (pc.min(ids).as_py(), pc.max(ids).as_py()), "last_day": pc.max(days).as_py()}


def read_spill(path: str) -> pl.DataFrame:
    """A spill file back as a frame; an I/O error is one line naming it (see preflight.writing)."""
    with writing(path, "read"):
        return storage.read_frame(path)


@dataclass(frozen=True)
class SpillTask:
    """Read one piece of a source and spill it to `path` (a piece of duplicate links comes back
    whole instead, a piece of votes is spilled as partial sums); `track_posts`: the site is given in several dumps, so post ids come back to
    count what a newer dump superseded or deleted."""

    piece: Piece
    path: str
    params: near_dup.MinHashParams | None
    track_posts: bool

    def run(self) -> dict:
        kind, table, counts = self.piece.read()
        if kind == "links":  # a site's duplicate links: small, kept by the build itself, never spilled
            return {"kind": kind, "links": table, "counts": counts}
        if kind == "votes":
            return spill_votes(table, counts, self.path)
        return {**spill_batch(kind, table, self.piece.html, self.path, self.params, self.track_posts),
                "skipped": counts}
