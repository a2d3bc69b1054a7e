"""Sensitivity and publication-bias diagnostics for a fitted :class:`~evsynth.pooling.results.RMAResult`.

Each function mirrors the metafor 3.8 function of the same name (Viechtbauer, 2010, J Stat Softw
36(3); Viechtbauer & Cheung, 2010, Res Synth Methods 1:112–125):

* :func:`leave1out` – the model refitted without each study in turn (``leave1out.rma.uni``);
* :func:`cumul` – cumulative meta-analysis in the order of a sort key (``cumul.rma.uni``);
* :func:`influence` – case-deletion diagnostics (``influence.rma.uni``);
* :func:`regtest` – Egger's regression test, ``model="rma"``, ``predictor="sei"`` (Egger et al.,
  1997, BMJ 315:629–634; Sterne & Egger, 2005);
* :func:`trimfill` – Duval & Tweedie's (2000, Biometrics 56:455–463; JASA 95:89–98) trim and fill
  with the L0 and R0 estimators (``trimfill.rma.uni``);
* :func:`funnel_data` – the points and pseudo-confidence lines of a funnel plot (``funnel.rma``).

The re-fits use :func:`evsynth.pooling.batch.rma_batch` (one row per re-fit) with the same
``method``, ``test`` and ``level`` as the original model, as metafor does.  Only intercept-only
models with an estimated (not user-fixed) tau2 are supported; the functions raise ``ValueError``
otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .batch import rma_batch
from .results import BatchResult, RMAResult
from .rma import KNHA_TESTS, level_to_alpha, rma

__all__ = [
    "FunnelData",
    "RegtestResult",
    "TrimfillResult",
    "cumul",
    "funnel_data",
    "influence",
    "leave1out",
    "regtest",
    "trimfill",
]

TRIMFILL_ESTIMATORS = ("L0", "R0")
SIDES = ("left", "right")


# ------------------------------------------------------------------------------- helpers
def _check_model(res: Any, fn: str) -> RMAResult:
    if not isinstance(res, RMAResult):
        raise ValueError(f"{fn}: res must be an RMAResult from evsynth.pooling.rma.rma, "
                         f"got {type(res).__name__}")
    if res.p != 1:
        raise ValueError(f"{fn}: only intercept-only models are supported (res has p = {res.p} "
                         "coefficients)")
    if res.tau2_fixed:
        raise ValueError(f"{fn}: models with a user-fixed tau2 are not supported")
    return res


def _labels(res: RMAResult) -> list:
    if res.slab is not None and len(res.slab) == res.k:
        return list(res.slab)
    return [f"Study {i + 1}" for i in range(res.k)]


def _batch_frame(b: BatchResult, index: list) -> pd.DataFrame:
    """metafor's ``list.rma`` columns of leave1out()/cumul() from a batch of fits."""
    stat_name = "zval" if b.tval is None else "tval"
    stat = b.zval if b.tval is None else b.tval
    return pd.DataFrame(
        {"estimate": b.beta, "se": b.se, stat_name: stat, "pval": b.pval, "ci_lb": b.ci_lb,
         "ci_ub": b.ci_ub, "Q": b.QE, "Qp": b.QEp, "tau2": b.tau2, "I2": b.I2, "H2": b.H2},
        index=pd.Index(index, name="study"),
    )


def _leave_one_out_batch(res: RMAResult, control: dict | None) -> BatchResult:
    """Row i: the data without study i (NaN in its place)."""
    k = res.k
    y = np.tile(np.asarray(res.yi, float), (k, 1))
    v = np.tile(np.asarray(res.vi, float), (k, 1))
    np.fill_diagonal(y, np.nan)
    np.fill_diagonal(v, np.nan)
    return _quiet_batch(y, v, res, control)


