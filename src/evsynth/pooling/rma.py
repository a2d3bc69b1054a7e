"""The univariate fixed- and random-effects model, meta-regression and subgroup analysis.

``rma`` reproduces metafor 3.8 ``rma.uni()`` (Viechtbauer, 2010, J Stat Softw 36(3)) for the
estimators in :mod:`evsynth.pooling.estimators`, the z and Knapp-Hartung tests (Knapp & Hartung,
2003, Stat Med 22:2693-2710), the heterogeneity statistics QE, I^2 and H^2 (Higgins & Thompson,
2002, Stat Med 21:1539-1558), the prediction interval of ``predict.rma()`` (Riley et al., 2011,
BMJ 342:d549, with metafor's z or t critical value) and the Q-profile confidence interval for
tau^2 of ``confint.rma.uni()`` (Viechtbauer, 2007, Stat Med 26:37-52).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .estimators import (
    TAU2_METHODS,
    Tau2Estimate,
    default_control,
    estimate_tau2,
    projection,
    qprofile_ci,
)
from .results import RMAResult, SubgroupResult
from .subgroups import subgroup_test

__all__ = ["KNHA_TESTS", "TESTS", "level_to_alpha", "rma", "validate_yi_vi"]

#: Accepted values of ``test`` (metafor's names): normal theory, Knapp-Hartung, and Knapp-Hartung
#: with the scaling factor truncated at 1 (metafor's ``test="adhoc"``).
TESTS = ("z", "knha", "adhoc")
#: Tests that scale the variance by the Knapp-Hartung factor and use t / F distributions.
KNHA_TESTS = ("knha", "adhoc")


# --------------------------------------------------------------------------- validation
def _as_1d(x: Any, name: str) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index)):
        x = x.to_numpy()
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    return arr


def validate_yi_vi(yi: Any, vi: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check effects and sampling variances; return them as float arrays.

    Raises
    ------
    ValueError
        Naming the argument and index: mismatched lengths, empty input, non-finite values,
        or variances that are not > 0.
    """
    y = _as_1d(yi, "yi")
    v = _as_1d(vi, "vi")
    if y.shape[0] != v.shape[0]:
        raise ValueError(f"yi and vi must have the same length, got {y.shape[0]} and {v.shape[0]}")
    if y.shape[0] == 0:
        raise ValueError("yi must contain at least one study (k = 0)")
    for name, arr in (("yi", y), ("vi", v)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] must be finite, got {arr[bad[0]]}")
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise ValueError(f"vi[{bad[0]}] must be > 0, got {v[bad[0]]}")
    return y, v


def level_to_alpha(level: Any) -> float:
    """metafor's ``.level()``: level > 1 is a percentage, otherwise a proportion; returns alpha."""
    try:
        lev = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number in (0, 100), got {level!r}") from None
    if not (0 < lev < 100) or np.isnan(lev):
        raise ValueError(f"level must be a number in (0, 100), got {level!r}")
    return (100 - lev) / 100 if lev > 1 else 1 - lev


def _check_method_test(method: Any, test: Any) -> str:
    if method not in TAU2_METHODS:
        raise ValueError(f"method must be one of {', '.join(TAU2_METHODS)}; got {method!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}; got {test!r}")
    return "FE" if method == "EE" else method


def _check_control(control: dict | None) -> dict:
    con = default_control()
    if control is None:
        return con
    if not isinstance(control, dict):
        raise ValueError(f"control must be a dict, got {type(control).__name__}")  # noqa: TRY004 (bad user input is a ValueError here)
    unknown = sorted(set(control) - set(con))
    if unknown:
        raise ValueError(f"control has unknown key(s) {unknown}; valid keys: {sorted(con)}")
    con.update(control)
    if not (con["threshold"] > 0):
        raise ValueError(f"control['threshold'] must be > 0, got {con['threshold']}")
    if int(con["maxiter"]) < 1:
        raise ValueError(f"control['maxiter'] must be >= 1, got {con['maxiter']}")
    if not (con["stepadj"] > 0):
        raise ValueError(f"control['stepadj'] must be > 0, got {con['stepadj']}")
    return con


