"""Answer preference score of Askell et al. 2021 ("A General Language Assistant as a Laboratory for
Alignment", sec. 4.1), as used by the H4 stack-exchange-preferences set."""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.steps.bucket import Bucket, Context


def pm_score(score: pl.Expr, accepted: pl.Expr) -> pl.Expr:
    """`round(log2(1 + score))` rounded half up, `-1` when score < 0, plus 1 when accepted.

    The dump only has the net Score (up minus down votes), so a contested answer with many votes
    each way scores like an ignored one; the dataset card says so.
    """
    base = pl.when(score < 0).then(-1).otherwise(((score.clip(lower_bound=0) + 1).log(2) + 0.5).floor())
    return (base + accepted.cast(pl.Int64)).cast(pl.Int64)


def score_answers(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """accepted (given, or the question's accepted answer), pm_score (given, or computed; none for
    the answers of ready-made pairs, which have no votes) and rank, the order "best" means:
    pm_score, or for ready-made pairs their wins minus losses. Drops none."""
    answers = bucket.answers.with_columns(
        accepted=pl.coalesce("accepted", pl.col("answer_id") == pl.col("accepted_answer_id"), pl.lit(False)),
    ).with_columns(
        pm_score=pl.when(pl.col("from_given")).then(None)
        .otherwise(pl.coalesce("pm_score", pm_score(pl.col("score"), pl.col("accepted")))),
    )
    rank = pl.coalesce("pm_score", "rank") if "rank" in answers.columns else pl.col("pm_score")
    return replace(bucket, answers=answers.with_columns(rank=rank)), Counter()
