"""Pair filters that make "chosen got more votes" a fairer label (issue 14).

A pair's label is its vote gap, and votes are biased: an answer posted first is seen, and voted on,
for longer; a longer answer looks more thorough. `keep_fair_pairs` applies Stanford SHP's two
rules (Ethayarajh et al. 2022): chosen posted strictly after rejected (`--pairing later-wins`),
and chosen's net score at least R times rejected's (`--min-score-ratio R`). `balance_length`
keeps, per site, as many pairs with the longer answer chosen as with the shorter one.
"""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.pairing import pair_draws

_KEYS = ["site", "question_id"]
# The dumps' CreationDate forms (sources/posts_xml.creation_date): time, seconds and fraction may be absent.
_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def posted_at(column: str) -> pl.Expr:
    """A CreationDate string column as a datetime (ns, so no two distinct dump times compare equal);
    null where absent."""
    text = pl.col(column).str.replace(" ", "T", literal=True).str.strip_suffix("Z")
    return pl.coalesce([text.str.to_datetime(f, time_unit="ns", strict=False) for f in _FORMATS])


def _emptied(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """The questions that had a pair in `before` and have none in `after`."""
    return before.select(_KEYS).unique().join(after.select(_KEYS), on=_KEYS, how="anti")


def keep_fair_pairs(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Drops the pairs that break --pairing later-wins (reasons: `no_answer_dates`,
    `chosen_posted_first`, `posted_same_moment`: equal timestamps show no order, so they drop too)
    and --min-score-ratio (`below_min_score_ratio`; checked only where both net scores are > 0, as
    SHP: a ratio of a zero or negative score means nothing). Runs before the cap, so the cap picks
    among fair pairs. No-op with the defaults."""
    config, pairs = context.config, bucket.pairs
    if config.pairing == "score" and config.min_score_ratio is None:
        return bucket, Counter()
    chosen, rejected = posted_at("chosen_creation_date"), posted_at("rejected_creation_date")
    reason = pl.lit(None, dtype=pl.String)
    if config.pairing == "later-wins":
        reason = (pl.when(chosen.is_null() | rejected.is_null()).then(pl.lit("no_answer_dates"))
                  .when(chosen < rejected).then(pl.lit("chosen_posted_first"))
                  .when(chosen == rejected).then(pl.lit("posted_same_moment")))
    if config.min_score_ratio is not None:
        positive = (pl.col("chosen_score") > 0) & (pl.col("rejected_score") > 0)
        low = positive & (pl.col("chosen_score") < config.min_score_ratio * pl.col("rejected_score"))
        reason = pl.coalesce(reason, pl.when(low).then(pl.lit("below_min_score_ratio")))
    judged = pairs.with_columns(_reason=reason)
    kept = judged.filter(pl.col("_reason").is_null()).drop("_reason")
    drops = Counter(dict(judged.filter(pl.col("_reason").is_not_null())["_reason"].value_counts().iter_rows()))
    emptied = {**bucket.emptied, "no_fair_pair": _emptied(pairs, kept)}
    return replace(bucket, pairs=kept, emptied=emptied), drops


def balance_length(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """With --balance-length: per site, keeps as many pairs whose chosen is longer (in the build's
    length unit) as pairs whose chosen is shorter, dropping a seeded draw of the larger side
    (`length_balance`); pairs of equal length carry no length signal and are all kept. Balanced
    within the bucket, so the build is balanced per site exactly: the sum of equal counts is equal.
    The last pair step, after the cap and the duplicate check, so nothing unbalances it again."""
    pairs = bucket.pairs
    if not context.config.balance_length or pairs.is_empty():
        return bucket, Counter()
    gap = pl.col("chosen_response_length") - pl.col("rejected_response_length")
    side = pairs.with_columns(_side=gap.sign(), _draw=pair_draws(pairs, context.config.seed, salt="balance-length/"))
    side = side.with_columns(
        _rank=pl.col("_draw").rank("ordinal").over("site", "_side"),
        _room=pl.min_horizontal((pl.col("_side") == 1).sum(), (pl.col("_side") == -1).sum()).over("site"),
    )
    kept = side.filter((pl.col("_side") == 0) | (pl.col("_rank") <= pl.col("_room")))
    kept = kept.drop("_side", "_draw", "_rank", "_room")
    emptied = {**bucket.emptied, "pairs_balanced_away": _emptied(pairs, kept)}
    return replace(bucket, pairs=kept, emptied=emptied), Counter(length_balance=pairs.height - kept.height)
