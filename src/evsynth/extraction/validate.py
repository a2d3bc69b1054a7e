"""Cross-table rules for the extraction tables, and the ``evsynth validate`` command.

The column schema (see :mod:`evsynth.extraction.tables`) checks each cell on its own; the rules
here check what needs more than one cell: identifiers resolve, events do not exceed n,
confidence intervals contain their estimate, an arm's n agrees across tables, adverse-event
terms are in the controlled vocabulary.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from evsynth.errors import nearest
from evsynth.extraction.tables import ExtractionError, Problem, Table, load_tables

RATIO_MEASURES = {"RR", "OR", "HR"}


def _rows(table: Table):
    return zip(table.records, table.lines)


def _check_ids(tables: dict[str, Table]) -> list[Problem]:
    problems = []
    studies = {r["study_id"] for r in tables["studies"].records}
    arms = {(r["study_id"], r["arm_id"]) for r in tables["arms"].records}
    roles = defaultdict(set)
    for r in tables["arms"].records:
        roles[r["study_id"]].add(r["role"])
    control_arms = {(r["study_id"], r["arm_id"]) for r in tables["arms"].records if r["role"] == "control"}
    for rec, line in _rows(tables["arms"]):
        if rec["study_id"] not in studies:
            problems.append(Problem(str(tables["arms"].path), line, "study_id", f"unknown study {rec['study_id']!r}"))
        target = rec.get("compare_to")
        if target is not None and (rec["study_id"], target) not in control_arms:
            problems.append(Problem(str(tables["arms"].path), line, "compare_to",
                                    f"{target!r} is not a control arm of {rec['study_id']!r}"))
    for name in ("outcomes", "contrasts", "adverse_events"):
        t = tables[name]
        for rec, line in _rows(t):
            for col in ("arm_id", "control_arm_id"):
                if col in rec and rec[col] is not None and (rec["study_id"], rec[col]) not in arms:
                    problems.append(
                        Problem(str(t.path), line, col, f"arm {rec[col]!r} is not an arm of {rec['study_id']!r}")
                    )
    for rec, line in _rows(tables["studies"]):
        if rec.get("pmid") is None and rec.get("doi") is None and rec.get("pmcid") is None:
            problems.append(Problem(str(tables["studies"].path), line, "pmid",
                                    "a study needs a PMID or, where no page showed one, a DOI or PMCID"))
        missing = {"experimental", "control"} - roles[rec["study_id"]]
        if missing:
            problems.append(
                Problem(str(tables["studies"].path), line, "study_id",
                        f"study has no {' and no '.join(sorted(missing))} arm in arms.csv")
            )
    # decisions may name a study not yet extracted: "included, awaiting extraction" (reported, not an error)
    for rec, line in _rows(tables["contrasts"]):
        if rec.get("reference_arm") is not None and rec["reference_arm"] not in (rec["arm_id"], rec["control_arm_id"]):
            problems.append(Problem(str(tables["contrasts"].path), line, "reference_arm",
                                    f"{rec['reference_arm']!r} is neither arm_id nor control_arm_id of this row"))
        if rec["measure"] == "HR" and rec.get("reference_arm") is None:
            problems.append(Problem(str(tables["contrasts"].path), line, "reference_arm",
                                    "a hazard ratio must state its reference arm (the denominator, as the source "
                                    "states it)"))
    return problems


def _check_counts(tables: dict[str, Table]) -> list[Problem]:
    problems = []
    arm_n = {(r["study_id"], r["arm_id"]): r.get("n_randomized") for r in tables["arms"].records}
    for rec, line in _rows(tables["arms"]):
        analyzed, randomized = rec.get("n_analyzed"), rec.get("n_randomized")
        if analyzed is not None and randomized is not None and analyzed > randomized:
            problems.append(Problem(str(tables["arms"].path), line, "n_analyzed",
                                        f"{rec['n_analyzed']} analyzed > {rec['n_randomized']} randomized"))
    for name in ("outcomes", "adverse_events"):
        t = tables[name]
        for rec, line in _rows(t):
            events, n = rec.get("events"), rec.get("n")
            if events is not None and n is not None and events > n:
                problems.append(Problem(str(t.path), line, "events", f"{events} events > n = {n}"))
            limit = arm_n.get((rec["study_id"], rec["arm_id"]))
            if n is not None and limit is not None and n > limit:
                problems.append(Problem(str(t.path), line, "n",
                                        f"n = {n} exceeds the arm's n_randomized = {limit} in arms.csv"))
            if name == "outcomes" and rec["stat"] == "events" and (events is None or n is None):
                problems.append(Problem(str(t.path), line, "events" if events is None else "n",
                                        "stat 'events' needs both events and n"))
            if name == "outcomes" and rec["stat"] != "events" and events is not None:
                problems.append(Problem(str(t.path), line, "events", f"events given for stat {rec['stat']!r}"))
    # parallel designs: the arms cannot hold more participants than the study randomized
    totals = defaultdict(int)
    for r in tables["arms"].records:
        totals[r["study_id"]] += r.get("n_randomized") or 0
    for rec, line in _rows(tables["studies"]):
        if rec["design"] == "parallel" and rec.get("n_randomized") and totals[rec["study_id"]] > rec["n_randomized"]:
            problems.append(Problem(str(tables["studies"].path), line, "n_randomized",
                                    f"arms sum to {totals[rec['study_id']]} > study n_randomized {rec['n_randomized']}"))
    return problems


def _check_intervals(tables: dict[str, Table]) -> list[Problem]:
    problems = []
    for name, est_col in (("outcomes", "mean"), ("contrasts", "estimate")):
        t = tables[name]
        for rec, line in _rows(t):
            lb, ub, est = rec.get("ci_lb"), rec.get("ci_ub"), rec.get(est_col)
            if (lb is None) != (ub is None):
                problems.append(Problem(str(t.path), line, "ci_ub" if ub is None else "ci_lb",
                                        "a confidence interval needs both bounds"))
                continue
            if lb is None:
                continue
            if not lb < ub:
                problems.append(Problem(str(t.path), line, "ci_lb", f"ci_lb {lb} is not below ci_ub {ub}"))
            elif est is not None and not lb <= est <= ub:
                problems.append(Problem(str(t.path), line, est_col, f"{est} lies outside its CI [{lb}, {ub}]"))
            if name == "contrasts" and rec["measure"] in RATIO_MEASURES and lb <= 0:
                problems.append(Problem(str(t.path), line, "ci_lb", f"a {rec['measure']} CI must be > 0"))
        for rec, line in _rows(t):
            if (rec.get("timepoint") is None) != (rec.get("timepoint_unit") is None):
                problems.append(Problem(str(t.path), line, "timepoint_unit",
                                        "timepoint and timepoint_unit go together"))
    t = tables["contrasts"]
    for rec, line in _rows(t):
        if rec["measure"] in RATIO_MEASURES and rec.get("estimate") is not None and rec["estimate"] <= 0:
            problems.append(Problem(str(t.path), line, "estimate", f"a {rec['measure']} must be > 0"))
    return problems


def _nearest(name: str, known) -> str:
    close = nearest(name, known)
    return f" (nearest known: {close!r})" if close else ""


def _check_vocabulary(tables: dict[str, Table]) -> list[Problem]:
    """Adverse-event terms and outcome names against their controlled vocabularies."""
    problems = []
    outcomes = {r["outcome"] for r in tables["outcome_vocabulary"].records}
    vocab_file = tables["outcome_vocabulary"].path.name
    for name in ("outcomes", "contrasts"):
        t = tables[name]
        for rec, line in _rows(t):
            if rec["outcome"] not in outcomes:
                problems.append(Problem(str(t.path), line, "outcome", f"{rec['outcome']!r} is not an outcome in "
                                        f"vocabulary/{vocab_file}{_nearest(rec['outcome'], outcomes)}"))
    vocab = tables["ae_vocabulary"]
    terms = {r["event"] for r in vocab.records} | {"other"}
    mapped = {r["reported_term"].casefold(): r["event"] for r in vocab.records}
    t = tables["adverse_events"]
    for rec, line in _rows(t):
        if rec["event"] not in terms:
            problems.append(Problem(str(t.path), line, "event", f"{rec['event']!r} is not a controlled term in "
                                    f"vocabulary/{vocab.path.name}{_nearest(rec['event'], terms)}"))
        expected = mapped.get(rec["reported_term"].casefold())
        if expected is not None and expected != rec["event"] and rec["event"] != "other":
            problems.append(Problem(str(t.path), line, "event",
                                    f"reported term {rec['reported_term']!r} maps to {expected!r} in the vocabulary"))
    return problems


def _check_term_rows(tables: dict[str, Table]) -> list[Problem]:
    """One arm and period, several rows mapped to one controlled term: exactly one is marked ``use = yes``.

    (e.g. Daly2019's "Dizziness" and "Dizziness postural" both map to ``dizziness``; incidence and
    RR/RD must describe the same events, so the table says which row stands for the term.)
    """
    t = tables["adverse_events"]
    groups = defaultdict(list)
    for rec, line in _rows(t):
        if rec["event"] != "other":
            groups[(rec["study_id"], rec["arm_id"], rec.get("period") or "", rec["event"])].append((rec, line))
    problems = []
    for (study, arm, period, event), rows in groups.items():
        marks = [r.get("use") for r, _ in rows]
        if len(rows) == 1:
            if marks[0] == "no":
                problems.append(Problem(str(t.path), rows[0][1], "use",
                                        f"the only {event!r} row of arm {arm!r} is marked 'no'"))
            continue
        if marks.count("yes") != 1 or marks.count(None):
            terms = ", ".join(repr(r["reported_term"]) for r, _ in rows)
            lines = ", ".join(str(line) for _, line in rows)
            problems.append(Problem(str(t.path), rows[0][1], "use",
                                    f"{study} arm {arm!r}{' period ' + period if period else ''}: {len(rows)} rows map "
                                    f"to {event!r} ({terms}; rows {lines}); mark exactly one 'yes' and the others 'no'"))
    return problems


def check_rules(tables: dict[str, Table], schema_doc: dict | None = None) -> list[Problem]:
    """Apply the cross-table rules; return the problems found (empty when clean)."""
    if any(not tables[n].records for n in ("studies", "arms")):
        return []
    problems = []
    for check in (_check_ids, _check_counts, _check_intervals, _check_vocabulary, _check_term_rows):
        problems.extend(check(tables))
    return problems


def validate(directory: Path, schema: Path | None = None) -> list[Problem]:
    """Validate the extraction tables in ``directory``; return every problem found."""
    tables, schema_doc, problems = load_tables(Path(directory), schema)
    return problems + check_rules(tables, schema_doc)


def load_frames(directory: Path | None, schema: Path | None = None, paths: dict | None = None,
                allow_empty: bool = False) -> dict[str, pd.DataFrame]:
    """Load and validate the extraction tables; return one DataFrame per table.

    ``paths`` (table name -> file) replaces ``directory`` when given; ``allow_empty`` accepts
    tables without rows (see :func:`evsynth.extraction.tables.load_tables`).

    Raises
    ------
    ExtractionError
        listing every problem (file, row, column) when any table fails validation.
    """
    tables, schema_doc, problems = load_tables(directory, schema, paths=paths, allow_empty=allow_empty)
    problems.extend(check_rules(tables, schema_doc))
    if problems:
        raise ExtractionError(problems)
    return {name: tables[name].frame(list(spec["columns"])) for name, spec in schema_doc["tables"].items()}
