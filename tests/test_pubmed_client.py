"""EutilsClient and fetch() against the local stub E-utilities server: every fault, bounded retries.

The stub serves the project's own fixtures (``tests/fixtures/entrez``); the tests marked
``shared_fixtures`` also replay the captured real responses in ``../shared/fixtures/entrez``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from eutils_stub import OWN_FIXTURES, SHARED_FIXTURES, EutilsStub, make_records

from evsynth.pubmed import EutilsClient, EutilsPermanentError, FileThrottle, MissingRecordsError, fetch
from evsynth.pubmed.client import EutilsResponseError, efetch_pmids, parse_esearch
from evsynth.parsers.medline_xml import parse_medline, pmids_in_file

# The own fixtures' PMIDs plus four cloned ones; batch_size=4 gives three batches.
PMIDS = ["90100001", "90100002", "90100003", "90100004", "90100005", "90100006", "90100007",
         "90200001", "90200002", "90200003", "90200004"]
BATCHES = [PMIDS[0:4], PMIDS[4:8], PMIDS[8:11]]
KEY = "SECRETKEY0123456789abcdef"


@pytest.fixture()
def stub():
    with EutilsStub(make_records(PMIDS)) as server:
        server.retry_after = "0"
        server.timeout_sleep = 0.6
        yield server


@pytest.fixture()
def fast_throttle(tmp_path):
    # Behaviour tests use a generous budget; the real 3/s budget is tested in test_pubmed_throttle.py.
    return FileThrottle(1000, directory=tmp_path / "throttle")


def make_client(stub, throttle, **kw):
    opts = {"timeout": 2.0, "max_retries": 3, "backoff_base": 0.001, "backoff_max": 0.01, "throttle": throttle, "seed": 1}
    opts.update(kw)
    return EutilsClient(stub.url, **opts)


def run_fetch(stub, throttle, out, **kw):
    client = make_client(stub, throttle, **kw)
    return fetch("ketamine AND depression", out, client=client, batch_size=4, retrieval_date="2026-01-01T00:00:00Z")


def assert_complete(out: Path, summary: dict) -> None:
    assert summary["pmids"] == PMIDS  # numerically sorted, every PMID the search returned
    assert summary["count"] == len(PMIDS)
    assert summary["batches"] == ["batch_00000.xml", "batch_00001.xml", "batch_00002.xml"]
    for name, batch in zip(summary["batches"], BATCHES):
        assert sorted(pmids_in_file(out / name), key=int) == batch
    assert json.loads((out / "search.json").read_text()) == summary
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_clean_run(stub, fast_throttle, tmp_path):
    summary = run_fetch(stub, fast_throttle, tmp_path / "out")
    assert_complete(tmp_path / "out", summary)
    assert [r["endpoint"] for r in stub.log] == ["esearch", "efetch", "efetch", "efetch"]
    assert all(r["params"]["db"] == "pubmed" and r["params"]["tool"] == "evsynth" for r in stub.log)
    assert stub.log[0]["params"]["usehistory"] == "y"
    assert stub.log[1]["params"]["retmode"] == "xml"
    assert summary["eutils_url"] == stub.url
    assert summary["query_translation"] == "stub[All Fields]"


@pytest.mark.parametrize(
    "fault", ["429", "500", "502", "503", "timeout", "drop", "error", "truncated", "html301", "html200",
              "missing", "pmid1"],
)
def test_each_efetch_fault_is_retried(stub, fast_throttle, tmp_path, fault):
    stub.faults["efetch"] = [fault]
    if fault == "timeout":  # the stub sleeps past the client's timeout once
        stub.timeout_sleep = 1.5
    summary = run_fetch(stub, fast_throttle, tmp_path / "out", timeout=1.0)
    assert_complete(tmp_path / "out", summary)
    efetches = stub.requests_to("efetch")
    assert len(efetches) == 4  # three batches + exactly one retry
    assert efetches[0]["fault"] == fault and efetches[1]["params"]["id"] == efetches[0]["params"]["id"]


@pytest.mark.parametrize("fault", ["429", "503", "drop", "error", "truncated", "html200"])
def test_each_esearch_fault_is_retried(stub, fast_throttle, tmp_path, fault):
    stub.faults["esearch"] = [fault]
    summary = run_fetch(stub, fast_throttle, tmp_path / "out")
    assert_complete(tmp_path / "out", summary)
    assert len(stub.requests_to("esearch")) == 2


def test_retry_after_is_honoured(stub, fast_throttle, tmp_path):
    stub.retry_after = "1"
    stub.faults["efetch"] = ["429"]
    run_fetch(stub, fast_throttle, tmp_path / "out")
    first, second = stub.requests_to("efetch")[:2]
    assert second["time"] - first["time"] >= 0.95


def test_backoff_grows_and_is_bounded():
    client = EutilsClient("http://127.0.0.1:1/", backoff_base=1.0, backoff_max=8.0, max_retry_after=30,
                          throttle=FileThrottle(1000, directory="/tmp/unused-evsynth"), seed=3)
    delays = [client._backoff(n, None) for n in range(6)]
    for n, d in enumerate(delays):
        cap = min(8.0, 2.0**n)
        assert cap / 2 <= d <= cap
    assert client._backoff(0, 20.0) == 20.0  # Retry-After wins over a shorter backoff
    assert client._backoff(0, 500.0) == 30.0  # ...capped by max_retry_after


def test_permanent_failure_after_bounded_retries(stub, fast_throttle, tmp_path):
    stub.faults["efetch"] = ["503"] * 10
    out = tmp_path / "out"
    with pytest.raises(EutilsPermanentError, match=r"gave up after 3 attempts; last failure: HTTP 503"):
        run_fetch(stub, fast_throttle, out, max_retries=2)
    assert len(stub.requests_to("efetch")) == 3
    assert not (out / "search.json").exists()
    assert not list(out.glob("batch_*.xml"))


def test_missing_pmid_fails_naming_it(stub, fast_throttle, tmp_path):
    stub.faults["efetch"] = ["missing"] * 3
    with pytest.raises(MissingRecordsError, match=r"lacks 1 requested PMID\(s\): 90100004") as info:
        run_fetch(stub, fast_throttle, tmp_path / "out", max_retries=2)
    assert info.value.missing == ["90100004"]  # the last of the first batch
    assert len(stub.requests_to("efetch")) == 3


def test_pmid_missing_from_database_fails(stub, fast_throttle, tmp_path):
    del stub.records["90100006"]  # the search returns it, EFetch never does
    with pytest.raises(MissingRecordsError) as info:
        run_fetch(stub, fast_throttle, tmp_path / "out", max_retries=1)
    assert info.value.missing == ["90100006"]
    assert "90100006" in str(info.value)


def test_id_minus_1_quirk(stub, fast_throttle):
    client = make_client(stub, fast_throttle)
    with pytest.raises(ValueError, match=r"pmids\[1\] = '-1' is not a PMID"):
        client.efetch(["90100001", "-1"])
    assert stub.log == []  # refused before any request
    # The real answer to id=-1 is PMID 1: an unrequested PMID is rejected, never taken as data.
    body = (OWN_FIXTURES / "efetch_answer_to_id_minus1_pmid1.xml").read_bytes()
    assert efetch_pmids(body) == ["1"]
    stub.faults["efetch"] = ["pmid1"] * 2
    with pytest.raises(EutilsPermanentError, match="PMIDs that were not requested: 1"):
        make_client(stub, fast_throttle, max_retries=1).efetch(["90100001"])


def test_long_id_lists_are_posted(stub, fast_throttle):
    client = make_client(stub, fast_throttle, post_threshold=3)
    _, got = client.efetch(PMIDS[:3])
    _, got_long = client.efetch(PMIDS[:5])
    assert [r["method"] for r in stub.requests_to("efetch")] == ["GET", "POST"]
    assert stub.requests_to("efetch")[1]["params"]["id"] == ",".join(PMIDS[:5])
    assert sorted(got_long, key=int) == PMIDS[:5] and sorted(got, key=int) == PMIDS[:3]


def test_history_server_efetch(stub, fast_throttle):
    client = make_client(stub, fast_throttle)
    result = client.esearch("ketamine")
    assert result.webenv.startswith("MCID_") and result.query_key == "1"
    _, got = client.efetch(webenv=result.webenv, query_key=result.query_key, retstart=2, retmax=3)
    assert got == result.pmids[2:5]
    params = stub.requests_to("efetch")[0]["params"]
    assert (params["WebEnv"], params["query_key"], params["retstart"], params["retmax"]) == (
        result.webenv, "1", "2", "3")


def test_esearch_pages_with_webenv(stub, fast_throttle):
    result = make_client(stub, fast_throttle).esearch("ketamine", page_size=4)
    assert sorted(result.pmids, key=int) == PMIDS
    pages = stub.requests_to("esearch")
    assert [p["params"]["retstart"] for p in pages] == ["0", "4", "8"]
    assert "WebEnv" not in pages[0]["params"] and pages[1]["params"]["WebEnv"] == result.webenv


def test_esearch_dates_are_sent(stub, fast_throttle, tmp_path):
    client = make_client(stub, fast_throttle)
    summary = fetch("q", tmp_path / "o", client=client, mindate="2000/01/01", maxdate="2025/12/31")
    params = stub.requests_to("esearch")[0]["params"]
    assert (params["mindate"], params["maxdate"], params["datetype"]) == ("2000/01/01", "2025/12/31", "pdat")
    assert (summary["mindate"], summary["maxdate"]) == ("2000/01/01", "2025/12/31")
    with pytest.raises(ValueError, match="mindate"):
        fetch("q", tmp_path / "o", client=client, mindate="2000-01-01", maxdate="2025/12/31")


def test_more_than_10000_hits_is_refused(fast_throttle):
    with (
        EutilsStub({}, search_order=[str(i) for i in range(1, 10_002)]) as big,
        pytest.raises(EutilsPermanentError, match="10001 records.*split the query by date"),
    ):
        make_client(big, fast_throttle).esearch("everything", page_size=10)


def test_api_key_is_sent_but_never_shown(stub, fast_throttle, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(stub, fast_throttle, api_key=KEY)
    summary = fetch("q", tmp_path / "ok", client=client, batch_size=4)
    assert all(r["params"]["api_key"] == KEY for r in stub.log)
    assert KEY not in (tmp_path / "ok" / "search.json").read_text() and KEY not in json.dumps(summary)
    stub.faults["efetch"] = ["html301"] * 5
    with pytest.raises(EutilsPermanentError) as info:
        fetch("q", tmp_path / "bad", client=make_client(stub, fast_throttle, api_key=KEY, max_retries=1))
    assert "301" in str(info.value)
    assert KEY not in str(info.value) and KEY not in caplog.text
    assert client.redact(f"http://x/efetch.fcgi?db=pubmed&api_key={KEY}&id=1") == (
        "http://x/efetch.fcgi?db=pubmed&api_key=***&id=1")


def test_api_key_from_environment_selects_the_10_per_second_budget(monkeypatch, tmp_path):
    monkeypatch.setenv("NCBI_API_KEY", KEY)
    monkeypatch.setenv("EVSYNTH_THROTTLE_DIR", str(tmp_path))
    client = EutilsClient("http://127.0.0.1:1/")
    assert client.api_key == KEY
    assert client.throttle.max_requests == 10 and KEY not in client.throttle.name
    monkeypatch.delenv("NCBI_API_KEY")
    assert EutilsClient("http://127.0.0.1:1/").throttle.max_requests == 3


def test_eutils_url_from_environment(monkeypatch):
    monkeypatch.setenv("EVSYNTH_EUTILS_URL", "http://127.0.0.1:9/eutils")
    assert EutilsClient(throttle=FileThrottle(5, directory="/tmp/unused-evsynth")).base_url == (
        "http://127.0.0.1:9/eutils/")
    monkeypatch.delenv("EVSYNTH_EUTILS_URL")
    assert EutilsClient(throttle=FileThrottle(5, directory="/tmp/unused-evsynth")).base_url == (
        "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/")


def test_parse_esearch_answers():
    own = OWN_FIXTURES
    hist = parse_esearch((own / "esearch_history_webenv_querykey.xml").read_bytes())
    assert (hist.count, len(hist.pmids), hist.query_key, hist.webenv) == (12, 12, "1", "MCID_90fe0000000000000000e0a1")
    assert hist.pmids[0] == "90100012" and hist.query_translation.endswith('"randomized controlled trial"[Publication Type]')
    partial = parse_esearch((own / "esearch_partial_errorlist_phrase_not_found.xml").read_bytes())
    assert (partial.count, partial.pmids, partial.phrases_not_found) == (
        3, ["90100003", "90100002", "90100001"], ["xqzinventedterm", "zzfixturephrase"])  # an ErrorList with hits
    none = parse_esearch((own / "esearch_no_items_phrase_not_found.xml").read_bytes())
    assert (none.count, none.pmids, none.phrases_not_found) == (0, [], ["xqzinventedterm"])
    count_only = parse_esearch((own / "esearch_rettype_count.xml").read_bytes())
    assert (count_only.count, count_only.pmids, count_only.webenv) == (12, [], None)
    with pytest.raises(EutilsResponseError, match=r"esearch: NCBI returned <ERROR>: Empty term and query_key"):
        parse_esearch((own / "esearch_error_inside_http_200.xml").read_bytes())
    with pytest.raises(EutilsResponseError, match=r"efetch: NCBI returned <ERROR>: Cannot process ID list"):
        efetch_pmids((own / "efetch_error_inside_http_200.xml").read_bytes())
    with pytest.raises(EutilsResponseError, match="not well-formed XML.*starts '<!DOCTYPE HTML"):
        efetch_pmids((own / "html_301_moved_permanently.html").read_bytes())
    with pytest.raises(EutilsResponseError, match="esearch: response is not well-formed XML"):
        parse_esearch((own / "esearch_history_webenv.json").read_bytes())  # JSON where XML was asked for


def _shape(value):
    """The JSON structure with every leaf replaced by its type name."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_stub_answers_in_the_fixtures_formats(stub):
    """The stub's ESearch XML, JSON and rettype=count answers have the fixtures' shape."""
    import urllib.request

    def get(query: str) -> bytes:
        with urllib.request.urlopen(f"{stub.url}esearch.fcgi?db=pubmed&term=k&{query}", timeout=5) as r:
            return r.read()

    fixture = json.loads((OWN_FIXTURES / "esearch_history_webenv.json").read_text())
    answer = json.loads(get("retmode=json&retmax=3"))
    assert answer["esearchresult"]["idlist"] == sorted(PMIDS, key=int, reverse=True)[:3]
    answer["esearchresult"]["translationset"] = fixture["esearchresult"]["translationset"]  # the stub has none
    assert _shape(answer) == _shape(fixture)
    assert all(isinstance(v, str) for v in fixture["esearchresult"].values() if not isinstance(v, list))
    counted = get("rettype=count")
    assert parse_esearch(counted).count == len(PMIDS) and b"<IdList" not in counted
    listed = parse_esearch(get("retmax=5&retstart=9"))
    assert (listed.count, listed.pmids) == (len(PMIDS), sorted(PMIDS, key=int, reverse=True)[9:])


