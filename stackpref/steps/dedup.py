"""Exact deduplication by the stable hash of normalized text (see text.normalize_for_hash)."""

import polars as pl

from stackpref.steps.text import text_hash


def hash_column(texts: pl.Series) -> pl.Series:
    """xxh3 of each normalized text; computed in Python because polars' own hash is not stable
    across versions and these values are stored (cluster ids) and compared across builds."""
    return pl.Series(texts.name, [text_hash(t) for t in texts.to_list()], dtype=pl.Int64)


def best_first(answers: pl.DataFrame) -> pl.DataFrame:
    """Answers grouped by question, each question's best first: rank (pm_score, or wins minus losses
    for given pairs), then score, then the older post. Every "keep the better one" uses this order."""
    return answers.sort(["site", "question_id", "rank", "score", "answer_id"],
                        descending=[False, False, True, True, False], nulls_last=True)


def dedup_answers(answers: pl.DataFrame) -> pl.DataFrame:
    """Within a question, identical answers (by normalized text) keep the best-scored copy."""
    return best_first(answers).unique(["site", "question_id", "answer_hash"], keep="first", maintain_order=True)


def drop_duplicate_pairs(pairs: pl.DataFrame) -> pl.DataFrame:
    """The same (prompt, chosen, rejected) texts appear once; the first in (site, question) order stays."""
    return pairs.sort("site", "question_id", "chosen_answer_id", "rejected_answer_id").unique(
        ["prompt_hash", "chosen_answer_hash", "rejected_answer_hash"], keep="first", maintain_order=True
    )
