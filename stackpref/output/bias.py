"""How far a build's preference label leans on other signals than quality: the bias diagnostics.

Computed from the written pairs files, so they add up with the rows a user loads, whatever the
buckets were. Medians cannot be summed across buckets; reading the files at the end gives them
exactly at the cost of one pass over a few narrow columns, file by file (texts stay in storage;
what is kept per row is a few flags and two numbers). `stackpref inspect` calls the same code.
"""

import polars as pl

from stackpref.output import storage
from stackpref.output.folder import BuildFolder
from stackpref.steps.fairness import posted_at

_COLUMNS = ["site", "split", "chosen_score", "rejected_score", "chosen_accepted", "chosen_length", "rejected_length",
            "question_author", "chosen_author", "chosen_creation_date", "rejected_creation_date"]
_DAY_NS = 86_400 * 10**9
# What each diagnostic says, for the card and inspect: {name: (heading, meaning)}.
MEANINGS = {
    "chosen_older": ("chosen older", (
        "Share of the pairs with both answer dates whose chosen answer was posted first: an early answer is seen "
        "and voted on for longer, so above one half the label partly says \"came first\".")),
    "chosen_longer": ("chosen longer", (
        "Share of the pairs whose chosen answer is strictly longer (in the build's length unit): far above one "
        "half and a model can learn \"longer is better\".")),
    "chosen_accepted": ("chosen accepted", (
        "Share of the pairs whose chosen answer is the accepted one: the asker's pick, which also adds +1 to "
        "pm_score.")),
    "chosen_by_asker": ("chosen by asker", (
        "Share of the pairs whose chosen answer was written by the question's own author (a self-answer, often "
        "accepted by its writer).")),
    "median_score_gap": ("median vote gap", (
        "Median of chosen_score - rejected_score (net votes) over the pairs with both scores: how clear the "
        "typical preference is.")),
    "median_age_gap_days": ("median age gap (days)", (
        "Median of how many days earlier chosen was posted than rejected (negative: chosen came later), over "
        "the pairs with both dates.")),
}


def _signals(rows: pl.DataFrame) -> pl.DataFrame:
    """Per pair: the flags and gaps the diagnostics summarize (null where a pair lacks the data)."""
    chosen, rejected = posted_at("chosen_creation_date"), posted_at("rejected_creation_date")
    return rows.select(
        pl.col("site", "split").cast(pl.Categorical),  # a few distinct strings, on every row of a large build
        older=chosen < rejected,
        longer=pl.col("chosen_length") > pl.col("rejected_length"),
        accepted=pl.col("chosen_accepted").fill_null(False),
        by_asker=(pl.col("chosen_author") == pl.col("question_author")).fill_null(False),
        score_gap=pl.col("chosen_score") - pl.col("rejected_score"),
        age_gap_days=(rejected - chosen).dt.total_nanoseconds() / _DAY_NS,
    )


# Each diagnostic over a group of pairs; a mean of flags is a share, over the pairs where the flag is known.
_AGGREGATES = [
    pl.len().alias("pairs"),
    pl.col("older").count().alias("dated_pairs"),
    pl.col("older").mean().alias("chosen_older"),
    pl.col("longer").mean().alias("chosen_longer"),
    pl.col("accepted").mean().alias("chosen_accepted"),
    pl.col("by_asker").mean().alias("chosen_by_asker"),
    pl.col("score_gap").median().alias("median_score_gap"),
    pl.col("age_gap_days").median().round(3).alias("median_age_gap_days"),  # to about a minute
]


def _by(signals: pl.DataFrame, column: str) -> dict:
    grouped = signals.group_by(pl.col(column).cast(pl.String)).agg(_AGGREGATES).sort(column)
    return {row.pop(column): row for row in grouped.to_dicts()}


def pair_bias(location: str) -> dict:
    """The diagnostics of the pairs of the build at `location`: over all pairs, per site and per
    split (file split: train, test). Shares are over the pairs where they are defined (older: pairs
    with both dates); equal lengths or times count as not longer, not older."""
    folder = BuildFolder(location)
    frames = [_signals(storage.read_frame(path, _COLUMNS)) for path in folder.files("pairs")]
    signals = pl.concat(frames) if frames else _signals(folder.frame("pairs", columns=_COLUMNS))
    return {"all": signals.select(_AGGREGATES).to_dicts()[0], "sites": _by(signals, "site"),
            "splits": _by(signals, "split")}
