"""Input checking shared by the effect-size functions.

Every check raises :class:`ValueError` naming the argument and the offending
index, e.g. ``"sd1i[3] must be > 0, got -0.2"``, so that a bad extraction row
can be found without a debugger.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


class EffectSizeWarning(UserWarning):
    """An effect size or its variance could not be computed for some rows."""


def as_float_array(name: str, values) -> np.ndarray:
    """Convert *values* to a 1-D float array and reject NaN and infinite values.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    values : array_like
        Scalar or 1-D sequence of numbers.

    Returns
    -------
    numpy.ndarray
        1-D float64 array (a scalar becomes length 1).

    Raises
    ------
    ValueError
        If a value is not numeric, not finite, or the input is not 1-D.
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must contain numbers only ({exc})") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}[{i}] must be a finite number, got {arr[i]}")
    return arr


def check_same_length(arrays: dict[str, np.ndarray]) -> int:
    """Check that all named arrays have the same length and return it.

    Raises
    ------
    ValueError
        Naming the first pair of arguments whose lengths differ.
    """
    items = list(arrays.items())
    if not items:
        raise ValueError("no data supplied")
    first_name, first = items[0]
    for name, arr in items[1:]:
        if len(arr) != len(first):
            raise ValueError(
                f"{name} has {len(arr)} values but {first_name} has {len(first)}; "
                "all data vectors must have the same length"
            )
    return len(first)


def _first_violation(name: str, arr: np.ndarray, bad: np.ndarray, rule: str) -> None:
    idx = np.flatnonzero(bad)
    if idx.size:
        i = int(idx[0])
        raise ValueError(f"{name}[{i}] must be {rule}, got {arr[i]:g}")


def check_positive(name: str, arr: np.ndarray) -> None:
    """Raise if any value is <= 0."""
    _first_violation(name, arr, arr <= 0, "> 0")


def check_nonnegative(name: str, arr: np.ndarray) -> None:
    """Raise if any value is < 0."""
    _first_violation(name, arr, arr < 0, ">= 0")


def check_at_least(name: str, arr: np.ndarray, lower: float, why: str = "") -> None:
    """Raise if any value is below *lower*; *why* is appended to the rule."""
    rule = f">= {lower:g}" + (f" ({why})" if why else "")
    _first_violation(name, arr, arr < lower, rule)


def check_correlation(name: str, arr: np.ndarray) -> None:
    """Raise if any correlation lies outside [-1, 1]."""
    _first_violation(name, arr, np.abs(arr) > 1, "between -1 and 1")


def require(measure: str, supplied: dict[str, object], names: Sequence[str]) -> None:
    """Raise if an argument that *measure* needs was not supplied."""
    missing = [n for n in names if supplied.get(n) is None]
    if missing:
        raise ValueError(
            f"measure {measure!r} needs argument(s) {', '.join(missing)}"
        )


def resolve_vtype(measure: str, vtype, k: int, valid: Sequence[str]) -> np.ndarray:
    """Expand *vtype* (one string or one per study) and check it is valid for *measure*.

    Returns
    -------
    numpy.ndarray
        Array of *k* strings.
    """
    if isinstance(vtype, str):
        out = np.array([vtype] * k, dtype=object)
    else:
        out = np.asarray(list(vtype), dtype=object)
        if len(out) != k:
            raise ValueError(f"vtype has {len(out)} values but the data have {k} rows")
    for i, v in enumerate(out):
        if v not in valid:
            raise ValueError(
                f"vtype[{i}] = {v!r} is not valid for measure {measure!r}; "
                f"valid: {', '.join(valid)}"
            )
    return out


def flag_undefined(yi: np.ndarray, vi: np.ndarray, skip: np.ndarray | None = None):
    """Set non-finite or negative-variance results to NaN and warn, as metafor does.

    metafor's ``escalc`` recodes infinite ``yi``/``vi`` (e.g. a log risk ratio with a
    zero cell and ``to="none"``) and negative ``vi`` to ``NA``; evsynth does the same
    but always warns, listing the affected rows.

    Parameters
    ----------
    yi, vi : numpy.ndarray
        Effect sizes and sampling variances (modified in place).
    skip : numpy.ndarray of bool, optional
        Rows deliberately left undefined (e.g. dropped by ``drop00``); not reported.
    """
    bad = ~np.isfinite(yi) | ~np.isfinite(vi) | (vi < 0)
    yi[bad] = np.nan
    vi[bad] = np.nan
    if skip is not None:
        bad = bad & ~skip
    rows = np.flatnonzero(bad)
    if rows.size:
        warnings.warn(
            "effect size or variance undefined (set to NaN) for row(s) "
            f"{', '.join(str(int(r)) for r in rows)}",
            EffectSizeWarning,
            stacklevel=3,
        )
    return yi, vi
