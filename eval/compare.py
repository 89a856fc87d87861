"""`stackpref eval --compare RUN_A RUN_B`: two eval reports side by side, as Markdown tables with each
number's 95% CI and B - A with a paired-bootstrap CI over the pairs both scored. Runs are labelled by
their output folders. When the two differ in data, split or reference, the tables' header says so:
an implicit reward against the base and one against an SFT model are different quantities.
"""

import json
from pathlib import Path

import numpy as np
from stackpref.eval import stats
from stackpref.eval.report import FORMAT, PAIR_SCORES, REPORT_JSON

from stackpref.errors import InputError


def read_report(run: str | Path) -> dict:
    path = Path(run)
    path = path / REPORT_JSON if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"{run}: no {REPORT_JSON}; pass an output folder of `stackpref eval`")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if report.get("format") != FORMAT:
        raise InputError(f"{path}: report format {report.get('format')!r}, expected {FORMAT}; re-run that eval")
    return report


def labels(run_a: str | Path, run_b: str | Path) -> tuple[str, str]:
    """The output folders' names, with as many parent folders as it takes to tell them apart."""
    a, b = (Path(run).resolve() for run in (run_a, run_b))
    a, b = (p.parent if p.name == REPORT_JSON else p for p in (a, b))
    if a == b:
        return f"{a.name} (A)", f"{b.name} (B)"
    depth = 1
    while depth < len(a.parts) and a.parts[-depth:] == b.parts[-depth:]:
        depth += 1
    return "/".join(a.parts[-depth:]), "/".join(b.parts[-depth:])


def mismatches(a: dict, b: dict) -> list[str]:
    """What makes the two reports' numbers different quantities: the data, its split, the chat template
    that rendered it, the reference."""
    found = []
    if a["data"]["input"] != b["data"]["input"]:
        found.append(f"inputs differ (A {a['data']['input']}, B {b['data']['input']})")
    if a["data"]["hash"] != b["data"]["hash"]:
        found.append("the pairs differ (data hashes)")
    template_a, template_b = (((r.get("prompt_format") or {}).get("chat_template") or {}).get("xxh3") for r in (a, b))
    if template_a != template_b:
        found.append(f"chat templates differ (A {template_a or 'none'}, B {template_b or 'none'})")
    ref_a, ref_b = a.get("reference") or {}, b.get("reference") or {}
    if (ref_a.get("kind"), ref_a.get("id")) != (ref_b.get("kind"), ref_b.get("id")):
        found.append(f"references differ (A: {ref_a.get('description', 'none')}; "
                     f"B: {ref_b.get('description', 'none')})")
    return found


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def _with_ci(value, ci) -> str:
    return "-" if value is None else f"{value:.1%} [{ci[0]:.1%}, {ci[1]:.1%}]"


def _pair_scores(run: str | Path) -> dict | None:
    """A run's pair_scores.npz (each scored pair's row in the data and its scores), or None."""
    path = Path(run) / PAIR_SCORES
    if not path.is_file():
        return None
    with np.load(path) as saved:
        return dict(saved)


def _outcomes(saved: dict | None, scorer: str) -> dict[int, float] | None:
    """Each scored pair's outcome under `scorer`, by its row in the data; None when not recorded."""
    if saved is None or scorer not in saved:
        return None
    values = saved[scorer]
    return dict(zip(saved["kept"].tolist(), stats.outcomes(values[:, 0], values[:, 1]).tolist()))


def paired_difference(scores_a: dict | None, scores_b: dict | None, scorer: str, samples: int,
                      seed: int) -> tuple[float, float, float, int] | None:
    """(B - A accuracy, low, high, n) over the pairs both runs scored; None without both runs' pair scores."""
    a, b = _outcomes(scores_a, scorer), _outcomes(scores_b, scorer)
    if a is None or b is None:
        return None
    shared = sorted(a.keys() & b.keys())
    if not shared:
        return None
    diff = stats.paired_difference_ci([a[i] for i in shared], [b[i] for i in shared], samples, seed)
    return (*diff, len(shared))


