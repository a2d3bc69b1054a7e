"""Published meta-analyses side by side: the shipped table loads, its checks name file/row/column,
and compare() matches on outcome, window, measure and drug with the right difference and overlap."""

import hashlib
import math
from pathlib import Path

import pandas as pd
import pytest

from evsynth.analyses.benchmarks import (
    PUBLISHED_COLUMNS,
    BenchmarkInputError,
    compare,
    difference,
    load_published,
    load_study_sets,
    report_section,
    rows_per_review,
)
from evsynth.figures.benchmarks import render
from evsynth.processed import layout

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data/raw/benchmarks/published_pooled.csv"
POOLED_COLUMNS = layout("pooled").column_names


def pooled_row(**kw):
    base = dict.fromkeys(POOLED_COLUMNS, "") | {"question": "onset", "variant": "primary", "subgroup_var": "",
                                                "subgroup_level": "", "pooled": True, "method": "REML",
                                                "test": "knha", "window_label": "24 h"}
    return base | kw


def published(**kw):
    base = dict.fromkeys(PUBLISHED_COLUMNS, "") | {
        "review": "Test2020", "comparison": "ketamine_vs_placebo", "drug": "ketamine", "outcome": "response",
        "window": "24h", "timepoint": "24 hours", "measure": "RR", "level": 95.0, "source": "PMID 1 abstract",
        "source_url": "https://example.org/1", "k": pd.NA, "participants": pd.NA, "model": "random-effects"}
    return base | kw


def pub_table(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=PUBLISHED_COLUMNS)


KET_RR = pooled_row(analysis_id="onset_response", outcome="response", measure="RR", window="24h",
                    variant="subgroup", subgroup_var="drug", subgroup_level="ketamine", k=3, n_studies=3,
                    estimate=2.0, ci_lb=1.0, ci_ub=4.0, studies="A2010|B2012|C2014")
ALL_SMD = pooled_row(analysis_id="onset_depression", outcome="depression", measure="SMD", window="24h", k=5,
                     n_studies=5, estimate=-0.5, ci_lb=-0.8, ci_ub=-0.2, studies="A2010|B2012|C2014|D2019|E2020")


# ----------------------------------------------------------------------------- the shipped table
def test_shipped_table_loads_with_traceable_rows():
    pub = load_published(SHIPPED)
    assert len(pub) >= 30
    assert pub.review.nunique() >= 8
    assert pub.source_url.str.match(r"https?://").all() and (pub.source != "").all()
    dean = pub[(pub.review == "Dean2021") & (pub.comparison == "ketamine_vs_placebo") & (pub.outcome == "response")]
    assert len(dean) == 1
    r = dean.iloc[0]
    assert (r.window, r.measure, r.value, r.ci_lb, r.ci_ub, int(r.k), int(r.participants)) == \
        ("24h", "OR", 3.94, 1.54, 10.10, 7, 185)
    assert r.review_pmid == "34510411"
    # SMD stored with the project's sign: negative favours the drug
    smd = pub[(pub.review == "Dean2021") & (pub.measure == "SMD")]
    assert (smd.value < 0).all() and (smd.ci_ub < 0).all()


def test_shipped_study_sets_use_known_study_ids():
    studies = pd.read_csv(ROOT / "data/raw/extraction/studies.csv", dtype=str).study_id
    sets = load_study_sets(ROOT / "data/raw/benchmarks/study_sets.yaml", studies)
    assert all(isinstance(v, list) for v in sets.values())


# ----------------------------------------------------------------------------- input checks
def write(tmp_path, rows, columns=PUBLISHED_COLUMNS) -> Path:
    path = tmp_path / "published_pooled.csv"
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


GOOD = published(value="2.5", ci_lb="1.2", ci_ub="5.1", level="95")


def test_good_row_loads_as_numbers(tmp_path):
    pub = load_published(write(tmp_path, [GOOD | {"k": "4", "participants": "120"}]))
    assert pub.value.iloc[0] == 2.5 and pub.ci_ub.iloc[0] == 5.1 and int(pub.k.iloc[0]) == 4
    assert math.isnan(load_published(write(tmp_path, [GOOD | {"ci_lb": "", "ci_ub": ""}])).ci_lb.iloc[0])


