"""Generic inverse-variance inputs: effect estimates reported with a CI or an SE.

Ratio measures (HR, RR, OR) are analysed on the log scale, so ``yi`` is the log of
the reported ratio and ``vi`` the variance of that log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ._inputs import as_float_array, check_positive, check_same_length

RATIO_MEASURES = ("HR", "RR", "OR")
DIFFERENCE_MEASURES = ("MD", "SMD")
GENERIC_MEASURES = RATIO_MEASURES + DIFFERENCE_MEASURES


def critical_z(level: float = 95) -> float:
    """Two-sided standard-normal quantile for a confidence *level*.

    *level* is a percentage (95) or, as metafor's ``level`` argument also
    accepts, a proportion (0.95).
    """
    level = float(level)
    if not np.isfinite(level) or not 0 < level < 100:
        raise ValueError(f"level must be between 0 and 100 (percent), got {level}")
    alpha = (100 - level) / 100 if level > 1 else 1 - level
    return float(norm.ppf(1 - alpha / 2))


def _check_measure(measure: str) -> None:
    if measure not in GENERIC_MEASURES:
        raise ValueError(f"unknown measure {measure!r}; valid: {', '.join(GENERIC_MEASURES)}")


def from_ci(estimate, ci_lb, ci_ub, measure: str, level: float = 95) -> pd.DataFrame:
    """Effect size and sampling variance from an estimate and its confidence interval.

    The standard error is the CI width divided by ``2 z`` with ``z`` the normal
    quantile for *level* (Cochrane Handbook v6.4, section 6.3.1 and 6.3.2; Altman &
    Bland 2011, BMJ 343:d2090); for ratio measures the width is taken on the log
    scale, ``(log(ub) - log(lb)) / (2 z)``.

    Parameters
    ----------
    estimate, ci_lb, ci_ub : array_like
        Reported estimates and CI bounds, same length (ratios on their natural scale).
    measure : {"HR", "RR", "OR", "MD", "SMD"}
    level : float, default 95
        Confidence level of the reported interval, in percent.

    Returns
    -------
    pandas.DataFrame
        Columns ``yi`` (log scale for ratio measures) and ``vi`` (= SE^2).

    Raises
    ------
    ValueError
        Unknown measure; non-finite values; ratios <= 0; ``ci_lb >= ci_ub`` or an
        estimate outside its interval (names argument and index).
    """
    _check_measure(measure)
    z = critical_z(level)
    est = as_float_array("estimate", estimate)
    lb = as_float_array("ci_lb", ci_lb)
    ub = as_float_array("ci_ub", ci_ub)
    check_same_length({"estimate": est, "ci_lb": lb, "ci_ub": ub})
    if measure in RATIO_MEASURES:
        for name, arr in (("estimate", est), ("ci_lb", lb), ("ci_ub", ub)):
            check_positive(name, arr)
    for i in range(len(est)):
        if not lb[i] < ub[i]:
            raise ValueError(f"ci_lb[{i}] must be < ci_ub[{i}], got {lb[i]:g} and {ub[i]:g}")
        if not lb[i] <= est[i] <= ub[i]:
            raise ValueError(
                f"estimate[{i}] = {est[i]:g} lies outside its interval [{lb[i]:g}, {ub[i]:g}]"
            )
    if measure in RATIO_MEASURES:
        yi, se = np.log(est), (np.log(ub) - np.log(lb)) / (2 * z)
    else:
        yi, se = est, (ub - lb) / (2 * z)
    return pd.DataFrame({"yi": yi, "vi": se**2})


def from_se(estimate, se, measure: str) -> pd.DataFrame:
    """Effect size and sampling variance from an estimate and its standard error.

    Parameters
    ----------
    estimate : array_like
        Reported estimates (ratios on their natural scale, e.g. HR = 0.8).
    se : array_like
        Standard errors of ``yi``, i.e. of the log ratio for HR/RR/OR (as reported
        by Cox and logistic models), of the estimate itself for MD/SMD.
    measure : {"HR", "RR", "OR", "MD", "SMD"}

    Returns
    -------
    pandas.DataFrame
        Columns ``yi`` (log scale for ratio measures) and ``vi = se^2``.
    """
    _check_measure(measure)
    est = as_float_array("estimate", estimate)
    se = as_float_array("se", se)
    check_same_length({"estimate": est, "se": se})
    check_positive("se", se)
    if measure in RATIO_MEASURES:
        check_positive("estimate", est)
        est = np.log(est)
    return pd.DataFrame({"yi": est, "vi": se**2})
