"""The E-utilities HTTP client: the only code in evsynth that talks to the network.

Reference: Sayers E. "The E-utilities In-Depth: Parameters, Syntax and More", Entrez Programming
Utilities Help, NCBI Bookshelf NBK25499; usage rules (``tool``/``email``, API keys, 3 or 10 requests
per second, POST for more than about 200 UIDs) in NBK25497.

Every request goes through :meth:`EutilsClient.request`, which takes a slot from the shared
:class:`~evsynth.pubmed.throttle.FileThrottle`, retries transient failures with capped exponential
backoff and jitter, and checks the body before returning it. A 200 answer is only data when it is
well-formed XML of the expected kind without an ``<ERROR>``; anything else is a failed attempt.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from lxml import etree

from evsynth.errors import EvsynthError
from evsynth.pubmed.throttle import FileThrottle

__all__ = [
    "DEFAULT_EUTILS_URL",
    "EutilsClient",
    "EutilsError",
    "EutilsPermanentError",
    "EutilsResponseError",
    "MissingRecordsError",
    "SearchResult",
    "SearchTooLargeError",
    "resolve_eutils_url",
    "validate_pmids",
]

DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
#: PubMed ESearch returns at most the first 9,999 UIDs of a search (a retstart above 9,998 is an error;
#: Biopython issues #4189, #4353): larger searches are split by date.
ESEARCH_MAX_RESULTS = 9_999
_PMID = re.compile(r"[1-9][0-9]{0,9}")
_SAFE_PARSER_ARGS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}

log = logging.getLogger("evsynth.pubmed")
T = TypeVar("T")


class EutilsError(EvsynthError, RuntimeError):
    """Base class of E-utilities failures (expected failures: shown as one line, no traceback)."""


class EutilsResponseError(EutilsError):
    """One answer was not usable data (NCBI ``<ERROR>``, not XML, truncated, wrong records)."""


class EutilsPermanentError(EutilsError):
    """A request failed for good: retries exhausted, or an error that retrying cannot fix."""


class MissingRecordsError(EutilsPermanentError):
    """EFetch did not return every requested PMID, even after retries.

    Attributes
    ----------
    missing : list of str
        The requested PMIDs that never came back.
    """

    def __init__(self, message: str, missing: Sequence[str]) -> None:
        super().__init__(message)
        self.missing = list(missing)


class SearchTooLargeError(EutilsPermanentError):
    """A search matches more records than one ESearch can return (see :data:`ESEARCH_MAX_RESULTS`).

    Attributes
    ----------
    count : int
        PubMed's ``<Count>`` for the search.
    limit : int
        The most records one search may return.
    query_translation : str or None
        How PubMed read the query.
    phrases_not_found : list of str
        ``ErrorList/PhraseNotFound`` of the answer.
    """

    def __init__(self, message: str, count: int, limit: int, query_translation: str | None = None,
                 phrases_not_found: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.count = count
        self.limit = limit
        self.query_translation = query_translation
        self.phrases_not_found = list(phrases_not_found)


class _MissingInAnswer(EutilsResponseError):
    def __init__(self, message: str, missing: Sequence[str]) -> None:
        super().__init__(message)
        self.missing = list(missing)


class _Retryable(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class SearchResult:
    """What ESearch returned for a query.

    Attributes
    ----------
    count : int
        ``<Count>``: number of matching records.
    pmids : list of str
        Every matching PMID, in the order PubMed returned them.
    webenv, query_key : str or None
        History-server handle (``usehistory=y``).
    query_translation : str or None
        ``<QueryTranslation>``: how PubMed read the query.
    phrases_not_found : list of str
        ``ErrorList/PhraseNotFound``; an ErrorList can come with non-zero results.
    """

    count: int
    pmids: list[str]
    webenv: str | None = None
    query_key: str | None = None
    query_translation: str | None = None
    phrases_not_found: list[str] = field(default_factory=list)


def resolve_eutils_url(url: str | None = None) -> str:
    """``url``, else env ``EVSYNTH_EUTILS_URL``, else :data:`DEFAULT_EUTILS_URL`; always ends with ``/``."""
    url = url or os.environ.get("EVSYNTH_EUTILS_URL") or DEFAULT_EUTILS_URL
    return url if url.endswith("/") else url + "/"


def validate_pmids(pmids: Sequence[str], argument: str = "pmids") -> list[str]:
    """Return ``pmids`` as strings, raising ``ValueError`` naming the first invalid index.

    A PMID is a positive integer. This guards against the ``id=-1`` quirk: EFetch answers a request for
    ``-1`` with the record of PMID 1.
    """
    out = []
    for i, pmid in enumerate(pmids):
        text = str(pmid).strip()
        if not _PMID.fullmatch(text):
            raise ValueError(f"{argument}[{i}] = {pmid!r} is not a PMID (a positive integer)")
        out.append(text)
    return out


def _parse_xml(body: bytes, what: str) -> etree._Element:
    if not body or not body.strip():
        raise EutilsResponseError(f"{what}: empty response body")
    parser = etree.XMLParser(**_SAFE_PARSER_ARGS)
    try:
        return etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        head = body[:60].decode("utf-8", "replace").strip().splitlines()[0] if body.strip() else ""
        raise EutilsResponseError(f"{what}: response is not well-formed XML ({exc}; starts {head!r})") from exc


def _check_ncbi_error(root: etree._Element, what: str) -> None:
    errors = [" ".join("".join(e.itertext()).split()) for e in root.iter("ERROR")]
    if errors:
        raise EutilsResponseError(f"{what}: NCBI returned <ERROR>: {'; '.join(errors)}")


def parse_esearch(body: bytes) -> SearchResult:
    """Parse an ESearch XML answer (``eSearchResult``); raise :class:`EutilsResponseError` if unusable."""
    root = _parse_xml(body, "esearch")
    _check_ncbi_error(root, "esearch")
    if root.tag != "eSearchResult":
        raise EutilsResponseError(f"esearch: root element is <{root.tag}>, expected <eSearchResult>")
    count_text = root.findtext("Count")
    if count_text is None or not count_text.strip().isdigit():
        raise EutilsResponseError("esearch: answer has no numeric <Count>")
    ids = [(i.text or "").strip() for i in root.iterfind("IdList/Id")]
    try:
        validate_pmids(ids, "esearch IdList/Id")
    except ValueError as exc:
        raise EutilsResponseError(str(exc)) from exc
    return SearchResult(
        count=int(count_text),
        pmids=ids,
        webenv=root.findtext("WebEnv"),
        query_key=root.findtext("QueryKey"),
        query_translation=root.findtext("QueryTranslation"),
        phrases_not_found=[p.text or "" for p in root.iterfind("ErrorList/PhraseNotFound")],
    )


def efetch_pmids(body: bytes) -> list[str]:
    """Check an EFetch ``PubmedArticleSet`` answer and return the PMIDs it holds, in order."""
    root = _parse_xml(body, "efetch")
    if root.tag != "PubmedArticleSet":
        _check_ncbi_error(root, "efetch")
        raise EutilsResponseError(f"efetch: root element is <{root.tag}>, expected <PubmedArticleSet>")
    _check_ncbi_error(root, "efetch")
    pmids = []
    for rec in root:
        if rec.tag == "PubmedArticle":
            pmid = rec.findtext("MedlineCitation/PMID")
        elif rec.tag == "PubmedBookArticle":
            pmid = rec.findtext("BookDocument/PMID")
        else:
            continue
        if not pmid or not _PMID.fullmatch(pmid.strip()):
            raise EutilsResponseError(f"efetch: a <{rec.tag}> has no valid PMID ({pmid!r})")
        pmids.append(pmid.strip())
    return pmids


class EutilsClient:
    """NCBI E-utilities client with shared throttling, retries and answer validation.

    Parameters
    ----------
    base_url : str, optional
        E-utilities base URL; default env ``EVSYNTH_EUTILS_URL`` or :data:`DEFAULT_EUTILS_URL`.
    api_key : str, optional
        NCBI API key; default env ``NCBI_API_KEY``. Never logged: it is redacted from every message.
    email, tool : str
        Sent with every request, as NCBI asks.
    timeout : float
        Seconds to wait for connect and for each read.
    max_retries : int
        Retries after the first attempt (so at most ``max_retries + 1`` requests per call).
    backoff_base, backoff_max : float
        Delay before retry ``n`` (0-based) is ``uniform(0.5, 1) * min(backoff_max, backoff_base * 2**n)``
        ("equal jitter", Brooker 2015, AWS Architecture Blog "Exponential Backoff And Jitter").
    max_retry_after : float
        Cap on a server's ``Retry-After`` (seconds); the delay is ``max(backoff, Retry-After)``.
    post_threshold : int
        ID lists longer than this are sent by POST (NCBI recommends POST above about 200 UIDs).
        With an API key every request is sent by POST so the key is never part of a URL.
    throttle : FileThrottle, optional
        Default :meth:`FileThrottle.for_ncbi` (3/s without key, 10/s with one).
    session : requests.Session, optional
    sleep : callable
        ``time.sleep`` by default (tests may substitute).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        email: str | None = None,
        tool: str = "evsynth",
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_retry_after: float = 120.0,
        post_threshold: int = 200,
        throttle: FileThrottle | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = resolve_eutils_url(base_url)
        self.api_key = api_key if api_key is not None else (os.environ.get("NCBI_API_KEY") or None)
        self.email = email
        self.tool = tool
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.post_threshold = post_threshold
        self.throttle = throttle if throttle is not None else FileThrottle.for_ncbi(self.api_key)
        self.session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.requests_made = 0

    # -- helpers -------------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """``text`` with the API key (and any ``api_key=`` value) replaced by ``***``."""
        if self.api_key:
            text = text.replace(self.api_key, "***")
        return re.sub(r"(api_key=)[^&\s'\"]+", r"\1***", text)

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        full = {k: v for k, v in params.items() if v is not None}
        full["tool"] = self.tool
        if self.email:
            full["email"] = self.email
        if self.api_key:
            full["api_key"] = self.api_key
        return full

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max, self.backoff_base * 2**attempt) * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    @staticmethod
    def _retry_after(value: str | None) -> float | None:
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())

    def _attempt(self, method: str, url: str, params: dict[str, Any]) -> bytes:
        self.throttle.wait()
        self.requests_made += 1
        try:
            # With an API key every request is a POST, so the key travels in the body and never in a
            # URL that urllib3, proxies or server logs would record.
            if method == "POST" or self.api_key:
                resp = self.session.post(url, data=params, timeout=self.timeout, allow_redirects=False)
            else:
                resp = self.session.get(url, params=params, timeout=self.timeout, allow_redirects=False)
            body = resp.content
        except requests.Timeout as exc:
            raise _Retryable(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from None
        except requests.ConnectionError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise _Retryable(f"request failed ({type(exc).__name__})") from None
        status = resp.status_code
        if status == 200:
            return body
        if status == 429:
            raise _Retryable("HTTP 429 Too Many Requests", self._retry_after(resp.headers.get("Retry-After")))
        if status >= 500 or status == 408:
            raise _Retryable(f"HTTP {status}")
        if 300 <= status < 400:
            where = self.redact(resp.headers.get("Location", "?"))
            raise _Retryable(f"HTTP {status} redirect to {where} (not followed)")
        raise EutilsPermanentError(f"{url}: HTTP {status}, which retrying cannot fix")

    def request(
        self,
        endpoint: str,
        params: dict[str, Any],
        *,
        method: str = "GET",
        validate: Callable[[bytes], T] = lambda body: body,  # type: ignore[assignment,return-value]
    ) -> tuple[bytes, T]:
        """Send one E-utilities request, retrying until ``validate(body)`` accepts the answer.

        Parameters
        ----------
        endpoint : str
            e.g. ``"esearch.fcgi"``.
        params : dict
            Query parameters (``tool``, ``email``, ``api_key`` are added).
        method : {"GET", "POST"}
        validate : callable
            Called with the body of a 200 answer; raises :class:`EutilsResponseError` to reject it.

        Returns
        -------
        (bytes, object)
            The raw body and ``validate``'s result.

        Raises
        ------
        EutilsPermanentError
            After ``max_retries + 1`` failed attempts (or at once for a non-retryable HTTP status).
            :class:`MissingRecordsError` when the last failure was records missing from the answer.
        """
        url = self.base_url + endpoint
        full = self._params(params)
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                body = self._attempt(method, url, full)
                return body, validate(body)
            except _Retryable as exc:
                last, retry_after = exc, exc.retry_after
            except EutilsResponseError as exc:
                last = exc
            except EutilsPermanentError as exc:
                raise EutilsPermanentError(self.redact(str(exc))) from None
            if attempt < self.max_retries:
                delay = self._backoff(attempt, retry_after)
                log.warning(
                    "%s attempt %d/%d failed: %s; retrying in %.2f s",
                    endpoint, attempt + 1, self.max_retries + 1, self.redact(str(last)), delay,
                )
                self._sleep(delay)
        reason = self.redact(str(last))
        message = f"{url}: gave up after {self.max_retries + 1} attempts; last failure: {reason}"
        if isinstance(last, _MissingInAnswer):
            raise MissingRecordsError(message, last.missing)
        raise EutilsPermanentError(message)

    # -- E-utilities -------------------------------------------------------------------------
    def esearch(
        self,
        term: str,
        *,
        mindate: str | None = None,
        maxdate: str | None = None,
        datetype: str = "pdat",
        page_size: int = ESEARCH_MAX_RESULTS,
        limit: int = ESEARCH_MAX_RESULTS,
    ) -> SearchResult:
        """Search PubMed with the history server and collect every matching PMID.

        Pages with ``retstart`` (same ``WebEnv``) until all ``Count`` PMIDs are in hand.

        Parameters
        ----------
        limit : int
            The most records accepted (PubMed's own cap, 9,999, by default; tests use a small one).
            :func:`evsynth.pubmed.search.search_pubmed` splits larger searches by date.

        Raises
        ------
        SearchTooLargeError
            The query matches more than ``limit`` records (split it by date).
        EutilsPermanentError
            The count changed between pages, or requests kept failing.
        """
        if not term or not term.strip():
            raise ValueError("term: the search query is empty")
        if (mindate is None) != (maxdate is None):
            raise ValueError("mindate and maxdate must be given together (E-utilities ignores one alone)")
        params: dict[str, Any] = {"db": "pubmed", "term": term, "usehistory": "y", "retmax": page_size}
        if mindate is not None:
            params.update(mindate=mindate, maxdate=maxdate, datetype=datetype)
        _, first = self.request("esearch.fcgi", dict(params, retstart=0), method="POST", validate=parse_esearch)
        if first.count > limit:
            raise SearchTooLargeError(
                f"query matches {first.count} records; PubMed ESearch returns at most {limit}: "
                "split the query by date (mindate/maxdate)",
                first.count, limit, first.query_translation, first.phrases_not_found,
            )
        pmids = list(first.pmids)
        while len(pmids) < first.count:
            page_params = dict(params, retstart=len(pmids), WebEnv=first.webenv)
            _, page = self.request("esearch.fcgi", page_params, method="POST", validate=parse_esearch)
            if page.count != first.count:
                raise EutilsPermanentError(
                    f"esearch count changed while paging ({first.count} -> {page.count}); rerun the search"
                )
            if not page.pmids:
                raise EutilsPermanentError(
                    f"esearch returned no ids at retstart={len(pmids)} although count is {first.count}"
                )
            pmids.extend(page.pmids)
        if len(set(pmids)) != first.count:
            raise EutilsPermanentError(
                f"esearch returned {len(set(pmids))} distinct PMIDs but reported count {first.count}"
            )
        first.pmids = pmids
        return first

    def efetch(
        self,
        pmids: Sequence[str] | None = None,
        *,
        webenv: str | None = None,
        query_key: str | None = None,
        retstart: int = 0,
        retmax: int | None = None,
    ) -> tuple[bytes, list[str]]:
        """Fetch PubMed XML records, either by explicit PMIDs or from the history server.

        Parameters
        ----------
        pmids : sequence of str, optional
            Explicit PMIDs (validated; sent by POST when more than ``post_threshold``). The answer
            must hold exactly these PMIDs: a missing or unrequested PMID is a failed attempt.
        webenv, query_key, retstart, retmax
            History-server retrieval, used when ``pmids`` is None; the answer must hold ``retmax``
            records (no PMID list to compare against).

        Returns
        -------
        (bytes, list of str)
            The raw ``PubmedArticleSet`` XML and the PMIDs in it.
        """
        params: dict[str, Any] = {"db": "pubmed", "retmode": "xml"}
        if pmids is not None:
            wanted = validate_pmids(pmids)
            if not wanted:
                raise ValueError("pmids: empty list")
            params["id"] = ",".join(wanted)
            method = "POST" if len(wanted) > self.post_threshold else "GET"

            def check(body: bytes) -> list[str]:
                got = efetch_pmids(body)
                extra = sorted(set(got) - set(wanted), key=int)
                missing = sorted(set(wanted) - set(got), key=int)
                if extra:
                    raise EutilsResponseError(f"efetch returned PMIDs that were not requested: {', '.join(extra)}")
                if missing:
                    raise _MissingInAnswer(
                        f"efetch answer lacks {len(missing)} requested PMID(s): {', '.join(missing)}", missing
                    )
                return got

        else:
            if not webenv or not query_key or retmax is None:
                raise ValueError("efetch needs pmids, or webenv + query_key + retmax")
            params.update(WebEnv=webenv, query_key=query_key, retstart=retstart, retmax=retmax)
            method = "GET"

            def check(body: bytes) -> list[str]:
                got = efetch_pmids(body)
                if len(got) != retmax:
                    raise _MissingInAnswer(f"efetch returned {len(got)} records, expected {retmax}", [])
                return got

        return self.request("efetch.fcgi", params, method=method, validate=check)
