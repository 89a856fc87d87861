"""Pass 3, one bucket at a time: the declared list of steps, then the bucket's shard of every output.

A bucket holds whole candidate clusters with all their answers (pass 2 put them there), so every
step is local to the bucket. The steps live in stackpref/steps (pure functions over polars
frames); pipeline/runner.py applies them and records every drop with its reason in the bucket's
funnel (the build sums the buckets' funnels).
"""

from dataclasses import dataclass

import polars as pl

from stackpref.config import BuildConfig
from stackpref.output import storage
from stackpref.output.preflight import writing
from stackpref.output.writer import write_table
from stackpref.pipeline.funnel import Funnel
from stackpref.pipeline.meter import LengthMeter
from stackpref.pipeline.read import read_spill
from stackpref.pipeline.runner import Step, run_steps
from stackpref.schema import ANSWER, QUESTION, ROUTED_POSTS, output_schemas
from stackpref.splits import FILE_SPLITS
from stackpref.steps.answers import attach_answers, drop_empty_answers
from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.clusters import cluster_questions, keep_one_per_cluster
from stackpref.steps.dedup import dedup_exact_answers, dedup_near_answers, drop_duplicate_pairs, hash_column
from stackpref.steps.fairness import balance_length, keep_fair_pairs
from stackpref.steps.formats import OUTPUTS, as_messages
from stackpref.steps.length import filter_long_answers
from stackpref.steps.outcome import keep_questions_with_rows
from stackpref.steps.pairing import cap_pairs, pair_as_given, pair_at_margin
from stackpref.steps.prompts import drop_unusable_questions, make_prompts, template_parts
from stackpref.steps.scoring import attach_votes, drop_young_answers, score_answers
from stackpref.steps.sft import sft_rows
from stackpref.steps.splits import split_by_cluster

_AUTHOR = (
    pl.when(pl.col("owner_user_id").is_not_null())
    .then(pl.format("https://{}/users/{}", pl.col("site"), pl.col("owner_user_id")))
    .otherwise(pl.col("owner_display_name"))
)

_meter = LengthMeter()
_meter_spec: tuple | None = None


def length_meter(spec: tuple | None) -> LengthMeter:
    """This process's length meter for `spec` (`LengthMeter.spec()`), rebuilt only when it changes:
    a worker handles many buckets with one tokenizer."""
    global _meter, _meter_spec
    if spec != _meter_spec:
        _meter, _meter_spec = LengthMeter.from_spec(spec), spec
    return _meter


def _read(folder: str, kind: str) -> pl.DataFrame | None:
    files = storage.files(folder, prefix=f"{kind}-", suffix=".parquet")
    return pl.concat([read_spill(f) for f in files], how="vertical_relaxed") if files else None


def _questions_and_answers(posts: pl.DataFrame | None, given: pl.DataFrame | None):
    frames_q, frames_a, candidates = [], [], None
    if posts is not None:
        frames_q.append(posts.filter(pl.col("post_type") == QUESTION).select(
            "site", pl.col("post_id").alias("question_id"), "accepted_answer_id",
            pl.col("text").alias("question_text"), pl.col("text_hash").alias("question_hash"), "bands", "link_group",
            _AUTHOR.alias("question_author"), pl.col("license").alias("question_license"),
        ))
        answers = posts.filter(pl.col("post_type") == ANSWER)
        frames_a.append(answers.select(
            "site", pl.col("post_id").alias("answer_id"), pl.col("parent_id").alias("question_id"), "score",
            "pm_score", "accepted", pl.col("text").alias("body"), pl.col("text_hash").alias("answer_hash"),
            _AUTHOR.alias("author"), "license", "creation_date", from_given=pl.lit(False),
        ))
    if given is not None:
        g_questions, g_answers, candidates = _given_pairs_tables(given)
        frames_q.append(g_questions)
        frames_a.append(g_answers)
    questions = pl.concat(frames_q, how="diagonal_relaxed").unique(["site", "question_id"], keep="first")
    return questions.sort("site", "question_id"), pl.concat(frames_a, how="diagonal_relaxed"), candidates


