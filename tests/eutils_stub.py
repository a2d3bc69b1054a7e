"""A local stand-in for NCBI E-utilities (127.0.0.1 only), answering in NCBI's real formats.

The records come from the project's own fixtures (``tests/fixtures/entrez``, invented records in the
PubMed DTD's format); ``EutilsStub(..., fixtures=SHARED_FIXTURES)`` and ``make_records(...,
directory=SHARED_FIXTURES)`` replay the captured real responses in ``../shared/fixtures/entrez`` when
that folder exists (see ``tests/conftest.py``: the ``shared_fixtures`` marker).

ESearch answers copy the layout of a real ``eSearchResult`` (DOCTYPE, compact, ``QueryKey``/``WebEnv``,
one ``<Id>`` per line); ``rettype=count`` gives only ``<Count>``; ``retmode=json`` gives ESearch JSON
(version 0.3, numbers as strings); like PubMed, ESearch serves only the first 9,999 ids of a search
(positions 0-9998) and answers a ``retstart`` past 9998 with an ``<ERROR>`` (reported in biopython
issues #4189 and #4353); ``mindate``/``maxdate`` filter on :attr:`EutilsStub.pub_dates` when it
is set. EFetch answers are ``PubmedArticleSet`` documents assembled from the fixtures'
``PubmedArticle``/``PubmedBookArticle`` elements; extra PMIDs are made by copying a fixture record and
rewriting its PMID (``MedlineCitation/PMID`` or ``BookDocument/PMID`` and the ``pubmed`` ArticleId).
With no fixture record at all, a minimal built-in record is the template (never a division by zero).

Faults are queued per endpoint (``stub.faults["efetch"] = ["429", "500"]``) and used one per request:

========== ==============================================================================
``429``     HTTP 429 with ``Retry-After: <stub.retry_after>``
``500`` …   HTTP 500/502/503 with an HTML body
``timeout`` sleep ``stub.timeout_sleep`` seconds, then answer normally (client should have given up)
``drop``    close the connection without any answer
``error``   HTTP 200 carrying ``<eFetchResult><ERROR>…</ERROR></eFetchResult>`` (an ``eSearchResult`` for ESearch)
``truncated`` HTTP 200, the normal body cut in half
``html301`` HTTP 301 with an Apache "Moved Permanently" page (Location: the stub itself)
``html200`` HTTP 200 whose body is that HTML page
``missing`` HTTP 200, the normal answer without its last record
``pmid1``   HTTP 200, PMID 1's record (the real ``id=-1`` answer) instead of the requested ones
========== ==============================================================================
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
#: The project's own fixtures (in the repository).
OWN_FIXTURES = ROOT / "tests" / "fixtures" / "entrez"
#: Captured real NCBI responses beside the repository (``../shared``); absent in a plain clone.
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "entrez"
FIXTURES = OWN_FIXTURES
EFETCH_HEADER = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)
ESEARCH_HEADER = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
#: PubMed ESearch serves ids only up to retstart 9998 (the first 9,999 records of a search).
ESEARCH_MAX_RETSTART = 9998
WEBENV = "MCID_stub0000000000000000000001"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
# Used only when a fixture set holds no record at all: a minimal PubmedArticle (invented).
_TEMPLATE = (
    b'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">0</PMID>'
    b'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print"><PubDate><Year>2020</Year></PubDate>'
    b"</JournalIssue><Title>Invented stub journal</Title></Journal><ArticleTitle>Invented stub record."
    b"</ArticleTitle><Language>eng</Language><PublicationTypeList><PublicationType UI=\"D016428\">"
    b"Journal Article</PublicationType></PublicationTypeList></Article></MedlineCitation><PubmedData>"
    b'<ArticleIdList><ArticleId IdType="pubmed">0</ArticleId></ArticleIdList></PubmedData></PubmedArticle>'
)
_HTML_301 = (
    b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>301 Moved Permanently</title>\n'
    b"</head><body>\n<h1>Moved Permanently</h1>\n<p>The document has moved <a href=\"https://eutils.ncbi.nlm.nih.gov/"
    b'entrez/eutils/efetch.fcgi">here</a>.</p>\n</body></html>\n'
)


def fixture_records(directory: Path = FIXTURES) -> dict[str, bytes]:
    """``{pmid: serialized PubmedArticle/PubmedBookArticle}`` from every ``efetch_*.xml`` in ``directory``."""
    records: dict[str, bytes] = {}
    for path in sorted(Path(directory).glob("efetch_*.xml")):
        root = etree.parse(str(path), _PARSER).getroot()
        for rec in root:
            if rec.tag not in ("PubmedArticle", "PubmedBookArticle"):
                continue
            pmid = rec.findtext("MedlineCitation/PMID") or rec.findtext("BookDocument/PMID")
            if not pmid or not pmid.strip():  # not servable; the parser tests cover such records
                continue
            rec.tail = None
            records[pmid.strip()] = etree.tostring(rec, encoding="utf-8")
    return records


def clone_record(xml: bytes, new_pmid: str) -> bytes:
    """A copy of a PubmedArticle with its own PMID rewritten (reference lists untouched)."""
    rec = etree.fromstring(xml, _PARSER)
    for path in ("MedlineCitation/PMID", "BookDocument/PMID"):
        el = rec.find(path)
        if el is not None:
            el.text = new_pmid
    for id_list in ("PubmedData/ArticleIdList", "PubmedBookData/ArticleIdList"):
        for aid in rec.iterfind(f"{id_list}/ArticleId"):
            if aid.get("IdType") == "pubmed":
                aid.text = new_pmid
    return etree.tostring(rec, encoding="utf-8")


def make_records(pmids: list[str], directory: Path = FIXTURES) -> dict[str, bytes]:
    """Records for ``pmids``: the fixture's own record where it exists, else a cloned one.

    Clones cycle through the fixture records in PMID (string) order; with no fixture record in
    ``directory`` the built-in minimal record is the template.
    """
    base = fixture_records(directory)
    sources = [base[k] for k in sorted(base)] or [_TEMPLATE]
    return {pmid: base[pmid] if pmid in base else clone_record(sources[i % len(sources)], pmid)
            for i, pmid in enumerate(pmids)}


def _date_key(value: str, end: bool) -> str:
    """``YYYY[/MM[/DD]]`` as a sortable ``YYYY/MM/DD`` (missing parts: start or end of the period)."""
    parts = value.strip().replace("-", "/").split("/")
    fill = ["12", "31"] if end else ["01", "01"]
    parts = parts + fill[len(parts) - 1:]
    return "/".join(p.zfill(2) for p in parts[:3])


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (timeout and dropped-connection faults) is expected: no traceback for it."""

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class EutilsStub:
    """Threaded stub server. Use as a context manager; ``url`` is the E-utilities base URL.

    Parameters
    ----------
    records : dict
        ``{pmid: PubmedArticle bytes}`` the database holds.
    search_order : list of str, optional
        PMIDs ESearch returns, in its order (default: all records, newest-first = descending).
    fixtures : Path
        Folder whose ``efetch_*.xml`` and ``*.html`` files supply the PMID 1 record (``id=-1``) and
        the HTML page of the ``html301``/``html200`` faults (built-in stand-ins when absent).

    Attributes
    ----------
    pub_dates : dict
        ``{pmid: "YYYY/MM/DD"}``; when set, ESearch's ``mindate``/``maxdate`` select the PMIDs dated in
        that range (inclusive; PMIDs without a date are left out), as ``datetype=pdat`` does.
    """

    def __init__(self, records: dict[str, bytes], search_order: list[str] | None = None,
                 fixtures: Path = FIXTURES) -> None:
        self.records = dict(records)
        self.search_order = list(search_order) if search_order is not None else sorted(
            records, key=int, reverse=True)
        self.fixtures = Path(fixtures)
        self.pub_dates: dict[str, str] = {}
        self.faults: dict[str, list[str]] = {"esearch": [], "efetch": []}
        self.retry_after = "1"
        self.timeout_sleep = 1.0
        self.slow_after: int | None = None  # after this many efetch answers, sleep slow_sleep each
        self.slow_sleep = 0.0
        self.log: list[dict] = []  # one entry per request: time, endpoint, method, params, fault
        self._lock = threading.Lock()
        self._efetch_answers = 0
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/entrez/eutils/"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        """Forget the request log and the count of EFetch answers (``slow_after`` counts from here)."""
        with self._lock:
            self.log.clear()
            self._efetch_answers = 0

    def requests_to(self, endpoint: str) -> list[dict]:
        return [r for r in self.log if r["endpoint"] == endpoint]

    # -- answers -------------------------------------------------------------------------------
    def matching(self, params: dict[str, str]) -> list[str]:
        """The PMIDs the search matches: :attr:`search_order`, narrowed by mindate/maxdate and :attr:`pub_dates`."""
        if self.pub_dates and params.get("mindate") and params.get("maxdate"):
            lo, hi = _date_key(params["mindate"], end=False), _date_key(params["maxdate"], end=True)
            return [p for p in self.search_order
                    if p in self.pub_dates and lo <= _date_key(self.pub_dates[p], end=False) <= hi]
        return self.search_order

    def esearch_body(self, params: dict[str, str]) -> bytes:
        found = self.matching(params)
        retstart = int(params.get("retstart") or 0)
        retmax = int(params.get("retmax") or 20)
        if params.get("rettype") == "count":
            return ESEARCH_HEADER + b"<eSearchResult>\n\t<Count>%d</Count>\n</eSearchResult>\n" % len(found)
        if retstart > ESEARCH_MAX_RETSTART:
            return ESEARCH_HEADER + (
                b"<eSearchResult><ERROR>Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. "
                b"For PubMed, ESearch can only retrieve the first 9,999 records matching the query.</ERROR>"
                b"</eSearchResult>\n")
        ids = found[retstart : min(retstart + retmax, ESEARCH_MAX_RETSTART + 1)]
        if params.get("retmode") == "json":
            result = {"count": str(len(found)), "retmax": str(len(ids)), "retstart": str(retstart),
                      "querykey": "1", "webenv": WEBENV, "idlist": ids, "translationset": [],
                      "querytranslation": "stub[All Fields]"}
            body = {"header": {"type": "esearch", "version": "0.3"}, "esearchresult": result}
            return json.dumps(body, separators=(",", ":")).encode() + b"\n"
        id_lines = b"".join(b"<Id>%s</Id>\n" % i.encode() for i in ids)
        return (
            ESEARCH_HEADER
            + b"<eSearchResult><Count>%d</Count><RetMax>%d</RetMax><RetStart>%d</RetStart>"
            % (len(found), len(ids), retstart)
            + b"<QueryKey>1</QueryKey><WebEnv>%s</WebEnv><IdList>\n" % WEBENV.encode()
            + id_lines
            + b"</IdList><TranslationSet/><QueryTranslation>stub[All Fields]</QueryTranslation></eSearchResult>\n"
        )

    def pmid1_body(self) -> bytes:
        """The answer to ``id=-1``: PMID 1's record (from the fixtures, else a built-in copy)."""
        record = fixture_records(self.fixtures).get("1") or clone_record(_TEMPLATE, "1")
        return EFETCH_HEADER + record + b"\n</PubmedArticleSet>\n"

    def html_page(self) -> bytes:
        """The fixtures' HTML page (``*.html``), else a built-in Apache 301 page."""
        pages = sorted(self.fixtures.glob("*.html"))
        return pages[0].read_bytes() if pages else _HTML_301

    def efetch_body(self, params: dict[str, str]) -> bytes:
        if "id" in params:
            ids = [i for i in params["id"].split(",") if i]
        else:
            start = int(params.get("retstart") or 0)
            ids = self.search_order[start : start + int(params.get("retmax") or 20)]
        if ids == ["-1"]:  # the real quirk: NCBI answers id=-1 with PMID 1
            return self.pmid1_body()
        parts = [self.records[i] for i in ids if i in self.records]
        return EFETCH_HEADER + b"\n".join(parts) + b"\n</PubmedArticleSet>\n"

    # -- HTTP ------------------------------------------------------------------------------------
    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _params(self) -> dict[str, str]:
                query = urlsplit(self.path).query
                if self.command == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    query = self.rfile.read(length).decode()
                return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                kind = "text/html" if body.lstrip()[:1] in (b"<",) and b"<html" in body[:200].lower() else (
                    "application/json" if body[:1] == b"{" else "text/xml")
                self.send_header("Content-Type", f"{kind}; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _serve(self) -> None:
                params = self._params()
                endpoint = urlsplit(self.path).path.rsplit("/", 1)[-1].replace(".fcgi", "")
                with stub._lock:
                    queue = stub.faults.get(endpoint, [])
                    fault = queue.pop(0) if queue else None
                    stub.log.append(
                        {"time": time.time(), "endpoint": endpoint, "method": self.command,
                         "params": params, "fault": fault}
                    )
                if endpoint == "esearch":
                    body = stub.esearch_body(params)
                elif endpoint == "efetch":
                    body = stub.efetch_body(params)
                    with stub._lock:
                        stub._efetch_answers += 1
                        slow = stub.slow_after is not None and stub._efetch_answers > stub.slow_after
                    if slow and fault is None:
                        time.sleep(stub.slow_sleep)
                else:
                    self._send(404, b"<html>unknown endpoint</html>")
                    return
                if fault is None:
                    self._send(200, body)
                elif fault == "429":
                    self._send(429, b'{"error":"API rate limit exceeded"}', {"Retry-After": stub.retry_after})
                elif fault in ("500", "502", "503"):
                    self._send(int(fault), b"<html><body>Server Error</body></html>")
                elif fault == "timeout":
                    time.sleep(stub.timeout_sleep)
                    try:
                        self._send(200, body)
                    except OSError:
                        pass
                elif fault == "drop":
                    self.close_connection = True
                elif fault == "error" and endpoint == "esearch":
                    self._send(200, ESEARCH_HEADER + b"<eSearchResult>\n\t<ERROR>Empty term and query_key - "
                                                     b"nothing todo</ERROR>\n</eSearchResult>\n")
                elif fault == "error":
                    self._send(200, b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n'
                                    b"\t<ERROR>Cannot process ID list</ERROR>\n</eFetchResult>\n")
                elif fault == "truncated":
                    self._send(200, body[: len(body) // 2])
                elif fault in ("html301", "html200"):
                    html = stub.html_page()
                    status = 301 if fault == "html301" else 200
                    self._send(status, html, {"Location": stub.url + "efetch.fcgi"})
                elif fault == "missing":
                    root = etree.fromstring(body, _PARSER)
                    if len(root):
                        root.remove(root[-1])
                    self._send(200, etree.tostring(root, xml_declaration=True, encoding="utf-8"))
                elif fault == "pmid1":
                    self._send(200, stub.efetch_body({"id": "-1"}))
                else:
                    raise ValueError(f"unknown fault {fault!r}")

            do_GET = _serve
            do_POST = _serve

        return Handler


def fetch_worker(url: str, out_dir: str, throttle_dir: str, batch_size: int) -> None:
    """Run :func:`evsynth.pubmed.fetch` with the real (3/s) shared budget; for multiprocessing tests."""
    from evsynth.pubmed import fetch

    fetch("ketamine", out_dir, eutils_url=url, batch_size=batch_size, throttle_dir=throttle_dir,
          api_key="", timeout=5, backoff_base=0.01, backoff_max=0.05, retrieval_date="2026-01-01T00:00:00Z")
