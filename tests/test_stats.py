"""The statistics behind the verdicts, on cases whose answer is known."""

from __future__ import annotations

import math

import pytest

from experiments.stats import (CONTRADICTED, INCONCLUSIVE, SUPPORTED, Claim, Estimate, mean_ci, paired_ci,
                                            ratio_ci, verdict)
from experiments.targets import time_to
from experiments.runner import Fit


def test_textbook_t_interval():
    # n = 10, mean 5, sd 1: t(0.975, 9) = 2.262157, half-width 2.262157 / sqrt(10) = 0.715357
    values = [5 + d for d in (-1.5, -1, -0.5, 0, 0, 0, 0, 0.5, 1, 1.5)]
    sd = math.sqrt(sum((v - 5) ** 2 for v in values) / 9)
    e = mean_ci(values)
    half = 2.2621571628 * sd / math.sqrt(10)
    assert e.n == 10 and e.mean == pytest.approx(5)
    assert e.low == pytest.approx(5 - half, rel=1e-9) and e.high == pytest.approx(5 + half, rel=1e-9)


def test_two_values_use_t_with_one_degree_of_freedom():
    e = mean_ci([0.0, 2.0])  # mean 1, sd sqrt(2), se 1, t(0.975, 1) = 12.706205
    assert e.low == pytest.approx(1 - 12.7062047362) and e.high == pytest.approx(1 + 12.7062047362)


def test_a_constant_difference_has_a_zero_width_interval():
    e = paired_ci([0.9, 0.8, 0.7], [0.85, 0.75, 0.65])
    assert e.mean == pytest.approx(0.05) and e.low == pytest.approx(0.05) and e.high == pytest.approx(0.05)
    assert verdict(e, ">", 0.0) == SUPPORTED


def test_a_sign_flip_is_inconclusive_and_pairing_matters():
    a, b = [1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.1, 3.9]  # differences -0.1, 0.1, -0.1, 0.1
    e = paired_ci(a, b)
    assert e.mean == pytest.approx(0.0) and e.low < 0 < e.high
    assert verdict(e, ">", 0.0) == INCONCLUSIVE
    # the same values, shifted per seed by much more than the effect: paired, the effect shows
    a, b = [10.3, 20.2, 30.4, 40.3], [10.0, 20.0, 30.0, 40.0]
    assert verdict(paired_ci(a, b), ">", 0.0) == SUPPORTED
    assert verdict(mean_ci(a), ">", mean_ci(b).high) == INCONCLUSIVE  # unpaired, the seeds' spread hides it


def test_swapping_the_sides_flips_the_interval():
    a, b = [0.5, 0.7, 0.6], [0.4, 0.45, 0.5]
    ab, ba = paired_ci(a, b), paired_ci(b, a)
    assert ab.mean == pytest.approx(-ba.mean) and ab.low == pytest.approx(-ba.high)


def test_ratio_interval_is_t_on_log_ratios():
    a, b = [2.0, 4.0, 8.0], [4.0, 8.0, 16.0]  # every ratio exactly 0.5
    e = ratio_ci(a, b)
    assert (e.mean, e.low, e.high) == pytest.approx((0.5, 0.5, 0.5)) and "log" in e.method
    e = ratio_ci([1.0, 2.0], [2.0, 2.0])  # log-ratios -log 2 and 0
    centre = math.exp(-math.log(2) / 2)
    assert e.mean == pytest.approx(centre) and e.low < centre < e.high
    with pytest.raises(ValueError):
        ratio_ci([1.0, -1.0], [1.0, 1.0])


def test_one_seed_has_no_interval_and_is_inconclusive():
    e = mean_ci([0.7])
    assert e.n == 1 and math.isnan(e.low) and verdict(e, ">", 0.0) == INCONCLUSIVE
    assert "no CI" in e.text()


def test_missing_values_are_left_out_pairwise():
    e = paired_ci([1.0, None, 3.0, float("nan")], [0.0, 1.0, 2.0, 2.0])
    assert e.n == 2 and e.mean == pytest.approx(1.0)
    with pytest.raises(ValueError):
        paired_ci([1.0], [1.0, 2.0])


