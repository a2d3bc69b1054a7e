"""What the bibliographic readers share: the record shape, text helpers and the input error.

Every reader (:mod:`~evsynth.parsers.medline_xml`, :mod:`~evsynth.parsers.medline_text`,
:mod:`~evsynth.parsers.ris`) yields dicts with the keys of :data:`COLUMNS` (the registered
``records`` table), list fields as lists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evsynth.errors import InputError
from evsynth.parsers.medline_xml import NCT_PATTERN, describe_invalid_utf8
from evsynth.processed import layout

#: Column order of the records table and of records.csv (the registered ``records`` layout).
COLUMNS = layout("records").column_names
LIST_FIELDS = ("authors", "pub_types", "mesh", "keywords", "nct_ids")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


class RecordsInputError(InputError, ValueError):
    """An input file cannot be read as records; the message names the file and line or record."""


def blank(source_db: str, source_file: str, record_type: str = "article") -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(COLUMNS)
    for key in LIST_FIELDS:
        rec[key] = []
    rec.update(source_db=source_db, source_file=source_file, record_type=record_type)
    return rec


def clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def first_year(*values: str | None) -> int | None:
    for value in values:
        match = _YEAR.search(value or "")
        if match:
            return int(match.group(1))
    return None


def nct_in(*texts: str | None) -> list[str]:
    found: set[str] = set()
    for text in texts:
        if text:
            found.update(NCT_PATTERN.findall(text))
    return sorted(found)


def read_lines(path: Path) -> list[str]:
    """The file's lines as UTF-8 text: a byte-order mark and CRLF/CR line ends are accepted.

    Lines are split on ``\\n`` only (so a stray form feed or U+2028 inside a field cannot shift the
    line numbers that error messages give), with a trailing ``\\r`` removed.

    Raises
    ------
    RecordsInputError
        A byte that is not UTF-8, named by line, byte offset and value.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordsInputError(f"{path}: {describe_invalid_utf8(path) or exc}") from exc
    if "\n" not in text and "\r" in text:  # old Mac line ends
        text = text.replace("\r", "\n")
    return [line.removesuffix("\r") for line in text.split("\n")]
