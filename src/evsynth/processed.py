"""The registry of processed tables: each derived file's name, default path and columns, in one place.

Every writer (pipeline steps) and every reader (figures, report, notebooks, the next step) goes
through :func:`write_table` / :func:`read_table` with a registered name, so a table's layout is
declared once. Reading checks the file against its declaration: an empty, truncated or binary
file, a missing or unexpected column, or a cell that does not parse as its column's kind is a
:class:`ProcessedTableError` naming the file, row and column — never read back as if valid.

The Snakefile takes the default paths from here (:func:`path_of`); rule scripts pass their
``snakemake.input`` / ``snakemake.output`` paths explicitly, so nothing in the package assumes a
folder layout.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evsynth.errors import InputError
from evsynth.io import read_json, write_csv, write_json

TEXT, NUMBER, INTEGER, FLAG = "text", "number", "integer", "flag"
PROCESSED_DIR = Path("data") / "processed"


class ProcessedTableError(InputError, ValueError):
    """A processed file that does not match its registered layout (the message names where)."""


@dataclass(frozen=True)
class TableLayout:
    """One processed CSV table: registered name, file name under ``data/processed`` and typed columns."""

    name: str
    filename: str
    columns: Mapping[str, str]
    description: str = ""
    #: built by ``snakemake`` (rule all requests it); False for tables other commands write
    pipeline: bool = True

    @property
    def path(self) -> Path:
        return PROCESSED_DIR / self.filename

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def empty(self) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(k)) for c, k in self.columns.items()})


@dataclass(frozen=True)
class JsonLayout:
    """One processed JSON document and the top-level keys it must hold."""

    name: str
    filename: str
    required_keys: tuple[str, ...] = ()
    description: str = ""

    @property
    def path(self) -> Path:
        return PROCESSED_DIR / self.filename


def _dtype(kind: str):
    return {TEXT: object, NUMBER: float, INTEGER: "Int64", FLAG: "boolean"}[kind]


def _cols(spec: str) -> dict[str, str]:
    """``"a b:n c:i d:f"`` -> ``{"a": TEXT, "b": NUMBER, "c": INTEGER, "d": FLAG}`` (declarations below)."""
    kinds = {"": TEXT, "n": NUMBER, "i": INTEGER, "f": FLAG}
    out = {}
    for item in spec.split():
        name, _, kind = item.partition(":")
        out[name] = kinds[kind]
    return out


TABLES: dict[str, TableLayout] = {t.name: t for t in [
    TableLayout("records", "records.csv", _cols(
        "record_id source_db source_file record_type pmid:i doi pmcid title abstract journal year:i volume issue "
        "pages authors pub_types mesh keywords nct_ids language"),
        "one row per unique bibliographic record"),
    TableLayout("records_duplicates", "records_duplicates.csv", _cols(
        "record_id source_db group kept match matched_to reason"), "records removed as duplicates"),
    TableLayout("screening", "screening.csv", _cols(
        "record_id pmid:i source_db year:i title stage decision reason study_id"),
        "every record's screening stage, decision and reason"),
    TableLayout("study_status", "study_status.csv", _cols("study_id status reason pmids"),
                "every extracted study: included, excluded (with the screening reason) or awaiting"),
    TableLayout("studies", "studies.csv", _cols(
        "study_id pmid:i year:i design population drug route comparator country n_randomized:i n_arms:i "
        "rob_randomization rob_deviations rob_missing rob_measurement rob_selection rob_overall title journal doi "
        "nct_id reports screening"), "characteristics of the included studies"),
    TableLayout("effects", "effects.csv", _cols(
        "study_id comparison arm_id control_arm_id family outcome measure stat timepoint:n timepoint_unit hours:n "
        "timepoint_ref period stratum design yi:n vi:n n_exp:n n_ctrl:n n_ctrl_used:n events_exp:n events_ctrl:n "
        "events_ctrl_used:n mean_exp:n mean_ctrl:n sd_exp:n sd_ctrl:n sd_method_exp sd_method_ctrl r:n "
        "reported_smd:f secondary:f derivation source_exp source_ctrl"),
        "one row per study x comparison x outcome x timepoint x measure"),
    TableLayout("effects_not_computed", "effects_not_computed.csv", _cols(
        "study_id arm_id outcome timepoint:n timepoint_unit timepoint_ref stat reason source"),
        "results that could not become effect sizes, with the reason"),
    TableLayout("pooled", "pooled.csv", _cols(
        "analysis_id question outcome measure window window_label hours_nominal:n variant omitted_study "
        "subgroup_var subgroup_level k:n n_studies:n participants:n beta:n se:n estimate:n ci_lb:n ci_ub:n pi_lb:n "
        "pi_ub:n level:n pval:n tau2:n I2:n QE:n QEp:n subgroup_Q:n subgroup_df:n subgroup_p:n method test "
        "converged:f pooled:f reason studies null_value:n"),
        "one row per analysis x window x variant"),
    TableLayout("pooled_studies", "pooled_studies.csv", _cols(
        "analysis_id window study_id comparison label hours:n yi:n vi:n estimate:n ci_lb:n ci_ub:n level:n weight:n "
        "n_exp:n n_ctrl:n events:n drug design regimen stratum"),
        "the study rows and weights behind every primary pooled result"),
    TableLayout("side_effects", "side_effects.csv", _cols(
        "event drug k_arms:n participants_exp:n events_exp:n incidence:n incidence_ci_lb:n incidence_ci_ub:n k:n "
        "participants:n rr:n rr_ci_lb:n rr_ci_ub:n rd:n rd_ci_lb:n rd_ci_ub:n level:n rr_events:n rr_I2:n "
        "rr_high_rob_weight:n rr_studies pooled:f reason studies"),
        "per adverse-event term and drug: pooled incidence, RR and RD against control"),
    TableLayout("side_effects_other", "side_effects_other.csv", _cols(
        "study_id reported_term drug arms events:n n:n also_mapped_elsewhere"),
        "reported terms mapped to 'other', with counts per trial"),
    TableLayout("summary_of_findings", "summary_of_findings.csv", _cols(
        "analysis_id outcome window window_label measure k:n participants:n estimate:n ci_lb:n ci_ub:n I2:n "
        "high_rob_weight:n rob_downgrade:n inconsistency_downgrade:n imprecision_downgrade:n "
        "publication_bias_downgrade:n certainty reasons"), "GRADE-style certainty"),
    TableLayout("small_study_tests", "small_study_tests.csv", _cols(
        "analysis_id window k:n egger_z:n egger_p:n trimfill_k0:n trimfill_estimate:n"),
        "Egger's test and trim-and-fill where k >= min_k_funnel"),
    TableLayout("benchmarks", "benchmarks.csv", _cols(
        "review comparison drug outcome window timepoint measure published:n published_ci_lb:n published_ci_ub:n "
        "published_level:n published_k:n published_participants:n published_model source source_url analysis_id "
        "our_variant our_window_label ours:n our_ci_lb:n our_ci_ub:n our_level:n our_k:n our_participants:n "
        "our_model our_studies matched:f difference:n difference_scale overlap why_may_differ reason"),
        "published pooled estimates beside ours (evsynth.analyses.benchmarks)"),
    TableLayout("effects_metafor", "exports/effects_metafor.csv", _cols(
        "study comparison family outcome measure stat timepoint:n timepoint_unit hours:n timepoint_ref period "
        "stratum design yi:n vi:n n1i:n n2i:n ai:n ci:n m1i:n m2i:n sd1i:n sd2i:n derivation"),
        "effects as a metafor-ready CSV"),
    TableLayout("multiverse", "multiverse.csv", _cols(
        "analysis_id window split spec:i estimator test crossover_r:n first_period_only:f outcome_order comparators "
        "risk_of_bias number_source window_edges omitted k:i n_studies:i measure level:n beta:n se:n estimate:n "
        "ci_lb:n ci_ub:n pval:n tau2:n converged:f primary:f reason"),
        "one row per multiverse specification (evsynth.analyses.multiverse)"),
]}

TABLES["screening_queue"] = TableLayout(
    "screening_queue", "screening_queue.csv", _cols(
        "pmid:i first_seen last_seen new_since_last_search in_latest_search title year:i pub_types language "
        "rules_suggest rule_reason"),
    "records awaiting a screening decision, written by `evsynth update` (evsynth.update)", pipeline=False)

DOCUMENTS: dict[str, JsonLayout] = {d.name: d for d in [
    JsonLayout("analysis_plan", "analysis_plan.json", ("analysis", "digest"),
               "the validated analysis section the run used (notebooks rebuild the plan from it)"),
    JsonLayout("search", "search.json", ("query", "count"), "the search behind the records"),
    JsonLayout("prisma", "prisma.json", ("identified_total", "screened", "included_studies"), "PRISMA 2020 counts"),
    JsonLayout("onset_timecourse", "onset_timecourse.json", (), "time courses and earliest/latest windows"),
    JsonLayout("multiverse_summary", "multiverse_summary.json", ("multiverses",),
               "per multiverse: size, factor levels, shares, null-curve test (evsynth.analyses.multiverse)"),
    JsonLayout("duration_timecourse", "duration_timecourse.json", ("analyses", "uncontrolled"),
               "duration by regimen: latest distinguishable window, bootstrap, multilevel model, where data stop; "
               "uncontrolled follow-ups"),
]}


def pipeline_paths(root: str | os.PathLike = ".") -> list[str]:
    """Default paths of every registered table and document the Snakemake workflow builds."""
    return [path_of(n, root) for n, t in TABLES.items() if t.pipeline] + [path_of(n, root) for n in DOCUMENTS]


def layout(name: str) -> TableLayout:
    """The registered layout of a processed table (KeyError names the known ones)."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no processed table {name!r}; registered: {', '.join(sorted(TABLES))}") from None


