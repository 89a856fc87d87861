"""Why a question that passed every filter still has no output row; the last step of a bucket."""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.steps.bucket import Bucket, Context

_KEYS = ["site", "question_id"]


def keep_questions_with_rows(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Keeps the questions that gave an SFT row or a pair; the rest are dropped under the first
    reason that holds: no answer left, one answer (nothing to pair it with), pairs that a fairness
    filter removed (`bucket.emptied`, by its reason), no pair at the minimum margin, or pairs that
    were all duplicates of another question's."""
    with_rows = pl.concat([bucket.sft.select(_KEYS), bucket.pairs.select(_KEYS)]).unique()
    per_question = bucket.answers.group_by(_KEYS).agg(pl.len().alias("n_answers"), pl.col("split").first())
    rowless = per_question.join(with_rows, on=_KEYS, how="anti")
    one_answer = rowless.filter(pl.col("n_answers") == 1)
    several = rowless.filter(pl.col("n_answers") > 1)
    emptied = {}
    for reason, questions in bucket.emptied.items():
        emptied[reason] = several.join(questions, on=_KEYS, how="semi").height
        several = several.join(questions, on=_KEYS, how="anti")
    at_margin = several.join(bucket.paired_questions, on=_KEYS, how="semi").height
    kept = bucket.questions.join(with_rows, on=_KEYS, how="semi")
    return replace(bucket, questions=kept), Counter(
        no_answer_left=bucket.questions.height - per_question.height,
        one_answer_cannot_pair=one_answer.height,
        no_pair_at_min_margin=several.height - at_margin,
        only_duplicate_rows=at_margin, **emptied,
    )
