"""A local stand-in for NCBI E-utilities (127.0.0.1 only), replaying real response formats.

ESearch answers copy the layout of the real fixture ``esearch_pubmed_2025_history_webenv_querykey.xml``
(DOCTYPE, compact ``eSearchResult`` with ``QueryKey``/``WebEnv``, one ``<Id>`` per line). EFetch answers
are ``PubmedArticleSet`` documents assembled from the real ``PubmedArticle``/``PubmedBookArticle``
elements of the efetch fixtures; extra PMIDs are made by copying a fixture record and rewriting its
PMID (``MedlineCitation/PMID`` and the ``pubmed`` ArticleId) — nothing else is changed.

Faults are queued per endpoint (``stub.faults["efetch"] = ["429", "500"]``) and used one per request:

========== ==============================================================================
``429``     HTTP 429 with ``Retry-After: <stub.retry_after>``
``500`` …   HTTP 500/502/503 with an HTML body
``timeout`` sleep ``stub.timeout_sleep`` seconds, then answer normally (client should have given up)
``drop``    close the connection without any answer
``error``   HTTP 200 carrying ``<eFetchResult><ERROR>…</ERROR></eFetchResult>``
``truncated`` HTTP 200, the normal body cut in half
``html301`` HTTP 301 with the real Apache "Moved Permanently" page (Location: the stub itself)
``html200`` HTTP 200 whose body is that HTML page
``missing`` HTTP 200, the normal answer without its last record
``pmid1``   HTTP 200, PMID 1's record (the real ``id=-1`` answer) instead of the requested ones
========== ==============================================================================
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

from lxml import etree

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "entrez"
EFETCH_HEADER = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)
ESEARCH_HEADER = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def fixture_records() -> dict[str, bytes]:
    """``{pmid: serialized PubmedArticle/PubmedBookArticle}`` from every efetch fixture."""
    records: dict[str, bytes] = {}
    for path in sorted(FIXTURES.glob("efetch_pubmed_*.xml")):
        root = etree.parse(str(path), _PARSER).getroot()
        for rec in root:
            if rec.tag not in ("PubmedArticle", "PubmedBookArticle"):
                continue
            pmid = rec.findtext("MedlineCitation/PMID") or rec.findtext("BookDocument/PMID")
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
    for aid in rec.iterfind("PubmedData/ArticleIdList/ArticleId"):
        if aid.get("IdType") == "pubmed":
            aid.text = new_pmid
    return etree.tostring(rec, encoding="utf-8")


def make_records(pmids: list[str]) -> dict[str, bytes]:
    """Records for ``pmids``: the fixture's own record where it exists, else a cloned one."""
    base = fixture_records()
    sources = sorted(base)
    out = {}
    for i, pmid in enumerate(pmids):
        out[pmid] = base[pmid] if pmid in base else clone_record(base[sources[i % len(sources)]], pmid)
    return out


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
    """

    def __init__(self, records: dict[str, bytes], search_order: list[str] | None = None) -> None:
        self.records = dict(records)
        self.search_order = search_order or sorted(records, key=int, reverse=True)
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
    def esearch_body(self, params: dict[str, str]) -> bytes:
        retstart = int(params.get("retstart", 0))
        retmax = int(params.get("retmax", 20))
        ids = self.search_order[retstart : retstart + retmax]
        id_lines = b"".join(b"<Id>%s</Id>\n" % i.encode() for i in ids)
        return (
            ESEARCH_HEADER
            + b"<eSearchResult><Count>%d</Count><RetMax>%d</RetMax><RetStart>%d</RetStart>"
            % (len(self.search_order), len(ids), retstart)
            + b"<QueryKey>1</QueryKey><WebEnv>MCID_stub0000000000000000000001</WebEnv><IdList>\n"
            + id_lines
            + b"</IdList><TranslationSet/><QueryTranslation>stub[All Fields]</QueryTranslation></eSearchResult>\n"
        )

    def efetch_body(self, params: dict[str, str]) -> bytes:
        if "id" in params:
            ids = [i for i in params["id"].split(",") if i]
        else:
            start = int(params.get("retstart", 0))
            ids = self.search_order[start : start + int(params.get("retmax", 20))]
        if ids == ["-1"]:  # the real quirk: NCBI answers id=-1 with PMID 1
            return (FIXTURES / "efetch_pubmed_2024_request_id_minus1_returns_pmid1.xml").read_bytes()
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
                self.send_header("Content-Type", "text/xml; charset=UTF-8")
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
                elif fault == "error":
                    self._send(200, b'<?xml version="1.0" encoding="UTF-8" ?>\n<eFetchResult>\n'
                                    b"\t<ERROR>Cannot process ID list</ERROR>\n</eFetchResult>\n")
                elif fault == "truncated":
                    self._send(200, body[: len(body) // 2])
                elif fault in ("html301", "html200"):
                    html = (FIXTURES / "http301_efetch_http_scheme_redirect.html").read_bytes()
                    status = 301 if fault == "html301" else 200
                    self._send(status, html, {"Location": stub.url + "efetch.fcgi"})
                elif fault == "missing":
                    root = etree.fromstring(body, _PARSER)
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
