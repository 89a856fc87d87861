"""`stackpref eval --compare RUN_A RUN_B`: two eval reports side by side, as one Markdown table per
section, with B - A and a warning when the two were not run on the same pairs."""

import json
from pathlib import Path

from stackpref.eval.report import FORMAT, REPORT_JSON

from stackpref.errors import InputError

WARNING = ("**Warning: A and B were evaluated on different pairs (data hashes differ); the numbers are not "
           "directly comparable.**")


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


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def _delta(a, b, pct: bool = True) -> str:
    if a is None or b is None:
        return "-"
    return f"{(b - a) * 100:+.1f} pts" if pct else f"{b - a:+.4g}"


def compare(run_a: str | Path, run_b: str | Path) -> str:
    a, b = read_report(run_a), read_report(run_b)
    lines = [f"# `{a['checkpoint']['path']}` (A) vs `{b['checkpoint']['path']}` (B)", ""]
    if a["data"]["hash"] != b["data"]["hash"]:
        lines += [WARNING, ""]
    lines += ["| reward accuracy | A | B | B - A | A mean margin | B mean margin |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for scorer in dict.fromkeys([*a["reward_accuracy"], *b["reward_accuracy"]]):
        sa, sb = a["reward_accuracy"].get(scorer), b["reward_accuracy"].get(scorer)
        lines.append(_accuracy_row(scorer, sa, sb))
    lines.append("")
    lines += ["| breakdown (primary scorer) | A | B | B - A | n A | n B |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    pa, pb = a["reward_accuracy"][a["primary_scorer"]], b["reward_accuracy"][b["primary_scorer"]]
    for key in ("by_margin_bucket", "by_longer_side", "by_site"):
        for label in dict.fromkeys([*pa.get(key, {}), *pb.get(key, {})]):
            ga, gb = pa.get(key, {}).get(label), pb.get(key, {}).get(label)
            acc_a, acc_b = (ga or {}).get("accuracy"), (gb or {}).get("accuracy")
            lines.append(f"| {key[3:].replace('_', ' ')}: {label} | {_pct(acc_a)} | {_pct(acc_b)} | "
                         f"{_delta(acc_a, acc_b)} | {(ga or {}).get('n', '-')} | {(gb or {}).get('n', '-')} |")
    lines.append("")
    wa, wb = a.get("win_rate") or {}, b.get("win_rate") or {}
    if wa or wb:
        lines += ["| win rate | A | B | B - A |", "| --- | ---: | ---: | ---: |"]
        for key in ("win_rate", "lc_win_rate", "wins", "ties", "losses", "position_agreement"):
            lines.append(f"| {key} | {_pct(wa.get(key))} | {_pct(wb.get(key))} | {_delta(wa.get(key), wb.get(key))} |")
        lines += [f"| judge | {wa.get('judge', '-')} | {wb.get('judge', '-')} | |", ""]
    return "\n".join(lines)


def _accuracy_row(scorer: str, sa: dict | None, sb: dict | None) -> str:
    oa, ob = (sa or {}).get("overall", {}), (sb or {}).get("overall", {})
    margin_a = f"{oa['mean_margin']:.4g}" if oa else "-"
    margin_b = f"{ob['mean_margin']:.4g}" if ob else "-"
    return (f"| {scorer} | {_pct(oa.get('accuracy'))} | {_pct(ob.get('accuracy'))} | "
            f"{_delta(oa.get('accuracy'), ob.get('accuracy'))} | {margin_a} | {margin_b} |")
