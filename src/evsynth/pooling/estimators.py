"""Estimators of the between-study variance tau^2 for the univariate random-effects model.

Each estimator follows metafor 3.8 ``rma.uni()`` (Viechtbauer, 2005, J Educ Behav Stat
30:261-293; Viechtbauer, 2010, J Stat Softw 36(3)), including its truncation of tau^2 at 0, its
starting value and estimating equations for ML/REML/EB and its standard errors of tau^2. The
ML/REML/EB equations are solved to the optimum by the safeguarded Newton method of
:mod:`evsynth.pooling.tau2_solver` rather than stopped where metafor's default Fisher-scoring
rule stops.

Notation: y are the observed effects, v their sampling variances, X the k x p design matrix,
W = diag(w) a weight matrix, and P = W - W X (X'W X)^{-1} X'W. As in metafor, the estimators use
the mean-centred outcomes (which leaves every quantity unchanged when X has an intercept).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .tau2_solver import solve_tau2

__all__ = [
    "RE_METHODS",
    "TAU2_METHODS",
    "Tau2Estimate",
    "default_control",
    "estimate_tau2",
    "projection",
    "q_statistic",
    "qprofile_ci",
]

#: All accepted values of ``method`` ("EE" is an alias of "FE", as in metafor).
TAU2_METHODS = ("FE", "EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
#: Methods that estimate tau^2.
RE_METHODS = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")


def default_control() -> dict:
    """Default control settings.

    threshold : convergence criterion of the ML/REML/EB root finder on |change in tau2|, relative
        to max(1, tau2). evsynth converges to the optimum (1e-12); metafor's default 1e-5 stops
        Fisher scoring short of it (by up to 7.6e-6 in REML tau2 on the simulated analyses of
        tests/reference/batch.R; docs/divergences/pooling.md).
    maxiter : maximum iterations of the root finder (metafor: 100).
    stepadj : step-length factor of the updates (metafor: 1).
    tol : absolute tolerance of the root finders for the PM estimator and the Q-profile CI
        (metafor's uniroot default is eps^0.25 ~ 1.2e-4; here 1e-12, see
        docs/divergences/pooling.md).
    ll0check : check whether the ML/REML log-likelihood at tau2 = 0 is higher (metafor: TRUE).
    """
    return {"threshold": 1e-12, "maxiter": 100, "stepadj": 1.0, "tol": 1e-12, "ll0check": True}


@dataclass
class Tau2Estimate:
    """tau^2 with its standard error and convergence information."""

    tau2: float
    se_tau2: float
    converged: bool = True
    iterations: int = 0
    reason: str = ""


def projection(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """P = W - W X (X' W X)^{-1} X' W for diagonal W = diag(w) (metafor's ``P``)."""
    WX = w[:, None] * X
    inv = np.linalg.inv(X.T @ WX)
    return np.diag(w) - WX @ inv @ WX.T


def q_statistic(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Generalised Q: y' P y with weights 1/(v + tau2) (metafor's ``.QE.func``).

    With tau2 = 0 this is Cochran's Q (the residual heterogeneity statistic QE).
    """
    w = 1.0 / (v + tau2)
    if X.shape[1] == 1:  # intercept only: y'Py = sum w (y - ybar_w)^2
        r = y - (w @ y) / w.sum()
        return float(w @ (r * r))
    WX = w[:, None] * X
    beta = np.linalg.solve(X.T @ WX, WX.T @ y)
    r = y - X @ beta
    return float(w @ (r * r))


def _mad(x: np.ndarray) -> float:
    """R's ``mad()``: 1.4826 * median absolute deviation from the median."""
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


# --------------------------------------------------------------------------- closed form
def _dl(y, v, X, k, p):
    """DerSimonian & Laird (1986) method of moments; Raudenbush (2009) for meta-regression."""
    P = projection(X, 1.0 / v)
    trP = np.trace(P)
    tau2 = max(0.0, (y @ P @ y - (k - p)) / trP)
    se = np.sqrt(1 / trP**2 * (2 * (k - p) + 4 * tau2 * trP + 2 * tau2**2 * np.sum(P * P)))
    return Tau2Estimate(tau2, float(se))


def _he(y, v, X, k, p):
    """Hedges (1983) / Hedges & Olkin unweighted method of moments."""
    P = projection(X, np.ones(k))
    PV = P * v[None, :]
    trPV = np.trace(PV)
    tau2 = max(0.0, (y @ P @ y - trPV) / (k - p))
    se = np.sqrt(1 / (k - p) ** 2 * (2 * np.sum(PV * PV.T) + 4 * tau2 * trPV + 2 * tau2**2 * (k - p)))
    return Tau2Estimate(tau2, float(se))


def _he_raw(y, v, X, k, p) -> float:
    """Untruncated HE value: metafor's starting value for ML/REML/EB."""
    P = projection(X, np.ones(k))
    return float((y @ P @ y - np.sum(np.diag(P) * v)) / (k - p))


def _hs(y, v, X, k, p):
    """Hunter & Schmidt (2004) estimator."""
    w = 1.0 / v
    P = projection(X, w)
    tau2 = max(0.0, (y @ P @ y - k) / w.sum())
    se = np.sqrt(1 / w.sum() ** 2 * (2 * (k - p) + 4 * tau2 * np.trace(P) + 2 * tau2**2 * np.sum(P * P)))
    return Tau2Estimate(tau2, float(se))


def _sj(y, v, X, k, p):
    """Sidik & Jonkman (2005) two-step estimator, started at the (biased) sample variance."""
    tau2_0 = float(np.sum((y - y.mean()) ** 2) / k)
    P = projection(X, 1.0 / (v + tau2_0))
    PV = P * v[None, :]
    tau2 = max(0.0, tau2_0 * (y @ P @ y) / (k - p))
    se = np.sqrt(tau2_0**2 / (k - p) ** 2
                 * (2 * np.sum(PV * PV.T) + 4 * tau2 * np.sum(PV * P) + 2 * tau2**2 * np.sum(P * P)))
    return Tau2Estimate(tau2, float(se))


# --------------------------------------------------------------------------- iterative
def _loglik(y, v, X, tau2, reml):
    """ML or REML log-likelihood at tau2 (metafor's ll0check formulas)."""
    k, p = X.shape
    w = 1.0 / (v + tau2)
    XtWX = X.T @ (w[:, None] * X)
    beta = np.linalg.solve(XtWX, X.T @ (w * y))
    rss = float(np.sum(w * (y - X @ beta) ** 2))
    if reml:
        logdet = np.linalg.slogdet(XtWX)[1]
        return -0.5 * (k - p) * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * logdet - 0.5 * rss
    return -0.5 * k * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * rss


def score_terms(y, v, X, tau2, method):
    """Estimating function g, its derivative and the Fisher information at tau2.

    See :mod:`evsynth.pooling.tau2_solver` for the formulas (metafor's Fisher-scoring numerator
    and denominator, and the analytic derivative of the numerator, using dP/dtau2 = -PP).
    """
    k, p = X.shape
    w = 1.0 / (v + tau2)
    P = projection(X, w)
    Py = P @ y
    PPy = Py @ Py
    if method == "EB":
        c = k / (k - p)
        return float(y @ Py * c - k), float(-PPy * c), float(w.sum())
    PPPy = float(Py @ P @ Py)
    if method == "ML":
        w2 = float(np.sum(w**2))
        return float(PPy - w.sum()), -2 * PPPy + w2, w2
    trPP = float(np.sum(P * P))
    return float(PPy - np.trace(P)), -2 * PPPy + trPP, trPP


def _fisher_scoring(y, v, X, k, p, method, con):
    """ML, REML or EB: metafor's start, then the safeguarded root finder of :mod:`.tau2_solver`."""
    def score(_rows, t):
        g, dg, info = score_terms(y, v, X, float(t[0]), method)
        return np.array([g]), np.array([dg]), np.array([info])

    t, c, its, why = solve_tau2(score, np.array([max(0.0, _he_raw(y, v, X, k, p))]), con)
    tau2, converged, it, reason = float(t[0]), bool(c[0]), int(its[0]), str(why[0])
    if not converged:
        warnings.warn(
            f"{method} estimation of tau2 did not converge: {reason}; returning the last iterate "
            "with converged=False. Try control={'maxiter': 1000}.",
            RuntimeWarning, stacklevel=4,
        )
    if converged and method in ("ML", "REML") and con["ll0check"]:
        ll0 = _loglik(y, v, X, 0.0, method == "REML")
        ll = _loglik(y, v, X, tau2, method == "REML")
        if ll0 - ll > np.finfo(float).eps ** 0.25 and tau2 > con["threshold"]:
            warnings.warn(f"{method} estimation may have gotten stuck at a local maximum; "
                          "setting tau2 = 0 (as metafor does).", RuntimeWarning, stacklevel=4)
            tau2 = 0.0
    tau2 = max(0.0, tau2)
    w = 1.0 / (v + tau2)
    if method == "ML":
        se = np.sqrt(2 / np.sum(w**2))
    elif method == "REML":
        P = projection(X, w)
        se = np.sqrt(2 / np.sum(P * P))
    else:
        se = np.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
    return Tau2Estimate(tau2, float(se), converged, it, reason)


def _pm(y, v, X, k, p, con):
    """Paule & Mandel (1982) estimator: the tau2 at which the generalised Q equals k - p.

    The root is bracketed on [0, tau2_max] with metafor's tau2_max = max(100, 10 * mad(y)^2);
    where metafor stops with an error because the root lies above tau2_max, the bracket is
    widened instead (docs/divergences/pooling.md).
    """
    target = k - p
    f = lambda t: q_statistic(y, v, X, t) - target
    if f(0.0) < 0:
        tau2, it, conv = 0.0, 0, True
    else:
        upper = max(100.0, 10 * _mad(y) ** 2)
        n_widen = 0
        while f(upper) > 0:
            upper *= 10
            n_widen += 1
            if n_widen > 30:
                raise ValueError("PM estimator: could not bracket tau2 (Q does not fall to k - p)")
        sol = optimize.brentq(f, 0.0, upper, xtol=con["tol"], rtol=4 * np.finfo(float).eps,
                              maxiter=max(1000, con["maxiter"]), full_output=True, disp=False)
        tau2, it, conv = float(sol[0]), sol[1].iterations, bool(sol[1].converged)
        if not conv:
            warnings.warn(f"PM root finding did not converge after {it} iterations; "
                          "converged=False.", RuntimeWarning, stacklevel=4)
    tau2 = max(0.0, tau2)
    w = 1.0 / (v + tau2)
    se = np.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
    reason = "" if conv else f"PM root finding did not converge after {it} iterations"
    return Tau2Estimate(tau2, float(se), conv, it, reason)


def estimate_tau2(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, method: str,
                  control: dict | None = None) -> Tau2Estimate:
    """Estimate tau^2 with one of metafor's estimators.

    Parameters
    ----------
    yi, vi : ndarray
        Effects and sampling variances (validated, finite, vi > 0).
    X : ndarray
        k x p design matrix (intercept first), full column rank, k > p.
    method : str
        One of :data:`RE_METHODS` ("FE"/"EE" return tau2 = 0).
    control : dict, optional
        Overrides of :func:`default_control`.

    Returns
    -------
    Tau2Estimate
        tau2 truncated at 0, its standard error (metafor's formulas), converged, iterations.
    """
    con = default_control()
    con.update(control or {})
    y = np.asarray(yi, float)
    y = y - y.mean()  # metafor estimates tau2 from the mean-centred outcomes (Ymc)
    v = np.asarray(vi, float)
    k, p = X.shape
    if method in ("FE", "EE"):
        return Tau2Estimate(0.0, float("nan"))
    if method == "DL":
        return _dl(y, v, X, k, p)
    if method == "HE":
        return _he(y, v, X, k, p)
    if method == "HS":
        return _hs(y, v, X, k, p)
    if method == "SJ":
        return _sj(y, v, X, k, p)
    if method in ("ML", "REML", "EB"):
        return _fisher_scoring(y, v, X, k, p, method, con)
    if method == "PM":
        return _pm(y, v, X, k, p, con)
    raise ValueError(f"method must be one of {', '.join(TAU2_METHODS)}; got {method!r}")


def qprofile_ci(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2: float, level: float,
                control: dict | None = None) -> tuple[float, float]:
    """Q-profile confidence interval for tau^2 (Viechtbauer, 2007, Stat Med 26:37-52).

    Follows metafor's ``confint.rma.uni(type="QP")``: the bounds solve
    Q(tau2) = chi2_{k-p, 1-alpha/2} (lower) and chi2_{k-p, alpha/2} (upper) on the search interval
    [0, max(100, 10 * tau2)]; a bound that lies outside it is set to the interval end (metafor
    marks it "<" or ">"), and both are 0 when Q(0) is below the lower quantile.

    Parameters
    ----------
    level : float
        Confidence level as a proportion (e.g. 0.95).
    """
    con = default_control()
    con.update(control or {})
    y = np.asarray(yi, float)
    v = np.asarray(vi, float)
    k, p = X.shape
    alpha = 1 - level
    crit_u = stats.chi2.isf(alpha / 2, k - p)
    crit_l = stats.chi2.ppf(alpha / 2, k - p)
    t_min = 0.0
    t_max = max(100.0, tau2 * 10)
    q_max = q_statistic(y, v, X, t_max)
    q_min = q_statistic(y, v, X, t_min)

    def root(obj):
        return float(optimize.brentq(lambda t: q_statistic(y, v, X, t) - obj, t_min, t_max,
                                     xtol=con["tol"], rtol=4 * np.finfo(float).eps, maxiter=1000))

    if q_min < crit_l:
        lb = ub = t_min
    else:
        ub = t_max if q_max > crit_l else root(crit_l)
    if q_max > crit_u:
        lb = ub = t_max
    elif q_min < crit_u:
        lb = t_min
    else:
        lb = root(crit_u)
    return lb, ub