@pytest.mark.parametrize("change, message", [
    ({"value": "2,5"}, "row 3, column value: '2,5' is not a number"),
    ({"measure": "HEDGES"}, "row 3, column measure"),
    ({"window": "day7"}, "row 3, column window: 'day7'"),
    ({"source_url": ""}, "row 3, column source_url: blank"),
    ({"value": "6.0"}, "row 3, column value: 6.0 is outside its CI"),
    ({"ci_lb": "-1", "value": "0.5"}, "row 3, column ci_lb: '-1' is not positive"),
    ({"ci_ub": ""}, "row 3, column ci_ub: blank while the other CI bound is given"),
    ({"k": "2.5"}, "row 3, column k"),
    ({"level": "0.95"}, None),
    ({"level": "195"}, "row 3, column level"),
    ({"window": "", "timepoint": ""}, "row 3, column timepoint"),
])
def test_bad_cells_name_file_row_and_column(tmp_path, change, message):
    path = write(tmp_path, [GOOD, GOOD | change])
    if message is None:
        load_published(path)  # 0.95 is a valid (if odd) percentage; no error
        return
    with pytest.raises(BenchmarkInputError) as err:
        load_published(path)
    text = str(err.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_missing_and_unknown_columns(tmp_path):
    cols = [c for c in PUBLISHED_COLUMNS if c != "measure"]
    with pytest.raises(BenchmarkInputError, match="missing column\\(s\\) measure"):
        load_published(write(tmp_path, [{c: GOOD[c] for c in cols}], cols))
    with pytest.raises(BenchmarkInputError, match="unknown column\\(s\\) extra"):
        load_published(write(tmp_path, [GOOD | {"extra": "x"}], PUBLISHED_COLUMNS + ["extra"]))
    with pytest.raises(BenchmarkInputError, match="file not found"):
        load_published(tmp_path / "nope.csv")


# ----------------------------------------------------------------------------- compare
def test_ratio_difference_is_ratio_of_ratios_and_overlap():
    pooled = pd.DataFrame([KET_RR])
    out = compare(pooled, pub_table(published(value=4.0, ci_lb=2.0, ci_ub=8.0),
                                    published(value=10.0, ci_lb=8.0, ci_ub=12.5)))
    assert out.matched.tolist() == [True, True]
    assert out.difference.tolist() == pytest.approx([0.5, 0.2])
    assert out.overlap.tolist() == ["yes", "no"]
    assert out.difference_scale.iloc[0] == "ours / theirs"
    assert out.analysis_id.iloc[0] == "onset_response" and int(out.our_k.iloc[0]) == 3
    why = out.why_may_differ.iloc[0]
    assert "ours 3 studies" in why and "2020 review" in why and "theirs random-effects; ours REML, knha" in why
    assert difference(2.0, 4.0, "OR") == pytest.approx(math.exp(math.log(2) - math.log(4)))


def test_smd_difference_and_any_drug_uses_overall_row():
    pooled = pd.DataFrame([ALL_SMD])
    pub = published(drug="any", outcome="depression", measure="SMD", value=-0.87, ci_lb=-1.26, ci_ub=-0.48, k=8,
                    comparison="ketamine_vs_midazolam")
    out = compare(pooled, pub_table(pub), level=90)
    r = out.iloc[0]
    assert r.matched and r.difference == pytest.approx(0.37) and r.overlap == "yes"
    assert "ours 5 studies, theirs 8" in r.why_may_differ
    assert "control: theirs midazolam" in r.why_may_differ
    assert "interval level: theirs 95%, ours 90%" in r.why_may_differ
    # ketamine-only published row: no drug subgroup row in the table -> not matched, with the reason
    out2 = compare(pooled, pub_table(pub | {"drug": "ketamine"}))
    assert not out2.matched.iloc[0] and out2.reason.iloc[0].startswith("no ketamine subgroup row")


def test_odds_ratio_is_never_matched_to_risk_ratio():
    out = compare(pd.DataFrame([KET_RR]), pub_table(published(measure="OR", value=3.94, ci_lb=1.54, ci_ub=10.1)))
    r = out.iloc[0]
    assert not r.matched and math.isnan(r.difference) and math.isnan(r.ours)
    assert r.reason == "measure differs: theirs OR, ours RR; not converted (compared only on the same measure)"


def test_no_match_reasons():
    not_pooled = pooled_row(analysis_id="onset_depression", outcome="depression", measure="SMD", window="d7",
                            variant="subgroup", subgroup_var="drug", subgroup_level="ketamine", k=1, n_studies=1,
                            pooled=False, reason="1 study (< 2): listed, not pooled", estimate="")
    pooled = pd.DataFrame([KET_RR, not_pooled])
    pubs = pub_table(
        published(window="", timepoint="2-3 weeks", value=1.5, ci_lb=1.1, ci_ub=2.0),
        published(outcome="remission", value=1.5, ci_lb=1.1, ci_ub=2.0),
        published(outcome="depression", measure="SMD", window="d7", value=-0.5, ci_lb=-0.9, ci_ub=-0.1),
        published(drug="esketamine", value=1.5, ci_lb=1.1, ci_ub=2.0),
    )
    out = compare(pooled, pubs)
    assert not out.matched.any()
    assert out.reason.tolist() == [
        "their time point (2-3 weeks) falls in none of our windows",
        "we have no analysis of remission in window 24h",
        "ours not pooled: 1 study (< 2): listed, not pooled",
        "no esketamine subgroup row for response (RR) in window 24h",
    ]
    per = rows_per_review(out)
    assert per.to_dict("records") == [{"review": "Test2020", "published": 4, "matched": 0}]


def test_single_drug_overall_row_and_preference_for_pooled_onset():
    overall = pooled_row(analysis_id="onset_response", outcome="response", measure="RR", window="d3", k=2,
                         n_studies=2, estimate=1.6, ci_lb=0.9, ci_ub=2.8)
    dur = pooled_row(analysis_id="duration_response", question="duration", outcome="response", measure="RR",
                     window="d3", k=2, n_studies=2, estimate=1.2, ci_lb=0.5, ci_ub=3.0)
    studies = pd.DataFrame({"analysis_id": ["onset_response"] * 2 + ["duration_response"] * 2, "window": "d3",
                            "study_id": ["A2010", "B2012"] * 2, "drug": "ketamine"})
    pub = pub_table(published(window="d3", value=1.5, ci_lb=1.1, ci_ub=2.0))
    out = compare(pd.DataFrame([dur, overall]), pub, pooled_studies=studies)
    r = out.iloc[0]
    assert r.matched and r.analysis_id == "onset_response" and r.our_variant == "primary (all ketamine)"
    assert r.difference == pytest.approx(1.6 / 1.5)
    # without the study table the overall row cannot be attributed to one drug
    assert not compare(pd.DataFrame([overall]), pub).matched.iloc[0]
    # an unpooled onset row gives way to a pooled duration row
    unpooled = overall | {"pooled": False, "estimate": "", "reason": "x"}
    r2 = compare(pd.DataFrame([unpooled, dur]), pub, pooled_studies=studies).iloc[0]
    assert r2.matched and r2.analysis_id == "duration_response"


# ----------------------------------------------------------------------------- figure and report
def test_figure_is_deterministic_and_labels_follow_level(tmp_path):
    pubs = pub_table(published(value=4.0, ci_lb=2.0, ci_ub=8.0),
                     published(outcome="depression", measure="SMD", drug="any", value=-0.87, ci_lb=-1.26,
                               ci_ub=-0.48),
                     published(window="", timepoint="endpoint", value=1.4, ci_lb=1.2, ci_ub=1.6))
    out = compare(pd.DataFrame([KET_RR, ALL_SMD]), pubs, level=90)
    files = render(out, tmp_path / "a", level=90)
    again = render(out, tmp_path / "b", level=90)
    assert [f.name for f in files] == ["benchmarks.svg", "benchmarks.png"]
    digest = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    assert digest == [hashlib.sha256(f.read_bytes()).hexdigest() for f in again]
    svg = files[0].read_text()
    assert "ours (90% CI)" in svg and "Test2020: response, 24h" in svg and "endpoint" not in svg
    assert files[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_empty_figure_and_report_section(tmp_path):
    out = compare(pd.DataFrame([KET_RR]), pub_table(published(window="", timepoint="end", value=1.4, ci_lb=1.2,
                                                               ci_ub=1.6)))
    svg = render(out, tmp_path)[0].read_text()
    assert "no published estimate at one of our time windows" in svg
    both = compare(pd.DataFrame([KET_RR]), pub_table(published(value=4.0, ci_lb=2.0, ci_ub=8.0),
                                                     published(measure="OR", value=3.0, ci_lb=1.0, ci_ub=9.0)))
    html = report_section(both, 90)
    assert "<table>" in html and "Ours (90% CI)" in html and "0.50 (ours / theirs)" in html
    assert "measure differs: theirs OR, ours RR" in html and "Test2020 2 (1 compared)" in html
    assert "NA" not in html.replace("NAME", "")  # a missing k prints as an empty cell


def test_written_table_matches_registry_and_reads_back(tmp_path):
    from evsynth.analyses.benchmarks import COMPARISON_COLUMNS, write_comparison
    from evsynth.processed import read_table

    assert layout("benchmarks").column_names == COMPARISON_COLUMNS
    out = compare(pd.DataFrame([KET_RR]), pub_table(published(value=4.0, ci_lb=2.0, ci_ub=8.0),
                                                    published(measure="OR", value=3.0, ci_lb=1.0, ci_ub=9.0)))
    write_comparison(out, tmp_path / "benchmarks.csv")
    back = read_table("benchmarks", tmp_path / "benchmarks.csv")
    assert back.matched.tolist() == [True, False]
    assert back.difference.iloc[0] == pytest.approx(0.5) and math.isnan(back.difference.iloc[1])
    assert back.reason.iloc[1].startswith("measure differs")
