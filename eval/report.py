"""report.json (every number, the config, the data hash, model ids, versions) and report.md (the same
as tables people can read, with the plots)."""

import json
from pathlib import Path

import numpy as np
from stackpref.eval import plots

from stackpref.output.manifest import package_versions

REPORT_JSON, REPORT_MD, GENERATIONS, PAIR_SCORES = "report.json", "report.md", "generations.jsonl", "pair_scores.npz"
FORMAT = 2  # bump when report.json changes shape; `--compare` checks it
_VERSIONED = ("torch", "transformers", "peft", "bitsandbytes", "evaluate", "datasets", "numpy", "matplotlib", "trl",
              "vllm", "scikit-learn")
SELF_JUDGED = ("**Self-judged:** the judge is this checkpoint's own implicit reward, scoring its own generations; "
               "biased toward the model by construction (--allow-self-judge).")
SCORER_TITLES = {
    "implicit_reward": "implicit DPO reward: beta * (log pi - log pi_ref)",
    "reward_model": "reward model score",
    "logprob_sum": "summed log-prob (reference-free)",
    "logprob_mean": "mean log-prob per token (reference-free)",
}


def versions() -> dict:
    return package_versions(_VERSIONED)


def write(report: dict, out: Path, scores: dict, kept, comparisons: list[dict] | None = None) -> list[Path]:
    """report.json, the plots that have something to show, report.md (which links them), with a win rate
    generations.jsonl (every comparison with both verdicts), and pair_scores.npz (each scored pair's row
    in the data and its scores, for `--compare`'s paired bootstrap); returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written = [out / REPORT_JSON]
    np.savez(out / PAIR_SCORES, kept=np.asarray(kept, dtype=np.int64), **scores)
    written.append(out / PAIR_SCORES)
    primary = report["primary_scorer"]
    margins = scores[primary][:, 0] - scores[primary][:, 1]
    plotted = [plots.accuracy_by_margin(report["reward_accuracy"][primary], primary, out / plots.ACCURACY_PLOT),
               plots.margin_histogram(margins, primary, out / plots.MARGIN_PLOT)]
    if report["win_rate"]:
        plotted.append(plots.win_tie_loss(report["win_rate"], out / plots.WIN_PLOT))
        with (out / GENERATIONS).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in comparisons)
        written.append(out / GENERATIONS)
    plotted = [path for path in plotted if path is not None]
    (out / REPORT_MD).write_text(markdown(report, [path.name for path in plotted]), encoding="utf-8")
    return [*written, *plotted, out / REPORT_MD]


def _ci(values: list[float], pct: bool = True) -> str:
    low, high = values
    return f"[{low:.1%}, {high:.1%}]" if pct else f"[{low:.4g}, {high:.4g}]"


def _row(label: str, m: dict) -> str:
    return (f"| {label} | {m['accuracy']:.1%} | {_ci(m['accuracy_ci'])} | {m['mean_margin']:.4g} | "
            f"{_ci(m['mean_margin_ci'], pct=False)} | {m['n']:,} | {m['ties']:,} |")


_HEAD = ("| {what} | accuracy | 95% CI | mean margin | 95% CI | n | ties |\n"
         "| --- | ---: | --- | ---: | --- | ---: | ---: |")


def _speed(report: dict) -> str:
    seconds = ", ".join(f"{name} {value:.1f} s" for name, value in report["seconds"].items())
    rate = report["pairs_per_second"]
    return (f"{rate:,.1f} pairs/s scored" if rate else "no pairs scored") + f" ({seconds})"


def _data_fact(data: dict) -> str:
    taken = data.get("from_train_config") or []
    fact = f"data: {data['input']}, {data['scored']:,} of {data['pairs']:,} pairs scored"
    if data["max_length"]:
        fact += (f"; {data['dropped_over_max_length']:,} dropped as longer than max_length {data['max_length']:,} "
                 "tokens" + (" (from the checkpoint's train_config.yaml)" if "max_length" in taken else ""))
    if "data" in taken:
        fact += "; the data the checkpoint was trained on (train_config.yaml)"
    return fact + f"; hash `{data['hash']}`"


def _format_fact(section: dict, data: dict) -> str:
    """Which prompt/response format was scored, with which chat template, from where."""
    where = "the data the checkpoint was trained on" if "data" in (data.get("from_train_config") or []) else "the data"
    if section["format"] == "standard":
        fact = f"format: standard (text prompt and responses of {where}, EOS appended to each response, as TRL does)"
    else:
        template, system = section["chat_template"], section["system_message"]
        fact = (f"format: conversational (message lists of {where}); chat template: {template['source']}, "
                f"xxh3 `{template['xxh3']}`"
                + (", overriding the one the checkpoint was trained with" if template["differs_from_training"] else "")
                + "; system message: "
                + (", ".join(f'"{t}"' for t in system["texts"]) + f" in {system['prompts_with_one']:,} of "
                   f"{system['of']:,} prompts" if system["prompts_with_one"] else "none"))
    trained = section.get("trained_on")
    if trained and trained != section["format"]:
        fact += f". **Warning:** the checkpoint was trained on {trained} data"
    elif trained and "system_message" in section and _other_system(section["system_message"]):
        fact += (". **Warning:** the checkpoint was trained with the system message "
                 f'"{section["system_message"]["trained_with"] or "(none)"}"')
    return fact


def _other_system(system: dict) -> bool:
    """Whether the prompts' system turns are not the one system message training's build put before all."""
    trained = system["trained_with"]
    return system["texts"] != ([trained] if trained else []) or system["prompts_with_one"] not in (0, system["of"])


def _prompts_fact(win: dict) -> str:
    used = win["prompts"]
    return f"{used['used']} prompts" + (f" of the {used['asked']} asked: {used['reason']}" if "reason" in used else "")


def markdown(report: dict, plotted: list[str] = ()) -> str:
    data, checkpoint = report["data"], report["checkpoint"]
    facts = [
        f"checkpoint: {checkpoint['kind']}" + (f" ({checkpoint['stage']} run)" if checkpoint.get("stage") else "")
        + (f", base `{checkpoint['base']}`" if checkpoint.get("base") else "")
        + (", 4-bit NF4" if checkpoint["load_in_4bit"] else ""),
        f"reference: {report['reference']['description']} (cache: {report['reference']['cache']})"
        if report["reference"] else "reference: none (reference-free scores only)",
        _data_fact(data),
        *([_format_fact(report["prompt_format"], data)] if report.get("prompt_format") else []),
        *([f"beta: {report['beta']}"] if report["beta"] is not None else []),
        f"speed: {_speed(report)}",
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
    lines += [f"![{name[:-4].replace('_', ' ')}]({name})\n" for name in plotted if name != plots.WIN_PLOT]
    win = report["win_rate"]
    if win:
        lines += [
            "## Win rate",
            "",
            *([SELF_JUDGED, ""] if win["self_judged"] else []),
            (f"Judge: {win['judge']}. Baseline: {win['baseline']}. {_prompts_fact(win)}. Each comparison is judged "
             "with the model's answer first and second; it is a win or a loss only when both orders agree, a tie "
             "otherwise. The win rate counts ties half. The length-controlled (LC) win rate is AlpacaEval 2's: an "
             "L1-regularized logistic model of the outcome on tanh(length difference / its std) and a model term, "
             f"C cross-validated over {win['lc_model']['folds']} folds (chosen C "
             f"{win['lc_model']['C'] or float('nan'):.3g}), predicted at zero length difference; instruction "
             f"difficulty {win['lc_model']['instruction_difficulty']}. Its bootstrap refits every resample at the "
             "chosen C."),
            "",
            *(f"**Warning:** {warning}." for warning in win["warnings"]),
            *([""] if win["warnings"] else []),
            ("| win rate | 95% CI | LC win rate | 95% CI | wins | ties | losses | orders agree | n | "
             "mean length (chars) model / baseline | length overlap |"),
            "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
            (f"| {win['win_rate']:.1%} | {_ci(win['win_rate_ci'])} | {win['lc_win_rate']:.1%} | "
             f"{_ci(win['lc_win_rate_ci'])} | {win['wins']:.1%} | {win['ties']:.1%} | {win['losses']:.1%} | "
             f"{win['position_agreement']:.1%} | {win['n']} | {win['mean_model_length']:.0f} / "
             f"{win['mean_baseline_length']:.0f} | {win['length_overlap']:.2f} |"),
            "",
            *([f"![win/tie/loss]({plots.WIN_PLOT})", ""] if plots.WIN_PLOT in plotted else []),
        ]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)


def terminal_table(report: dict) -> str:
    """The headline numbers, printed when a run ends: metric, value, 95% CI, n."""
    primary = report["primary_scorer"]
    overall = report["reward_accuracy"][primary]["overall"]
    rows = [(f"reward accuracy ({primary})", f"{overall['accuracy']:.1%}", _ci(overall["accuracy_ci"]), overall["n"]),
            (f"mean margin ({primary})", f"{overall['mean_margin']:.4g}", _ci(overall["mean_margin_ci"], pct=False),
             overall["n"])]
    win = report["win_rate"]
    if win:
        mark = " [self-judged]" if win["self_judged"] else ""
        rows += [(f"win rate{mark}", f"{win['win_rate']:.1%}", _ci(win["win_rate_ci"]), win["n"]),
                 (f"LC win rate{mark}", f"{win['lc_win_rate']:.1%}", _ci(win["lc_win_rate_ci"]), win["n"])]
    header = ("metric", "value", "95% CI", "n")
    cells = [header, *[(name, value, ci, f"{n:,}") for name, value, ci, n in rows]]
    widths = [max(len(row[k]) for row in cells) for k in range(4)]
    lines = ["  ".join(cell.ljust(w) if k == 0 else cell.rjust(w) for k, (cell, w) in enumerate(zip(row, widths)))
             for row in cells]
    section = report.get("prompt_format") or {}
    notes = ([f"format: conversational; chat template: {section['chat_template']['source']}"]
             if section.get("chat_template") else [])
    notes += [f"warning: {w}" for w in (win or {}).get("warnings", [])]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:], *notes])
