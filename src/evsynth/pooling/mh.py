"""Mantel–Haenszel and Peto pooling of 2x2 tables (metafor's ``rma.mh`` and ``rma.peto``).

Both are fixed-effect (common-effect) methods that work on the counts directly:

* :func:`rma_mh` pools odds ratios, risk ratios or risk differences with the Mantel–Haenszel
  weights (Mantel & Haenszel, 1959, J Natl Cancer Inst 22:719–748).  Standard errors follow
  Robins, Breslow & Greenland (1986, Biometrics 42:311–323) for the log odds ratio and
  Greenland & Robins (1985, Biometrics 41:55–68) for the log risk ratio and the risk difference,
  exactly as metafor computes them.  For odds ratios the Cochran–Mantel–Haenszel test and
  Tarone's (1985, Biometrika 72:91–95) correction of the Breslow–Day test are reported.
* :func:`rma_peto` pools log odds ratios with Peto's one-step method (Yusuf et al., 1985,
  Prog Cardiovasc Dis 27:335–371).

Counts: ``ai``/``bi`` are events/non-events in the experimental (first) group and ``ci``/``di``
in the control group, so an OR or RR above 1 (RD above 0) means more events in the experimental
group.  Instead of ``bi``/``di`` the group sizes ``n1i``/``n2i`` may be given.

As in metafor, the continuity correction ``add``/``to``/``drop00`` only affects the individual
study estimates ``yi``/``vi`` (and thus the heterogeneity test ``QE``, ``I2`` and ``H2``); the
Mantel–Haenszel and Peto estimates themselves use the raw counts of every table (metafor's second
elements ``add[2] = 0``, ``to[2] = "none"``, ``drop00[2] = FALSE``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.effects import EffectSizeWarning, escalc
from evsynth.effects._inputs import as_float_array, check_nonnegative

__all__ = ["MHResult", "escalc_2x2", "rma_mh", "rma_peto"]

MH_MEASURES = ("OR", "RR", "RD")
TO_CHOICES = ("all", "only0", "if0all", "none")


@dataclass
class MHResult:
    """A Mantel–Haenszel or Peto fit (metafor ``rma.mh`` / ``rma.peto`` equivalent).

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : float
        Pooled estimate (log OR, log RR, RD; log OR for Peto) and its Wald inference.
    QE, QEp, I2, H2 : float
        Heterogeneity test and statistics.  For MH: Cochran's Q of the study estimates
        ``yi`` around ``beta`` with inverse-variance weights ``1/vi`` (df ``k_yi - 1``).  For Peto:
        the Peto heterogeneity statistic computed from the counts.
    tau2 : float
        Always 0 (fixed-effect model).
    k : int
        Number of tables used for the pooled estimate.
    k_yi : int
        Number of tables with an estimable ``yi`` (0/0 tables dropped when ``drop00``).
    MH, MHp, CO, COp : float
        OR only: Cochran–Mantel–Haenszel test (``MH``, with ``N_i - 1`` in the variance, the value
        metafor prints as "CMH") and Cochran's version (``CO``, ``N_i``), both with df 1.
    TA, TAp, BD, BDp : float
        OR only: Tarone's test and the Breslow–Day test for heterogeneity (df ``k_pos - 1``).
    k_pos : int
        OR only: tables entering Tarone's / Breslow–Day test.
    measure, method, test, level : str, str, str, float
        ``method`` is "MH" or "PETO"; ``test`` is always "z"; ``level`` in percent.
    yi, vi : ndarray
        Individual study estimates and sampling variances (NaN for dropped tables).
    weights : ndarray
        Percent weights of the tables in the pooled estimate (metafor ``weights()``): MH OR
        ``b c / N``, RR ``c n1 / N``, RD ``n1 n2 / N``; Peto ``V``.
    converged : bool
        Always True (closed-form estimators); present for symmetry with ``RMAResult``.
    """

    beta: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    QE: float
    QEp: float
    I2: float
    H2: float
    k: int
    k_yi: int
    measure: str
    method: str
    level: float
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray = field(default_factory=lambda: np.array([]))
    MH: float = float("nan")
    MHp: float = float("nan")
    CO: float = float("nan")
    COp: float = float("nan")
    TA: float = float("nan")
    TAp: float = float("nan")
    BD: float = float("nan")
    BDp: float = float("nan")
    k_pos: int = 0
    tau2: float = 0.0
    test: str = "z"
    converged: bool = True
    extra: dict = field(default_factory=dict)

    def summary_frame(self) -> pd.DataFrame:
        """One-row coefficient table (estimate, se, z, pval, ci_lb, ci_ub).

        Heterogeneity statistics and (for OR) the CMH and Tarone tests are in ``DataFrame.attrs``.
        """
        df = pd.DataFrame(
            {"estimate": [self.beta], "se": [self.se], "z": [self.zval], "pval": [self.pval],
             "ci_lb": [self.ci_lb], "ci_ub": [self.ci_ub]},
            index=pd.Index(["intrcpt"], name="coef"),
        )
        df.attrs.update(self.heterogeneity_dict())
        return df

    def heterogeneity_dict(self) -> dict:
        """Heterogeneity statistics and tests as a plain dict."""
        out = dict(method=self.method, measure=self.measure, level=self.level, k=self.k,
                   k_yi=self.k_yi, QE=self.QE, QE_df=max(self.k_yi - 1, 0), QEp=self.QEp,
                   I2=self.I2, H2=self.H2)
        if self.method == "MH" and self.measure == "OR":
            out.update(MH=self.MH, MHp=self.MHp, CO=self.CO, COp=self.COp, TA=self.TA,
                       TAp=self.TAp, BD=self.BD, BDp=self.BDp, k_pos=self.k_pos)
        return out

    def __repr__(self) -> str:
        return (f"<MHResult {self.method} {self.measure} (k = {self.k}): estimate = {self.beta:.4f} "
                f"[{self.ci_lb:.4f}, {self.ci_ub:.4f}], QE = {self.QE:.4f} (p = {self.QEp:.4g})>")


# ---------------------------------------------------------------------------------- validation
def _as_counts(name: str, x: Any) -> np.ndarray:
    """Counts as a 1-D float array: finite and >= 0 (messages name the argument and index)."""
    arr = as_float_array(name, x)
    check_nonnegative(name, arr)
    return arr


def _check_tables(ai, bi, ci, di, n1i, n2i) -> tuple[np.ndarray, ...]:
    """Validate the counts and return (ai, bi, ci, di) as float arrays."""
    if (bi is None) != (di is None) or (bi is None and (n1i is None or n2i is None)):
        raise ValueError("give either bi and di, or n1i and n2i")
    if bi is not None and (n1i is not None or n2i is not None):
        raise ValueError("give either bi and di, or n1i and n2i, not both")
    a = _as_counts("ai", ai)
    c = _as_counts("ci", ci)
    if bi is not None:
        b = _as_counts("bi", bi)
        d = _as_counts("di", di)
        named = {"ai": a, "bi": b, "ci": c, "di": d}
    else:
        n1 = _as_counts("n1i", n1i)
        n2 = _as_counts("n2i", n2i)
        named = {"ai": a, "ci": c, "n1i": n1, "n2i": n2}
    k = len(a)
    if k == 0:
        raise ValueError("ai must contain at least one table, got length 0")
    for name, arr in named.items():
        if len(arr) != k:
            raise ValueError(f"{name} has length {len(arr)} but ai has length {k}; "
                             "all count arguments must have the same length")
    if bi is None:
        for i in range(k):
            if a[i] > n1[i]:
                raise ValueError(f"ai[{i}] = {a[i]:g} events exceed n1i[{i}] = {n1[i]:g}")
            if c[i] > n2[i]:
                raise ValueError(f"ci[{i}] = {c[i]:g} events exceed n2i[{i}] = {n2[i]:g}")
        b = n1 - a
        d = n2 - c
    for i in range(k):
        if a[i] + b[i] <= 0:
            raise ValueError(f"group 1 of table {i} is empty: ai[{i}] + bi[{i}] must be > 0")
        if c[i] + d[i] <= 0:
            raise ValueError(f"group 2 of table {i} is empty: ci[{i}] + di[{i}] must be > 0")
    return a, b, c, d


def _check_level(level: float) -> float:
    """Confidence level in percent; as metafor, a value <= 1 is read as a proportion (0.95 -> 95)."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number in (0, 100), got {level!r}") from None
    if not 0 < lv < 100:
        raise ValueError(f"level must be in (0, 100) (percent, or a proportion <= 1), got {level!r}")
    return lv if lv > 1 else 100 * lv


