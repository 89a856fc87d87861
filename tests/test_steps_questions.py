"""Pass-3 steps over the questions frame, on hand-made frames: clusters, the keep-one policy, the
prompts and their length limit, and the split by cluster."""

from collections import Counter

import numpy as np
import polars as pl
import pytest
from steps_frames import (
    OTHER_SITE,
    SITE,
    bucket,
    context,
    ids,
    keys,
    loaded_answers,
    loaded_questions,
    ready_answers,
    ready_questions,
)

from stackpref.config import BuildConfig
from stackpref.pipeline.meter import LengthMeter
from stackpref.steps.bucket import Context
from stackpref.steps.clusters import (
    cluster_id,
    cluster_questions,
    could_reach,
    keep_one_per_cluster,
    lsh_keys_of,
    verified_clusters,
)
from stackpref.steps.near_dup import MinHashParams
from stackpref.steps.prompts import drop_unusable_questions, make_prompts, split_template
from stackpref.steps.splits import assign_split, split_by_cluster
from stackpref.steps.text import text_hash

WORDS = [f"w{i}" for i in range(200)]
LONG = " ".join(WORDS[:60])
LONG_EDITED = " ".join([*WORDS[:59], "zz"])  # the last word changed
UNRELATED = " ".join(WORDS[100:160])


def hex_id(text: str) -> str:
    return f"{text_hash(text) & 0xFFFFFFFFFFFFFFFF:016x}"


def with_bands(questions: pl.DataFrame, config: BuildConfig) -> pl.DataFrame:
    """Pass 1's band keys, as a build with near-duplicate detection on stores them."""
    return questions.with_columns(bands=lsh_keys_of(questions["question_text"].to_list(), config.minhash_params())["bands"])


# --- clusters ---------------------------------------------------------------------------------


def test_cluster_id_is_the_unsigned_hash_in_hex():
    assert cluster_id(pl.Series([1, -1, 255], dtype=pl.Int64)).to_list() == [
        "0000000000000001", "ffffffffffffffff", "00000000000000ff"]


def test_lsh_keys_of_off_or_empty_gives_empty_lists():
    off = lsh_keys_of(["a b c", "d e f"], None)
    assert off["bands"].to_list() == [[], []] and off["sketch"].to_list() == [None, None]
    assert lsh_keys_of([], BuildConfig().minhash_params()).height == 0
    keys_on = lsh_keys_of(["a b c d e f", "a b c d e f", "x y"], BuildConfig().minhash_params())
    assert keys_on.schema == {"bands": pl.List(pl.UInt32), "sketch": pl.List(pl.UInt8), "shingles": pl.Int64}
    assert keys_on["bands"].list.len().to_list() == [32, 32, 32]  # one key per band
    assert keys_on["sketch"].list.len().to_list() == [128, 128, 128]  # a byte per bin
    assert keys_on["shingles"].to_list() == [7, 7, 1]  # 11 characters: 7 five-grams; 3 characters: one
    assert keys_on.row(0) == keys_on.row(1)


def test_could_reach_screens_by_length():
    texts = pl.Series(["x" * 99, "x" * 59, "x" * 39])  # 100, 60, 40 with the +1
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    # The least Jaccard that can merge is 0.6 -> ratio >= 0.48: 0.6 yes, 0.4 no, 0.67 yes
    assert could_reach(texts, pairs, MinHashParams()).tolist() == [True, False, True]
    # A threshold below the floor lowers it: 0.5 -> ratio >= 0.4
    assert could_reach(texts, pairs, MinHashParams(threshold=0.5)).tolist() == [True, True, True]


def test_verified_clusters_without_params_joins_equal_hashes_only():
    texts = pl.Series(["one", "two", "one again", "two"])
    hashes = np.array([5, 7, 5, 7], dtype=np.int64)
    labels, stats = verified_clusters(texts, hashes, pl.Series([[]] * 4, dtype=pl.List(pl.UInt32)), None)
    assert labels.tolist() == [0, 1, 0, 1]  # the smallest index of each cluster
    assert stats == {"candidate_pairs": 0, "verified_pairs": 0, "merged_by_text": 2, "merged_by_links": 0}


def test_verified_clusters_joins_duplicate_link_groups_whatever_the_text():
    texts = pl.Series(["one", "two", "three", "one", "four"])
    hashes = np.array([5, 7, 8, 5, 9], dtype=np.int64)
    no_bands = pl.Series([[]] * 5, dtype=pl.List(pl.UInt32))
    groups = np.array([-1, 4, -1, 4, 4])  # 1, 3 and 4 are one link group; 3 is also 0's text copy
    labels, stats = verified_clusters(texts, hashes, no_bands, None, groups)
    assert labels.tolist() == [0, 0, 2, 0, 0]
    # 0-3 merged by text; then 1 and 4 joined 0's cluster only through links.
    assert stats == {"candidate_pairs": 0, "verified_pairs": 0, "merged_by_text": 1, "merged_by_links": 2}


