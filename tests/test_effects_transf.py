"""Back-transformations against metafor's transf.* (fixtures: tests/reference/escalc.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.effects import (
    escalc,
    transf_exp,
    transf_iarcsin,
    transf_ilogit,
    transf_ipft,
    transf_ipft_hm,
    transf_pft,
)


def assert_matches_r(actual, expected, what: str) -> None:
    """Compare to metafor: 1e-6 relative; exact zeros in R need |x| < 1e-12; NA <-> NaN."""
    actual = np.asarray(actual, dtype=float)
    expected = np.array([np.nan if v is None else v for v in expected], dtype=float)
    assert actual.shape == expected.shape, what
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=what)
    ok = ~np.isnan(expected)
    a, e = actual[ok], expected[ok]
    tol = np.where(e == 0, 1e-12, 1e-6 * np.abs(e))
    assert not (np.abs(a - e) > tol).any(), f"{what}: evsynth {a} vs metafor {e}"

REF = json.loads((Path(__file__).parent / "reference" / "escalc_transf.json").read_text())
BY_NAME = {t["name"]: t for t in REF["transformations"]}


def test_exp_and_ilogit_match_r():
    assert_matches_r(transf_exp(BY_NAME["exp"]["x"]), BY_NAME["exp"]["value"], "exp")
    assert_matches_r(transf_ilogit(BY_NAME["ilogit"]["x"]), BY_NAME["ilogit"]["value"], "ilogit")


def test_iarcsin_matches_r_including_clipping():
    t = BY_NAME["iarcsin"]
    out = transf_iarcsin(t["x"])
    assert_matches_r(out, t["value"], "iarcsin")
    assert out[0] == 0.0 and out[-1] == 1.0


@pytest.mark.parametrize("name", ["ipft_pritz", "ipft_edges"])
def test_ipft_matches_r(name):
    t = BY_NAME[name]
    assert_matches_r(transf_ipft(t["x"], t["ni"]), t["value"], name)


def test_ipft_hm_matches_r():
    t = BY_NAME["ipft_hm_pritz"]
    assert_matches_r(transf_ipft_hm(t["x"], t["ni"]), t["value"], "ipft_hm")
    assert_matches_r(transf_ipft_hm(t["x"], targs={"ni": t["ni"]}), t["value"], "ipft_hm targs")
    with pytest.raises(ValueError, match="sample sizes"):
        transf_ipft_hm(t["x"])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=1, max_value=500), data=st.data())
def test_pft_round_trip(n, data):
    """Miller's inversion recovers x/n from the double arcsine (Miller 1978, exact)."""
    x = data.draw(st.integers(min_value=0, max_value=n))
    yi = escalc("PFT", xi=[x], ni=[n])["yi"].to_numpy()
    assert transf_ipft(yi, n)[0] == pytest.approx(x / n, abs=1e-9)
    assert transf_pft(x / n, n) == pytest.approx(yi[0], rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=-30, max_value=30))
def test_ilogit_inverts_plo(x):
    p = transf_ilogit([x])[0]
    assert 0 <= p <= 1
    if 1e-12 < p < 1 - 1e-12:
        assert np.log(p / (1 - p)) == pytest.approx(x, rel=1e-6, abs=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match=r"x\[1\] must be a finite"):
        transf_ilogit([0.0, np.nan])
    with pytest.raises(ValueError, match=r"ni\[0\] must be > 0"):
        transf_ipft([0.5], [0])
    with pytest.raises(ValueError, match=r"ni has 2 values but x has 3"):
        transf_ipft([0.1, 0.2, 0.3], [5, 6])
