"""`stackpref inspect`: what a build holds, read back from its files (not from its own claims)."""

import json
from pathlib import Path

import polars as pl

from stackpref.errors import InputError
from stackpref.output.leakage import overlap_check

_SNIPPET = 160


_KEYS = ["site", "question_id", "cluster_id", "split"]


def _files(out: Path, config: str) -> list[Path]:
    files = sorted((out / "data" / config).glob("*.parquet"))
    if not files:
        raise InputError(f"{out}: no data/{config}/*.parquet; is this a stackpref build?")
    return files


def _read(out: Path, config: str, columns: list[str]) -> pl.DataFrame:
    """Only the key columns (texts stay on disk), with the split its file name gives."""
    return pl.concat([
        pl.read_parquet(f, columns=columns).with_columns(file_split=pl.lit(f.name.split("-")[0]))
        for f in _files(out, config)
    ])


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def summarize(out: str | Path, examples: int = 3) -> dict:
    out = Path(out)
    pairs, sft = _read(out, "pairs", [*_KEYS, "margin"]), _read(out, "sft", _KEYS)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    sites: dict[str, dict[str, int]] = {}
    for config, frame in (("pairs", pairs), ("sft", sft)):
        for site, split, n in frame.group_by("site", "file_split").len().sort("site", "file_split").iter_rows():
            sites.setdefault(site, {})[f"{config}/{split}"] = n
    margins = pairs.group_by("margin").len().sort("margin", nulls_last=True)
    return {
        "out": str(out),
        "splits": {
            config: {split: frame.filter(pl.col("file_split") == split).height for split in ("train", "test")}
            for config, frame in (("pairs", pairs), ("sft", sft))
        },
        "sites": sites,
        "margins": {str(m) if m is not None else "unknown": n for m, n in margins.iter_rows()},
        "overlap_check": overlap_check(pl.concat([pairs.select(_KEYS), sft.select(_KEYS)])),
        "length_unit": manifest.get("length_unit"),
        "examples": [
            {"question_url": r["question_url"], "margin": r["margin"], "prompt": _snippet(r["prompt"]),
             "chosen": _snippet(r["chosen"]), "rejected": _snippet(r["rejected"])}
            for r in _examples(out, examples)
        ],
    }


def _examples(out: Path, n: int) -> list[dict]:
    """The first `n` pairs of the first non-empty pairs file."""
    for path in _files(out, "pairs"):
        head = pl.read_parquet(path, n_rows=n)
        if head.height:
            return head.to_dicts()
    return []


def print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    splits = Table(title=f"{summary['out']}: rows per split")
    for column in ("config", "train", "test"):
        splits.add_column(column, justify="right" if column != "config" else "left")
    for config, counts in summary["splits"].items():
        splits.add_row(config, f"{counts['train']:,}", f"{counts['test']:,}")
    console.print(splits)
    sites = Table(title="per site")
    for column in ("site", "pairs/train", "pairs/test", "sft/train", "sft/test"):
        sites.add_column(column, justify="right" if column != "site" else "left")
    for site, counts in summary["sites"].items():
        sites.add_row(site, *(f"{counts.get(c, 0):,}" for c in ("pairs/train", "pairs/test", "sft/train", "sft/test")))
    console.print(sites)
    total = max(1, sum(summary["margins"].values()))
    console.print("[bold]margin histogram[/bold] (chosen pm_score - rejected pm_score)")
    for margin, n in summary["margins"].items():
        console.print(f"  {margin:>7}  {n:>8,}  " + "█" * max(1, round(40 * n / total)))
    check = summary["overlap_check"]
    verdict = "[green]passed[/green]" if check["passed"] else "[red]FAILED[/red]"
    console.print(
        f"leakage check {verdict}: {check['questions_in_two_splits']} of {check['questions_checked']:,} questions "
        f"and {check['clusters_in_two_splits']} of {check['clusters_checked']:,} clusters in two splits"
    )
    for example in summary["examples"]:
        console.print(f"\n[bold]{example['question_url']}[/bold] (margin {example['margin']})")
        for side in ("prompt", "chosen", "rejected"):
            console.print(f"  [cyan]{side}[/cyan]: {example[side]}", markup=True, highlight=False)
