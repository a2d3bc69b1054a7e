"""Double extraction: a seeded random sample of extracted numbers, read again independently.

Workflow (``data/raw/extraction/verification.csv`` is the record):

1. :func:`sample_cells` draws a seeded random sample of the numeric cells of the extraction tables
   (at least ``fraction`` of them) and :func:`blind_tasks` writes it *without the values* for a
   second extractor, who reads each number again from the cited source.
2. The second readings are joined to the first ones; :func:`compare` marks agreement (equal as
   numbers) and :func:`agreement_rate` gives the share that agreed. Disagreements are resolved
   against the source and explained in the ``resolution`` column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = {
    "studies": ["n_randomized"],
    "arms": ["dose", "n_randomized", "n_analyzed"],
    "outcomes": ["timepoint", "mean", "sd", "se", "ci_lb", "ci_ub", "n", "events"],
    "contrasts": ["timepoint", "estimate", "ci_lb", "ci_ub", "se"],
    "adverse_events": ["events", "n"],
}
KEYS = {
    "studies": ["study_id"],
    "arms": ["study_id", "arm_id"],
    "outcomes": ["study_id", "arm_id", "outcome", "timepoint", "timepoint_unit", "timepoint_ref", "period",
                 "stratum", "stat"],
    "contrasts": ["study_id", "arm_id", "control_arm_id", "outcome", "timepoint", "timepoint_unit", "measure",
                  "stratum"],
    "adverse_events": ["study_id", "arm_id", "event", "reported_term", "period"],
}
TASK_COLUMNS = ["item", "table", "line", "study_id", "what", "column", "source", "source_url"]


def _describe(row: pd.Series, keys: list[str]) -> str:
    return "; ".join(f"{k}={row[k]}" for k in keys if k != "study_id" and pd.notna(row.get(k)) and row.get(k) != "")


def numeric_cells(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every non-empty numeric cell: table, CSV line, what it is, its value and its source."""
    rows = []
    for table, columns in NUMERIC.items():
        df = frames[table]
        for _, r in df.iterrows():
            for col in columns:
                if col in df and pd.notna(r[col]):
                    rows.append({"table": table, "line": int(r["_line"]), "study_id": r["study_id"],
                                 "what": _describe(r, KEYS[table]), "column": col, "value": float(r[col]),
                                 "source": r["source"], "source_url": r["source_url"]})
    return pd.DataFrame(rows)


def sample_cells(frames: dict[str, pd.DataFrame], fraction: float = 0.2, seed: int = 20261121) -> pd.DataFrame:
    """A seeded random sample of at least ``fraction`` of the numeric cells (rounded up)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    cells = numeric_cells(frames)
    n = int(np.ceil(fraction * len(cells)))
    picked = np.sort(np.random.default_rng(seed).choice(len(cells), size=n, replace=False))
    sample = cells.iloc[picked].reset_index(drop=True)
    sample.insert(0, "item", [f"V{i + 1:03d}" for i in range(len(sample))])
    return sample


def blind_tasks(sample: pd.DataFrame) -> pd.DataFrame:
    """The sample without the first extractor's values: what a second extractor is given."""
    return sample[TASK_COLUMNS].copy()


def compare(sample: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Join second readings (item, value_second, second_source_url, notes) to the sample.

    ``agree`` is True when both readings are the same number (exact, as printed). A second reading
    left empty (the number could not be found again) counts as a disagreement to resolve.
    """
    merged = sample.rename(columns={"value": "value_first"}).merge(
        second[["item", "value_second", "second_source_url", "second_notes"]], on="item", how="left")
    merged["agree"] = np.isclose(merged.value_first, pd.to_numeric(merged.value_second, errors="coerce"),
                                 rtol=0, atol=1e-12)
    return merged


def agreement_rate(verification: pd.DataFrame) -> float:
    """Share of sampled numbers on which the two extractions agreed before resolution."""
    return float(verification.agree.astype(bool).mean()) if len(verification) else float("nan")
