"""The step runner (pipeline/runner.py): what it records per stage, the rows it refuses to lose, and
the declared STEPS of pass 3 over one small hand-made bucket."""

from collections import Counter
from dataclasses import replace

import polars as pl
import pytest
from steps_frames import SITE, bucket, context, ids, keys, loaded_answers, loaded_questions, pairs, ready_questions

from stackpref.pipeline.funnel import Funnel
from stackpref.pipeline.process import STEPS
from stackpref.pipeline.runner import Step, run_steps

# --- hand-written steps -----------------------------------------------------------------------


def drop_first_question(b, ctx):
    return replace(b, questions=b.questions.slice(1)), Counter(first=1)


def drop_two_questions(b, ctx):
    return replace(b, questions=b.questions.slice(2)), Counter(second=1, third=1, unused=0)


def make_pairs(b, ctx):
    """Makes three pairs, and says one more candidate was dropped (as pair_as_given's identical ones)."""
    return replace(b, pairs=pairs((3, 1, 2), (4, 1, 2), (5, 1, 2))), Counter(identical=1)


def cap_one_pair(b, ctx):
    return replace(b, pairs=b.pairs.slice(1)), Counter(cap=1)


def keep_all(b, ctx):
    return b, Counter()


def lose_a_question(b, ctx):
    return replace(b, questions=b.questions.slice(1)), Counter()


def over_report(b, ctx):
    return replace(b, questions=b.questions.slice(1)), Counter(gone=2)


def grow_questions(b, ctx):
    return replace(b, questions=pl.concat([b.questions, b.questions.head(1)])), Counter()


def also_drop_answers(b, ctx):
    return replace(b, questions=b.questions.slice(1), answers=b.answers.slice(1)), Counter(gone=1)


def make_sft_too(b, ctx):
    return replace(b, pairs=pairs((1, 1, 2)), sft=pl.DataFrame({"site": [SITE], "question_id": [1]})), Counter()


def five_questions():
    questions = ready_questions(*({"question_id": q} for q in range(1, 6)))
    answers = loaded_answers({"answer_id": 11, "question_id": 1}, {"answer_id": 21, "question_id": 2},
                             {"answer_id": 31, "question_id": 3})
    return bucket(questions, answers)


def test_run_steps_records_entered_kept_and_dropped_per_stage():
    funnel = Funnel()
    steps = [Step("questions", drop_first_question), Step("questions", keep_all), Step("questions", drop_two_questions),
             Step("pairs", make_pairs, makes=True), Step("pairs", cap_one_pair)]
    out = run_steps(five_questions(), context(), steps, funnel)
    assert ids(out.questions, "question_id") == [4, 5]
    assert keys(out.pairs, "question_id") == [(4,), (5,)]
    assert funnel.to_dict() == {
        "questions": {"unit": "questions", "entered": 5, "kept": 2, "dropped": {"first": 1, "second": 1, "third": 1}},
        "pairs": {"unit": "answer pairs", "entered": 4, "kept": 2, "dropped": {"cap": 1, "identical": 1}},
    }  # answers and sft had no step: not recorded


def test_run_steps_adds_to_a_funnel_and_made_rows_count_as_entered():
    funnel = Funnel()
    start = replace(five_questions(), pairs=pairs((1, 1, 2), (2, 1, 2)))
    run_steps(start, context(), [Step("pairs", make_pairs, makes=True)], funnel)  # replaces 2 pairs by 3
    assert funnel.to_dict() == {"pairs": {"unit": "answer pairs", "entered": 4, "kept": 3, "dropped": {"identical": 1}}}
    run_steps(five_questions(), context(), [Step("answers", keep_all), Step("questions", drop_first_question)], funnel)
    assert funnel.to_dict() == {
        "questions": {"unit": "questions", "entered": 5, "kept": 4, "dropped": {"first": 1}},
        "answers": {"unit": "answers", "entered": 3, "kept": 3, "dropped": {}},
        "pairs": {"unit": "answer pairs", "entered": 4, "kept": 3, "dropped": {"identical": 1}},
    }


def test_step_name_is_its_function_name():
    assert Step("questions", drop_first_question).name == "drop_first_question"
    assert [s.name for s in STEPS][:2] == ["cluster_questions", "keep_one_per_cluster"]


@pytest.mark.parametrize(("step", "message"), [
    (Step("questions", lose_a_question), "step lose_a_question: questions went from 5 to 4 rows, but it dropped {}"),
    (Step("questions", over_report), "step over_report: questions went from 5 to 4 rows, but it dropped {'gone': 2}"),
    (Step("questions", grow_questions), "step grow_questions: questions went from 5 to 6 rows, but it dropped {}"),
    (Step("questions", also_drop_answers), ("step also_drop_answers changed answers (3 -> 2 rows); a step changes "
                                           "only the frame it names (questions)")),
    (Step("pairs", make_sft_too, makes=True), ("step make_sft_too changed sft (0 -> 1 rows); a step changes only "
                                              "the frame it names (pairs)")),
])
def test_run_steps_refuses_rows_lost_without_a_reason(step, message):
    funnel = Funnel()
    with pytest.raises(AssertionError) as caught:
        run_steps(five_questions(), context(), [Step("questions", keep_all), step], funnel)
    assert str(caught.value) == message
    assert funnel.to_dict() == {}  # nothing recorded from a bucket that failed


