"""`evsynth update`: search history, the screening queue, safe failures, no-op repeats; snapshot refresh;
the live-mode fetch step (reuse, one-line failures, its log file)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from fake_eutils import FakeEutils, dated_records, fake_client

from evsynth.cli import main as evsynth_main
from evsynth.pubmed import parse_medline
from evsynth.pubmed.retrieve import fetch_configured
from evsynth.snapshot import read_bibliography, refresh_snapshot
from evsynth.update import QUEUE_COLUMNS, update

ROOT = Path(__file__).resolve().parents[1]
RULES = {"decisions": "unused", "languages": ["eng"], "years": [1990, 2030], "intervention_terms": ["ketamine"],
         "population_terms": ["depress"], "include_publication_types": ["Randomized Controlled Trial"],
         "exclude_publication_types": ["Review"]}
DAY1, DAY2, DAY3 = "2026-03-01T10:00:00Z", "2026-04-01T10:00:00Z", "2026-05-01T10:00:00Z"


@pytest.fixture()
def project(tmp_path):
    """Paths of a small project: live folder, history, queue, decisions (PMID 1001 decided)."""
    p = SimpleNamespace(root=tmp_path, live=tmp_path / "live", history=tmp_path / "searches",
                        queue=tmp_path / "processed" / "screening_queue.csv", decisions=tmp_path / "decisions.csv")
    p.decisions.write_text("pmid,decision,reason,study_id,notes\n1001,include,primary_report,Doe2000,\n")
    p.pubmed = {"query": "ketamine AND depression", "date_ranges": [], "datetype": "pdat", "batch_size": 3,
                "live_dir": str(p.live), "history_dir": str(p.history)}
    p.fake = FakeEutils(dated_records(7))
    p.fake.add("1008", "2003/02/02", publication_types="Review")  # the rules suggest excluding it
    return p


def run_update(p, date, **kw):
    return update(p.pubmed, RULES, queue_path=p.queue, decisions_path=p.decisions,
                  client=fake_client(p.fake, p.root / "thr"), retrieval_date=date, **kw)


def tree(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()
            and "thr" not in f.parts and "logs" not in f.parts}


def test_first_update_writes_history_queue_and_marker(project):
    p = project
    result = run_update(p, DAY1)
    assert result.changed
    entry = json.loads((p.history / "history" / "2026-03-01.json").read_text())
    assert entry["search_date"] == DAY1 and entry["query"] == "ketamine AND depression" and entry["count"] == 8
    assert entry["pmids"] == [str(i) for i in range(1001, 1009)] and entry["added"] == entry["pmids"]
    assert entry["dropped"] == [] and entry["previous"] is None and entry["parts"] == [
        {"range": 0, "mindate": None, "maxdate": None, "count": 8}]
    index = pd.read_csv(p.history / "index.csv", dtype=str, keep_default_na=False)
    assert index.to_dict("records") == [{
        "search_date": DAY1, "file": "history/2026-03-01.json", "count": "8", "added": "8", "dropped": "0",
        "date_ranges": "", "query": "ketamine AND depression"}]
    queue = pd.read_csv(p.queue, dtype=str, keep_default_na=False)
    assert list(queue.columns) == QUEUE_COLUMNS
    assert queue.pmid.tolist() == [str(i) for i in range(1002, 1009)]  # 1001 has a decision
    assert set(queue.first_seen) == {"2026-03-01"} and set(queue.new_since_last_search) == {"True"}
    rows = queue.set_index("pmid")
    assert (rows.loc["1008", "rules_suggest"], rows.loc["1008", "rule_reason"]) == ("exclude", "wrong_publication_type")
    assert (rows.loc["1002", "rules_suggest"], rows.loc["1002", "rule_reason"]) == ("assess", "")
    assert rows.loc["1002", "pub_types"] == "Randomized Controlled Trial" and rows.loc["1002", "year"] == "2000"
    assert (p.live / "fetch.done").read_text() == f"8 records retrieved {DAY1}\n"


def test_repeat_with_nothing_new_changes_no_byte(project):
    p = project
    run_update(p, DAY1)
    before = tree(p.root)
    result = run_update(p, DAY2)
    assert not result.changed and result.written == []
    assert tree(p.root) == before
    assert "nothing new since the search of 2026-03-01T10:00:00Z" in result.summary()


def test_new_and_dropped_records_keep_decisions_and_history(project):
    p = project
    run_update(p, DAY1)
    decisions = p.decisions.read_bytes()
    p.fake.add("1009", "2010/01/01")
    del p.fake.records["1003"]  # drops out of the search, undecided
    del p.fake.records["1001"]  # drops out, decided: the decision stays
    result = run_update(p, DAY2)
    assert result.changed
    entry = json.loads((p.history / "history" / "2026-04-01.json").read_text())
    assert entry["added"] == ["1009"] and entry["dropped"] == ["1001", "1003"]
    assert entry["previous"] == "2026-03-01.json" and entry["count"] == 7
    assert len(pd.read_csv(p.history / "index.csv")) == 2
    assert p.decisions.read_bytes() == decisions
    queue = pd.read_csv(p.queue, dtype=str, keep_default_na=False).set_index("pmid")
    assert queue.loc["1009", ["first_seen", "new_since_last_search", "in_latest_search"]].tolist() == [
        "2026-04-01", "True", "True"]
    assert queue.loc["1002", ["first_seen", "new_since_last_search"]].tolist() == ["2026-03-01", "False"]
    dropped = queue.loc["1003"]  # reported, not silently removed; details kept from the last queue
    assert (dropped.in_latest_search, dropped.last_seen, dropped.year) == ("False", "2026-03-01", "2000")
    assert dropped.title.startswith("Invented randomized trial") and dropped.rules_suggest == "assess"
    assert queue.index.tolist()[0] == "1009" and queue.index.tolist()[-1] == "1003"  # new first, dropped last
    assert "1001" not in queue.index
    # a decision recorded later takes the record out of the queue, although the search did not change
    p.decisions.write_text(p.decisions.read_text() + "1009,exclude,wrong_population,,\n")
    result = run_update(p, DAY3)
    assert not result.changed and result.written == [p.queue]
    assert "1009" not in pd.read_csv(p.queue, dtype=str).pmid.tolist()


@pytest.mark.parametrize("fault", ["down", "error_body"])
def test_failed_update_changes_nothing_and_says_why_in_one_line(project, monkeypatch, capsys, fault):
    p = project
    run_update(p, DAY1)
    setattr(p.fake, fault, True)
    p.fake.add("1009", "2010/01/01")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["pubmed"].update(p.pubmed)
    config["screening"] |= {"decisions": str(p.decisions)}
    (p.root / "config.yaml").write_text(yaml.safe_dump(config))
    before = tree(p.root)
    monkeypatch.setattr("evsynth.update.EutilsClient", lambda *a, **k: fake_client(p.fake, p.root / "thr"))
    log = p.root / "logs" / "update.log"
    code = evsynth_main(["update", "--config", str(p.root / "config.yaml"), "--queue", str(p.queue), "--log", str(log)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("evsynth update: error: ")
    assert ("connection failed" if fault == "down" else "NCBI returned <ERROR>") in err[0]
    assert err[0].endswith(f"(log: {log})") and "Traceback" not in err[0]
    assert "attempt 1/2 failed" in log.read_text()  # the retries are in the log, not on the terminal
    assert tree(p.root) == before


def test_bad_decisions_file_is_named_before_anything_is_written(project):
    p = project
    p.decisions.write_text("pmid,decision\n1001,include\nabc,exclude\n")
    with pytest.raises(Exception, match=r"decisions.csv, row 3, column 'pmid': 'abc' is not a PMID"):
        run_update(p, DAY1)
    assert not p.live.exists() and not p.history.exists() and not p.queue.exists()


def test_snapshot_refresh_from_the_live_search(project, capsys):
    p = project
    run_update(p, DAY1)
    snap = p.root / "snapshot"
    snap.mkdir()
    (snap / "bibliography.csv").write_text(
        "pmid,study_id,role,title\n1001,Doe2000,primary,Old title\n555,Gone2001,excluded,Not in the search\n")
    search = refresh_snapshot(p.live, snap)
    assert (search["query"], search["count"], search["retrieval_date"], search["source"]) == (
        "ketamine AND depression", 8, DAY1, "live")
    assert search["parts"] == [{"range": 0, "mindate": None, "maxdate": None, "count": 8}]
    assert json.loads((snap / "search.json").read_text()) == search
    assert (snap / "query.txt").read_text() == "ketamine AND depression\n"
    parsed = list(parse_medline(snap / "snapshot.xml"))
    assert [r["pmid"] for r in parsed] == search["pmids"] and all(r["abstract"] is None for r in parsed)
    bib = {r["pmid"]: r for r in read_bibliography(snap / "bibliography.csv")}
    assert (bib["1001"]["study_id"], bib["1001"]["role"]) == ("Doe2000", "primary")  # curation kept
    assert bib["1001"]["title"].startswith("Invented randomized trial") and "555" not in bib
    assert bib["1002"]["source_url"] == "http://fake.invalid/eutils/efetch.fcgi?db=pubmed&id=1002&retmode=xml"
    assert not (snap / ".refresh").exists()


def test_snapshot_refresh_without_a_live_search_is_one_line(tmp_path, capsys):
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "search.json").write_text("{}")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["pubmed"] |= {"live_dir": str(tmp_path / "nowhere"), "snapshot_dir": str(snap)}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    code = evsynth_main(["snapshot-refresh", "--config", str(tmp_path / "config.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "no complete live search" in err[0] and "make update" in err[0]
    assert (snap / "search.json").read_text() == "{}"


def test_fetch_step_reuses_a_matching_search_and_searches_when_settings_change(project):
    p = project
    client = fake_client(p.fake, p.root / "thr")
    first, reused = fetch_configured(p.pubmed, client=client, retrieval_date=DAY1)
    assert not reused and first["count"] == 8
    p.fake.log.clear()
    again, reused = fetch_configured(p.pubmed, client=client, retrieval_date=DAY2)
    assert reused and again == first and p.fake.log == []  # no request
    _, reused = fetch_configured(p.pubmed | {"query": "esketamine"}, client=client, retrieval_date=DAY2)
    assert not reused
    _, reused = fetch_configured(p.pubmed, client=client, retrieval_date=DAY2, force=True)
    assert not reused and p.fake.requests_to("esearch")


def run_fetch_script(tmp_path, pubmed, out_dir):
    smk = SimpleNamespace(rule="fetch_pubmed", log=[str(tmp_path / "logs" / "fetch_pubmed.log")],
                          params=SimpleNamespace(pubmed=pubmed), output=SimpleNamespace(done=str(out_dir / "fetch.done")))
    runpy.run_path(str(ROOT / "workflow" / "scripts" / "fetch_pubmed.py"), init_globals={"snakemake": smk})


def test_fetch_script_logs_and_fails_in_one_line(project, monkeypatch, capsys):
    p = project
    p.fake.down = True
    monkeypatch.setattr("evsynth.pubmed.retrieve.EutilsClient", lambda *a, **k: fake_client(p.fake, p.root / "thr"))
    with pytest.raises(SystemExit) as stop:
        run_fetch_script(p.root, p.pubmed, p.live)
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fetch_pubmed: ") and "connection failed" in err[0]
    log = (p.root / "logs" / "fetch_pubmed.log").read_text()
    assert "attempt 1/2 failed" in log and "FAILED fetch_pubmed: " in log
    assert not (p.live / "fetch.done").exists()
    p.fake.down = False
    run_fetch_script(p.root, p.pubmed, p.live)
    assert (p.live / "fetch.done").read_text().startswith("8 records retrieved ")
    (p.live / "fetch.done").unlink()  # as Snakemake does before rerunning the rule
    p.fake.down = True  # a complete matching search is reused: no request, no failure
    run_fetch_script(p.root, p.pubmed, p.live)
    assert "reusing the complete search" in (p.root / "logs" / "fetch_pubmed.log").read_text()
