"""Two-group binary outcomes: risk ratio, odds ratio, risk difference, Peto odds ratio.

The 2x2 table of study *i* is::

                 events   non-events
    experimental   ai        bi        n1i = ai + bi
    control        ci        di        n2i = ci + di

Formulas, zero-cell handling (``add``, ``to``, ``drop00``) and variance types follow
metafor 3.8 ``escalc`` (Viechtbauer 2010, J Stat Softw 36(3)); see the references
on each function.
"""

from __future__ import annotations

import numpy as np

from ._inputs import check_nonnegative, resolve_vtype

BINARY_MEASURES = ("RR", "OR", "RD", "PETO")
TO_CHOICES = ("all", "only0", "if0all", "none")


def apply_zero_cell_correction(cells: list[np.ndarray], add: float, to: str,
                               drop00: np.ndarray | None = None) -> list[np.ndarray]:
    """Add *add* to the cells of a table as metafor's ``escalc`` does.

    Parameters
    ----------
    cells : list of numpy.ndarray
        The cell counts (e.g. ``[ai, bi, ci, di]`` or ``[xi, mi]``).
    add : float
        Amount added (metafor default 1/2).
    to : {"all", "only0", "if0all", "none"}
        ``"all"``: add to every study; ``"only0"``: only to studies with a zero cell;
        ``"if0all"``: to every study if any study has a zero cell; ``"none"``: never.
    drop00 : numpy.ndarray of bool, optional
        Studies removed by ``drop00`` (they do not count as having a zero cell).

    Returns
    -------
    list of numpy.ndarray
        Corrected copies of *cells*.
    """
    if to not in TO_CHOICES:
        raise ValueError(f"to = {to!r} is not valid; valid: {', '.join(TO_CHOICES)}")
    cells = [c.astype(float).copy() for c in cells]
    if to == "none":
        return cells
    has0 = np.zeros(len(cells[0]), dtype=bool)
    for c in cells:
        has0 |= c == 0
    if drop00 is not None:
        has0 &= ~drop00
    if to == "all":
        target = np.ones_like(has0)
    elif to == "only0":
        target = has0
    else:  # if0all
        target = np.full_like(has0, has0.any())
    return [c + np.where(target, add, 0.0) for c in cells]


def binary_effects(measure: str, ai, bi, ci, di, *, add: float, to: str,
                   drop00: bool, vtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Effect sizes and sampling variances for a two-group binary outcome.

    Parameters
    ----------
    measure : {"RR", "OR", "RD", "PETO"}
        ``RR``: log risk ratio, ``OR``: log odds ratio, ``RD``: risk difference,
        ``PETO``: log odds ratio by Peto's one-step method.
    ai, bi, ci, di : numpy.ndarray
        Validated cell counts (non-negative, finite, same length).
    add, to, drop00
        Zero-cell handling, see :func:`apply_zero_cell_correction`. With ``drop00``
        studies with no events (or no non-events) in both groups get NaN.
    vtype : str or sequence of str
        Variance type for ``RD``: ``"LS"`` (large sample, default), ``"UB"``
        (unbiased, divides by n - 1) or ``"AV"`` (sample-size weighted average
        proportions). Ignored for the other measures.

    Returns
    -------
    yi, vi, ni : numpy.ndarray
        Effect sizes, variances and total sample sizes (before any correction).
    dropped : numpy.ndarray of bool
        Studies set to NaN by ``drop00``.

    Notes
    -----
    With ``p1 = ai/n1i`` and ``p2 = ci/n2i`` (after the correction):

    * RR: ``yi = log(p1/p2)``, ``vi = 1/ai - 1/n1i + 1/ci - 1/n2i``
      (Fleiss & Berlin 2009, eq. 13.12; metafor ``escalc`` docs).
    * OR: ``yi = log(ai*di/(bi*ci))``, ``vi = 1/ai + 1/bi + 1/ci + 1/di``
      (Woolf 1955; Fleiss & Berlin 2009, eq. 13.4).
    * RD: ``yi = p1 - p2``, ``vi = p1(1-p1)/n1i + p2(1-p2)/n2i`` (LS).
    * PETO: ``yi = (ai - E)/V``, ``vi = 1/V`` with ``E = (ai+ci) n1i / N`` and
      ``V = (ai+ci)(bi+di) n1i n2i / (N^2 (N-1))`` (Yusuf et al. 1985,
      Prog Cardiovasc Dis 27:335). As in metafor 3.8 the counts used are the
      corrected ones when ``add``/``to`` apply.
    """
    for name, arr in (("ai", ai), ("bi", bi), ("ci", ci), ("di", di)):
        check_nonnegative(name, arr)
    k = len(ai)
    vt = resolve_vtype(measure, vtype, k, ("UB", "LS", "AV")) if measure == "RD" else None
    ni_u = ai + bi + ci + di

    dropped = np.zeros(k, dtype=bool)
    if drop00:
        dropped = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
    a, b, c, d = apply_zero_cell_correction([ai, bi, ci, di], add, to, dropped)
    for arr in (a, b, c, d):
        arr[dropped] = np.nan

    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = a / n1, c / n2
        if measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RD":
            yi, vi = p1 - p2, _rd_variance(p1, p2, n1, n2, vt)
        elif measure == "PETO":
            n = n1 + n2
            e = (a + c) * n1 / n
            v = (a + c) * (b + d) * (n1 / n) * (n2 / n) / (n - 1)
            yi, vi = (a - e) / v, 1 / v
        else:
            raise ValueError(f"unknown binary measure {measure!r}; valid: {', '.join(BINARY_MEASURES)}")
    return np.asarray(yi, float), np.asarray(vi, float), ni_u, dropped


def _rd_variance(p1, p2, n1, n2, vtype) -> np.ndarray:
    """Risk-difference variance by type (metafor ``escalc``, measure ``"RD"``)."""
    ok = ~(np.isnan(p1) | np.isnan(n1))
    mp1 = np.sum(p1[ok] * n1[ok]) / np.sum(n1[ok]) if ok.any() else np.nan
    ok = ~(np.isnan(p2) | np.isnan(n2))
    mp2 = np.sum(p2[ok] * n2[ok]) / np.sum(n2[ok]) if ok.any() else np.nan
    ub = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
    ls = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    av = mp1 * (1 - mp1) / n1 + mp2 * (1 - mp2) / n2
    return np.select([vtype == "UB", vtype == "LS"], [ub, ls], av)