def _quiet_batch(y, v, res: RMAResult, control: dict | None) -> BatchResult:
    """rma_batch with the model's settings; k = 1 rows fall back to z (as metafor) silently."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Setting test=\"z\".*")
        b = rma_batch(y, v, method=res.method, test=res.test, level=res.level, control=control)
    if not np.all(b.converged):
        bad = np.flatnonzero(~b.converged)
        warnings.warn(f"tau2 estimation did not converge in re-fit(s) {bad.tolist()}; their "
                      "results are unreliable", RuntimeWarning, stacklevel=3)
    return b


# ------------------------------------------------------------------------ leave1out, cumul
def leave1out(res: RMAResult, *, control: dict | None = None) -> pd.DataFrame:
    """Leave-one-out analysis: the model refitted k times, each time without one study.

    Parameters
    ----------
    res : RMAResult
        Intercept-only model from :func:`evsynth.pooling.rma.rma`.
    control : dict, optional
        Passed to :func:`~evsynth.pooling.batch.rma_batch` (e.g. ``{"threshold": 1e-12}``).

    Returns
    -------
    DataFrame
        Indexed by the omitted study; columns estimate, se, zval (tval under knha), pval,
        ci_lb, ci_ub, Q, Qp, tau2, I2, H2 as metafor's ``leave1out()``.
    """
    res = _check_model(res, "leave1out")
    if res.k < 2:
        raise ValueError("leave1out: needs at least 2 studies")
    return _batch_frame(_leave_one_out_batch(res, control), _labels(res))


def cumul(res: RMAResult, order: Any = None, *, decreasing: bool = False,
          control: dict | None = None) -> pd.DataFrame:
    """Cumulative meta-analysis: studies added one at a time in the order of a sort key.

    Parameters
    ----------
    res : RMAResult
        Intercept-only model.
    order : array_like, optional
        Sort key, one value per study (e.g. publication year); the studies are added in
        ascending order of the key, ties in their original order (R's ``order()``).  ``None``:
        the order of the data.
    decreasing : bool
        Sort the key in decreasing order instead.
    control : dict, optional
        Passed to :func:`~evsynth.pooling.batch.rma_batch`.

    Returns
    -------
    DataFrame
        Row j: the model fitted to the first j + 1 studies in key order, indexed by the study
        added; columns as :func:`leave1out`.
    """
    res = _check_model(res, "cumul")
    k = res.k
    if order is None:
        idx = np.arange(k)
    else:
        key = np.asarray(order)
        if key.ndim != 1 or len(key) != k:
            raise ValueError(f"order must have one value per study: got length {key.size} for k = {k}")
        if key.dtype.kind in "fc":
            bad = np.flatnonzero(np.isnan(key))
            if bad.size:
                raise ValueError(f"order[{bad[0]}] is NaN; every study needs a sort key")
        # Python's sort is stable also with reverse=True: ties keep their original order,
        # as R's order(..., decreasing=) does.
        idx = np.array(sorted(range(k), key=lambda i: key[i], reverse=bool(decreasing)), dtype=int)
    y = np.asarray(res.yi, float)[idx]
    v = np.asarray(res.vi, float)[idx]
    tri = np.tril(np.ones((k, k), dtype=bool))
    Y = np.where(tri, y[None, :], np.nan)
    V = np.where(tri, v[None, :], np.nan)
    labels = _labels(res)
    return _batch_frame(_quiet_batch(Y, V, res, control), [labels[i] for i in idx])


# ------------------------------------------------------------------------------ influence
def influence(res: RMAResult, *, control: dict | None = None) -> pd.DataFrame:
    """Case-deletion diagnostics of metafor's ``influence.rma.uni`` (Viechtbauer & Cheung, 2010).

    For each study i, with the model refitted without it (``beta_(i)``, ``tau2_(i)``, ``s2w_(i)``,
    the Knapp–Hartung factor, 1 under the z test):

    * ``rstudent`` – ``(y_i - beta_(i)) / sqrt(s2w_(i) (v_i + tau2_(i)) + Var(beta_(i)))``;
    * ``dffits`` – ``(beta - beta_(i)) / sqrt(s2w_(i) h_i (tau2_(i) + v_i))``;
    * ``cook_d`` – ``(beta - beta_(i))^2 / Var(beta)``;
    * ``cov_r`` – ``Var(beta_(i)) / Var(beta)``;
    * ``tau2_del``, ``QE_del`` – tau2 and Q without study i;
    * ``hat`` – ``h_i = w_i / sum(w)`` with ``w = 1/(v + tau2)``; ``weight`` – percent weight;
    * ``dfbetas`` – ``(beta - beta_(i)) / sqrt(s2w_(i) / sum_j 1/(v_j + tau2_(i)))`` (all k studies
      in the sum, as metafor);
    * ``inf`` – metafor's flag: ``|dffits| > 3 sqrt(p/(k-p))``, ``pchisq(cook_d, 1) > 0.5``,
      ``hat > 3p/k`` or ``|dfbetas| > 1``.

    Returns
    -------
    DataFrame
        One row per study (index: study label).
    """
    res = _check_model(res, "influence")
    k, p = res.k, 1
    if k < 2:
        raise ValueError("influence: needs at least 2 studies")
    y = np.asarray(res.yi, float)
    v = np.asarray(res.vi, float)
    b = _leave_one_out_batch(res, control)
    beta = float(res.beta)
    vb = float(np.asarray(res.vb).ravel()[0])
    w = 1 / (v + res.tau2)
    hat = w / w.sum()
    tau2_del = b.tau2
    s2w_del = np.ones(k)
    if res.test in KNHA_TESTS:
        for i in range(k):
            keep = np.arange(k) != i
            wi = 1 / (v[keep] + tau2_del[i])
            rss = float(np.sum(wi * (y[keep] - b.beta[i]) ** 2))
            s2w_del[i] = 0.0 if rss <= np.finfo(float).eps else rss / (k - 1 - p)
            if res.test == "adhoc":
                s2w_del[i] = max(1.0, s2w_del[i])
    resid = y - b.beta
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0.0
    se_resid = np.sqrt(v * s2w_del + b.se**2 + tau2_del * s2w_del)
    dfb = beta - b.beta
    dffits = dfb / np.sqrt(s2w_del * hat * (tau2_del + v))
    vb_del = 1 / np.sum(1 / (v[None, :] + tau2_del[:, None]), axis=1)
    dfbetas = dfb / np.sqrt(s2w_del * vb_del)
    cook = dfb**2 / vb
    cov_r = b.se**2 / vb
    with np.errstate(invalid="ignore"):
        is_infl = ((np.abs(dffits) > 3 * np.sqrt(p / (k - p))) | (stats.chi2.cdf(cook, p) > 0.5)
                   | (hat > 3 * p / k) | (np.abs(dfbetas) > 1))
    return pd.DataFrame(
        {"rstudent": resid / se_resid, "dffits": dffits, "cook_d": cook, "cov_r": cov_r,
         "tau2_del": tau2_del, "QE_del": b.QE, "hat": hat, "weight": np.asarray(res.weights, float),
         "dfbetas": dfbetas, "inf": is_infl & ~np.isnan(dffits)},
        index=pd.Index(_labels(res), name="study"),
    )


# -------------------------------------------------------------------------------- regtest
@dataclass
class RegtestResult:
    """Egger's regression test for funnel-plot asymmetry (metafor ``regtest``).

    Attributes
    ----------
    zval, tval : float or None
        Test statistic of the ``sei`` coefficient (``tval`` under knha, with ``dfs`` df).
    pval : float
        Two-sided p value.
    dfs : int or None
        Residual df under knha (``k - 2``).
    est, ci_lb, ci_ub : float
        The limit estimate (intercept: the effect as ``sei -> 0``) and its CI.
    fit : RMAResult
        The meta-regression ``rma(yi, vi, mods=sei)`` with the model's method/test/level.
    """

    zval: Any
    tval: Any
    pval: float
    dfs: Any
    est: float
    ci_lb: float
    ci_ub: float
    predictor: str
    fit: RMAResult = field(repr=False)

    def summary_frame(self) -> pd.DataFrame:
        """One-row DataFrame: statistic, pval, dfs, limit estimate and its CI."""
        stat = ("tval", self.tval) if self.tval is not None else ("zval", self.zval)
        return pd.DataFrame([{"predictor": self.predictor, stat[0]: stat[1], "pval": self.pval,
                              "dfs": self.dfs, "est": self.est, "ci_lb": self.ci_lb,
                              "ci_ub": self.ci_ub}])


def regtest(res: RMAResult, *, control: dict | None = None) -> RegtestResult:
    """Egger's regression test, metafor's default ``regtest(res)`` (``model="rma"``, ``predictor="sei"``).

    Fits ``y_i = b0 + b1 sqrt(v_i) + u_i + e_i`` by ``rma`` with the model's ``method``, ``test``
    and ``level`` and tests ``b1 = 0`` (Egger et al., 1997; Sterne & Egger, 2005, in Rothstein et
    al., *Publication Bias in Meta-Analysis*, ch. 6).  ``b0`` is the "limit estimate".

    Raises
    ------
    ValueError
        If the model has fewer than 3 studies (no df left for the test).
    """
    res = _check_model(res, "regtest")
    if res.k < 3:
        raise ValueError(f"regtest: needs at least 3 studies, got k = {res.k}")
    sei = np.sqrt(np.asarray(res.vi, float))
    if np.ptp(sei) == 0:
        raise ValueError("regtest: all vi are equal, so the predictor sei is constant and the test "
                         "is not defined")
    fit = rma(res.yi, res.vi, method=res.method, test=res.test, level=res.level,
              mods=sei, control=control)
    use_t = res.test in KNHA_TESTS
    stat = np.atleast_1d(fit.tval if use_t else fit.zval)
    return RegtestResult(
        zval=None if use_t else float(stat[1]),
        tval=float(stat[1]) if use_t else None,
        pval=float(np.atleast_1d(fit.pval)[1]),
        dfs=res.k - 2 if use_t else None,
        est=float(np.atleast_1d(fit.beta)[0]), ci_lb=float(np.atleast_1d(fit.ci_lb)[0]),
        ci_ub=float(np.atleast_1d(fit.ci_ub)[0]), predictor="sei", fit=fit,
    )


# ------------------------------------------------------------------------------- trimfill
@dataclass
class TrimfillResult:
    """Trim-and-fill result (metafor ``trimfill``).

    Attributes
    ----------
    fit : RMAResult
        The model fitted to the observed plus the filled studies (the original ``res`` when
        ``k0 == 0``).
    k0, se_k0 : int, float
        Estimated number of missing studies and its standard error.
    p_k0 : float
        R0 only: p value of the test of ``k0 = 0`` (NaN for L0).
    side : str
        Side of the funnel where studies were imputed ("left" or "right").
    estimator : str
        "L0" or "R0".
    yi_fill, vi_fill : ndarray
        The imputed (mirrored) estimates and their variances.
    fill : ndarray of bool
        For the rows of ``fit.yi``: True for imputed studies.
    converged : bool
        False if the iteration hit ``maxiter`` (a RuntimeWarning was issued).
    iterations : int
    """

    fit: RMAResult
    k0: int
    se_k0: float
    p_k0: float
    side: str
    estimator: str
    yi_fill: np.ndarray
    vi_fill: np.ndarray
    fill: np.ndarray
    converged: bool
    iterations: int

    def summary_frame(self) -> pd.DataFrame:
        """The filled model's coefficient table with k0, se_k0, p_k0 and side in ``attrs``."""
        df = self.fit.summary_frame()
        df.attrs.update(k0=self.k0, se_k0=self.se_k0, p_k0=self.p_k0, side=self.side,
                        estimator=self.estimator)
        return df

    def filled_frame(self) -> pd.DataFrame:
        """The imputed points: yi, vi, sei."""
        return pd.DataFrame({"yi": self.yi_fill, "vi": self.vi_fill, "sei": np.sqrt(self.vi_fill)},
                            index=pd.Index([f"Filled {i + 1}" for i in range(self.k0)], name="study"))


def _k0_estimate(ranks_signed: np.ndarray, k: int, estimator: str) -> tuple[float, float]:
    """Duval & Tweedie (2000) L0 / R0 estimates of the number of missing studies and their SEs."""
    if estimator == "R0":
        neg = ranks_signed[ranks_signed < 0]
        gamma = -neg.min() if neg.size else 0  # rightmost run length: k - (largest negative rank)
        k0 = (k - gamma) - 1
        se = np.sqrt(2 * max(0, k0) + 2)
        return float(k0), float(se)
    sr = float(ranks_signed[ranks_signed > 0].sum())
    k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
    var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0 - 18 * k * k0**2
              - 18 * k * k0 + 6 * k**2 * k0) / 24
    se = 4 * np.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else np.nan
    return float(k0), float(se)


