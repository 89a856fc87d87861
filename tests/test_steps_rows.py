"""Pass-3 steps that make and filter the output rows, on hand-made frames: pairs at a margin, given
pairs, the per-question cap, duplicate pairs, SFT rows, why a question has no row, and the output
formats."""

from collections import Counter

import polars as pl
from steps_frames import (
    OTHER_SITE,
    SITE,
    bucket,
    context,
    ids,
    keys,
    pairs,
    ready_answers,
    ready_questions,
)

from stackpref.schema import PAIRS, SFT
from stackpref.steps.dedup import drop_duplicate_pairs
from stackpref.steps.formats import OUTPUTS, pairs_output, sft_output
from stackpref.steps.outcome import keep_questions_with_rows
from stackpref.steps.pairing import candidate_pairs, cap_pairs, pair_as_given, pair_at_margin
from stackpref.steps.sft import sft_rows

PAIR_KEYS = ("question_id", "chosen_answer_id", "rejected_answer_id", "margin")


def scored_answers():
    return ready_answers(
        {"answer_id": 1, "question_id": 1, "pm_score": 3},
        {"answer_id": 2, "question_id": 1, "pm_score": 2},
        {"answer_id": 3, "question_id": 1, "pm_score": 2},  # ties with 2: never a pair
        {"answer_id": 4, "question_id": 1, "pm_score": 0},
        {"answer_id": 5, "question_id": 2, "pm_score": 1},  # alone: no pair to make
        {"answer_id": 7, "question_id": 3, "pm_score": 2},  # the higher id is chosen here
        {"answer_id": 6, "question_id": 3, "pm_score": 1},
    )


# --- pairing ----------------------------------------------------------------------------------


def test_candidate_pairs_at_margin_one():
    made, short = candidate_pairs(scored_answers(), 1)
    assert sorted(keys(made, *PAIR_KEYS)) == [
        (1, 1, 2, 1), (1, 1, 3, 1), (1, 1, 4, 3), (1, 2, 4, 2), (1, 3, 4, 2), (3, 7, 6, 1)]
    assert short == 1  # 2 and 3, a tie


def test_candidate_pairs_margin_exactly_met_and_one_short():
    made, short = candidate_pairs(scored_answers(), 2)
    assert sorted(keys(made, *PAIR_KEYS)) == [(1, 1, 4, 3), (1, 2, 4, 2), (1, 3, 4, 2)]  # 2 is enough
    assert short == 4  # 1-2, 1-3 and 7-6 differ by 1, one short; 2-3 tie
    made, short = candidate_pairs(scored_answers(), 4)
    assert made.height == 0 and short == 7


def test_candidate_pairs_carry_both_sides():
    made, _ = candidate_pairs(scored_answers().filter(pl.col("question_id") == 3), 1)
    row = made.row(0, named=True)
    assert {k: row[k] for k in ("chosen_answer_id", "chosen_pm_score", "chosen_response", "rejected_answer_id",
                                "rejected_pm_score", "rejected_response", "margin")} == {
        "chosen_answer_id": 7, "chosen_pm_score": 2, "chosen_response": " Answer 7: do it this way.",
        "rejected_answer_id": 6, "rejected_pm_score": 1, "rejected_response": " Answer 6: do it this way.",
        "margin": 1}


