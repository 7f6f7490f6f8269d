"""Issue 25: censored targets, bounded intervals, margins (negligible), fresh-seed planning, Holm,
Settings.seed_offset, and ex4's instability on the committed numbers. Fast, offline, CPU."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from experiments import ex1, ex4, homework
from experiments.decide import decide, holm, is_negligible, p_value, reading, seeds_needed
from experiments.runner import Fit, RunSpec, Settings, by_variant
from experiments.stats import (CONTRADICTED, INCONCLUSIVE, NEGLIGIBLE, POSITIVE, SUPPORTED, UNIT, Claim, Estimate,
                               mean_ci, paired_ci, ratio_ci)
from experiments.targets import censored, times_to

ROOT = Path(__file__).resolve().parents[1]


def _fit(values: list[float], metric: str = "val/acc") -> Fit:
    checks = [{"epoch": (k + 1) / 10, "step": 172 * (k + 1), "seconds": 0.5 * (k + 1), metric: v} for k, v in enumerate(values)]
    return Fit(spec=None, model=None, history=[], checks=checks)


def _times(curves, threshold=0.85):
    return times_to([_fit(c) for c in curves], "val/acc", threshold, below=False)


def test_both_sides_never_reaching_the_target_is_not_a_contradiction():
    # 5 seeds, 1 epoch of 10 checks, neither side reaches 0.85: every seed counts as 1.1 epochs on both sides
    never = [[0.5 + 0.01 * k for k in range(10)]] * 5
    bn, none = _times(never), _times(never)
    estimate = ratio_ci(bn["epochs"], none["epochs"])
    assert (estimate.mean, estimate.low, estimate.high) == pytest.approx((1.0, 1.0, 1.0))  # the old false verdict's number
    cut = censored(bn, none)
    claim = Claim("BN needs >= 30% fewer epochs", "epochs, BN / none", estimate, "<=", 0.7, censored=cut, sides=("BN", "none"))
    assert Claim("same", "e", estimate, "<=", 0.7).verdict == CONTRADICTED  # without the flags the rule would say so
    assert claim.verdict == INCONCLUSIVE
    assert "BN 5 of 5 seeds, none 5 of 5 seeds" in claim.censoring_note
    assert "both sides never reached the target in 5 of 5 seeds" in claim.censoring_note
    assert decide(claim, 0.10) == INCONCLUSIVE  # a censored part is never negligible either
    back = Claim.from_dict(json.loads(json.dumps(claim.to_dict())))
    assert back.verdict == INCONCLUSIVE and back.censoring_note == claim.censoring_note


def test_one_side_censored_keeps_only_the_verdict_it_pushes_against():
    fast = [0.5, 0.9] + [0.9] * 8  # reaches 0.85 at 0.2 epoch
    slow = [0.5] * 10  # never: counted as 1.1 epochs, a lower bound
    # no norm censored, BN fast: the true ratio is even smaller, so "BN is faster" stays supported
    bn, none = _times([fast] * 3), _times([slow] * 2 + [[0.5] * 9 + [0.9]])
    claim = Claim("BN faster", "e", ratio_ci(bn["epochs"], none["epochs"]), "<", 1.0, censored=censored(bn, none))
    assert claim.verdict == SUPPORTED
    # BN censored, no norm fast: BN's true time is even longer, so the contradiction of "BN is faster" stands
    bn2, none2 = _times([slow] * 3), _times([fast] * 3)
    est = ratio_ci(bn2["epochs"], none2["epochs"])
    assert Claim("BN faster", "e", est, "<", 1.0, censored=censored(bn2, none2)).verdict == CONTRADICTED
    # none censored, BN reaches late: the measured ratio overstates BN/none; it cannot contradict "BN faster"
    late = [0.5] * 9 + [0.9]
    bn3, none3 = _times([late] * 3), _times([slow] * 3)
    est3 = ratio_ci([1.5, 1.6, 1.7], none3["epochs"])  # BN later than no norm's censored value
    assert Claim("BN faster", "e", est3, "<", 1.0).verdict == CONTRADICTED
    assert Claim("BN faster", "e", est3, "<", 1.0, censored=censored(bn3, none3)).verdict == INCONCLUSIVE


@pytest.mark.parametrize("values", [[0.0521, 0.0, 0.1, 0.01, 0.1], [0.6858, 0.2, 0.99, 0.9, 0.65], [0.0] * 5, [1.0] * 5,
                                    [0.0, 1.0, 0.0, 1.0, 1.0], [0.3], [0.999, 0.9999, 0.99, 0.995, 0.9]])
def test_fraction_intervals_stay_inside_0_1(values):
    e = mean_ci(values, bounds=UNIT)
    assert math.isnan(e.low) if len(values) == 1 else 0.0 <= e.low <= e.mean <= e.high <= 1.0
    assert e.method in ("t", "t on logits", "t, cut to [0, 1] (values at a bound)")
    assert mean_ci(values).method == "t"


def test_positive_intervals_stay_positive_and_differences_of_fractions_inside_minus_1_1():
    e = mean_ci([4.2, 0.3, 8.7, 0.5, 7.5], bounds=POSITIVE)
    assert 0 < e.low < e.high and mean_ci([4.2, 0.3, 8.7, 0.5, 7.5]).low < 0
    assert mean_ci([2.0] * 4, bounds=POSITIVE).low == pytest.approx(2.0)
    with pytest.raises(ValueError):
        mean_ci([1.0, 0.0], bounds=POSITIVE)
    d = paired_ci([1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], bounded=True)
    assert -1.0 <= d.low and d.high <= 1.0 and d.method == "t, cut to [-1, 1]"


def test_negligible_is_the_whole_ci_inside_the_margin():
    silu = Claim("after is better", "after - before", Estimate(-0.00036, -0.00337, 0.00265, 5), ">", 0.0)
    gelu = Claim("after is better", "after - before", Estimate(-0.00376, -0.00808, 0.00056, 5), ">", 0.0)
    assert decide(silu, 0.005) == NEGLIGIBLE and reading(NEGLIGIBLE, False) == "contradicted (negligible)"
    assert decide(gelu, 0.005) == INCONCLUSIVE and decide(silu, None) == INCONCLUSIVE
    cost = Claim("BN costs", "BN / none", Estimate(0.985, 0.954, 1.017, 5, "t on log-ratios"), ">", 1.0)
    assert decide(cost, 0.10) == NEGLIGIBLE and not is_negligible(cost.estimate, 0.01)
    # a supported part stays supported, whatever its size
    assert decide(Claim("x", "d", Estimate(0.002, 0.001, 0.003, 5), ">", 0.0), 0.005) == SUPPORTED


def test_seeds_needed_grows_with_the_spread_and_is_capped():
    tight = Claim("c", "d", Estimate(-0.004, 0, 0, 5, "t", (-0.004, -0.003, -0.005, -0.0035, -0.0045)), ">", 0.0)
    wide = Claim("c", "d", Estimate(-0.0015, -0.0108, 0.0078, 5), ">", 0.0)
    need_tight, need_wide = seeds_needed(tight, 0.005), seeds_needed(wide, 0.005)
    assert need_tight.seeds is not None and need_tight.seeds <= 5 and need_tight.power_at >= 0.8
    assert need_wide.seeds is None and "more than 30 seeds" in need_wide.text and need_wide.power_at < 0.8


def test_holm_step_down_and_p_values():
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert math.isnan(holm([math.nan, 0.01])[0]) and holm([math.nan, 0.01])[1] == pytest.approx(0.01)
    claim = Claim("c", "d", Estimate(2.0, 0, 0, 3, "t", (1.0, 2.0, 3.0)), ">", 0.0)
    assert p_value(claim) == pytest.approx(0.07417990022744858)  # t = 3.464, 2 df, two-sided


def test_seed_offset_gives_fresh_seeds_that_stay_paired():
    settings = Settings(seeds=3, seed_offset=5, data="synthetic", progress=False)
    assert list(settings.seed_list()) == [5, 6, 7]
    specs = ex1.plan(settings)
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.variant, []).append(spec)
    assert [s.config.seed for s in groups["none"]] == [s.config.seed for s in groups["bn"]] == [5, 6, 7]
    fits = [Fit(spec=spec, model=None, history=[]) for spec in specs]
    assert [f.spec.config.seed for f in by_variant(fits)["bn"]] == [5, 6, 7]  # analyse pairs seed i with seed i
    hw = homework.plan(settings)
    assert {s.config.seed for s in hw} == {5, 6, 7}
    assert list(Settings(seeds=2).seed_list()) == [0, 1]


def test_ex4_instability_catches_batch_2s_collapse_on_the_committed_numbers():
    measured = json.loads((ROOT / "reports" / "ex4" / "results.json").read_text())["measured"]
    for batch in (2, 4):
        bn, ln = measured[ex4.label("bn", batch)], measured[ex4.label("ln", batch)]
        diff = paired_ci([ex4.instability(m) for m in bn], [ex4.instability(m) for m in ln], bounded=True)
        assert diff.low > 0, batch  # the whole CI above 0 (the rule): BN's accuracy depends on its mode, LN's does not
    bn2, ln2 = measured[ex4.label("bn", 2)], measured[ex4.label("ln", 2)]
    assert sum(m["val_acc"] for m in bn2) / 5 < 0.4  # the collapse
    old = paired_ci([m["loss_std_last"] for m in bn2], [m["loss_std_last"] for m in ln2])
    assert old.mean < 0  # the loss std said BN was the *more* stable one at batch 2