def _check_correction(add: float, to: str, drop00: bool) -> None:
    if to not in TO_CHOICES:
        raise ValueError(f"to must be one of {', '.join(TO_CHOICES)}; got {to!r}")
    if not np.isfinite(add) or add < 0:
        raise ValueError(f"add must be a finite number >= 0, got {add!r}")
    if not isinstance(drop00, (bool, np.bool_)):
        raise ValueError(f"drop00 must be True or False, got {drop00!r}")


# ---------------------------------------------------------------------- study-level estimates
def escalc_2x2(ai, bi, ci, di, *, measure: str, add: float = 0.5, to: str = "only0",
               drop00: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Study-level effect sizes of 2x2 tables: :func:`evsynth.effects.escalc` (metafor's ``escalc``,
    ``vtype="LS"``), with undefined estimates returned as NaN without a warning.

    Parameters
    ----------
    ai, bi, ci, di : array_like
        Validated counts (events / non-events, group 1 then group 2).
    measure : {"OR", "RR", "RD", "PETO"}
        Log odds ratio, log risk ratio, risk difference, or Peto's log odds ratio.
    add, to, drop00
        Continuity correction: ``add`` is added to every cell of all tables (``to="all"``), of
        tables with a zero cell (``"only0"``), of all tables when any has a zero cell
        (``"if0all"``) or never (``"none"``); with ``drop00`` tables with no events or no
        non-events in both groups get ``yi = vi = NaN``.

    Returns
    -------
    yi, vi : ndarray
        Estimates and sampling variances.  Large-sample variances: log OR
        ``1/a + 1/b + 1/c + 1/d`` (Woolf, 1955); log RR ``1/a - 1/n1 + 1/c - 1/n2``; RD
        ``p1(1-p1)/n1 + p2(1-p2)/n2``; Peto ``yi = (a - E)/V``, ``vi = 1/V`` with the
        hypergeometric mean ``E`` and variance ``V`` (Yusuf et al., 1985).
    """
    if measure not in ("OR", "RR", "RD", "PETO"):
        raise ValueError(f"measure must be one of OR, RR, RD, PETO; got {measure!r}")
    with warnings.catch_warnings():  # undefined estimates are NaN here, as metafor's NA; the pooling drops them
        warnings.simplefilter("ignore", EffectSizeWarning)
        res = escalc(measure, ai=ai, bi=bi, ci=ci, di=di, add=add, to=to, drop00=drop00)
    return res.yi.to_numpy(float), res.vi.to_numpy(float)


# ------------------------------------------------------------------------------ inference
def _percent(w: np.ndarray) -> np.ndarray:
    """Weights as percentages of their sum (NaN when they sum to 0, as metafor's NA)."""
    total = w.sum()
    return w / total * 100 if total > 0 else np.full_like(w, np.nan)


def _wald(beta: float, se: float, level: float) -> tuple[float, float, float, float]:
    """z value, two-sided p value and Wald CI (NaN-propagating)."""
    crit = stats.norm.isf((100 - level) / 200)
    zval = beta / se
    pval = 2 * stats.norm.sf(abs(zval))
    return zval, pval, beta - crit * se, beta + crit * se


def _cochran_q(yi: np.ndarray, vi: np.ndarray, beta: float) -> tuple[float, float, float, float, int]:
    """Q, its p value, I2 and H2 of the non-missing ``yi`` around ``beta`` (metafor ``rma.mh``).

    ``Q = sum(w_i (y_i - beta)^2)``, ``w_i = 1/v_i``; ``I2 = max(0, 100 (Q - df)/Q)``,
    ``H2 = Q/df`` with ``df = k - 1`` (Higgins & Thompson, 2002, Stat Med 21:1539–1558).
    """
    ok = ~(np.isnan(yi) | np.isnan(vi))
    y, v = yi[ok], vi[ok]
    k_yi = int(ok.sum())
    if k_yi <= 1:
        return 0.0, 1.0, 0.0, 1.0, k_yi
    with np.errstate(invalid="ignore", divide="ignore"):
        q = float(np.maximum(0.0, np.sum((y - beta) ** 2 / v)))
        df = k_yi - 1
        i2 = float(np.maximum(0.0, 100 * (q - df) / np.float64(q)))
    return q, float(stats.chi2.sf(q, df)), i2, q / df, k_yi


def _mh_or(a, b, c, d, correct: bool) -> dict:
    """MH log odds ratio, Robins–Breslow–Greenland SE, CMH and Tarone/Breslow–Day tests."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    p_i, q_i = (a + d) / n, (b + c) / n
    r_i, s_i = a * d / n, b * c / n
    r, s = r_i.sum(), s_i.sum()
    out: dict = {}
    if r == 0 or s == 0:
        psi = beta = se = np.nan
    else:
        psi = r / s
        beta = np.log(psi)
        # Robins, Breslow & Greenland (1986), eq. 12.
        se = np.sqrt(0.5 * (np.sum(p_i * r_i) / r**2 + np.sum(p_i * s_i + q_i * r_i) / (r * s)
                            + np.sum(q_i * s_i) / s**2))
    out.update(beta=beta, se=se)

    xt, yt = a + c, b + d
    if xt.sum() == 0 or yt.sum() == 0:
        out.update(CO=np.nan, COp=np.nan, MH=np.nan, MHp=np.nan)
    else:
        # Cochran (1954) and Mantel & Haenszel (1959) chi-square tests of OR = 1.
        num = (abs(np.sum(a - n1 / n * xt)) - (0.5 if correct else 0.0)) ** 2
        co = num / np.sum(n1 / n * (n2 / n) * (xt * (yt / n)))
        mh = num / np.sum(n1 / n * (n2 / n) * (xt * (yt / (n - 1))))
        out.update(CO=co, COp=stats.chi2.sf(co, 1), MH=mh, MHp=stats.chi2.sf(mh, 1))

    if np.isnan(beta):
        out.update(BD=np.nan, BDp=np.nan, TA=np.nan, TAp=np.nan, k_pos=0)
        return out
    # Expected a_i under the common OR psi (Breslow & Day, 1980, eq. 4.32): root of a quadratic.
    if psi == 1:
        n11 = n1 / n * xt
    else:
        qa = psi * (n1 + xt) + (n2 - xt)
        qb = np.sqrt(qa**2 - 4 * n1 * xt * psi * (psi - 1))
        n11 = (qa - qb) / (2 * (psi - 1))
    pos = (n11 > 0) & (xt > 0) & (yt > 0)
    k_pos = int(pos.sum())
    e11 = n11[pos]
    e12 = n1[pos] - e11
    e21 = xt[pos] - e11
    e22 = e11 - n1[pos] - xt[pos] + n[pos]
    inv_var = 1 / e11 + 1 / e12 + 1 / e21 + 1 / e22
    dev = a[pos] - e11
    bd = max(0.0, float(np.sum(dev**2 * inv_var)))
    # Tarone (1985): Breslow-Day minus its bias term.
    ta = max(0.0, bd - float(np.sum(dev) ** 2 / np.sum(1 / inv_var)))
    if k_pos > 1:
        bdp, tap = stats.chi2.sf(bd, k_pos - 1), stats.chi2.sf(ta, k_pos - 1)
    else:
        bdp = tap = np.nan
    out.update(BD=bd, BDp=bdp, TA=ta, TAp=tap, k_pos=k_pos)
    return out


def _mh_rr(a, b, c, d) -> dict:
    """MH log risk ratio with the Greenland & Robins (1985) variance."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    r = np.sum(a * (n2 / n))
    s = np.sum(c * (n1 / n))
    if a.sum() == 0 or c.sum() == 0:
        return dict(beta=np.nan, se=np.nan)
    beta = np.log(r / s)
    se = np.sqrt(np.sum(n1 / n * (n2 / n) * (a + c) - a / n * c) / (r * s))
    return dict(beta=beta, se=se)


def _mh_rd(a, b, c, d) -> dict:
    """MH risk difference with the Greenland & Robins (1985) variance (as metafor)."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    w = np.sum(n1 * (n2 / n))
    beta = np.sum(a * (n2 / n) - c * (n1 / n)) / w
    var = (beta * np.sum(c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + n1 / n * (n2 / n) * (n2 - n1) / 2)
           + np.sum(a * (n2 - c) / n + c * (n1 - a) / n) / 2) / w**2
    return dict(beta=beta, se=np.sqrt(var))


# ------------------------------------------------------------------------------- public API
def rma_mh(ai, bi=None, ci=None, di=None, *, n1i=None, n2i=None, measure: str = "OR",
           add: float = 0.5, to: str = "only0", drop00: bool = True, level: float = 95,
           correct: bool = True) -> MHResult:
    """Mantel–Haenszel common-effect meta-analysis of 2x2 tables (metafor ``rma.mh``).

    Parameters
    ----------
    ai, bi, ci, di : array_like
        Events and non-events in group 1 (experimental) and group 2 (control), one entry per
        study.  Non-negative; may be non-integer (as metafor).
    n1i, n2i : array_like, optional
        Group sizes, in place of ``bi`` and ``di`` (``bi = n1i - ai``).
    measure : {"OR", "RR", "RD"}
        Log odds ratio, log risk ratio or risk difference.
    add, to, drop00
        Continuity correction for the study-level estimates ``yi``/``vi`` only (see module
        docstring and :func:`escalc_2x2`); the MH estimate uses the raw counts.
    level : float
        Confidence level in percent.
    correct : bool
        Continuity correction (1/2) in the Cochran–Mantel–Haenszel test (OR only).

    Returns
    -------
    MHResult

    Notes
    -----
    OR: ``psi = sum(a d / N) / sum(b c / N)`` (Mantel & Haenszel, 1959) with the
    Robins–Breslow–Greenland (1986) variance of ``log psi``.  RR: ``sum(a n2/N) / sum(c n1/N)``
    and RD: ``sum(a n2/N - c n1/N) / sum(n1 n2/N)``, variances of Greenland & Robins (1985).
    When the estimate is not defined (e.g. no events in either group for OR/RR) ``beta`` and its
    inference are NaN, as metafor returns NA.

    Raises
    ------
    ValueError
        Unknown ``measure``/``to``, negative or non-finite counts, events above the group size,
        empty groups, or arguments of different lengths (the message names argument and index).
    """
    if measure not in MH_MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MH_MEASURES)}; got {measure!r}")
    _check_correction(add, to, drop00)
    lv = _check_level(level)
    a, b, c, d = _check_tables(ai, bi, ci, di, n1i, n2i)
    yi, vi = escalc_2x2(a, b, c, d, measure=measure, add=add, to=to, drop00=drop00)

    if measure == "OR":
        fit = _mh_or(a, b, c, d, correct)
    elif measure == "RR":
        fit = _mh_rr(a, b, c, d)
    else:
        fit = _mh_rd(a, b, c, d)
    beta, se = float(fit.pop("beta")), float(fit.pop("se"))
    zval, pval, lo, hi = _wald(beta, se, lv)
    q, qp, i2, h2, k_yi = _cochran_q(yi, vi, beta)
    tests = {key: (int(v) if key == "k_pos" else float(v)) for key, v in fit.items()}
    n1, n2 = a + b, c + d
    raw_w = {"OR": b * c / (n1 + n2), "RR": c * n1 / (n1 + n2), "RD": n1 * n2 / (n1 + n2)}[measure]
    return MHResult(beta=beta, se=se, zval=float(zval), pval=float(pval), ci_lb=float(lo),
                    ci_ub=float(hi), QE=q, QEp=qp, I2=i2, H2=h2, k=len(a), k_yi=k_yi,
                    measure=measure, method="MH", level=lv, yi=yi, vi=vi,
                    weights=_percent(raw_w), **tests)


def rma_peto(ai, bi=None, ci=None, di=None, *, n1i=None, n2i=None, add: float = 0.5,
             to: str = "only0", drop00: bool = True, level: float = 95) -> MHResult:
    """Peto's one-step common-effect log odds ratio (metafor ``rma.peto``).

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i : array_like
        Counts as in :func:`rma_mh`.
    add, to, drop00
        Continuity correction for the study-level Peto estimates ``yi``/``vi`` only.
    level : float
        Confidence level in percent.

    Returns
    -------
    MHResult
        ``measure="PETO"``, ``method="PETO"``.

    Notes
    -----
    With ``O_i = a_i``, hypergeometric mean ``E_i = (a_i + c_i) n1_i / N_i`` and variance
    ``V_i = (a_i + c_i)(b_i + d_i) n1_i n2_i / (N_i^2 (N_i - 1))``:
    ``beta = sum(O_i - E_i) / sum(V_i)``, ``se = 1 / sqrt(sum V_i)`` (Yusuf et al., 1985).
    Heterogeneity: ``Q = sum((O_i - E_i)^2 / V_i) - (sum(O_i - E_i))^2 / sum(V_i)`` over tables with
    ``V_i > 0``, df ``k_yi - 1``; when fewer than two tables have ``V_i > 0``, ``QEp = 1``,
    ``I2 = 0`` and ``H2 = 1`` (as metafor).

    Raises
    ------
    ValueError
        Bad counts (see :func:`rma_mh`) or no table with both events and non-events.
    """
    _check_correction(add, to, drop00)
    lv = _check_level(level)
    a, b, c, d = _check_tables(ai, bi, ci, di, n1i, n2i)
    yi, vi = escalc_2x2(a, b, c, d, measure="PETO", add=add, to=to, drop00=drop00)
    n1, n2 = a + b, c + d
    n = n1 + n2
    xt, yt = a + c, b + d
    e = xt * n1 / n
    v = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
    if v.sum() == 0:
        raise ValueError("rma_peto: no table has both events and non-events (all Peto variances "
                         "are 0), so the Peto estimate is not defined")
    beta = float(np.sum(a - e) / v.sum())
    se = float(np.sqrt(1 / v.sum()))
    zval, pval, lo, hi = _wald(beta, se, lv)

    pos = v > 0
    k_yi = int((~(np.isnan(yi) | np.isnan(vi))).sum())
    q = max(0.0, float(np.sum((a - e)[pos] ** 2 / v[pos]) - np.sum(a - e) ** 2 / v[pos].sum()))
    if pos.sum() > 1:
        df = k_yi - 1
        qp = float(stats.chi2.sf(q, df))
        with np.errstate(invalid="ignore", divide="ignore"):
            i2 = float(np.maximum(0.0, 100 * (q - df) / np.float64(q)))
            h2 = np.float64(q) / df if df > 0 else np.nan
    else:
        qp, i2, h2 = 1.0, 0.0, 1.0
    return MHResult(beta=beta, se=se, zval=float(zval), pval=float(pval), ci_lb=float(lo),
                    ci_ub=float(hi), QE=q, QEp=qp, I2=i2, H2=float(h2), k=len(a), k_yi=k_yi,
                    measure="PETO", method="PETO", level=lv, yi=yi, vi=vi, weights=_percent(v))