def path_of(name: str, root: str | os.PathLike = ".") -> str:
    """The default path of a registered table or document, relative to ``root`` (for the Snakefile)."""
    spec = TABLES.get(name) or DOCUMENTS.get(name)
    if spec is None:
        raise KeyError(f"no processed table or document {name!r}")
    return str(Path(root) / spec.path)


def write_table(name: str, df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as the registered table ``name``: exactly its columns, in registry order, atomically."""
    spec = layout(name)
    missing = [c for c in spec.columns if c not in df.columns]
    extra = [c for c in df.columns if c not in spec.columns]
    if missing or extra:
        raise ValueError(f"{name}: the frame does not match the registry (missing {missing}, unexpected {extra})")
    write_csv(df[spec.column_names], path)


def read_table(name: str, path: str | os.PathLike) -> pd.DataFrame:
    """Read a processed table, checking it against its registered layout.

    Text columns come back as ``str`` with ``""`` for blanks, numbers as float (NaN for blanks),
    whole numbers (PMIDs, years, counts) as pandas' nullable Int64, flags as nullable boolean.

    Raises
    ------
    ProcessedTableError
        when the file is empty, holds NUL bytes or invalid UTF-8, its header differs from the
        registry, a row has the wrong number of fields, or a cell does not parse as its kind.
    """
    spec = layout(name)
    path = Path(path)
    data = _bytes(path, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProcessedTableError(f"{path}: not UTF-8 at byte {err.start} (corrupt {name} table; run the pipeline "
                                  "again to rebuild it)") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0] if rows else []
    if header != spec.column_names:
        missing = [c for c in spec.column_names if c not in header]
        extra = [c for c in header if c not in spec.columns]
        raise ProcessedTableError(f"{path}, row 1: header does not match the {name} table (missing "
                                  f"{missing or 'none'}, unexpected {extra or 'none'}, or out of order)")
    width = len(header)
    body = rows[1:]
    for i, r in enumerate(body, start=2):
        if len(r) != width:
            raise ProcessedTableError(f"{path}, row {i}: {len(r)} fields, the {name} table has {width} "
                                      "(truncated or corrupt file; run the pipeline again to rebuild it)")
    cols = {}
    for j, (col, kind) in enumerate(spec.columns.items()):
        raw = [r[j] for r in body]
        cols[col] = _parse(raw, kind, path, col)
    return pd.DataFrame(cols, columns=spec.column_names) if body else spec.empty()


def _bytes(path: Path, name: str) -> bytes:
    if not path.is_file():
        raise ProcessedTableError(f"{path}: the {name} file is missing (run the pipeline to build it)")
    data = path.read_bytes()
    if not data.strip():
        raise ProcessedTableError(f"{path}: the {name} file is empty (truncated; run the pipeline again to "
                                  "rebuild it)")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ProcessedTableError(f"{path}, byte {nul}: NUL byte in the {name} file (corrupt; run "
                                  "the pipeline again to rebuild it)")
    return data


def _parse(raw: list[str], kind: str, path: Path, col: str):
    if kind == TEXT:
        return pd.Series(raw, dtype=object)
    if kind == NUMBER:
        out = np.full(len(raw), np.nan)
        for i, cell in enumerate(raw):
            if cell == "":
                continue
            try:
                out[i] = float(cell)
            except ValueError:
                raise ProcessedTableError(f"{path}, row {i + 2}, column '{col}': {cell!r} is not a number") from None
        return out
    if kind == INTEGER:
        ints = []
        for i, cell in enumerate(raw):
            try:
                value = float(cell) if cell != "" else None
            except ValueError:
                value = float("nan")
            if value is not None and not (value == value and value.is_integer()):
                raise ProcessedTableError(f"{path}, row {i + 2}, column '{col}': {cell!r} is not a whole number")
            ints.append(pd.NA if value is None else int(value))
        return pd.array(ints, dtype="Int64")
    values = []
    for i, cell in enumerate(raw):
        if cell in ("True", "true", "1"):
            values.append(True)
        elif cell in ("False", "false", "0"):
            values.append(False)
        elif cell == "":
            values.append(pd.NA)
        else:
            raise ProcessedTableError(f"{path}, row {i + 2}, column '{col}': {cell!r} is not True or False")
    return pd.array(values, dtype="boolean")


def write_document(name: str, obj: dict, path: str | os.PathLike) -> None:
    """Write a registered JSON document (its required keys must be present)."""
    spec = DOCUMENTS[name]
    missing = [k for k in spec.required_keys if k not in obj]
    if missing:
        raise ValueError(f"{name}: document lacks the registered keys {missing}")
    write_json(path, obj)


def read_document(name: str, path: str | os.PathLike) -> dict:
    """Read a registered JSON document, checking that it parses and holds its required keys."""
    import json

    spec = DOCUMENTS[name]
    path = Path(path)
    _bytes(path, name)
    try:
        obj = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ProcessedTableError(f"{path}: not valid JSON ({err}; corrupt {name} document: run the pipeline "
                                  "again to rebuild it)") from None
    if not isinstance(obj, dict):
        raise ProcessedTableError(f"{path}: the {name} document is not a JSON object")
    missing = [k for k in spec.required_keys if k not in obj]
    if missing:
        raise ProcessedTableError(f"{path}: the {name} document lacks {missing}")
    return obj


def check_file(name: str, path: str | os.PathLike) -> str | None:
    """Why a processed file present on disk is unusable (None when it reads cleanly)."""
    try:
        if name in TABLES:
            read_table(name, path)
        else:
            read_document(name, path)
    except ProcessedTableError as err:
        return str(err)
    return None


def remove_corrupt(root: str | os.PathLike = ".") -> dict[str, str]:
    """Delete registered processed files that exist but do not read cleanly; return ``{path: message}``.

    Called when the workflow starts. A truncated or corrupt derived file keeps its modification
    time, so Snakemake would reuse it; and a merely missing intermediate file is not rebuilt when
    the final outputs look up to date. The Snakefile therefore both removes the file and requests
    it as a target, so that it and everything after it is rebuilt in the same run.
    """
    removed = {}
    for name in [*(n for n, t in TABLES.items() if t.pipeline), *DOCUMENTS]:
        path = Path(path_of(name, root))
        if path.is_file():
            why = check_file(name, path)
            if why:
                path.unlink()
                removed[path_of(name)] = f"{why.split(' (')[0]} — removed; it is rebuilt in this run"
    return removed
