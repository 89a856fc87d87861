"""manifest.json: the resolved config, input checksums, counts at every stage, versions."""

import platform
from importlib import metadata

import polars as pl

from stackpref._version import __version__
from stackpref.config import BuildConfig
from stackpref.pipeline.funnel import Funnel
from stackpref.steps.near_dup import MINHASH_VERSION
from stackpref.steps.text import NORMALIZATION_VERSION

SCORING = (
    "pm_score = round(log2(1 + score)) (half up), -1 when score < 0, +1 when accepted "
    "(Askell et al. 2021); score is the dump's net Score (up minus down votes)"
)
_VERSIONED = ("polars", "pyarrow", "lxml", "html-to-markdown", "xxhash", "py7zr", "transformers", "tokenizers")


def package_versions(names: tuple[str, ...] = _VERSIONED) -> dict[str, str]:
    """Python, stackpref and each installed package of `names` (the build's by default), for the
    manifest and the train/eval records."""
    versions = {"python": platform.python_version(), "stackpref": __version__}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _per_site(written: pl.DataFrame) -> dict:
    counts: dict[str, dict[str, int]] = {}
    rows = written.group_by("site", "config", "split").len().sort("site", "config", "split")
    for site, config, split, n in rows.iter_rows():
        key = f"{config}/{'test' if split == 'test' else 'train'}"
        counts.setdefault(site, {})[key] = counts.get(site, {}).get(key, 0) + n
    return counts


def _per_licence(written: pl.DataFrame) -> dict:
    """Rows per `license` value and config: which CC BY-SA versions the data is under (a pair's
    value lists every version among its question and answers)."""
    counts: dict[str, dict[str, int]] = {}
    rows = (written.group_by("config", "license").len().with_columns(pl.col("license").cast(pl.String))
            .sort("config", "license", nulls_last=True))
    for config, licence, n in rows.iter_rows():
        counts.setdefault(config, {})[licence or "unknown"] = n
    return counts


def split_counts(files: dict) -> dict:
    """`{config: {file split: rows}}` from the manifest's `files` (0 for a split without files)."""
    return {name: {split: sum(f["rows"] for f in files.get(f"{name}/{split}", [])) for split in ("train", "test")}
            for name in ("pairs", "sft")}


def row_counts(written: pl.DataFrame) -> dict:
    """The manifest's counts that come from the rows themselves (`sites`, `licenses`, `margins`), given
    (site, split, config, margin, license) of every output row: what validate recomputes from the files."""
    margins = written.filter(pl.col("config") == "pairs").group_by("margin").len().sort("margin", nulls_last=True)
    return {
        "sites": _per_site(written),
        "licenses": _per_licence(written),
        "margins": {str(m) if m is not None else "unknown": n for m, n in margins.iter_rows()},
    }


def render(*, config: BuildConfig, inputs: list[dict], funnel: Funnel, written: pl.DataFrame, overlap: dict,
           files: dict, length_unit: str, clusters: dict, boilerplate: dict,
           skipped_sources: list[dict] = ()) -> dict:
    """`written` has (site, question_id, cluster_id, split, config, margin, license) of every output row.
    `inputs`: the sources the build read; `skipped_sources`: those --on-bad-input skip left out, each
    with its location, site, kind, the reason (the error that stopped its read), bytes and sha256."""
    splits = split_counts(files)
    return {
        "stackpref_version": __version__,
        "config": config.to_dict(),
        "inputs": inputs,
        "skipped_sources": list(skipped_sources),
        "scoring": SCORING,
        "normalization": NORMALIZATION_VERSION,
        "minhash": MINHASH_VERSION if config.near_dup else None,
        "length_unit": length_unit,
        "counts": {
            "funnel": funnel.to_dict(),
            "splits": splits,
            **row_counts(written),
            "question_clusters": clusters,
            "answers_shared_across_questions": boilerplate,
        },
        "overlap_check": overlap,
        "files": files,
        "versions": package_versions(),
    }
