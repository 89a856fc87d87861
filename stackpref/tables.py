"""From the spilled posts to the output tables: score, dedup, length-filter, split, pair.

Each step is a plain function over polars frames, so the order of the data flow reads top to
bottom in `make_tables`, and every drop lands in the funnel with its reason.
"""

from dataclasses import dataclass

import polars as pl

from .config import BuildConfig
from .dedup import dedup_answers, drop_duplicate_pairs, hash_column, supersede_dump_versions
from .funnel import Funnel
from .length_filter import LengthMeter
from .pairing import candidate_pairs, cap_pairs
from .schema import ANSWER, PAIRS, QUESTION, SFT
from .scoring import pm_score
from .splits import assign_split

_AUTHOR = (
    pl.when(pl.col("owner_user_id").is_not_null())
    .then(pl.format("https://{}/users/{}", pl.col("site"), pl.col("owner_user_id")))
    .otherwise(pl.col("owner_display_name"))
)


@dataclass
class Tables:
    pairs: pl.DataFrame
    sft: pl.DataFrame


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


def _questions_and_answers(posts: pl.DataFrame, given: pl.DataFrame | None):
    questions = posts.filter(pl.col("post_type") == QUESTION).select(
        "site",
        pl.col("post_id").alias("question_id"),
        "accepted_answer_id",
        pl.when(pl.col("title").fill_null("").str.strip_chars() != "")
        .then(pl.col("title") + "\n\n" + pl.col("body"))
        .otherwise(pl.col("body"))
        .str.strip_chars()
        .alias("question_text"),
        _AUTHOR.alias("question_author"),
        pl.col("license").alias("question_license"),
    )
    answers = posts.filter(pl.col("post_type") == ANSWER).select(
        "site",
        pl.col("post_id").alias("answer_id"),
        pl.col("parent_id").alias("question_id"),
        "score",
        "pm_score",
        "accepted",
        pl.col("body").str.strip_chars().alias("body"),
        _AUTHOR.alias("author"),
        "license",
        from_given=pl.lit(False),
    )
    candidates = None
    if given is not None and given.height:
        g_questions, g_answers, candidates = _given_pairs_tables(given)
        questions = pl.concat([questions, g_questions], how="diagonal_relaxed")
        answers = pl.concat([answers, g_answers], how="diagonal_relaxed")
    return questions, answers, candidates


def _given_pairs_tables(given: pl.DataFrame):
    """Ready-made pairs as questions, answers (id = text hash) and candidate pairs. An answer's
    pm_score is its wins minus losses in the given pairs: it only picks the SFT answer."""
    given = given.with_columns(
        chosen_id=hash_column(given["chosen"]), rejected_id=hash_column(given["rejected"])
    )
    questions = given.group_by("site", "question_id").agg(
        pl.col("question").first().str.strip_chars().alias("question_text"),
        pl.col("creation_date").first(),
    ).with_columns(question_license=pl.lit("CC BY-SA 4.0"))
    sides = pl.concat(
        [
            given.select("site", "question_id", answer_id="chosen_id", body="chosen", win=pl.lit(1)),
            given.select("site", "question_id", answer_id="rejected_id", body="rejected", win=pl.lit(-1)),
        ]
    )
    answers = sides.group_by("site", "question_id", "answer_id").agg(
        pl.col("body").first().str.strip_chars(), pl.col("win").sum().cast(pl.Int64).alias("pm_score")
    ).with_columns(accepted=pl.lit(False), license=pl.lit("CC BY-SA 4.0"), from_given=pl.lit(True))
    candidates = given.select(
        "site", "question_id", chosen_answer_id="chosen_id", rejected_answer_id="rejected_id"
    ).unique(maintain_order=True)
    return questions, answers, candidates


