"""Pass-3 steps over the answers frame, on hand-made frames: attaching answers to their questions,
empty answers, the pm_score, exact and near duplicates, and the length filter."""

from collections import Counter

import polars as pl
import pytest
from steps_frames import OTHER_SITE, SITE, bucket, context, ids, keys, loaded_answers, ready_answers, ready_questions

from stackpref.steps.answers import attach_answers, drop_empty_answers
from stackpref.steps.dedup import best_first, dedup_exact_answers, dedup_near_answers
from stackpref.steps.length import filter_long_answers
from stackpref.steps.scoring import pm_score, score_answers
from stackpref.steps.text import text_hash

# --- attach, empty ----------------------------------------------------------------------------


def test_attach_answers_drops_the_answers_of_dropped_questions():
    questions = ready_questions({"question_id": 1, "accepted_answer_id": 11, "prompt_length": 30},
                                {"question_id": 2, "prompt_length": 25})
    answers = loaded_answers(
        {"answer_id": 11, "question_id": 1}, {"answer_id": 12, "question_id": 1}, {"answer_id": 21, "question_id": 2},
        {"answer_id": 31, "question_id": 3}, {"answer_id": 32, "question_id": 3},  # question 3 was dropped
        {"answer_id": 41, "question_id": 1, "site": OTHER_SITE},  # question 1 of another site: not there
    )
    out, drops = attach_answers(bucket(questions, answers), context())
    assert drops == Counter(question_dropped=3)
    assert sorted(keys(out.answers, "answer_id", "accepted_answer_id", "prompt_length")) == [
        (11, 11, 30), (12, 11, 30), (21, None, 25)]
    assert out.questions is questions


def test_attach_answers_keeps_all_when_every_question_is_there():
    questions = ready_questions({"question_id": 1})
    answers = loaded_answers({"answer_id": 11, "question_id": 1}, {"answer_id": 12, "question_id": 1})
    out, drops = attach_answers(bucket(questions, answers), context())
    assert drops == Counter()
    assert sorted(ids(out.answers, "answer_id")) == [11, 12]


def test_drop_empty_answers():
    answers = loaded_answers(
        {"answer_id": 1, "question_id": 1, "body": "An answer."}, {"answer_id": 2, "question_id": 1, "body": ""},
        {"answer_id": 3, "question_id": 1, "body": None}, {"answer_id": 4, "question_id": 2, "body": "x"},
    )
    out, drops = drop_empty_answers(bucket(ready_questions(), answers), context())
    assert drops == Counter(empty_answer=2)
    assert ids(out.answers, "answer_id") == [1, 4]
    out, drops = drop_empty_answers(bucket(ready_questions(), answers.filter(pl.col("answer_id") != 2)
                                           .filter(pl.col("body").is_not_null())), context())
    assert drops == Counter()
    assert ids(out.answers, "answer_id") == [1, 4]


# --- scoring ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("score", "plain", "accepted"), [
    (-1, -1, 0),  # negative: -1 (+1 accepted)
    (0, 0, 1),  # log2(1) = 0
    (1, 1, 2),  # log2(2) = 1
    (2, 2, 3),  # log2(3) = 1.58 -> 2
    (3, 2, 3),  # log2(4) = 2
])
def test_pm_score_at_small_scores(score, plain, accepted):
    frame = pl.DataFrame({"score": [score, score], "accepted": [False, True]})
    assert frame.select(pm_score(pl.col("score"), pl.col("accepted"))).to_series().to_list() == [plain, accepted]


def test_pm_score_rounds_half_up():
    # log2(1 + s) is exactly 2.5, 3.5 and 4.5 here (integer scores never land on a half): half up gives
    # 3, 4, 5, where half to even would give 2, 4, 4.
    frame = pl.DataFrame({"score": [2**2.5 - 1, 2**3.5 - 1, 2**4.5 - 1], "accepted": [False] * 3})
    assert frame.select((pl.col("score") + 1).log(2)).to_series().to_list() == [2.5, 3.5, 4.5]
    assert frame.select(pm_score(pl.col("score"), pl.col("accepted"))).to_series().to_list() == [3, 4, 5]


def test_score_answers_derives_accepted_and_pm_score():
    dump = {"pm_score": None, "accepted": None}  # a dump's answers: neither given
    answers = ready_answers(
        dict(answer_id=1, question_id=1, score=3, accepted_answer_id=1, **dump),  # the question's accepted answer
        dict(answer_id=2, question_id=1, score=0, accepted_answer_id=1, **dump),
        dict(answer_id=3, question_id=2, score=-5, **dump),  # question without an accepted answer
        {"answer_id": 4, "question_id": 3, "score": None, "pm_score": 7, "accepted": True},  # preferences layout: given
        {"answer_id": 5, "question_id": 3, "score": 2, "pm_score": None, "accepted": False, "accepted_answer_id": 5},
    ).drop("rank")
    out, drops = score_answers(bucket(ready_questions(), answers), context())
    assert drops == Counter()
    assert keys(out.answers, "answer_id", "accepted", "pm_score", "rank") == [
        (1, True, 3, 3), (2, False, 0, 0), (3, False, -1, -1), (4, True, 7, 7), (5, False, 2, 2)]


