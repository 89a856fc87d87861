"""Answer preference score of Askell et al. 2021 ("A General Language Assistant as a Laboratory for
Alignment", sec. 4.1), as used by the H4 stack-exchange-preferences set."""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.steps.bucket import Bucket, Context


def pm_score(score: pl.Expr, accepted: pl.Expr) -> pl.Expr:
    """`round(log2(1 + score))` rounded half up, `-1` when score < 0, plus 1 when accepted.

    The score is net votes (the dump's Score, or up minus down votes from Votes.xml), so a contested
    answer with many votes each way scores like an ignored one; the dataset card says so.
    """
    base = pl.when(score < 0).then(-1).otherwise(((score.clip(lower_bound=0) + 1).log(2) + 0.5).floor())
    return (base + accepted.cast(pl.Int64)).cast(pl.Int64)


VOTES = {"up_votes": pl.Int64, "down_votes": pl.Int64, "young": pl.Boolean}


def attach_votes(answers: pl.DataFrame, votes: pl.DataFrame | None) -> pl.DataFrame:
    """Each answer's up_votes and down_votes (all of them, or those of its --score-window) and
    whether its window had not ended by the dump (`young`), from the bucket's votes files
    (pipeline/route.py JoinVotes); null for an answer of an input without Votes.xml."""
    if votes is None:
        return answers.with_columns(pl.lit(None, dtype=dtype).alias(name) for name, dtype in VOTES.items())
    return answers.join(votes.cast(VOTES), on=["site", "answer_id"], how="left")


def drop_young_answers(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """With --score-window DAYS, answers posted less than DAYS days before their dump was made have
    not had their whole window to gather votes: they are dropped, not scored on part of it."""
    if not context.config.score_window:
        return bucket, Counter()
    young = bucket.answers["young"].fill_null(False)
    return replace(bucket, answers=bucket.answers.filter(~young)), Counter(younger_than_score_window=int(young.sum()))


def score_answers(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """accepted (given, or the question's accepted answer), pm_score (given, or computed; none for
    the answers of ready-made pairs, which have no votes) and rank, the order "best" means:
    pm_score, or for ready-made pairs their wins minus losses. With --score-window, pm_score is
    computed from the votes of the window (up minus down) instead of the dump's net Score. Drops none."""
    votes = pl.col("up_votes") - pl.col("down_votes") if context.config.score_window else pl.col("score")
    answers = bucket.answers.with_columns(
        accepted=pl.coalesce("accepted", pl.col("answer_id") == pl.col("accepted_answer_id"), pl.lit(False)),
    ).with_columns(
        pm_score=pl.when(pl.col("from_given")).then(None)
        .otherwise(pl.coalesce("pm_score", pm_score(votes, pl.col("accepted")))),
    )
    rank = pl.coalesce("pm_score", "rank") if "rank" in answers.columns else pl.col("pm_score")
    return replace(bucket, answers=answers.with_columns(rank=rank)), Counter()
