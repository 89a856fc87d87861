"""What every pass-3 step takes and returns: the frames of one bucket, and the build's context.

A step is a pure function `(Bucket, Context) -> (Bucket, Counter of drop reasons)` (see
pipeline/runner.py, which counts what each step kept and dropped). A bucket holds whole question
clusters with all their answers, so every step is local to it.
"""

from dataclasses import dataclass, field

import polars as pl

from stackpref.config import BuildConfig

# The funnel stage each frame counts under, and its unit.
STAGES = {"questions": "questions", "answers": "answers", "pairs": "answer pairs", "sft": "rows"}


@dataclass(frozen=True)
class Bucket:
    """questions: one row per question (site, question_id, question_text, question_hash, bands, ...);
    answers: one row per answer (site, question_id, answer_id, body, score, ...); given: ready-made
    (chosen_answer_id, rejected_answer_id) pairs of a stack-exchange-paired table, or None; pairs
    and sft: the rows made so far (None before the step that makes them); paired_questions: the
    questions that had a pair before the cap; emptied: per question-level drop reason, the questions
    whose last pairs a filter after pairing removed (later-wins, score ratio, length balance), so
    the question funnel names that filter; stats: cluster statistics for the manifest."""

    questions: pl.DataFrame
    answers: pl.DataFrame
    given: pl.DataFrame | None = None
    pairs: pl.DataFrame | None = None
    sft: pl.DataFrame | None = None
    paired_questions: pl.DataFrame | None = None
    emptied: dict[str, pl.DataFrame] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    def height(self, stage: str) -> int:
        frame = getattr(self, stage)
        return 0 if frame is None else frame.height


@dataclass(frozen=True)
class Context:
    """What the steps need besides the frames: the config and the length meter (with the limits in
    its unit), and the prompt template cut into prompt prefix, prompt suffix and response prefix."""

    config: BuildConfig
    meter: object  # pipeline.meter.LengthMeter: anything with .measure(texts, prompt), .unit, .eos_tokens
    prompt_prefix: str
    prompt_suffix: str
    response_prefix: str

    @property
    def max_prompt(self) -> int:
        return self.config.max_prompt_tokens if self.meter.unit == "tokens" else self.config.max_prompt_chars

    @property
    def max_length(self) -> int:
        return self.config.max_length if self.meter.unit == "tokens" else self.config.max_length_chars
