"""Exact and near-duplicate answers within a question, and duplicate pairs.

Exact means equal by the stable hash of normalized text (see text.normalize_for_hash).
"""

from collections import Counter
from dataclasses import replace

import numpy as np
import polars as pl

from stackpref.steps import near_dup
from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.clusters import could_reach
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


def dedup_exact_answers(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Within a question, identical answers (by normalized text) keep the best-scored copy."""
    kept = best_first(bucket.answers).unique(["site", "question_id", "answer_hash"], keep="first",
                                             maintain_order=True)
    return replace(bucket, answers=kept), Counter(duplicate_answer=bucket.answers.height - kept.height)


def dedup_near_answers(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Within a question, an answer whose shingles are near-identical to a better one (a repost, an
    edit posted twice) is dropped. Answers are taken best first; only pairs of similar length are
    shingled, all of them in one vectorized call. Off with --no-near-dup."""
    if not context.config.near_dup:
        return bucket, Counter()
    params = context.config.minhash_params()
    answers = best_first(bucket.answers)
    position = answers.select("site", "question_id").with_row_index("i")
    pairs = position.join(position, on=["site", "question_id"], suffix="_j").filter(pl.col("i") < pl.col("i_j"))
    pairs = pairs.select("i", "i_j").to_numpy().astype(np.int64).reshape(-1, 2)
    pairs = pairs[could_reach(answers["body"], pairs, params)]
    near = pairs[near_dup.near_pairs(answers["body"].to_list(), pairs, params)]
    keep = np.ones(answers.height, dtype=bool)
    for better, worse in sorted(near.tolist(), key=lambda p: (p[1], p[0])):
        if keep[better]:
            keep[worse] = False
    kept = answers.filter(pl.Series(keep))
    return replace(bucket, answers=kept), Counter(near_duplicate_answer=answers.height - kept.height)


def drop_duplicate_pairs(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Each pair gets its question's columns; the same (prompt, chosen, rejected) texts appear once,
    the first in (site, question) order staying."""
    pairs = bucket.pairs.join(
        bucket.questions.select("site", "question_id", "prompt", "question_hash", "prompt_length", "question_author",
                                "question_url", "question_license", "cluster_id", "split"),
        on=["site", "question_id"],
    ).rename({"question_hash": "prompt_hash"})
    kept = pairs.sort("site", "question_id", "chosen_answer_id", "rejected_answer_id").unique(
        ["prompt_hash", "chosen_answer_hash", "rejected_answer_hash"], keep="first", maintain_order=True
    )
    return replace(bucket, pairs=kept), Counter(duplicate_pair=pairs.height - kept.height)
