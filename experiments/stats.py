"""The statistics behind every verdict: 95% confidence intervals over seeds, and the rule.

Comparisons are paired: seed s gives every variant the same initial weights and the same data
order, so a difference is taken per seed and the interval is Student's t on those n
differences (``scipy.stats.t``, n - 1 degrees of freedom). A ratio (BN's epochs over no norm's)
is a t interval on the per-seed log-ratios, mapped back with exp: a geometric mean and its CI.

Bounded quantities get bounded intervals (``mean_ci(..., bounds=...)``): a fraction or an
accuracy in [0, 1] is averaged on the logit scale (t there, mapped back: the interval stays
inside (0, 1)); a positive quantity (seconds, epochs) on the log scale (a geometric mean). The
method each interval used is in ``Estimate.method``.

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
NEGLIGIBLE = "negligible"  # the whole CI inside (-m, +m), m the smallest effect that matters (ledger/parts.py)
UNIT, POSITIVE = (0.0, 1.0), (0.0, math.inf)  # the ``bounds`` of fractions/accuracies and of positive quantities
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
    values: tuple = ()  # the per-seed values it was made from (differences, ratios): what power and p-values use

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


def mean_ci(values, confidence: float = CONFIDENCE, bounds: tuple[float, float] | None = None) -> Estimate:
    """Interval of the mean of ``values`` (NaN and None are left out): Student t, or, with ``bounds``,
    t on the logit scale (``UNIT``: fractions, accuracies) or on the log scale (``POSITIVE``), mapped
    back, so that the interval stays inside the bounds.

    >>> e = mean_ci([1.0, 2.0, 3.0])
    >>> round(e.mean, 6), round(e.low, 4), round(e.high, 4)
    (2.0, -0.4841, 4.4841)
    >>> e = mean_ci([0.05, 0.001, 0.1, 0.02, 0.09], bounds=UNIT)  # t alone would give a negative low end
    >>> 0 < e.low < e.mean < e.high < 1, e.method
    (True, 't on logits')
    >>> mean_ci([0.05, 0.0, 0.1, 0.02, 0.09], bounds=UNIT).text()  # a value at 0: t cut at the bound
    '0.0520 [0.0000, 0.1057]'
    >>> e = mean_ci([1.0, 1.0, 1.0], bounds=UNIT)  # all equal, at the bound: a zero-width interval at 1
    >>> (e.mean, e.low, e.high)
    (1.0, 1.0, 1.0)
    >>> e = mean_ci([0.0, 1.0, 1.0, 1.0, 1.0], bounds=UNIT)  # values at both bounds: still inside [0, 1]
    >>> 0.0 <= e.low < e.high <= 1.0, e.method
    (True, 't, cut to [0, 1] (values at a bound)')
    >>> mean_ci([0.7], bounds=UNIT).text()  # one seed: no interval
    '0.7000 (n=1, no CI)'
    >>> e = mean_ci([4.2, 0.5, 8.7, 3.0, 4.6], bounds=POSITIVE)  # seconds: the interval stays positive
    >>> e.low > 0, e.method
    (True, 't on logs (geometric mean)')
    """
    x = _finite(values)
    if bounds is None:
        return _t_interval(x, confidence)
    low, high = bounds
    if low == 0.0 and high == 1.0:
        if len(x) and ((x <= 0) | (x >= 1)).any():  # a logit at 0 or 1 is infinite: t, cut to [0, 1]
            e = _t_interval(x, confidence)
            cut = [v if math.isnan(v) else min(max(v, 0.0), 1.0) for v in (e.low, e.high)]
            return Estimate(e.mean, *cut, e.n, "t, cut to [0, 1] (values at a bound)", e.values)
        on_scale = _t_interval(np.log(x / (1 - x)), confidence)
        back = [_expit(v) for v in (on_scale.mean, on_scale.low, on_scale.high)]
        return Estimate(*back, on_scale.n, "t on logits", tuple(x.tolist()))
    if low == 0.0 and high == math.inf:
        if (x <= 0).any():
            raise ValueError("a positive quantity's interval needs positive values")
        on_scale = _t_interval(np.log(x), confidence)
        back = [math.exp(v) if not math.isnan(v) else math.nan for v in (on_scale.mean, on_scale.low, on_scale.high)]
        return Estimate(*back, on_scale.n, "t on logs (geometric mean)", tuple(x.tolist()))
    raise ValueError(f"bounds must be UNIT {UNIT} or POSITIVE {POSITIVE}, got {bounds}")


def _expit(v: float) -> float:
    return v if math.isnan(v) else 1.0 / (1.0 + math.exp(-v))


def _t_interval(x: np.ndarray, confidence: float) -> Estimate:
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    centre = float(x.mean())
    if n == 1:
        return Estimate(centre, math.nan, math.nan, 1, "t", tuple(x.tolist()))
    sd = float(x.std(ddof=1))
    if sd == 0.0:  # every seed gave the same value: the interval has no width
        return Estimate(centre, centre, centre, n, "t", tuple(x.tolist()))
    low, high = stats.t.interval(confidence, n - 1, loc=centre, scale=sd / math.sqrt(n))
    return Estimate(centre, float(low), float(high), n, "t", tuple(x.tolist()))


def paired_ci(a, b, confidence: float = CONFIDENCE, bounded: bool = False) -> Estimate:
    """CI of the mean per-seed difference ``a - b`` (seed i of ``a`` pairs with seed i of ``b``;
    a pair with a missing side is dropped). ``bounded``: ``a`` and ``b`` are fractions, so their
    difference lies in [-1, 1] and the interval is cut there.

    >>> paired_ci([1.0, 0.0, 1.0], [0.0, 1.0, 0.0], bounded=True).text()
    '0.3333 [-1.0000, 1.0000]'
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples need the same seeds: {len(a)} vs {len(b)} values")
    diffs = [x - y for x, y in zip(a, b) if _ok(x) and _ok(y)]
    e = mean_ci(diffs, confidence)
    if not bounded or math.isnan(e.low):
        return e
    return Estimate(e.mean, max(e.low, -1.0), min(e.high, 1.0), e.n, "t, cut to [-1, 1]", e.values)


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
                    logs.n, "t on log-ratios", tuple(x / y for x, y in pairs))


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
    censored: tuple = ()  # times to a target: per seed (first side not reached, second side not reached)
    sides: tuple = ()  # the two sides' names, e.g. ("BN", "none"), for the censoring note

    @property
    def verdict(self) -> str:
        return censored_verdict(verdict(self.estimate, self.side, self.threshold), self.side, self.censored)

    @property
    def censoring_note(self) -> str:
        """``"not reached: BN 1 of 5 seeds, none 0 of 5 seeds"`` (empty when every seed reached it)."""
        return censoring_note(self.censored, self.sides)

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
                "side": self.side, "threshold": self.threshold, "percent": self.percent, "verdict": self.verdict,
                "censored": [list(c) for c in self.censored], "sides": list(self.sides),
                "censoring": self.censoring_note}

    @classmethod
    def from_dict(cls, row: dict) -> "Claim":
        """The Claim a results.json row holds; its verdict is made again by the rule, not read."""
        estimate = Estimate(*(math.nan if row[k] is None else row[k] for k in ("mean", "low", "high")), row["n"],
                            row.get("method", "t"), tuple(v for v in row.get("values", ()) if v is not None))
        return cls(row["claim"], row["effect"], estimate, row["side"], row["threshold"], row.get("percent", False),
                   row.get("key", ""), tuple(tuple(c) for c in row.get("censored", ())), tuple(row.get("sides", ())))


