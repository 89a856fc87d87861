"""Length-controlled win rate as AlpacaEval 2 defines it (Dubois et al. 2024, `length_controlled_v1`),
so an LC number here means what it means on their leaderboard.

The model: P(model wins) = sigmoid(w_len * tanh(d / std(d)) + w_model), d the length difference of
each comparison (characters), fitted without a free intercept, so w_model = 0 is the baseline against
itself (50%). The L1 penalty shrinks w_model (and w_len) toward 0, i.e. toward the baseline; its
strength C is chosen by 5-fold cross-validated log-loss over AlpacaEval's grid. Each comparison's
outcome (1, 0.5, 0) is a probability: it is fitted as a win row weighted p and a loss row weighted
1 - p, the two kept in one fold. The LC win rate is the prediction at d = 0: sigmoid(w_model).

Left out, as the issue asks: AlpacaEval's instruction-difficulty term (fitted on its 805 prompts by
other models' annotations; not fitted on a new prompt set here) and its "gamed baseline" rows
(the baseline's own verbose/concise outputs, which exist only for AlpacaEval's prompts).
"""

import warnings

import numpy as np

GRID = np.logspace(-4, 4, 10)  # LogisticRegressionCV's default Cs, which AlpacaEval fits over
FOLDS = 5  # AlpacaEval's n_splits
RANDOM_STATE = 123  # AlpacaEval's; liblinear uses it only to shuffle its coordinate order
# AlpacaEval's "very different" rule (get_is_extreme_changes): LC beyond 10 points or a quarter of
# the way to 0 or 100, whichever is wider.
EXTREME_ABS, EXTREME_REL = 0.10, 4
# Below this overlap of the two length distributions (1 = the same, 0 = every model answer on one side
# of every baseline answer) the length term and w_model are nearly collinear and LC is a guess.
MIN_OVERLAP = 0.2


def length_feature(model_lengths, baseline_lengths) -> np.ndarray:
    """tanh of each length difference over their standard deviation (pandas' ddof=1, as AlpacaEval), so a
    few very long answers cannot dominate; zeros when the differences do not vary."""
    diff = np.asarray(model_lengths, dtype=np.float64) - np.asarray(baseline_lengths, dtype=np.float64)
    scale = diff.std(ddof=1) if diff.size > 1 else 0.0
    return np.tanh(diff / scale) if scale > 0 else np.zeros_like(diff)


def _design(feature: np.ndarray) -> np.ndarray:
    return np.column_stack([feature, np.ones_like(feature)])  # [length term, model term]; no intercept


def _fit(design: np.ndarray, preference: np.ndarray, C: float) -> np.ndarray:
    """(w_len, w_model): L1 logistic regression (liblinear) on the outcomes as probabilities."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    n = len(preference)
    model = LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", fit_intercept=False,
                               random_state=RANDOM_STATE)
    # liblinear drops zero-weight rows and then complains that a class is missing (on stdout, from C);
    # a weight of 1e-12 changes the loss by less than its tolerance
    with warnings.catch_warnings():  # liblinear stops at max_iter 100 on nearly separable rows at the grid's
        warnings.simplefilter("ignore", ConvergenceWarning)  # weakest penalties, as in AlpacaEval's fits
        model.fit(np.vstack([design, design]), np.r_[np.ones(n), np.zeros(n)],
                  sample_weight=np.maximum(np.r_[preference, 1 - preference], 1e-12))
    return model.coef_[0]


def _log_loss(design: np.ndarray, preference: np.ndarray, coef: np.ndarray) -> float:
    predicted = np.clip(1 / (1 + np.exp(-design @ coef)), 1e-15, 1 - 1e-15)
    return float(-np.mean(preference * np.log(predicted) + (1 - preference) * np.log(1 - predicted)))


def choose_c(design: np.ndarray, preference: np.ndarray) -> float:
    """The grid's C with the least summed held-out log-loss over FOLDS folds of comparisons (the first on a
    tie, as LogisticRegressionCV picks)."""
    from sklearn.model_selection import GroupKFold

    n = len(preference)
    rows = np.r_[np.arange(n), np.arange(n)]  # the win and loss rows of a comparison share a fold
    losses = np.zeros(len(GRID))
    for train, test in GroupKFold(n_splits=min(FOLDS, n)).split(rows, groups=rows):
        train, test = np.unique(rows[train]), np.unique(rows[test])
        for k, C in enumerate(GRID):
            losses[k] += _log_loss(design[test], preference[test], _fit(design[train], preference[train], C))
    return float(GRID[int(np.argmin(losses))])


def length_controlled(preference, feature) -> dict:
    """The LC win rate, its weights and the chosen C; nan with fewer than 2 comparisons (no folds)."""
    preference, feature = np.asarray(preference, dtype=np.float64), np.asarray(feature, dtype=np.float64)
    if preference.size < 2:
        return {"lc_win_rate": float("nan"), "weights": None, "C": None}
    design = _design(feature)
    C = choose_c(design, preference)
    w_len, w_model = _fit(design, preference, C)
    return {"lc_win_rate": float(1 / (1 + np.exp(-w_model))),
            "weights": {"length": float(w_len), "model": float(w_model)}, "C": C}


def bootstrap(preference, feature, C: float, resamples) -> np.ndarray:
    """LC of each resample (rows of indices), refitted at the C chosen on the whole sample: cross-validating
    every resample would cost 50 fits each for little change in the interval."""
    preference, design = np.asarray(preference, dtype=np.float64), _design(np.asarray(feature, dtype=np.float64))
    return np.array([1 / (1 + np.exp(-_fit(design[idx], preference[idx], C)[1])) for block in resamples
                     for idx in block])


def is_extreme_change(raw: float, lc: float) -> bool:
    """AlpacaEval's warning rule, on shares instead of percentages."""
    low = min(raw - raw / EXTREME_REL, raw - EXTREME_ABS)
    high = max(raw + (1 - raw) / EXTREME_REL, raw + EXTREME_ABS)
    return bool(lc < low or lc > high)


def length_overlap(model_lengths, baseline_lengths) -> float:
    """1 - |2 AUC - 1|, AUC the chance a random model answer is longer than a random baseline answer (ties
    half): 1 for the same length distribution, 0 when they do not overlap at all."""
    model = np.asarray(model_lengths, dtype=np.float64)
    baseline = np.sort(np.asarray(baseline_lengths, dtype=np.float64))
    if not model.size or not baseline.size:
        return float("nan")
    below = np.searchsorted(baseline, model, side="left")
    tied = np.searchsorted(baseline, model, side="right") - below
    auc = (below + tied / 2).sum() / (model.size * baseline.size)
    return float(1 - abs(2 * auc - 1))
