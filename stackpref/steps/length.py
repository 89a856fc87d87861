"""The answer length filter: prompt + response + EOS within the limit, in the meter's unit (with a
chat template, the response's count is what its assistant turn adds to the rendered prompt).

Rows that are too long are dropped, never truncated: a cut answer teaches the model to stop
mid-sentence. It runs before pairing, so the per-question cap picks among pairs that fit.
"""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.splits import PAIR_SPLITS
from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.dedup import best_first


def filter_long_answers(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Measure responses and drop those whose prompt + response + EOS exceed the limit.

    Pair questions (train, test) need every answer measured. An sft question only writes its best
    answer that fits, so its answers are measured best first, one round at a time, until one
    fits: tokenizing is the costliest step of a build, and most sft answers are never written.
    Answers never measured stay (with no length) and are never written."""
    meter, answers = context.meter, bucket.answers
    prompts = bucket.questions.select("site", "question_id", "prompt")

    def measure(frame: pl.DataFrame) -> pl.DataFrame:
        if meter.chat is None:  # a response counts alone
            lengths = meter.measure(frame["response"].to_list(), prompt=False)
        else:  # what the assistant turn adds to its rendered prompt
            prompt = frame.select("site", "question_id").join(prompts, on=["site", "question_id"], how="left",
                                                              maintain_order="left")["prompt"]
            lengths = meter.measure_responses(prompt.to_list(), frame["response"].to_list(),
                                              frame["prompt_length"].to_list())
        return frame.with_columns(response_length=pl.Series(lengths, dtype=pl.Int64))

    fits = pl.col("prompt_length") + pl.col("response_length") + meter.eos_tokens <= context.max_length
    paired = measure(answers.filter(pl.col("split").is_in(PAIR_SPLITS)))
    kept, too_long = [paired.filter(fits)], paired.filter(~fits).height
    pending = best_first(answers.filter(~pl.col("split").is_in(PAIR_SPLITS))).with_columns(
        _turn=pl.int_range(pl.len()).over("site", "question_id"))
    while pending.height:
        turn = measure(pending.filter(pl.col("_turn") == pl.col("_turn").min().over("site", "question_id")))
        kept.append(turn.filter(fits))
        too_long += turn.filter(~fits).height
        done = turn.filter(fits).select("site", "question_id")
        pending = pending.join(turn.select("site", "question_id", "answer_id"), on=["site", "question_id", "answer_id"],
                               how="anti")
        kept.append(pending.join(done, on=["site", "question_id"], how="semi")
                    .with_columns(response_length=pl.lit(None, dtype=pl.Int64)))
        pending = pending.join(done, on=["site", "question_id"], how="anti")
    kept_answers = pl.concat(kept, how="diagonal_relaxed").drop("_turn", strict=False)
    return replace(bucket, answers=kept_answers), Counter(answer_too_long=too_long)
