"""The statistics behind every verdict: 95% confidence intervals over seeds, and the rule.

Comparisons are paired: seed s gives every variant the same initial weights and the same data
order, so a difference is taken per seed and the interval is Student's t on those n
differences (``scipy.stats.t``, n - 1 degrees of freedom). A ratio (BN's epochs over no norm's)
is a t interval on the per-seed log-ratios, mapped back with exp: a geometric mean and its CI.

The rule (``verdict``): a claim names a side of a threshold ("the difference is > 0", "the
ratio is <= 0.7"). ``supported`` when the whole CI lies on the claimed side, ``contradicted``
when the whole CI lies on the other side, ``inconclusive`` otherwise (and with fewer than two
seeds, where no interval exists).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
RULE = ("supported: the whole 95% CI lies on the claimed side of the threshold; contradicted: the whole CI lies "
        "on the other side; inconclusive: the CI straddles the threshold (or fewer than 2 seeds)")


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and its 95% confidence interval (``low``/``high`` NaN with one seed)."""

    mean: float
    low: float
    high: float
    n: int
    method: str = "t"

    def text(self, digits: int = 4, percent: bool = False) -> str:
        """``mean [low, high]``, e.g. ``0.0123 [0.0050, 0.0196]`` (``2.7e-06 [...]`` below the decimals).

        >>> Estimate(2.7e-06, -1e-06, 6.4e-06, 5).text()
        '2.7e-06 [-1e-06, 6.4e-06]'
        """
        scale, unit = (100, "%") if percent else (1, "")

        def number(x: float) -> str:  # a value too small for ``digits`` decimals gets 3 significant digits
            return f"{x:.3g}" if 0 < abs(x) < 0.5 * 10**-digits else f"{x:.{digits}f}"

        if math.isnan(self.low):
            return f"{number(scale * self.mean)}{unit} (n={self.n}, no CI)"
        return f"{number(scale * self.mean)}{unit} [{number(scale * self.low)}, {number(scale * self.high)}]"

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(values) -> np.ndarray:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    return array[np.isfinite(array)]


def mean_ci(values, confidence: float = CONFIDENCE) -> Estimate:
    """Student-t interval of the mean of ``values`` (NaN and None are left out).

    >>> e = mean_ci([1.0, 2.0, 3.0])
    >>> round(e.mean, 6), round(e.low, 4), round(e.high, 4)
    (2.0, -0.4841, 4.4841)
    """
    x = _finite(values)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    centre = float(x.mean())
    if n == 1:
        return Estimate(centre, math.nan, math.nan, 1)
    sd = float(x.std(ddof=1))
    if sd == 0.0:  # every seed gave the same value: the interval has no width
        return Estimate(centre, centre, centre, n)
    low, high = stats.t.interval(confidence, n - 1, loc=centre, scale=sd / math.sqrt(n))
    return Estimate(centre, float(low), float(high), n)


def paired_ci(a, b, confidence: float = CONFIDENCE) -> Estimate:
    """CI of the mean per-seed difference ``a - b`` (seed i of ``a`` pairs with seed i of ``b``;
    a pair with a missing side is dropped)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need the same seeds: {len(a)} vs {len(b)} values")
    diffs = [x - y for x, y in zip(a, b) if _ok(x) and _ok(y)]
    return mean_ci(diffs, confidence)


def ratio_ci(a, b, confidence: float = CONFIDENCE) -> Estimate:
    """CI of the ratio ``a / b`` over paired seeds: t on ``log(a_i / b_i)``, then exp (the
    centre is the geometric mean of the ratios). Values must be positive."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need the same seeds: {len(a)} vs {len(b)} values")
    pairs = [(x, y) for x, y in zip(a, b) if _ok(x) and _ok(y)]
    if any(x <= 0 or y <= 0 for x, y in pairs):
        raise ValueError("a ratio's CI needs positive values on both sides")
    logs = mean_ci([math.log(x / y) for x, y in pairs], confidence)
    return Estimate(*(math.exp(v) if not math.isnan(v) else math.nan for v in (logs.mean, logs.low, logs.high)),
                    logs.n, "t on log-ratios")


def _ok(value) -> bool:
    return value is not None and math.isfinite(value)


def verdict(estimate: Estimate, side: str, threshold: float = 0.0) -> str:
    """The rule. ``side`` is the claim: ``">"`` (the effect is above ``threshold``), ``">="``,
    ``"<"``, ``"<="``, or ``"!="`` (it differs: supported when the CI excludes ``threshold``;
    equality cannot be shown by a CI, so that claim is never contradicted, only inconclusive).

    >>> verdict(Estimate(0.5, 0.2, 0.8, 5), ">")
    'supported'
    >>> verdict(Estimate(-0.5, -0.8, -0.2, 5), ">")
    'contradicted'
    >>> verdict(Estimate(0.1, -0.2, 0.4, 5), ">")
    'inconclusive'
    """
    low, high = estimate.low, estimate.high
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    if side == "!=":
        return SUPPORTED if low > threshold or high < threshold else INCONCLUSIVE
    above = {">": low > threshold, ">=": low >= threshold}
    below = {"<": high < threshold, "<=": high <= threshold}
    if side in above:
        holds, fails = above[side], (high <= threshold if side == ">" else high < threshold)
    elif side in below:
        holds, fails = below[side], (low >= threshold if side == "<" else low > threshold)
    else:
        raise ValueError(f"side must be one of > >= < <= !=, got {side!r}")
    return SUPPORTED if holds else CONTRADICTED if fails else INCONCLUSIVE


@dataclass(frozen=True)
class Claim:
    """One checked statement: what is claimed, the measured effect with its CI, the verdict."""

    claim: str
    effect: str  # what the number is, e.g. "BN minus none, final val acc"
    estimate: Estimate
    side: str
    threshold: float
    percent: bool = False
    key: str = ""  # a stable name the claims ledger finds it by (empty: the ledger does not cite it)

    @property
    def verdict(self) -> str:
        return verdict(self.estimate, self.side, self.threshold)

    def row(self, digits: int = 4) -> list[str]:
        scale, unit = (100, "%") if self.percent else (1, "")
        return [self.claim, self.effect, self.estimate.text(digits, self.percent),
                f"{self.side} {scale * self.threshold:g}{unit}", str(self.estimate.n), f"**{self.verdict}**"]

    def sentence(self, digits: int = 4) -> str:
        """The claim, its number and the verdict, written from the values."""
        return (f"{self.claim}: {self.effect} = {self.estimate.text(digits, self.percent)} (95% CI, "
                f"{self.estimate.n} seeds), claimed {self.side} {(100 if self.percent else 1) * self.threshold:g}"
                f"{'%' if self.percent else ''}: **{self.verdict}**.")

    def to_dict(self) -> dict:
        return {"key": self.key, "claim": self.claim, "effect": self.effect, **self.estimate.to_dict(),
                "side": self.side, "threshold": self.threshold, "percent": self.percent, "verdict": self.verdict}

    @classmethod
    def from_dict(cls, row: dict) -> "Claim":
        """The Claim a results.json row holds; its verdict is made again by the rule, not read."""
        estimate = Estimate(*(math.nan if row[k] is None else row[k] for k in ("mean", "low", "high")), row["n"],
                            row.get("method", "t"))
        return cls(row["claim"], row["effect"], estimate, row["side"], row["threshold"], row.get("percent", False),
                   row.get("key", ""))


CLAIM_COLUMNS = ["claim", "effect", "mean [95% CI]", "claimed", "seeds", "verdict"]
