"""Diagnostics against metafor 3.8 (fixtures: tests/reference/diagnostics.R -> diagnostics.json)."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.pooling import diagnostics as D
from evsynth.pooling.rma import rma

REF = json.loads((Path(__file__).parent / "reference" / "diagnostics.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}
CTRL = dict(threshold=1e-12, maxiter=10000)  # as the R script
NAMES = list(CASES)


def arr(x):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def check(actual, expected, what, rel=1e-6, atol=1e-9):
    np.testing.assert_allclose(np.asarray(actual, float), arr(expected), rtol=rel, atol=atol,
                               equal_nan=True, err_msg=what)


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, c in CASES.items():
        d = c["data"]
        out[name] = rma(d["yi"], d["vi"], method=c["method"], test=c["test"], control=CTRL)
        check(out[name].beta, c["fit"]["beta"], f"{name} base fit")
    return out


@pytest.mark.parametrize("name", NAMES)
def test_leave1out(fits, name):
    ref = CASES[name]["leave1out"]
    got = D.leave1out(fits[name], control=CTRL)
    stat = "tval" if CASES[name]["test"] == "knha" else "zval"
    for ours, theirs in [("estimate", "estimate"), ("se", "se"), (stat, stat), ("pval", "pval"),
                         ("ci_lb", "ci.lb"), ("ci_ub", "ci.ub"), ("Q", "Q"), ("Qp", "Qp"),
                         ("I2", "I2"), ("H2", "H2")]:
        check(got[ours], ref[theirs], f"{name} leave1out {ours}")
    if "tau2" in ref:
        check(got["tau2"], ref["tau2"], f"{name} leave1out tau2", atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_cumul(fits, name):
    c = CASES[name]
    ref = c["cumul"]
    got = D.cumul(fits[name], c["data"]["order"], control=CTRL)
    labels = [f"Study {i}" for i in ref["order_index"]]
    assert list(got.index) == labels
    stat = "tval" if c["test"] == "knha" else "zval"
    for ours, theirs in [("estimate", "estimate"), ("se", "se"), (stat, stat), ("pval", "pvals"),
                         ("ci_lb", "ci.lb"), ("ci_ub", "ci.ub"), ("Q", "Q"), ("Qp", "Qp"),
                         ("H2", "H2")]:
        check(got[ours], ref[theirs], f"{name} cumul {ours}")
    # I2 and tau2 are ~1e-11 where tau2 sits at the boundary within solver noise: absolute floor
    check(got["I2"], ref["I2"], f"{name} cumul I2", atol=1e-8)
    if "tau2" in ref:
        check(got["tau2"], ref["tau2"], f"{name} cumul tau2", atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_influence(fits, name):
    ref = CASES[name]["influence"]
    got = D.influence(fits[name], control=CTRL)
    for ours, theirs in [("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook.d"),
                         ("cov_r", "cov.r"), ("QE_del", "QE.del"), ("hat", "hat"),
                         ("weight", "weight"), ("dfbetas", "dfbetas")]:
        check(got[ours], ref[theirs], f"{name} influence {ours}")
    check(got["tau2_del"], ref["tau2.del"], f"{name} influence tau2_del", atol=1e-8)
    assert got["inf"].tolist() == ref["is_infl"]


@pytest.mark.parametrize("name", NAMES)
def test_regtest(fits, name):
    ref = CASES[name]["regtest"]
    got = D.regtest(fits[name], control=CTRL)
    stat = got.tval if CASES[name]["test"] == "knha" else got.zval
    check(stat, ref["zval"], "regtest statistic")
    for f in ("pval", "est", "ci_lb", "ci_ub"):
        check(getattr(got, f), ref[f], f"regtest {f}")
    check(got.fit.tau2, ref["fit_tau2"], "regtest fit tau2", atol=1e-8)
    if CASES[name]["test"] == "knha":
        assert got.dfs == ref["dfs"]
    frame = got.summary_frame()
    assert frame.loc[0, "pval"] == got.pval


def trimfill_params():
    for name, c in CASES.items():
        for t in c["trimfill"]:
            yield pytest.param(name, t, id=f"{name}-{t['estimator']}-{t['side_arg']}")


@pytest.mark.parametrize("name,ref", list(trimfill_params()))
def test_trimfill(fits, name, ref):
    got = D.trimfill(fits[name], ref["estimator"], ref["side_arg"], control=CTRL)
    assert got.converged
    assert got.k0 == ref["k0"] and got.side == ref["side"] and got.fit.k == ref["k"]
    check(got.se_k0, ref["se_k0"], "se_k0")
    check(got.p_k0, ref["p_k0"], "p_k0")
    fit = got.fit
    stat = fit.tval if fit.test == "knha" else fit.zval
    for ours, key in [(fit.beta, "beta"), (fit.se, "se"), (stat, "zval"), (fit.pval, "pval"),
                      (fit.ci_lb, "ci_lb"), (fit.ci_ub, "ci_ub"), (fit.QE, "QE"),
                      (fit.yi, "yi"), (fit.vi, "vi")]:
        check(ours, ref[key], f"trimfill {key}")
    check(fit.tau2, ref["tau2"], "trimfill tau2", atol=1e-8)
    assert got.fill.tolist() == ref["fill"]
    np.testing.assert_array_equal(got.yi_fill, np.asarray(fit.yi)[got.fill])
    if got.k0:
        assert got.filled_frame().index[0] == "Filled 1"


@pytest.mark.parametrize("name", NAMES)
def test_funnel_data(fits, name):
    ref = CASES[name]["funnel"]
    got = D.funnel_data(fits[name])
    check(got.points["yi"], ref["x"], "funnel x")
    check(got.points["sei"], ref["y"], "funnel y")
    check(got.refline, ref["refline"], "refline")
    top, bottom = got.lines.iloc[0], got.lines.iloc[-1]
    assert top["sei"] == 0 and top["ci_lb"] == top["ci_ub"] == got.refline
    check(bottom["sei"], ref["se_bottom"], "funnel max se")
    check(bottom["ci_lb"], ref["ci_lb_bottom"], "funnel pseudo-CI lower")
    check(bottom["ci_ub"], ref["ci_ub_bottom"], "funnel pseudo-CI upper")


def test_funnel_data_of_trimfill_flags_filled_points(fits):
    tf = D.trimfill(fits["hackshaw_FE"], control=CTRL)
    got = D.funnel_data(tf)
    assert int(got.points["fill"].sum()) == tf.k0 == 7
    assert got.refline == tf.fit.beta


def test_bad_input(fits):
    res = fits["bcg_REML"]
    with pytest.raises(ValueError, match="RMAResult"):
        D.leave1out({"yi": [1, 2]})
    with pytest.raises(ValueError, match="L0, R0"):
        D.trimfill(res, estimator="Q9")
    with pytest.raises(ValueError, match="left, right"):
        D.trimfill(res, side="up")
    with pytest.raises(ValueError, match="order must have one value per study: got length 3"):
        D.cumul(res, [1, 2, 3])
    with pytest.raises(ValueError, match=r"order\[1\] is NaN"):
        D.cumul(res, [1, np.nan] + list(range(11)))
    d = CASES["bcg_REML"]["data"]
    reg = rma(d["yi"], d["vi"], mods=np.asarray(d["order"], float))
    with pytest.raises(ValueError, match="intercept-only"):
        D.influence(reg)
    small = rma([0.1, 0.3], [0.01, 0.02])
    with pytest.raises(ValueError, match="at least 3"):
        D.regtest(small)


def test_cumul_decreasing_and_ties_keep_data_order(fits):
    res = fits["hackshaw_FE"]
    years = CASES["hackshaw_FE"]["data"]["order"]
    got = D.cumul(res, years, decreasing=True)
    idx = [int(s.split()[1]) - 1 for s in got.index]
    expected = sorted(range(len(years)), key=lambda i: (-years[i], i))
    assert idx == expected


yv = st.lists(st.tuples(st.floats(-2, 2), st.floats(0.01, 1)), min_size=4, max_size=9)


@settings(max_examples=15, deadline=None)
@given(yv, st.sampled_from(["REML", "DL", "FE"]))
def test_leave1out_rows_equal_separate_fits_and_cumul_ends_at_full_fit(rows, method):
    yi, vi = (np.array(x) for x in zip(*rows))
    res = rma(yi, vi, method=method, control=CTRL)
    l1 = D.leave1out(res, control=CTRL)
    for i in (0, len(yi) - 1):
        keep = np.arange(len(yi)) != i
        sep = rma(yi[keep], vi[keep], method=method, control=CTRL)
        assert l1["estimate"].iloc[i] == pytest.approx(sep.beta, rel=1e-9, abs=1e-12)
        assert l1["se"].iloc[i] == pytest.approx(sep.se, rel=1e-9)
    cu = D.cumul(res, control=CTRL)
    assert cu["estimate"].iloc[-1] == pytest.approx(res.beta, rel=1e-9, abs=1e-12)
    assert cu["estimate"].iloc[0] == pytest.approx(yi[0], rel=1e-12, abs=1e-15)


@settings(max_examples=15, deadline=None)
@given(yv, st.sampled_from(["L0", "R0"]))
def test_trimfill_mirrors_about_the_trimmed_estimate(rows, estimator):
    yi, vi = (np.array(x) for x in zip(*rows))
    res = rma(yi, vi, method="FE")
    if np.ptp(vi) == 0:
        with pytest.raises(ValueError, match="side cannot be inferred"):
            D.trimfill(res, estimator)
        return
    tf = D.trimfill(res, estimator)
    assert tf.k0 >= 0 and len(tf.yi_fill) == tf.k0 == int(tf.fill.sum())
    if tf.k0:
        # the filled points are mirror images of the k0 most extreme points on the other side
        trimmed_order = np.argsort(-yi if tf.side == "left" else yi, kind="stable")
        k = len(yi)
        mirrored = yi[np.sort(trimmed_order[:tf.k0])]
        centre = (np.sort(tf.yi_fill) + np.sort(mirrored)[::-1]) / 2
        assert np.allclose(centre, centre[0], atol=1e-9)
        assert k + tf.k0 == tf.fit.k
