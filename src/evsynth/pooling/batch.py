"""Many intercept-only meta-analyses at once, vectorised over rows with numpy.

``rma_batch`` fits one random-effects (or fixed-effect) model per row of a 2-D array, with the
same definitions as :func:`evsynth.pooling.rma.rma` (metafor's ``rma.uni``) and the same
numbers row by row. It serves leave-one-out and cumulative analyses, sensitivity grids and
simulations.

For the intercept-only model with weights w_i (S_m = sum_i w_i^m over the row's studies),
P = W - w w'/S_1 gives closed forms that avoid k x k matrices:
    y'Py = sum_i w_i (y_i - ybar_w)^2,      tr(P) = S_1 - S_2/S_1,
    sum_ij P_ij^2 a_i b_j = sum_i a_i b_i (w_i^2 - 2 w_i^3/S_1) + (sum_i a_i w_i^2)(sum_j b_j w_j^2)/S_1^2.
These are the quantities of the estimators in :mod:`evsynth.pooling.estimators`
(DerSimonian & Laird, 1986; Hedges, 1983; Hunter & Schmidt, 2004; Sidik & Jonkman, 2005;
Paule & Mandel, 1982; Fisher scoring for ML/REML/EB, Viechtbauer, 2005).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats

from .estimators import TAU2_METHODS, default_control
from .results import BatchResult
from .rma import KNHA_TESTS, TESTS, level_to_alpha
from .tau2_solver import solve_tau2

__all__ = ["rma_batch"]


# --------------------------------------------------------------------------- validation
def _validate(yi: Any, vi: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        y = np.asarray(yi, dtype=float)
        v = np.asarray(vi, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"yi and vi must be numeric arrays: {exc}") from None
    if y.ndim == 1:
        y = y[None, :]
    if v.ndim == 1:
        v = v[None, :]
    if y.ndim != 2 or v.ndim != 2:
        raise ValueError(f"yi and vi must be 2-D (one row per meta-analysis), got {y.ndim}-D and {v.ndim}-D")
    if y.shape != v.shape:
        raise ValueError(f"yi and vi must have the same shape, got {y.shape} and {v.shape}")
    ny, nv = np.isnan(y), np.isnan(v)
    mism = np.argwhere(ny != nv)
    if mism.size:
        i, j = mism[0]
        which = "yi" if ny[i, j] else "vi"
        other = "vi" if which == "yi" else "yi"
        raise ValueError(f"{which}[{i}, {j}] is NaN but {other}[{i}, {j}] is not; "
                         "missing studies must be NaN in both")
    for name, arr in (("yi", y), ("vi", v)):
        bad = np.argwhere(np.isinf(arr))
        if bad.size:
            i, j = bad[0]
            raise ValueError(f"{name}[{i}, {j}] must be finite, got {arr[i, j]}")
    bad = np.argwhere(~ny & ~(v > 0))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"vi[{i}, {j}] must be > 0, got {v[i, j]}")
    mask = ~ny
    return np.where(mask, y, 0.0), np.where(mask, v, 1.0), mask


# --------------------------------------------------------------------------- row-wise algebra
class _Rows:
    """Data of a set of rows with the closed-form sums of the intercept-only model."""

    def __init__(self, y, v, m, vinf=None):
        self.y, self.v, self.m = y, v, m
        self.k = m.sum(axis=0).astype(float)
        # missing studies get an infinite variance, hence weight 0, without masking every time
        self.vinf = np.where(m, v, np.inf) if vinf is None else vinf

    def weights(self, tau2):
        return 1.0 / (self.vinf + tau2[None, :])

    @staticmethod
    def wmean(w, y):
        return (w * y).sum(axis=0) / w.sum(axis=0)

    def rss(self, w, y=None):
        """y' P y = sum w (y - ybar_w)^2 and the residuals y - ybar_w (any value where w = 0)."""
        y = self.y if y is None else y
        r = y - self.wmean(w, y)[None, :]
        return (w * r * r).sum(axis=0), r

    @staticmethod
    def tr_p(w):
        s1 = w.sum(axis=0)
        return s1 - (w * w).sum(axis=0) / s1

    @staticmethod
    def sum_p2(w, a=None, b=None):
        """sum_ij P_ij^2 a_i b_j for P = W - w w'/S1 (a, b default 1)."""
        a = 1.0 if a is None else a
        b = 1.0 if b is None else b
        s1 = w.sum(axis=0)
        w2 = w * w
        diag = (a * b * (w2 - 2 * w2 * w / s1[None, :])).sum(axis=0)
        return diag + (a * w2).sum(axis=0) * (b * w2).sum(axis=0) / s1**2

    def subset(self, idx):
        if idx.size == self.k.size:  # all rows still active (indices are sorted and unique)
            return self
        return _Rows(self.y[:, idx], self.v[:, idx], self.m[:, idx], self.vinf[:, idx])


