"""Questions to prompts: the template applied, the prompt measured, unusable questions dropped."""

from collections import Counter
from dataclasses import replace

import polars as pl

from stackpref.steps.bucket import Bucket, Context


def template_parts(config) -> tuple[str, str, str]:
    """`split_template` of the build's (`BuildConfig`) template; none for conversational output, whose
    prompt is the question itself (the user turn: the chat template formats it)."""
    if config.format == "conversational":
        return "", "", ""
    return split_template(config.prompt_template, config.token_boundary)


def split_template(template: str, token_boundary: bool) -> tuple[str, str, str]:
    """(prompt prefix, prompt suffix, response prefix). With `token_boundary`, the suffix's trailing
    whitespace moves to the responses: `...Answer:` + ` text` instead of `...Answer: ` + `text`,
    since a tokenizer merges a space into the word after it (`▁text`, `Ġtext`), and a prompt that
    ends in a bare space yields a token that never occurs before an answer in real text."""
    prefix, _, suffix = template.partition("{question}")
    if not token_boundary:
        return prefix, suffix, ""
    stripped = suffix.rstrip()
    return prefix, stripped, suffix[len(stripped) :]


def make_prompts(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Adds prompt, question_url and prompt_length (in the meter's unit); drops none."""
    questions = bucket.questions.with_columns(
        prompt=pl.lit(context.prompt_prefix) + pl.col("question_text") + pl.lit(context.prompt_suffix),
        question_url=pl.format("https://{}/questions/{}", pl.col("site"), pl.col("question_id")),
    )
    questions = questions.with_columns(
        prompt_length=pl.Series(context.meter.measure(questions["prompt"].to_list(), prompt=True), dtype=pl.Int64),
    )
    return replace(bucket, questions=questions), Counter()


def drop_unusable_questions(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Questions with no text, and prompts over the limit (dropped, never cut)."""
    questions = bucket.questions
    empty = questions["question_text"].fill_null("").str.len_chars() == 0
    long = ~empty & (questions["prompt_length"] > context.max_prompt)
    return (replace(bucket, questions=questions.filter(~empty & ~long)),
            Counter(empty_question=int(empty.sum()), prompt_too_long=int(long.sum())))
