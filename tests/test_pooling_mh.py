"""rma_mh / rma_peto against metafor 3.8 (fixtures: tests/reference/mh.R -> mh.json)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.pooling.mh import escalc_2x2, rma_mh, rma_peto

REF = json.loads((Path(__file__).parent / "reference" / "mh.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}
SCALARS = ["beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2"]
OR_TESTS = ["MH", "MHp", "CO", "COp", "TA", "TAp", "BD", "BDp"]


def close(actual, expected, what, rel=1e-6, abs_=1e-10):
    """Compare with metafor: NaN where metafor gives NA, else 1e-6 relative (tiny absolute floor)."""
    if expected is None:
        assert math.isnan(actual), f"{what}: expected NA (NaN), got {actual}"
        return
    assert actual == pytest.approx(expected, rel=rel, abs=abs_), f"{what}: {actual} != {expected}"


def close_vec(actual, expected, what):
    if not isinstance(expected, list):  # jsonlite unboxes length-1 vectors
        expected = [expected]
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected)):
        close(float(a), e, f"{what}[{i}]")


def mh_params():
    for name, case in CASES.items():
        for entry in case["mh"]:
            yield pytest.param(name, entry, id=f"{name}-{entry['measure']}-correct{entry['correct']}")


@pytest.mark.parametrize("name,ref", list(mh_params()))
def test_rma_mh_matches_metafor(name, ref):
    d = CASES[name]["data"]
    res = rma_mh(d["ai"], d["bi"], d["ci"], d["di"], measure=ref["measure"], correct=ref["correct"])
    for f in SCALARS:
        close(getattr(res, f), ref[f], f"{name} {ref['call']} {f}")
    assert res.k == ref["k"] and res.k_yi == ref["k_yi"]
    close_vec(res.yi, ref["yi"], "yi")
    close_vec(res.vi, ref["vi"], "vi")
    close_vec(res.weights, ref["weights"], "weights")
    if ref["measure"] == "OR":
        for f in OR_TESTS:
            close(getattr(res, f), ref[f], f"{name} {ref['call']} {f}")
        assert res.k_pos == ref["k_pos"]


@pytest.mark.parametrize("name", list(CASES))
def test_rma_mh_level_and_correction_options(name):
    case = CASES[name]
    d = case["data"]
    ref = case["mh_level90"]
    res = rma_mh(d["ai"], d["bi"], d["ci"], d["di"], measure="RR", level=90)
    for f in ("ci_lb", "ci_ub"):
        close(getattr(res, f), ref[f], f"{name} level=90 {f}")
    ref = case["mh_add_all"]
    res = rma_mh(d["ai"], d["bi"], d["ci"], d["di"], measure="OR", add=0.5, to="all", drop00=False)
    for f in SCALARS:
        close(getattr(res, f), ref[f], f"{name} to=all {f}")
    close_vec(res.yi, ref["yi"], "yi")


@pytest.mark.parametrize("name", list(CASES))
def test_rma_peto_matches_metafor(name):
    case = CASES[name]
    d = case["data"]
    for key, level in (("peto", 95), ("peto_level90", 90)):
        ref = case[key]
        res = rma_peto(d["ai"], d["bi"], d["ci"], d["di"], level=level)
        for f in SCALARS:
            close(getattr(res, f), ref[f], f"{name} {ref['call']} {f}")
        assert res.k_yi == ref["k_yi"]
        close_vec(res.yi, ref["yi"], "yi")
        close_vec(res.vi, ref["vi"], "vi")
        close_vec(res.weights, ref["weights"], "weights")


def test_n1i_n2i_interface_equals_bi_di():
    d = CASES["bcg"]["data"]
    ai, bi, ci, di = (np.array(d[x], float) for x in ("ai", "bi", "ci", "di"))
    a = rma_mh(ai, bi, ci, di, measure="RD")
    b = rma_mh(ai, ci=ci, n1i=ai + bi, n2i=ci + di, measure="RD")
    assert a.beta == b.beta and a.se == b.se and a.QE == b.QE


def test_summary_frame_has_values_and_tests():
    d = CASES["bcg"]["data"]
    res = rma_mh(d["ai"], d["bi"], d["ci"], d["di"])
    df = res.summary_frame()
    assert list(df.columns) == ["estimate", "se", "z", "pval", "ci_lb", "ci_ub"]
    assert df.loc["intrcpt", "estimate"] == res.beta
    assert df.attrs["MH"] == res.MH and df.attrs["TA"] == res.TA
    assert df.attrs["QE_df"] == 12


def test_undefined_estimate_is_nan_like_metafor():
    # no events in group 1 at all: MH OR and RR undefined (metafor returns NA), RD defined
    res = rma_mh([0, 0], [10, 12], [3, 1], [7, 11], measure="OR")
    assert math.isnan(res.beta) and math.isnan(res.ci_lb) and math.isnan(res.TA)
    assert math.isnan(rma_mh([0, 0], [10, 12], [3, 1], [7, 11], measure="RR").beta)
    rd = rma_mh([0, 0], [10, 12], [3, 1], [7, 11], measure="RD")
    assert rd.beta < 0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(ai=[1, -2], bi=[5, 5], ci=[1, 1], di=[5, 5]), r"ai\[1\] must be >= 0, got -2"),
        (dict(ai=[1, 2], bi=[5, 5], ci=[1, 1], di=[5, float("nan")]), r"di\[1\] must be a finite"),
        (dict(ai=[1, 2], bi=[5, 5, 5], ci=[1, 1], di=[5, 5]), r"bi has length 3 but ai has length 2"),
        (dict(ai=[1, 2], ci=[1, 9], n1i=[5, 5], n2i=[5, 5]), r"ci\[1\] = 9 events exceed n2i\[1\] = 5"),
        (dict(ai=[6, 2], ci=[1, 1], n1i=[5, 5], n2i=[5, 5]), r"ai\[0\] = 6 events exceed n1i\[0\]"),
        (dict(ai=[1, 0], bi=[5, 0], ci=[1, 1], di=[5, 5]), r"group 1 of table 1 is empty"),
        (dict(ai=[], bi=[], ci=[], di=[]), r"at least one table"),
        (dict(ai=[1], bi=[2], ci=[1]), r"either bi and di, or n1i and n2i"),
    ],
)
def test_bad_counts_name_argument_and_index(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rma_mh(**kwargs)
    with pytest.raises(ValueError, match=match):
        rma_peto(**kwargs)


def test_bad_options_list_valid_choices():
    with pytest.raises(ValueError, match="OR, RR, RD"):
        rma_mh([1], [2], [3], [4], measure="HR")
    with pytest.raises(ValueError, match="all, only0, if0all, none"):
        rma_mh([1], [2], [3], [4], to="some")
    with pytest.raises(ValueError, match="level"):
        rma_peto([1], [2], [3], [4], level=0)
    with pytest.raises(ValueError, match="no table has both events and non-events"):
        rma_peto([0, 0], [5, 5], [0, 0], [5, 5])


tables = st.lists(
    st.tuples(*[st.integers(min_value=1, max_value=60)] * 4), min_size=1, max_size=8
)


@settings(max_examples=40, deadline=None)
@given(tables)
def test_swapping_groups_flips_sign_and_keeps_heterogeneity(rows):
    a, b, c, d = (np.array(x, float) for x in zip(*rows))
    for measure in ("OR", "RR", "RD"):
        fwd = rma_mh(a, b, c, d, measure=measure)
        rev = rma_mh(c, d, a, b, measure=measure)
        assert rev.beta == pytest.approx(-fwd.beta, rel=1e-9, abs=1e-12)
        assert rev.se == pytest.approx(fwd.se, rel=1e-9)
        assert rev.QE == pytest.approx(fwd.QE, rel=1e-9, abs=1e-9)
    p_fwd, p_rev = rma_peto(a, b, c, d), rma_peto(c, d, a, b)
    assert p_rev.beta == pytest.approx(-p_fwd.beta, rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(*[st.integers(min_value=1, max_value=40)] * 4), min_size=1, max_size=1))
def test_single_table_mh_equals_study_estimate(rows):
    a, b, c, d = (np.array(x, float) for x in zip(*rows))
    for measure in ("OR", "RR", "RD"):
        res = rma_mh(a, b, c, d, measure=measure)
        yi, _ = escalc_2x2(a, b, c, d, measure=measure)
        assert res.beta == pytest.approx(yi[0], rel=1e-9, abs=1e-12)
        assert res.QE == 0 and res.QEp == 1 and res.I2 == 0 and res.H2 == 1


def test_level_as_proportion_like_metafor():
    d = CASES["bcg"]["data"]
    a = rma_mh(d["ai"], d["bi"], d["ci"], d["di"], measure="RR", level=90)
    b = rma_mh(d["ai"], d["bi"], d["ci"], d["di"], measure="RR", level=0.9)
    assert (a.ci_lb, a.ci_ub, a.level) == (b.ci_lb, b.ci_ub, b.level)