# --- the declared steps -----------------------------------------------------------------------


def loaded_bucket():
    """What _load gives for six questions of a dump (no ready-made pairs)."""
    questions = loaded_questions(
        {"question_id": 1, "accepted_answer_id": 12},  # three answers: two pairs, one tie
        {"question_id": 2, "question_text": "A question far too long for a sixty-character prompt limit."},
        {"question_id": 3},  # an answer and an empty one
        {"question_id": 4},  # two copies of one answer
        {"question_id": 5},  # no answers
        {"question_id": 6},  # two answers that tie (pm_score 2 and 2)
    )
    answers = loaded_answers(
        {"answer_id": 11, "question_id": 1, "score": 5}, {"answer_id": 12, "question_id": 1, "score": 0},
        {"answer_id": 13, "question_id": 1, "score": 1},
        {"answer_id": 21, "question_id": 2, "score": 3}, {"answer_id": 22, "question_id": 2, "score": 0},
        {"answer_id": 31, "question_id": 3, "score": 1}, {"answer_id": 32, "question_id": 3, "body": ""},
        {"answer_id": 41, "question_id": 4, "body": "Copy."}, {"answer_id": 42, "question_id": 4, "body": "copy."},
        {"answer_id": 61, "question_id": 6, "score": 2}, {"answer_id": 62, "question_id": 6, "score": 3},
    )
    return bucket(questions, answers)


def test_declared_steps_on_a_pairs_bucket():
    funnel = Funnel()
    out = run_steps(loaded_bucket(), context(near_dup=False, max_prompt_chars=60,
                                             split={"sft": 0.0, "train": 1.0, "test": 0.0}), STEPS, funnel)
    # 11: pm 3; 12: pm 0 + 1 accepted = 1; 13: pm 1. 12 and 13 tie.
    assert sorted(keys(out.pairs, "question_id", "chosen_answer_id", "rejected_answer_id", "margin")) == [
        (1, 11, 12, 2), (1, 11, 13, 2)]
    assert out.sft.height == 0
    assert ids(out.questions, "question_id") == [1]
    assert sorted(keys(out.paired_questions, "site", "question_id")) == [(SITE, 1)]
    assert funnel.to_dict() == {
        "questions": {"unit": "questions", "entered": 6, "kept": 1, "dropped": {
            "no_answer_left": 1, "no_pair_at_min_margin": 1, "one_answer_cannot_pair": 2, "prompt_too_long": 1}},
        "answers": {"unit": "answers", "entered": 11, "kept": 7, "dropped": {
            "duplicate_answer": 1, "empty_answer": 1, "question_dropped": 2}},
        "pairs": {"unit": "answer pairs", "entered": 4, "kept": 2, "dropped": {"below_min_margin": 2}},
        "sft": {"unit": "rows", "entered": 0, "kept": 0, "dropped": {}},
    }
    assert out.stats == {"candidate_pairs": 0, "verified_pairs": 0, "merged_by_text": 0, "merged_by_links": 0,
                         "clusters_with_duplicates": 0,
                         "questions_in_them": 0, "questions_moved_by_merges": 0, "size_histogram": {}}


def test_declared_steps_on_an_sft_bucket():
    funnel = Funnel()
    out = run_steps(loaded_bucket(), context(near_dup=False, max_prompt_chars=60,
                                             split={"sft": 1.0, "train": 0.0, "test": 0.0}), STEPS, funnel)
    assert keys(out.sft, "question_id", "answer_id") == [(1, 11), (3, 31), (4, 41), (6, 62)]
    assert out.pairs.height == 0
    assert sorted(ids(out.questions, "question_id")) == [1, 3, 4, 6]  # questions' order carries no meaning
    counts = funnel.to_dict()
    assert counts["questions"] == {"unit": "questions", "entered": 6, "kept": 4,
                                   "dropped": {"no_answer_left": 1, "prompt_too_long": 1}}
    assert counts["sft"] == {"unit": "rows", "entered": 4, "kept": 4, "dropped": {}}
    assert counts["pairs"] == {"unit": "answer pairs", "entered": 0, "kept": 0, "dropped": {}}
    assert counts["answers"] == {"unit": "answers", "entered": 11, "kept": 7, "dropped": {
        "duplicate_answer": 1, "empty_answer": 1, "question_dropped": 2}}
