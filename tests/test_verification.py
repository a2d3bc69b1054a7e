"""Double extraction: the seeded sample and the recorded agreement (data/raw/extraction/verification.csv)."""

from pathlib import Path

import pandas as pd
import pytest

from evsynth.extraction.validate import load_frames
from evsynth.extraction.verification import (
    TASK_COLUMNS,
    agreement_rate,
    blind_tasks,
    compare,
    numeric_cells,
    sample_cells,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "raw" / "extraction"
SCHEMA = ROOT / "src" / "evsynth" / "schemas" / "extraction.schema.yaml"


@pytest.fixture(scope="module")
def frames():
    return load_frames(DATA, SCHEMA)


@pytest.fixture(scope="module")
def verification():
    return pd.read_csv(DATA / "verification.csv", keep_default_na=False, na_values=[""])


def test_sample_is_seeded_and_blind(frames):
    a, b = sample_cells(frames, 0.2, seed=7), sample_cells(frames, 0.2, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) >= 0.2 * len(numeric_cells(frames))
    assert list(blind_tasks(a).columns) == TASK_COLUMNS and "value" not in blind_tasks(a)
    with pytest.raises(ValueError, match="fraction"):
        sample_cells(frames, 0)


def test_compare_marks_agreement():
    sample = pd.DataFrame({"item": ["V1", "V2", "V3"], "value": [1.5, 2.0, 3.0]})
    second = pd.DataFrame({"item": ["V1", "V2", "V3"], "value_second": [1.5, 2.5, None],
                           "second_source_url": ["u"] * 3, "second_notes": ["", "", "page not stored"]})
    v = compare(sample, second)
    assert v.agree.tolist() == [True, False, False]
    assert agreement_rate(v) == pytest.approx(1 / 3)


def test_recorded_agreement_meets_the_bar(frames, verification):
    current = verification[~verification.resolution.fillna("").str.startswith("study removed")]
    assert len(current) >= 0.2 * len(numeric_cells(frames))  # at least 20% of today's numbers
    assert agreement_rate(current) >= 0.95
    unresolved = current[~current.agree.astype(bool) & current.resolution.isna()]
    assert unresolved.empty


def test_sampled_values_are_still_in_the_tables(frames, verification):
    cells = numeric_cells(frames)
    key = ["table", "study_id", "what", "column"]
    current = verification[~verification.resolution.fillna("").str.startswith("study removed")]
    merged = current.merge(cells.fillna({"what": ""}), on=key, how="left")
    merged = merged[merged.value.notna()]
    same = merged.groupby("item").apply(lambda g: (g.value == g.value_first).any(), include_groups=False)
    assert same.all(), same[~same]
    assert merged["item"].nunique() >= 0.95 * len(current)