def _centered(y, m):
    k = m.sum(axis=0)
    mean = np.where(k > 0, y.sum(axis=0) / np.maximum(k, 1), 0.0)
    return np.where(m, y - mean[None, :], 0.0)


# --------------------------------------------------------------------------- estimators
def _he_raw(R: _Rows):
    one = R.m.astype(float)
    rss, _ = R.rss(one)
    trpv = ((1 - 1 / R.k)[None, :] * R.v * R.m).sum(axis=0)
    return (rss - trpv) / (R.k - 1), trpv


def _closed_form(R: _Rows, method):
    k = R.k
    if method == "DL":
        w = R.weights(np.zeros(len(k)))
        rss, _ = R.rss(w)
        trp = R.tr_p(w)
        t = np.maximum(0.0, (rss - (k - 1)) / trp)
        se = np.sqrt(1 / trp**2 * (2 * (k - 1) + 4 * t * trp + 2 * t**2 * R.sum_p2(w)))
    elif method == "HE":
        raw, trpv = _he_raw(R)
        t = np.maximum(0.0, raw)
        one = R.m.astype(float)
        spv = R.sum_p2(one, R.v * R.m, R.v * R.m)
        se = np.sqrt(1 / (k - 1) ** 2 * (2 * spv + 4 * t * trpv + 2 * t**2 * (k - 1)))
    elif method == "HS":
        w = R.weights(np.zeros(len(k)))
        rss, _ = R.rss(w)
        s1 = w.sum(axis=0)
        t = np.maximum(0.0, (rss - k) / s1)
        se = np.sqrt(1 / s1**2 * (2 * (k - 1) + 4 * t * R.tr_p(w) + 2 * t**2 * R.sum_p2(w)))
    else:  # SJ
        t0 = (R.y * R.y * R.m).sum(axis=0) / k  # y is mean-centred
        w = R.weights(t0)
        rss, _ = R.rss(w)
        t = np.maximum(0.0, t0 * rss / (k - 1))
        vm = R.v * R.m
        spvpv = R.sum_p2(w, vm, vm)
        spvp = R.sum_p2(w, None, vm)
        se = np.sqrt(t0**2 / (k - 1) ** 2 * (2 * spvpv + 4 * t * spvp + 2 * t**2 * R.sum_p2(w)))
    return t, se


def _score(R: _Rows, tau2, method):
    """Estimating function, derivative and Fisher information (:mod:`.tau2_solver`) per row.

    Intercept-only closed forms: Py = w r with r = y - ybar_w, y'PPy = sum (w r)^2 and
    y'PPPy = (Py)'P(Py) = sum w (u - ubar_w)^2 with u = w r.
    """
    w = R.weights(tau2)
    rss, r = R.rss(w)
    u = w * r
    ppy = (u * u).sum(axis=0)
    if method == "EB":
        c = R.k / (R.k - 1)
        return rss * c - R.k, -ppy * c, w.sum(axis=0)
    pppy, _ = R.rss(w, u)
    if method == "ML":
        w2 = (w * w).sum(axis=0)
        return ppy - w.sum(axis=0), -2 * pppy + w2, w2
    spp = R.sum_p2(w)
    return ppy - R.tr_p(w), -2 * pppy + spp, spp


def _loglik(R: _Rows, tau2, reml):
    w = R.weights(tau2)
    rss, _ = R.rss(w)
    logv = (np.log(np.where(R.m, R.v + tau2[None, :], 1.0))).sum(axis=0)
    if reml:
        return -0.5 * (R.k - 1) * np.log(2 * np.pi) - 0.5 * logv - 0.5 * np.log(w.sum(axis=0)) - 0.5 * rss
    return -0.5 * R.k * np.log(2 * np.pi) - 0.5 * logv - 0.5 * rss