def test_stub_stops_at_pubmeds_9999_ids(fast_throttle):
    with EutilsStub({}, search_order=[str(i) for i in range(1, 10_001)]) as big:
        client = make_client(big, fast_throttle, max_retries=0)
        _, page = client.request("esearch.fcgi", {"db": "pubmed", "term": "x", "retmax": 10_000},
                                 validate=parse_esearch)
        assert (page.count, len(page.pmids), page.pmids[-1]) == (10_000, 9_999, "9999")
        with pytest.raises(EutilsPermanentError, match="'retstart' cannot be larger than 9998"):
            client.request("esearch.fcgi", {"db": "pubmed", "term": "x", "retstart": 9_999}, validate=parse_esearch)


def test_stub_filters_by_publication_date(stub):
    stub.pub_dates = {"90100001": "2024/04/01", "90100002": "2023/11/30", "90100003": "2017/02/13"}
    assert stub.matching({"mindate": "2018", "maxdate": "2024/03"}) == ["90100002"]
    # bounds are inclusive; search order (newest PMID first) is kept
    assert stub.matching({"mindate": "2017/02/13", "maxdate": "2024/04/01"}) == ["90100003", "90100002", "90100001"]
    assert stub.matching({}) == stub.search_order  # no range: everything


def test_stub_works_with_an_empty_fixture_folder(fast_throttle, tmp_path):
    """No fixture record at all: a built-in template is cloned, the quirk and HTML faults still answer."""
    pmids = ["5", "6", "7"]
    with EutilsStub(make_records(pmids, directory=tmp_path), fixtures=tmp_path) as empty:
        empty.faults["efetch"] = ["pmid1", "html200", "missing"]
        summary = fetch("q", tmp_path / "o", client=make_client(empty, fast_throttle), batch_size=3)
        assert summary["pmids"] == pmids
        assert [r["fault"] for r in empty.requests_to("efetch")] == ["pmid1", "html200", "missing", None]
    assert [r["pmid"] for r in parse_medline(tmp_path / "o" / "batch_00000.xml")] == pmids


