"""Conversions of trial-report statistics into the inputs effect sizes need.

Every function returns its result together with a short ``method`` string that the
pipeline records beside the derived number, so a reader can see how it was obtained.
Inputs are single numbers (one extraction cell each); errors name the argument.

Sources
-------
* Cochrane Handbook for Systematic Reviews of Interventions, version 6.4 (2023),
  sections 6.5.2.2 (SD from SE or CI of a group mean), 6.5.2.3 (SD from the CI of a
  difference in means), 6.5.2.10 and Table 6.5.a (combining groups), 6.3.2 (SE of a
  ratio from its CI) and 23.3.4 (splitting a shared group in multi-arm trials).
* Wan X, Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard
  deviation from the sample size, median, range and/or interquartile range.
  BMC Med Res Methodol 14:135 (SD).
* Luo D, Wan X, Liu J, Tong T (2018). Optimally estimating the sample mean from the
  sample size, median, mid-range, and/or mid-quartile range. Stat Methods Med Res
  27(6):1785-1805 (mean).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import integrate
from scipy.stats import norm
from scipy.stats import t as t_dist

SMALL_SAMPLE = 60  # Cochrane Handbook 6.5.2.2: t-based intervals "say less than 60"


@dataclass(frozen=True)
class Derived:
    """A derived number and how it was obtained."""

    value: float
    method: str


@dataclass(frozen=True)
class MeanSD:
    """Estimated mean and SD of one group, and how they were obtained."""

    mean: float
    sd: float
    method: str


@dataclass(frozen=True)
class GroupSummary:
    """Sample size, mean and SD of a (combined) group."""

    n: float
    mean: float
    sd: float
    method: str


@dataclass(frozen=True)
class SplitArm:
    """A shared arm's share for one comparison of a multi-arm trial."""

    n: float
    events: float | None
    mean: float | None
    sd: float | None
    method: str


# --- argument checks ------------------------------------------------------------------