def test_score_answers_ready_made_pairs_rank_by_wins():
    answers = ready_answers(
        {"answer_id": 1, "question_id": 1, "score": 4, "pm_score": None, "accepted": None, "rank": None},
        {"answer_id": 8, "question_id": 2, "score": None, "pm_score": None, "from_given": True, "rank": 2},
        {"answer_id": 9, "question_id": 2, "score": None, "pm_score": None, "from_given": True, "rank": -2},
    )
    out, drops = score_answers(bucket(ready_questions(), answers), context())
    assert drops == Counter()
    assert keys(out.answers, "answer_id", "accepted", "pm_score", "rank") == [
        (1, False, 2, 2), (8, False, None, 2), (9, False, None, -2)]


# --- dedup ------------------------------------------------------------------------------------


def test_best_first_orders_by_rank_score_then_older():
    answers = ready_answers(
        {"answer_id": 5, "question_id": 2, "rank": 1, "score": 1},
        {"answer_id": 4, "question_id": 1, "rank": 1, "score": 3},
        {"answer_id": 3, "question_id": 1, "rank": 2, "score": 0},
        {"answer_id": 2, "question_id": 1, "rank": 1, "score": 3},
        {"answer_id": 1, "question_id": 1, "rank": None, "score": 9},  # no rank: last
        {"answer_id": 6, "question_id": 1, "site": OTHER_SITE, "rank": 5, "score": 5},
    )
    assert keys(best_first(answers), "site", "answer_id") == [
        (SITE, 3), (SITE, 2), (SITE, 4), (SITE, 1), (SITE, 5), (OTHER_SITE, 6)]


def test_dedup_exact_answers_keeps_the_best_copy_within_a_question():
    answers = ready_answers(
        {"answer_id": 1, "question_id": 1, "body": "Use X.", "rank": 1, "score": 2},
        {"answer_id": 2, "question_id": 1, "body": "use   x.", "rank": 2, "score": 5},  # the same, normalized; better
        {"answer_id": 3, "question_id": 1, "body": "Something else.", "rank": 0},
        {"answer_id": 4, "question_id": 2, "body": "Use X.", "rank": 0},  # another question: kept
        {"answer_id": 6, "question_id": 2, "body": "Same.", "rank": 1, "score": 1},
        {"answer_id": 5, "question_id": 2, "body": "Same.", "rank": 1, "score": 1},  # a tie: the older (lower id) stays
    )
    assert text_hash("Use X.") == text_hash("use   x.")
    out, drops = dedup_exact_answers(bucket(ready_questions(), answers), context())
    assert drops == Counter(duplicate_answer=2)
    assert ids(out.answers, "answer_id") == [2, 3, 5, 4]  # best first within each question


def test_dedup_exact_answers_without_duplicates_drops_none():
    answers = ready_answers({"answer_id": 1, "question_id": 1}, {"answer_id": 2, "question_id": 1})
    out, drops = dedup_exact_answers(bucket(ready_questions(), answers), context())
    assert drops == Counter(duplicate_answer=0)
    assert sorted(ids(out.answers, "answer_id")) == [1, 2]


WORDS = [f"w{i}" for i in range(200)]
# 5-gram Jaccard: A~B 0.84, B~C 0.84, A~C 0.70 (below the 0.8 threshold); D unrelated.
A = " ".join(WORDS[:60])
B = " ".join([*WORDS[:55], "x1", "x2", "x3", "x4", "x5"])
C = " ".join(["y1", "y2", "y3", "y4", "y5", *WORDS[5:55], "x1", "x2", "x3", "x4", "x5"])
D = " ".join(WORDS[100:160])


def near_answers():
    return ready_answers(
        {"answer_id": 1, "question_id": 1, "body": B, "rank": 1},
        {"answer_id": 2, "question_id": 1, "body": A, "rank": 2},  # the best: B, near it, goes
        {"answer_id": 3, "question_id": 1, "body": D, "rank": 0},
        {"answer_id": 4, "question_id": 2, "body": B, "rank": 0},  # another question: never compared
        {"answer_id": 5, "question_id": 2, "body": D, "rank": 1},
    )


