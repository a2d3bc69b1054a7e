"""evsynth.pooling.batch.rma_batch: equals rma row by row and metafor's values (rma.json)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from evsynth.pooling.batch import rma_batch
from evsynth.pooling.rma import rma

REF = json.loads((Path(__file__).parent / "reference" / "rma.json").read_text())
METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]
FIELDS = ["beta", "se", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "se_tau2", "I2", "H2",
          "QE", "QEp"]
TIGHT = {"threshold": 1e-12, "maxiter": 1000}


def _num(x):
    return float("nan") if x in (None, "NA", "NaN") else float(x)


def _ragged(seed=3, n=40, kmax=9):
    """Simulated rows with 0..kmax studies (NaN padding, also in the middle of a row)."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.005, 0.6, (n, kmax))
    tau2 = rng.choice([0.0, 0.02, 0.3, 2.0], (n, 1))
    yi = rng.normal(0.2, np.sqrt(vi + tau2))
    k = rng.integers(0, kmax + 1, n)
    k[:4] = [0, 1, 2, kmax]
    for i in range(n):
        drop = rng.permutation(kmax)[: kmax - k[i]]
        yi[i, drop] = np.nan
        vi[i, drop] = np.nan
    return yi, vi, k


@pytest.mark.parametrize("test", ["z", "knha", "adhoc"])
@pytest.mark.parametrize("method", METHODS)
def test_batch_equals_rma_row_by_row(method, test):
    yi, vi, k = _ragged()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = rma_batch(yi, vi, method=method, test=test, control=TIGHT)
    assert b.k.tolist() == k.tolist()
    for i in range(len(k)):
        if k[i] == 0:
            assert np.isnan(b.beta[i]) and np.isnan(b.tau2[i])
            continue
        keep = ~np.isnan(yi[i])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = rma(yi[i, keep], vi[i, keep], method=method, test=test, control=TIGHT)
        stat = b.zval if test == "z" else b.tval
        rstat = r.zval if r.tval is None else r.tval
        np.testing.assert_allclose(stat[i], rstat, rtol=1e-8, atol=1e-12)
        for f in FIELDS:
            expected = getattr(r, f)
            expected = np.nan if expected is None else expected
            np.testing.assert_allclose(getattr(b, f)[i], expected, rtol=1e-8, atol=1e-12,
                                       equal_nan=True, err_msg=f"row {i} (k={k[i]}): {f}")
        assert b.converged[i] == r.converged


def _stack_reference():
    cases = [c for c in REF["cases"] if not c.get("mods")]
    kmax = max(len(np.atleast_1d(c["yi"])) for c in cases)
    yi = np.full((len(cases), kmax), np.nan)
    vi = np.full((len(cases), kmax), np.nan)
    for i, c in enumerate(cases):
        y = np.atleast_1d(c["yi"])
        yi[i, : y.size] = y
        vi[i, : y.size] = np.atleast_1d(c["vi"])
    return cases, yi, vi


@pytest.mark.parametrize("test", ["z", "knha", "adhoc"])
@pytest.mark.parametrize("method", METHODS)
def test_batch_matches_metafor(method, test):
    cases, yi, vi = _stack_reference()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = rma_batch(yi, vi, method=method, test=test, control=TIGHT)
    stat = b.zval if test == "z" else b.tval
    for i, c in enumerate(cases):
        rec = next(f for f in c["fits"] if f["method"] == method and f'test="{test}"' in f["call"])
        for f in ["beta", "se", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "I2", "H2",
                  "QE", "QEp"]:
            np.testing.assert_allclose(getattr(b, f)[i], _num(rec[f]), rtol=1e-8, atol=1e-10,
                                       equal_nan=True, err_msg=f"{c['name']} {rec['call']}: {f}")
        np.testing.assert_allclose(stat[i], _num(rec["stat"]), rtol=1e-8, atol=1e-10)
        if method != "FE":
            np.testing.assert_allclose(b.se_tau2[i], _num(rec["se_tau2"]), rtol=1e-8, atol=1e-10,
                                       equal_nan=True)
        assert b.k[i] == rec["k"]


def test_batch_nonconvergence_is_flagged_per_row():
    cases, yi, vi = _stack_reference()
    with pytest.warns(RuntimeWarning, match=r"REML did not converge in \d+ row\(s\)"):
        b = rma_batch(yi, vi, method="REML", control={"maxiter": 2, "threshold": 1e-12})
    assert not b.converged.all()
    names = [c["name"] for c in cases]
    assert not b.converged[names.index("bcg")]
    assert b.converged[names.index("k1")]  # nothing to iterate
    assert b.iterations[names.index("bcg")] == 3


def test_batch_frame_and_repr():
    yi, vi, _ = _ragged(n=6)
    b = rma_batch(yi, vi, method="DL", test="knha")
    df = b.to_frame()
    assert len(df) == len(b) == 6
    assert "tval" in df.columns and "zval" not in df.columns
    np.testing.assert_array_equal(df["tau2"].to_numpy(), b.tau2)
    assert "DL" in repr(b)


def test_batch_accepts_single_row():
    c = next(c for c in REF["cases"] if c["name"] == "bcg")
    b = rma_batch(c["yi"], c["vi"])
    assert b.tau2.shape == (1,)
    assert b.tau2[0] == pytest.approx(rma(c["yi"], c["vi"]).tau2, rel=1e-12)


@pytest.mark.parametrize(
    "yi, vi, kw, match",
    [
        ([[0.1, np.nan]], [[0.1, 0.2]], {}, r"yi\[0, 1\] is NaN but vi\[0, 1\] is not"),
        ([[0.1, 0.2]], [[0.1, np.nan]], {}, r"vi\[0, 1\] is NaN but yi\[0, 1\] is not"),
        ([[0.1, 0.2], [0.3, 0.1]], [[0.1, 0.2], [0.1, -0.2]], {}, r"vi\[1, 1\] must be > 0, got -0.2"),
        ([[0.1, 0.2]], [[0.0, 0.2]], {}, r"vi\[0, 0\] must be > 0"),
        ([[0.1, np.inf]], [[0.1, 0.2]], {}, r"yi\[0, 1\] must be finite"),
        ([[0.1, 0.2]], [[0.1, 0.2, 0.3]], {}, r"same shape"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {"method": "XYZ"}, r"method must be one of FE, EE, DL"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {"test": "t"}, r"test must be one of z, knha, adhoc"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {"control": {"thresh": 1}}, r"unknown key"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {"level": 120}, r"level must be"),
    ],
)
def test_batch_bad_input(yi, vi, kw, match):
    with pytest.raises(ValueError, match=match):
        rma_batch(yi, vi, **kw)
