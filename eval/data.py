"""Held-out pairs for eval, from a build folder, a Hub repo, or any Parquet/JSONL file of pairs, as one
polars table with `prompt`, `chosen`, `rejected` and whatever metadata the source has (site, margin).
The three are text (standard format) or message lists of role/content (TRL's conversational format).

Pairs given as whole dialogues (`chosen`/`rejected` only) are split at their shared prefix exactly as
TRL's `extract_prompt` splits them, quirks included, so DPOTrainer sees the same pairs. Files may be
gzip-compressed (`.jsonl.gz`, `.json.gz`, as hh-rlhf publishes them).
"""

import gzip
import os
import posixpath

import polars as pl
import pyarrow as pa
import xxhash
from stackpref.eval.chat import prompt_key

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.output.folder import BuildFolder

TEXT = ("prompt", "chosen", "rejected")
_REPO_ID = r"^[A-Za-z0-9][\w.-]*/[\w.-]+$"


def describe_input(data: str, split: str | None) -> str:
    """What was read, as the report names it (`split` None: a file, taken whole)."""
    return f"file `{data}`" if split is None else f"`{data}` split `{split}`"


def load_pairs(data: str, split: str = "test", limit: int | None = None) -> pl.DataFrame:
    """The pairs of `split` in `data` (a build folder, local or at a URI such as s3://..., or a Hub
    repo; a file is taken whole)."""
    found = storage.kind(data)
    if found == "dir":
        frame = BuildFolder(data).frame("pairs", split)
    elif found == "file":
        frame = _read_file(data)
    elif pl.Series([data]).str.contains(_REPO_ID).item():
        frame = _read_repo(data, split)
    else:
        raise InputError(f"--data {data}: no such file or folder, and not a Hub dataset id (owner/name)")
    frame = _with_prompt(frame, data)
    if limit is not None:
        frame = frame.head(limit)
    if frame.is_empty():
        raise InputError(f"--data {data}: the {split!r} pairs are empty")
    return frame


def _read_file(location: str) -> pl.DataFrame:
    stem, suffix = posixpath.splitext(location)
    compressed = suffix == ".gz"
    if compressed:
        suffix = posixpath.splitext(stem)[1]
    try:
        if suffix == ".parquet" and not compressed:
            return storage.read_frame(location)
        if suffix in (".jsonl", ".json"):
            with storage.open_input(location) as handle:
                raw = gzip.decompress(handle.read()) if compressed else handle.read()
            return pl.read_ndjson(raw)
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError, EOFError) as exc:
        raise InputError(f"{location}: not readable as {suffix[1:]}{'.gz' if compressed else ''} "
                         f"({str(exc).splitlines()[0]})") from None
    raise InputError(f"{location}: pairs must be a .parquet, .jsonl or .json file (optionally .gz)")


def _read_repo(repo: str, split: str) -> pl.DataFrame:
    import stackpref

    dataset = stackpref.load(repo, config="pairs")
    if split not in dataset:
        raise InputError(f"{repo}: no {split!r} split (it has {', '.join(dataset)})")
    return pl.from_arrow(dataset[split].data.table)


def _with_prompt(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    missing = [c for c in ("chosen", "rejected") if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: the pairs lack the column(s) {', '.join(missing)} (need prompt/chosen/rejected, "
                         "or chosen/rejected holding whole dialogues)")
    present = [c for c in TEXT if c in frame.columns]
    kinds = {c: _kind(frame.schema[c]) for c in present}
    if None in kinds.values() or len(set(kinds.values())) > 1:
        found = ", ".join(f"{c} {frame.schema[c]}" for c in present)
        raise InputError(f"{source}: prompt/chosen/rejected must all be text or all be message lists "
                         f"(role/content); found {found}")
    messages = kinds[present[0]] == "messages"
    if messages and "prompt" not in frame.columns:
        raise InputError(f"{source}: conversational pairs need a prompt column (message lists of whole dialogues "
                         "are not split); write them with prompt, chosen and rejected")
    empty = [pl.col(c).is_null() | (pl.col(c).list.len() == 0 if messages else False) for c in present]
    nulls = frame.select(pl.any_horizontal(empty).arg_true()).to_series()
    if len(nulls):
        raise InputError(f"{source}: row {nulls[0]} has an empty prompt, chosen or rejected")
    if "prompt" not in frame.columns:
        short = frame.select(pl.min_horizontal(pl.col("chosen").str.len_chars(), pl.col("rejected").str.len_chars())
                             == 0).to_series().arg_true()
        if len(short):
            raise InputError(f"{source}: row {short[0]} has an empty chosen or rejected dialogue (no prompt to "
                             "extract)")
        split = [extract_prompt(c, r) for c, r in zip(frame["chosen"], frame["rejected"])]
        frame = frame.with_columns(prompt=pl.Series([s[0] for s in split]), chosen=pl.Series([s[1] for s in split]),
                                   rejected=pl.Series([s[2] for s in split]))
    return frame


def _kind(dtype) -> str | None:
    """"text", "messages" (a list of role/content structs, TRL's conversational format), or None."""
    if dtype == pl.String:
        return "text"
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
        fields = {f.name: f.dtype for f in dtype.inner.fields}
        if fields.get("role") == pl.String and fields.get("content") == pl.String:
            return "messages"
    return None


def extract_prompt(chosen: str, rejected: str) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) as TRL's `extract_prompt` gives them: cut at the first differing
    character, one back when the character before it is a space (TRL reads index -1, the last
    character, when the very first differs); when one dialogue is a prefix of the other, cut one
    character before the shorter one's end, so neither response is empty."""
    shortest = min(len(chosen), len(rejected))
    cut = len(os.path.commonprefix([chosen, rejected]))
    if cut < shortest:
        if chosen[cut - 1] == " ":
            cut -= 1
    else:
        cut = shortest - 1
    return chosen[:cut], chosen[cut:], rejected[cut:]


def data_hash(frame: pl.DataFrame) -> str:
    """xxh3-128 of the prompt, chosen and rejected texts (message lists as sorted-key JSON) in order: what
    the pairs were, in 32 hex digits."""
    digest = xxhash.xxh3_128()
    for prompt, chosen, rejected in frame.select(TEXT).iter_rows():
        for value in (prompt, chosen, rejected):
            text = prompt_key(value)
            encoded = text.encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)
    return digest.hexdigest()


def pm_margin_bucket(frame: pl.DataFrame) -> pl.Series | None:
    """The build's pm_score margin as "1", "2", "3+" ("unknown" where the source gave none), or None."""
    if "margin" in frame.columns:
        margin = pl.col("margin")
    elif {"chosen_pm_score", "rejected_pm_score"} <= set(frame.columns):
        margin = pl.col("chosen_pm_score") - pl.col("rejected_pm_score")
    else:
        return None
    bucket = pl.when(margin.is_null()).then(pl.lit("unknown")).when(margin >= 3).then(pl.lit("3+"))
    return frame.select(bucket.otherwise(margin.cast(pl.String)).alias("bucket")).to_series()
