"""SFT rows: the best answer of each sft and test question that fits the length limit."""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.splits import SFT_SPLITS
from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.dedup import best_first


def sft_rows(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Makes one row per question (best by pm_score, then score, then id; only measured answers that
    fit are there), with its question's columns; the same (prompt, completion) texts appear once."""
    answers = bucket.answers.filter(pl.col("split").is_in(SFT_SPLITS))
    best = best_first(answers).unique(["site", "question_id"], keep="first", maintain_order=True)
    rows = best.join(bucket.questions.drop("split", "prompt_length", "question_hash"), on=["site", "question_id"])
    rows = rows.sort("site", "question_id")
    kept = rows.unique(["question_hash", "answer_hash"], keep="first", maintain_order=True)
    return replace(bucket, sft=kept), Counter(duplicate_sft_row=rows.height - kept.height)