def _design(mods: Any, k: int) -> tuple[np.ndarray, list[str]]:
    """Intercept plus moderators, as metafor's ``mods=`` with a matrix (intercept added)."""
    if mods is None:
        return np.ones((k, 1)), ["intrcpt"]
    if isinstance(mods, pd.Series):
        mods = mods.to_frame()
    if isinstance(mods, pd.DataFrame):
        names = [str(c) for c in mods.columns]
        try:
            M = mods.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValueError("mods must be numeric (code factors as dummy columns, "
                             "e.g. with pandas.get_dummies(..., drop_first=True))") from None
    else:
        try:
            M = np.asarray(mods, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("mods must be a numeric 1-D/2-D array or DataFrame") from None
        if M.ndim == 1:
            M = M[:, None]
        names = [f"mod{j + 1}" for j in range(M.shape[1] if M.ndim == 2 else 0)]
    if M.ndim != 2:
        raise ValueError(f"mods must be 2-dimensional, got shape {M.shape}")
    if M.shape[0] != k:
        raise ValueError(f"mods must have one row per study: got {M.shape[0]} rows for k = {k}")
    bad = np.argwhere(~np.isfinite(M))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"mods[{i}, {j}] (column {names[j]!r}) must be finite, got {M[i, j]}")
    X = np.column_stack([np.ones(k), M])
    p = X.shape[1]
    if p > k:
        raise ValueError(f"mods: {p} coefficients cannot be estimated from k = {k} studies")
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("mods: the design matrix (intercept + moderators) is not of full rank; "
                         "drop redundant or constant columns")
    return X, ["intrcpt"] + names


# --------------------------------------------------------------------------- core fit
def _fit(y, v, X, names, method, test, alpha, tau2_fixed, con, slab, level) -> RMAResult:
    k, p = X.shape
    if k == 1 and test != "z":
        warnings.warn('Setting test="z" since k = 1 (as metafor does).', UserWarning, stacklevel=3)
        test = "z"
    if method == "FE" and test in KNHA_TESTS:
        warnings.warn("The Knapp-Hartung method is not meant to be used with FE models.",
                      UserWarning, stacklevel=3)
    if method != "FE" and k > 1 and k == p and tau2_fixed is None:
        raise ValueError(f"mods: cannot estimate tau2 with method={method!r} when k = p = {k}; "
                         "use method='FE' or fewer moderators")

    # --- tau2
    if method == "FE":
        est = Tau2Estimate(0.0, float("nan"))
    elif tau2_fixed is not None:
        est = Tau2Estimate(float(tau2_fixed), None)
    elif k == 1:
        est = Tau2Estimate(0.0, float("nan"))
    else:
        est = estimate_tau2(y, v, X, method, con)
    tau2 = est.tau2

    # --- coefficients (weighted least squares with w = 1/(v + tau2))
    w = 1.0 / (v + tau2)
    XtWX = X.T @ (w[:, None] * X)
    vb = np.linalg.inv(XtWX)
    beta = vb @ (X.T @ (w * y))
    s2w = 1.0
    if test in KNHA_TESTS:
        rss = float(np.sum(w * (y - X @ beta) ** 2))
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        if test == "adhoc":  # metafor: s2w[s2w < 1] <- 1 (Knapp & Hartung 2003; Roever et al. 2015)
            s2w = max(1.0, s2w)
        vb = s2w * vb
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se

    # --- omnibus test of moderators (all but the intercept), or of the intercept alone
    btt = np.arange(1, p) if p > 1 else np.array([0])
    m = btt.size
    bsub = beta[btt]
    try:
        QM = float(bsub @ np.linalg.solve(vb[np.ix_(btt, btt)], bsub))
    except np.linalg.LinAlgError:
        QM = float("nan")
    if test in KNHA_TESTS:
        ddf = k - p
        QM = QM / m
        QM_df = (m, ddf)
        QMp = float(stats.f.sf(QM, m, ddf)) if ddf > 0 else float("nan")
        pval = 2 * stats.t.sf(np.abs(stat), ddf) if ddf > 0 else np.full(p, np.nan)
        crit = stats.t.isf(alpha / 2, ddf) if ddf > 0 else float("nan")
    else:
        ddf = None
        QM_df = m
        QMp = float(stats.chi2.sf(QM, m))
        pval = 2 * stats.norm.sf(np.abs(stat))
        crit = stats.norm.isf(alpha / 2)
    ci_lb = beta - crit * se
    ci_ub = beta + crit * se

    # --- heterogeneity: QE with FE weights; I2/H2 with the "typical" variance (i2def = "1")
    if k > p:
        P = projection(X, 1.0 / v)
        yc = y - y.mean()
        QE = max(0.0, float(yc @ P @ yc))
        QEp = float(stats.chi2.sf(QE, k - p))
        vt = (k - p) / np.trace(P)
        if method == "FE":
            # metafor: max(0, 100 * (QE - (k-p)) / QE), which is max(0, -Inf) = 0 when QE = 0
            I2 = max(0.0, 100 * (QE - (k - p)) / QE) if QE > 0 else 0.0
            H2 = QE / (k - p)
        else:
            I2 = 100 * tau2 / (vt + tau2)
            H2 = tau2 / vt + 1
    else:
        QE, QEp, I2, H2, vt = 0.0, 1.0, 0.0, 1.0, 0.0

    # --- prediction interval (predict.rma, intercept-only): crit * sqrt(se^2 + tau2);
    # NaN for FE models, where metafor's predict() gives NA
    if p == 1 and method == "FE":
        pi_lb = pi_ub = float("nan")
    elif p == 1:
        pi_lb = float(beta[0] - crit * np.sqrt(se[0] ** 2 + tau2))
        pi_ub = float(beta[0] + crit * np.sqrt(se[0] ** 2 + tau2))
    else:
        pi_lb = pi_ub = None

    # --- Q-profile CI for tau2 (estimated random-effects models with k > p)
    nan2 = (float("nan"), float("nan"))
    tau2_ci = I2_ci = H2_ci = nan2
    if method != "FE" and tau2_fixed is None and k > p:
        lb, ub = qprofile_ci(y, v, X, tau2, 1 - alpha, con)
        tau2_ci = (lb, ub)
        I2_ci = (100 * lb / (vt + lb), 100 * ub / (vt + ub))
        H2_ci = (lb / vt + 1, ub / vt + 1)

    # log-likelihood as metafor's logLik(): REML (with REMLf = TRUE) for REML fits, ML otherwise
    rss_f = float(np.sum(w * (y - X @ (np.linalg.inv(XtWX) @ (X.T @ (w * y)))) ** 2))
    if method == "REML":
        loglik = (-0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(X.T @ X)[1]
                  - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * np.linalg.slogdet(XtWX)[1] - 0.5 * rss_f)
    else:
        loglik = -0.5 * k * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * rss_f

    weights = 100 * w / w.sum()
    one = p == 1

    def out(a):
        return float(a[0]) if one else np.asarray(a, float)

    return RMAResult(
        beta=out(beta), se=out(se), zval=out(stat) if test == "z" else None,
        tval=out(stat) if test in KNHA_TESTS else None, pval=out(pval), ci_lb=out(ci_lb),
        ci_ub=out(ci_ub), vb=vb, pi_lb=pi_lb, pi_ub=pi_ub, tau2=float(tau2), se_tau2=est.se_tau2,
        tau2_ci=tau2_ci, I2_ci=I2_ci, H2_ci=H2_ci, I2=float(I2), H2=float(H2), QE=float(QE),
        QEp=float(QEp), QM=QM, QMp=QMp, QM_df=QM_df, k=k, p=p, method=method, test=test,
        level=level, converged=est.converged, iterations=est.iterations, reason=est.reason,
        weights=weights,
        yi=y, vi=v, X=X, slab=slab, coef_names=names, tau2_fixed=tau2_fixed is not None,
        ddf=ddf, s2w=s2w, vt=float(vt), loglik=float(loglik),
    )


