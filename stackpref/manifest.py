"""manifest.json: the resolved config, input checksums, counts at every stage, versions."""

import platform
from importlib import metadata

import polars as pl

from ._version import __version__
from .config import BuildConfig
from .funnel import Funnel
from .sources import Source
from .text import NORMALIZATION_VERSION

SCORING = (
    "pm_score = round(log2(1 + score)) (half up), -1 when score < 0, +1 when accepted "
    "(Askell et al. 2021); score is the dump's net Score (up minus down votes)"
)
_VERSIONED = ("polars", "pyarrow", "lxml", "html-to-markdown", "xxhash", "py7zr", "transformers", "tokenizers")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "stackpref": __version__}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _per_site(pairs: pl.DataFrame, sft: pl.DataFrame) -> dict:
    counts: dict[str, dict[str, int]] = {}
    for config, frame in (("pairs", pairs), ("sft", sft)):
        for site, split, n in frame.group_by("site", "split").len().sort("site", "split").iter_rows():
            counts.setdefault(site, {})[f"{config}/{'test' if split == 'test' else 'train'}"] = n
    return dict(sorted(counts.items()))


def render(*, config: BuildConfig, sources: list[Source], funnel: Funnel, pairs: pl.DataFrame, sft: pl.DataFrame,
           overlap: dict, files: dict, length_unit: str) -> dict:
    margins = pairs.group_by("margin").len().sort("margin", nulls_last=True)
    return {
        "stackpref_version": __version__,
        "config": config.to_dict(),
        "inputs": [source.describe() for source in sources],
        "scoring": SCORING,
        "normalization": NORMALIZATION_VERSION,
        "length_unit": length_unit,
        "counts": {
            "funnel": funnel.to_dict(),
            "splits": {
                "pairs": {"train": pairs.filter(pl.col("split") == "train").height,
                          "test": pairs.filter(pl.col("split") == "test").height},
                "sft": {"train": sft.filter(pl.col("split") == "sft").height,
                        "test": sft.filter(pl.col("split") == "test").height},
            },
            "sites": _per_site(pairs, sft),
            "margins": {str(m) if m is not None else "unknown": n for m, n in margins.iter_rows()},
        },
        "overlap_check": overlap,
        "files": files,
        "versions": package_versions(),
    }