def test_dedup_near_answers_is_a_no_op_with_near_dup_off():
    start = bucket(ready_questions(), near_answers())
    out, drops = dedup_near_answers(start, context(near_dup=False))
    assert out is start
    assert drops == Counter()


def test_dedup_near_answers_drops_the_worse_of_a_near_pair_within_a_question():
    out, drops = dedup_near_answers(bucket(ready_questions(), near_answers()), context())
    assert drops == Counter(near_duplicate_answer=1)
    assert ids(out.answers, "answer_id") == [2, 3, 5, 4]


def test_dedup_near_answers_only_a_kept_answer_drops_another():
    # Best first: A, B, C. B is near A and goes; C is near B only, and B is gone, so C stays.
    answers = ready_answers(
        {"answer_id": 1, "question_id": 1, "body": C, "rank": 1},
        {"answer_id": 2, "question_id": 1, "body": B, "rank": 2},
        {"answer_id": 3, "question_id": 1, "body": A, "rank": 3},
    )
    out, drops = dedup_near_answers(bucket(ready_questions(), answers), context())
    assert drops == Counter(near_duplicate_answer=1)
    assert ids(out.answers, "answer_id") == [3, 1]
    # A-B: Jaccard 0.86 with 33 of 239 character 5-grams changed; B-C: 0.88 with 28; A-C: 0.76 with 61.
    # With at most 20 changed and a Jaccard threshold above 0.88, none is near another.
    out, drops = dedup_near_answers(bucket(ready_questions(), answers),
                                    context(near_dup_threshold=0.9, near_dup_max_changed=20))
    assert drops == Counter(near_duplicate_answer=0)
    assert ids(out.answers, "answer_id") == [3, 2, 1]


# --- length -----------------------------------------------------------------------------------


def response(n: int) -> str:
    """A response of n characters (the response prefix " " included)."""
    return " " + "x" * (n - 1)


def test_filter_long_answers_pair_questions_measure_every_answer():
    # Limit 50 characters: prompt 20 + response 30 is exactly at it, 31 one over.
    answers = ready_answers(
        {"answer_id": 1, "question_id": 1, "response": response(30), "rank": 0},
        {"answer_id": 2, "question_id": 1, "response": response(31), "rank": 3},
        {"answer_id": 3, "question_id": 1, "response": response(5), "rank": 1},
        {"answer_id": 4, "question_id": 4, "split": "test", "response": response(31), "rank": 2},
        {"answer_id": 5, "question_id": 4, "split": "test", "response": response(29), "rank": 1},
    ).with_columns(prompt_length=pl.lit(20, dtype=pl.Int64)).drop("response_length")
    out, drops = filter_long_answers(bucket(ready_questions(), answers), context(max_length_chars=50))
    assert drops == Counter(answer_too_long=2)
    assert sorted(keys(out.answers, "answer_id", "response_length")) == [(1, 30), (3, 5), (5, 29)]


def test_filter_long_answers_sft_questions_measure_best_first_until_one_fits():
    answers = ready_answers(
        # question 2: the best (a 40-character response) is too long, the next fits; the worst is never
        # measured (no length), though too long, and stays.
        {"answer_id": 21, "question_id": 2, "response": response(40), "rank": 3},
        {"answer_id": 22, "question_id": 2, "response": response(10), "rank": 2},
        {"answer_id": 23, "question_id": 2, "response": response(100), "rank": 1},
        # question 3: none fits
        {"answer_id": 31, "question_id": 3, "response": response(31), "rank": 2},
        {"answer_id": 32, "question_id": 3, "response": response(35), "rank": 1},
        # question 4: the best fits at once
        {"answer_id": 41, "question_id": 4, "response": response(30), "rank": 2},
        {"answer_id": 42, "question_id": 4, "response": response(3), "rank": 1},
    ).with_columns(split=pl.lit("sft"), prompt_length=pl.lit(20, dtype=pl.Int64)).drop("response_length")
    out, drops = filter_long_answers(bucket(ready_questions(), answers), context(max_length_chars=50))
    assert drops == Counter(answer_too_long=3)
    assert sorted(keys(out.answers, "answer_id", "response_length")) == [
        (22, 10), (23, None), (41, 30), (42, None)]
    assert "_turn" not in out.answers.columns


def test_filter_long_answers_keeps_all_under_the_default_limit():
    answers = ready_answers({"answer_id": 1, "question_id": 1}, {"answer_id": 2, "question_id": 2, "split": "sft"})
    out, drops = filter_long_answers(bucket(ready_questions(), answers.drop("response_length")), context())
    assert drops == Counter(answer_too_long=0)
    assert sorted(keys(out.answers, "answer_id", "response_length")) == [
        (1, len(" Answer 1: do it this way.")), (2, len(" Answer 2: do it this way."))]
