"""Searches of any size: splitting by date past the ESearch cap, several date ranges, safe re-searches."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest
from fake_eutils import FakeEutils, dated_records, fake_client

from evsynth.pubmed import EutilsPermanentError, fetch
from evsynth.pubmed.client import SearchTooLargeError
from evsynth.parsers.medline_xml import pmids_in_file
from evsynth.pubmed.search import normalise_date_ranges, search_pubmed

DATE = "2026-01-01T00:00:00Z"


def day(text: str) -> dt.date:
    return dt.date(*map(int, text.split("/")))


def test_search_over_the_limit_is_split_by_date_and_recorded_as_one(tmp_path):
    fake = FakeEutils(dated_records(23))
    client = fake_client(fake, tmp_path / "thr")
    summary = fetch("ketamine", tmp_path / "out", client=client, batch_size=10, esearch_limit=5,
                    retrieval_date=DATE)
    assert summary["count"] == 23 and summary["pmids"] == sorted(fake.records, key=int)
    assert summary["split"] is True and summary["esearch_limit"] == 5
    assert summary["date_ranges"] == [] and summary["datetype"] == "pdat"  # no limits configured; split on pdat
    parts = summary["parts"]
    assert all(p["count"] <= 5 for p in parts) and sum(p["count"] for p in parts) == 23
    # contiguous, in date order, covering the unbounded range
    assert parts[0]["mindate"] == "1000/01/01" and parts[-1]["maxdate"] == "2999/12/31"
    for a, b in itertools.pairwise(parts):
        assert day(b["mindate"]) - day(a["maxdate"]) == dt.timedelta(days=1)
    # every part's ESearch was sent with its dates; the first request is the whole (unsplit) search
    searches = fake.requests_to("esearch")
    assert "mindate" not in searches[0]
    assert {(p["mindate"], p["maxdate"]) for p in parts} <= {(s.get("mindate"), s.get("maxdate")) for s in searches}
    out = tmp_path / "out"
    assert json.loads((out / "search.json").read_text()) == summary
    got = sorted((p for name in summary["batches"] for p in pmids_in_file(out / name)), key=int)
    assert got == summary["pmids"]


def test_small_search_is_one_part_and_configured_ranges_are_kept(tmp_path):
    fake = FakeEutils(dated_records(12))  # 2000..2003, three a year
    client = fake_client(fake, tmp_path / "thr")
    ranges = [{"mindate": "2000", "maxdate": "2001/06"}, {"mindate": "2001/01/01", "maxdate": "2002/12/31"}]
    result = search_pubmed(client, "q", ranges, limit=100)
    assert [(r["mindate"], r["maxdate"], r["count"]) for r in result.date_ranges] == [
        ("2000", "2001/06", 5), ("2001/01/01", "2002/12/31", 6)]
    assert result.count == 9 and not result.split  # overlapping ranges: 2001's three records counted once
    summary = fetch("q", tmp_path / "o", client=client, date_ranges=ranges, esearch_limit=2, retrieval_date=DATE)
    assert summary["count"] == 9 and summary["split"] is True
    assert [r["count"] for r in summary["date_ranges"]] == [5, 6]
    assert {p["range"] for p in summary["parts"]} == {0, 1}
    assert summary["mindate"] is None and summary["maxdate"] is None  # several ranges: see date_ranges


def test_one_day_over_the_limit_is_a_clear_error(tmp_path):
    records = {str(2000 + i): ("2010/05/05", {"pmid": str(2000 + i), "title": "t"}) for i in range(6)}
    client = fake_client(FakeEutils(records), tmp_path / "thr")
    with pytest.raises(SearchTooLargeError, match=r"6 records with pdat 2010/05/05 alone.*narrow the query"):
        search_pubmed(client, "q", [{"mindate": "2010", "maxdate": "2010"}], limit=5)
    assert not (tmp_path / "o").exists()


def test_parts_that_do_not_add_up_are_an_error(tmp_path):
    fake = FakeEutils(dated_records(6))
    fake.add("999", "0900/01/01")  # outside the dates a split can search
    client = fake_client(fake, tmp_path / "thr")
    with pytest.raises(EutilsPermanentError, match="counts 7 records but its .* hold 6 distinct PMIDs"):
        search_pubmed(client, "q", None, limit=4)


@pytest.mark.parametrize("ranges, message", [
    ([{"mindate": "2010"}], r"date_ranges\[0\]: mindate and maxdate must be given together"),
    ([{"mindate": "2010", "maxdate": "2009"}], r"date_ranges\[0\]: mindate 2010 is after maxdate 2009"),
    ([{"mindate": "2010-01-01", "maxdate": "2011"}], r"date_ranges\[0\].mindate: '2010-01-01' is not YYYY"),
    ([{"mindate": "2010/02/30", "maxdate": "2011"}], "is not a calendar date"),
    ([{"mindate": "2010", "maxdate": "2011", "min": 1}], "unknown key 'min'"),
])
def test_bad_date_ranges_are_named(ranges, message):
    with pytest.raises(ValueError, match=message):
        normalise_date_ranges(ranges)


def test_no_ranges_means_no_date_limits():
    assert normalise_date_ranges(None) == normalise_date_ranges([]) == [(None, None)]


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_failed_re_search_leaves_the_last_good_snapshot(tmp_path):
    fake = FakeEutils(dated_records(7))
    client = fake_client(fake, tmp_path / "thr")
    out = tmp_path / "out"
    fetch("q", out, client=client, batch_size=3, retrieval_date=DATE)
    good = files(out)
    fake.down = True
    with pytest.raises(EutilsPermanentError, match="connection failed"):
        fetch("q", out, client=client, batch_size=3, retrieval_date="2026-02-01T00:00:00Z")
    assert files(out) == good
    fake.down, fake.error_body = False, True
    with pytest.raises(EutilsPermanentError, match="NCBI returned <ERROR>"):
        fetch("q", out, client=client, batch_size=3, retrieval_date="2026-02-01T00:00:00Z")
    assert files(out) == good


def test_efetch_failure_during_re_search_keeps_the_old_snapshot_and_resumes(tmp_path):
    fake = FakeEutils(dated_records(7))
    client = fake_client(fake, tmp_path / "thr")
    out = tmp_path / "out"
    fetch("q", out, client=client, batch_size=3, retrieval_date=DATE)
    good = files(out)
    fake.add("2001", "2020/01/01")
    fake.add("2002", "2020/01/02")
    fake.add("2003", "2020/01/03")  # batch 2 becomes 1007, 2001, 2002; batch 3 (2003) is new
    fake.efetch_fail_after = fake._efetch_answers + 1  # batch 2 arrives, batch 3 fails
    with pytest.raises(EutilsPermanentError, match="HTTP 500"):
        fetch("q", out, client=client, batch_size=3, retrieval_date="2026-02-01T00:00:00Z")
    assert files(out) == good  # the complete snapshot is untouched; the new batches wait in .next/
    assert (out / ".next").is_dir()
    fake.efetch_fail_after = None
    fake.log.clear()
    summary = fetch("q", out, client=client, batch_size=3, retrieval_date="2026-02-01T00:00:00Z")
    assert [r["id"] for r in fake.requests_to("efetch")] == ["2003"]  # only the batch that failed
    assert summary["count"] == 10 and not (out / ".next").exists()
    assert json.loads((out / "search.json").read_text())["pmids"][-3:] == ["2001", "2002", "2003"]
    assert sorted(p.name for p in out.glob("batch_*.xml")) == [f"batch_0000{i}.xml" for i in range(4)]
    assert pmids_in_file(out / "batch_00002.xml") == ["1007", "2001", "2002"]
    assert (out / "batch_00000.xml").read_bytes() == good["batch_00000.xml"]
