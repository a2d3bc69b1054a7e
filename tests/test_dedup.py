"""evsynth.dedup: the grouped (near-linear) de-duplication gives the pairwise definition's answer."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.dedup import DEDUP_COLUMNS, find_duplicates, normalise_doi, normalise_title
from evsynth.snapshot import BIBLIOGRAPHY_COLUMNS, build_snapshot

TITLES = ["Ketamine for treatment resistant depression a randomized trial",
          "KETAMINE for treatment-resistant depression: a randomized trial.",
          "Esketamine nasal spray in major depressive disorder",
          "Short title"]


def pairwise_reference(df: pd.DataFrame, min_title_length: int = 20) -> pd.DataFrame:
    """The definition, pair by pair (quadratic): the algorithm evsynth used before grouping by key."""
    n = len(df)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    keys = {"pmid": [p if isinstance(p, str) and p else None for p in df["pmid"]],
            "doi": [normalise_doi(d) if isinstance(d, str) else None for d in df["doi"]],
            "title": [normalise_title(t) if isinstance(t, str) else None for t in df["title"]]}
    years = [None if pd.isna(y) else int(y) for y in df["year"]]
    edges = {}
    for kind in ("pmid", "doi", "title"):
        for a in range(n):
            for b in range(a + 1, n):
                ka, kb = keys[kind][a], keys[kind][b]
                if not ka or ka != kb or (kind == "title" and len(ka) < min_title_length):
                    continue
                if kind == "title" and None not in (years[a], years[b]) and years[a] != years[b]:
                    continue
                edges.setdefault((a, b), kind)
                parent[find(a)] = find(b)
    groups = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)

    def completeness(i):
        row = df.iloc[i]
        return sum(1 for c in ("pmid", "doi", "abstract", "mesh", "authors", "year", "journal")
                   if pd.notna(row[c]) and row[c] != "")

    out = []
    for members in groups.values():
        kept = min(members, key=lambda i: (df.source_db.iat[i] != "pubmed", -completeness(i),
                                              df.record_id.iat[i]))
        how, frontier = {kept: ("", "")}, [kept]
        while frontier:
            nxt = []
            for i in frontier:
                for j in members:
                    if j not in how and (kind := edges.get((min(i, j), max(i, j)))):
                        how[j] = (kind, df.record_id.iat[i])
                        nxt.append(j)
            frontier = nxt
        for i in members:
            kind, matched = how[i]
            if i == kept:
                reason = "only record" if len(members) == 1 else (
                    "kept: PubMed record" if df.source_db.iat[i] == "pubmed" else "kept: most complete record")
            else:
                reason = f"duplicate: same {kind} as {matched}"
            out.append((df.record_id.iat[i], df.source_db.iat[i], df.record_id.iat[kept], i == kept, kind, matched,
                        reason))
    return pd.DataFrame(out, columns=DEDUP_COLUMNS).sort_values("record_id", kind="stable").reset_index(drop=True)


def table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["record_id", "source_db", "pmid", "doi", "title", "year", "abstract", "mesh",
                                     "authors", "journal"])
    df["year"] = pd.array(df["year"].tolist(), dtype="Int64")
    return df


record = st.fixed_dictionaries({
    "source_db": st.sampled_from(["pubmed", "embase", "psycinfo"]),
    "pmid": st.sampled_from([None, "101", "102", "103"]),
    "doi": st.sampled_from([None, "10.1/a", "https://doi.org/10.1/A", "10.1/b", "doi:10.1/c"]),
    "title": st.sampled_from([None, *TITLES]),
    "year": st.sampled_from([None, 2018, 2019]),
    "abstract": st.sampled_from([None, "", "text"]),
    "mesh": st.sampled_from([None, "Ketamine"]),
    "authors": st.sampled_from([None, "Doe J"]),
    "journal": st.sampled_from([None, "J"]),
})


@settings(max_examples=300, deadline=None)
@given(st.lists(record, min_size=0, max_size=14))
def test_grouped_equals_pairwise_definition(rows):
    df = table([r | {"record_id": f"{r['source_db']}:{i:02d}"} for i, r in enumerate(rows)])
    pd.testing.assert_frame_equal(find_duplicates(df), pairwise_reference(df))


def test_title_groups_respect_years_and_unknown_years_bridge_them():
    title = TITLES[0]
    df = table([
        {"record_id": "embase:1", "source_db": "embase", "title": title, "year": 2018},
        {"record_id": "embase:2", "source_db": "embase", "title": title, "year": 2019},
        {"record_id": "psycinfo:3", "source_db": "psycinfo", "title": title, "year": 2019},
    ])
    out = find_duplicates(df).set_index("record_id")
    assert out.group.to_dict() == {"embase:1": "embase:1", "embase:2": "embase:2", "psycinfo:3": "embase:2"}
    bridged = table([*df.to_dict("records"), {"record_id": "ris:4", "source_db": "ris", "title": TITLES[1]}])
    out = find_duplicates(bridged).set_index("record_id")
    assert set(out.group) == {"embase:1"}  # the year-less copy links both years
    assert out.loc["embase:2", "reason"] == "duplicate: same title as ris:4"


def test_strongest_shared_key_is_reported_and_integer_pmids_match():
    df = table([
        {"record_id": "pubmed:101", "source_db": "pubmed", "pmid": "101", "doi": "10.1/a", "title": TITLES[0]},
        {"record_id": "embase:9", "source_db": "embase", "pmid": None, "doi": "10.1/A", "title": TITLES[1]},
        {"record_id": "cochrane:7", "source_db": "cochrane", "pmid": "101", "doi": "10.1/a", "title": TITLES[0]},
    ])
    out = find_duplicates(df).set_index("record_id")
    assert out.loc["embase:9", "reason"] == "duplicate: same doi as pubmed:101"
    assert out.loc["cochrane:7", "reason"] == "duplicate: same pmid as pubmed:101"
    ints = df.assign(pmid=pd.array([101, None, 101], dtype="Int64"))  # records.csv read with dtype Int64
    assert find_duplicates(ints).set_index("record_id").loc["cochrane:7", "match"] == "pmid"


def test_many_records_sharing_one_doi_is_fast_and_linear():
    n = 3000
    df = table([{"record_id": f"ris:{i:05d}", "source_db": "ris", "doi": "10.1/same", "title": f"T{i}"}
                for i in range(n)])
    out = find_duplicates(df)
    assert int(out.kept.sum()) == 1 and (out.group == "ris:00000").all()
    assert (out.matched_to[~out.kept] == "ris:00000").all()  # all reached in one step from the kept record


def run_parse_script(tmp_path, pubmed_dir, extra=()):
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "processed"
    smk = SimpleNamespace(
        rule="parse_records", log=[str(tmp_path / "logs" / "parse_records.log")],
        input=SimpleNamespace(extra=list(extra)),
        params=SimpleNamespace(pubmed_dir=str(pubmed_dir), mode="snapshot"),
        output=SimpleNamespace(records=str(out / "records.csv"), search=str(out / "search.json")))
    runpy.run_path(str(root / "workflow" / "scripts" / "parse_records.py"), init_globals={"snakemake": smk})
    return out


def test_parse_step_keeps_every_record_and_reports_a_bad_input_in_one_line(tmp_path, capsys):
    """De-duplication belongs to screening: the parse step writes every record it read."""
    pubmed = tmp_path / "pubmed"
    pubmed.mkdir()
    bib = tmp_path / "bib.csv"
    rows = [dict.fromkeys(BIBLIOGRAPHY_COLUMNS, "") | {"pmid": "101", "title": TITLES[0], "year": "2019",
                                                         "doi": "10.1/a"}]
    pd.DataFrame(rows, columns=BIBLIOGRAPHY_COLUMNS).to_csv(bib, index=False)
    build_snapshot(bib, "q", "2026-01-01", pubmed)
    ris = tmp_path / "embase.ris"
    ris.write_text("TY  - JOUR\nTI  - " + TITLES[1] + "\nDO  - https://doi.org/10.1/A\nPY  - 2019\nAN  - L1\nER  - \n")
    out = run_parse_script(tmp_path, pubmed, [ris])
    parsed = pd.read_csv(out / "records.csv")
    assert parsed.record_id.tolist() == ["embase:L1", "pubmed:101"]
    dup = find_duplicates(parsed)
    assert dup.loc[~dup.kept, ["record_id", "match", "matched_to"]].values.tolist() == [
        ["embase:L1", "doi", "pubmed:101"]]
    assert json.loads((out / "search.json").read_text())["count"] == 1

    (pubmed / "broken.xml").write_text("<PubmedArticleSet><PubmedArticle><MedlineCitation>")
    with pytest.raises(SystemExit) as stop:
        run_parse_script(tmp_path / "again", pubmed, [ris])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 1 and len(err) == 1
    assert err[0].startswith("parse_records: ") and "broken.xml" in err[0] and "Traceback" not in err[0]
    assert "FAILED parse_records: " in (tmp_path / "again" / "logs" / "parse_records.log").read_text()
    assert not (tmp_path / "again" / "processed").exists()
