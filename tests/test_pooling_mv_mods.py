"""rma_mv with moderators against metafor (tests/reference/mv_mods.R -> mv_mods.json).

R calls (metafor 3.8), on dat.konstantopoulos2011 with yearc = year - 1990 and era = cut(year, c(-Inf, 1980, 1990, Inf)):
  rma.mv(yi, vi, mods = ~ yearc, random = ~ 1 | district/school, method = M, test = T)
  rma.mv(yi, vi, mods = ~ era - 1, random = ~ 1 | district/school, method = M, test = T)
"""

import json
from pathlib import Path

import numpy as np
import pytest

from evsynth.pooling.multilevel import rma_mv

REF = json.loads((Path(__file__).parent / "reference" / "mv_mods.json").read_text())
DATA = REF["data"]


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: f"{c['name']}-{c['method']}-{c['test']}")
def test_matches_metafor(case):
    mods = np.array(DATA["yearc"]) if case["name"] == "year" else np.array(DATA["era"])
    res = rma_mv(DATA["yi"], DATA["vi"], DATA["study"], DATA["effect"], method=case["method"],
                 test=case["test"], mods=mods, intercept=case["intercept"])
    for field in ("beta", "se", "pval", "sigma2", "QM", "QMp"):
        assert np.allclose(np.atleast_1d(getattr(res, field)), case[field], rtol=1e-6, atol=1e-10), field
    # CI bounds near zero: compare on the scale of the standard error
    for field in ("ci_lb", "ci_ub"):
        assert np.allclose(np.atleast_1d(getattr(res, field)), case[field], rtol=0, atol=1e-6 * np.min(case["se"]))
    assert res.QE == pytest.approx(case["QE"], rel=1e-9)
    assert res.logLik == pytest.approx(case["logLik"], rel=1e-9)
    assert res.p == case["p"]


def test_bad_moderators():
    y, v = [0.1, 0.2, 0.3, 0.4], [0.01] * 4
    with pytest.raises(ValueError, match=r"mods\[2, 0\] must be finite"):
        rma_mv(y, v, ["a", "a", "b", "b"], mods=[1.0, 2.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="rank deficient"):
        rma_mv(y, v, ["a", "a", "b", "b"], mods=[[1, 1], [1, 1], [0, 0], [0, 0]])
    with pytest.raises(ValueError, match="mods has 3 rows"):
        rma_mv(y, v, ["a", "a", "b", "b"], mods=[1, 2, 3])


# --------------------------------------------------------------------------- Knapp-Hartung for rma_mv
@pytest.mark.parametrize("case", [c for c in REF["cases"] if c["test"] in ("knha", "adhoc")],
                         ids=lambda c: f"{c['method']}-{c['test']}")
def test_knha_adhoc_match_metafor_formula(case):
    """rma_mv(test="knha"/"adhoc") against the R computation of metafor >= 4.0's factor (mv_mods.R)."""
    res = rma_mv(DATA["yi"], DATA["vi"], DATA["study"], DATA["effect"], method=case["method"],
                 test=case["test"], mods=np.array(DATA["era"]), intercept=False)
    assert res.test == case["test"] and res.zval is None and res.ddf == case["k"] - case["p"]
    assert res.s2w == pytest.approx(case["s2w"], rel=1e-6)
    for field in ("beta", "se", "tval", "pval", "QM", "QMp"):
        np.testing.assert_allclose(np.atleast_1d(getattr(res, field)), case[field], rtol=1e-6, atol=1e-10,
                                   err_msg=field)
    for field in ("ci_lb", "ci_ub"):  # bounds near zero: on the scale of the standard error
        np.testing.assert_allclose(np.atleast_1d(getattr(res, field)), case[field], rtol=0,
                                   atol=1e-6 * np.min(case["se"]), err_msg=field)


TC = REF["time_course"]


@pytest.mark.parametrize("case", TC["cases"], ids=lambda c: f"{c['method']}-{c['test']}")
def test_time_course_matches_metafor(case):
    """time_course() = rma.mv(yi, vi, mods = ~ window - 1, random = ~ 1 | study/effect)."""
    from evsynth.pooling.multilevel import time_course

    d = TC["data"]
    res = time_course(d["yi"], d["vi"], d["study"], d["effect"], d["window"], windows=d["windows"],
                      method=case["method"], test=case["test"])
    assert res.coef_names == d["windows"] and res.method == case["method"] and res.test == case["test"]
    np.testing.assert_allclose(res.sigma2, case["sigma2"], rtol=1e-5, atol=1e-8)
    for field in ("beta", "se", "pval", "QM", "QMp"):
        np.testing.assert_allclose(np.atleast_1d(getattr(res, field)), case[field], rtol=1e-6, atol=1e-9,
                                   err_msg=field)
    for field in ("ci_lb", "ci_ub"):
        np.testing.assert_allclose(np.atleast_1d(getattr(res, field)), case[field], rtol=0,
                                   atol=1e-6 * np.min(case["se"]), err_msg=field)
    # the within-trial component is at the zero boundary, which metafor's log-scale optimiser only
    # approaches (1e-10): evsynth's likelihood is as high or higher, by at most 1e-7
    assert case["logLik"] - 1e-12 <= res.logLik <= case["logLik"] + 1e-7
    assert list(res.summary_frame().index) == d["windows"]


def test_time_course_adhoc_truncates_where_knha_is_narrower():
    from evsynth.pooling.multilevel import time_course

    d = TC["data"]
    fits = {t: time_course(d["yi"], d["vi"], d["study"], d["effect"], d["window"], test=t)
            for t in ("t", "knha", "adhoc")}
    assert fits["knha"].s2w < 1 and fits["adhoc"].s2w == 1
    np.testing.assert_allclose(fits["adhoc"].se, fits["t"].se, rtol=1e-12)
    assert np.all(fits["knha"].se < fits["adhoc"].se)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "DL"}, r"^method: the multilevel time-course model is estimated by REML or ML .*got 'DL'"),
    ({"method": "PM"}, r"^method: .*got 'PM'"),
    ({"test": "hksj"}, r"^test must be one of z, t, knha, adhoc; got 'hksj'"),
    ({"windows": ["h4", "d1"]}, r"^window: value 'd7' is not in windows="),
])
def test_time_course_rejects_bad_arguments(kwargs, match):
    from evsynth.pooling.multilevel import time_course

    d = TC["data"]
    with pytest.raises(ValueError, match=match):
        time_course(d["yi"], d["vi"], d["study"], d["effect"], d["window"], **kwargs)
    with pytest.raises(ValueError, match=r"window has length 2 but yi has length 13"):
        time_course(d["yi"], d["vi"], d["study"], d["effect"], ["h4", "d1"])
