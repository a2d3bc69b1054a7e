"""evsynth.effects against R's metafor::escalc (fixtures made by tests/reference/escalc.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.effects import EffectSizeWarning, bias_correction, escalc
from evsynth.effects.escalc import MEASURES

REF = Path(__file__).parent / "reference"
CASES = json.loads((REF / "escalc.json").read_text())["cases"]


def assert_matches_r(actual, expected, what: str) -> None:
    """Compare to metafor: 1e-6 relative; exact zeros in R need |x| < 1e-12; NA ↔ NaN."""
    actual = np.asarray(actual, dtype=float)
    expected = np.array([np.nan if v is None else v for v in expected], dtype=float)
    assert actual.shape == expected.shape, what
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: NA pattern")
    ok = ~np.isnan(expected)
    a, e = actual[ok], expected[ok]
    tol = np.where(e == 0, 1e-12, 1e-6 * np.abs(e))
    bad = np.abs(a - e) > tol
    assert not bad.any(), f"{what}: evsynth {a[bad]} vs metafor {e[bad]}"


def run_case(case, **extra):
    data = pd.DataFrame(case["data"])
    options = dict(case["options"] or {})
    return escalc(case["measure"], data=data, **case["args"], **options, **extra)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_escalc_matches_metafor(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EffectSizeWarning)
        out = run_case(case)
    assert_matches_r(out["yi"], case["yi"], f"{case['name']} yi")
    assert_matches_r(out["vi"], case["vi"], f"{case['name']} vi")


def test_fixture_covers_every_measure_and_zero_cell_option():
    measures = {c["measure"] for c in CASES}
    assert measures == set(MEASURES)
    tos = {(c["options"] or {}).get("to", "only0") for c in CASES if c["measure"] in ("RR", "OR", "RD", "PETO")}
    assert tos == {"only0", "all", "if0all", "none"}


def test_data_columns_are_kept_and_attrs_set():
    case = next(c for c in CASES if c["name"] == "bcg_RR")
    out = run_case(case)
    assert list(out.columns) == ["tpos", "tneg", "cpos", "cneg", "yi", "vi"]
    assert out.attrs["measure"] == "RR"
    assert out.attrs["ni"][0] == 4 + 119 + 11 + 128
    # Aronson 1948: log(4/123) - log(11/139), by hand from the 2x2 table
    assert out["yi"].iloc[0] == pytest.approx(np.log(4 / 123) - np.log(11 / 139), rel=1e-12)


def test_arrays_without_data_give_only_yi_vi():
    out = escalc("OR", ai=[4, 6], bi=[119, 300], ci=[11, 29], di=[128, 274])
    assert list(out.columns) == ["yi", "vi"]
    assert out["vi"].iloc[0] == pytest.approx(1 / 4 + 1 / 119 + 1 / 11 + 1 / 128, rel=1e-12)


def test_slab_becomes_unique_index():
    out = escalc("MD", m1i=[1, 2, 3], m2i=[0, 0, 0], sd1i=[1, 1, 1], sd2i=[1, 1, 1],
                 n1i=[10, 10, 10], n2i=[10, 10, 10], slab=["Daly2018", "Daly2018", "Fava2020"])
    assert list(out.index) == ["Daly2018.1", "Daly2018.2", "Fava2020"]


def test_undefined_result_warns_and_is_nan():
    with pytest.warns(EffectSizeWarning, match="row\\(s\\) 0"):
        out = escalc("RR", ai=[0, 3], bi=[10, 7], ci=[3, 4], di=[7, 6], to="none")
    assert np.isnan(out["yi"].iloc[0]) and np.isnan(out["vi"].iloc[0])
    assert np.isfinite(out["yi"].iloc[1])


def test_drop00_rows_are_nan_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", EffectSizeWarning)
        out = escalc("OR", ai=[0, 2], bi=[10, 8], ci=[0, 1], di=[12, 9], drop00=True)
    assert np.isnan(out["yi"].iloc[0])
    assert out["yi"].iloc[1] == pytest.approx(np.log(2 * 9 / (8 * 1)), rel=1e-12)


def test_default_add_is_zero_for_pft_and_half_for_plo():
    pft = escalc("PFT", xi=[0], ni=[10])
    assert pft["vi"].iloc[0] == pytest.approx(1 / 42, rel=1e-12)  # ni unchanged: 1/(4*10+2)
    plo = escalc("PLO", xi=[0], ni=[10])
    assert plo["yi"].iloc[0] == pytest.approx(np.log(0.5 / 10.5), rel=1e-12)


# --- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"measure": "XX", "ai": [1]}, r"unknown measure 'XX'; valid: RR, OR"),
        ({"measure": "RR", "ai": [1, np.nan], "bi": [2, 2], "ci": [1, 1], "di": [2, 2]}, r"ai\[1\] must be a finite"),
        ({"measure": "RR", "ai": [1, 2], "bi": [2, 2], "ci": [1, 1], "di": [np.inf, 2]}, r"di\[0\] must be a finite"),
        ({"measure": "RR", "ai": [1, 2], "bi": [2], "ci": [1, 1], "di": [2, 2]}, r"bi has 1 values but ai has 2"),
        ({"measure": "RR", "ai": [1, 12], "n1i": [5, 10], "ci": [1, 1], "n2i": [5, 5]}, r"ai\[1\] = 12 is larger than n1i\[1\] = 10"),
        ({"measure": "PR", "xi": [3, 2], "ni": [2, 5]}, r"xi\[0\] = 3 is larger than ni\[0\]"),
        ({"measure": "RR", "ai": [1, 2], "bi": [2, -1], "ci": [1, 1], "di": [2, 2]}, r"bi\[1\] must be >= 0"),
        ({"measure": "RR", "ai": [1, 2], "bi": [2, 2], "ci": [1, 1], "di": [2, 2], "to": "some"}, r"to = 'some' is not valid; valid: all"),
        ({"measure": "RR", "ai": [1], "bi": [2], "ci": [1], "di": [2], "n1i": [4]}, r"n1i\[0\] = 4 is not ai\[0\] \+ bi\[0\]"),
        ({"measure": "MD", "m1i": [1, 2], "m2i": [0, 0], "sd1i": [1, 0], "sd2i": [1, 1], "n1i": [5, 5], "n2i": [5, 5]}, r"sd1i\[1\] must be > 0, got 0"),
        ({"measure": "SMD", "m1i": [1, 2], "m2i": [0, 0], "sd1i": [1, 1], "sd2i": [1, 1], "n1i": [5, 1], "n2i": [5, 5]}, r"n1i\[1\] must be >= 2"),
        ({"measure": "SMCC", "m1i": [1], "m2i": [0], "sd1i": [1], "sd2i": [1], "ni": [2], "ri": [0.5]}, r"ni\[0\] must be >= 3"),
        ({"measure": "MC", "m1i": [1], "m2i": [0], "sd1i": [1], "sd2i": [1], "ni": [10], "ri": [1.2]}, r"ri\[0\] must be between -1 and 1"),
        ({"measure": "ROM", "m1i": [1], "m2i": [-1], "sd1i": [1], "sd2i": [1], "n1i": [10], "n2i": [10]}, r"m2i\[0\] must be > 0"),
        ({"measure": "SMD", "m1i": [1], "m2i": [0], "sd1i": [1], "sd2i": [1], "n1i": [5], "n2i": [5], "vtype": "HO"}, r"vtype\[0\] = 'HO' is not valid for measure 'SMD'; valid: UB, LS, LS2, AV"),
        ({"measure": "MD", "m1i": [1], "m2i": [0], "sd1i": [1], "n1i": [5], "n2i": [5]}, r"needs argument\(s\) sd2i"),
        ({"measure": "RR", "m1i": [1], "ai": [1], "bi": [1], "ci": [1], "di": [1]}, r"m1i not used by measure 'RR'"),
        ({"measure": "RR", "ai": [0], "bi": [0], "ci": [1], "di": [1]}, r"n1i\[0\] must be >= 1"),
        ({"measure": "MD", "m1i": [1], "m2i": [0], "sd1i": [1], "sd2i": [1], "n1i": [5], "n2i": [5], "vtype": "XX"},
         r"vtype\[0\] = 'XX' is not valid; valid: UB, LS"),
        ({"measure": "OR", "ai": [1], "bi": [2], "ci": [1], "di": [2], "add": -0.5}, r"add must be a finite number >= 0"),
        ({"measure": "OR", "ai": [], "bi": [], "ci": [], "di": []}, r"the data vectors are empty"),
        ({"measure": "OR"}, r"measure 'OR' needs argument\(s\) ai"),
        ({"measure": "OR", "ai": [1], "bi": [2], "ci": [1], "di": [2], "drop00": "yes"}, r"drop00 must be True or False"),
        ({"measure": "MD", "m1i": [1], "m2i": [0], "sd1i": [1], "sd2i": [1], "n1i": [5], "n2i": [5], "slab": "study"},
         r"slab = 'study' is not a column of data"),
        ({"measure": "MD", "m1i": [1], "m2i": [0], "sd1i": [1], "sd2i": [1], "n1i": [5], "n2i": [5], "slab": ["a", None]},
         r"slab has 2 labels but the data have 1 rows"),
    ],
)
def test_bad_input_names_argument_and_index(kwargs, message):
    measure = kwargs.pop("measure")
    with pytest.raises(ValueError, match=message):
        escalc(measure, **kwargs)


def test_bad_column_reports_column_name():
    data = pd.DataFrame({"e": [1, 2], "ne": [3, np.nan], "c": [1, 1], "nc": [3, 3]})
    with pytest.raises(ValueError, match=r"bi \(column 'ne'\)\[1\] must be a finite"):
        escalc("OR", ai="e", bi="ne", ci="c", di="nc", data=data)
    with pytest.raises(ValueError, match=r"column 'nope' not found"):
        escalc("OR", ai="nope", bi="ne", ci="c", di="nc", data=data)


# --- properties ---------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=60)


@settings(max_examples=40, deadline=None)
@given(a=counts, b=counts, c=counts, d=counts, measure=st.sampled_from(["RR", "OR", "RD", "PETO"]))
def test_swapping_groups_negates_binary_effect(a, b, c, d, measure):
    if a + b == 0 or c + d == 0:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EffectSizeWarning)
        fwd = escalc(measure, ai=[a], bi=[b], ci=[c], di=[d])
        rev = escalc(measure, ai=[c], bi=[d], ci=[a], di=[b])
    np.testing.assert_allclose(rev["yi"], -fwd["yi"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rev["vi"], fwd["vi"], rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(m1=st.floats(-50, 50), m2=st.floats(-50, 50), s1=st.floats(0.1, 30), s2=st.floats(0.1, 30),
       n1=st.integers(2, 300), n2=st.integers(2, 300), measure=st.sampled_from(["MD", "SMD", "SMDH"]))
def test_swapping_groups_negates_continuous_effect(m1, m2, s1, s2, n1, n2, measure):
    fwd = escalc(measure, m1i=[m1], m2i=[m2], sd1i=[s1], sd2i=[s2], n1i=[n1], n2i=[n2])
    rev = escalc(measure, m1i=[m2], m2i=[m1], sd1i=[s2], sd2i=[s1], n1i=[n2], n2i=[n1])
    np.testing.assert_allclose(rev["yi"], -fwd["yi"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rev["vi"], fwd["vi"], rtol=1e-10)
    assert (fwd["vi"] > 0).all()


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 400))
def test_hedges_correction_close_to_approximation(n):
    """c(m) -> 1 - 3/(4m - 1) (Hedges 1981 approximation), error O(1/m^2), for m = 2n - 2."""
    m = 2 * n - 2
    c = float(bias_correction(m))
    assert 0 < c < 1
    assert c == pytest.approx(1 - 3 / (4 * m - 1), abs=0.04 / m**2)


def test_hedges_correction_exact_values():
    # c(2) = Gamma(1)/(1 * Gamma(1/2)) = 1/sqrt(pi); c(4) = Gamma(2)/(sqrt(2) Gamma(3/2)) = 2/sqrt(2 pi)
    assert float(bias_correction(2)) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-14)
    assert float(bias_correction(4)) == pytest.approx(2 / np.sqrt(2 * np.pi), rel=1e-14)
    assert np.isnan(bias_correction(1))


def test_mean_change_matches_cochrane_crossover_example():
    """Cochrane Handbook 5.1, 16.4.6.4: MD 7.0 - 6.5 = 0.5 with SDs 2.38 and 2.21, n = 10 and
    an imputed correlation of 0.68 gives SE(MD) = 0.583 (3 decimals, as printed)."""
    out = escalc("MC", m1i=[7.0], m2i=[6.5], sd1i=[2.38], sd2i=[2.21], ni=[10], ri=[0.68])
    assert out["yi"].iloc[0] == pytest.approx(0.5, rel=1e-12)
    assert np.sqrt(out["vi"].iloc[0]) == pytest.approx(0.583, abs=5e-4)
