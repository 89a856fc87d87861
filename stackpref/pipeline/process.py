"""Pass 3, one bucket at a time: verify clusters, score, dedup, length-filter, split, pair, write.

A bucket holds whole candidate clusters with all their answers (pass 2 put them there), so every
step here is local to the bucket; each is a plain function over polars frames, and every drop
lands in the bucket's funnel with its reason (the build sums the buckets' funnels).
"""

from collections import Counter

import numpy as np
import polars as pl

from stackpref.config import BuildConfig
from stackpref.output import storage
from stackpref.output.writer import write_table
from stackpref.pipeline.funnel import Funnel
from stackpref.schema import ANSWER, OUTPUT_SCHEMAS, PAIRS, QUESTION, SFT, SPILLED_POSTS
from stackpref.steps import near_dup
from stackpref.steps.dedup import best_first, dedup_answers, drop_duplicate_pairs, hash_column
from stackpref.steps.length import LengthMeter
from stackpref.steps.pairing import candidate_pairs, cap_pairs
from stackpref.steps.scoring import pm_score
from stackpref.steps.splits import assign_split

_AUTHOR = (
    pl.when(pl.col("owner_user_id").is_not_null())
    .then(pl.format("https://{}/users/{}", pl.col("site"), pl.col("owner_user_id")))
    .otherwise(pl.col("owner_display_name"))
)

_meter = LengthMeter()
_meter_spec: tuple | None = None


def length_meter(spec: tuple[str, int] | None) -> LengthMeter:
    """This process's length meter for `spec` (`LengthMeter.spec()`), rebuilt only when it changes:
    a worker handles many buckets with one tokenizer."""
    global _meter, _meter_spec
    if spec != _meter_spec:
        _meter, _meter_spec = LengthMeter.from_spec(spec), spec
    return _meter


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


def cluster_id(hashes: pl.Series) -> pl.Series:
    """A cluster's id: its first question's text hash in hex (a lone question's own hash)."""
    return pl.Series([f"{h & 0xFFFFFFFFFFFFFFFF:016x}" for h in hashes.to_list()], dtype=pl.String)


def _read(folder: str, kind: str) -> pl.DataFrame | None:
    files = storage.files(folder, prefix=f"{kind}-", suffix=".parquet")
    return pl.concat([storage.read_frame(f) for f in files], how="vertical_relaxed") if files else None


