"""Ordered (chosen, rejected) pairs within a question: by pm_score margin for scored answers, as
given for a stack-exchange-paired table's ready-made pairs; then the per-question cap."""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.splits import PAIR_SPLITS
from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.text import seeded_unit

_SIDE = ["answer_id", "pm_score", "score", "accepted", "response", "response_length", "answer_hash", "author", "license",
         "creation_date"]


def candidate_pairs(answers: pl.DataFrame, min_margin: int) -> tuple[pl.DataFrame, int]:
    """Every answer pair of a question whose pm_scores differ by at least `min_margin`, the higher
    one chosen (ties never pair). Returns the pairs and how many unordered pairs fell short."""
    keys = ["site", "question_id"]
    sides = answers.select(*keys, *_SIDE)
    joined = sides.join(sides, on=keys, suffix="_r").filter(pl.col("answer_id") < pl.col("answer_id_r"))
    unordered = joined.height
    diff = pl.col("pm_score") - pl.col("pm_score_r")
    joined = joined.filter(diff.abs() >= min_margin)
    first_wins = joined.filter(diff > 0)
    second_wins = joined.filter(diff < 0)
    chosen = {c: f"chosen_{c}" for c in _SIDE}
    rejected = {f"{c}_r": f"rejected_{c}" for c in _SIDE}
    swapped = {c: f"rejected_{c}" for c in _SIDE} | {f"{c}_r": f"chosen_{c}" for c in _SIDE}
    pairs = pl.concat([first_wins.rename(chosen | rejected), second_wins.rename(swapped)], how="diagonal")
    pairs = pairs.with_columns(margin=pl.col("chosen_pm_score") - pl.col("rejected_pm_score"))
    return pairs, unordered - pairs.height


def pair_at_margin(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Makes the pairs of the train and test questions' scored answers (answers of ready-made pairs
    are paired as given, by `pair_as_given`)."""
    scored = bucket.answers.filter(pl.col("split").is_in(PAIR_SPLITS) & ~pl.col("from_given"))
    pairs, below_margin = candidate_pairs(scored, context.config.min_margin)
    return replace(bucket, pairs=pairs), Counter(below_min_margin=below_margin)


def pair_as_given(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Adds the ready-made pairs whose both answers survived the filters, margin unknown (null); a
    pair of two identical responses (one text hash) is dropped."""
    if bucket.given is None:
        return bucket, Counter()
    side = bucket.answers.filter(pl.col("split").is_in(PAIR_SPLITS) & pl.col("from_given")).select(
        "site", "question_id", *_SIDE)
    chosen = side.rename({c: f"chosen_{c}" for c in side.columns if c not in ("site", "question_id")})
    rejected = side.rename({c: f"rejected_{c}" for c in side.columns if c not in ("site", "question_id")})
    given = (
        bucket.given.join(chosen, on=["site", "question_id", "chosen_answer_id"])
        .join(rejected, on=["site", "question_id", "rejected_answer_id"])
        .with_columns(margin=pl.lit(None, dtype=pl.Int64))
    )
    identical = pl.col("chosen_answer_id") == pl.col("rejected_answer_id")
    pairs = pl.concat([bucket.pairs, given.filter(~identical)], how="diagonal_relaxed")
    return replace(bucket, pairs=pairs), Counter(identical_responses=given.filter(identical).height)


def pair_draws(pairs: pl.DataFrame, seed: int, salt: str = "") -> pl.Series:
    """A seeded number in [0, 1) per pair, from its site, question and answer ids (`salt` keeps the
    draws of different choices apart): the same on every run and machine."""
    keys = pairs.select("site", "question_id", "chosen_answer_id", "rejected_answer_id").iter_rows()
    return pl.Series([seeded_unit(seed, f"{salt}{s}/{q}/{c}/{r}") for s, q, c, r in keys], dtype=pl.Float64)


def cap_pairs(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """At most max_pairs_per_question pairs per question, picked by a seeded hash of the pair's ids,
    so the choice is the same on every run and machine. Remembers which questions had a pair."""
    pairs = bucket.pairs
    paired = pairs.select("site", "question_id").unique()
    if pairs.is_empty():
        return replace(bucket, paired_questions=paired), Counter()
    ranked = pairs.with_columns(_draw=pair_draws(pairs, context.config.seed))
    ranked = ranked.with_columns(_rank=pl.col("_draw").rank("ordinal").over("site", "question_id"))
    capped = ranked.filter(pl.col("_rank") <= context.config.max_pairs_per_question).drop("_draw", "_rank")
    return (replace(bucket, pairs=capped, paired_questions=paired),
            Counter(over_max_pairs_per_question=pairs.height - capped.height))