@pytest.mark.parametrize("estimate, side, threshold, expected", [
    (Estimate(0.5, 0.2, 0.8, 5), ">", 0.0, SUPPORTED),
    (Estimate(-0.5, -0.8, -0.2, 5), ">", 0.0, CONTRADICTED),
    (Estimate(0.1, -0.2, 0.4, 5), ">", 0.0, INCONCLUSIVE),
    (Estimate(0.6, 0.55, 0.65, 5), "<=", 0.7, SUPPORTED),      # ">= 30% fewer": the ratio's CI all <= 0.7
    (Estimate(0.75, 0.72, 0.8, 5), "<=", 0.7, CONTRADICTED),
    (Estimate(0.68, 0.6, 0.75, 5), "<=", 0.7, INCONCLUSIVE),
    (Estimate(0.0, 0.0, 0.0, 5), "<=", 0.0, SUPPORTED),         # all seeds exactly at the bound
    (Estimate(0.0, 0.0, 0.0, 5), ">", 0.0, CONTRADICTED),
    (Estimate(1.0, 1.0, 1.0, 5), ">=", 1.0, SUPPORTED),
    (Estimate(0.1, 0.05, 0.15, 5), "!=", 0.0, SUPPORTED),
    (Estimate(0.1, -0.05, 0.15, 5), "!=", 0.0, INCONCLUSIVE),
])
def test_the_rule(estimate, side, threshold, expected):
    assert verdict(estimate, side, threshold) == expected


def test_claim_rows_and_sentences_come_from_the_numbers():
    claim = Claim("BN is faster", "epochs, BN / none", Estimate(0.6, 0.5, 0.65, 5), "<=", 0.7)
    assert claim.verdict == SUPPORTED
    assert "0.6000 [0.5000, 0.6500]" in claim.row() and "**supported**" in claim.row()
    assert "supported" in claim.sentence() and "5 seeds" in claim.sentence()
    assert claim.to_dict()["verdict"] == SUPPORTED and claim.to_dict()["low"] == 0.5


def _fit(checks: list[dict]) -> Fit:
    return Fit(spec=None, model=None, history=[], checks=checks)


def test_time_to_target_at_fractional_epochs():
    checks = [{"epoch": k / 10, "step": 172 * k, "seconds": 0.5 * k, "val/loss": 1.0 - 0.047 * k} for k in range(1, 21)]
    # val loss 0.953, 0.906, ...: first below 0.4 at k = 13 (0.389; k = 12 gives 0.436), i.e. epoch 1.3
    t = time_to(_fit(checks), "val/loss", 0.4)
    assert t == {"epochs": pytest.approx(1.3), "steps": 172 * 13, "seconds": pytest.approx(6.5), "reached": True}
    acc = [{**c, "val/acc": 0.803 + 0.01 * i} for i, c in enumerate(checks)]
    assert time_to(_fit(acc), "val/acc", 0.85, below=False)["epochs"] == pytest.approx(0.6)


def test_a_target_never_reached_is_censored_at_the_runs_end():
    checks = [{"epoch": k / 10, "step": k, "seconds": k, "val/loss": 0.9} for k in range(1, 11)]
    t = time_to(_fit(checks), "val/loss", 0.4)
    assert t["reached"] is False and t["epochs"] == pytest.approx(1.1)  # a lower bound: length + one check


def test_a_pipe_inside_a_table_cell_stays_in_its_cell():
    from experiments.report import markdown_table

    row = markdown_table(["effect", "verdict"], [["upper edge of ||g' - g||", "supported"]]).splitlines()[-1]
    assert row.replace("\\|", "").count("|") == 3  # the row's own separators only


def test_a_pipe_inside_a_header_stays_in_its_column():
    from experiments.report import markdown_table

    header = markdown_table(["norm", "max |logit change|"], [["bn", "0.1"]]).splitlines()[0]
    assert header.replace("\\|", "").count("|") == 3  # two columns: three separators
