"""Generic inverse-variance inputs: from_ci and from_se."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.effects import critical_z, from_ci, from_se

Z95 = 1.959963984540054  # qnorm(0.975)
Z90 = 1.6448536269514722  # qnorm(0.95)


def test_critical_z_percent_and_proportion():
    assert critical_z(95) == pytest.approx(Z95, rel=1e-15)
    assert critical_z(0.95) == pytest.approx(Z95, rel=1e-15)
    assert critical_z(90) == pytest.approx(Z90, rel=1e-15)
    with pytest.raises(ValueError, match="level must be between 0 and 100"):
        critical_z(100)


def test_hazard_ratio_from_ci_is_log_scale():
    out = from_ci([0.75, 1.2], [0.60, 0.9], [0.94, 1.6], "HR")
    assert out["yi"].tolist() == pytest.approx([math.log(0.75), math.log(1.2)], rel=1e-14)
    se = (math.log(0.94) - math.log(0.60)) / (2 * Z95)
    assert out["vi"].iloc[0] == pytest.approx(se**2, rel=1e-12)


def test_mean_difference_from_90_percent_ci():
    out = from_ci(-4.1, -6.0, -2.2, "MD", level=90)
    assert out["yi"].iloc[0] == -4.1
    assert out["vi"].iloc[0] == pytest.approx((3.8 / (2 * Z90)) ** 2, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(yi=st.floats(-3, 3), se=st.floats(0.01, 2))
def test_round_trip_ratio(yi, se):
    """A CI built as exp(yi +- z se) gives back yi and se^2."""
    out = from_ci(math.exp(yi), math.exp(yi - Z95 * se), math.exp(yi + Z95 * se), "OR")
    assert out["yi"].iloc[0] == pytest.approx(yi, abs=1e-12)
    assert out["vi"].iloc[0] == pytest.approx(se**2, rel=1e-9)


def test_from_se():
    out = from_se([0.8, 1.5], [0.1, 0.2], "RR")
    np.testing.assert_allclose(out["yi"], np.log([0.8, 1.5]), rtol=1e-14)
    np.testing.assert_allclose(out["vi"], [0.01, 0.04], rtol=1e-14)
    md = from_se(-3.0, 1.5, "MD")
    assert (md["yi"].iloc[0], md["vi"].iloc[0]) == (-3.0, 2.25)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: from_ci([1.0], [0.5], [2.0], "XX"), r"unknown measure 'XX'; valid: HR, RR, OR, MD, SMD"),
        (lambda: from_ci([1.0, 3.0], [0.5, 1.0], [2.0, 2.0], "HR"), r"estimate\[1\] = 3 lies outside"),
        (lambda: from_ci([1.0], [2.0], [0.5], "MD"), r"ci_lb\[0\] must be < ci_ub\[0\]"),
        (lambda: from_ci([1.0, 1.0], [0.5, 0.0], [2.0, 2.0], "OR"), r"ci_lb\[1\] must be > 0"),
        (lambda: from_ci([1.0], [0.5, 0.4], [2.0], "OR"), r"ci_lb has 2 values but estimate has 1"),
        (lambda: from_se([1.0, 2.0], [0.1, -0.1], "MD"), r"se\[1\] must be > 0"),
        (lambda: from_se([np.nan], [0.1], "MD"), r"estimate\[0\] must be a finite"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