def make_tables(
    posts: pl.DataFrame, given: pl.DataFrame | None, config: BuildConfig, meter: LengthMeter, funnel: Funnel
) -> Tables:
    entered = posts.height
    posts, superseded, deleted = supersede_dump_versions(posts)
    funnel.record(
        "dump_versions", "posts", entered, posts.height,
        superseded_by_newer_dump=superseded, deleted_in_newer_dump=deleted,
    )
    questions, answers, given_candidates = _questions_and_answers(posts, given)
    prefix, suffix, response_prefix = split_template(config.prompt_template, config.token_boundary)
    max_prompt = config.max_prompt_tokens if meter.tokenizer is not None else config.max_prompt_chars
    max_length = config.max_length if meter.tokenizer is not None else config.max_length_chars

    # Questions: prompt, cluster (exact text hash), length.
    questions = questions.unique(["site", "question_id"], keep="first", maintain_order=True)
    questions = questions.with_columns(
        prompt=pl.lit(prefix) + pl.col("question_text") + pl.lit(suffix),
        question_hash=hash_column(questions["question_text"]),
    )
    questions = questions.with_columns(
        prompt_length=pl.Series(meter.measure(questions["prompt"].to_list(), prompt=True), dtype=pl.Int64),
        cluster_id=pl.col("question_hash").cast(pl.UInt64, wrap_numerical=True).map_elements(
            lambda h: f"{h:016x}", return_dtype=pl.String
        ),
        question_url=pl.format("https://{}/questions/{}", pl.col("site"), pl.col("question_id")),
    )
    empty_q = questions["question_text"].fill_null("").str.len_chars() == 0
    long_q = ~empty_q & (questions["prompt_length"] > max_prompt)
    live_questions = questions.filter(~empty_q & ~long_q)

    # Answers: attach to their question, score, dedup, length.
    n_answers = answers.height
    answers = answers.join(
        questions.select("site", "question_id", "accepted_answer_id", "prompt_length"),
        on=["site", "question_id"], how="left",
    )
    orphan = answers["prompt_length"].is_null()
    answers = answers.filter(~orphan)
    empty_a = answers["body"].fill_null("").str.len_chars() == 0
    answers = answers.filter(~empty_a)
    answers = answers.with_columns(
        accepted=pl.coalesce("accepted", pl.col("answer_id") == pl.col("accepted_answer_id"), pl.lit(False)),
    ).with_columns(
        pm_score=pl.coalesce("pm_score", pm_score(pl.col("score"), pl.col("accepted"))),
        answer_hash=hash_column(answers["body"]),
    )
    before = answers.height
    answers = dedup_answers(answers)
    duplicates = before - answers.height
    before = answers.height
    answers = answers.join(live_questions.select("site", "question_id"), on=["site", "question_id"], how="semi")
    question_dropped = before - answers.height
    answers = answers.with_columns(response=pl.lit(response_prefix) + pl.col("body"))
    answers = answers.with_columns(
        response_length=pl.Series(meter.measure(answers["response"].to_list(), prompt=False), dtype=pl.Int64)
    )
    too_long = pl.col("prompt_length") + pl.col("response_length") + meter.eos_tokens > max_length
    n_long = answers.filter(too_long).height
    answers = answers.filter(~too_long)
    answer_drops = dict(
        orphan_answer=orphan.sum(), empty_answer=empty_a.sum(), duplicate_answer=duplicates,
        question_dropped=question_dropped, answer_too_long=n_long,
    )

    # Split by cluster.
    clusters = live_questions.select("cluster_id").unique().sort("cluster_id")
    clusters = clusters.with_columns(split=assign_split(clusters["cluster_id"], config.split, config.seed))
    live_questions = live_questions.join(clusters, on="cluster_id")
    answers = answers.join(
        live_questions.select("site", "question_id", "split", "question_hash"), on=["site", "question_id"]
    )

    sft, sft_drops = _sft_rows(answers.filter(pl.col("split").is_in(["sft", "test"])), live_questions)
    pairs, pair_counts, paired_questions = _pair_rows(
        answers.filter(pl.col("split").is_in(["train", "test"])), live_questions, given_candidates, config
    )

    # Why a question that passed the filters still has no output row.
    keys = ["site", "question_id"]
    with_rows = pl.concat([sft.select(keys), pairs.select(keys)]).unique()
    per_question = answers.group_by(keys).agg(pl.len().alias("n_answers"), pl.col("split").first())
    rowless = per_question.join(with_rows, on=keys, how="anti")
    one_answer = rowless.filter(pl.col("n_answers") == 1)
    at_margin = rowless.filter(pl.col("n_answers") > 1).join(paired_questions, on=keys, how="semi").height
    funnel.record(
        "questions", "questions", questions.height, with_rows.height,
        empty_question=empty_q.sum(), prompt_too_long=long_q.sum(),
        no_answer_left=live_questions.height - per_question.height,
        one_answer_cannot_pair=one_answer.height,
        no_pair_at_min_margin=rowless.height - one_answer.height - at_margin,
        only_duplicate_rows=at_margin,
    )
    funnel.record("answers", "answers", n_answers, answers.height, **answer_drops)
    funnel.record("pairs", "answer pairs", kept=pairs.height, **pair_counts)
    funnel.record("sft", "rows", kept=sft.height, **sft_drops)
    return Tables(pairs=pairs, sft=sft)


