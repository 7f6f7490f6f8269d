"""Deciding a claim part beyond the CI rule: a smallest effect that matters (``negligible``), the
seeds a still-undecided part needs, p-values and Holm's adjustment across parts.

Every number is computed on the scale the interval was made on: log for ratios and geometric
means (``Estimate.method`` says "log"), the raw scale otherwise (differences, fractions; a logit
interval's power is computed on the raw scale, an approximation). A margin ``m`` is absolute for
differences (0.005 = half a point of accuracy) and relative for ratios (0.10 = 10%: the band
(1/1.1, 1.1) around 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from experiments.stats import CONFIDENCE, CONTRADICTED, INCONCLUSIVE, NEGLIGIBLE, SUPPORTED, Claim, Estimate

POWER = 0.8
MAX_SEEDS = 30
ALPHA = 1 - CONFIDENCE


def on_log_scale(estimate: Estimate) -> bool:
    return "log" in estimate.method


def null(estimate: Estimate) -> float:
    """No effect: 1 for a ratio, 0 for a difference."""
    return 1.0 if on_log_scale(estimate) else 0.0


def band(estimate: Estimate, margin: float) -> tuple[float, float]:
    """The effects smaller than anything that matters, on the effect's own scale.

    >>> band(Estimate(0.9, 0.8, 1.0, 5, "t on log-ratios"), 0.10)
    (0.9090909090909091, 1.1)
    >>> band(Estimate(0.0, -0.1, 0.1, 5), 0.005)
    (-0.005, 0.005)
    """
    if on_log_scale(estimate):
        return 1 / (1 + margin), 1 + margin
    return -margin, margin


def is_negligible(estimate: Estimate, margin: float | None) -> bool:
    """The whole CI inside the band (-m, +m) around no effect.

    >>> is_negligible(Estimate(-0.0004, -0.0034, 0.0027, 5), 0.005), is_negligible(Estimate(-0.004, -0.008, 0.0006, 5), 0.005)
    (True, False)
    """
    if margin is None or math.isnan(estimate.low):
        return False
    low, high = band(estimate, margin)
    return low < estimate.low and estimate.high < high


def decide(claim: Claim, margin: float | None) -> str:
    """The part's verdict: the rule's (censoring included), or ``negligible`` when it is not supported
    or contradicted and the whole CI lies inside the margin (a censored part is never negligible).

    >>> c = Claim("x better", "x - y", Estimate(0.001, -0.002, 0.004, 5), ">", 0.0)
    >>> decide(c, 0.005), decide(c, None), decide(c, 0.001)
    ('negligible', 'inconclusive', 'inconclusive')
    """
    base = claim.verdict
    if base == INCONCLUSIVE and not any(a or b for a, b in claim.censored) and is_negligible(claim.estimate, margin):
        return NEGLIGIBLE
    return base


def reading(verdict: str, equivalence: bool) -> str:
    """What a verdict means for the lesson's sentence: a negligible effect contradicts "X is better"
    and supports "X brings no gain" (``equivalence``).

    >>> reading("negligible", False), reading("negligible", True), reading("supported", False)
    ('contradicted (negligible)', 'supported (negligible)', 'supported')
    """
    if verdict != NEGLIGIBLE:
        return verdict
    return f"{SUPPORTED if equivalence else CONTRADICTED} (negligible)"


def scale_stats(estimate: Estimate, threshold: float) -> tuple[float, float, int, float]:
    """(mean, sd, n, threshold) on the interval's scale, from the per-seed values or else from the CI."""
    log = on_log_scale(estimate)
    n = estimate.n
    values = [v for v in estimate.values if v is not None and (v > 0 or not log)]
    if len(values) == n and n >= 2:
        xs = [math.log(v) for v in values] if log else list(values)
        mean = sum(xs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    else:  # an older report: the sd the t interval implies
        ends = [math.log(v) if log else v for v in (estimate.mean, estimate.low, estimate.high)]
        mean = ends[0]
        sd = ((ends[2] - ends[1]) / 2 / stats.t.ppf(1 - ALPHA / 2, n - 1) * math.sqrt(n)) if n >= 2 else math.nan
    return mean, sd, n, (math.log(threshold) if log and threshold > 0 else threshold)


def p_value(claim: Claim) -> float:
    """Two-sided p of the effect against the claim's threshold (t, on the interval's scale); NaN below 2 seeds.

    >>> round(p_value(Claim("c", "d", Estimate(1.0, 0.0, 0.0, 3, "t", (0.0, 1.0, 2.0)), ">", 0.0)), 4)
    0.2254
    """
    mean, sd, n, thr = scale_stats(claim.estimate, claim.threshold)
    if n < 2 or math.isnan(sd):
        return math.nan
    if sd == 0:  # no spread: the verdict holds without chance (a value exactly on a "<=" threshold satisfies it)
        return 0.0 if claim.verdict in (SUPPORTED, CONTRADICTED) else 1.0
    t = (mean - thr) / (sd / math.sqrt(n))
    return float(2 * stats.t.sf(abs(t), n - 1))


def equivalence_p(claim: Claim, margin: float) -> float:
    """Two one-sided tests against the margin, as a two-sided p (below 0.05 exactly when the 95% t CI
    lies inside (-m, +m)).

    >>> equivalence_p(Claim("c", "d", Estimate(0.0, 0, 0, 3, "t", (-0.001, 0.0, 0.001)), ">", 0.0), 0.005) < 0.05
    True
    """
    mean, sd, n, _ = scale_stats(claim.estimate, claim.threshold)
    m = math.log(1 + margin) if on_log_scale(claim.estimate) else margin
    if n < 2 or math.isnan(sd):
        return math.nan
    if sd == 0:
        return 0.0
    se = sd / math.sqrt(n)
    return float(min(1.0, 2 * max(stats.t.sf((mean + m) / se, n - 1), stats.t.sf((m - mean) / se, n - 1))))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (NaN stays NaN and does not count in the family).

    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03, 0.5])]
    [0.04, 0.09, 0.09, 0.5]
    """
    order = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m, running, out = len(order), 0.0, [math.nan] * len(p_values)
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


@dataclass(frozen=True)
class Need:
    """How many fresh seeds would decide a part with power 0.8, from the pilot's mean and spread."""

    seeds: int | None  # None: more than MAX_SEEDS
    power_at: float  # the power at ``seeds`` (or at MAX_SEEDS when None)
    text: str