# --------------------------------------------------------------------------- subgroups
def _subgroup_labels(subgroup: Any, k: int) -> list:
    labs = list(subgroup.to_numpy() if isinstance(subgroup, (pd.Series, pd.Index)) else subgroup)
    if len(labs) != k:
        raise ValueError(f"subgroup must have one label per study: got {len(labs)} for k = {k}")
    for i, lab in enumerate(labs):
        if lab is None or (isinstance(lab, float) and np.isnan(lab)):
            raise ValueError(f"subgroup[{i}] is missing; every study needs a subgroup label")
    return labs


def _subgroups(y, v, labs, method, test, alpha, con, slab, level) -> SubgroupResult:
    order = list(dict.fromkeys(labs))
    if len(order) < 2:
        raise ValueError(f"subgroup must have at least 2 distinct labels, got {order}")
    labs_arr = np.array(labs, dtype=object)
    fits = {}
    for lab in order:
        idx = np.flatnonzero(labs_arr == lab)
        sub_slab = [slab[i] for i in idx]
        fits[lab] = _fit(y[idx], v[idx], np.ones((idx.size, 1)), ["intrcpt"], method, test,
                         alpha, None, con, sub_slab, level)
    # separate tau2: FE model on the subgroup estimates (QE equals QM of mods=~grp, method="FE")
    est = np.array([fits[lab].beta for lab in order])
    ses = np.array([fits[lab].se for lab in order])
    if np.any(~(ses > 0)):
        bad = [lab for lab, s in zip(order, ses) if not s > 0]
        raise ValueError(f"subgroup: the estimate of subgroup(s) {bad} has zero variance; "
                         "cannot test subgroup differences")
    between = subgroup_test(est, ses)
    # common tau2: moderator model with dummy columns for all but the first label
    D = np.column_stack([(labs_arr == lab).astype(float) for lab in order[1:]])
    X = np.column_stack([np.ones(len(y)), D])
    if method != "FE" and X.shape[0] <= X.shape[1]:
        QMm, QMm_df, QMm_p = float("nan"), None, float("nan")
    else:
        mfit = _fit(y, v, X, ["intrcpt"] + [str(s) for s in order[1:]], method, test, alpha, None,
                    con, slab, level)
        QMm, QMm_df, QMm_p = mfit.QM, mfit.QM_df, mfit.QMp
    return SubgroupResult(fits=fits, Q_between=between.Q, Q_between_df=between.df,
                          Q_between_p=between.p, QM_mods=QMm,
                          QM_mods_df=QMm_df, QM_mods_p=QMm_p, labels=order)


