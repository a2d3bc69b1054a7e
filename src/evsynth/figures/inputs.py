"""Read and check the processed tables the figures are drawn from.

Every value is parsed explicitly, so bad input fails early with the file, row (line number in the
file, header = line 1) and column named, before any figure is written. Blank cells become NaN
(numbers) or ``""`` (text); nothing is filled in.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TEXT, NUMBER, FLAG = "text", "number", "flag"

POOLED = {
    "analysis_id": TEXT, "question": TEXT, "outcome": TEXT, "measure": TEXT, "window": TEXT,
    "window_label": TEXT, "hours_nominal": NUMBER, "variant": TEXT, "subgroup_var": TEXT,
    "subgroup_level": TEXT, "k": NUMBER, "n_studies": NUMBER, "participants": NUMBER, "beta": NUMBER,
    "se": NUMBER, "estimate": NUMBER, "ci_lb": NUMBER, "ci_ub": NUMBER, "pi_lb": NUMBER, "pi_ub": NUMBER,
    "pval": NUMBER, "tau2": NUMBER, "I2": NUMBER, "QE": NUMBER, "QEp": NUMBER, "method": TEXT, "test": TEXT,
    "converged": FLAG, "pooled": FLAG, "reason": TEXT, "studies": TEXT, "null_value": NUMBER,
}
POOLED_REQUIRED = ["analysis_id", "question", "outcome", "measure", "window", "variant", "subgroup_var",
                   "k", "estimate", "ci_lb", "ci_ub", "pooled"]

POOLED_STUDIES = {
    "analysis_id": TEXT, "window": TEXT, "study_id": TEXT, "comparison": TEXT, "label": TEXT, "hours": NUMBER,
    "yi": NUMBER, "vi": NUMBER, "estimate": NUMBER, "ci_lb": NUMBER, "ci_ub": NUMBER, "weight": NUMBER,
    "n_exp": NUMBER, "n_ctrl": NUMBER, "drug": TEXT, "design": TEXT, "regimen": TEXT, "stratum": TEXT,
}
POOLED_STUDIES_REQUIRED = ["analysis_id", "window", "study_id", "label", "yi", "vi", "estimate", "ci_lb",
                           "ci_ub", "weight"]

SIDE_EFFECTS = {
    "event": TEXT, "drug": TEXT, "k_arms": NUMBER, "participants_exp": NUMBER, "incidence": NUMBER,
    "incidence_ci_lb": NUMBER, "incidence_ci_ub": NUMBER, "k": NUMBER, "participants": NUMBER, "rr": NUMBER,
    "rr_ci_lb": NUMBER, "rr_ci_ub": NUMBER, "rd": NUMBER, "rd_ci_lb": NUMBER, "rd_ci_ub": NUMBER,
    "pooled": FLAG, "reason": TEXT, "studies": TEXT,
}
SIDE_EFFECTS_REQUIRED = ["event", "drug", "incidence", "incidence_ci_lb", "incidence_ci_ub", "rr", "rr_ci_lb",
                         "rr_ci_ub"]

SMALL_STUDY = {"analysis_id": TEXT, "window": TEXT, "k": NUMBER, "egger_z": NUMBER, "egger_p": NUMBER,
               "trimfill_k0": NUMBER}
SMALL_STUDY_REQUIRED = ["analysis_id", "window", "egger_z", "egger_p"]

ROB_DOMAINS = ["rob_randomization", "rob_deviations", "rob_missing", "rob_measurement", "rob_selection"]
ROB_COLUMNS = ROB_DOMAINS + ["rob_overall"]
ROB_VALUES = ("low", "some_concerns", "high")
STUDIES = {"study_id": TEXT, "year": NUMBER, "drug": TEXT} | {c: TEXT for c in ROB_COLUMNS}
STUDIES_REQUIRED = ["study_id"] + ROB_COLUMNS

PRISMA_COUNTS = ["identified_total", "duplicates_removed", "screened", "excluded_screening",
                 "assessed_eligibility", "excluded_eligibility", "awaiting_assessment", "included_reports",
                 "included_studies"]
PRISMA_BREAKDOWNS = ["identified", "excluded_screening_reasons", "excluded_eligibility_reasons"]


class FigureInputError(ValueError):
    """An input table or file the figures cannot be drawn from; the message names where."""


@dataclass
class Inputs:
    """Everything :func:`evsynth.figures.render_all` draws from."""

    pooled: pd.DataFrame
    pooled_studies: pd.DataFrame
    onset: dict
    side_effects: pd.DataFrame
    small_study: pd.DataFrame
    studies: pd.DataFrame
    prisma: dict = field(default_factory=dict)


def _flag(value: str, where: str) -> object:
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    if v in ("", "nan", "na"):
        return None
    raise FigureInputError(f"{where}: expected True/False, got {value!r}")


def _number(value: str, where: str) -> float:
    v = value.strip()
    if v in ("", "NA", "NaN", "nan"):
        return math.nan
    try:
        return float(v)
    except ValueError:
        raise FigureInputError(f"{where}: expected a number, got {value!r}") from None


def read_table(path: Path, spec: dict[str, str], required: list[str]) -> pd.DataFrame:
    """Read a CSV, check its ``required`` columns, and parse the columns named in ``spec``.

    Parameters
    ----------
    path : Path
        CSV file. A zero-byte file is read as an empty table.
    spec : dict
        Column -> ``"text"``, ``"number"`` or ``"flag"``. Columns absent from the file (and not
        required) are added blank; columns not in ``spec`` are kept as text.
    required : list of str
        Columns that must be present in the header.

    Raises
    ------
    FigureInputError
        A required column is missing, or a cell cannot be parsed (file, line and column named).
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except FileNotFoundError:
        raise FigureInputError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        raw = pd.DataFrame(columns=required)
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise FigureInputError(f"{path}: missing column(s) {', '.join(missing)}")
    out = raw.copy()
    for col, kind in spec.items():
        if col not in raw.columns:
            out[col] = "" if kind == TEXT else (None if kind == FLAG else np.nan)
            continue
        if kind == TEXT:
            out[col] = raw[col].str.strip()
            continue
        parse = _number if kind == NUMBER else _flag
        values = [parse(v, f"{path}, line {i + 2}, column {col!r}") for i, v in enumerate(raw[col])]
        out[col] = pd.Series(values, index=raw.index, dtype=float if kind == NUMBER else object)
    return out.reset_index(drop=True)