def _number(name: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return x


def _positive(name: str, value) -> float:
    x = _number(name, value)
    if x <= 0:
        raise ValueError(f"{name} must be > 0, got {x:g}")
    return x


def _sample_size(name: str, value, minimum: int = 2) -> float:
    x = _number(name, value)
    if x < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {x:g}")
    return x


def _interval(lb, ub, lb_name: str = "ci_lb", ub_name: str = "ci_ub") -> tuple[float, float]:
    lo, hi = _number(lb_name, lb), _number(ub_name, ub)
    if not lo < hi:
        raise ValueError(f"{lb_name} must be < {ub_name}, got {lo:g} and {hi:g}")
    return lo, hi


def _alpha(level) -> float:
    level = _number("level", level)
    if not 0 < level < 100:
        raise ValueError(f"level must be between 0 and 100 (percent), got {level:g}")
    return (100 - level) / 100 if level > 1 else 1 - level


def _critical(level, dist: str | None, small: bool, df: float) -> tuple[float, str]:
    """Critical value for a two-sided interval and a label such as ``t(df=24)``."""
    if dist is None:
        dist = "t" if small else "z"
    alpha = _alpha(level)
    if dist == "t":
        return float(t_dist.ppf(1 - alpha / 2, df)), f"t(df={df:g})"
    if dist == "z":
        return float(norm.ppf(1 - alpha / 2)), "z"
    raise ValueError(f"dist must be 't', 'z' or None, got {dist!r}")


# --- SD from SE or CI ---------------------------------------------------------------------

def sd_from_se(se, n) -> Derived:
    """SD of a group from the standard error of its mean: ``SD = SE * sqrt(n)``.

    Cochrane Handbook 6.5.2.2.

    Parameters
    ----------
    se : float
        Standard error of the group mean (> 0).
    n : float
        Group size (>= 2).
    """
    se = _positive("se", se)
    n = _sample_size("n", n)
    return Derived(se * math.sqrt(n), "SD = SE*sqrt(n) [Cochrane Handbook 6.5.2.2]")


def sd_from_ci(ci_lb, ci_ub, n, level=95, dist: str | None = None) -> Derived:
    """SD of a group from the confidence interval of its mean.

    ``SD = sqrt(n) * (ub - lb) / (2 q)`` with ``q`` the t quantile on ``n - 1`` df
    for small samples (n < 60) or the normal quantile otherwise (Cochrane
    Handbook 6.5.2.2: the divisor 3.92 of a 95% CI becomes ``2 * 2.0639 = 4.128``
    for n = 25).

    Parameters
    ----------
    ci_lb, ci_ub : float
        Reported interval of the mean.
    n : float
        Group size (>= 2).
    level : float, default 95
        Confidence level in percent.
    dist : {"t", "z"}, optional
        Override the small-sample rule.
    """
    lo, hi = _interval(ci_lb, ci_ub)
    n = _sample_size("n", n)
    q, label = _critical(level, dist, n < SMALL_SAMPLE, n - 1)
    return Derived(math.sqrt(n) * (hi - lo) / (2 * q),
                   f"SD = sqrt(n)*(ub-lb)/(2*{label} quantile) [Cochrane Handbook 6.5.2.2]")


def sd_from_mean_difference_ci(ci_lb, ci_ub, n1, n2, level=95, dist: str | None = None) -> Derived:
    """Within-group SD (assumed equal in both groups) from the CI of a difference in means.

    ``SE = (ub - lb) / (2 q)`` with ``q`` from a t distribution on ``n1 + n2 - 2`` df
    when either group has fewer than 60 participants (else normal); then
    ``SD = SE / sqrt(1/n1 + 1/n2)`` (Cochrane Handbook 6.5.2.3).

    Parameters
    ----------
    ci_lb, ci_ub : float
        Reported interval of the mean difference.
    n1, n2 : float
        Group sizes (>= 2).
    level : float, default 95
    dist : {"t", "z"}, optional
    """
    lo, hi = _interval(ci_lb, ci_ub)
    n1 = _sample_size("n1", n1)
    n2 = _sample_size("n2", n2)
    small = min(n1, n2) < SMALL_SAMPLE
    q, label = _critical(level, dist, small, n1 + n2 - 2)
    se = (hi - lo) / (2 * q)
    return Derived(se / math.sqrt(1 / n1 + 1 / n2),
                   f"SD = (ub-lb)/(2*{label} quantile)/sqrt(1/n1+1/n2) [Cochrane Handbook 6.5.2.3]")


def log_se_from_ratio_ci(ci_lb, ci_ub, level=95) -> Derived:
    """SE of a log ratio (hazard, risk or odds ratio) from the ratio's CI.

    ``SE = (log(ub) - log(lb)) / (2 z)`` (Cochrane Handbook 6.3.2; for 95% the
    divisor is 3.92).

    Parameters
    ----------
    ci_lb, ci_ub : float
        Reported interval of the ratio (> 0, natural scale).
    level : float, default 95
    """
    lo = _positive("ci_lb", ci_lb)
    hi = _positive("ci_ub", ci_ub)
    lo, hi = _interval(lo, hi)
    z = float(norm.ppf(1 - _alpha(level) / 2))
    return Derived((math.log(hi) - math.log(lo)) / (2 * z),
                   "SE(log ratio) = (log(ub)-log(lb))/(2*z quantile) [Cochrane Handbook 6.3.2]")


def log_hr_se_from_ci(hr_lb, hr_ub, level=95) -> Derived:
    """SE of a log hazard ratio from the hazard ratio's CI; see :func:`log_se_from_ratio_ci`."""
    return log_se_from_ratio_ci(hr_lb, hr_ub, level)


# --- mean and SD from median, quartiles and range ------------------------------------

@cache
def expected_normal_range(n: int) -> float:
    """Expected range of *n* standard-normal observations, ``2 E(Z_(n))``.

    ``E(range) = integral of 1 - Phi(x)^n - (1 - Phi(x))^n over the real line``
    (Tippett 1925, Biometrika 17:364). These are the values of xi(n) in Wan et al.
    2014, Table 1 (n <= 50).
    """
    if n < 2:
        return 0.0

    def integrand(x):
        return 1 - norm.cdf(x) ** n - norm.sf(x) ** n

    value, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-12, epsrel=1e-12, limit=200)
    return float(value)


