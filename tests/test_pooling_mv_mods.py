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
