"""rma_mv (three-level model) against metafor 3.8 (fixtures: tests/reference/mv.R -> mv.json)."""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.pooling import multilevel
from evsynth.pooling.multilevel import rma_mv

REF = json.loads((Path(__file__).parent / "reference" / "mv.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}
# Cases with a variance component at the zero boundary: metafor optimises log(sigma2) and stops at
# 1e-10 to 1e-8 (by optimizer) (nlminb does not converge with rel.tol=1e-12 there), so its free
# fit agrees with ours to ~1e-5 only; our fit has the higher (restricted) log-likelihood.  These
# cases are checked to 1e-6 against metafor's fit with the boundary component fixed at 0
# (test_boundary_cases_match_metafor_with_component_fixed_at_zero).
# See docs/divergences/diagnostics.md.
BOUNDARY = {"between_zero", "within_zero"}


def params():
    for name, case in CASES.items():
        for fit in case["fits"]:
            yield pytest.param(name, fit, id=f"{name}-{fit['method']}-{fit['test']}")


@pytest.mark.parametrize("name,ref", list(params()))
def test_rma_mv_matches_metafor(name, ref):
    d = CASES[name]["data"]
    res = rma_mv(d["yi"], d["vi"], d["study"], d["effect"], method=ref["method"], test=ref["test"])
    rel = 1e-5 if name in BOUNDARY else 1e-6
    assert res.converged
    for j in range(2):
        floor = 1e-7 if name in BOUNDARY else 1e-10
        assert res.sigma2[j] == pytest.approx(ref["sigma2"][j], rel=rel, abs=floor), f"sigma2[{j}]"
    stat = res.tval if ref["test"] == "t" else res.zval
    for ours, key in [(res.beta, "beta"), (res.se, "se"), (stat, "zval"), (res.pval, "pval"),
                      (res.ci_lb, "ci_lb"), (res.ci_ub, "ci_ub")]:
        assert ours == pytest.approx(ref[key], rel=rel, abs=1e-10), key
    assert res.QE == pytest.approx(ref["QE"], rel=1e-9)
    assert res.QEp == pytest.approx(ref["QEp"], rel=1e-6, abs=1e-300)
    assert res.k == ref["k"]
    assert [res.n_studies, res.n_effects] == ref["s_nlevels"]
    if name not in BOUNDARY:
        assert res.logLik == pytest.approx(ref["logLik"], rel=1e-8)
    assert res.logLik >= ref["logLik"] - 1e-10  # never a worse optimum than metafor
    if ref["test"] == "t":
        assert res.ddf == ref["ddf"] and res.zval is None


def boundary_params():
    for name, case in CASES.items():
        for fit in case["fixed_at_boundary"]:
            yield pytest.param(name, fit, id=f"{name}-{fit['method']}")


@pytest.mark.parametrize("name,ref", list(boundary_params()))
def test_boundary_cases_match_metafor_with_component_fixed_at_zero(name, ref):
    d = CASES[name]["data"]
    res = rma_mv(d["yi"], d["vi"], d["study"], d["effect"], method=ref["method"])
    assert res.converged
    zero = ref["sigma2"].index(0)
    assert res.sigma2[zero] == 0.0
    np.testing.assert_allclose(res.sigma2, ref["sigma2"], rtol=1e-6, atol=1e-12)
    for ours, key in [(res.beta, "beta"), (res.se, "se"), (res.zval, "zval"), (res.pval, "pval"),
                      (res.ci_lb, "ci_lb"), (res.ci_ub, "ci_ub"), (res.logLik, "logLik")]:
        assert ours == pytest.approx(ref[key], rel=1e-6, abs=1e-10), key


def test_single_effect_per_study_warns_not_identifiable():
    yi, vi, study = [0.1, 0.5, -0.2, 0.4], [0.02, 0.03, 0.04, 0.05], ["a", "b", "c", "d"]
    with pytest.warns(RuntimeWarning, match="not separately identifiable"):
        res = rma_mv(yi, vi, study)
    total = float(res.sigma2.sum())
    m = multilevel._Model(np.array(yi), np.array(vi), res.X, study, res.effect, reml=True)
    # only the sum matters: the likelihood is flat along sigma2[0] + sigma2[1] = total
    assert m.loglik(np.array([total, 0.0])) == pytest.approx(res.logLik, rel=1e-12)
    assert m.loglik(np.array([0.0, total])) == pytest.approx(res.logLik, rel=1e-12)
    assert total > 0


def test_level_90():
    case = CASES["konstantopoulos2011"]
    d = case["data"]
    res = rma_mv(d["yi"], d["vi"], d["study"], d["effect"], level=90)
    assert res.ci_lb == pytest.approx(case["level90"]["ci_lb"], rel=1e-6)
    assert res.ci_ub == pytest.approx(case["level90"]["ci_ub"], rel=1e-6)


def test_summary_frame():
    d = CASES["konstantopoulos2011"]["data"]
    res = rma_mv(d["yi"], d["vi"], d["study"], d["effect"])
    df = res.summary_frame()
    assert df.loc["intrcpt", "estimate"] == res.beta
    assert df.attrs["sigma2_study"] == res.sigma2[0] and df.attrs["n_studies"] == 11


def test_effect_none_means_one_level_per_row():
    d = CASES["konstantopoulos2011"]["data"]
    a = rma_mv(d["yi"], d["vi"], d["study"], d["effect"])
    b = rma_mv(d["yi"], d["vi"], d["study"])
    assert a.n_effects == b.n_effects == 56
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-9)


def test_string_labels_equal_integer_labels():
    d = CASES["within_zero"]["data"]
    a = rma_mv(d["yi"], d["vi"], d["study"], d["effect"])
    b = rma_mv(d["yi"], d["vi"], [f"S{s}" for s in d["study"]], [f"e{e}" for e in d["effect"]])
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-10, atol=1e-14)
    assert a.beta == pytest.approx(b.beta, rel=1e-12)