def test_pair_at_margin_pairs_only_scored_answers_of_pair_splits():
    answers = pl.concat([
        scored_answers(),
        ready_answers(
            {"answer_id": 8, "question_id": 4, "split": "sft", "pm_score": 5},  # sft question: no pairs
            {"answer_id": 9, "question_id": 4, "split": "sft", "pm_score": 0},
            {"answer_id": 10, "question_id": 5, "split": "test", "pm_score": 1},  # test questions pair
            {"answer_id": 11, "question_id": 5, "split": "test", "pm_score": 4},
            # given: paired as given, by pair_as_given
            {"answer_id": 12, "question_id": 6, "from_given": True, "pm_score": None, "rank": 1},
            {"answer_id": 13, "question_id": 6, "from_given": True, "pm_score": None, "rank": -1},
        ),
    ])
    start = bucket(ready_questions(), answers)
    out, drops = pair_at_margin(start, context(min_margin=2))
    assert drops == Counter(below_min_margin=4)
    assert sorted(keys(out.pairs, *PAIR_KEYS)) == [(1, 1, 4, 3), (1, 2, 4, 2), (1, 3, 4, 2), (5, 11, 10, 3)]
    assert out.answers is start.answers


def given_bucket(given):
    answers = pl.concat([
        scored_answers().filter(pl.col("question_id") == 3),
        ready_answers(
            {"answer_id": 101, "question_id": 5, "from_given": True, "pm_score": None, "score": None, "rank": 1},
            {"answer_id": 102, "question_id": 5, "from_given": True, "pm_score": None, "score": None, "rank": -1},
            {"answer_id": 104, "question_id": 5, "from_given": True, "pm_score": None, "score": None, "rank": 0},
            {"answer_id": 201, "question_id": 6, "split": "sft", "from_given": True, "pm_score": None, "score": None,
             "rank": 1},
            {"answer_id": 202, "question_id": 6, "split": "sft", "from_given": True, "pm_score": None, "score": None,
             "rank": -1},
        ),
    ])
    start, _ = pair_at_margin(bucket(ready_questions(), answers, given=given), context())
    return start


def test_pair_as_given_is_a_no_op_without_given_pairs():
    start = given_bucket(None)
    out, drops = pair_as_given(start, context())
    assert out is start
    assert drops == Counter()


def test_pair_as_given_adds_pairs_whose_answers_survived():
    given = pl.DataFrame({
        "site": [SITE] * 5,
        "question_id": [5, 5, 5, 6, 5],
        "chosen_answer_id": [101, 101, 104, 201, 102],
        "rejected_answer_id": [102, 103, 104, 202, 101],  # 103 was dropped (say, too long)
    })
    out, drops = pair_as_given(given_bucket(given), context())
    assert drops == Counter(identical_responses=1)  # 104 against itself
    # The margin pair of question 3 first, then the given ones as given (102 over 101 too), margin unknown;
    # question 6 is an sft question: no pairs.
    assert keys(out.pairs, *PAIR_KEYS)[0] == (3, 7, 6, 1)
    assert sorted(keys(out.pairs, *PAIR_KEYS)[1:]) == [(5, 101, 102, None), (5, 102, 101, None)]
    assert sorted(keys(out.pairs.filter(pl.col("question_id") == 5), "chosen_response", "rejected_response",
                       "chosen_pm_score")) == [(" Answer 101: do it this way.", " Answer 102: do it this way.", None),
                                               (" Answer 102: do it this way.", " Answer 101: do it this way.", None)]


# --- cap --------------------------------------------------------------------------------------

SIX_AND_TWO = pairs((1, 1, 2), (1, 1, 3), (1, 1, 4), (1, 2, 3), (1, 2, 4), (1, 3, 4), (2, 5, 6), (2, 5, 7))


