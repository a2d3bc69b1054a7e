"""Assemble data/raw/extraction/verification.csv from the sample and the blinded second readings.

  python tools/build_verification.py FIRST_VALUES.csv data/raw/extraction/verification data/raw/extraction/verification.csv

FIRST_VALUES.csv is the seeded sample with the first extractor's values (evsynth.extraction.verification.sample_cells,
seed 20261121, 20% of the 1,433 numeric cells of the first merged tables; plus 15 cells drawn with seed 20261122
from the cells not yet sampled after four studies were removed, to keep the sample above 20%; plus, for the second
extraction round, 48 cells drawn with seed 20261130 from the not-yet-sampled cells of rows added or changed in that
round, items W001-W048, read blind by a sixth second extractor into second_F.csv), kept apart from the
second extractors while they worked; the second readings are
verification/second_*.csv. Items the second extractor could not find are resolved here: corroborated when another
second reading of the same study found the same number in the same source table, otherwise kept as first read and
flagged.
"""

import sys
from pathlib import Path

import pandas as pd

from evsynth.extraction.verification import agreement_rate, compare
from evsynth.io import write_csv


def resolve(row: pd.Series, verified: pd.DataFrame) -> str:
    if row.agree:
        return ""
    same = verified[(verified.study_id == row.study_id) & (verified.value_second == row.value_first)
                    & verified.agree]
    if len(same):
        items = ", ".join(same.item.head(3))
        return (f"not re-read at this item (second extractor: {row.second_notes}); the same number was read again "
                f"independently for {row.study_id} at {items}: kept, corroborated")
    return f"not re-read (second extractor: {row.second_notes}); first reading kept and flagged for re-check"


REMOVED = {
    "Popova2019": "study removed after verification: neither PMID nor DOI shown on any stored page",
    "Singh2016b": "study removed after verification: neither PMID nor DOI shown on any stored page",
    "Arabzadeh2018": "study removed after verification: numbers only on a news summary, not the trial report",
    "Janik2025": "study removed after verification: numbers only on news summaries, not the trial report",
}


def main(first: Path, folder: Path, out: Path) -> None:
    sample = pd.read_csv(first)
    second = pd.concat([pd.read_csv(p) for p in sorted(folder.glob("second_*.csv"))], ignore_index=True)
    v = compare(sample, second)
    v["resolution"] = [REMOVED.get(r.study_id) or resolve(r, v) for _, r in v.iterrows()]
    write_csv(v, out)
    found = v.value_second.notna()
    print(f"{len(v)} sampled numbers; second reading found for {found.sum()}; agreement among those "
          f"{v[found].agree.mean():.1%}; overall agreement (not found counts as disagreement) {agreement_rate(v):.1%}")


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:4]))
