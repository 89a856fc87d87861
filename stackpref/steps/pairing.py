"""Ordered (chosen, rejected) pairs within a question, by pm_score margin."""

import polars as pl

from stackpref.steps.text import seeded_unit

_SIDE = ["answer_id", "pm_score", "score", "accepted", "response", "response_length", "answer_hash", "author", "license"]


def candidate_pairs(answers: pl.DataFrame, min_margin: int) -> tuple[pl.DataFrame, int]:
    """Every answer pair of a question whose pm_scores differ by at least `min_margin`, the higher
    one chosen (ties never pair). Returns the pairs and how many unordered pairs fell short."""
    keys = ["site", "question_id"]
    sides = answers.select(*keys, *_SIDE)
    joined = sides.join(sides, on=keys, suffix="_r").filter(pl.col("answer_id") < pl.col("answer_id_r"))
    unordered = joined.height
    diff = pl.col("pm_score") - pl.col("pm_score_r")
    joined = joined.filter(diff.abs() >= min_margin)
    first_wins = joined.filter(diff > 0)
    second_wins = joined.filter(diff < 0)
    chosen = {c: f"chosen_{c}" for c in _SIDE}
    rejected = {f"{c}_r": f"rejected_{c}" for c in _SIDE}
    swapped = {c: f"rejected_{c}" for c in _SIDE} | {f"{c}_r": f"chosen_{c}" for c in _SIDE}
    pairs = pl.concat([first_wins.rename(chosen | rejected), second_wins.rename(swapped)], how="diagonal")
    pairs = pairs.with_columns(margin=pl.col("chosen_pm_score") - pl.col("rejected_pm_score"))
    return pairs, unordered - pairs.height


def cap_pairs(pairs: pl.DataFrame, max_per_question: int, seed: int) -> pl.DataFrame:
    """At most `max_per_question` pairs per question, picked by a seeded hash of the pair's ids, so
    the choice is the same on every run and machine."""
    if pairs.is_empty():
        return pairs
    keys = [
        f"{s}/{q}/{c}/{r}"
        for s, q, c, r in pairs.select("site", "question_id", "chosen_answer_id", "rejected_answer_id").iter_rows()
    ]
    ranked = pairs.with_columns(_draw=pl.Series([seeded_unit(seed, k) for k in keys]))
    ranked = ranked.with_columns(_rank=pl.col("_draw").rank("ordinal").over("site", "question_id"))
    return ranked.filter(pl.col("_rank") <= max_per_question).drop("_draw", "_rank")