def test_cap_pairs_keeps_a_seeded_sample_per_question():
    start = bucket(ready_questions(), pairs=SIX_AND_TWO)
    out, drops = cap_pairs(start, context(max_pairs_per_question=3))  # seed 42
    assert drops == Counter(over_max_pairs_per_question=3)
    assert keys(out.pairs, "question_id", "chosen_answer_id", "rejected_answer_id") == [
        (1, 2, 3), (1, 2, 4), (1, 3, 4), (2, 5, 6), (2, 5, 7)]
    assert out.pairs.columns == SIX_AND_TWO.columns
    assert sorted(keys(out.paired_questions, "site", "question_id")) == [(SITE, 1), (SITE, 2)]
    again, _ = cap_pairs(start, context(max_pairs_per_question=3))
    assert again.pairs.equals(out.pairs)
    # The pick depends on the pairs' ids and the seed, not on the rows' order.
    shuffled, _ = cap_pairs(bucket(ready_questions(), pairs=SIX_AND_TWO.reverse()), context(max_pairs_per_question=3))
    assert sorted(keys(shuffled.pairs, "question_id", "chosen_answer_id", "rejected_answer_id")) == sorted(
        keys(out.pairs, "question_id", "chosen_answer_id", "rejected_answer_id"))
    other_seed, drops = cap_pairs(start, context(max_pairs_per_question=3, seed=0))
    assert drops == Counter(over_max_pairs_per_question=3)
    assert keys(other_seed.pairs, "question_id", "chosen_answer_id", "rejected_answer_id") == [
        (1, 1, 2), (1, 1, 4), (1, 3, 4), (2, 5, 6), (2, 5, 7)]


def test_cap_pairs_at_and_under_the_cap_keeps_all():
    start = bucket(ready_questions(), pairs=SIX_AND_TWO)
    out, drops = cap_pairs(start, context(max_pairs_per_question=6))
    assert drops == Counter(over_max_pairs_per_question=0)
    assert out.pairs.equals(SIX_AND_TWO)
    out, drops = cap_pairs(start, context(max_pairs_per_question=1))
    assert drops == Counter(over_max_pairs_per_question=6)
    assert keys(out.pairs, "question_id") == [(1,), (2,)]


def test_cap_pairs_without_pairs_remembers_no_question():
    out, drops = cap_pairs(bucket(ready_questions(), pairs=pairs()), context())
    assert drops == Counter()
    assert out.pairs.height == 0 and out.paired_questions.height == 0
    assert out.paired_questions.columns == ["site", "question_id"]


# --- duplicate pairs --------------------------------------------------------------------------


def test_drop_duplicate_pairs_keeps_the_first_question_of_equal_texts():
    questions = ready_questions(
        {"question_id": 2, "question_text": "Same question?"},
        {"question_id": 1, "question_text": "Same question?"},
        {"question_id": 3, "question_text": "Another question?"},
    )
    # Question 2's pair 21 > 22 has the texts of question 1's 11 > 12; 22 > 21 is the other way round.
    made = pairs((2, 21, 22), (2, 22, 21), (1, 11, 12), (3, 31, 32)).with_columns(
        chosen_answer_hash=pl.Series([7, 8, 7, 7]), rejected_answer_hash=pl.Series([8, 7, 8, 8]))
    out, drops = drop_duplicate_pairs(bucket(questions, pairs=made), context())
    assert drops == Counter(duplicate_pair=1)
    assert keys(out.pairs, "question_id", "chosen_answer_id", "rejected_answer_id") == [
        (1, 11, 12), (2, 22, 21), (3, 31, 32)]
    assert {"prompt", "prompt_hash", "prompt_length", "question_author", "question_url", "question_license",
            "cluster_id", "split"} <= set(out.pairs.columns)
    assert "question_hash" not in out.pairs.columns
    assert ids(out.pairs, "prompt") == ["Question: Same question?\n\nAnswer:"] * 2 + [
        "Question: Another question?\n\nAnswer:"]


def test_drop_duplicate_pairs_across_sites_is_by_text():
    questions = ready_questions({"question_id": 1, "question_text": "Q?"},
                                {"question_id": 1, "site": OTHER_SITE, "question_text": "Q?"})
    made = pl.concat([pairs((1, 11, 12)), pairs((1, 11, 12)).with_columns(site=pl.lit(OTHER_SITE))])
    out, drops = drop_duplicate_pairs(bucket(questions, pairs=made), context())
    assert drops == Counter(duplicate_pair=1)
    assert keys(out.pairs, "site", "question_id") == [(SITE, 1)]