def test_cluster_questions_joins_linked_questions_unless_links_are_off():
    questions = loaded_questions(
        {"question_id": 1, "question_text": LONG, "link_group": 0},
        {"question_id": 2, "question_text": UNRELATED},
        {"question_id": 3, "question_text": "How do I descale a kettle?", "link_group": 0},
    )
    out, _ = cluster_questions(bucket(questions), context(near_dup=False))
    assert ids(out.questions, "cluster_id") == [hex_id(LONG), hex_id(UNRELATED), hex_id(LONG)]
    assert out.stats["merged_by_links"] == 1
    out, _ = cluster_questions(bucket(questions), context(near_dup=False, duplicate_links=False))
    assert ids(out.questions, "cluster_size") == [1, 1, 1] and out.stats["merged_by_links"] == 0


def test_cluster_questions_near_dup_off_joins_equal_texts():
    config_off = context(near_dup=False)
    questions = loaded_questions(
        {"question_id": 1, "question_text": "How do I boil an egg?"},
        {"question_id": 2, "question_text": "Why is the sky blue?"},
        {"question_id": 3, "question_text": "how do I  boil an EGG?"},  # equal once normalized
        {"question_id": 4, "question_text": LONG},
        {"question_id": 5, "question_text": LONG_EDITED},  # near, but near-dup is off
    )
    out, drops = cluster_questions(bucket(questions), config_off)
    assert drops == Counter()
    assert ids(out.questions, "question_id") == [1, 2, 3, 4, 5]
    egg = hex_id("How do I boil an egg?")
    assert ids(out.questions, "cluster_id") == [egg, hex_id("Why is the sky blue?"), egg, hex_id(LONG),
                                                hex_id(LONG_EDITED)]
    assert ids(out.questions, "cluster_size") == [2, 1, 2, 1, 1]
    assert out.stats == {"candidate_pairs": 0, "verified_pairs": 0, "merged_by_text": 1, "merged_by_links": 0}


def test_cluster_questions_near_dup_on_verifies_candidates():
    questions = loaded_questions(
        {"question_id": 1, "question_text": LONG},
        {"question_id": 2, "question_text": UNRELATED},
        {"question_id": 3, "question_text": LONG_EDITED},
    )
    on = context()
    out, drops = cluster_questions(bucket(with_bands(questions, on.config)), on)
    assert drops == Counter()
    assert ids(out.questions, "cluster_id") == [hex_id(LONG), hex_id(UNRELATED), hex_id(LONG)]
    assert ids(out.questions, "cluster_size") == [2, 1, 2]
    assert out.stats == {"candidate_pairs": 1, "verified_pairs": 1, "merged_by_text": 1, "merged_by_links": 0}
    # A rule that refuses them (Jaccard 222/227 = 0.978 < 0.99, 5 shingles changed > 4): still an
    # LSH candidate, but not verified, so no merge.
    strict = context(near_dup_threshold=0.99, near_dup_max_changed=4)
    out, drops = cluster_questions(bucket(with_bands(questions, strict.config)), strict)
    assert drops == Counter()
    assert ids(out.questions, "cluster_size") == [1, 1, 1]
    assert ids(out.questions, "cluster_id") == [hex_id(LONG), hex_id(UNRELATED), hex_id(LONG_EDITED)]
    assert out.stats == {"candidate_pairs": 1, "verified_pairs": 0, "merged_by_text": 0, "merged_by_links": 0}


def test_cluster_questions_keeps_earlier_stats():
    questions = loaded_questions({"question_id": 1}, {"question_id": 2})
    out, _ = cluster_questions(bucket(questions, stats={"other": 3}), context(near_dup=False))
    assert out.stats == {"other": 3, "candidate_pairs": 0, "verified_pairs": 0, "merged_by_text": 0,
                         "merged_by_links": 0}


def clustered_questions():
    # cluster "c" of three questions (ids 10, 11, 12), a lone one (13), cluster "d" of two on two sites.
    return ready_questions(
        {"question_id": 10, "cluster_id": "c", "cluster_size": 3},
        {"question_id": 11, "cluster_id": "c", "cluster_size": 3},
        {"question_id": 12, "cluster_id": "c", "cluster_size": 3},
        {"question_id": 13, "cluster_id": "lone"},
        {"question_id": 20, "site": OTHER_SITE, "cluster_id": "d", "cluster_size": 2},
        {"question_id": 30, "site": SITE, "cluster_id": "d", "cluster_size": 2},
    ).sort("site", "question_id")


