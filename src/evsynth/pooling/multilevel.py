"""Three-level meta-analysis: effects nested in studies (metafor ``rma.mv(yi, vi, random = ~ 1 | study/effect)``).

Model (Konstantopoulos, 2011, Res Synth Methods 2:61–76; Viechtbauer, 2010, J Stat Softw 36(3))::

    y_ij = mu + u_i + w_ij + e_ij,   u_i ~ N(0, sigma2[0]),  w_ij ~ N(0, sigma2[1]),  e_ij ~ N(0, v_ij)

so ``V = diag(vi) + sigma2[0] Z1 Z1' + sigma2[1] Z2 Z2'`` with ``Z1`` the study indicators and ``Z2``
the indicators of the study/effect combinations.  The variance components maximise the
(restricted) log-likelihood (Harville, 1977, JASA 72:320–338)::

    ll_ML   = -1/2 [k log(2 pi) + log|V| + r'V^-1 r]
    ll_REML = -1/2 [(k-p) log(2 pi) - log|X'X| + log|V| + log|X'V^-1 X| + r'V^-1 r]

(``r = y - X beta_GLS``; the ``log|X'X|`` constant is included as in metafor).  The optimiser is
``scipy.optimize.minimize`` (L-BFGS-B with the analytic gradient, parameters ``sigma2 >= 0`` on
their natural scale so that the zero boundary is reachable) followed by Newton steps on the
components not at the boundary (observed information from the analytic gradient; the expected
information where the observed one is not positive definite) until the relative step is below
1e-8, which Newton's quadratic convergence turns into a far smaller error.  metafor optimises
``log(sigma2)``, so where a component is 0 here metafor reports a tiny positive number
(1e-10 to 1e-8).

``V`` is block diagonal by study and is handled block by block (cost O(S m^3) for S studies of
at most m estimates each).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .mh import _check_level

__all__ = ["METHODS", "TESTS", "MVResult", "rma_mv", "time_course"]

METHODS = ("REML", "ML")
#: metafor ``rma.mv`` tests: z; t with k - p df (``dfs="residual"``); Knapp-Hartung ("knha": the
#: variance of the coefficients scaled by s2w = r'M^-1 r / (k - p), t with k - p df) and "adhoc"
#: (s2w truncated at 1) as in metafor >= 4.0.
TESTS = ("z", "t", "knha", "adhoc")
T_TESTS = ("t", "knha", "adhoc")


@dataclass
class MVResult:
    """A fitted three-level model (metafor ``rma.mv`` with ``random = ~ 1 | study/effect``).

    Attributes
    ----------
    beta, se, zval, tval, pval, ci_lb, ci_ub : float
        Pooled estimate and its inference; ``zval`` for ``test="z"`` (``tval`` None), ``tval``
        for ``test="t"``, ``"knha"`` or ``"adhoc"`` (t distribution with ``ddf = k - p`` df, as
        metafor's default ``dfs="residual"``).
    vb : ndarray
        1 x 1 variance of ``beta``.
    sigma2 : ndarray
        ``[between-study, within-study]`` variance components.
    QE, QEp : float
        Test for residual heterogeneity (``V = diag(vi)``), df ``k - p``.
    k, n_studies, n_effects : int
        Number of estimates, of studies and of study/effect combinations (metafor ``s.nlevels``).
    logLik : float
        Maximised (restricted) log-likelihood, on metafor's scale.
    method, test, level : str, str, float
    converged : bool
        False when the optimiser did not reach the convergence criteria (a RuntimeWarning was issued).
    iterations : int
        Newton polish iterations after L-BFGS-B.
    yi, vi, X, study, effect : ndarray
        The data the model was fitted to.
    ddf : int or None
        t / F denominator df (``k - p``) under t, knha and adhoc.
    s2w : float
        Knapp-Hartung factor applied to ``vb`` (1 unless ``test`` is knha or adhoc).
    QM, QMp : float
        Omnibus test of the moderators (chi-square; F with ``(m, ddf)`` df under t/knha/adhoc).
    coef_names : list of str or None
        Coefficient names (set by :func:`time_course`: the windows).
    """

    beta: float
    se: float
    zval: Any
    tval: Any
    pval: float
    ci_lb: float
    ci_ub: float
    vb: np.ndarray
    sigma2: np.ndarray
    QE: float
    QEp: float
    k: int
    n_studies: int
    n_effects: int
    p: int
    logLik: float
    method: str
    test: str
    level: float
    converged: bool
    iterations: int
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    study: np.ndarray
    effect: np.ndarray
    ddf: Any = None
    s2w: float = 1.0
    QM: float = float("nan")
    QMp: float = float("nan")
    coef_names: list | None = None
    extra: dict = field(default_factory=dict)

    def summary_frame(self) -> pd.DataFrame:
        """Coefficient table (one row per coefficient); variance components, QE, QM in ``DataFrame.attrs``."""
        stat_name = "z" if self.tval is None else "t"
        stat = self.zval if self.tval is None else self.tval
        names = self.coef_names or (["intrcpt"] if self.p == 1 else [f"b{i}" for i in range(self.p)])
        df = pd.DataFrame(
            {"estimate": np.atleast_1d(self.beta), "se": np.atleast_1d(self.se), stat_name: np.atleast_1d(stat),
             "pval": np.atleast_1d(self.pval), "ci_lb": np.atleast_1d(self.ci_lb),
             "ci_ub": np.atleast_1d(self.ci_ub)},
            index=pd.Index(names, name="coef"),
        )
        df.attrs.update(
            method=self.method, test=self.test, level=self.level, k=self.k,
            n_studies=self.n_studies, n_effects=self.n_effects, sigma2_study=float(self.sigma2[0]),
            sigma2_effect=float(self.sigma2[1]), QE=self.QE, QE_df=self.k - self.p, QEp=self.QEp,
            logLik=self.logLik, converged=self.converged, QM=self.QM, QMp=self.QMp,
        )
        return df

    def __repr__(self) -> str:
        est = np.array2string(np.atleast_1d(self.beta), precision=4)
        lb = np.array2string(np.atleast_1d(self.ci_lb), precision=4)
        ub = np.array2string(np.atleast_1d(self.ci_ub), precision=4)
        return (f"<MVResult {self.method} (k = {self.k}; studies = {self.n_studies}): "
                f"estimate = {est} [{lb}, {ub}], "
                f"sigma2 = [{self.sigma2[0]:.4f}, {self.sigma2[1]:.4f}]"
                f"{'' if self.converged else ' NOT CONVERGED'}>")


# ------------------------------------------------------------------------------- validation
def _check_inputs(yi, vi, study, effect):
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    k = len(y)
    if k < 2:
        raise ValueError(f"yi must contain at least 2 estimates, got {k}")
    if len(v) != k:
        raise ValueError(f"vi has length {len(v)} but yi has length {k}")
    for i in range(k):
        if not np.isfinite(y[i]):
            raise ValueError(f"yi[{i}] must be finite, got {y[i]}")
        if not np.isfinite(v[i]) or v[i] <= 0:
            raise ValueError(f"vi[{i}] must be > 0, got {v[i]}")
    s = np.asarray(study, dtype=object).ravel()
    if len(s) != k:
        raise ValueError(f"study has length {len(s)} but yi has length {k}")
    e = np.arange(k, dtype=object) if effect is None else np.asarray(effect, dtype=object).ravel()
    if len(e) != k:
        raise ValueError(f"effect has length {len(e)} but yi has length {k}")
    for name, arr in (("study", s), ("effect", e)):
        for i, lab in enumerate(arr):
            if lab is None or (np.ndim(lab) == 0 and pd.isna(lab)):
                raise ValueError(f"{name}[{i}] is missing; every estimate needs a {name} label")
    return y, v, s, e


def _codes(labels) -> np.ndarray:
    """Integer code of each label, groups numbered in order of first appearance."""
    keys = [repr(x) if not isinstance(x, tuple) else repr(tuple(map(repr, x))) for x in labels]
    index = {key: j for j, key in enumerate(dict.fromkeys(keys))}
    return np.array([index[key] for key in keys], dtype=int)


# ------------------------------------------------------------------------- likelihood parts
class _Model:
    """(Restricted) log-likelihood, gradient and information, computed study block by study block.

    ``V`` is block diagonal by study.  The blocks are padded to the largest study size ``m``
    (padding: unit variance, no covariance, zero data) and processed as one (S, m, m) array, so
    the cost is O(S m^3) instead of O(k^3).
    """

    def __init__(self, y, v, X, study, effect, reml: bool):
        sc = _codes(study)
        ec = _codes(list(zip(sc.tolist(), _codes(effect).tolist())))
        n_st = int(sc.max()) + 1
        sizes = np.bincount(sc, minlength=n_st)
        m = int(sizes.max())
        order = np.argsort(sc, kind="stable")
        pos = np.concatenate([np.arange(n) for n in sizes])  # position within its study block
        rows = np.full((n_st, m), -1)
        rows[sc[order], pos] = order
        mask = rows >= 0
        self.k, self.p = X.shape
        self.y = y
        self.Y = np.where(mask, y[rows], 0.0)
        self.Xb = np.where(mask[..., None], X[rows], 0.0)
        self.Vd = np.where(mask, v[rows], 1.0)
        eff = np.where(mask, ec[rows], -1)
        pair = mask[:, :, None] & mask[:, None, :]
        self.G = (pair.astype(float), (pair & (eff[:, :, None] == eff[:, None, :])).astype(float))
        self.reml = reml
        self.logdet_xx = np.linalg.slogdet(X.T @ X)[1]
        self.n_studies, self.n_effects = n_st, int(ec.max()) + 1

    def parts(self, s2):
        V = s2[0] * self.G[0] + s2[1] * self.G[1]
        idx = np.arange(V.shape[1])
        V[:, idx, idx] += self.Vd
        Vi = np.linalg.inv(V)
        logdet_v = float(np.linalg.slogdet(V)[1].sum())
        ViX = Vi @ self.Xb
        XtViX = np.einsum("sip,siq->pq", self.Xb, ViX)
        vb = np.linalg.inv(XtViX)
        beta = vb @ np.einsum("sip,si->p", ViX, self.Y)
        r = self.Y - self.Xb @ beta
        ViR = np.einsum("sij,sj->si", Vi, r)
        return dict(Vi=Vi, ViX=ViX, logdet_v=logdet_v, XtViX=XtViX, vb=vb, beta=beta, r=r, ViR=ViR)

    def loglik(self, s2, parts=None):
        d = parts or self.parts(s2)
        rss = float(np.sum(d["r"] * d["ViR"]))
        if self.reml:
            return -0.5 * ((self.k - self.p) * np.log(2 * np.pi) - self.logdet_xx + d["logdet_v"]
                           + np.linalg.slogdet(d["XtViX"])[1] + rss)
        return -0.5 * (self.k * np.log(2 * np.pi) + d["logdet_v"] + rss)

    def score_info(self, s2, parts=None):
        """Gradient of ll wrt sigma2 and the expected (Fisher) information (Harville, 1977).

        REML: ``d ll / d s_a = -1/2 tr(P G_a) + 1/2 y'P G_a P y`` and
        ``I_ab = 1/2 tr(P G_a P G_b)`` with ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1``, expanded
        into block sums: ``tr(P G_a) = tr(V^-1 G_a) - tr(vb A_a)`` and
        ``tr(P G_a P G_b) = tr(V^-1 G_a V^-1 G_b) - tr(vb B_ab) - tr(vb B_ba) + tr(vb A_a vb A_b)``
        with ``A_a = X'V^-1 G_a V^-1 X``, ``B_ab = X'V^-1 G_a V^-1 G_b V^-1 X``.  ML drops the
        ``vb`` terms.  ``P y = V^-1 r``.
        """
        d = parts or self.parts(s2)
        Vi, ViX, vb, ViR = d["Vi"], d["ViX"], d["vb"], d["ViR"]
        ViG = [Vi @ g for g in self.G]
        A = [np.einsum("sip,sij,sjq->pq", ViX, g, ViX) for g in self.G]
        grad = np.empty(2)
        info = np.empty((2, 2))
        for a in range(2):
            tr = np.einsum("sii->", ViG[a])
            if self.reml:
                tr -= np.trace(vb @ A[a])
            grad[a] = -0.5 * tr + 0.5 * np.einsum("si,sij,sj->", ViR, self.G[a], ViR)
            for b in range(2):
                t = np.einsum("sij,sji->", ViG[a], ViG[b])
                if self.reml:
                    B_ab = np.einsum("sip,sij,sjq->pq", ViX, self.G[a] @ ViG[b], ViX)
                    B_ba = np.einsum("sip,sij,sjq->pq", ViX, self.G[b] @ ViG[a], ViX)
                    t += (-np.trace(vb @ B_ab) - np.trace(vb @ B_ba)
                          + np.trace(vb @ A[a] @ vb @ A[b]))
                info[a, b] = 0.5 * t
        return grad, info


def _kkt_ok(model: _Model, s2: np.ndarray, scale: float) -> bool:
    """First-order optimality: zero gradient for free components, non-positive at the 0 bound.

    The gradient is scaled by the size of the component (a change in ll per relative change).
    """
    grad, _ = model.score_info(s2)
    kkt = np.where(s2 > 0, np.abs(grad), np.maximum(grad, 0.0))
    return bool(np.all(kkt * np.maximum(s2, scale) < 1e-6))


def _observed_info(model: _Model, s2: np.ndarray, scale: float) -> np.ndarray:
    """Observed information (minus the Hessian of ll) by central differences of the analytic gradient.

    Near a flat optimum the expected information can be half the observed one, and Fisher
    scoring then oscillates; Newton steps with the observed information converge quadratically.
    """
    H = np.empty((2, 2))
    for j in range(2):
        h = 1e-5 * max(s2[j], scale)
        lo = max(s2[j] - h, 0.0)
        up, dn = s2.copy(), s2.copy()
        up[j], dn[j] = lo + 2 * h, lo
        H[:, j] = -(model.score_info(up)[0] - model.score_info(dn)[0]) / (2 * h)
    return (H + H.T) / 2


def _optimise(model: _Model, start: np.ndarray, maxiter: int = 200, tol: float = 1e-8):
    """L-BFGS-B on sigma2 >= 0, then Newton steps on the free components.

    The Newton steps use the observed information where it is positive definite, the expected
    (Fisher) information otherwise.  Stops when the step changes no component by more than ``tol`` (relative), or
    when no step along the scoring direction increases the likelihood any more (the optimum is
    reached to machine precision); ``converged`` then requires the first-order (KKT) conditions.
    """
    scale = max(float(np.var(model.y)), 1e-8)

    def negll(x):
        s2 = x * scale
        d = model.parts(s2)
        g, _ = model.score_info(s2, d)
        return -model.loglik(s2, d), -g * scale

    res = optimize.minimize(negll, start / scale, jac=True, method="L-BFGS-B",
                            bounds=[(0, None), (0, None)],
                            options=dict(ftol=1e-15, gtol=1e-12, maxiter=2000))
    s2 = np.maximum(res.x * scale, 0.0)
    ll = model.loglik(s2)
    converged = False
    it = 0
    for it in range(1, maxiter + 1):
        grad, info = model.score_info(s2)
        # components at the boundary whose gradient points outward stay at 0
        free = ~((s2 <= 0) & (grad <= 0))
        step = np.zeros(2)
        if free.any():
            obs = _observed_info(model, s2, scale)[np.ix_(free, free)]
            use_obs = np.all(np.linalg.eigvalsh(obs) > 0)
            sub = obs if use_obs else info[np.ix_(free, free)]
            # lstsq: the information is singular when the two levels are not separately identified
            step[free] = np.linalg.lstsq(sub, grad[free], rcond=None)[0]
        lam, improved = 1.0, False
        for _ in range(40):
            cand = np.maximum(s2 + lam * step, 0.0)
            ll_c = model.loglik(cand)
            if ll_c >= ll - 1e-14 * abs(ll):
                improved = True
                break
            lam /= 2
        if not improved:
            converged = _kkt_ok(model, s2, scale)
            break
        change = np.max(np.abs(cand - s2) / np.maximum(np.abs(s2), 1e-8))
        s2, ll = cand, ll_c
        if change < tol:
            converged = _kkt_ok(model, s2, scale)
            break
    return s2, converged, it


# -------------------------------------------------------------------------------- public API
def rma_mv(yi, vi, study, effect=None, *, method: str = "REML", level: float = 95,
           test: str = "z", mods=None, intercept: bool = True) -> MVResult:
    """Fit the three-level random-effects model with known sampling variances.

    Equivalent to metafor's ``rma.mv(yi, vi, random = ~ 1 | study/effect, method=method,
    test=test, level=level)``.

    Parameters
    ----------
    yi, vi : array_like
        Effect estimates and their (known) sampling variances (> 0).
    study : array_like
        Study label of each estimate (outer level).
    effect : array_like, optional
        Effect label within study (inner level); estimates sharing study *and* effect share the
        inner random effect.  ``None``: every estimate is its own inner level.
    method : {"REML", "ML"}
        Restricted or full maximum likelihood for ``sigma2``.
    level : float
        Confidence level in percent.
    test : {"z", "t", "knha", "adhoc"}
        Normal or t-based inference (t with ``k - p`` df, metafor's default ``dfs="residual"``).
        "knha" also scales the variance of the coefficients by the Knapp & Hartung (2003) factor
        ``s2w = r' M^-1 r / (k - p)`` (``r = y - X beta``, ``M`` the marginal variance of ``y``),
        and "adhoc" truncates ``s2w`` at 1 (metafor >= 4.0 ``rma.mv(test="knha"/"adhoc")``,
        which metafor labels experimental for multilevel models).
    mods : array_like, optional
        Moderators (k rows, one column per moderator), as metafor's ``mods=``. With moderators
        ``beta``, ``se``, ``zval``/``tval``, ``pval``, ``ci_lb`` and ``ci_ub`` are arrays (one per
        coefficient), ``QE`` is the residual heterogeneity test and ``QM`` the omnibus test of the
        moderators (chi-square, or F under ``test="t"``).
    intercept : bool
        Add an intercept column to ``mods`` (metafor's default); ``False`` fits e.g. one mean per
        category (``mods = ~ factor(g) - 1``), when ``QM`` tests all coefficients.

    Returns
    -------
    MVResult

    Notes
    -----
    ``beta`` is the GLS estimate ``(X'V^-1 X)^-1 X'V^-1 y`` with variance ``(X'V^-1 X)^-1``.  The
    residual heterogeneity statistic is ``QE = sum((y_i - beta_FE)^2 / v_i)`` with ``beta_FE`` the
    inverse-variance weighted mean (Cochran's Q; metafor uses the sampling covariance ``V`` alone).

    Raises
    ------
    ValueError
        Unknown method/test, mismatched lengths, non-finite ``yi``, ``vi <= 0`` or missing labels
        (the message names the argument and index).

    Warns
    -----
    RuntimeWarning
        When the optimiser does not converge (``converged`` is then False).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}; got {test!r}")
    lv = _check_level(level)
    y, v, s, e = _check_inputs(yi, vi, study, effect)
    k = len(y)
    X = _design(mods, k, intercept)
    p = X.shape[1]
    if k <= p:
        raise ValueError(f"rma_mv: {k} estimates for {p} coefficients; need more estimates than coefficients")
    model = _Model(y, v, X, s, e, reml=(method == "REML"))
    if model.n_effects == model.n_studies:
        warnings.warn("rma_mv: every study contributes a single effect, so the between- and "
                      "within-study variances are not separately identifiable (only their sum is)",
                      RuntimeWarning, stacklevel=2)

    # Start: moment-type total heterogeneity split evenly between the two levels.
    w = 1 / v
    total = max(float(np.var(y, ddof=1) - np.mean(v)), 0.01 * float(np.var(y, ddof=1)), 1e-4)
    s2, converged, iters = _optimise(model, np.array([total / 2, total / 2]))
    if not converged:
        warnings.warn(f"rma_mv ({method}): optimiser did not converge; sigma2 = {s2.tolist()}",
                      RuntimeWarning, stacklevel=2)

    d = model.parts(s2)
    beta = d["beta"]
    vb = d["vb"]
    s2w = 1.0
    if test in ("knha", "adhoc"):
        rss = float(np.sum(d["r"] * d["ViR"]))  # r' M^-1 r (padding rows contribute 0)
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        if test == "adhoc":
            s2w = max(1.0, s2w)
        vb = s2w * vb
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    if test in T_TESTS:
        ddf = k - p
        crit = stats.t.isf((100 - lv) / 200, ddf)
        pval = 2 * stats.t.sf(np.abs(stat), ddf)
    else:
        ddf = None
        crit = stats.norm.isf((100 - lv) / 200)
        pval = 2 * stats.norm.sf(np.abs(stat))
    # residual heterogeneity with V = diag(vi): Q_E = y'(W - W X (X'W X)^-1 X'W) y, df k - p
    WX = X * w[:, None]
    fe_beta = np.linalg.solve(X.T @ WX, WX.T @ y)
    qe = float(np.sum(w * (y - X @ fe_beta) ** 2))
    # omnibus test of the moderators (all coefficients but the intercept; all without one)
    test_idx = np.arange(1 if intercept else 0, p)
    qm = qmp = np.nan
    if test_idx.size:
        b, V = beta[test_idx], vb[np.ix_(test_idx, test_idx)]
        qm = float(b @ np.linalg.solve(V, b))
        if test in T_TESTS:
            qm /= test_idx.size
            qmp = float(stats.f.sf(qm, test_idx.size, k - p))
        else:
            qmp = float(stats.chi2.sf(qm, test_idx.size))
    one = p == 1
    pick = (lambda a: float(np.ravel(a)[0])) if one else (lambda a: np.asarray(a, float))
    return MVResult(
        beta=pick(beta), se=pick(se), zval=None if test in T_TESTS else pick(stat),
        tval=pick(stat) if test in T_TESTS else None, pval=pick(pval), ci_lb=pick(beta - crit * se),
        ci_ub=pick(beta + crit * se), vb=vb, sigma2=s2, QE=qe, QEp=float(stats.chi2.sf(qe, k - p)),
        k=k, n_studies=model.n_studies, n_effects=model.n_effects, p=p,
        logLik=float(model.loglik(s2, d)), method=method, test=test, level=lv,
        converged=converged, iterations=iters, yi=y, vi=v, X=X, study=s, effect=e, ddf=ddf,
        QM=qm, QMp=qmp, s2w=s2w,
    )


def _design(mods, k: int, intercept: bool) -> np.ndarray:
    """The model matrix: moderators as columns (intercept first when requested)."""
    cols = [np.ones((k, 1))] if intercept else []
    if mods is not None:
        m = np.asarray(mods, dtype=float)
        m = m[:, None] if m.ndim == 1 else m
        if m.shape[0] != k:
            raise ValueError(f"mods has {m.shape[0]} rows but yi has {k}")
        bad = np.argwhere(~np.isfinite(m))
        if bad.size:
            raise ValueError(f"mods[{bad[0][0]}, {bad[0][1]}] must be finite, got {m[tuple(bad[0])]}")
        cols.append(m)
    if not cols:
        raise ValueError("rma_mv: intercept=False needs mods")
    X = np.hstack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError("rma_mv: the model matrix (intercept and mods) is rank deficient")
    return X


def time_course(yi, vi, study, effect, window, *, windows=None, method: str = "REML", test: str = "z",
                level: float = 95) -> MVResult:
    """The multilevel time-course model: one mean per time window, estimates nested in studies.

    metafor: ``rma.mv(yi, vi, mods = ~ factor(window) - 1, random = ~ 1 | study/effect,
    method = method, test = test, level = level)`` -- the repeated time points of a trial share its
    study-level random effect instead of counting as independent studies (Konstantopoulos, 2011,
    Res Synth Methods 2:61-76).

    Parameters
    ----------
    yi, vi, study, effect : array_like
        As :func:`rma_mv` (``effect`` labels the estimate within its study, e.g. comparison and
        time point; ``None``: every row is its own inner level).
    window : array_like
        The time window of each estimate.
    windows : sequence, optional
        Order of the window coefficients (default: order of first appearance). Every value of
        ``window`` must be listed; listed windows without estimates are dropped.
    method : {"REML", "ML"}
        Estimator of the variance components. The univariate-only estimators (DL, PM, ...) have no
        multilevel counterpart in metafor and are rejected.
    test : {"z", "t", "knha", "adhoc"}
        As :func:`rma_mv`: z, t with k - p df (metafor's ``dfs="residual"``), Knapp-Hartung or
        Knapp-Hartung with the factor truncated at 1.
    level : float
        Confidence level in percent.

    Returns
    -------
    MVResult
        One coefficient per window present (``coef_names`` are the window labels, ``p`` their
        number); ``QM`` tests that all window means are 0.

    Raises
    ------
    ValueError
        Naming the argument: ``method`` or ``test`` not supported, ``window`` of the wrong length
        or with a missing value or a value not in ``windows``, and every :func:`rma_mv` input error.
    """
    if method not in METHODS:
        raise ValueError(f"method: the multilevel time-course model is estimated by "
                         f"{' or '.join(METHODS)} (metafor rma.mv); got {method!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}; got {test!r}")
    win = np.asarray(window, dtype=object).ravel()
    k = len(np.ravel(np.asarray(yi, dtype=float)))
    if len(win) != k:
        raise ValueError(f"window has length {len(win)} but yi has length {k}")
    for i, lab in enumerate(win):
        if lab is None or (np.ndim(lab) == 0 and pd.isna(lab)):
            raise ValueError(f"window[{i}] is missing; every estimate needs a window")
    present = list(dict.fromkeys(win.tolist()))
    if windows is not None:
        order = list(windows)
        unknown = [w for w in present if w not in order]
        if unknown:
            raise ValueError(f"window: value {unknown[0]!r} is not in windows={order!r}")
        present = [w for w in order if w in set(present)]
    X = np.column_stack([(win == w).astype(float) for w in present])
    res = rma_mv(yi, vi, study, effect, method=method, test=test, level=level, mods=X, intercept=False)
    res.coef_names = [str(w) for w in present]
    return res