def _refit(yi, vi, method, control, **kw) -> RMAResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # metafor suppresses warnings of the internal fits
        return rma(yi, vi, method=method, control=control, **kw)


def trimfill(res: RMAResult, estimator: str = "L0", side: str | None = None, *,
             maxiter: int = 100, control: dict | None = None) -> TrimfillResult:
    """Duval & Tweedie's trim and fill, as metafor's ``trimfill.rma.uni``.

    Parameters
    ----------
    res : RMAResult
        Intercept-only model.
    estimator : {"L0", "R0"}
        Estimator of the number of missing studies.
    side : {"left", "right"}, optional
        Side where studies are missing.  ``None``: from the sign of the slope of the
        ``rma(yi, vi, mods=sqrt(vi))`` regression (negative slope -> "right"), as metafor.
    maxiter : int
        Maximum trim-and-fill iterations.
    control : dict, optional
        Passed to :func:`~evsynth.pooling.rma.rma`.

    Returns
    -------
    TrimfillResult

    Notes
    -----
    Iteration: fit the model to the ``k - k0`` least extreme studies, centre all studies at that
    estimate, rank the absolute centred values (ties by position) and update ``k0`` from the
    signed ranks; stop when ``k0`` no longer changes.  The ``k0`` most extreme studies are then
    mirrored about the last estimate (``2 beta - y``) and the model is refitted to observed plus
    filled studies with the same ``method`` — and, as in metafor, the default z test and 95%
    level (metafor does not pass ``test``/``level`` to that fit).  ``k0 = max(0, round(k0))``
    with round-half-even (R's ``round``).
    """
    res = _check_model(res, "trimfill")
    if estimator not in TRIMFILL_ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(TRIMFILL_ESTIMATORS)}; got {estimator!r}")
    if side is not None and side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)} or None; got {side!r}")
    if res.k < 3:
        raise ValueError(f"trimfill: needs at least 3 studies, got k = {res.k}")
    yi0 = np.asarray(res.yi, float)
    vi0 = np.asarray(res.vi, float)
    if side is None:
        if np.ptp(vi0) == 0:
            raise ValueError("trimfill: all vi are equal, so the side cannot be inferred from the "
                             "regression on sqrt(vi); pass side='left' or side='right'")
        slope = np.atleast_1d(_refit(yi0, vi0, res.method, control, mods=np.sqrt(vi0)).beta)[1]
        side = "right" if slope < 0 else "left"
    flip = -1.0 if side == "right" else 1.0
    y_all = flip * yi0
    ix = np.argsort(y_all, kind="stable")
    y, v = y_all[ix], vi0[ix]
    k = len(y)

    k0, k0_prev, it, converged = 0, -1, 0, True
    beta = se_k0 = np.nan
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            converged = False
            warnings.warn(f"trimfill: did not converge in {maxiter} iterations; converged=False",
                          RuntimeWarning, stacklevel=2)
            break
        beta = float(_refit(y[: k - k0], v[: k - k0], res.method, control).beta)
        centred = y - beta
        ranks = stats.rankdata(np.abs(centred), method="ordinal")
        k0_raw, se_k0 = _k0_estimate(np.sign(centred) * ranks, k, estimator)
        k0 = int(max(0, np.round(k0_raw)))
        se_k0 = max(0.0, se_k0) if not np.isnan(se_k0) else se_k0

    p_k0 = float(0.5 ** (k0 + 1)) if estimator == "R0" else np.nan
    if k0 > 0:
        y_fill = flip * (2 * beta - y[k - k0:])
        v_fill = v[k - k0:]
        fit = _refit(np.concatenate([yi0, y_fill]), np.concatenate([vi0, v_fill]), res.method,
                     control, slab=_labels(res) + [f"Filled {i + 1}" for i in range(k0)])
    else:
        y_fill, v_fill, fit = np.array([]), np.array([]), res
    fill = np.concatenate([np.zeros(res.k, bool), np.ones(k0, bool)])
    return TrimfillResult(fit=fit, k0=k0, se_k0=float(se_k0), p_k0=p_k0, side=side,
                          estimator=estimator, yi_fill=y_fill, vi_fill=v_fill, fill=fill,
                          converged=converged, iterations=it)