def _fisher_scoring(R: _Rows, method, con):
    """ML, REML or EB for every row: metafor's start, then :func:`.tau2_solver.solve_tau2`."""
    tau2, conv, iters, reason = solve_tau2(
        lambda rows, t: _score(R.subset(rows), t, method), _he_raw(R)[0], con)
    if con["ll0check"] and method in ("ML", "REML"):
        reml = method == "REML"
        cand = np.flatnonzero(conv & (tau2 > con["threshold"]))
        if cand.size:
            sub = R.subset(cand)
            ll0 = _loglik(sub, np.zeros(cand.size), reml)
            ll = _loglik(sub, tau2[cand], reml)
            stuck = cand[ll0 - ll > np.finfo(float).eps ** 0.25]
            if stuck.size:
                warnings.warn(f"{method} Fisher scoring may have gotten stuck at a local maximum in "
                              f"{stuck.size} row(s) (first: {stuck[0]}); setting tau2 = 0 there "
                              "(as metafor does).", RuntimeWarning, stacklevel=3)
                tau2[stuck] = 0.0
    tau2 = np.maximum(0.0, tau2)
    w = R.weights(tau2)
    if method == "ML":
        se = np.sqrt(2 / (w * w).sum(axis=0))
    elif method == "REML":
        se = np.sqrt(2 / R.sum_p2(w))
    else:
        se = np.sqrt(2 * R.k**2 / (R.k - 1) / w.sum(axis=0) ** 2)
    return tau2, se, conv, iters, reason


def _paule_mandel(R: _Rows, con):
    """Root of Q(tau2) = k - 1 by safeguarded Newton steps (dQ/dtau2 = -sum w^2 (y - ybar_w)^2)."""
    n = len(R.k)
    target = R.k - 1
    tau2 = np.zeros(n)
    iters = np.zeros(n, dtype=int)
    conv = np.ones(n, dtype=bool)
    q0, _ = R.rss(R.weights(tau2))
    active = np.flatnonzero(q0 >= target)  # otherwise tau2 = 0 (metafor: Q(0) < k - p)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    maxit = max(1000, con["maxiter"])
    while active.size:
        sub = R.subset(active)
        t = tau2[active]
        w = sub.weights(t)
        q, r = sub.rss(w)
        f = q - target[active]
        lo[active] = np.where(f > 0, t, lo[active])
        hi[active] = np.where(f <= 0, t, hi[active])
        deriv = -(w * w * r * r).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = t - f / deriv
        l_, h_ = lo[active], hi[active]
        bad = ~np.isfinite(new) | (new < l_) | (new > h_)
        bis = np.where(np.isfinite(h_), (l_ + h_) / 2, np.maximum(2 * l_, 1.0))
        new = np.where(f == 0, t, np.where(bad, bis, new))
        step = np.abs(new - t)
        tau2[active] = new
        iters[active] += 1
        done = (step <= con["tol"]) | (step <= 4 * np.finfo(float).eps * np.abs(new)) | (f == 0)
        failed = iters[active] >= maxit
        conv[active[failed & ~done]] = False
        active = active[~done & ~failed]
    tau2 = np.maximum(0.0, tau2)
    w = R.weights(tau2)
    se = np.sqrt(2 * R.k**2 / (R.k - 1) / w.sum(axis=0) ** 2)
    return tau2, se, conv, iters


