"""Result containers for the univariate models (:func:`evsynth.pooling.rma.rma`) and the batch API.

``RMAResult`` mirrors the fields of an ``rma.uni`` object in R's metafor (Viechtbauer, 2010,
J Stat Softw 36(3)); ``BatchResult`` holds the same fields as arrays, one entry per meta-analysis.

Shapes
------
For an intercept-only model (no ``mods``) the coefficient fields ``beta``, ``se``, ``zval``/``tval``,
``pval``, ``ci_lb`` and ``ci_ub`` are Python floats. With moderators they are 1-D numpy arrays with
one entry per column of ``X`` (intercept first), named by ``coef_names``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BatchResult", "RMAResult", "SubgroupResult"]


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "NA"
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    if np.isnan(xf):
        return "NA"
    return f"{xf:.{digits}f}"


@dataclass
class SubgroupResult:
    """Subgroup analysis: one model per subgroup plus the test for subgroup differences.

    Attributes
    ----------
    fits : dict
        Label -> :class:`RMAResult` fitted to that subgroup alone (own tau2).
    Q_between, Q_between_df, Q_between_p : float, int, float
        Test for subgroup differences with *separate* tau2 per subgroup: the Q statistic of a
        fixed-effect (inverse-variance) model fitted to the subgroup estimates with their
        standard errors, chi-square with G - 1 df (as in metafor's "subgrouping versus
        meta-regression" example: ``rma(estimate, sei=se, mods=~grp, method="FE")``, whose QM equals
        this Q).
    QM_mods, QM_mods_df, QM_mods_p : float, int or tuple, float
        Test for subgroup differences with a *common* tau2: the omnibus moderator test of
        ``rma(yi, vi, mods=~factor(grp))`` with the same method and test (F under knha).
    labels : list
        Subgroup labels in order of first appearance.
    """

    fits: dict
    Q_between: float
    Q_between_df: int
    Q_between_p: float
    QM_mods: float
    QM_mods_df: Any
    QM_mods_p: float
    labels: list

    def frame(self) -> pd.DataFrame:
        """One row per subgroup: k, estimate, se, CI, tau2, I2, QE, QEp."""
        rows = []
        for lab in self.labels:
            f = self.fits[lab]
            rows.append(
                {"subgroup": lab, "k": f.k, "estimate": f.beta, "se": f.se, "ci_lb": f.ci_lb, "ci_ub": f.ci_ub,
                     "pval": f.pval, "tau2": f.tau2, "I2": f.I2, "QE": f.QE, "QEp": f.QEp}
            )
        df = pd.DataFrame(rows).set_index("subgroup")
        df.attrs.update(Q_between=self.Q_between, Q_between_df=self.Q_between_df,
                        Q_between_p=self.Q_between_p, QM_mods=self.QM_mods,
                        QM_mods_df=self.QM_mods_df, QM_mods_p=self.QM_mods_p)
        return df


@dataclass
class RMAResult:
    """A fitted univariate fixed- or random-effects model (metafor ``rma.uni`` equivalent).

    Attributes
    ----------
    beta, se, zval, tval, pval, ci_lb, ci_ub : float or ndarray
        Coefficients and their inference. ``zval`` is set for ``test="z"`` (``tval`` None) and
        ``tval`` for ``test="knha"`` or ``"adhoc"`` (``zval`` None). Floats for intercept-only models, arrays
        (one per column of ``X``) with moderators.
    vb : ndarray
        Variance-covariance matrix of the coefficients (p x p), Knapp-Hartung adjusted under knha
        / adhoc (scaled by ``s2w``; under adhoc ``s2w >= 1``).
    pi_lb, pi_ub : float or None
        Prediction interval for the true effect (metafor ``predict()``): beta -/+ crit *
        sqrt(se^2 + tau2), crit from z or, under knha, t with k - p df. None with moderators.
    tau2, se_tau2 : float
        Between-study variance (truncated at 0) and its standard error (None when tau2 was
        fixed by the user, NaN where metafor gives NA).
    tau2_ci : tuple of float
        Q-profile confidence interval (metafor ``confint()``), (nan, nan) where not available
        (FE models, fixed tau2, k = 1). ``I2_ci`` and ``H2_ci`` are the matching intervals.
    I2, H2, QE, QEp : float
        Heterogeneity statistics as metafor computes them.
    QM, QMp, QM_df : float, float, int or tuple
        Omnibus test of the coefficients (all but the intercept when there are moderators;
        the intercept alone otherwise). Under knha QM is an F statistic with df (m, k - p).
    k, p : int
        Number of studies and of coefficients.
    method, test, level : str, str, float
        Estimator, test ("z", "knha" or "adhoc"), confidence level in percent.
    converged : bool
        False when an iterative estimator did not converge (a RuntimeWarning was issued).
    reason : str
        Why it did not converge ("" when it did).
    iterations : int
        Fisher-scoring (or root-finding) iterations used; 0 for closed-form estimators.
    weights : ndarray
        Percent weights, as metafor's ``weights()``.
    yi, vi, X : ndarray
        The data the model was fitted to (X includes the intercept column).
    slab : list of str
        Study labels.
    coef_names : list of str
        Coefficient names ("intrcpt" first).
    tau2_fixed : bool
        True when tau2 was given by the user.
    subgroups : SubgroupResult or None
        Filled when ``subgroup=`` was given.
    loglik : float
        Log-likelihood as metafor's ``logLik()``: restricted (REML, including metafor's
        0.5 log|X'X| term) for REML fits, full ML otherwise.
    ddf, s2w, vt : int or None, float, float
        t/F denominator df (knha), Knapp-Hartung scale factor, typical within-study variance.
    """

    beta: Any
    se: Any
    zval: Any
    tval: Any
    pval: Any
    ci_lb: Any
    ci_ub: Any
    vb: np.ndarray
    pi_lb: Any
    pi_ub: Any
    tau2: float
    se_tau2: Any
    tau2_ci: tuple
    I2_ci: tuple
    H2_ci: tuple
    I2: float
    H2: float
    QE: float
    QEp: float
    QM: float
    QMp: float
    QM_df: Any
    k: int
    p: int
    method: str
    test: str
    level: float
    converged: bool
    iterations: int
    weights: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    slab: list
    coef_names: list
    tau2_fixed: bool = False
    ddf: Any = None
    s2w: float = 1.0
    vt: float = float("nan")
    loglik: float = float("nan")
    reason: str = ""
    subgroups: SubgroupResult | None = None
    extra: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ frames
    def summary_frame(self) -> pd.DataFrame:
        """Coefficient table: one row per coefficient.

        Columns: estimate, se, z (or t under knha), pval, ci_lb, ci_ub. The heterogeneity
        statistics of :meth:`heterogeneity_frame` are copied into ``DataFrame.attrs``.
        """
        stat_name = "z" if self.tval is None else "t"
        stat = self.zval if self.tval is None else self.tval
        df = pd.DataFrame(
            {
                "estimate": np.atleast_1d(self.beta).astype(float),
                "se": np.atleast_1d(self.se).astype(float),
                stat_name: np.atleast_1d(stat).astype(float),
                "pval": np.atleast_1d(self.pval).astype(float),
                "ci_lb": np.atleast_1d(self.ci_lb).astype(float),
                "ci_ub": np.atleast_1d(self.ci_ub).astype(float),
            },
            index=pd.Index(self.coef_names, name="coef"),
        )
        df.attrs.update(self._heterogeneity_dict())
        return df

    def _heterogeneity_dict(self) -> dict:
        return {
            "method": self.method, "test": self.test, "level": self.level, "k": self.k, "p": self.p,
            "tau2": self.tau2, "se_tau2": self.se_tau2, "tau2_ci_lb": self.tau2_ci[0],
            "tau2_ci_ub": self.tau2_ci[1], "I2": self.I2, "H2": self.H2, "QE": self.QE, "QE_df": self.k - self.p,
            "QEp": self.QEp, "QM": self.QM, "QM_df": self.QM_df, "QMp": self.QMp, "pi_lb": self.pi_lb,
            "pi_ub": self.pi_ub, "converged": self.converged,
        }

    def heterogeneity_frame(self) -> pd.DataFrame:
        """One-row DataFrame with tau2 (and CI), I2, H2, QE, QM and the prediction interval."""
        return pd.DataFrame([self._heterogeneity_dict()])

    def weights_frame(self) -> pd.DataFrame:
        """Study labels with yi, vi and percent weights."""
        return pd.DataFrame({"yi": self.yi, "vi": self.vi, "weight": self.weights},
                            index=pd.Index(self.slab, name="study"))

    def __repr__(self) -> str:
        model = "Fixed-effects" if self.method in ("FE", "EE") else "Random-effects"
        head = f"<RMAResult {model} model (k = {self.k}; method: {self.method}; test: {self.test})"
        if self.method in ("FE", "EE"):
            het = f"QE = {_fmt(self.QE)} (p = {_fmt(self.QEp)}), I2 = {_fmt(self.I2, 2)}%"
        else:
            het = (f"tau2 = {_fmt(self.tau2)}, I2 = {_fmt(self.I2, 2)}%, QE = {_fmt(self.QE)} "
                   f"(p = {_fmt(self.QEp)})")
        lines = [head, "  " + het]
        for i, name in enumerate(self.coef_names):
            b = np.atleast_1d(self.beta)[i]
            lo = np.atleast_1d(self.ci_lb)[i]
            hi = np.atleast_1d(self.ci_ub)[i]
            pv = np.atleast_1d(self.pval)[i]
            lines.append(f"  {name}: {_fmt(b)} [{_fmt(lo)}, {_fmt(hi)}] p = {_fmt(pv)}")
        if self.pi_lb is not None and self.p == 1:
            lines.append(f"  PI: [{_fmt(self.pi_lb)}, {_fmt(self.pi_ub)}]")
        if not self.converged:
            lines.append("  WARNING: estimator did not converge")
        return "\n".join(lines) + ">"


@dataclass
class BatchResult:
    """Results of :func:`evsynth.pooling.batch.rma_batch`: one entry per row (meta-analysis).

    All fields are 1-D float arrays of length n (``k`` int, ``converged`` bool). ``zval`` is set
    for test="z" and ``tval`` for test="knha" / "adhoc" (the other is None). Rows with k = 0 are
    NaN. ``reason`` is "" for every row that reached the optimum (or needs no iteration) and
    says why otherwise (e.g. iteration limit reached, with the bracket left).
    """

    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray | None
    tval: np.ndarray | None
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    pi_lb: np.ndarray
    pi_ub: np.ndarray
    tau2: np.ndarray
    se_tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    QE: np.ndarray
    QEp: np.ndarray
    k: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    method: str
    test: str
    level: float
    s2w: np.ndarray | None = None
    reason: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.beta.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """One row per meta-analysis with all result fields as columns."""
        stat_name = "zval" if self.tval is None else "tval"
        stat = self.zval if self.tval is None else self.tval
        cols = {"k": self.k, "beta": self.beta, "se": self.se}
        cols[stat_name] = stat
        cols.update(pval=self.pval, ci_lb=self.ci_lb, ci_ub=self.ci_ub, pi_lb=self.pi_lb,
                    pi_ub=self.pi_ub, tau2=self.tau2, se_tau2=self.se_tau2, I2=self.I2, H2=self.H2,
                    QE=self.QE, QEp=self.QEp, converged=self.converged, iterations=self.iterations,
                    reason=self.reason if self.reason is not None else np.full(len(self), ""))
        df = pd.DataFrame(cols)
        df.attrs.update(method=self.method, test=self.test, level=self.level)
        return df

    def __repr__(self) -> str:
        return (f"<BatchResult n = {len(self)} meta-analyses; method: {self.method}; "
                f"test: {self.test}; not converged: {int((~self.converged).sum())}>")
