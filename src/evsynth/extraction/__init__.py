"""Curated extraction tables: schemas, loading and validation, statistic conversions, vocabulary."""