@pytest.mark.shared_fixtures
def test_parse_real_esearch_answers():
    partial = parse_esearch((SHARED_FIXTURES / "esearch_pubmed_2024_partial_errorlist_phrase_not_found.xml").read_bytes())
    assert partial.count == 259 and len(partial.pmids) == 259 and len(partial.phrases_not_found) == 3
    none = parse_esearch((SHARED_FIXTURES / "esearch_2025_error_phrase_not_found_no_items.xml").read_bytes())
    assert (none.count, none.pmids, none.phrases_not_found) == (0, [], ["abcXYZ"])
    hist = parse_esearch((SHARED_FIXTURES / "esearch_pubmed_2025_history_webenv_querykey.xml").read_bytes())
    assert (hist.count, len(hist.pmids), hist.query_key, hist.webenv) == (
        42249, 100, "1", "MCID_6927d6e7fee3e90f880ec190")
    assert parse_esearch((SHARED_FIXTURES / "esearch_pubmed_2024_rettype_count.xml").read_bytes()).count == 259
    with pytest.raises(EutilsResponseError, match="Neither query_key nor id specified"):
        parse_esearch((SHARED_FIXTURES / "esummary_2025_error_no_id_or_query_key.xml").read_bytes())
    with pytest.raises(EutilsResponseError, match="Empty ID list; Nothing to store"):
        efetch_pmids((SHARED_FIXTURES / "epost_pubmed_2025_error_invalid_ids.xml").read_bytes())
    with pytest.raises(EutilsResponseError, match="not well-formed XML"):
        efetch_pmids((SHARED_FIXTURES / "http301_efetch_http_scheme_redirect.html").read_bytes())
    real_json = json.loads((SHARED_FIXTURES / "esearch_pubmed_2026_json_history_webenv.json").read_text())
    own_json = json.loads((OWN_FIXTURES / "esearch_history_webenv.json").read_text())
    assert _shape(own_json) == _shape(real_json)  # the own JSON fixture has the real answer's shape