def wan_xi(n: int) -> float:
    """xi(n) of Wan et al. 2014, eq. 7 and 12: the exact expected normal range for
    n <= 50 (the values of their Table 1), Blom's (1958) approximation
    ``2 Phi^-1((n - 0.375)/(n + 0.25))`` above 50."""
    if n <= 50:
        return expected_normal_range(n)
    return float(2 * norm.ppf((n - 0.375) / (n + 0.25)))


def wan_eta(n: int) -> float:
    """eta(n) of Wan et al. 2014 (scenarios C2 and C3): the expected interquartile
    range of n standard-normal values by Blom's approximation,
    ``2 Phi^-1((0.75 n - 0.125)/(n + 0.25))``."""
    return float(2 * norm.ppf((0.75 * n - 0.125) / (n + 0.25)))


def mean_sd_from_median(n, median, *, q1=None, q3=None, minimum=None, maximum=None) -> MeanSD:
    """Estimate a group's mean and SD from its median with range and/or quartiles.

    Scenarios as named by Wan et al. 2014 (means from Luo et al. 2018, SDs from Wan):

    * C1 median ``m``, minimum ``a``, maximum ``b``:
      mean ``= w (a+b)/2 + (1-w) m`` with ``w = 4/(4 + n^0.75)``;
      SD ``= (b-a)/xi(n)`` (Wan eq. 7).
    * C2 all five numbers:
      mean ``= w (a+b)/2 + (0.7 - 0.72/n^0.55)(q1+q3)/2 + (0.3 + 0.72/n^0.55 - w) m`` with
      ``w = 2.2/(2.2 + n^0.75)``;
      SD ``= (b-a)/(2 xi(n)) + (q3-q1)/(2 eta(n))`` (Wan eq. 12).
    * C3 median and quartiles ``q1``, ``q3``:
      mean ``= (0.7 + 0.39/n)(q1+q3)/2 + (0.3 - 0.39/n) m``;
      SD ``= (q3-q1)/eta(n)``.

    ``xi(n)`` is the expected range of n standard-normal values (Wan's Table 1, exact
    for n <= 50, Blom's approximation above); ``eta(n) = 2 Phi^-1((0.75 n - 0.125)/(n + 0.25))``.

    The estimators assume roughly normal data; a median reported with an IQR often
    signals skew, so these are approximations to flag in sensitivity analyses.

    Parameters
    ----------
    n : int
        Group size (integer >= 3).
    median : float
    q1, q3 : float, optional
        First and third quartiles (both or neither).
    minimum, maximum : float, optional
        Range (both or neither).

    Returns
    -------
    MeanSD
    """
    n_val = _sample_size("n", n, minimum=3)
    if n_val != int(n_val):
        raise ValueError(f"n must be a whole number, got {n_val:g}")
    n_int = int(n_val)
    m = _number("median", median)
    has_q = _pair("q1", q1, "q3", q3)
    has_r = _pair("minimum", minimum, "maximum", maximum)
    if not (has_q or has_r):
        raise ValueError("give the quartiles (q1, q3), the range (minimum, maximum), or both")
    values = [("minimum", minimum)] if has_r else []
    values += [("q1", q1)] if has_q else []
    values += [("median", m)] + ([("q3", q3)] if has_q else []) + ([("maximum", maximum)] if has_r else [])
    _check_order([(name, _number(name, v)) for name, v in values])

    if has_r and has_q:
        a, b, lo, hi = float(minimum), float(maximum), float(q1), float(q3)
        w = 2.2 / (2.2 + n_int**0.75)
        v = 0.72 / n_int**0.55
        mean = w * (a + b) / 2 + (0.7 - v) * (lo + hi) / 2 + (0.3 + v - w) * m
        sd = (b - a) / (2 * wan_xi(n_int)) + (hi - lo) / (2 * wan_eta(n_int))
        method = "mean: Luo 2018 C2 (min, q1, median, q3, max); SD: Wan 2014 eq. 12"
    elif has_r:
        a, b = float(minimum), float(maximum)
        w = 4 / (4 + n_int**0.75)
        mean = w * (a + b) / 2 + (1 - w) * m
        sd = (b - a) / wan_xi(n_int)
        method = "mean: Luo 2018 C1 (min, median, max); SD: Wan 2014 eq. 7"
    else:
        lo, hi = float(q1), float(q3)
        mean = (0.7 + 0.39 / n_int) * (lo + hi) / 2 + (0.3 - 0.39 / n_int) * m
        sd = (hi - lo) / wan_eta(n_int)
        method = "mean: Luo 2018 C3 (q1, median, q3); SD: Wan 2014 C3 (IQR)"
    return MeanSD(mean, sd, method)


