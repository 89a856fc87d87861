"""The output rows as written: TRL's column names (prompt/chosen/rejected, prompt/completion) plus
the metadata, in the dtypes of stackpref.schema."""

import polars as pl

from stackpref.schema import MESSAGE_COLUMNS, PAIRS, SFT


def _dtypes(schema) -> dict:
    return dict(pl.from_arrow(schema.empty_table()).schema)


def _licences(*columns: str) -> pl.Expr:
    """The distinct licences of a row's parts, sorted: `CC BY-SA 3.0, CC BY-SA 4.0`."""
    return pl.concat_list(columns).list.drop_nulls().list.unique().list.sort().list.join(", ")


def sft_output(rows: pl.DataFrame) -> pl.DataFrame:
    rows = rows.with_columns(license=_licences("question_license", "license"))
    return rows.select(
        "prompt", pl.col("response").alias("completion"), "site", "question_id", "answer_id", "score",
        "pm_score", "accepted", "prompt_length", pl.col("response_length").alias("completion_length"),
        "question_author", pl.col("author").alias("answer_author"), "question_url", "license",
        "cluster_id", "split",
    ).cast(_dtypes(SFT))


def pairs_output(pairs: pl.DataFrame) -> pl.DataFrame:
    pairs = pairs.with_columns(license=_licences("question_license", "chosen_license", "rejected_license"))
    return pairs.select(
        "prompt", pl.col("chosen_response").alias("chosen"), pl.col("rejected_response").alias("rejected"),
        "site", "question_id", pl.col("chosen_answer_id").alias("chosen_id"),
        pl.col("rejected_answer_id").alias("rejected_id"), "chosen_score", "rejected_score",
        "chosen_pm_score", "rejected_pm_score", "chosen_accepted", "rejected_accepted", "margin",
        "prompt_length", pl.col("chosen_response_length").alias("chosen_length"),
        pl.col("rejected_response_length").alias("rejected_length"), "question_author", "chosen_author",
        "rejected_author", "question_url", "license", "cluster_id", "split", "chosen_creation_date",
        "rejected_creation_date",
    ).cast(_dtypes(PAIRS))


OUTPUTS = {"pairs": pairs_output, "sft": sft_output}


def _turn(role: str, content: pl.Expr) -> pl.Expr:
    return pl.struct(role=pl.lit(role), content=content)


def as_messages(table: pl.DataFrame, config_name: str, system_message: str | None) -> pl.DataFrame:
    """An output table (`OUTPUTS`) in TRL's conversational format: the prompt becomes [system,] user
    turns, each response one assistant turn (stackpref.schema.MESSAGE_COLUMNS); the rest unchanged."""
    system = [] if system_message is None else [_turn("system", pl.lit(system_message))]
    return table.with_columns(
        prompt=pl.concat_list([*system, _turn("user", pl.col("prompt"))]),
        **{name: pl.concat_list([_turn("assistant", pl.col(name))]) for name in MESSAGE_COLUMNS[config_name][1:]},
    )