# --- SFT rows ---------------------------------------------------------------------------------


def sft_bucket():
    questions = ready_questions(
        {"question_id": 1, "split": "sft", "question_text": "Same question?"},
        {"question_id": 2, "split": "test"},
        {"question_id": 3, "split": "train"},
        {"question_id": 4, "split": "sft", "question_text": "Same question?"},
        {"question_id": 5, "split": "sft", "site": OTHER_SITE},
    )
    answers = ready_answers(
        {"answer_id": 11, "question_id": 1, "split": "sft", "question_hash": 77, "rank": 2},
        {"answer_id": 12, "question_id": 1, "split": "sft", "question_hash": 77, "rank": 3, "body": "The same answer."},
        {"answer_id": 13, "question_id": 1, "split": "sft", "question_hash": 77, "rank": 1, "response_length": None},
        {"answer_id": 21, "question_id": 2, "split": "test", "rank": 0, "score": 1},
        {"answer_id": 22, "question_id": 2, "split": "test", "rank": 0, "score": 5},
        {"answer_id": 31, "question_id": 3, "split": "train", "rank": 9},  # a pairs question: no SFT row
        {"answer_id": 41, "question_id": 4, "split": "sft", "question_hash": 77, "rank": 1,
         "body": "the same  answer."},
        {"answer_id": 51, "question_id": 5, "split": "sft", "site": OTHER_SITE},
    )
    return bucket(questions, answers)


def test_sft_rows_best_answer_of_sft_and_test_questions_once():
    start = sft_bucket()
    out, drops = sft_rows(start, context())
    assert drops == Counter(duplicate_sft_row=1)  # question 4: question 1's text with the same answer
    assert keys(out.sft, "site", "question_id", "answer_id", "split") == [
        (SITE, 1, 12, "sft"), (SITE, 2, 22, "test"), (OTHER_SITE, 5, 51, "sft")]
    assert ids(out.sft, "prompt")[0] == "Question: Same question?\n\nAnswer:"
    assert ids(out.sft, "response")[0] == " The same answer."
    assert out.questions is start.questions and out.answers is start.answers


def test_sft_rows_none_without_sft_questions():
    start = sft_bucket()
    start = bucket(start.questions.filter(pl.col("split") == "train"), start.answers.filter(pl.col("split") == "train"))
    out, drops = sft_rows(start, context())
    assert drops == Counter(duplicate_sft_row=0)
    assert out.sft.height == 0


# --- outcome ----------------------------------------------------------------------------------


def test_keep_questions_with_rows_names_why_the_rest_have_none():
    questions = ready_questions(*({"question_id": q} for q in range(1, 8)))
    answers = ready_answers(
        {"answer_id": 11, "question_id": 1, "split": "sft"},
        {"answer_id": 21, "question_id": 2}, {"answer_id": 22, "question_id": 2, "pm_score": 1},
        # question 3: no answer left
        {"answer_id": 41, "question_id": 4},  # one answer: nothing to pair it with
        {"answer_id": 51, "question_id": 5}, {"answer_id": 52, "question_id": 5},  # a tie: no pair at the margin
        {"answer_id": 61, "question_id": 6}, {"answer_id": 62, "question_id": 6, "pm_score": 1},  # its pair a duplicate
        {"answer_id": 71, "question_id": 7, "split": "test"},
        {"answer_id": 72, "question_id": 7, "split": "test", "pm_score": 2},
    )
    sft = pl.DataFrame({"site": [SITE, SITE], "question_id": [1, 7]})
    made = pairs((2, 22, 21), (7, 72, 71))
    paired = pairs((2, 22, 21), (6, 62, 61), (7, 72, 71)).select("site", "question_id")
    start = bucket(questions, answers, sft=sft, pairs=made, paired_questions=paired)
    out, drops = keep_questions_with_rows(start, context())
    assert drops == Counter(no_answer_left=1, one_answer_cannot_pair=1, no_pair_at_min_margin=1,
                            only_duplicate_rows=1)
    assert sorted(ids(out.questions, "question_id")) == [1, 2, 7]
    assert out.answers is start.answers