def clustered_answers():
    return loaded_answers(  # 10: one answer, 11: two, 12: two (a tie with 11: the first stays), 13: none
        {"answer_id": 1, "question_id": 10},
        {"answer_id": 2, "question_id": 11}, {"answer_id": 3, "question_id": 11},
        {"answer_id": 4, "question_id": 12}, {"answer_id": 5, "question_id": 12},
        {"answer_id": 6, "question_id": 20, "site": OTHER_SITE},
        {"answer_id": 7, "question_id": 30},
    )


def test_keep_one_per_cluster_is_a_no_op_under_same_split():
    start = bucket(clustered_questions(), clustered_answers())
    out, drops = keep_one_per_cluster(start, context())  # default policy: same-split
    assert out is start
    assert drops == Counter()


def test_keep_one_per_cluster_keeps_the_question_with_most_answers_then_the_first():
    start = bucket(clustered_questions(), clustered_answers())
    out, drops = keep_one_per_cluster(start, context(near_dup_policy="keep-one"))
    assert drops == Counter(near_duplicate_question=3)
    # c: 11 (two answers, before 12); lone 13 (no answers) stays; d: a tie at one answer, the first
    # by (site, question_id) is site a's 30. The result is in (site, question_id) order.
    assert keys(out.questions, "site", "question_id") == [(SITE, 11), (SITE, 13), (SITE, 30)]
    assert out.questions.columns == start.questions.columns
    assert out.answers is start.answers


# --- prompts ----------------------------------------------------------------------------------


def test_split_template_moves_trailing_whitespace_to_responses():
    template = "Question: {question}\n\nAnswer: "
    assert split_template(template, token_boundary=True) == ("Question: ", "\n\nAnswer:", " ")
    assert split_template(template, token_boundary=False) == ("Question: ", "\n\nAnswer: ", "")
    assert split_template("Q: {question}\nA:\n \n", True) == ("Q: ", "\nA:", "\n \n")
    assert split_template("{question}", True) == ("", "", "")


def test_make_prompts_adds_prompt_url_and_character_length():
    questions = loaded_questions({"question_id": 7, "question_text": "Why?"},
                                 {"question_id": 8, "site": OTHER_SITE, "question_text": "What is x?"})
    out, drops = make_prompts(bucket(questions), context())
    assert drops == Counter()
    assert ids(out.questions, "prompt") == ["Question: Why?\n\nAnswer:", "Question: What is x?\n\nAnswer:"]
    assert ids(out.questions, "question_url") == [f"https://{SITE}/questions/7", f"https://{OTHER_SITE}/questions/8"]
    assert ids(out.questions, "prompt_length") == [23, 29]  # 10 + 4 + 9, 10 + 10 + 9
    assert out.questions.schema["prompt_length"] == pl.Int64
    out, _ = make_prompts(bucket(questions), context(token_boundary=False, prompt_template="<{question}>"))
    assert ids(out.questions, "prompt") == ["<Why?>", "<What is x?>"]
    assert ids(out.questions, "prompt_length") == [6, 12]


def test_drop_unusable_questions_at_the_limit_and_one_over():
    questions = ready_questions(
        {"question_id": 1, "question_text": "fits", "prompt_length": 30},  # exactly at the limit: kept
        {"question_id": 2, "question_text": "too long", "prompt_length": 31},  # one over: dropped
        {"question_id": 3, "question_text": "", "prompt_length": 19},  # empty text
        {"question_id": 4, "question_text": None, "prompt": None, "prompt_length": 99},  # no text: empty, not long
        {"question_id": 5, "question_text": "short", "prompt_length": 1},
    )
    out, drops = drop_unusable_questions(bucket(questions), context(max_prompt_chars=30))
    assert drops == Counter(empty_question=2, prompt_too_long=1)
    assert ids(out.questions, "question_id") == [1, 5]


def test_drop_unusable_questions_default_limit_keeps_everything_usable():
    questions = ready_questions({"question_id": 1, "prompt_length": 2048}, {"question_id": 2, "prompt_length": 2049})
    out, drops = drop_unusable_questions(bucket(questions), context())
    assert drops == Counter(empty_question=0, prompt_too_long=1)
    assert ids(out.questions, "question_id") == [1]


def test_context_limits_follow_the_meter_unit():
    config = BuildConfig(max_prompt_tokens=100, max_length=300, max_prompt_chars=400, max_length_chars=1200)
    chars = Context(config, LengthMeter(), "", "", "")
    assert (chars.max_prompt, chars.max_length, chars.meter.eos_tokens) == (400, 1200, 0)

    class TokenMeter:
        unit, eos_tokens = "tokens", 1

    tokens = Context(config, TokenMeter(), "", "", "")
    assert (tokens.max_prompt, tokens.max_length) == (100, 300)