@pytest.mark.shared_fixtures
def test_fetch_replays_the_captured_records(fast_throttle, tmp_path):
    """The stub serving the real captured records (and the real PMID 1 and HTML answers)."""
    real = ["9997", "11700088", "11748933", "12091962", "20301577", "22078490", "22327499", "23121403", "38011560"]
    with EutilsStub(make_records(real, directory=SHARED_FIXTURES), fixtures=SHARED_FIXTURES) as server:
        server.faults["efetch"] = ["pmid1", "html301"]
        summary = fetch("q", tmp_path / "o", client=make_client(server, fast_throttle), batch_size=5)
    assert summary["pmids"] == real
    got = [r["pmid"] for name in summary["batches"] for r in parse_medline(tmp_path / "o" / name)]
    assert sorted(got, key=int) == real


def test_zero_hits_writes_an_empty_snapshot(fast_throttle, tmp_path):
    with EutilsStub({}, search_order=[]) as empty:
        summary = fetch("nothing", tmp_path / "o", client=make_client(empty, fast_throttle))
    assert (summary["count"], summary["pmids"], summary["batches"]) == (0, [], [])
    assert (tmp_path / "o" / "search.json").exists()


def test_progress_bar_only_on_a_terminal_outside_ci():
    from evsynth.pubmed.retrieve import _show_progress

    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    assert _show_progress(Stream(True), {}) is True
    assert _show_progress(Stream(True), {"CI": "true"}) is False
    assert _show_progress(Stream(False), {}) is False


def test_progress_bar_draws_batches(stub, fast_throttle, tmp_path, capsys):
    fetch("q", tmp_path / "o", client=make_client(stub, fast_throttle), batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "batch" in err