def compare(run_a: str | Path, run_b: str | Path) -> str:
    a, b = read_report(run_a), read_report(run_b)
    label_a, label_b = labels(run_a, run_b)
    problems = mismatches(a, b)
    paired = a["data"]["hash"] == b["data"]["hash"]
    samples, seed = a["config"]["bootstrap"], a["config"]["seed"]
    scores_a, scores_b = (_pair_scores(run_a), _pair_scores(run_b)) if paired else (None, None)
    lines = [f"# `{label_a}` (A) vs `{label_b}` (B)", ""]
    if problems:
        lines += [f"**Not the same quantity: {'; '.join(problems)}.**", ""]
    note = " (NOT COMPARABLE: " + "; ".join(problems) + ")" if problems else ""
    lines += [f"| reward accuracy{note} | A | B | B - A (paired 95% CI) | n A | n B |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for scorer in dict.fromkeys([*a["reward_accuracy"], *b["reward_accuracy"]]):
        oa = (a["reward_accuracy"].get(scorer) or {}).get("overall") or {}
        ob = (b["reward_accuracy"].get(scorer) or {}).get("overall") or {}
        diff = paired_difference(scores_a, scores_b, scorer, samples, seed) if paired and oa and ob else None
        delta = (f"{diff[0] * 100:+.1f} pts [{diff[1] * 100:+.1f}, {diff[2] * 100:+.1f}], n={diff[3]}" if diff
                 else "not paired: different pairs" if oa and ob else "-")
        lines.append(f"| {scorer} | {_with_ci(oa.get('accuracy'), oa.get('accuracy_ci'))} | "
                     f"{_with_ci(ob.get('accuracy'), ob.get('accuracy_ci'))} | {delta} | {oa.get('n', '-')} | "
                     f"{ob.get('n', '-')} |")
    lines.append("")
    lines += [f"| breakdown (primary scorer){note} | A | B | n A | n B |", "| --- | ---: | ---: | ---: | ---: |"]
    pa, pb = a["reward_accuracy"][a["primary_scorer"]], b["reward_accuracy"][b["primary_scorer"]]
    for key in ("by_margin_bucket", "by_longer_side", "by_site"):
        for group in dict.fromkeys([*pa.get(key, {}), *pb.get(key, {})]):
            ga, gb = pa.get(key, {}).get(group) or {}, pb.get(key, {}).get(group) or {}
            lines.append(f"| {key[3:].replace('_', ' ')}: {group} | "
                         f"{_with_ci(ga.get('accuracy'), ga.get('accuracy_ci'))} | "
                         f"{_with_ci(gb.get('accuracy'), gb.get('accuracy_ci'))} | {ga.get('n', '-')} | "
                         f"{gb.get('n', '-')} |")
    lines.append("")
    wa, wb = a.get("win_rate") or {}, b.get("win_rate") or {}
    if wa or wb:
        lines += [f"| win rate{note} | A | B |", "| --- | ---: | ---: |"]
        for key in ("win_rate", "lc_win_rate"):
            lines.append(f"| {key} | {_with_ci(wa.get(key), wa.get(key + '_ci'))} | "
                         f"{_with_ci(wb.get(key), wb.get(key + '_ci'))} |")
        for key in ("wins", "ties", "losses", "position_agreement"):
            lines.append(f"| {key} | {_pct(wa.get(key))} | {_pct(wb.get(key))} |")
        lines += [f"| n | {wa.get('n', '-')} | {wb.get('n', '-')} |",
                  f"| judge | {_judge(wa)} | {_judge(wb)} |", ""]
    return "\n".join(lines)


def _judge(win: dict) -> str:
    return win.get("judge", "-") + (" (self-judged)" if win.get("self_judged") else "")
