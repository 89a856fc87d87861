"""Answer preference score of Askell et al. 2021 ("A General Language Assistant as a Laboratory for
Alignment", sec. 4.1), as used by the H4 stack-exchange-preferences set."""

import polars as pl


def pm_score(score: pl.Expr, accepted: pl.Expr) -> pl.Expr:
    """`round(log2(1 + score))` rounded half up, `-1` when score < 0, plus 1 when accepted.

    The dump only has the net Score (up minus down votes), so a contested answer with many votes
    each way scores like an ignored one; the dataset card says so.
    """
    base = pl.when(score < 0).then(-1).otherwise(((score.clip(lower_bound=0) + 1).log(2) + 0.5).floor())
    return (base + accepted.cast(pl.Int64)).cast(pl.Int64)
