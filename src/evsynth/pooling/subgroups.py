"""Test for subgroup differences between independently pooled subgroup estimates.

With a separate model (own tau^2) per subgroup, the G subgroup estimates b_g with standard
errors s_g are compared by the Q statistic of a fixed-effect (inverse-variance) model fitted to
them (Borenstein et al., 2009, Introduction to Meta-Analysis, ch. 19, "Q_between"; the Cochrane
Handbook's test for subgroup differences)::

    Q = sum_g w_g (b_g - b_w)^2,   w_g = 1 / s_g^2,   b_w = sum_g w_g b_g / sum_g w_g,

referred to a chi-square distribution with G - 1 df. It equals the omnibus moderator statistic
QM of metafor's ``rma(estimate, sei = se, mods = ~ factor(group), method = "FE")`` (the recipe
of metafor's "subgrouping versus meta-regression" note).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["SubgroupTest", "subgroup_test"]


@dataclass(frozen=True)
class SubgroupTest:
    """Result of :func:`subgroup_test`.

    Attributes
    ----------
    Q : float
        Between-subgroup heterogeneity statistic.
    df : int
        Degrees of freedom, G - 1.
    p : float
        Upper-tail chi-square probability of Q with ``df`` degrees of freedom.
    """

    Q: float
    df: int
    p: float


def _vector(x: Any, name: str) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index)):
        x = x.to_numpy()
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    return arr


def subgroup_test(estimates: Any, ses: Any) -> SubgroupTest:
    """Q test for differences between G independently pooled subgroup estimates.

    Parameters
    ----------
    estimates : array-like, shape (G,)
        The pooled estimate of each subgroup (on the analysis scale, e.g. log RR), G >= 2.
    ses : array-like, shape (G,)
        Their standard errors (> 0), as reported by each subgroup's model (Knapp-Hartung-adjusted
        where the subgroup models used ``test="knha"``/``"adhoc"``; the between test stays a
        chi-square test, as in metafor's recipe).

    Returns
    -------
    SubgroupTest
        ``Q``, ``df = G - 1`` and ``p``.

    Raises
    ------
    ValueError
        Naming the argument and index: fewer than 2 subgroups, mismatched lengths, non-finite
        values, or a standard error that is not > 0.

    Examples
    --------
    >>> subgroup_test([-0.5, 0.1], [0.2, 0.25]).df
    1
    """
    b = _vector(estimates, "estimates")
    s = _vector(ses, "ses")
    if b.shape != s.shape:
        raise ValueError(f"estimates and ses must have the same length, got {b.size} and {s.size}")
    if b.size < 2:
        raise ValueError(f"estimates: need at least 2 subgroups, got {b.size}")
    for name, arr in (("estimates", b), ("ses", s)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] must be finite, got {arr[bad[0]]}")
    bad = np.flatnonzero(~(s > 0))
    if bad.size:
        raise ValueError(f"ses[{bad[0]}] must be > 0, got {s[bad[0]]}; cannot test subgroup differences")
    w = 1.0 / s**2
    q = float(np.sum(w * (b - np.sum(w * b) / w.sum()) ** 2))
    df = int(b.size - 1)
    return SubgroupTest(Q=q, df=df, p=float(stats.chi2.sf(q, df)))
