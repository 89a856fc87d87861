"""The promise a build is chosen for: no question and no question cluster in two splits."""

import polars as pl


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
