"""The statistics behind the reports, in numpy only: pair outcomes, seeded percentile-bootstrap
intervals (vectorized over resamples), the paired difference of two runs, and the two-order verdicts
(the length-controlled win rate is in `lc.py`).

The `evaluate` metric modules in `eval/metrics/` call these, so a number means the same thing in
`stackpref eval`, in `evaluate.load(...)` and in the tests.
"""

import numpy as np

# Resamples are drawn in blocks of at most this many indices (rows x n), so a bootstrap over 100k
# pairs holds tens of MB at a time instead of the full 1000 x 100k index matrix.
_BLOCK = 4_000_000


def outcomes(chosen: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """1 where chosen scores higher, 0 where lower, 0.5 on an exact tie (RewardBench's rule)."""
    chosen, rejected = np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    return np.where(chosen > rejected, 1.0, np.where(chosen < rejected, 0.0, 0.5))


def resample_blocks(n: int, samples: int, seed: int):
    """Yield (rows, n) blocks of bootstrap indices; the same seed gives the same resamples."""
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK // max(n, 1))
    for start in range(0, samples, rows):
        yield rng.integers(0, n, size=(min(rows, samples - start), n))


def mean_ci(values, samples: int = 1000, seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the sample mean and its percentile-bootstrap interval."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    means = np.concatenate([values[idx].mean(axis=1) for idx in resample_blocks(values.size, samples, seed)])
    return float(values.mean()), *percentiles(means, confidence)


def paired_difference_ci(a, b, samples: int = 1000, seed: int = 0,
                         confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean(b - a), low, high): the same resampled pairs for both runs, so what the pairs share (easy
    or hard) cancels and the interval is that of the difference, not of each run."""
    return mean_ci(np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64), samples, seed, confidence)


def percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def combine_orders(first, second) -> np.ndarray:
    """One outcome per comparison judged in both orders (each verdict from the model's side: 1 win,
    0.5 tie, 0 loss): a win or a loss only when both orders agree on it, a tie otherwise, so a
    judge that just prefers a position gives ties, not wins."""
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    return np.where((first == 1) & (second == 1), 1.0, np.where((first == 0) & (second == 0), 0.0, 0.5))
