"""Trial-report conversions: Cochrane Handbook formulas, Wan et al. 2014 and Luo et al. 2018.

No R reference exists for these; the tests use the worked numbers printed in the
Handbook and in Wan et al.'s Table 1, the raw-data identity behind the
combine-groups formula, and closed forms evaluated with the standard library's
NormalDist (independent of the scipy code under test).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.extraction.conversions import (
    combine_groups,
    expected_normal_range,
    log_hr_se_from_ci,
    mean_sd_from_median,
    sd_from_ci,
    sd_from_mean_difference_ci,
    sd_from_se,
    split_shared_control,
    wan_eta,
    wan_xi,
)

PHI_INV = NormalDist().inv_cdf

# Wan et al. 2014, BMC Med Res Methodol 14:135, Table 1 (xi(n), 3 decimals), a subset.
WAN_TABLE_1 = {2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326, 6: 2.534, 10: 3.078, 11: 3.173,
               15: 3.472, 20: 3.735, 25: 3.931, 30: 4.086, 37: 4.259, 44: 4.398, 50: 4.498}


# --- SD from SE and CI (Cochrane Handbook 6.5.2.2-6.5.2.3) ---------------------------

def test_sd_from_se():
    out = sd_from_se(0.5, 100)
    assert out.value == pytest.approx(5.0, rel=1e-15)
    assert "6.5.2.2" in out.method


def test_sd_from_ci_small_sample_uses_t_divisor_4_128():
    # Handbook 6.5.2.2: n = 25 -> t = 2.0639, the divisor 3.92 becomes 4.128.
    out = sd_from_ci(10.0, 14.0, 25)
    divisor = math.sqrt(25) * 4.0 / out.value
    assert divisor == pytest.approx(4.128, abs=5e-4)
    assert "t(df=24)" in out.method


@pytest.mark.parametrize("level, divisor", [(95, 3.92), (90, 3.29), (99, 5.15)])
def test_sd_from_ci_large_sample_uses_normal_divisors(level, divisor):
    # Handbook 6.5.2.2: 3.92 for 95%, 3.29 for 90%, 5.15 for 99% intervals.
    out = sd_from_ci(-1.0, 1.0, 100, level=level)
    assert math.sqrt(100) * 2.0 / out.value == pytest.approx(divisor, abs=5e-3)
    assert out.method.startswith("SD = sqrt(n)*(ub-lb)/(2*z")


def test_sd_from_ci_dist_override():
    z = sd_from_ci(10.0, 14.0, 25, dist="z").value
    assert z == pytest.approx(5 * 4.0 / (2 * PHI_INV(0.975)), rel=1e-12)
    with pytest.raises(ValueError, match="dist must be 't', 'z' or None"):
        sd_from_ci(10.0, 14.0, 25, dist="normal")


def test_sd_from_mean_difference_ci_round_trip():
    # 25 vs 22 participants (the Handbook 6.5.2.3 example's group sizes): t on 45 df.
    sd, n1, n2 = 9.5, 25, 22
    t45 = 2.0141  # t(0.975, 45) from tables
    se = sd * math.sqrt(1 / n1 + 1 / n2)
    out = sd_from_mean_difference_ci(3.8 - t45 * se, 3.8 + t45 * se, n1, n2)
    assert out.value == pytest.approx(sd, rel=1e-4)
    assert "t(df=45)" in out.method
    big = sd_from_mean_difference_ci(-1.0, 1.0, 100, 120)
    assert big.value == pytest.approx(2.0 / (2 * PHI_INV(0.975)) / math.sqrt(1 / 100 + 1 / 120), rel=1e-12)


def test_log_hr_se_from_ci():
    out = log_hr_se_from_ci(0.60, 0.94)
    assert out.value == pytest.approx((math.log(0.94) - math.log(0.60)) / 3.919927969, rel=1e-9)
    assert log_hr_se_from_ci(0.60, 0.94, level=90).value == pytest.approx(
        (math.log(0.94) - math.log(0.60)) / (2 * PHI_INV(0.95)), rel=1e-12)


# --- median, quartiles, range -----------------------------------------------------------

@pytest.mark.parametrize("n, xi", sorted(WAN_TABLE_1.items()))
def test_xi_matches_wan_table_1(n, xi):
    assert wan_xi(n) == pytest.approx(xi, abs=5e-4)
    assert expected_normal_range(n) == pytest.approx(xi, abs=5e-4)


def test_xi_above_50_is_blom_and_eta_closed_form():
    assert wan_xi(120) == pytest.approx(2 * PHI_INV((120 - 0.375) / 120.25), rel=1e-12)
    assert wan_eta(40) == pytest.approx(2 * PHI_INV((30 - 0.125) / 40.25), rel=1e-12)
    # the approximation continues the exact table smoothly
    assert abs(wan_xi(51) - wan_xi(50)) < 0.03


def test_median_iqr_closed_form():
    out = mean_sd_from_median(40, 20.0, q1=15.0, q3=26.0)
    assert out.mean == pytest.approx((0.7 + 0.39 / 40) * 20.5 + (0.3 - 0.39 / 40) * 20.0, rel=1e-14)
    assert out.mean == pytest.approx(20.354875, rel=1e-12)  # by hand
    assert out.sd == pytest.approx(11.0 / (2 * PHI_INV(29.875 / 40.25)), rel=1e-12)
    assert "Luo 2018" in out.method and "Wan 2014" in out.method


def test_median_range_closed_form():
    out = mean_sd_from_median(20, 10.0, minimum=2.0, maximum=30.0)
    w = 4 / (4 + 20**0.75)
    assert out.mean == pytest.approx(w * 16 + (1 - w) * 10, rel=1e-14)
    assert out.mean == pytest.approx(11.7834, abs=1e-4)  # by hand: w = 4/13.4574 = 0.297234
    assert out.sd == pytest.approx(28.0 / 3.735, rel=2e-4)  # Wan Table 1: xi(20) = 3.735


def test_five_numbers_closed_form():
    n = 60
    out = mean_sd_from_median(n, 20.0, q1=15.0, q3=26.0, minimum=5.0, maximum=40.0)
    w = 2.2 / (2.2 + n**0.75)
    v = 0.72 / n**0.55
    assert out.mean == pytest.approx(w * 22.5 + (0.7 - v) * 20.5 + (0.3 + v - w) * 20.0, rel=1e-14)
    xi = 2 * PHI_INV((n - 0.375) / (n + 0.25))
    eta = 2 * PHI_INV((0.75 * n - 0.125) / (n + 0.25))
    assert out.sd == pytest.approx(35.0 / (2 * xi) + 11.0 / (2 * eta), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 500), m=st.floats(-50, 50), half_iqr=st.floats(0.1, 10), extra=st.floats(0.1, 20))
def test_symmetric_summaries_give_mean_equal_median(n, m, half_iqr, extra):
    lo, hi = m - half_iqr, m + half_iqr
    a, b = lo - extra, hi + extra
    for kw in ({"q1": lo, "q3": hi}, {"minimum": a, "maximum": b}, {"q1": lo, "q3": hi, "minimum": a, "maximum": b}):
        out = mean_sd_from_median(n, m, **kw)
        assert out.mean == pytest.approx(m, abs=1e-9 * max(1.0, abs(m)) + 1e-9)
        assert out.sd > 0


def test_normal_quartiles_recover_sigma_for_large_n():
    mu, sigma, n = 24.0, 6.0, 2000
    z = PHI_INV(0.75)
    out = mean_sd_from_median(n, mu, q1=mu - z * sigma, q3=mu + z * sigma)
    assert out.sd == pytest.approx(sigma, rel=2e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 30, "median": 5.0}, r"give the quartiles"),
        ({"n": 30, "median": 5.0, "q1": 3.0}, r"q1 was given without q3"),
        ({"n": 30, "median": 5.0, "q1": 6.0, "q3": 8.0}, r"q1 \(6\) must not exceed median \(5\)"),
        ({"n": 30, "median": 5.0, "minimum": 1.0, "maximum": 4.0}, r"median \(5\) must not exceed maximum \(4\)"),
        ({"n": 30.5, "median": 5.0, "q1": 3.0, "q3": 8.0}, r"n must be a whole number"),
        ({"n": 2, "median": 5.0, "q1": 3.0, "q3": 8.0}, r"n must be >= 3"),
        ({"n": 30, "median": 5.0, "q1": 5.0, "q3": 5.0}, r"q1 equals q3"),
        ({"n": 30, "median": float("nan"), "q1": 3.0, "q3": 8.0}, r"median must be a finite number"),
    ],
)
def test_median_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mean_sd_from_median(**kwargs)


# --- combining and splitting arms ------------------------------------------------------

sample = st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=30).filter(
    lambda xs: np.std(xs) > 1e-3)


@settings(max_examples=50, deadline=None)
@given(x=sample, y=sample)
def test_combine_groups_equals_pooled_raw_data(x, y):
    """Table 6.5.a gives exactly the mean and SD of the concatenated individual data."""
    out = combine_groups(len(x), np.mean(x), np.std(x, ddof=1), len(y), np.mean(y), np.std(y, ddof=1))
    both = np.concatenate([x, y])
    assert out.n == len(both)
    assert out.mean == pytest.approx(np.mean(both), rel=1e-9, abs=1e-9)
    assert out.sd == pytest.approx(np.std(both, ddof=1), rel=1e-9)


def test_combine_groups_by_hand():
    out = combine_groups(10, 5.0, 2.0, 12, 7.0, 3.0)
    assert (out.n, out.mean) == (22, pytest.approx(134 / 22))
    assert out.sd == pytest.approx(math.sqrt((36 + 99 + 120 / 22 * 4) / 21), rel=1e-14)
    assert "Table 6.5.a" in out.method
    with pytest.raises(ValueError, match="sd2 must be > 0, got 0"):
        combine_groups(10, 5.0, 2.0, 12, 7.0, 0.0)


def test_split_shared_control():
    out = split_shared_control(30, 2, events=7, mean=20.1, sd=6.2)
    assert (out.n, out.events, out.mean, out.sd) == (15.0, 3.5, 20.1, 6.2)
    assert "23.3.4" in out.method
    three = split_shared_control(31, 3)
    assert three.n == pytest.approx(31 / 3) and three.events is None
    with pytest.raises(ValueError, match="events must be between 0 and n"):
        split_shared_control(30, 2, events=31)
    with pytest.raises(ValueError, match="n_comparisons must be a whole number >= 2"):
        split_shared_control(30, 1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sd_from_se(-0.1, 10), r"se must be > 0, got -0.1"),
        (lambda: sd_from_se(0.1, 1), r"n must be >= 2, got 1"),
        (lambda: sd_from_ci(5.0, 4.0, 20), r"ci_lb must be < ci_ub"),
        (lambda: sd_from_ci(4.0, 5.0, 20, level=100), r"level must be between 0 and 100"),
        (lambda: sd_from_ci(4.0, float("inf"), 20), r"ci_ub must be a finite number"),
        (lambda: log_hr_se_from_ci(0.0, 1.2), r"ci_lb must be > 0"),
        (lambda: sd_from_mean_difference_ci(-1.0, 1.0, 10, "x"), r"n2 must be a number"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