def power(mean: float, sd: float, n: int, threshold: float, margin: float | None, centre: float) -> float:
    """The chance that ``n`` fresh seeds decide the part, if the truth is the pilot's mean and sd: its CI
    wholly on one side of the threshold, or (with a margin) wholly inside (-m, +m) around ``centre``.
    Noncentral t; for the margin the two one-sided tests' failures are subtracted (a lower bound)."""
    se = sd / math.sqrt(n)
    crit = stats.t.ppf(1 - ALPHA / 2, n - 1)
    sided = float(stats.nct.sf(crit, n - 1, abs(mean - threshold) / se))
    if margin is None:
        return sided
    d = mean - centre
    inside = 1 - stats.nct.cdf(crit, n - 1, (margin + d) / se) - stats.nct.cdf(crit, n - 1, (margin - d) / se)
    return max(sided, float(inside), 0.0)


def seeds_needed(claim: Claim, margin: float | None) -> Need:
    """The fewest fresh seeds (2..30) with power >= 0.8 to decide ``claim`` at ``margin``.

    >>> seeds_needed(Claim("c", "d", Estimate(-0.0038, -0.0081, 0.0006, 5), ">", 0.0), 0.005).seeds
    9
    """
    mean, sd, n, thr = scale_stats(claim.estimate, claim.threshold)
    log = on_log_scale(claim.estimate)
    m = math.log(1 + margin) if (margin is not None and log) else margin
    if n < 2 or math.isnan(sd):
        return Need(None, math.nan, "no spread to plan from (fewer than 2 seeds)")
    if sd == 0:
        return Need(2, 1.0, "no spread: 2 seeds decide it")
    scale = "log scale" if log else "raw scale"
    for k in range(2, MAX_SEEDS + 1):
        p = power(mean, sd, k, thr, m, 0.0)
        if p >= POWER:
            return Need(k, p, f"{k} fresh seeds give power {p:.2f} (pilot mean {mean:.4g}, sd {sd:.3g} on the {scale}, "
                              f"margin {margin})")
    p = power(mean, sd, MAX_SEEDS, thr, m, 0.0)
    return Need(None, p, f"more than {MAX_SEEDS} seeds: power at {MAX_SEEDS} only {p:.2f} (pilot mean {mean:.4g}, "
                         f"sd {sd:.3g} on the {scale}, margin {margin}): stays inconclusive")
