"""Reward accuracy and win-rate of a checkpoint on held-out pairs (extra `eval`).

`evaluate(checkpoint, data=..., **options)` runs what `stackpref eval` runs and returns the output
folder (report.json, report.md, plots); options are the fields of `stackpref.eval.config.EvalConfig`.
`compare(run_a, run_b)` gives two runs side by side as Markdown. The metric modules in
`stackpref/eval/metrics/` load with `evaluate.load` (see `stackpref.eval.metrics.path`).
Nothing heavy is imported until a run starts.
"""

from pathlib import Path

__all__ = ["compare", "evaluate"]


def evaluate(checkpoint: str, *, overwrite: bool = False, progress: bool = False, **options) -> Path:
    from stackpref.eval.config import NEEDS, EvalConfig

    from stackpref.extras import require

    require("eval", *NEEDS)
    from stackpref.eval.run import run_eval

    return run_eval(EvalConfig(checkpoint=str(checkpoint), **options), overwrite=overwrite, progress=progress)


def compare(run_a: str | Path, run_b: str | Path) -> str:
    from stackpref.eval.compare import compare as _compare

    return _compare(run_a, run_b)