def read_json_file(path: Path) -> object:
    """Load JSON, naming the file and position when it is malformed."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FigureInputError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise FigureInputError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None


def check_rob(studies: pd.DataFrame, path: Path) -> None:
    """Every risk-of-bias judgement is ``low``, ``some_concerns``, ``high`` or blank."""
    for i, row in studies.iterrows():
        for col in ROB_COLUMNS:
            if row[col] not in ROB_VALUES + ("",):
                raise FigureInputError(
                    f"{path}, line {i + 2}, column {col!r}: expected one of {', '.join(ROB_VALUES)} or blank, "
                    f"got {row[col]!r}")


def _count(value, where: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
        raise FigureInputError(f"{where}: expected a non-negative whole number or null, got {value!r}")
    return int(value)


def check_prisma(counts: object, path: Path) -> dict:
    """Check prisma.json: counts are non-negative integers or null; breakdowns are {label: count}."""
    if not isinstance(counts, dict):
        raise FigureInputError(f"{path}: expected a JSON object")
    out = {key: _count(counts.get(key), f"{path}, key {key!r}") for key in PRISMA_COUNTS}
    for key in PRISMA_BREAKDOWNS:
        part = counts.get(key) or {}
        if not isinstance(part, dict):
            raise FigureInputError(f"{path}, key {key!r}: expected an object of {{label: count}}")
        out[key] = {str(k): _count(v, f"{path}, key {key!r}.{k!r}") for k, v in part.items()}
    return counts | out  # checked counts, plus any further keys (e.g. studies identified via other methods)


def check_onset(timecourse: object, path: Path) -> dict:
    """Check onset_timecourse.json: {analysis_id: {"measure", "windows": [...], "earliest"}}."""
    if not isinstance(timecourse, dict):
        raise FigureInputError(f"{path}: expected a JSON object keyed by analysis_id")
    for aid, entry in timecourse.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("windows", []), list):
            raise FigureInputError(f"{path}, analysis {aid!r}: expected an object with a 'windows' list")
        for j, win in enumerate(entry.get("windows", [])):
            if not isinstance(win, dict):
                raise FigureInputError(f"{path}, analysis {aid!r}, windows[{j}]: expected an object")
            for key in ("hours", "estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "k"):
                value = win.get(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise FigureInputError(
                        f"{path}, analysis {aid!r}, windows[{j}].{key}: expected a number or null, got {value!r}")
        earliest = entry.get("earliest")
        if earliest is not None and not isinstance(earliest, dict):
            raise FigureInputError(f"{path}, analysis {aid!r}, earliest: expected an object or null")
    return timecourse


def load_inputs(processed_dir: Path) -> Inputs:
    """Read and check every table the figures use from ``processed_dir``.

    ``small_study_tests.csv`` is optional (no funnel annotation without it); every other file
    must exist, but may be empty (header only) when nothing was pooled.
    """
    d = Path(processed_dir)
    small_path = d / "small_study_tests.csv"
    small = (read_table(small_path, SMALL_STUDY, SMALL_STUDY_REQUIRED) if small_path.exists()
             else pd.DataFrame({c: pd.Series(dtype=object if k == TEXT else float) for c, k in SMALL_STUDY.items()}))
    studies = read_table(d / "studies.csv", STUDIES, STUDIES_REQUIRED)
    check_rob(studies, d / "studies.csv")
    return Inputs(
        pooled=read_table(d / "pooled.csv", POOLED, POOLED_REQUIRED),
        pooled_studies=read_table(d / "pooled_studies.csv", POOLED_STUDIES, POOLED_STUDIES_REQUIRED),
        onset=check_onset(read_json_file(d / "onset_timecourse.json"), d / "onset_timecourse.json"),
        side_effects=read_table(d / "side_effects.csv", SIDE_EFFECTS, SIDE_EFFECTS_REQUIRED),
        small_study=small,
        studies=studies,
        prisma=check_prisma(read_json_file(d / "prisma.json"), d / "prisma.json"),
    )
