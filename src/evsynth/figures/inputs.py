"""Read and check the processed tables the figures are drawn from.

Tables are read through the registry (:func:`evsynth.processed.read_table`), so bad input fails
early with the file, row and column named, before any figure is written. Blank cells become NaN
(numbers) or ``""`` (text); nothing is filled in. The JSON documents and risk-of-bias values get
the checks below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evsynth.errors import InputError
from evsynth.processed import ProcessedTableError, read_document, read_table

ROB_DOMAINS = ["rob_randomization", "rob_deviations", "rob_missing", "rob_measurement", "rob_selection"]
ROB_COLUMNS = ROB_DOMAINS + ["rob_overall"]
ROB_VALUES = ("low", "some_concerns", "high")

PRISMA_COUNTS = ["identified_total", "duplicates_removed", "screened", "excluded_screening",
                 "assessed_eligibility", "excluded_eligibility", "awaiting_assessment", "included_reports",
                 "included_studies"]
PRISMA_BREAKDOWNS = ["identified", "excluded_screening_reasons", "excluded_eligibility_reasons"]


class FigureInputError(InputError, ValueError):
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
    duration: dict | None = None


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


def check_duration(doc: object, path: Path) -> dict:
    """Check duration_timecourse.json: {"analyses": {id: {"regimens": {regimen: {"windows": [...]}}}}, ...}."""
    if not isinstance(doc, dict) or not isinstance(doc.get("analyses"), dict):
        raise FigureInputError(f"{path}: expected a JSON object with an 'analyses' object")
    for aid, entry in doc["analyses"].items():
        regimens = entry.get("regimens") if isinstance(entry, dict) else None
        if not isinstance(regimens, dict):
            raise FigureInputError(f"{path}, analysis {aid!r}: expected an object with a 'regimens' object")
        for reg, course in regimens.items():
            check_onset({f"{aid}/{reg}": course}, path)
    return doc


def load_inputs(paths: Mapping[str, str | Path]) -> Inputs:
    """Read and check every table the figures use.

    Parameters
    ----------
    paths : mapping
        Registered name (:mod:`evsynth.processed`) -> file: ``pooled``, ``pooled_studies``,
        ``onset_timecourse``, ``side_effects``, ``small_study_tests``, ``studies``, ``prisma``, and
        (optional) ``duration_timecourse``.
        Each table is checked against its registered layout when read.
    """
    try:
        studies = read_table("studies", paths["studies"])
        check_rob(studies, Path(paths["studies"]))
        return Inputs(
            pooled=read_table("pooled", paths["pooled"]),
            pooled_studies=read_table("pooled_studies", paths["pooled_studies"]),
            onset=check_onset(read_document("onset_timecourse", paths["onset_timecourse"]), Path(paths["onset_timecourse"])),
            side_effects=read_table("side_effects", paths["side_effects"]),
            small_study=read_table("small_study_tests", paths["small_study_tests"]),
            studies=studies,
            prisma=check_prisma(read_document("prisma", paths["prisma"]), Path(paths["prisma"])),
            duration=(check_duration(read_document("duration_timecourse", paths["duration_timecourse"]),
                                     Path(paths["duration_timecourse"]))
                      if "duration_timecourse" in paths else None),
        )
    except ProcessedTableError as err:
        raise FigureInputError(str(err)) from None
