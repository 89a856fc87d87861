"""Split by question cluster: every cluster goes to exactly one split, by a seeded hash of its id."""

import polars as pl

from stackpref.splits import QUESTION_SPLITS
from stackpref.steps.text import seeded_unit


def assign_split(cluster_ids: pl.Series, fractions: dict[str, float], seed: int) -> pl.Series:
    """Split name per cluster id; stable for a given seed whatever else is in the build."""
    bounds, total = [], 0.0
    for name in QUESTION_SPLITS:
        total += fractions[name]
        bounds.append((total, name))

    def pick(cluster: str) -> str:
        u = seeded_unit(seed, cluster)
        return next((name for bound, name in bounds if u < bound), QUESTION_SPLITS[-1])

    return pl.Series("split", [pick(c) for c in cluster_ids.to_list()], dtype=pl.String)
