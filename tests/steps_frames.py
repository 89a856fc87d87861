"""Hand-made frames for the pass-3 step tests (tests/test_steps_*.py): a Context with a character
meter, and question, answer and pair frames with the columns the steps read, defaults filled in.

Each builder takes rows as dicts of the columns a test cares about; every other column gets a
default, possibly computed from the row (a text's hash, a prompt's length). Not a test module:
pytest collects only test_*.py.
"""

import polars as pl

from stackpref.config import BuildConfig
from stackpref.pipeline.meter import LengthMeter
from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.clusters import cluster_id
from stackpref.steps.prompts import split_template
from stackpref.steps.text import text_hash

SITE = "a.stackexchange.com"
OTHER_SITE = "b.stackexchange.com"
LICENSE = "CC BY-SA 4.0"

# The default template with token_boundary on: "Question: " + text + "\n\nAnswer:", responses " " + body.
PROMPT_PREFIX, PROMPT_SUFFIX, RESPONSE_PREFIX = "Question: ", "\n\nAnswer:", " "

DTYPES = {
    "site": pl.String, "question_id": pl.Int64, "answer_id": pl.Int64, "accepted_answer_id": pl.Int64,
    "question_text": pl.String, "question_hash": pl.Int64, "bands": pl.List(pl.UInt32),
    "link_group": pl.Int64, "question_author": pl.String, "question_license": pl.String, "cluster_id": pl.String,
    "cluster_size": pl.UInt32, "prompt": pl.String, "question_url": pl.String, "prompt_length": pl.Int64,
    "split": pl.String, "score": pl.Int64, "pm_score": pl.Int64, "accepted": pl.Boolean, "body": pl.String,
    "answer_hash": pl.Int64, "author": pl.String, "license": pl.String, "from_given": pl.Boolean,
    "rank": pl.Int64, "response": pl.String, "response_length": pl.Int64,
    "chosen_answer_id": pl.Int64, "rejected_answer_id": pl.Int64,
    "chosen_answer_hash": pl.Int64, "rejected_answer_hash": pl.Int64,
}


def context(**changes) -> Context:
    """The build's context for BuildConfig(**changes), lengths in characters (no tokenizer)."""
    config = BuildConfig(**changes)
    prefix, suffix, response_prefix = split_template(config.prompt_template, config.token_boundary)
    return Context(config, LengthMeter(), prefix, suffix, response_prefix)


def frame(rows, defaults: dict) -> pl.DataFrame:
    """One frame from `rows` (dicts); a column a row lacks takes its default, a value or a function of
    the row so far (defaults are filled in order, so one may use those before it)."""
    filled = []
    for row in rows:
        full = dict(row)
        for name, default in defaults.items():
            if name not in full:
                full[name] = default(full) if callable(default) else default
        filled.append(full)
    names = list(dict.fromkeys([*defaults, *(k for r in filled for k in r)]))
    return pl.DataFrame({n: [r.get(n) for r in filled] for n in names},
                        schema={n: DTYPES.get(n, pl.String) for n in names})


def _hex(h: int) -> str:
    return cluster_id(pl.Series([h], dtype=pl.Int64))[0]


def _prompt(row) -> str:
    return PROMPT_PREFIX + row["question_text"] + PROMPT_SUFFIX


LOADED_QUESTION = {
    "site": SITE,
    "accepted_answer_id": None,
    "question_text": lambda r: f"Question {r['question_id']}: how do I do thing {r['question_id']}?",
    "question_hash": lambda r: text_hash(r["question_text"] or ""),
    "bands": [],
    "link_group": None,
    "question_author": lambda r: f"https://{r['site']}/users/{r['question_id']}",
    "question_license": LICENSE,
}

# A question as the steps after split_by_cluster see it (a lone question: its own cluster).
READY_QUESTION = {
    **LOADED_QUESTION,
    "cluster_id": lambda r: _hex(r["question_hash"]),
    "cluster_size": 1,
    "prompt": _prompt,
    "question_url": lambda r: f"https://{r['site']}/questions/{r['question_id']}",
    "prompt_length": lambda r: len(r["prompt"]),
    "split": "train",
}

LOADED_ANSWER = {
    "site": SITE,
    "score": 0,
    "pm_score": None,
    "accepted": None,
    "body": lambda r: f"Answer {r['answer_id']}: do it this way.",
    "answer_hash": lambda r: text_hash(r["body"] or ""),
    "author": lambda r: f"https://{r['site']}/users/{100 + r['answer_id']}",
    "license": LICENSE,
    "creation_date": lambda r: f"2020-01-01T00:{r['answer_id'] // 60 % 60:02d}:{r['answer_id'] % 60:02d}.000",
    "from_given": False,
}

# An answer as the steps after filter_long_answers see it.
READY_ANSWER = {
    **LOADED_ANSWER,
    "pm_score": 0,
    "accepted": False,
    "accepted_answer_id": None,
    "prompt_length": 40,
    "rank": lambda r: r["pm_score"],
    "split": "train",
    "question_hash": lambda r: 1000 + r["question_id"],
    "response": lambda r: RESPONSE_PREFIX + r["body"],
    "response_length": lambda r: len(r["response"]),
}


def loaded_questions(*rows) -> pl.DataFrame:
    """Questions as pass 3 loads them (process._load): rows need question_id."""
    return frame(rows, {"question_id": None, **LOADED_QUESTION})


def ready_questions(*rows) -> pl.DataFrame:
    """Questions with their cluster, prompt and split: rows need question_id."""
    return frame(rows, {"question_id": None, **READY_QUESTION})


def loaded_answers(*rows) -> pl.DataFrame:
    """Answers as pass 3 loads them: rows need answer_id and question_id."""
    return frame(rows, {"answer_id": None, "question_id": None, **LOADED_ANSWER})


def ready_answers(*rows) -> pl.DataFrame:
    """Answers scored, split and measured: rows need answer_id and question_id."""
    return frame(rows, {"answer_id": None, "question_id": None, **READY_ANSWER})


def pairs(*rows) -> pl.DataFrame:
    """Pairs by their keys: rows are (question_id, chosen_answer_id, rejected_answer_id), hashes the ids'."""
    return frame([{"question_id": q, "chosen_answer_id": c, "rejected_answer_id": r} for q, c, r in rows], {
        "site": SITE, "question_id": None, "chosen_answer_id": None, "rejected_answer_id": None,
        "chosen_answer_hash": lambda r: r["chosen_answer_id"],
        "rejected_answer_hash": lambda r: r["rejected_answer_id"],
    })


def bucket(questions: pl.DataFrame, answers: pl.DataFrame | None = None, **frames) -> Bucket:
    if answers is None:
        answers = loaded_answers()
    return Bucket(questions=questions, answers=answers, **frames)


def ids(frame: pl.DataFrame, column: str) -> list:
    return frame[column].to_list()


def keys(frame: pl.DataFrame, *columns: str) -> list[tuple]:
    return list(frame.select(*columns).iter_rows())
