"""`stackpref inspect`: what a build holds, read back from its files (not from its own claims)."""

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from stackpref.output import storage
from stackpref.output.bias import MEANINGS, pair_bias
from stackpref.output.folder import MANIFEST, BuildFolder
from stackpref.output.leakage import overlap_check
from stackpref.splits import CONFIGS, FILE_SPLITS

_SNIPPET = 160
_EXAMPLE = ["question_url", "margin", "prompt", "chosen", "rejected"]
# "config/file split" of a key row, from its config and question split: where the row is stored.
_STORED_IN = pl.concat_str("config", pl.lit("/"), "split").replace_strict(
    {f"{config}/{question}": f"{config}/{file}" for config, splits in FILE_SPLITS.items()
     for file, question in splits.items()})


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def summarize(out: str | Path, examples: int = 3) -> dict:
    """Only the key columns are read (texts stay in storage), and a few rows for the examples."""
    folder = BuildFolder(out)
    keys = folder.keys(["margin"]).with_columns(stored_in=_STORED_IN)
    stored = dict(keys.group_by("stored_in").len().iter_rows())
    sites: dict[str, dict[str, int]] = {}
    for site, stored_in, n in keys.group_by("site", "stored_in").len().sort("site", "stored_in").iter_rows():
        sites.setdefault(site, {})[stored_in] = n
    margins = keys.filter(pl.col("config") == "pairs").group_by("margin").len().sort("margin", nulls_last=True)
    return {
        "out": folder.location,
        "splits": {config: {split: stored.get(f"{config}/{split}", 0) for split in FILE_SPLITS[config]}
                   for config in CONFIGS},
        "sites": sites,
        "margins": {str(m) if m is not None else "unknown": n for m, n in margins.iter_rows()},
        "overlap_check": overlap_check(keys),
        "bias": pair_bias(folder.location),
        "length_unit": folder.manifest.get("length_unit") if folder.has(MANIFEST) else None,
        "examples": [
            {"question_url": r["question_url"], "margin": r["margin"], "prompt": _snippet(r["prompt"]),
             "chosen": _snippet(r["chosen"]), "rejected": _snippet(r["rejected"])}
            for r in _examples(folder, examples)
        ],
    }


def _examples(folder: BuildFolder, n: int) -> list[dict]:
    """The first `n` pairs of the first non-empty pairs file (by name), reading a batch, not the file."""
    for location in folder.files("pairs"):
        with storage.open_input(location) as handle:
            batch = next(pq.ParquetFile(handle).iter_batches(batch_size=max(n, 1), columns=_EXAMPLE), None)
        if batch is not None and batch.num_rows:
            return batch.to_pylist()[:n]
    return []


def _bias_table(bias: dict, unit: str | None, table_type, escape):
    """The bias diagnostics (output/bias.py) over all pairs and per site, as the card shows them."""
    from stackpref.output.card import bias_value

    table = table_type(title=f"bias diagnostics (lengths in {unit or 'the build unit'}; see the card for what each means)")
    table.add_column("pairs of")
    for column in ("pairs", *(heading for heading, _ in MEANINGS.values())):
        table.add_column(column, justify="right")
    for scope, numbers in [("all", bias["all"]), *bias["sites"].items()]:
        table.add_row(escape(scope), f"{numbers['pairs']:,}", *(bias_value(numbers[name], name) for name in MEANINGS))
    return table


def print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    splits = Table(title=f"{escape(str(summary['out']))}: rows per split")
    for column in ("config", "train", "test"):
        splits.add_column(column, justify="right" if column != "config" else "left")
    for config, counts in summary["splits"].items():
        splits.add_row(config, f"{counts['train']:,}", f"{counts['test']:,}")
    console.print(splits)
    sites = Table(title="per site")
    for column in ("site", "pairs/train", "pairs/test", "sft/train", "sft/test"):
        sites.add_column(column, justify="right" if column != "site" else "left")
    for site, counts in summary["sites"].items():
        sites.add_row(escape(site), *(f"{counts.get(c, 0):,}" for c in ("pairs/train", "pairs/test", "sft/train", "sft/test")))
    console.print(sites)
    total = max(1, sum(summary["margins"].values()))
    console.print("[bold]margin histogram[/bold] (chosen pm_score - rejected pm_score)")
    for margin, n in summary["margins"].items():
        console.print(f"  {escape(margin):>7}  {n:>8,}  " + "█" * max(1, round(40 * n / total)), highlight=False)
    console.print(_bias_table(summary["bias"], summary["length_unit"], Table, escape))
    check = summary["overlap_check"]
    verdict = "[green]passed[/green]" if check["passed"] else "[red]FAILED[/red]"
    console.print(
        f"leakage check {verdict}: {check['questions_in_two_splits']} of {check['questions_checked']:,} questions "
        f"and {check['clusters_in_two_splits']} of {check['clusters_checked']:,} clusters in two splits"
    )
    for example in summary["examples"]:
        console.print(f"\n[bold]{escape(str(example['question_url']))}[/bold] (margin {example['margin']})",
                      highlight=False)
        for side in ("prompt", "chosen", "rejected"):  # text from the data: shown as it is, never as markup
            console.print(f"  [cyan]{side}[/cyan]: {escape(str(example[side]))}", markup=True, highlight=False)
