"""Curated extraction tables: schemas, loading and validation, statistic conversions, vocabulary.

Public API
----------
load_frames     load and validate the tables (raises :class:`ExtractionError` naming file, row, column)
validate        the list of problems (empty when the tables are clean)
conversions     SD from SE/CI, mean/SD from median and IQR/range, combining and splitting arms
"""

from .tables import ExtractionError, Problem
from .validate import load_frames, validate

__all__ = ["ExtractionError", "Problem", "load_frames", "validate"]