def censored_verdict(base: str, side: str, censored) -> str:
    """A verdict that censored values (targets never reached) cannot carry is inconclusive.

    The effect compares a first side with a second (a ratio or difference of times). A first side
    that never reached its target is a lower bound: its true time is longer, so the true effect is
    larger than measured; a censored second side makes it smaller. A verdict stands only if every
    censored value pushes against it; a seed censored on both sides pushes both ways, so neither.

    >>> censored_verdict("contradicted", "<", [(False, False), (True, True)])  # both cut off: no evidence
    'inconclusive'
    >>> censored_verdict("supported", "<", [(False, True)])  # the second side is even slower than counted
    'supported'
    >>> censored_verdict("contradicted", "<", [(False, True)])  # ... so it cannot contradict "<"
    'inconclusive'
    """
    if base not in (SUPPORTED, CONTRADICTED) or not any(a or b for a, b in censored):
        return base
    larger_true = any(a for a, _ in censored)  # some true effect larger than measured
    smaller_true = any(b for _, b in censored)
    claims_low = side in ("<", "<=")
    # "supported" for a "<" claim fails if the truth may be larger; "contradicted" fails if it may be smaller
    unsafe = (larger_true if claims_low else smaller_true) if base == SUPPORTED else (smaller_true if claims_low else larger_true)
    return INCONCLUSIVE if unsafe else base


def censoring_note(censored, sides=()) -> str:
    """``"not reached: BN 1 of 5 seeds, none 0 of 5 seeds"``, and the reason when most seeds miss on both sides.

    >>> censoring_note([(True, True), (True, True), (False, False)], ("BN", "none"))
    'not reached: BN 2 of 3 seeds, none 2 of 3 seeds; both sides never reached the target in 2 of 3 seeds: no evidence either way'
    """
    if not any(a or b for a, b in censored):
        return ""
    n = len(censored)
    first, second = (list(sides) + ["first side", "second side"])[:2] if len(sides) < 2 else sides
    text = (f"not reached: {first} {sum(a for a, _ in censored)} of {n} seeds, "
            f"{second} {sum(b for _, b in censored)} of {n} seeds")
    both = sum(a and b for a, b in censored)
    if 2 * both > n:
        text += f"; both sides never reached the target in {both} of {n} seeds: no evidence either way"
    return text


CLAIM_COLUMNS = ["claim", "effect", "mean [95% CI]", "claimed", "seeds", "verdict"]