def _sft_rows(answers: pl.DataFrame, questions: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """The best answer of each question in the sft and test splits (pm_score, then score, then id)."""
    best = answers.sort(["pm_score", "score", "answer_id"], descending=[True, True, False], nulls_last=True).unique(
        ["site", "question_id"], keep="first", maintain_order=True
    )
    rows = best.join(questions.drop("split", "prompt_length", "question_hash"), on=["site", "question_id"])
    rows = rows.sort("site", "question_id")
    deduped = rows.unique(["question_hash", "answer_hash"], keep="first", maintain_order=True)
    deduped = deduped.with_columns(
        license=pl.concat_str("question_license", "license", separator=", ").map_elements(
            _join_licences, return_dtype=pl.String
        )
    )
    drops = dict(entered=rows.height, duplicate_sft_row=rows.height - deduped.height)
    return deduped.select(
        "prompt", pl.col("response").alias("completion"), "site", "question_id", "answer_id", "score",
        "pm_score", "accepted", "prompt_length", pl.col("response_length").alias("completion_length"),
        "question_author", pl.col("author").alias("answer_author"), "question_url", "license",
        "cluster_id", "split",
    ).cast(_dtypes(SFT)), drops


def _pair_rows(answers, questions, given_candidates, config: BuildConfig) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
    """Pairs of the train and test questions: candidates at the margin (or given), capped, deduped.
    Also returns the counts for the funnel and the questions that had a pair at the margin."""
    pairs, below_margin = candidate_pairs(answers.filter(~pl.col("from_given")), config.min_margin)
    entered = pairs.height + below_margin
    if given_candidates is not None:
        given_pairs = _given_candidate_pairs(answers, given_candidates)
        entered += given_pairs.height
        pairs = pl.concat([pairs, given_pairs], how="diagonal_relaxed")
    capped = cap_pairs(pairs, config.max_pairs_per_question, config.seed)
    over_cap = pairs.height - capped.height
    capped = capped.join(
        questions.select("site", "question_id", "prompt", "question_hash", "prompt_length", "question_author",
                         "question_url", "question_license", "cluster_id", "split"),
        on=["site", "question_id"],
    ).rename({"question_hash": "prompt_hash"})
    deduped = drop_duplicate_pairs(capped)
    counts = dict(
        entered=entered, below_min_margin=below_margin, over_max_pairs_per_question=over_cap,
        duplicate_pair=capped.height - deduped.height,
    )
    paired_questions = pairs.select("site", "question_id").unique()
    deduped = deduped.with_columns(
        license=pl.concat_str("question_license", "chosen_license", "rejected_license", separator=", ")
        .map_elements(_join_licences, return_dtype=pl.String)
    )
    return deduped.select(
        "prompt", pl.col("chosen_response").alias("chosen"), pl.col("rejected_response").alias("rejected"),
        "site", "question_id", pl.col("chosen_answer_id").alias("chosen_id"),
        pl.col("rejected_answer_id").alias("rejected_id"), "chosen_score", "rejected_score",
        "chosen_pm_score", "rejected_pm_score", "chosen_accepted", "rejected_accepted", "margin",
        "prompt_length", pl.col("chosen_response_length").alias("chosen_length"),
        pl.col("rejected_response_length").alias("rejected_length"), "question_author", "chosen_author",
        "rejected_author", "question_url", "license", "cluster_id", "split",
    ).cast(_dtypes(PAIRS)), counts, paired_questions


def _given_candidate_pairs(answers: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """Given pairs whose both answers survived the filters, with margin left empty (unknown)."""
    side = answers.select(
        "site", "question_id", "answer_id", "pm_score", "score", "accepted", "response", "response_length",
        "answer_hash", "author", "license",
    )
    chosen = side.rename({c: f"chosen_{c}" for c in side.columns if c not in ("site", "question_id")})
    rejected = side.rename({c: f"rejected_{c}" for c in side.columns if c not in ("site", "question_id")})
    return (
        candidates.join(chosen, on=["site", "question_id", "chosen_answer_id"])
        .join(rejected, on=["site", "question_id", "rejected_answer_id"])
        .with_columns(margin=pl.lit(None, dtype=pl.Int64))
    )


def _dtypes(schema) -> dict:
    return dict(pl.from_arrow(schema.empty_table()).schema)


def _join_licences(joined: str | None) -> str | None:
    """`CC BY-SA 3.0, CC BY-SA 4.0, CC BY-SA 3.0` -> `CC BY-SA 3.0, CC BY-SA 4.0`."""
    if joined is None:
        return None
    return ", ".join(sorted({part.strip() for part in joined.split(",") if part.strip()}))
