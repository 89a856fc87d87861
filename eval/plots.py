"""The report's PNG plots, drawn on matplotlib `Figure` objects (Agg, no pyplot state, no display):
accuracy by pm-margin bucket with its CIs, the reward-margin histogram, and win/tie/loss bars."""

from pathlib import Path

import numpy as np

ACCURACY_PLOT = "accuracy_by_margin.png"
MARGIN_PLOT = "margin_histogram.png"
WIN_PLOT = "win_tie_loss.png"


def _figure(width: float = 6.0, height: float = 3.6):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def accuracy_by_margin(section: dict, scorer: str, path: Path) -> Path | None:
    """Bars per pm_score margin bucket, 95% CI whiskers, the chance line labelled beside the axes (a legend
    would cover the bars' n labels); None, and no file, when the data has fewer than two buckets."""
    groups = section.get("by_margin_bucket") or {}
    if len(groups) < 2:
        return None
    labels = list(groups)
    values = np.array([groups[k]["accuracy"] for k in labels])
    lows = values - np.array([groups[k]["accuracy_ci"][0] for k in labels])
    highs = np.array([groups[k]["accuracy_ci"][1] for k in labels]) - values
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(labels, values, yerr=[lows, highs], capsize=6, color="#4c72b0")
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.annotate("chance", (1, 0.5), xycoords=("axes fraction", "data"), xytext=(3, 0), textcoords="offset points",
                ha="left", va="center", color="grey", fontsize=8, annotation_clip=False)  # right of the axes
    for x, group in enumerate(labels):
        ax.annotate(f"n={groups[group]['n']}", (x, 0.02), ha="center", color="white", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("pm_score margin (chosen - rejected)")
    ax.set_ylabel("reward accuracy")
    ax.set_title(f"Reward accuracy by margin ({scorer}), 95% CI")
    fig.savefig(path)
    return path


def zero_edged_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """About `bins` equal bins with an edge at exactly 0, so no bin holds both right and wrong pairs."""
    low, high = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    width = (high - low) / bins or 1.0
    first = np.floor(low / width)
    return np.arange(first, max(np.ceil(high / width), first + 1) + 1) * width


def margin_histogram(margins: np.ndarray, scorer: str, path: Path) -> Path | None:
    """Margins below 0 (wrong) in red, from 0 up (right; exactly 0 is a tie) in green; None when empty."""
    margins = np.asarray(margins, dtype=np.float64)
    if not margins.size:
        return None
    edges = zero_edged_bins(margins, min(40, max(5, len(margins) // 5)))
    counts, _ = np.histogram(margins, edges)
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge",
           color=np.where(edges[:-1] < 0, "#c44e52", "#55a868"))
    ax.axvline(0, color="black", linewidth=1)
    ax.set_xlabel(f"{scorer}: chosen - rejected")
    ax.set_ylabel("pairs")
    wrong = int((margins < 0).sum())
    ax.set_title(f"Reward margins: {wrong} of {len(margins)} pairs below 0 (wrong)")
    fig.savefig(path)
    return path


def win_tie_loss(result: dict, path: Path) -> Path:
    """Wins, ties and losses as three bars, shares of the comparisons, each with its count."""
    fig = _figure(6.0, 3.2)
    ax = fig.add_subplot()
    names = ("wins", "ties", "losses")
    shares = [result[name] for name in names]
    bars = ax.bar(names, shares, color=["#55a868", "#c0c0c0", "#c44e52"])
    ax.bar_label(bars, [f"{share:.0%} ({round(share * result['n'])})" for share in shares], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of comparisons (both orders)")
    ax.set_title(f"Win rate {result['win_rate']:.1%} (LC {result['lc_win_rate']:.1%}), n={result['n']}")
    fig.savefig(path)
    return path
