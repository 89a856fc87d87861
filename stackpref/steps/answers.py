"""Answers joined to the questions that survived, and empty answers dropped."""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.steps.bucket import Bucket, Context


def attach_answers(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Each answer gets its question's accepted_answer_id and prompt_length; answers of questions
    dropped by an earlier step go with them."""
    answers = bucket.answers.join(
        bucket.questions.select("site", "question_id", "accepted_answer_id", "prompt_length"),
        on=["site", "question_id"], how="left",
    )
    orphaned = answers["prompt_length"].is_null()
    return (replace(bucket, answers=answers.filter(pl.col("prompt_length").is_not_null())),
            Counter(question_dropped=int(orphaned.sum())))


def drop_empty_answers(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    empty = bucket.answers["body"].fill_null("").str.len_chars() == 0
    return replace(bucket, answers=bucket.answers.filter(~empty)), Counter(empty_answer=int(empty.sum()))
