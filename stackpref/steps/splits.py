"""Split by question cluster: every cluster goes to exactly one split, by a seeded hash of its id."""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.splits import QUESTION_SPLITS
from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.clusters import cluster_id
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


def split_by_cluster(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Adds split to every question (by its cluster) and to every answer (by its question), and
    the answers' response text; counts for the manifest how many questions a merge moved to
    another split than they would have had alone. Drops none."""
    config = context.config
    clusters = bucket.questions.select("cluster_id").unique().sort("cluster_id")
    clusters = clusters.with_columns(split=assign_split(clusters["cluster_id"], config.split, config.seed))
    questions = bucket.questions.join(clusters, on="cluster_id")
    merged = questions.filter(pl.col("cluster_size") > 1)
    alone = assign_split(cluster_id(merged["question_hash"]), config.split, config.seed)
    stats = dict(
        clusters_with_duplicates=merged["cluster_id"].n_unique(),
        questions_in_them=merged.height,
        questions_moved_by_merges=int((alone != merged["split"]).sum()),
        size_histogram=dict(Counter(merged.group_by("cluster_id").len()["len"].to_list())),
    )
    answers = bucket.answers.join(
        questions.select("site", "question_id", "split", "question_hash"), on=["site", "question_id"]
    ).with_columns(response=pl.lit(context.response_prefix) + pl.col("body"))
    return replace(bucket, questions=questions, answers=answers, stats={**bucket.stats, **stats}), Counter()