def _questions_and_answers(posts: pl.DataFrame | None, given: pl.DataFrame | None):
    frames_q, frames_a, candidates = [], [], None
    if posts is not None:
        frames_q.append(posts.filter(pl.col("post_type") == QUESTION).select(
            "site", pl.col("post_id").alias("question_id"), "accepted_answer_id",
            pl.col("text").alias("question_text"), pl.col("text_hash").alias("question_hash"), "bands",
            _AUTHOR.alias("question_author"), pl.col("license").alias("question_license"),
        ))
        answers = posts.filter(pl.col("post_type") == ANSWER)
        frames_a.append(answers.select(
            "site", pl.col("post_id").alias("answer_id"), pl.col("parent_id").alias("question_id"), "score",
            "pm_score", "accepted", pl.col("text").alias("body"), pl.col("text_hash").alias("answer_hash"),
            _AUTHOR.alias("author"), "license", from_given=pl.lit(False),
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
                   question_author=pl.lit(None, dtype=pl.String))
    sides = pl.concat([
        given.select("site", "question_id", answer_id="chosen_id", body="chosen", win=pl.lit(1)),
        given.select("site", "question_id", answer_id="rejected_id", body="rejected", win=pl.lit(-1)),
    ])
    answers = sides.group_by("site", "question_id", "answer_id").agg(
        pl.col("body").first(), pl.col("win").sum().cast(pl.Int64).alias("rank")
    ).with_columns(answer_hash=pl.col("answer_id"), accepted=pl.lit(False), license=pl.lit("CC BY-SA 4.0"),
                   from_given=pl.lit(True), score=pl.lit(None, dtype=pl.Int64), pm_score=pl.lit(None, dtype=pl.Int64),
                   author=pl.lit(None, dtype=pl.String))
    candidates = given.select(
        "site", "question_id", chosen_answer_id="chosen_id", rejected_answer_id="rejected_id"
    ).unique(maintain_order=True)
    return questions, answers, candidates


def cluster_questions(questions: pl.DataFrame, config: BuildConfig) -> tuple[pl.DataFrame, dict]:
    """Verified clusters: same text hash, or an LSH candidate whose true shingle Jaccard reaches the
    threshold. Adds cluster_id and cluster_size; returns the stats for the manifest."""
    n = questions.height
    hashes = questions["question_hash"].to_numpy()
    edges = [near_dup.equal_value_pairs(hashes)]
    candidates = verified = 0
    if config.near_dup and n > 1:
        params = config.minhash_params()
        width = questions["bands"].list.len().max()
        found = near_dup.candidate_pairs(near_dup.widen_keys(questions["bands"].list.to_array(width).to_numpy()))
        found = found[hashes[found[:, 0]] != hashes[found[:, 1]]]  # exact ones are already edges
        found = found[_could_reach(questions["question_text"], found, params.threshold)]
        similar = near_dup.pair_jaccard(questions["question_text"].to_list(), found, params.ngram) >= params.threshold
        candidates, verified = len(found), int(similar.sum())
        edges.append(found[similar])
    labels = near_dup.union_find(n, np.concatenate(edges).astype(np.int64))
    questions = questions.with_columns(
        cluster_id=cluster_id(pl.Series(hashes[labels])), _label=pl.Series(labels)
    ).with_columns(cluster_size=pl.len().over("_label")).drop("_label")
    return questions, {"candidate_pairs": candidates, "verified_pairs": verified}


def _could_reach(texts: pl.Series, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """Pairs whose word counts allow a Jaccard of `threshold` (J <= shorter/longer): a cheap
    screen before shingling. The 0.9 slack covers texts with repeated shingles."""
    words = texts.str.count_matches(r"\S+").to_numpy().astype(np.float64) + 1
    a, b = words[pairs[:, 0]], words[pairs[:, 1]]
    return np.minimum(a, b) / np.maximum(a, b) >= threshold * 0.9


def dedup_near_answers(answers: pl.DataFrame, config: BuildConfig) -> pl.DataFrame:
    """Within a question, an answer whose shingles are near-identical to a better one (a repost, an
    edit posted twice) is dropped. Answers are taken best first; only pairs of similar length are
    shingled, all of them in one vectorized call."""
    params = config.minhash_params()
    answers = best_first(answers)
    position = answers.select("site", "question_id").with_row_index("i")
    pairs = position.join(position, on=["site", "question_id"], suffix="_j").filter(pl.col("i") < pl.col("i_j"))
    pairs = pairs.select("i", "i_j").to_numpy().astype(np.int64).reshape(-1, 2)
    pairs = pairs[_could_reach(answers["body"], pairs, params.threshold)]
    near = pairs[near_dup.pair_jaccard(answers["body"].to_list(), pairs, params.ngram) >= params.threshold]
    keep = np.ones(answers.height, dtype=bool)
    for better, worse in sorted(near.tolist(), key=lambda p: (p[1], p[0])):
        if keep[better]:
            keep[worse] = False
    return answers.filter(pl.Series(keep))


def filter_long_answers(answers: pl.DataFrame, meter: LengthMeter, max_length: int) -> tuple[pl.DataFrame, int]:
    """Measure responses and drop those whose prompt + response + EOS exceed `max_length`.

    Pair questions (train, test) need every answer measured. An sft question only writes its best
    answer that fits, so its answers are measured best first, one round at a time, until one
    fits: tokenizing is the costliest step of a build, and most sft answers are never written.
    Answers never measured stay (with no length) and are never written."""
    def measure(frame: pl.DataFrame) -> pl.DataFrame:
        lengths = meter.measure(frame["response"].to_list(), prompt=False)
        return frame.with_columns(response_length=pl.Series(lengths, dtype=pl.Int64))

    fits = pl.col("prompt_length") + pl.col("response_length") + meter.eos_tokens <= max_length
    paired = measure(answers.filter(pl.col("split") != "sft"))
    kept, too_long = [paired.filter(fits)], paired.filter(~fits).height
    pending = best_first(answers.filter(pl.col("split") == "sft")).with_columns(_turn=pl.int_range(pl.len()).over("site", "question_id"))
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
    return pl.concat(kept, how="diagonal_relaxed").drop("_turn", strict=False), too_long


def keep_one_per_cluster(questions: pl.DataFrame, answers: pl.DataFrame) -> pl.DataFrame:
    """The keep-one policy: of each cluster, the question with the most answers (then the first)."""
    counts = answers.group_by("site", "question_id").len("n_answers")
    ranked = questions.join(counts, on=["site", "question_id"], how="left").with_columns(
        pl.col("n_answers").fill_null(0)
    )
    return ranked.sort(["cluster_id", "n_answers", "site", "question_id"], descending=[False, True, False, False]) \
        .unique("cluster_id", keep="first").drop("n_answers").sort("site", "question_id")


def process_bucket(bucket: int, folder: str, stage: str, total: int, config: BuildConfig,
                   meter_spec: tuple[str, int] | None) -> dict:
    """Everything after routing, for one bucket: writes its shard of every output split and returns
    its funnel and cluster stats."""
    meter = length_meter(meter_spec)
    funnel = Funnel()
    posts, given = _read(folder, "posts"), _read(folder, "pairs")
    if posts is None and given is None:
        posts = pl.from_arrow(SPILLED_POSTS.empty_table())
    questions, answers, given_candidates = _questions_and_answers(posts, given)
    prefix, suffix, response_prefix = split_template(config.prompt_template, config.token_boundary)
    tokens = meter.unit == "tokens"
    max_prompt = config.max_prompt_tokens if tokens else config.max_prompt_chars
    max_length = config.max_length if tokens else config.max_length_chars

    # Questions: clusters, the keep-one policy, prompt and its length.
    questions, cluster_stats = cluster_questions(questions, config)
    n_questions = questions.height
    if config.near_dup_policy == "keep-one":
        questions = keep_one_per_cluster(questions, answers)
    near_dup_dropped = n_questions - questions.height
    questions = questions.with_columns(
        prompt=pl.lit(prefix) + pl.col("question_text") + pl.lit(suffix),
        question_url=pl.format("https://{}/questions/{}", pl.col("site"), pl.col("question_id")),
    )
    questions = questions.with_columns(
        prompt_length=pl.Series(meter.measure(questions["prompt"].to_list(), prompt=True), dtype=pl.Int64),
    )
    empty_q = questions["question_text"].fill_null("").str.len_chars() == 0
    long_q = ~empty_q & (questions["prompt_length"] > max_prompt)
    live_questions = questions.filter(~empty_q & ~long_q)

    # Answers: attach to their question, score, dedup (exact, then near), length.
    n_answers = answers.height
    answers = answers.join(
        live_questions.select("site", "question_id", "accepted_answer_id", "prompt_length"),
        on=["site", "question_id"], how="left",
    )
    question_dropped = answers["prompt_length"].is_null().sum()
    answers = answers.filter(pl.col("prompt_length").is_not_null())
    empty_a = answers["body"].fill_null("").str.len_chars() == 0
    answers = answers.filter(~empty_a)
    answers = answers.with_columns(
        accepted=pl.coalesce("accepted", pl.col("answer_id") == pl.col("accepted_answer_id"), pl.lit(False)),
    ).with_columns(
        pm_score=pl.when(pl.col("from_given")).then(None)
        .otherwise(pl.coalesce("pm_score", pm_score(pl.col("score"), pl.col("accepted")))),
    ).with_columns(rank=pl.coalesce("pm_score", "rank") if "rank" in answers.columns else pl.col("pm_score"))
    before = answers.height
    answers = dedup_answers(answers)
    duplicates = before - answers.height
    before = answers.height
    if config.near_dup:
        answers = dedup_near_answers(answers, config)
    near_duplicates = before - answers.height
    # Split by cluster, before measuring answers: an sft question needs only its best answer measured.
    clusters = live_questions.select("cluster_id").unique().sort("cluster_id")
    clusters = clusters.with_columns(split=assign_split(clusters["cluster_id"], config.split, config.seed))
    live_questions = live_questions.join(clusters, on="cluster_id")
    merged = live_questions.filter(pl.col("cluster_size") > 1)
    alone = assign_split(cluster_id(merged["question_hash"]), config.split, config.seed)
    cluster_stats.update(
        clusters_with_duplicates=merged["cluster_id"].n_unique(),
        questions_in_them=merged.height,
        questions_moved_by_merges=int((alone != merged["split"]).sum()),
        size_histogram=dict(Counter(merged.group_by("cluster_id").len()["len"].to_list())),
    )
    answers = answers.join(
        live_questions.select("site", "question_id", "split", "question_hash"), on=["site", "question_id"]
    ).with_columns(response=pl.lit(response_prefix) + pl.col("body"))
    answers, n_long = filter_long_answers(answers, meter, max_length)

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
        "questions", "questions", n_questions, with_rows.height,
        near_duplicate_question=near_dup_dropped, empty_question=empty_q.sum(), prompt_too_long=long_q.sum(),
        no_answer_left=live_questions.height - per_question.height,
        one_answer_cannot_pair=one_answer.height,
        no_pair_at_min_margin=rowless.height - one_answer.height - at_margin,
        only_duplicate_rows=at_margin,
    )
    funnel.record(
        "answers", "answers", n_answers, answers.height, question_dropped=question_dropped,
        empty_answer=empty_a.sum(), duplicate_answer=duplicates, near_duplicate_answer=near_duplicates,
        answer_too_long=n_long,
    )
    funnel.record("pairs", "answer pairs", kept=pairs.height, **pair_counts)
    funnel.record("sft", "rows", kept=sft.height, **sft_drops)

    for config_name, table, labels in (("pairs", pairs, {"train": "train", "test": "test"}),
                                       ("sft", sft, {"train": "sft", "test": "test"})):
        for split, label in labels.items():
            part = table.filter(pl.col("split") == label)
            write_table(part, storage.join(stage, "data", config_name, f"{split}-{bucket:05d}-of-{total:05d}.parquet"),
                        OUTPUT_SCHEMAS[config_name])
    return {"funnel": funnel.to_dict(), "clusters": cluster_stats}


def _sft_rows(answers: pl.DataFrame, questions: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """The best answer of each question in the sft and test splits (pm_score, then score, then id)."""
    best = best_first(answers).unique(["site", "question_id"], keep="first", maintain_order=True)
    rows = best.join(questions.drop("split", "prompt_length", "question_hash"), on=["site", "question_id"])
    rows = rows.sort("site", "question_id")
    deduped = rows.unique(["question_hash", "answer_hash"], keep="first", maintain_order=True)
    drops = dict(entered=rows.height, duplicate_sft_row=rows.height - deduped.height)
    deduped = deduped.with_columns(license=_licences("question_license", "license"))
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
    identical = 0
    if given_candidates is not None:
        given_pairs = _given_candidate_pairs(answers, given_candidates)
        identical = given_pairs.filter(pl.col("chosen_answer_id") == pl.col("rejected_answer_id")).height
        entered += given_pairs.height
        given_pairs = given_pairs.filter(pl.col("chosen_answer_id") != pl.col("rejected_answer_id"))
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
        entered=entered, below_min_margin=below_margin, identical_responses=identical,
        over_max_pairs_per_question=over_cap, duplicate_pair=capped.height - deduped.height,
    )
    paired_questions = pairs.select("site", "question_id").unique()
    deduped = deduped.with_columns(license=_licences("question_license", "chosen_license", "rejected_license"))
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
    side = answers.filter(pl.col("from_given")).select(
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


def _licences(*columns: str) -> pl.Expr:
    """The distinct licences of a row's parts, sorted: `CC BY-SA 3.0, CC BY-SA 4.0`."""
    return pl.concat_list(columns).list.drop_nulls().list.unique().list.sort().list.join(", ")
