"""The length-controlled win rate against AlpacaEval 2's own fitting.

Each table's rows are (outcome from the model's side, model length, baseline length). The outcomes
were drawn from AlpacaEval 2's GLM formula (sigmoid(w_model + w_len * tanh(d / std(d))), 15% turned
into ties), and the expected values are what AlpacaEval 2's `fit_LogisticRegressionCV` (pandas +
scikit-learn, GroupKFold(5), L1, liblinear, continuous log-loss scorer, no gamed-baseline rows, no
instruction-difficulty term) gives on them: its LC win rate, chosen C and |weights|.
"""

import numpy as np
import pytest
from stackpref.eval import lc, metrics

TABLES = {
    # a judge that mostly rewards length, the model longer in most comparisons: raw 0.729, LC near 0.5
    "length_judge": ([(1.0, 524, 420), (1.0, 695, 415), (1.0, 1562, 1017), (0.0, 719, 749), (0.5, 1265, 831),
                      (0.5, 701, 841), (1.0, 968, 940), (1.0, 705, 325), (1.0, 684, 736), (1.0, 719, 433),
                      (0.5, 778, 661), (1.0, 1294, 1135), (0.5, 1295, 792), (1.0, 766, 363), (1.0, 1209, 788),
                      (0.5, 605, 416), (1.0, 1513, 978), (1.0, 1687, 1153), (0.5, 1039, 1181), (0.0, 772, 859),
                      (0.0, 1077, 1081), (0.5, 824, 632), (1.0, 840, 431), (1.0, 896, 760)],
                     0.5568619092442282, 21.54434690031882, (1.84620139, 0.22843585)),
    # a better model of about the baseline's length: LC close to raw (0.792)
    "better_model": ([(0.5, 1260, 912), (0.5, 331, 383), (1.0, 1146, 927), (1.0, 167, 316), (1.0, 1023, 624),
                      (1.0, 760, 563), (1.0, 1446, 1145), (0.5, 586, 954), (0.0, 574, 889), (1.0, 396, 743),
                      (1.0, 583, 558), (0.5, 990, 1067), (0.5, 1534, 1151), (1.0, 291, 495), (1.0, 255, 520),
                      (1.0, 859, 583), (1.0, 570, 729), (0.5, 725, 532), (1.0, 494, 663), (1.0, 1216, 1180),
                      (0.5, 296, 631), (1.0, 1275, 1146), (0.5, 1084, 752), (1.0, 759, 606)],
                     0.7758059414828465, 2.782559402207126, (0.13480515, 1.2413904)),
    # every model answer shorter: the L1 penalty drops the length term, the model term carries it
    "shorter_model": ([(0.0, 868, 1348), (0.0, 486, 1052), (0.5, 716, 1319), (0.0, 632, 1061), (0.0, 564, 1078),
                       (0.5, 778, 1315), (0.0, 514, 881), (0.0, 290, 838), (0.5, 688, 1083), (0.5, 28, 608),
                       (0.5, 414, 877), (0.0, 284, 775), (1.0, 12, 612), (0.0, 614, 966), (0.0, 680, 1040),
                       (0.0, 121, 721)],
                      0.2412113365745838, 2.782559402207126, (0.0, 1.14604983)),
    # the case: n=6, raw 1/3, no length overlap; the old fit said 0.99999996, AlpacaEval 2 says 0.5
    "issue_n6": ([(1.0, 200, 900), (0.0, 310, 800), (0.0, 150, 1000), (1.0, 420, 950), (0.0, 260, 700),
                  (0.0, 180, 880)], 0.5, 1e-4, (0.0, 0.0)),
}