def _given_pairs_tables(given: pl.DataFrame):
    """Ready-made pairs as questions, answers (id = text hash) and candidate pairs. Their answers have
    no score: `rank` (wins minus losses in the given pairs) only picks the SFT answer."""
    texts = pl.concat([given["chosen"], given["rejected"]]).unique()  # a response is in many pairs: hash it once
    ids = pl.DataFrame({"text": texts, "id": hash_column(texts)})
    given = given.join(ids.rename({"text": "chosen", "id": "chosen_id"}), on="chosen", how="left") \
        .join(ids.rename({"text": "rejected", "id": "rejected_id"}), on="rejected", how="left")
    questions = given.group_by("site", "question_id").agg(
        pl.col("question").first().alias("question_text"), pl.col("text_hash").first().alias("question_hash"),
        pl.col("bands").first(),
    ).with_columns(question_license=pl.lit("CC BY-SA 4.0"), accepted_answer_id=pl.lit(None, dtype=pl.Int64),
                   link_group=pl.lit(None, dtype=pl.Int64),
                   question_author=pl.lit(None, dtype=pl.String))
    sides = pl.concat([
        given.select("site", "question_id", answer_id="chosen_id", body="chosen", win=pl.lit(1)),
        given.select("site", "question_id", answer_id="rejected_id", body="rejected", win=pl.lit(-1)),
    ])
    answers = sides.group_by("site", "question_id", "answer_id").agg(
        pl.col("body").first(), pl.col("win").sum().cast(pl.Int64).alias("rank")
    ).with_columns(answer_hash=pl.col("answer_id"), accepted=pl.lit(False), license=pl.lit("CC BY-SA 4.0"),
                   from_given=pl.lit(True), score=pl.lit(None, dtype=pl.Int64), pm_score=pl.lit(None, dtype=pl.Int64),
                   author=pl.lit(None, dtype=pl.String), creation_date=pl.lit(None, dtype=pl.String))
    candidates = given.select(
        "site", "question_id", chosen_answer_id="chosen_id", rejected_answer_id="rejected_id"
    ).unique(maintain_order=True)
    return questions, answers, candidates


STEPS = [
    Step("questions", cluster_questions),
    Step("questions", keep_one_per_cluster),
    Step("questions", make_prompts),
    Step("questions", drop_unusable_questions),
    Step("answers", attach_answers),
    Step("answers", drop_empty_answers),
    Step("answers", drop_young_answers),  # --score-window: answers whose window had not ended
    Step("answers", score_answers),
    Step("answers", dedup_exact_answers),
    Step("answers", dedup_near_answers),
    # Split by cluster before measuring answers: an sft question needs only its best answer measured.
    Step("questions", split_by_cluster),
    Step("answers", filter_long_answers),
    Step("sft", sft_rows, makes=True),
    Step("pairs", pair_at_margin, makes=True),
    Step("pairs", pair_as_given, makes=True),  # the ready-made pairs of a stack-exchange-paired table
    Step("pairs", keep_fair_pairs),  # --pairing later-wins, --min-score-ratio: before the cap picks
    Step("pairs", cap_pairs),
    Step("pairs", drop_duplicate_pairs),
    Step("pairs", balance_length),  # --balance-length: last, so nothing after it unbalances the pairs
    Step("questions", keep_questions_with_rows),
]


@dataclass(frozen=True)
class ProcessBucket:
    """Pass 3 for one bucket: run STEPS, write its shard of every output file split that has rows
    (none for an empty one), return its funnel and cluster stats (`meter`: the length meter's spec)."""

    bucket: int
    folder: str
    stage: str
    total: int
    config: BuildConfig
    meter: tuple | None

    def run(self) -> dict:
        meter = length_meter(self.meter)
        prefix, suffix, response_prefix = template_parts(self.config)
        context = Context(self.config, meter, prefix, suffix, response_prefix)
        funnel = Funnel()
        bucket = run_steps(_load(self.folder), context, STEPS, funnel)
        for config_name, rows in (("pairs", bucket.pairs), ("sft", bucket.sft)):
            table = OUTPUTS[config_name](rows)
            if self.config.format == "conversational":
                table = as_messages(table, config_name, self.config.system_message)
            for file_split, question_split in FILE_SPLITS[config_name].items():
                shard = table.filter(pl.col("split") == question_split)
                if shard.height == 0:  # datasets cannot load a 0-row Parquet file: no shard (gaps in -NNNNN are fine)
                    continue
                name = f"{file_split}-{self.bucket:05d}-of-{self.total:05d}.parquet"
                location = storage.join(self.stage, "data", config_name, name)
                with writing(location):
                    write_table(shard, location, output_schemas(self.config.format)[config_name])
        return {"funnel": funnel.to_dict(), "clusters": bucket.stats}


def _load(folder: str) -> Bucket:
    """The bucket's spilled rows as the steps' frames."""
    posts, given = _read(folder, "posts"), _read(folder, "pairs")
    if posts is None and given is None:
        posts = pl.from_arrow(ROUTED_POSTS.empty_table())
    questions, answers, candidates = _questions_and_answers(posts, given)
    return Bucket(questions=questions, answers=attach_votes(answers, _read(folder, "votes")), given=candidates)
