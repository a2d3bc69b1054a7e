"""Single-group proportions: raw (PR), logit (PLO), arcsine (PAS), Freeman-Tukey (PFT).

Follows metafor 3.8 ``escalc``. ``xi`` events out of ``ni``; ``mi = ni - xi``.
"""

from __future__ import annotations

import numpy as np

from ._inputs import check_nonnegative, check_positive, resolve_vtype
from .binary import apply_zero_cell_correction

PROPORTION_MEASURES = ("PR", "PLO", "PAS", "PFT")


def proportion_effects(measure: str, xi, mi, *, add: float, to: str, vtype):
    """Transformed proportions and their sampling variances.

    Parameters
    ----------
    measure : {"PR", "PLO", "PAS", "PFT"}
    xi, mi : numpy.ndarray
        Events and non-events (validated, finite).
    add, to
        Zero-cell handling as for two-group tables (metafor's default ``add`` is 0
        for PAS and PFT, which need no correction).
    vtype : str or sequence of str
        PR: ``"LS"``, ``"UB"``, ``"AV"``; PLO: ``"LS"``, ``"AV"``; ignored otherwise.

    Returns
    -------
    yi, vi, ni : numpy.ndarray

    Notes
    -----
    With ``p = xi/ni`` after the correction:

    * PR: ``yi = p``, LS ``vi = p(1-p)/ni``, UB ``p(1-p)/(ni-1)``,
      AV uses the ni-weighted mean proportion.
    * PLO: ``yi = log(p/(1-p))``, LS ``vi = 1/xi + 1/mi``.
    * PAS: ``yi = arcsin(sqrt(p))``, ``vi = 1/(4 ni)``.
    * PFT: ``yi = (arcsin(sqrt(xi/(ni+1))) + arcsin(sqrt((xi+1)/(ni+1))))/2``,
      ``vi = 1/(4 ni + 2)`` (Freeman & Tukey 1950, Ann Math Stat 21:607;
      Miller 1978, Am Stat 32:138).
    """
    check_nonnegative("xi", xi)
    check_nonnegative("mi", mi)
    check_positive("ni", xi + mi)
    k = len(xi)
    valid = {"PR": ("UB", "LS", "AV"), "PLO": ("LS", "AV")}.get(measure)
    vt = resolve_vtype(measure, vtype, k, valid) if valid else None
    ni_u = xi + mi
    x, m = apply_zero_cell_correction([xi, mi], add, to)
    n = x + m
    p = x / n
    mean_p = np.sum(p * n) / np.sum(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "PR":
            yi = p
            vi = np.select([vt == "UB", vt == "LS"],
                           [p * (1 - p) / (n - 1), p * (1 - p) / n],
                           mean_p * (1 - mean_p) / n)
        elif measure == "PLO":
            yi = np.log(p / (1 - p))
            vi = np.where(vt == "LS", 1 / x + 1 / m,
                          1 / (mean_p * n) + 1 / ((1 - mean_p) * n))
        elif measure == "PAS":
            yi = np.arcsin(np.sqrt(p))
            vi = 1 / (4 * n)
        else:  # PFT
            yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
            vi = 1 / (4 * n + 2)
    return np.asarray(yi, float), np.asarray(vi, float), ni_u