@pytest.mark.parametrize("name", TABLES)
def test_lc_reproduces_alpaca_eval_2_fitting(name):
    rows, expected_lc, expected_c, expected_weights = TABLES[name]
    outcome, model, baseline = (np.array(column, dtype=float) for column in zip(*rows))
    fitted = lc.length_controlled(outcome, lc.length_feature(model, baseline))
    assert fitted["C"] == pytest.approx(expected_c)
    # liblinear's tolerance (1e-4 on the objective) bounds how closely two fits of one problem agree
    assert fitted["lc_win_rate"] == pytest.approx(expected_lc, abs=1e-4)
    # AlpacaEval's length term is baseline - model, ours model - baseline: same size, opposite sign
    assert abs(fitted["weights"]["length"]) == pytest.approx(expected_weights[0], abs=1e-3)
    assert abs(fitted["weights"]["model"]) == pytest.approx(expected_weights[1], abs=1e-3)


def test_length_feature_uses_the_sample_std_like_pandas():
    diff = np.array([-3.0, 1.0, 2.0])
    assert lc.length_feature(10 + diff, [10, 10, 10]) == pytest.approx(np.tanh(diff / diff.std(ddof=1)))
    assert lc.length_feature([5, 5], [3, 3]).tolist() == [0.0, 0.0]  # no variation: no length term


def test_alpaca_eval_extreme_change_rule():
    """get_is_extreme_changes(abs_diff=10, rel_diff=4): from 20%, below 10% or above 40% warns."""
    assert lc.is_extreme_change(0.20, 0.099) and lc.is_extreme_change(0.20, 0.401)
    assert not lc.is_extreme_change(0.20, 0.11) and not lc.is_extreme_change(0.20, 0.39)
    assert lc.is_extreme_change(0.50, 0.37) and not lc.is_extreme_change(0.50, 0.38)


def test_length_overlap_measures_how_far_the_distributions_are_apart():
    assert lc.length_overlap([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert lc.length_overlap([1, 2, 3], [10, 20, 30]) == 0.0
    assert lc.length_overlap([1, 2, 3, 40], [10, 20, 30, 50]) == pytest.approx(1 - abs(2 * (3 / 16) - 1))


def test_win_rate_metric_reports_raw_and_lc_with_cis_and_warnings():
    """The issue's case through the metric module: LC is pulled to the baseline, not to 0.99999996, and
    the report warns that the lengths do not overlap."""
    rows, *_ = TABLES["issue_n6"]
    outcome, model, baseline = zip(*rows)
    result = metrics.load("win_rate").compute(first=list(outcome), second=list(outcome), model_lengths=list(model),
                                              baseline_lengths=list(baseline), bootstrap_samples=200)
    assert result["n"] == 6 and result["win_rate"] == pytest.approx(1 / 3)
    assert result["lc_win_rate"] == pytest.approx(0.5, abs=1e-4)
    assert result["win_rate_ci"][0] < 1 / 3 < result["win_rate_ci"][1]
    assert result["lc_win_rate_ci"][0] <= result["lc_win_rate"] <= result["lc_win_rate_ci"][1]
    assert result["length_overlap"] == 0.0 and any("barely overlap" in w for w in result["warnings"])
    assert any("removed the model term" in w for w in result["warnings"])
    assert result["lc_model"]["instruction_difficulty"].startswith("left out")


def test_lc_warning_when_far_from_raw():
    """A judge that only rewards length, the model longer 12 times in 16: raw 0.75. Length explains every
    verdict, so LC falls to about 0.5, beyond AlpacaEval's threshold (below 0.5625 from 0.75): warned."""
    model = [900 + 10 * k for k in range(12)] + [100, 110, 120, 130]
    outcome = [1.0] * 12 + [0.0] * 4
    result = metrics.load("win_rate").compute(first=outcome, second=outcome, model_lengths=model,
                                              baseline_lengths=[500] * 16, bootstrap_samples=50)
    assert result["win_rate"] == 0.75 and result["lc_win_rate"] < 0.5625
    assert not [w for w in result["warnings"] if "removed the model term" in w]  # w_model 0.05, not 0
    assert [w for w in result["warnings"] if "very different from the raw 75.0%" in w]