# ---------------------------------------------------------------------------------- funnel
@dataclass
class FunnelData:
    """Data of a funnel plot with the standard error on the (reversed) y axis.

    Attributes
    ----------
    points : DataFrame
        One row per study: ``yi``, ``sei`` and ``fill`` (True for trim-and-fill imputed points).
    lines : DataFrame
        The pseudo-confidence region: ``sei`` from 0 to ``max(sei)`` and
        ``ci_lb``/``ci_ub = refline -/+ z_(1-alpha/2) sei``.
    refline : float
        The pooled estimate (vertical reference line).
    level : float
        Level of the pseudo-confidence region, in percent.
    """

    points: pd.DataFrame
    lines: pd.DataFrame
    refline: float
    level: float


def funnel_data(res: RMAResult | TrimfillResult, *, n_lines: int = 101) -> FunnelData:
    """Points and pseudo-confidence lines of metafor's ``funnel(res)`` (``yaxis="sei"``).

    Parameters
    ----------
    res : RMAResult or TrimfillResult
        Intercept-only model, or a trim-and-fill result (its filled model, with the imputed
        points flagged).
    n_lines : int
        Number of standard-error values at which the pseudo-CI lines are evaluated.

    Returns
    -------
    FunnelData
        ``points`` (as metafor's returned data frame: x = ``yi``, y = ``sei``) and ``lines``:
        ``refline -/+ qnorm(1 - alpha/2) * sei`` for ``sei`` in ``[0, max(sei)]`` (Sterne & Egger,
        2001, J Clin Epidemiol 54:1046–1055); ``alpha`` from the model's ``level``.
    """
    fill = None
    if isinstance(res, TrimfillResult):
        fill = res.fill
        res = res.fit
    res = _check_model(res, "funnel_data")
    if int(n_lines) < 2:
        raise ValueError(f"n_lines must be >= 2, got {n_lines}")
    yi = np.asarray(res.yi, float)
    sei = np.sqrt(np.asarray(res.vi, float))
    fill = np.zeros(len(yi), bool) if fill is None else fill
    labels = _labels(res)
    refline = float(res.beta)
    crit = stats.norm.isf(level_to_alpha(res.level) / 2)
    grid = np.linspace(0.0, float(sei.max()), int(n_lines))
    points = pd.DataFrame({"yi": yi, "sei": sei, "fill": fill}, index=pd.Index(labels, name="study"))
    lines = pd.DataFrame({"sei": grid, "ci_lb": refline - crit * grid, "ci_ub": refline + crit * grid})
    return FunnelData(points=points, lines=lines, refline=refline, level=res.level)