# --- splits -----------------------------------------------------------------------------------

DEFAULT_FRACTIONS = {"sft": 0.4, "train": 0.5, "test": 0.1}


def test_assign_split_is_seeded_and_per_cluster():
    clusters = pl.Series(["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"])
    assert assign_split(clusters, DEFAULT_FRACTIONS, 42).to_list() == [
        "train", "sft", "train", "train", "sft", "sft", "train", "sft"]
    assert assign_split(clusters, DEFAULT_FRACTIONS, 7).to_list() == [
        "train", "test", "train", "train", "train", "train", "train", "sft"]
    # A cluster's split does not depend on the others beside it.
    assert assign_split(pl.Series(["c5", "c2"]), DEFAULT_FRACTIONS, 42).to_list() == ["sft", "sft"]
    assert assign_split(clusters, {"sft": 0.0, "train": 1.0, "test": 0.0}, 42).to_list() == ["train"] * 8
    assert assign_split(clusters, {"sft": 1.0, "train": 0.0, "test": 0.0}, 42).to_list() == ["sft"] * 8
    # Fractions that fall short of 1 leave the rest to the last split.
    assert assign_split(clusters, {"sft": 0.0, "train": 0.0, "test": 0.0}, 42).to_list() == ["test"] * 8


def test_split_by_cluster_puts_a_cluster_in_one_split_and_counts_moves():
    # Alone, hashes 1, 2, 3, 4, 5, 7 would go to sft, train, test, train, test, sft (seed 42).
    questions = ready_questions(
        {"question_id": 1, "question_hash": 2, "cluster_id": "0000000000000002", "cluster_size": 2},  # train
        {"question_id": 2, "question_hash": 1, "cluster_id": "0000000000000002", "cluster_size": 2},  # sft alone: moved
        {"question_id": 3, "question_hash": 3, "cluster_id": "0000000000000003", "cluster_size": 3},  # test
        {"question_id": 4, "question_hash": 5, "cluster_id": "0000000000000003", "cluster_size": 3},  # test alone too
        {"question_id": 5, "question_hash": 7, "cluster_id": "0000000000000003", "cluster_size": 3},  # sft alone: moved
        {"question_id": 6, "question_hash": 4, "cluster_id": "0000000000000004"},  # lone: train
    )
    answers = ready_answers(
        {"answer_id": 11, "question_id": 1, "body": "Boil it."}, {"answer_id": 12, "question_id": 2, "body": "Fry it."},
        {"answer_id": 15, "question_id": 5, "body": "Bake it."}, {"answer_id": 16, "question_id": 6, "body": "Eat it."},
    ).drop("split", "question_hash", "response", "response_length")
    start = bucket(questions.drop("split"), answers, stats={"candidate_pairs": 0})
    out, drops = split_by_cluster(start, context())
    assert drops == Counter()
    assert sorted(keys(out.questions, "question_id", "split")) == [
        (1, "train"), (2, "train"), (3, "test"), (4, "test"), (5, "test"), (6, "train")]
    assert sorted(keys(out.answers, "answer_id", "split", "question_hash", "response")) == [
        (11, "train", 2, " Boil it."), (12, "train", 1, " Fry it."), (15, "test", 7, " Bake it."),
        (16, "train", 4, " Eat it.")]
    assert out.stats == {"candidate_pairs": 0, "clusters_with_duplicates": 2, "questions_in_them": 5,
                         "questions_moved_by_merges": 2, "size_histogram": {2: 1, 3: 1}}


def test_split_by_cluster_without_token_boundary_leaves_responses_as_bodies():
    questions = ready_questions({"question_id": 1}).drop("split")
    answers = loaded_answers({"answer_id": 1, "question_id": 1, "body": "Body."})
    out, drops = split_by_cluster(bucket(questions, answers), context(token_boundary=False))
    assert drops == Counter()
    assert ids(out.answers, "response") == ["Body."]
    assert out.stats == {"clusters_with_duplicates": 0, "questions_in_them": 0, "questions_moved_by_merges": 0,
                         "size_histogram": {}}


@pytest.mark.parametrize("split", ["sft", "train", "test"])
def test_split_by_cluster_follows_fractions(split):
    fractions = {"sft": 0.0, "train": 0.0, "test": 0.0, split: 1.0}
    questions = ready_questions({"question_id": 1}, {"question_id": 2}).drop("split")
    answers = loaded_answers({"answer_id": 1, "question_id": 1}, {"answer_id": 2, "question_id": 2})
    out, _ = split_by_cluster(bucket(questions, answers), context(split=fractions))
    assert ids(out.questions, "split") == [split, split]
    assert ids(out.answers, "split") == [split, split]
