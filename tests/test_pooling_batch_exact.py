"""rma_batch and rma reach the optimum: metafor run to convergence (tests/reference/batch.R -> batch.json).

300 seeded meta-analyses (50 for each k in 2, 3, 5, 10, 30, 100; true tau2 in {0, .02, .1, .3},
vi ~ U(0.01, 0.2)) and the 2,000-row k = 10 case of issue 11, fitted in R with
``control=list(threshold=1e-12, maxiter=10000)`` (REML, ML, EB) or ``control=list(tol=1e-12)`` (PM).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from evsynth.pooling.batch import rma_batch
from evsynth.pooling.rma import rma

ROOT = Path(__file__).parent
REF = json.loads((ROOT / "reference" / "batch.json").read_text())
ATOL = 1e-8  # the brief: at most 1e-8 from metafor run to convergence


def _rows():
    ys, vs = [], []
    for g in REF["groups"]:
        ys.extend(np.array(g["yi"], float))
        vs.extend(np.array(g["vi"], float))
    kmax = max(len(y) for y in ys)
    Y = np.full((len(ys), kmax), np.nan)
    V = np.full((len(ys), kmax), np.nan)
    for i, (y, v) in enumerate(zip(ys, vs)):
        Y[i, : y.size], V[i, : v.size] = y, v
    return ys, vs, Y, V


ROWS_Y, ROWS_V, Y, V = _rows()
K = np.array([len(y) for y in ROWS_Y])


def test_fixture_covers_the_brief():
    assert REF["metafor_version"].startswith("3.8")
    assert sorted(set(K.tolist())) == [2, 3, 5, 10, 30, 100] and len(K) == 300
    tau2 = np.array(REF["fits"]["REML"]["tau2"])
    assert np.sum(tau2 < 1e-10) >= 30  # many rows at the zero boundary
    assert np.sum(tau2 > 0.05) >= 30
    k10 = REF["k10"]
    assert k10["n"] == 2000 and np.array(k10["yi"]).shape == (2000, 10)
    vi = np.array(k10["vi"])
    assert 0.01 <= vi.min() and vi.max() <= 0.2
    # metafor's default control stops with an error on some of these rows (Fisher scoring cycles)
    assert len(k10["default_control_errors"]["rows"]) >= 5


@pytest.mark.parametrize("method", ["REML", "ML", "EB", "PM"])
def test_batch_reaches_metafor_optimum(method):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no row may fail to converge
        b = rma_batch(Y, V, method=method)
    ref = REF["fits"][method]
    assert b.converged.all() and all(r == "" for r in b.reason)
    for f in ("beta", "se", "tau2"):
        np.testing.assert_allclose(getattr(b, f), ref[f], rtol=0, atol=ATOL, err_msg=f"{method} {f}")
    if method == "REML":
        at_zero = np.array(ref["tau2"]) < 1e-10
        assert np.all(b.tau2[at_zero] == 0.0)  # the boundary itself, where metafor creeps to ~1e-13


def test_k10_2000_rows_reml_all_reach_the_optimum():
    k10 = REF["k10"]
    y, v = np.array(k10["yi"]), np.array(k10["vi"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        b = rma_batch(y, v, method="REML")
    assert b.converged.all()
    assert b.iterations.max() <= 30
    for f in ("beta", "se", "tau2"):
        np.testing.assert_allclose(getattr(b, f), k10["REML"][f], rtol=0, atol=ATOL, err_msg=f)
    # the rows where metafor's default Fisher scoring cycles (it needs stepadj < 1 there)
    cyc = np.array(k10["REML"]["stepadj"]) < 1
    assert cyc.sum() >= 5 and b.converged[cyc].all()


@pytest.mark.parametrize("method", ["REML", "ML", "EB", "PM"])
def test_rma_reaches_metafor_optimum(method):
    """rma with its default control (no control= argument) on 10 rows of every k."""
    ref = REF["fits"][method]
    for i in range(0, 300, 5):
        res = rma(ROWS_Y[i], ROWS_V[i], method=method)
        assert res.converged and res.reason == ""
        for f in ("beta", "se", "tau2"):
            assert abs(getattr(res, f) - ref[f][i]) <= ATOL, f"row {i} (k = {K[i]}) {method} {f}"


def test_rma_qprofile_ci_matches_metafor_tight():
    qp = REF["qp_ci"]
    for i, lb, ub in zip(qp["rows"], qp["lb"], qp["ub"]):
        res = rma(ROWS_Y[i], ROWS_V[i], method="REML")
        np.testing.assert_allclose(res.tau2_ci, [lb, ub], rtol=0, atol=ATOL, err_msg=f"row {i}")


def test_unconverged_rows_say_why():
    msg = r"REML did not converge in \d+ row\(s\) \(first: row \d+: no convergence after 3 iterations"
    with pytest.warns(RuntimeWarning, match=msg):
        b = rma_batch(Y[150:200], V[150:200], method="REML", control={"maxiter": 3})  # k = 10
    bad = ~b.converged
    assert bad.any() and (~bad).any()
    assert all(re.match(r"no convergence after 3 iterations \(threshold 1e-12\); the root lies in \[", r)
               for r in b.reason[bad])
    assert all(r == "" for r in b.reason[~bad])
    assert b.to_frame()["reason"].tolist() == list(b.reason)


def test_documented_default_control_differences_are_the_measured_ones():
    """docs/divergences/pooling.md quotes the differences batch.R measured (so the text cannot drift)."""
    doc = (ROOT.parent / "docs" / "divergences" / "pooling.md").read_text()
    d = REF["defaults"]
    for value in (d["PM"]["tau2"]["max_abs"], d["QP_ci"]["lb"]["max_abs"], d["QP_ci"]["ub"]["max_abs"],
                  d["REML"]["tau2"]["max_abs"], d["REML"]["tau2"]["max_rel_where_above_1e4"]):
        assert f"{value:.1e}" in doc, f"{value:.1e} not quoted in pooling.md"
