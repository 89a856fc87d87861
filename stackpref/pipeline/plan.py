"""The global decisions between pass 1 and pass 2, made on small keys only (no text):
which dump of a site is newest, and which bucket each question's cluster goes to."""

import math

import numpy as np
import polars as pl

from stackpref.sources import Source
from stackpref.steps import near_dup
from stackpref.steps.text import seeded_unit

BUCKET_INPUT_BYTES = 16 << 20  # input bytes per bucket: bounds the memory of the last pass, and sets its parallelism


def bucket_count(sources: list[Source]) -> int:
    """Buckets for a build: a function of the input only, so the output files do not depend on
    the number of workers."""
    return max(1, math.ceil(sum(source.text_bytes() for source in sources) / BUCKET_INPUT_BYTES))


def newest_dumps(dates: dict[str, str | None], site_of: dict[str, str]) -> dict[str, str]:
    """Site -> its newest dump, among the dumps in `dates`; a dump's date is its latest post date
    (ties: the later location)."""
    newest: dict[str, tuple[str, str]] = {}
    for source, date in dates.items():
        site = site_of[source]
        if site not in newest or (date or "", source) > newest[site]:
            newest[site] = (date or "", source)
    return {site: source for site, (_, source) in newest.items()}


def is_current(newest: dict[str, str]) -> pl.Expr:
    """True for rows of a site's newest dump, and for every row of a site given once."""
    return pl.col("source") == pl.col("site").replace_strict(newest, default=None).fill_null(pl.col("source"))


def superseded_and_deleted(posts: pl.DataFrame, newest: dict[str, str]) -> tuple[int, int]:
    """Posts of older dumps that the newest dump of their site has again, and those it has not."""
    if posts.is_empty():
        return 0, 0
    kept = posts.filter(is_current(newest)).select("site", "post_id")
    older = posts.filter(~is_current(newest))
    again = older.join(kept, on=["site", "post_id"], how="semi").height
    return again, older.height - again


def route_questions(questions: pl.DataFrame, newest: dict[str, str], buckets: int, use_lsh: bool):
    """Bucket per question: questions with the same text hash or an LSH band in common (unverified
    candidates, so possibly more than a final cluster) go to one bucket, where they are verified.
    Returns (site, question_id, bucket)."""
    questions = (
        questions.filter(is_current(newest))
        .unique(["site", "question_id"], keep="first")
        .sort("site", "question_id")
    )
    n = questions.height
    pairs = [near_dup.equal_value_pairs(questions["text_hash"].to_numpy())]
    if use_lsh and n:
        width = questions["bands"].list.len().max()
        bands = near_dup.widen_keys(questions["bands"].list.to_array(width).to_numpy())
        pairs.append(near_dup.candidate_pairs(bands))
    edges = np.concatenate(pairs)
    labels = near_dup.union_find(n, edges)
    sites, ids = questions["site"].to_list(), questions["question_id"].to_list()
    representative = {label: seeded_unit(0, f"{sites[label]}/{ids[label]}") for label in np.unique(labels).tolist()}
    bucket = [int(representative[label] * buckets) for label in labels.tolist()]
    return questions.select("site", "question_id", bucket=pl.Series(bucket, dtype=pl.Int32))
