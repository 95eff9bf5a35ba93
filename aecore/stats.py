"""Intervals for the numbers a chapter reports: a binomial (Wilson) interval for k successes out of n, and a
mean with its Student-t interval over a few values (e.g. one per training seed), plus the phrase the prose
uses for an interval. Pure Python (no SciPy needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist


def wilson_interval(k: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: ``k`` successes out of ``n`` trials (``0 <= k <= n``, ``n >= 1``;
    ``k`` may be a mean count, not whole) at confidence ``level`` (0 to 1). Returns ``(low, high)`` as fractions
    in [0, 1]; e.g. ``wilson_interval(5, 10)`` -> ``(0.2366, 0.7634)``. Unlike the normal (Wald) interval it stays
    inside [0, 1] and is not zero-width at 0 of n or n of n."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n and n >= 1, got k={k}, n={n}")
    _check_level(level)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class MeanInterval:
    """A mean and its confidence interval, in the units of the values it summarises (e.g. percentage points)."""

    mean: float
    low: float
    high: float
    n: int
    """How many values (e.g. seeds) it summarises."""
    level: float = 0.95

    @property
    def half_width(self) -> float:
        """Half the interval's width: the "± x" of ``mean ± x``."""
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly above or wholly below 0 (the sign of the effect is established)."""
        return self.low > 0 or self.high < 0


def mean_interval(values: Sequence[float], level: float = 0.95) -> MeanInterval:
    """The mean of ``values`` (at least 2, e.g. one paired difference per seed, in any unit) with its Student-t
    interval at confidence ``level``: mean ± t(level, n - 1) · sd / √n, sd the sample standard deviation.
    Returns a :class:`MeanInterval` in the units of ``values``."""
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        raise ValueError(f"mean_interval needs at least 2 values, got {n}")
    _check_level(level)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return MeanInterval(mean, mean - half, mean + half, n, level)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (0 < p < 1) of Student's t distribution with ``df`` >= 1 degrees of freedom, e.g.
    ``t_quantile(0.975, 4)`` -> 2.776 (bisection on the CDF, accurate to about 1e-10)."""
    if not 0 < p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df >= 1, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_cdf(middle, df) < p else (low, middle)
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def interval_phrase(interval: MeanInterval, unit: str = "points", digits: int = 1) -> str:
    """A change with its interval as a phrase for the prose, its direction said only where the interval
    establishes it: ``"rises by 6.2 points (95 % interval 3.1 to 9.3)"``, ``"falls by 4.0 points (95 %
    interval -7.2 to -0.8)"`` or, when the interval holds 0, ``"shows no clear change (-2.0 ± 4.1 points)"``."""
    level = f"{100 * interval.level:g} %"
    if not interval.excludes_zero():
        return (f"shows no clear change ({interval.mean:+.{digits}f} ± {interval.half_width:.{digits}f} "
                f"{unit})").replace("+-", "-")
    verb = "rises" if interval.mean > 0 else "falls"
    return (f"{verb} by {abs(interval.mean):.{digits}f} {unit} ({level} interval {interval.low:.{digits}f} to "
            f"{interval.high:.{digits}f})")


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"a confidence level is a fraction between 0 and 1, got {level}")


def _t_cdf(t: float, df: int) -> float:
    """P(T <= t) for t >= 0, through the regularized incomplete beta function."""
    x = df / (df + t * t)
    return 1 - 0.5 * _incomplete_beta(df / 2, 0.5, x)


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes' betacf)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    if x > (a + 1) / (a + b + 2):
        return 1 - _incomplete_beta(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * fraction / a
