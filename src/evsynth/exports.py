"""Exports: included studies as RIS and BibTeX, effect sizes as a metafor-ready CSV.

The metafor CSV reads straight into R::

    dat <- read.csv("effects_metafor.csv")
    res <- rma(yi, vi, data = dat, subset = family == "depression" & window == "24h", test = "knha")
"""

from __future__ import annotations

import re

import pandas as pd

METAFOR_COLUMNS = ["study", "comparison", "family", "outcome", "measure", "stat", "timepoint", "timepoint_unit",
                   "hours", "timepoint_ref", "period", "stratum", "design", "yi", "vi", "n1i", "n2i", "ai", "ci",
                   "m1i", "m2i", "sd1i", "sd2i", "derivation"]


def _value(x) -> str:
    return "" if x is None or (isinstance(x, float) and pd.isna(x)) or pd.isna(x) else str(x)


def _authors(record: pd.Series) -> list[str]:
    return [a for a in _value(record.get("authors")).split("|") if a]


def _record(studies_row: pd.Series, records: pd.DataFrame) -> pd.Series:
    if pd.isna(studies_row.pmid):
        return pd.Series(dtype=object)
    match = records[records.pmid.astype(str) == str(studies_row.pmid)]
    return match.iloc[0] if len(match) else pd.Series(dtype=object)


def to_ris(studies: pd.DataFrame, records: pd.DataFrame) -> str:
    """RIS (Research Information Systems) records, one per included study's primary report."""
    out = []
    for _, s in studies.sort_values("study_id").iterrows():
        r = _record(s, records)
        lines = ["TY  - JOUR", f"ID  - {s.study_id}"]
        lines += [f"AU  - {a}" for a in _authors(r)]
        for tag, value in (("TI", r.get("title")), ("JO", r.get("journal")), ("PY", r.get("year", s.year)),
                           ("VL", r.get("volume")), ("IS", r.get("issue")), ("SP", r.get("pages")),
                           ("DO", s.get("doi")), ("AN", f"PMID:{s.pmid}" if pd.notna(s.pmid) else None),
                           ("C1", s.get("nct_id"))):
            if _value(value):
                lines.append(f"{tag}  - {_value(value)}")
        lines.append("ER  - ")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _bib_escape(text: str) -> str:
    return re.sub(r"([&%$#_{}])", r"\\\1", text)


def to_bibtex(studies: pd.DataFrame, records: pd.DataFrame) -> str:
    """BibTeX ``@article`` entries keyed by study id."""
    out = []
    for _, s in studies.sort_values("study_id").iterrows():
        r = _record(s, records)
        fields = {
            "author": " and ".join(_authors(r)), "title": _value(r.get("title")),
            "journal": _value(r.get("journal")), "year": _value(r.get("year", s.year)),
            "volume": _value(r.get("volume")), "number": _value(r.get("issue")),
            "pages": _value(r.get("pages")).replace("-", "--"), "doi": _value(s.get("doi")),
            "pmid": _value(s.pmid), "note": f"{_value(s.get('nct_id'))}".strip(),
        }
        body = ",\n".join(f"  {k} = {{{_bib_escape(v) if k not in ('doi',) else v}}}" for k, v in fields.items() if v)
        out.append(f"@article{{{s.study_id},\n{body}\n}}")
    return "\n\n".join(out) + "\n"


def metafor_csv(effects: pd.DataFrame) -> pd.DataFrame:
    """The effects table with metafor's column names (yi, vi, n1i, n2i, ai, ci, m1i, m2i, sd1i, sd2i)."""
    df = effects.rename(columns={
        "study_id": "study", "n_exp": "n1i", "n_ctrl_used": "n2i", "events_exp": "ai", "events_ctrl_used": "ci",
        "mean_exp": "m1i", "mean_ctrl": "m2i", "sd_exp": "sd1i", "sd_ctrl": "sd2i",
    })
    return df[METAFOR_COLUMNS]