def test_keep_questions_with_rows_keeps_all_with_rows():
    questions = ready_questions({"question_id": 1}, {"question_id": 2})
    answers = ready_answers({"answer_id": 11, "question_id": 1}, {"answer_id": 21, "question_id": 2})
    start = bucket(questions, answers, sft=pl.DataFrame({"site": [SITE, SITE], "question_id": [1, 2]}),
                   pairs=pairs(), paired_questions=pairs().select("site", "question_id"))
    out, drops = keep_questions_with_rows(start, context())
    assert drops == Counter()
    assert ids(out.questions, "question_id") == [1, 2]


# --- formats ----------------------------------------------------------------------------------


def test_pairs_output_has_the_schema_and_merges_licences():
    questions = ready_questions({"question_id": 1, "question_text": "Why?", "question_license": "CC BY-SA 4.0"})
    answers = ready_answers(
        {"answer_id": 11, "question_id": 1, "pm_score": 2, "score": 3, "accepted": True, "body": "Because.",
         "license": "CC BY-SA 3.0"},
        {"answer_id": 12, "question_id": 1, "pm_score": 0, "score": 0, "body": "Dunno.", "license": "CC BY-SA 4.0"},
    )
    made, _ = pair_at_margin(bucket(questions, answers), context())
    made, _ = drop_duplicate_pairs(made, context())
    table = pairs_output(made.pairs)
    assert table.columns == PAIRS.names
    assert table.schema == dict(pl.from_arrow(PAIRS.empty_table()).schema)
    assert table.row(0, named=True) == {
        "prompt": "Question: Why?\n\nAnswer:", "chosen": " Because.", "rejected": " Dunno.", "site": SITE,
        "question_id": 1, "chosen_id": 11, "rejected_id": 12, "chosen_score": 3, "rejected_score": 0,
        "chosen_pm_score": 2, "rejected_pm_score": 0, "chosen_accepted": True, "rejected_accepted": False,
        "margin": 2, "prompt_length": 23, "chosen_length": 9, "rejected_length": 7,
        "question_author": f"https://{SITE}/users/1", "chosen_author": f"https://{SITE}/users/111",
        "rejected_author": f"https://{SITE}/users/112", "question_url": f"https://{SITE}/questions/1",
        "license": "CC BY-SA 3.0, CC BY-SA 4.0", "cluster_id": ids(questions, "cluster_id")[0], "split": "train",
        "chosen_creation_date": "2020-01-01T00:00:11.000", "rejected_creation_date": "2020-01-01T00:00:12.000",
    }
    assert OUTPUTS["pairs"] is pairs_output


def test_sft_output_has_the_schema_and_skips_missing_licences():
    start = sft_bucket()
    licences = ["CC BY-SA 3.0", "CC BY-SA 4.0", "CC BY-SA 4.0", "CC BY-SA 4.0", "CC BY-SA 4.0"]
    start = bucket(start.questions.with_columns(question_license=pl.Series(licences)),
                   start.answers.with_columns(license=pl.when(pl.col("answer_id") == 51).then(None)
                                              .otherwise(pl.col("license"))))
    made, _ = sft_rows(start, context())
    table = sft_output(made.sft)
    assert table.columns == SFT.names
    assert table.schema == dict(pl.from_arrow(SFT.empty_table()).schema)
    assert keys(table, "question_id", "answer_id", "completion", "license") == [
        (1, 12, " The same answer.", "CC BY-SA 3.0, CC BY-SA 4.0"),
        (2, 22, " Answer 22: do it this way.", "CC BY-SA 4.0"),
        (5, 51, " Answer 51: do it this way.", "CC BY-SA 4.0")]
    assert OUTPUTS["sft"] is sft_output