# --------------------------------------------------------------------------- public API
def rma(
    yi: Any,
    vi: Any,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    mods: Any = None,
    subgroup: Sequence | None = None,
    slab: Sequence | None = None,
    tau2: float | None = None,
    control: dict | None = None,
) -> RMAResult:
    """Fit a fixed- or random-effects model (metafor's ``rma.uni``).

    Parameters
    ----------
    yi, vi : array-like
        Observed effects and their sampling variances (finite; vi > 0).
    method : str
        "FE" (alias "EE"), "DL", "HE", "HS", "SJ", "ML", "REML" (default), "EB" or "PM".
    test : str
        "z" (normal), "knha" (Knapp & Hartung, 2003: the variance of the coefficients is scaled
        by s2w = sum w_i (y_i - x_i'b)^2 / (k - p), t with k - p df, F for QM; no truncation,
        metafor's ``test="knha"``) or "adhoc" (the same with s2w truncated at 1, metafor's
        ``test="adhoc"``; Roever, Knapp & Friede, 2015, BMC Med Res Methodol 15:99), so that
        the interval is never narrower than with s2w = 1. The result records the test.
    level : float
        Confidence level, in percent (or as a proportion <= 1, as in metafor).
    mods : array-like or DataFrame, optional
        Moderators (k rows); an intercept is added. Coefficient fields become arrays.
    subgroup : sequence, optional
        One label per study. The returned result is the overall model; ``result.subgroups`` holds
        a model per subgroup and two tests of subgroup differences (see :class:`SubgroupResult`).
        Cannot be combined with ``mods``.
    slab : sequence of str, optional
        Study labels (default "Study 1", ...).
    tau2 : float, optional
        Fix tau2 at this value (>= 0) instead of estimating it (ignored for FE, as in metafor).
    control : dict, optional
        threshold, maxiter, stepadj, tol, ll0check (see
        :func:`evsynth.pooling.estimators.default_control`).

    Returns
    -------
    RMAResult

    Raises
    ------
    ValueError
        Bad input, naming the argument and the offending index; unknown method or test.

    Warns
    -----
    RuntimeWarning
        When an iterative estimator does not converge (``converged`` is then False).
    """
    method = _check_method_test(method, test)
    y, v = validate_yi_vi(yi, vi)
    if v.max() / v.min() >= 1e7:  # metafor's evtol check
        warnings.warn("Ratio of largest to smallest sampling variance is extremely large "
                      f"({v.max() / v.min():.3g}); results may not be stable.", UserWarning,
                      stacklevel=2)
    alpha = level_to_alpha(level)
    con = _check_control(control)
    k = y.shape[0]
    if slab is None:
        slab_l = [f"Study {i + 1}" for i in range(k)]
    else:
        slab_l = [str(s) for s in slab]
        if len(slab_l) != k:
            raise ValueError(f"slab must have one label per study: got {len(slab_l)} for k = {k}")
    if tau2 is not None:
        try:
            tau2 = float(tau2)
        except (TypeError, ValueError):
            raise ValueError(f"tau2 must be a number >= 0, got {tau2!r}") from None
        if not np.isfinite(tau2) or tau2 < 0:
            raise ValueError(f"tau2 must be a finite number >= 0, got {tau2}")
        if method == "FE":
            tau2 = None
    if subgroup is not None and mods is not None:
        raise ValueError("subgroup and mods cannot be combined; add the subgroup as dummy "
                         "columns of mods instead")
    X, names = _design(mods, k)
    res = _fit(y, v, X, names, method, test, alpha, tau2, con, slab_l, level)
    if subgroup is not None:
        labs = _subgroup_labels(subgroup, k)
        res.subgroups = _subgroups(y, v, labs, method, test, alpha, con, slab_l, level)
    return res
