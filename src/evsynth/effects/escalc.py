"""``escalc``: effect sizes and sampling variances with metafor's names and defaults.

The per-family formulas live in :mod:`.binary`, :mod:`.continuous` and
:mod:`.proportions`; this module resolves arguments (arrays or column names of
``data``), validates them and assembles the result table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._inputs import (
    as_float_array,
    check_at_least,
    check_same_length,
    flag_undefined,
    require,
)
from .binary import BINARY_MEASURES, TO_CHOICES, binary_effects
from .continuous import PAIRED_MEASURES, TWO_GROUP_MEASURES, paired_effects, two_group_effects
from .proportions import PROPORTION_MEASURES, proportion_effects

MEASURES = BINARY_MEASURES + TWO_GROUP_MEASURES + PAIRED_MEASURES + PROPORTION_MEASURES
VTYPES = ("UB", "LS", "LS2", "HO", "AV", "AVHO")

# Arguments each family may use (anything else supplied is an error).
_ALLOWED = {
    **{m: {"ai", "bi", "ci", "di", "n1i", "n2i"} for m in BINARY_MEASURES},
    **{m: {"m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"} for m in TWO_GROUP_MEASURES},
    **{m: {"m1i", "m2i", "sd1i", "sd2i", "ni", "ri"} for m in PAIRED_MEASURES},
    **{m: {"xi", "mi", "ni"} for m in PROPORTION_MEASURES},
}


def escalc(measure: str, *, ai=None, bi=None, ci=None, di=None, n1i=None, n2i=None,
           m1i=None, m2i=None, sd1i=None, sd2i=None, xi=None, mi=None, ni=None, ri=None,
           add: float | None = None, to: str = "only0", drop00: bool = False,
           vtype="LS", data: pd.DataFrame | None = None, slab=None) -> pd.DataFrame:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` like metafor's ``escalc``.

    Argument names, measure names and defaults are those of metafor 3.8
    (Viechtbauer 2010, J Stat Softw 36(3); ``?escalc``). Group 1 is the
    experimental group: mean differences are experimental minus control and
    ratios above 1 mean more events (or higher means) in the experimental group.

    Parameters
    ----------
    measure : str
        Two-group binary: ``"RR"`` (log risk ratio), ``"OR"`` (log odds ratio),
        ``"RD"`` (risk difference), ``"PETO"`` (log Peto odds ratio) from
        ``ai, bi, ci, di`` (or ``ai, n1i, ci, n2i``).
        Two-group continuous: ``"MD"``, ``"SMD"`` (Hedges' g), ``"SMDH"``,
        ``"ROM"`` (log ratio of means) from ``m1i, m2i, sd1i, sd2i, n1i, n2i``.
        Paired: ``"MC"``, ``"SMCC"``, ``"SMCR"`` from ``m1i, m2i, sd1i, sd2i
        (not SMCR), ni, ri``.
        Proportions: ``"PR"``, ``"PLO"``, ``"PAS"``, ``"PFT"`` from ``xi`` and
        ``ni`` (or ``mi``).
    ai, bi, ci, di, n1i, n2i, m1i, m2i, sd1i, sd2i, xi, mi, ni, ri : array_like or str
        Data vectors of equal length, or column names of *data*.
    add : float, optional
        Amount added to cells for zero-cell handling. ``None`` means metafor's
        default: 1/2, except 0 for ``"PAS"`` and ``"PFT"``.
    to : {"only0", "all", "if0all", "none"}
        Which studies get *add* (see :func:`evsynth.effects.binary.apply_zero_cell_correction`).
    drop00 : bool
        Set studies with no events (or no non-events) in both groups to NaN.
    vtype : str or sequence of str
        Variance type (metafor's ``vtype``); default ``"LS"``.
    data : pandas.DataFrame, optional
        Table holding the columns named by string arguments. When given, the
        result is a copy of *data* with ``yi`` and ``vi`` set (like metafor's
        ``append = TRUE``).
    slab : array_like or str, optional
        Study labels (or a column of *data*); become the index of the result,
        duplicates made unique as in metafor (``"A.1"``, ``"A.2"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``yi`` and ``vi`` (plus *data*'s columns). ``attrs["measure"]`` is
        the measure and ``attrs["ni"]`` the total sample sizes. Rows whose value is
        undefined (e.g. log RR with a zero cell and ``to="none"``) hold NaN and an
        :class:`~evsynth.effects._inputs.EffectSizeWarning` names them.

    Raises
    ------
    ValueError
        Unknown measure, ``to`` or ``vtype``; missing or unused arguments; NaN or
        infinite inputs; mismatched lengths; events above group size; SD <= 0;
        group sizes too small for the variance. Messages name the argument and index.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; valid: {', '.join(MEASURES)}")
    if data is not None and not isinstance(data, pd.DataFrame):
        raise ValueError("data must be a pandas DataFrame")
    raw = {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i,
           "m1i": m1i, "m2i": m2i, "sd1i": sd1i, "sd2i": sd2i,
           "xi": xi, "mi": mi, "ni": ni, "ri": ri}
    unused = sorted(k for k, v in raw.items() if v is not None and k not in _ALLOWED[measure])
    if unused:
        raise ValueError(f"argument(s) {', '.join(unused)} not used by measure {measure!r}")
    args = {k: _resolve(k, v, data) for k, v in raw.items() if v is not None}
    k = check_same_length(args) if args else 0
    if args and k == 0:
        raise ValueError("the data vectors are empty: no studies to compute effect sizes for")
    if data is not None and args and k != len(data):
        raise ValueError(f"data has {len(data)} rows but the data vectors have {k}")
    add = _check_options(measure, add, to, drop00, vtype)

    skip = None
    if measure in BINARY_MEASURES:
        yi, vi, n_tot, skip = _binary(measure, args, add, to, drop00, vtype)
    elif measure in TWO_GROUP_MEASURES:
        require(measure, args, ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
        yi, vi, n_tot = two_group_effects(measure, *(args[n] for n in (
            "m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")), vtype=vtype)
    elif measure in PAIRED_MEASURES:
        need = ("m1i", "m2i", "sd1i", "ni", "ri") + (() if measure == "SMCR" else ("sd2i",))
        require(measure, args, need)
        yi, vi, n_tot = paired_effects(measure, args["m1i"], args["m2i"], args["sd1i"],
                                       args.get("sd2i"), args["ni"], args["ri"], vtype=vtype)
    else:
        xi_, mi_ = _events_and_rest("xi", "mi", "ni", args, measure)
        yi, vi, n_tot = proportion_effects(measure, xi_, mi_, add=add, to=to, vtype=vtype)
    yi, vi = flag_undefined(np.array(yi, float), np.array(vi, float), skip)
    return _assemble(yi, vi, n_tot, measure, data, slab)


def _check_options(measure: str, add, to, drop00, vtype) -> float:
    """Validate the options every measure shares; return the effective ``add``."""
    if add is None:
        add = 0.0 if measure in ("PAS", "PFT") else 0.5
    try:
        add = float(add)
    except (TypeError, ValueError):
        raise ValueError(f"add must be a number, got {add!r}") from None
    if not np.isfinite(add) or add < 0:
        raise ValueError(f"add must be a finite number >= 0, got {add}")
    if to not in TO_CHOICES:
        raise ValueError(f"to = {to!r} is not valid; valid: {', '.join(TO_CHOICES)}")
    if not isinstance(drop00, (bool, np.bool_)):
        raise ValueError(f"drop00 must be True or False, got {drop00!r}")  # noqa: TRY004
    for i, v in enumerate([vtype] if isinstance(vtype, str) else list(vtype)):
        if v not in VTYPES:
            raise ValueError(f"vtype[{i}] = {v!r} is not valid; valid: {', '.join(VTYPES)}")
    return add


def _resolve(name: str, value, data: pd.DataFrame | None) -> np.ndarray:
    """Return the numbers of argument *name*: a column of *data* or the value itself."""
    if isinstance(value, str):
        if data is None:
            raise ValueError(f"{name} = {value!r} is a column name but no data was given")
        if value not in data.columns:
            raise ValueError(f"{name}: column {value!r} not found in data")
        return as_float_array(f"{name} (column {value!r})", data[value].to_numpy())
    if isinstance(value, pd.Series):
        value = value.to_numpy()
    return as_float_array(name, value)


def _events_and_rest(ev: str, rest: str, total: str, args: dict, measure: str):
    """Events and non-events of one group from (events, non-events) or (events, total)."""
    require(measure, args, (ev,))
    if args.get(rest) is None and args.get(total) is None:
        raise ValueError(f"measure {measure!r} needs {rest} or {total}")
    x = args[ev]
    if args.get(total) is not None:
        n = args[total]
        over = np.flatnonzero(x > n)
        if over.size:
            i = int(over[0])
            raise ValueError(f"{ev}[{i}] = {x[i]:g} is larger than {total}[{i}] = {n[i]:g}")
        if args.get(rest) is not None:
            bad = np.flatnonzero(args[rest] != n - x)
            if bad.size:
                i = int(bad[0])
                raise ValueError(f"{total}[{i}] = {n[i]:g} is not {ev}[{i}] + {rest}[{i}]")
        return x, n - x
    return x, args[rest]


def _binary(measure, args, add, to, drop00, vtype):
    a, b = _events_and_rest("ai", "bi", "n1i", args, measure)
    c, d = _events_and_rest("ci", "di", "n2i", args, measure)
    check_at_least("n1i", a + b, 1, "a group needs participants")
    check_at_least("n2i", c + d, 1, "a group needs participants")
    return binary_effects(measure, a, b, c, d, add=add, to=to, drop00=drop00, vtype=vtype)


def _unique_labels(labels: list[str]) -> list[str]:
    """Make duplicated labels unique as metafor's ``.make.unique`` (``A.1``, ``A.2``)."""
    counts = pd.Series(labels).value_counts()
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        if counts[lab] > 1:
            seen[lab] = seen.get(lab, 0) + 1
            out.append(f"{lab}.{seen[lab]}")
        else:
            out.append(lab)
    return out


def _assemble(yi, vi, n_tot, measure, data, slab) -> pd.DataFrame:
    if data is not None:
        out = data.copy()
        out["yi"] = yi
        out["vi"] = vi
    else:
        out = pd.DataFrame({"yi": yi, "vi": vi})
    if slab is not None:
        if isinstance(slab, str):
            if data is None or slab not in data.columns:
                raise ValueError(f"slab = {slab!r} is not a column of data")
            labels = data[slab]
        else:
            labels = slab
        labels = list(pd.Series(labels, dtype=object))
        if len(labels) != len(out):
            raise ValueError(f"slab has {len(labels)} labels but the data have {len(out)} rows")
        for i, lab in enumerate(labels):
            if lab is None or (isinstance(lab, float) and np.isnan(lab)):
                raise ValueError(f"slab[{i}] is missing")
        out.index = pd.Index(_unique_labels([str(x) for x in labels]), name="slab")
    out.attrs["measure"] = measure
    out.attrs["ni"] = [float(x) for x in np.asarray(n_tot, float)]
    return out
