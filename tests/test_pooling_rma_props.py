"""Properties (hypothesis) and bad-input handling of evsynth.pooling.rma."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.pooling.batch import rma_batch
from evsynth.pooling.rma import rma

METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]
TIGHT = {"threshold": 1e-12, "maxiter": 1000}


@st.composite
def meta_data(draw, min_k=2, max_k=12):
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.001, 2.0, allow_nan=False), min_size=k, max_size=k))
    return np.array(yi), np.array(vi)


def _fit(yi, vi, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rma(yi, vi, control=TIGHT, **kw)


@settings(max_examples=25, deadline=None)
@given(data=meta_data(), method=st.sampled_from(METHODS), perm_seed=st.integers(0, 1000))
def test_invariant_to_study_order(data, method, perm_seed):
    yi, vi = data
    perm = np.random.default_rng(perm_seed).permutation(len(yi))
    a = _fit(yi, vi, method=method)
    b = _fit(yi[perm], vi[perm], method=method)
    for f in ("beta", "se", "tau2", "QE", "I2", "pi_lb"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-7, atol=1e-10, err_msg=f)
    np.testing.assert_allclose(a.weights[perm], b.weights, rtol=1e-7, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(data=meta_data(), method=st.sampled_from(METHODS[1:]), test=st.sampled_from(["z", "knha", "adhoc"]))
def test_tau2_nonnegative_and_ci_contains_estimate(data, method, test):
    yi, vi = data
    r = _fit(yi, vi, method=method, test=test)
    assert r.tau2 >= 0
    assert r.ci_lb <= r.beta <= r.ci_ub
    assert r.pi_lb <= r.ci_lb and r.ci_ub <= r.pi_ub
    assert 0 <= r.I2 < 100 and r.H2 >= 1
    lb, ub = r.tau2_ci
    assert 0 <= lb <= ub
    assert r.weights.sum() == pytest.approx(100)
    if test == "adhoc":  # never narrower than the unscaled (s2w = 1) t interval
        assert r.s2w >= 1 and r.se >= np.sqrt(1 / np.sum(1 / (np.asarray(vi) + r.tau2))) * (1 - 1e-12)


@settings(max_examples=20, deadline=None)
@given(vi=st.lists(st.floats(0.01, 1.0), min_size=2, max_size=10), mu=st.floats(-2, 2),
       method=st.sampled_from(METHODS[1:]))
def test_random_effects_equals_fixed_effect_when_homogeneous(vi, mu, method):
    """Identical yi: Q = 0, so every estimator gives tau2 = 0 and the RE model is the FE model."""
    vi = np.array(vi)
    yi = np.full(vi.size, mu)
    fe = _fit(yi, vi, method="FE")
    re = _fit(yi, vi, method=method)
    assert re.tau2 == 0
    for f in ("beta", "se", "ci_lb", "ci_ub", "pval"):
        np.testing.assert_allclose(getattr(re, f), getattr(fe, f), rtol=1e-12, atol=1e-12, err_msg=f)
    assert re.I2 == 0 and re.H2 == 1
    assert fe.QE == pytest.approx(0, abs=1e-12) and fe.I2 == 0  # metafor: max(0, -Inf) = 0


@settings(max_examples=15, deadline=None)
@given(data=meta_data(min_k=3), method=st.sampled_from(METHODS))
def test_fixed_tau2_zero_equals_fe(data, method):
    yi, vi = data
    fe = _fit(yi, vi, method="FE")
    fx = _fit(yi, vi, method="REML" if method == "FE" else method, tau2=0.0)
    np.testing.assert_allclose([fx.beta, fx.se], [fe.beta, fe.se], rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(data=meta_data(min_k=1, max_k=8), method=st.sampled_from(METHODS))
def test_batch_row_equals_rma(data, method):
    yi, vi = data
    r = _fit(yi, vi, method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = rma_batch(yi[None], vi[None], method=method, control=TIGHT)
    for f in ("beta", "se", "tau2", "QE", "I2"):
        np.testing.assert_allclose(getattr(b, f)[0], getattr(r, f), rtol=1e-8, atol=1e-12, err_msg=f)


def test_meta_regression_with_single_moderator_array():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 8)
    vi = np.full(8, 0.05)
    yi = 0.5 + 1.0 * x + rng.normal(0, 0.05, 8)
    r = rma(yi, vi, mods=x, method="REML")
    assert r.coef_names == ["intrcpt", "mod1"]
    assert r.beta.shape == (2,) and r.QM_df == 1
    assert r.QMp < 0.01


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "yi, vi, kw, match",
    [
        ([0.1, 0.2, 0.3], [0.1, -0.2, 0.1], {}, r"vi\[1\] must be > 0, got -0.2"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.0], {}, r"vi\[2\] must be > 0, got 0.0"),
        ([0.1, np.nan, 0.3], [0.1, 0.2, 0.1], {}, r"yi\[1\] must be finite, got nan"),
        ([0.1, 0.2, 0.3], [0.1, np.inf, 0.1], {}, r"vi\[1\] must be finite, got inf"),
        ([0.1, 0.2, 0.3], [0.1, 0.2], {}, r"yi and vi must have the same length, got 3 and 2"),
        ([], [], {}, r"k = 0"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {}, r"yi must be 1-dimensional"),
        (["a", "b"], [0.1, 0.2], {}, r"yi must be numeric"),
        ([0.1, 0.2], [0.1, 0.2], {"method": "REMLX"}, r"method must be one of FE, EE, DL, HE, HS, SJ, ML, REML, EB, PM"),
        ([0.1, 0.2], [0.1, 0.2], {"test": "t"}, r"test must be one of z, knha"),
        ([0.1, 0.2], [0.1, 0.2], {"level": 0}, r"level must be"),
        ([0.1, 0.2], [0.1, 0.2], {"tau2": -1}, r"tau2 must be a finite number >= 0"),
        ([0.1, 0.2], [0.1, 0.2], {"slab": ["a"]}, r"slab must have one label per study"),
        ([0.1, 0.2], [0.1, 0.2], {"control": {"maxit": 5}}, r"control has unknown key"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], {"mods": [[1.0], [np.nan], [2.0]]},
         r"mods\[1, 0\] \(column 'mod1'\) must be finite"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], {"mods": [1.0, 2.0]}, r"mods must have one row per study"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], {"mods": [1.0, 1.0, 1.0]}, r"not of full rank"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], {"mods": [[1, 2, 3]] * 3}, r"cannot be estimated"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], {"subgroup": ["a", "b"]}, r"subgroup must have one label per study"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], {"subgroup": ["a", None, "b"]}, r"subgroup\[1\] is missing"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], {"subgroup": ["a", "a", "a"]}, r"at least 2 distinct"),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], {"subgroup": ["a", "a", "b"], "mods": [1.0, 2.0, 4.0]},
         r"subgroup and mods cannot be combined"),
    ],
)
def test_bad_input_names_argument_and_index(yi, vi, kw, match):
    with pytest.raises(ValueError, match=match):
        rma(yi, vi, **kw)


def test_dataframe_mods_keep_column_names():
    df = pd.DataFrame({"dose": [0.2, 0.5, 0.5, 1.0, 0.5], "iv": [1, 0, 1, 0, 1]})
    r = rma([0.1, 0.4, 0.3, 0.9, 0.2], [0.04, 0.05, 0.03, 0.06, 0.05], mods=df, method="FE")
    assert r.coef_names == ["intrcpt", "dose", "iv"]
    assert list(r.summary_frame().columns)[2] == "z"
