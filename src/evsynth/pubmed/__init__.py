"""PubMed retrieval (NCBI E-utilities) and MEDLINE XML parsing.

Modules
-------
client    the E-utilities HTTP client: all network access, retries, answer validation
throttle  the cross-process request budget (3/s, or 10/s with an API key)
search    ``search_pubmed``: date ranges, splitting searches past ESearch's 10,000-record cap
retrieve  ``fetch``: search + batched EFetch into a resumable snapshot directory
parser    ``parse_medline``: streaming MEDLINE XML parser
cli       ``evsynth fetch``
"""

from evsynth.parsers.medline_xml import RECORD_FIELDS, MedlineParseError, parse_medline
from evsynth.pubmed.client import (
    EutilsClient,
    EutilsError,
    EutilsPermanentError,
    EutilsResponseError,
    MissingRecordsError,
    SearchResult,
)
from evsynth.pubmed.retrieve import fetch
from evsynth.pubmed.throttle import FileThrottle

__all__ = [
    "RECORD_FIELDS",
    "EutilsClient",
    "EutilsError",
    "EutilsPermanentError",
    "EutilsResponseError",
    "FileThrottle",
    "MedlineParseError",
    "MissingRecordsError",
    "SearchResult",
    "fetch",
    "parse_medline",
]