def _pair(name_a: str, a, name_b: str, b) -> bool:
    if (a is None) != (b is None):
        given, missing = (name_a, name_b) if b is None else (name_b, name_a)
        raise ValueError(f"{given} was given without {missing}")
    return a is not None


def _check_order(values: list[tuple[str, float]]) -> None:
    for (name_a, a), (name_b, b) in itertools.pairwise(values):
        if a > b:
            raise ValueError(f"{name_a} ({a:g}) must not exceed {name_b} ({b:g})")
    if values[0][1] == values[-1][1]:
        raise ValueError(f"{values[0][0]} equals {values[-1][0]}: no spread to estimate an SD from")


# --- combining and splitting groups ----------------------------------------------------

def combine_groups(n1, mean1, sd1, n2, mean2, sd2) -> GroupSummary:
    """Combine two groups into one (e.g. two ketamine doses vs placebo).

    Cochrane Handbook 6.5.2.10, Table 6.5.a:
    ``N = n1 + n2``, ``M = (n1 m1 + n2 m2)/N``,
    ``SD = sqrt(((n1-1) sd1^2 + (n2-1) sd2^2 + n1 n2/N (m1 - m2)^2) / (N - 1))``.
    The result equals the mean and SD of the pooled individual data.

    Parameters
    ----------
    n1, mean1, sd1, n2, mean2, sd2 : float
        Group sizes (>= 2), means and SDs (> 0).
    """
    n1 = _sample_size("n1", n1)
    n2 = _sample_size("n2", n2)
    m1, m2 = _number("mean1", mean1), _number("mean2", mean2)
    s1, s2 = _positive("sd1", sd1), _positive("sd2", sd2)
    n = n1 + n2
    mean = (n1 * m1 + n2 * m2) / n
    var = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2 + n1 * n2 / n * (m1 - m2) ** 2) / (n - 1)
    return GroupSummary(n, mean, math.sqrt(var),
                        "combined groups [Cochrane Handbook 6.5.2.10, Table 6.5.a]")


def split_shared_control(n, n_comparisons, *, events=None, mean=None, sd=None) -> SplitArm:
    """Split a control arm shared by several comparisons of a multi-arm trial.

    The arm's size (and number of events) is divided by the number of comparisons
    it enters; mean and SD are kept (Cochrane Handbook 23.3.4). The divided counts
    are not rounded: rounding would change the reported numbers.

    Parameters
    ----------
    n : float
        Size of the shared arm (> 0).
    n_comparisons : int
        Number of comparisons using the arm (integer >= 2).
    events : float, optional
        Events in the shared arm (0 <= events <= n).
    mean, sd : float, optional
        Mean and SD of the shared arm (kept unchanged).
    """
    n = _positive("n", n)
    k = _number("n_comparisons", n_comparisons)
    if k < 2 or k != int(k):
        raise ValueError(f"n_comparisons must be a whole number >= 2, got {k:g}")
    ev = None
    if events is not None:
        ev = _number("events", events)
        if not 0 <= ev <= n:
            raise ValueError(f"events must be between 0 and n ({n:g}), got {ev:g}")
        ev = ev / k
    m = None if mean is None else _number("mean", mean)
    s = None if sd is None else _positive("sd", sd)
    return SplitArm(n / k, ev, m, s,
                    f"shared arm split across {int(k)} comparisons [Cochrane Handbook 23.3.4]")
