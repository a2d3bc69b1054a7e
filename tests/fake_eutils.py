"""An in-process stand-in for NCBI E-utilities, injected as the client's ``requests`` session (no sockets).

It answers ESearch (``mindate``/``maxdate`` on a per-record date, ``retstart``/``retmax`` paging,
``<Count>``) and EFetch by ``id`` with ``PubmedArticle`` XML built by :func:`evsynth.snapshot.article_element`
from invented records, so the real client code (throttle, retries, answer checks) runs unchanged.
Faults: ``down`` (connection refused), ``error_body`` (an NCBI ``<ERROR>`` inside a 200 answer),
``efetch_fail_after`` (EFetch answers HTTP 500 after that many answers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from lxml import etree

from evsynth.pubmed.client import EutilsClient
from evsynth.pubmed.throttle import FileThrottle
from evsynth.snapshot import article_element

HEADER = b'<?xml version="1.0" encoding="UTF-8" ?>\n'


def _pad(value: str, end: bool) -> str:
    parts = value.split("/")
    if len(parts) == 1:
        parts += ["12", "31"] if end else ["01", "01"]
    elif len(parts) == 2:
        parts += ["31"] if end else ["01"]  # every month ends by the 31st for string comparison
    return "/".join(parts)


@dataclass
class FakeResponse:
    status_code: int
    content: bytes
    headers: dict = field(default_factory=dict)


def invented_record(pmid: str, date: str, **extra) -> dict:
    """A bibliography-style row (see :data:`evsynth.snapshot.BIBLIOGRAPHY_COLUMNS`) for an invented record."""
    row = {"pmid": pmid, "title": f"Invented randomized trial of ketamine in depression number {pmid}",
           "journal": "Invented J", "year": date[:4], "publication_types": "Randomized Controlled Trial",
           "mesh": "Ketamine|Depression", "language": "eng", "authors": "Doe J"}
    row.update(extra)
    return row


class FakeEutils:
    """``records``: ``{pmid: (publication date 'YYYY/MM/DD', bibliography row)}``."""

    def __init__(self, records: dict[str, tuple[str, dict]]) -> None:
        self.records = dict(records)
        self.down = False
        self.error_body = False
        self.efetch_fail_after: int | None = None
        self.log: list[tuple[str, dict]] = []
        self._efetch_answers = 0

    def add(self, pmid: str, date: str, **extra) -> None:
        self.records[pmid] = (date, invented_record(pmid, date, **extra))

    # the requests.Session interface the client uses
    def get(self, url, params=None, **kw):
        return self._answer(url, dict(params or {}))

    def post(self, url, data=None, **kw):
        return self._answer(url, dict(data or {}))

    def requests_to(self, endpoint: str) -> list[dict]:
        return [p for e, p in self.log if e == endpoint]

    def _answer(self, url: str, params: dict) -> FakeResponse:
        endpoint = url.rsplit("/", 1)[-1].split(".")[0]
        self.log.append((endpoint, params))
        if self.down:
            raise requests.ConnectionError("connection refused (fake)")
        if self.error_body:
            return FakeResponse(200, HEADER + b"<eSearchResult><ERROR>Search Backend failed (fake)</ERROR></eSearchResult>")
        if endpoint == "esearch":
            return FakeResponse(200, self._esearch(params))
        if self.efetch_fail_after is not None and self._efetch_answers >= self.efetch_fail_after:
            return FakeResponse(500, b"<html>Internal Server Error</html>")
        self._efetch_answers += 1
        return FakeResponse(200, self._efetch(params))

    def _esearch(self, params: dict) -> bytes:
        matched = list(self.records)
        if params.get("mindate"):
            lo, hi = _pad(str(params["mindate"]), False), _pad(str(params["maxdate"]), True)
            matched = [p for p in matched if lo <= self.records[p][0] <= hi]
        matched.sort(key=int, reverse=True)
        start, size = int(params.get("retstart", 0)), int(params.get("retmax", 20))
        ids = "".join(f"<Id>{p}</Id>" for p in matched[start:start + size])
        return HEADER + (f"<eSearchResult><Count>{len(matched)}</Count><RetMax>{len(matched[start:start + size])}"
                         f"</RetMax><RetStart>{start}</RetStart><QueryKey>1</QueryKey><WebEnv>FAKE</WebEnv>"
                         f"<IdList>{ids}</IdList><QueryTranslation>fake[All Fields]</QueryTranslation>"
                         f"</eSearchResult>").encode()

    def _efetch(self, params: dict) -> bytes:
        root = etree.Element("PubmedArticleSet")
        for pmid in str(params["id"]).split(","):
            if pmid in self.records:
                root.append(article_element(self.records[pmid][1]))
        return HEADER + etree.tostring(root)


def fake_client(fake: FakeEutils, throttle_dir, **kw) -> EutilsClient:
    """A real :class:`EutilsClient` whose HTTP session is ``fake``: fast retries, generous throttle."""
    opts = {"max_retries": 1, "backoff_base": 0.001, "backoff_max": 0.001, "seed": 1,
            "throttle": FileThrottle(1000, directory=throttle_dir)}
    opts.update(kw)
    return EutilsClient("http://fake.invalid/eutils/", session=fake, **opts)


def dated_records(n: int, start_year: int = 2000, per_year: int = 3) -> dict[str, tuple[str, dict]]:
    """``n`` invented records, PMIDs 1001..., ``per_year`` per year on distinct days."""
    out = {}
    for i in range(n):
        year, k = start_year + i // per_year, i % per_year
        date = f"{year}/{1 + 4 * k:02d}/{10 + k:02d}"
        pmid = str(1001 + i)
        out[pmid] = (date, invented_record(pmid, date))
    return out