# --------------------------------------------------------------------------- public API
def rma_batch(yi: Any, vi: Any, method: str = "REML", test: str = "z", level: float = 95,
              control: dict | None = None) -> BatchResult:
    """Fit an intercept-only model to every row of ``yi``/``vi`` at once.

    Parameters
    ----------
    yi, vi : array-like, shape (n, k_max)
        One row per meta-analysis; NaN (in both arrays) where a row has fewer studies.
        A 1-D input is treated as a single row.
    method : str
        As :func:`evsynth.pooling.rma.rma`: FE/EE, DL, HE, HS, SJ, ML, REML, EB, PM.
    test : str
        "z", "knha" (Knapp-Hartung) or "adhoc" (Knapp-Hartung with the scaling factor truncated
        at 1), as :func:`evsynth.pooling.rma.rma`. Rows with k = 1 use z, as metafor does.
    level : float
        Confidence level in percent (or proportion).
    control : dict, optional
        threshold, maxiter, stepadj, tol, ll0check (see ``default_control``).

    Returns
    -------
    BatchResult
        Arrays of length n that equal ``rma`` row by row. Rows with k = 0 are NaN. ML, REML and
        EB are solved to the optimum (:mod:`evsynth.pooling.tau2_solver`); ``reason`` says why a
        row did not converge ("" otherwise).

    Warns
    -----
    RuntimeWarning
        When some rows did not converge (their ``converged`` entry is False).
    """
    if method not in TAU2_METHODS:
        raise ValueError(f"method must be one of {', '.join(TAU2_METHODS)}; got {method!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}; got {test!r}")
    method = "FE" if method == "EE" else method
    alpha = level_to_alpha(level)
    con = default_control()
    if control:
        unknown = sorted(set(control) - set(con))
        if unknown:
            raise ValueError(f"control has unknown key(s) {unknown}; valid keys: {sorted(con)}")
        con.update(control)
    y, v, m = _validate(yi, vi)
    # studies x meta-analyses: sums over the (few) studies run along contiguous rows, which is
    # several times faster than reducing along the last axis of (many, few) arrays
    y, v, m = (np.ascontiguousarray(a.T) for a in (y, v, m))
    n = y.shape[1]
    k = m.sum(axis=0)
    tau2 = np.zeros(n)
    se_tau2 = np.full(n, np.nan)
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=int)
    reason = np.full(n, "", dtype=object)

    yc = _centered(y, m)  # metafor estimates tau2 from mean-centred outcomes
    re_rows = np.flatnonzero(k >= 2)
    if method != "FE" and re_rows.size:
        R = _Rows(yc[:, re_rows], v[:, re_rows], m[:, re_rows])
        why = np.full(re_rows.size, "", dtype=object)
        if method in ("DL", "HE", "HS", "SJ"):
            t, s = _closed_form(R, method)
            c, it = np.ones(re_rows.size, bool), np.zeros(re_rows.size, int)
        elif method == "PM":
            t, s, c, it = _paule_mandel(R, con)
            why[~c] = "PM root finding reached the iteration limit"
        else:
            t, s, c, it, why = _fisher_scoring(R, method, con)
        tau2[re_rows], se_tau2[re_rows], conv[re_rows], iters[re_rows] = t, s, c, it
        reason[re_rows] = why
        if not c.all():
            bad = re_rows[~c]
            warnings.warn(f"{method} did not converge in {bad.size} row(s) (first: row {bad[0]}: "
                          f"{reason[bad[0]]}); converged=False there, see BatchResult.reason.",
                          RuntimeWarning, stacklevel=2)

    # coefficients
    R = _Rows(y, v, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = R.weights(tau2)
        sw = w.sum(axis=0)
        beta = (w * y).sum(axis=0) / sw
        var = 1 / sw
        use_t = (test in KNHA_TESTS) & (k >= 2)
        s2w = np.ones(n)
        if test in KNHA_TESTS:
            rss = (w * np.where(m, y - beta[None, :], 0.0) ** 2).sum(axis=0)
            s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - 1))
            if test == "adhoc":  # metafor: s2w[s2w < 1] <- 1
                s2w = np.maximum(1.0, s2w)
            s2w = np.where(use_t, s2w, 1.0)
            var = s2w * var
        se = np.sqrt(var)
        stat = beta / se
        ddf = np.maximum(k - 1, 1)
        pval = 2 * stats.norm.sf(np.abs(stat))
        crit = np.full(n, stats.norm.isf(alpha / 2))
        if use_t.any():
            pval[use_t] = 2 * stats.t.sf(np.abs(stat[use_t]), ddf[use_t])
            dfs, inv = np.unique(ddf[use_t], return_inverse=True)  # one quantile per distinct df
            crit[use_t] = stats.t.isf(alpha / 2, dfs)[inv]
        ci_lb, ci_ub = beta - crit * se, beta + crit * se
        half = crit * np.sqrt(se**2 + tau2)
        pi_lb, pi_ub = beta - half, beta + half
        if method == "FE":
            pi_lb = np.full(n, np.nan)
            pi_ub = np.full(n, np.nan)

        # heterogeneity with FE weights and the typical within-study variance
        w0 = R.weights(np.zeros(n))
        QE, _ = _Rows(yc, v, m).rss(w0)
        QE = np.maximum(0.0, QE)
        QEp = stats.chi2.sf(QE, np.maximum(k - 1, 1))
        vt = (k - 1) / R.tr_p(w0)
        if method == "FE":
            I2 = np.where(QE > 0, np.maximum(0.0, 100 * (QE - (k - 1)) / QE), 0.0)
            H2 = QE / (k - 1)
        else:
            I2 = 100 * tau2 / (vt + tau2)
            H2 = tau2 / vt + 1
    one = k == 1
    QE[one], QEp[one], I2[one], H2[one] = 0.0, 1.0, 0.0, 1.0
    empty = k == 0
    for arr in (beta, se, stat, pval, ci_lb, ci_ub, pi_lb, pi_ub, tau2, QE, QEp, I2, H2):
        arr[empty] = np.nan
    return BatchResult(
        beta=beta, se=se, zval=stat if test == "z" else None, tval=stat if test in KNHA_TESTS else None,
        pval=pval, ci_lb=ci_lb, ci_ub=ci_ub, pi_lb=pi_lb, pi_ub=pi_ub, tau2=tau2, se_tau2=se_tau2,
        I2=I2, H2=H2, QE=QE, QEp=QEp, k=k, converged=conv, iterations=iters, method=method,
        test=test, level=level, s2w=s2w, reason=reason,
    )
