"""report.json (every number, the config, the data hash, model ids, versions) and report.md (the same
as tables people can read, with the plots)."""

import json
from pathlib import Path

from stackpref.eval import plots

from stackpref.output.manifest import package_versions

REPORT_JSON, REPORT_MD, GENERATIONS = "report.json", "report.md", "generations.jsonl"
FORMAT = 1  # bump when report.json changes shape; `--compare` checks it
_VERSIONED = ("torch", "transformers", "peft", "bitsandbytes", "evaluate", "datasets", "numpy", "matplotlib", "trl",
              "vllm")
SCORER_TITLES = {
    "implicit_reward": "implicit DPO reward: beta * (log pi - log pi_ref)",
    "reward_model": "reward model score",
    "logprob_sum": "summed log-prob (reference-free)",
    "logprob_mean": "mean log-prob per token (reference-free)",
}


def versions() -> dict:
    return package_versions(_VERSIONED)


def write(report: dict, out: Path, margins, comparisons: list[dict] | None = None) -> list[Path]:
    """report.json, the plots, report.md (which links them) and, with a win rate, generations.jsonl
    (every comparison with both verdicts); returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    primary = report["primary_scorer"]
    written = [out / REPORT_JSON,
               plots.accuracy_by_margin(report["reward_accuracy"][primary], primary, out / plots.ACCURACY_PLOT),
               plots.margin_histogram(margins, primary, out / plots.MARGIN_PLOT)]
    if report["win_rate"]:
        written.append(plots.win_tie_loss(report["win_rate"], out / plots.WIN_PLOT))
        with (out / GENERATIONS).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in comparisons)
        written.append(out / GENERATIONS)
    (out / REPORT_MD).write_text(markdown(report), encoding="utf-8")
    return [*written, out / REPORT_MD]


def _ci(values: list[float], pct: bool = True) -> str:
    low, high = values
    return f"[{low:.1%}, {high:.1%}]" if pct else f"[{low:.4g}, {high:.4g}]"


def _row(label: str, m: dict) -> str:
    return (f"| {label} | {m['accuracy']:.1%} | {_ci(m['accuracy_ci'])} | {m['mean_margin']:.4g} | "
            f"{_ci(m['mean_margin_ci'], pct=False)} | {m['n']:,} | {m['ties']:,} |")


_HEAD = ("| {what} | accuracy | 95% CI | mean margin | 95% CI | n | ties |\n"
         "| --- | ---: | --- | ---: | --- | ---: | ---: |")


def markdown(report: dict) -> str:
    data, checkpoint = report["data"], report["checkpoint"]
    facts = [
        f"checkpoint: {checkpoint['kind']}" + (f" ({checkpoint['stage']} run)" if checkpoint.get("stage") else "")
        + (f", base `{checkpoint['base']}`" if checkpoint.get("base") else "")
        + (", 4-bit NF4" if checkpoint["load_in_4bit"] else ""),
        f"reference: {report['reference']['description']} (cache: {report['reference']['cache']})"
        if report["reference"] else "reference: none (reference-free scores only)",
        f"data: `{data['source']}` split `{data['split']}`, {data['scored']:,} pairs scored"
        + (f" ({data['dropped_over_max_length']:,} over --max-length dropped)" if data["dropped_over_max_length"] else "")
        + f", hash `{data['hash']}`",
        *([f"beta: {report['beta']}"] if report["beta"] is not None else []),
        f"speed: {report['pairs_per_second']:,.1f} pairs/s (seconds: {report['seconds']})",
    ]
    lines = [
        f"# Eval of `{checkpoint['path']}`",
        "",
        *(f"- {fact}" for fact in facts),
        "",
        "## Reward accuracy",
        "",
        ("Share of pairs whose chosen response scores higher (ties count half, as in RewardBench), and the mean "
         "score margin (chosen - rejected), with seeded bootstrap 95% confidence intervals."),
        "",
        _HEAD.format(what="scorer"),
        *(_row(name, section["overall"]) for name, section in report["reward_accuracy"].items()),
        "",
    ]
    primary = report["primary_scorer"]
    section = report["reward_accuracy"][primary]
    for key, title in (("by_margin_bucket", "pm_score margin"), ("by_site", "site"),
                       ("by_longer_side", "longer side (characters)")):
        if section.get(key):
            lines += [f"### {SCORER_TITLES[primary]}, by {title}", "", _HEAD.format(what=title),
                      *(_row(label, m) for label, m in section[key].items()), ""]
    lines += [f"![accuracy by margin]({plots.ACCURACY_PLOT})", "", f"![reward margins]({plots.MARGIN_PLOT})", ""]
    win = report["win_rate"]
    if win:
        lines += [
            "## Win rate",
            "",
            (f"Judge: {win['judge']}. Baseline: {win['baseline']}. Each comparison is judged with the model's "
             "answer first and second; it is a win or a loss only when both orders agree, a tie otherwise. The win "
             "rate counts ties half; the length-controlled (LC) win rate is a logistic model's prediction at zero "
             "length difference."),
            "",
            ("| win rate | 95% CI | LC win rate | 95% CI | wins | ties | losses | orders agree | n | "
             "mean length (chars) model / baseline |"),
            "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
            (f"| {win['win_rate']:.1%} | {_ci(win['win_rate_ci'])} | {win['lc_win_rate']:.1%} | "
             f"{_ci(win['lc_win_rate_ci'])} | {win['wins']:.1%} | {win['ties']:.1%} | {win['losses']:.1%} | "
             f"{win['position_agreement']:.1%} | {win['n']} | {win['mean_model_length']:.0f} / "
             f"{win['mean_baseline_length']:.0f} |"),
            "",
            f"![win/tie/loss]({plots.WIN_PLOT})",
            "",
        ]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)
