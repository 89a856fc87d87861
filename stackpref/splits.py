"""Split by question cluster: every cluster goes to exactly one split, by a seeded hash of its id."""

import polars as pl

from .config import SPLITS
from .text import seeded_unit


def assign_split(cluster_ids: pl.Series, fractions: dict[str, float], seed: int) -> pl.Series:
    """Split name per cluster id; stable for a given seed whatever else is in the build."""
    bounds, total = [], 0.0
    for name in SPLITS:
        total += fractions[name]
        bounds.append((total, name))

    def pick(cluster: str) -> str:
        u = seeded_unit(seed, cluster)
        return next((name for bound, name in bounds if u < bound), SPLITS[-1])

    return pl.Series("split", [pick(c) for c in cluster_ids.to_list()], dtype=pl.String)


def overlap_check(rows: pl.DataFrame) -> dict:
    """Given every output row's (site, question_id, cluster_id, split), count questions and clusters
    found in more than one split. The build refuses to write if either count is not zero."""
    questions = rows.group_by("site", "question_id").agg(pl.col("split").n_unique().alias("n"))
    clusters = rows.group_by("cluster_id").agg(pl.col("split").n_unique().alias("n"))
    q_bad = questions.filter(pl.col("n") > 1).height
    c_bad = clusters.filter(pl.col("n") > 1).height
    return {
        "questions_checked": questions.height,
        "questions_in_two_splits": q_bad,
        "clusters_checked": clusters.height,
        "clusters_in_two_splits": c_bad,
        "passed": q_bad == 0 and c_bad == 0,
    }
