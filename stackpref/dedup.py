"""Exact deduplication by the stable hash of normalized text (see text.normalize_for_hash)."""

import polars as pl

from .text import text_hash


def hash_column(texts: pl.Series) -> pl.Series:
    """xxh3 of each normalized text; computed in Python because polars' own hash is not stable
    across versions and these values are stored (cluster ids) and compared across builds."""
    return pl.Series(texts.name, [text_hash(t) for t in texts.to_list()], dtype=pl.Int64)


def supersede_dump_versions(posts: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """When a site is given in several dumps, keep the newest dump's posts (a dump's date is its
    latest post date). Returns (posts, superseded, deleted): older posts that the newer dump has
    again, and older posts that the newer dump no longer has."""
    dates = posts.group_by("site", "source").agg(pl.col("creation_date").max().alias("dump_date"))
    newest = dates.sort("dump_date", "source").group_by("site").agg(pl.col("source").last().alias("newest"))
    tagged = posts.join(newest, on="site").with_columns(is_newest=pl.col("source") == pl.col("newest"))
    kept = tagged.filter("is_newest")
    older = tagged.filter(~pl.col("is_newest"))
    again = older.join(kept.select("site", "post_id"), on=["site", "post_id"], how="semi").height
    return kept.drop("newest", "is_newest"), again, older.height - again


def dedup_answers(answers: pl.DataFrame) -> pl.DataFrame:
    """Within a question, identical answers (by normalized text) keep the best-scored copy."""
    return (
        answers.sort(["pm_score", "score", "answer_id"], descending=[True, True, False], nulls_last=True)
        .unique(["site", "question_id", "answer_hash"], keep="first", maintain_order=True)
    )


def drop_duplicate_pairs(pairs: pl.DataFrame) -> pl.DataFrame:
    """The same (prompt, chosen, rejected) texts appear once; the first in (site, question) order stays."""
    return pairs.sort("site", "question_id", "chosen_answer_id", "rejected_answer_id").unique(
        ["prompt_hash", "chosen_answer_hash", "rejected_answer_hash"], keep="first", maintain_order=True
    )