def test_non_convergence_warns_and_flags(monkeypatch):
    d = CASES["konstantopoulos2011"]["data"]
    real = multilevel._optimise
    monkeypatch.setattr(multilevel, "_optimise", lambda model, start: real(model, start, maxiter=1, tol=-1.0))
    with pytest.warns(RuntimeWarning, match="did not converge"):
        res = rma_mv(d["yi"], d["vi"], d["study"], d["effect"])
    assert res.converged is False


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        (([0.1, 0.2, 0.3], [0.1, -0.2, 0.1], [1, 1, 2]), {}, r"vi\[1\] must be > 0, got -0.2"),
        (([0.1, float("nan"), 0.3], [0.1, 0.2, 0.1], [1, 1, 2]), {}, r"yi\[1\] must be finite"),
        (([0.1, 0.2, 0.3], [0.1, 0.2], [1, 1, 2]), {}, r"vi has length 2 but yi has length 3"),
        (([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], [1, 1]), {}, r"study has length 2"),
        (([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], [1, None, 2]), {}, r"study\[1\] is missing"),
        (([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], ["a", "a", "b"], ["x", pd.NA, "y"]), {}, r"effect\[1\] is missing"),
        (([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], [1, 1, 2]), {"method": "DL"}, r"REML, ML"),
        (([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], [1, 1, 2]), {"test": "hksj"}, r"z, t, knha, adhoc; got 'hksj'"),
        (([0.1], [0.1], [1]), {}, r"at least 2"),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rma_mv(*args, **kwargs)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_fit_is_a_kkt_point_of_the_likelihood(seed):
    """At the returned sigma2 no feasible small move increases the (restricted) likelihood."""
    rng = np.random.default_rng(seed)
    n_st = int(rng.integers(3, 7))
    sizes = rng.integers(1, 4, n_st)
    sizes[0] = 2  # at least one study with two effects, so both levels are identified
    study = np.repeat(np.arange(n_st), sizes)
    vi = rng.uniform(0.01, 0.2, len(study))
    yi = rng.normal(0.3, 0.3, n_st)[study] + rng.normal(0, 0.2, len(study)) + rng.normal(0, np.sqrt(vi))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = rma_mv(yi, vi, study)
    model = multilevel._Model(yi, vi, res.X, study, res.effect, reml=True)
    best = model.loglik(res.sigma2)
    assert math.isclose(best, res.logLik, rel_tol=1e-12)
    for dx in ([1e-4, 0], [-1e-4, 0], [0, 1e-4], [0, -1e-4]):
        cand = res.sigma2 + np.array(dx)
        if (cand >= 0).all():
            assert model.loglik(cand) <= best + 1e-12


@pytest.mark.parametrize("reml", [True, False])
def test_analytic_gradient_and_information_match_finite_differences(reml):
    d = CASES["shared_effect"]["data"]
    y, v = np.array(d["yi"]), np.array(d["vi"])
    m = multilevel._Model(y, v, np.ones((len(y), 1)), d["study"], d["effect"], reml=reml)
    s2 = np.array([0.07, 0.05])
    grad, info = m.score_info(s2)
    h = 1e-6
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        num = (m.loglik(s2 + e) - m.loglik(s2 - e)) / (2 * h)
        assert grad[j] == pytest.approx(num, rel=1e-6, abs=1e-8)
    # expected information = E[-Hessian]; check symmetry and positive definiteness
    assert info[0, 1] == pytest.approx(info[1, 0], rel=1e-12)
    assert np.all(np.linalg.eigvalsh(info) > 0)
