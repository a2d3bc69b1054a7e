"""GRADE-style downgrading rules (evsynth.analyses.grade), each rule at and around its threshold."""

import pytest

from evsynth.analyses.grade import (
    certainty,
    imprecision_downgrade,
    inconsistency_downgrade,
    publication_bias_downgrade,
    rob_downgrade,
)


@pytest.mark.parametrize("share, expected", [(0.0, 0), (0.249, 0), (0.25, 1), (0.49, 1), (0.5, 2), (1.0, 2)])
def test_risk_of_bias(share, expected):
    assert rob_downgrade(share) == expected


@pytest.mark.parametrize("i2, pi_crosses, expected", [
    (0, True, 0), (49.9, True, 0), (50, False, 1), (74, True, 1), (75, False, 1), (75, True, 2), (float("nan"), True, 0),
])
def test_inconsistency(i2, pi_crosses, expected):
    assert inconsistency_downgrade(i2, pi_crosses) == expected


@pytest.mark.parametrize("crosses, participants, events, binary, expected", [
    (False, 400, None, False, 0),
    (False, 399, None, False, 1),
    (True, 1000, None, False, 1),
    (True, 100, None, False, 2),
    (False, 1000, 299, True, 1),
    (False, 1000, 300, True, 0),
    (True, 50, 10, True, 2),
    (False, 5000, None, True, 1),  # binary, events not reported: information size not shown to be met
])
def test_imprecision(crosses, participants, events, binary, expected):
    assert imprecision_downgrade(crosses, participants, events, binary) == expected


def test_publication_bias_and_certainty():
    assert publication_bias_downgrade(0.05) == 1
    assert publication_bias_downgrade(0.10) == 0
    assert publication_bias_downgrade(None) == 0
    assert [certainty(d) for d in (0, 1, 2, 3, 4, 6)] == ["high", "moderate", "low", "very low", "very low",
                                                            "very low"]
