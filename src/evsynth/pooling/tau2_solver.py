"""Safeguarded root finder for the ML, REML and EB estimating equations of tau^2, vectorised over rows.

metafor's ``rma.uni`` finds tau^2 by Fisher scoring (Viechtbauer, 2005, J Educ Behav Stat
30:261-293, eqs. 12-14) and stops when the change falls below ``threshold`` (1e-5 by default).
Fisher scoring converges only linearly and, where the expected information is far from the
observed one, it can cycle between two values for ever (REML: 14 of the 2,000 k = 10
meta-analyses of tests/reference/batch.json, where metafor's default control stops with an error). Here the estimating equation g(tau2) = 0 is solved instead by
Newton's method with the analytic derivative g'(tau2), safeguarded so that every row reaches the
root (or the zero boundary):

* the start is metafor's (the Hedges estimate, truncated at 0);
* each evaluation narrows a bracket [lo, hi] around the root (g > 0 below it, g < 0 above, since
  g is the score of a concave log-likelihood near the optimum);
* the Newton step is used when g' < 0 and it stays inside the bracket, the Fisher-scoring step
  g / I (I the expected information, > 0) when g' >= 0, and bisection of the bracket otherwise;
* a step below 0 tries tau2 = 0 once: where g(0) <= 0 the optimum is on the boundary, tau2 = 0
  (metafor's Fisher scoring creeps towards 0 by step halving instead);
* a row stops when the step (or the bracket width) is below ``threshold * max(1, tau2)``;
  after ``maxiter`` evaluations it is reported as not converged, with the reason.

The estimating functions (w = 1 / (v + tau2), P the projection of :mod:`.estimators`), with
d P / d tau2 = -P P:

=====  ================================  ====================================  ===============
       g                                 g'                                    I (Fisher)
=====  ================================  ====================================  ===============
ML     y'PPy - tr(W)                     -2 y'PPPy + tr(W^2)                   tr(W^2)
REML   y'PPy - tr(P)                     -2 y'PPPy + tr(PP)                    tr(PP)
EB     y'Py k/(k-p) - k                  -y'PPy k/(k-p)                        tr(W)
=====  ================================  ====================================  ===============

These are metafor's Fisher-scoring numerators and denominators, so the fixed point is the one
metafor converges to with a tight ``threshold``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["solve_tau2"]

ScoreFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def solve_tau2(score: ScoreFn, start: np.ndarray, con: dict
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve g(tau2) = 0 on [0, inf) row by row.

    Parameters
    ----------
    score : callable
        ``score(rows, tau2) -> (g, dg, info)``: the estimating function, its derivative and the
        Fisher information (> 0) for the given row indices at the given tau2 values.
    start : ndarray, shape (n,)
        Starting values (negative values are set to 0).
    con : dict
        ``threshold`` (convergence criterion on the change in tau2, relative to max(1, tau2)),
        ``maxiter`` (evaluations per row) and ``stepadj`` (step-length factor).

    Returns
    -------
    tau2, converged, iterations, reason : ndarray
        ``reason`` is "" where the row converged and says why it did not otherwise.
    """
    t = np.maximum(0.0, np.asarray(start, dtype=float)).copy()
    n = t.size
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    zero_seen = np.zeros(n, dtype=bool)
    iters = np.zeros(n, dtype=int)
    conv = np.zeros(n, dtype=bool)
    reason = np.full(n, "", dtype=object)
    thr, maxiter, stepadj = float(con["threshold"]), int(con["maxiter"]), float(con["stepadj"])
    active = np.arange(n)
    while active.size:
        ta = t[active]
        g, dg, info = score(active, ta)
        iters[active] += 1
        finite = np.isfinite(g)
        pos = g > 0
        lo_a = np.where(finite & pos, np.maximum(lo[active], ta), lo[active])
        hi_a = np.where(finite & ~pos, np.minimum(hi[active], ta), hi[active])
        zero_seen[active] |= ta == 0
        lo[active], hi[active] = lo_a, hi_a
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fisher = ta + stepadj * g / info
            newton = ta - stepadj * g / dg
        prop = np.where((dg < 0) & np.isfinite(newton), newton, fisher)
        inside = np.isfinite(prop) & (prop > lo_a) & (prop < hi_a)
        try_zero = ~inside & ~(prop > lo_a) & (lo_a == 0) & ~zero_seen[active]
        fallback = np.where(np.isfinite(fisher) & (fisher > lo_a), fisher, 2 * lo_a + 1.0)
        mid = np.where(np.isfinite(hi_a), 0.5 * (lo_a + hi_a), fallback)
        new = np.where(inside, prop, np.where(try_zero, 0.0, mid))
        scale = thr * np.maximum(1.0, ta)
        at_zero = (ta == 0) & (g <= 0)           # optimum on the boundary
        exact = g == 0
        small = (np.abs(new - ta) <= scale) | (hi_a - lo_a <= scale)
        done = finite & (at_zero | exact | small)
        t[active] = np.where(at_zero, 0.0, np.where(exact, ta, new))
        conv[active[done]] = True
        bad = ~finite
        if bad.any():
            rows = active[bad]
            reason[rows] = [f"the estimating equation is not finite at tau2 = {x:.6g}" for x in ta[bad]]
            t[rows] = ta[bad]
        over = ~done & ~bad & (iters[active] > maxiter)
        if over.any():
            rows = active[over]
            reason[rows] = [
                f"no convergence after {maxiter} iterations (threshold {thr:g}); the root lies in "
                f"[{lo[r]:.6g}, {hi[r]:.6g}]" for r in rows]
        active = active[~done & ~bad & ~over]
    return t, conv, iters, reason
