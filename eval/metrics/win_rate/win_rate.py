"""Win rate against a baseline from position-swapped pairwise judgements, with the length-controlled
win rate and bootstrap intervals.

Part of stackpref (`stackpref eval --judge ...`); load it with `evaluate.load("<path>/win_rate")`.
"""

import datasets
import evaluate
import numpy as np
from stackpref.eval import lc
from stackpref.eval.stats import combine_orders, mean_ci, percentiles, resample_blocks

_DESCRIPTION = """\
Each comparison of a model's response with a baseline's is judged twice, once with the model's
response shown first and once second. It is a win when both judgements prefer the model, a loss
when both prefer the baseline, and a tie otherwise (so a judge that favours a position gives ties).
The win rate counts ties half (AlpacaEval's convention). The length-controlled win rate is AlpacaEval
2's (`length_controlled_v1`: L1-regularized toward the baseline, C cross-validated over 5 folds), without
its instruction-difficulty term, which is not fitted on these prompts (see stackpref/eval/lc.py).
Warnings are given when LC and raw differ by more than AlpacaEval's threshold or when the two length
distributions barely overlap.
"""

_KWARGS_DESCRIPTION = """
Args:
    first (`list[float]`): the verdict with the model's response shown first, from the model's side:
        1 the model's is better, 0.5 tie, 0 the baseline's is better.
    second (`list[float]`): the verdict with the model's response shown second, same coding.
    model_lengths (`list[int]`): length of each model response (characters).
    baseline_lengths (`list[int]`): length of each baseline response.
    bootstrap_samples (`int`, defaults to 1000), confidence (`float`, 0.95), seed (`int`, 0).
Returns:
    win_rate and win_rate_ci, wins, ties, losses (shares), lc_win_rate and lc_win_rate_ci, lc_model
    (weights, chosen C, what was left out), length_overlap, warnings (list of sentences),
    position_agreement (share of comparisons whose two verdicts agree), n, mean lengths.
Examples:
    >>> metric = evaluate.load("eval/metrics/win_rate")
    >>> metric.compute(first=[1, 1, 0], second=[1, 0, 0], model_lengths=[10, 12, 9],
    ...                baseline_lengths=[11, 11, 11])["win_rate"]
    0.5
"""

_CITATION = """\
@article{dubois2024length,
  title={Length-Controlled AlpacaEval: A Simple Way to Debias Automatic Evaluators},
  author={Dubois, Yann and Galambosi, Bal{\\'a}zs and Liang, Percy and Hashimoto, Tatsunori B},
  journal={arXiv preprint arXiv:2404.04475},
  year={2024}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WinRate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"first": datasets.Value("float64"), "second": datasets.Value("float64"),
                                        "model_lengths": datasets.Value("int64"),
                                        "baseline_lengths": datasets.Value("int64")}),
            reference_urls=["https://arxiv.org/abs/2404.04475"],
        )

    def _compute(self, first, second, model_lengths, baseline_lengths, bootstrap_samples=1000, confidence=0.95,
                 seed=0):
        scores = combine_orders(first, second)
        win_rate, low, high = mean_ci(scores, bootstrap_samples, seed, confidence)
        feature = lc.length_feature(model_lengths, baseline_lengths)
        fitted = lc.length_controlled(scores, feature)
        lc_low = lc_high = float("nan")
        if fitted["C"] is not None:
            draws = lc.bootstrap(scores, feature, fitted["C"], resample_blocks(scores.size, bootstrap_samples, seed))
            lc_low, lc_high = percentiles(draws, confidence)
        overlap = lc.length_overlap(model_lengths, baseline_lengths)
        return {
            "win_rate": win_rate,
            "win_rate_ci": [low, high],
            "wins": float((scores == 1).mean()),
            "ties": float((scores == 0.5).mean()),
            "losses": float((scores == 0).mean()),
            "lc_win_rate": fitted["lc_win_rate"],
            "lc_win_rate_ci": [lc_low, lc_high],
            "lc_model": {"weights": fitted["weights"], "C": fitted["C"], "folds": min(lc.FOLDS, int(scores.size)),
                         "instruction_difficulty": "left out (not fitted on these prompts)"},
            "length_overlap": overlap,
            "warnings": _warnings(win_rate, fitted, overlap),
            "position_agreement": float((np.asarray(first) == np.asarray(second)).mean()),
            "n": int(scores.size),
            "mean_model_length": float(np.mean(model_lengths)),
            "mean_baseline_length": float(np.mean(baseline_lengths)),
        }


def _warnings(raw: float, fitted: dict, overlap: float) -> list[str]:
    out = []
    length_controlled = fitted["lc_win_rate"]
    if fitted["weights"] is not None and fitted["weights"]["model"] == 0:
        out.append("the L1 penalty removed the model term, so LC is the baseline's 50%: these comparisons cannot "
                   "tell the model from the baseline at equal length (its CI, refitted at that penalty, says no more)")
    if np.isfinite(length_controlled) and lc.is_extreme_change(raw, length_controlled):
        out.append(f"LC win rate {length_controlled:.1%} is very different from the raw {raw:.1%} (AlpacaEval's "
                   "threshold): the length model may have failed")
    if overlap < lc.MIN_OVERLAP:
        out.append(f"the model's and the baseline's lengths barely overlap ({overlap:.2f} < {lc.MIN_OVERLAP}): "
                   "length and quality cannot be told apart, so the LC win rate is unreliable")
    return out
