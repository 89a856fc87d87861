"""manifest.json: the resolved config, input checksums, counts at every stage, versions."""

import hashlib
import os
import platform
from importlib import metadata
from pathlib import Path, PurePath

import polars as pl

from stackpref._version import __version__
from stackpref.config import BuildConfig, site_paths
from stackpref.pipeline.funnel import Funnel
from stackpref.steps.near_dup import MINHASH_VERSION
from stackpref.steps.text import NORMALIZATION_VERSION

SCORING = (
    "pm_score = round(log2(1 + score)) (half up), -1 when score < 0, +1 when accepted "
    "(Askell et al. 2021); score is {score}"
)
NET_SCORE = "the dump's net Score (up minus down votes)"
WINDOW_SCORE = "the up minus down votes of Votes.xml cast in the answer's first {days} days (--score-window)"
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


def length_balance(funnel: Funnel) -> dict:
    """What --balance-length kept: the pairs before it (the pairs stage's survivors plus its drops;
    it is the last pair step) and the share kept."""
    pairs = funnel.stages.get("pairs")
    kept = pairs.kept if pairs else 0
    before = kept + (pairs.dropped.get("length_balance", 0) if pairs else 0)
    return {"pairs_before": before, "pairs_kept": kept, "kept_share": kept / before if before else None}


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


# Options that hold local paths (as given), and `site` entries (PATH=HOST): shown without the machine's folders.
_PATH_OPTIONS = ("sources", "out", "tmp_dir", "tokenizer", "chat_template")


def shown_path(location, *, folder: bool = False):
    """A location as the published manifest holds it: never a local absolute path. A URI, a Hub id
    and a relative path stay as given (a relative path still means the same from the same working
    folder, so `stackpref build --config OUT/manifest.json` reproduces the build); an absolute path
    inside the working folder becomes relative to it, any other is shown by its name (`folder`: with
    its folder's name, as the card names a site's Posts.xml)."""
    if not isinstance(location, str) or not location or "://" in location or not PurePath(location).is_absolute():
        return location
    cwd = Path.cwd()
    path = Path(os.path.normpath(location))
    if cwd != Path(cwd.anchor) and path.is_relative_to(cwd):
        return str(path.relative_to(cwd))
    if folder and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or location


def _shown_reason(reason: str, location: str, shown: str) -> str:
    """An error message with the source's location, and the folder it lies in (a file beside it:
    PostLinks.xml), written as the manifest shows them."""
    if not isinstance(reason, str) or "://" in location:
        return reason
    for given in sorted({location, os.path.abspath(location)}, key=len, reverse=True):
        reason = reason.replace(given, shown)
    if PurePath(shown).is_absolute():
        return reason
    folders = {os.path.dirname(location), os.path.dirname(os.path.abspath(location))} - {"", "/"}
    for folder in sorted(folders, key=len, reverse=True):
        reason = reason.replace(folder + os.sep, (os.path.dirname(shown) or ".") + "/")
    return reason


def _shown_input(info: dict) -> dict:
    shown = {**info, "location": shown_path(info["location"], folder=info.get("kind") == "posts_xml")}
    if "companions" in info:
        shown["companions"] = [{**c, "location": shown_path(c["location"], folder=True)} for c in info["companions"]]
    if "reason" in info:
        shown["reason"] = _shown_reason(info["reason"], info["location"], shown["location"])
    return shown


def shown_config(config: dict) -> dict:
    """The resolved config with its local paths as `shown_path` writes them."""
    config = dict(config)
    for name in (name for name in _PATH_OPTIONS if name in config):
        value = config[name]
        config[name] = [shown_path(v) for v in value] if isinstance(value, (list, tuple)) else shown_path(value)
    if isinstance(config.get("site"), (list, tuple)):
        config["site"] = site_paths(config["site"], shown_path)
    return config


def render(*, config: BuildConfig, inputs: list[dict], funnel: Funnel, written: pl.DataFrame, overlap: dict,
           files: dict, length_unit: str, clusters: dict, boilerplate: dict, bias: dict,
           skipped_sources: list[dict] = (), chat_template: str | None = None) -> dict:
    """`written` has (site, question_id, cluster_id, split, config, margin, license) of every output row.
    `inputs`: the sources the build read; `skipped_sources`: those --on-bad-input skip left out, each
    with its location, site, kind, the reason (the error that stopped its read), bytes and sha256.
    `bias`: output/bias.pair_bias of the written pairs. `chat_template`: the template the lengths were
    counted with (conversational, with a tokenizer), kept whole so that training renders rows the same
    way wherever the template's file went.
    Every local path is written as `shown_path` writes it: the manifest is published with the data."""
    splits = split_counts(files)
    return {
        "stackpref_version": __version__,
        "config": shown_config(config.to_dict()),
        "inputs": [_shown_input(info) for info in inputs],
        "skipped_sources": [_shown_input(info) for info in skipped_sources],
        "scoring": SCORING.format(score=WINDOW_SCORE.format(days=config.score_window) if config.score_window
                                  else NET_SCORE),
        "normalization": NORMALIZATION_VERSION,
        "minhash": MINHASH_VERSION if config.near_dup else None,
        "length_unit": length_unit,
        "chat_template": None if chat_template is None else {
            "sha256": hashlib.sha256(chat_template.encode("utf-8")).hexdigest(), "text": chat_template},
        "counts": {
            "funnel": funnel.to_dict(),
            "splits": splits,
            **row_counts(written),
            "question_clusters": clusters,
            "answers_shared_across_questions": boilerplate,
            "pair_bias": bias,
            "length_balance": length_balance(funnel) if config.balance_length else None,
        },
        "overlap_check": overlap,
        "files": files,
        "versions": package_versions(),
    }
