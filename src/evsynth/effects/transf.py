"""Back-transformations of pooled estimates to the scale readers understand.

Each function mirrors the metafor 3.8 function named in its docstring
(``transf.exp``, ``transf.ilogit``, ``transf.iarcsin``, ``transf.ipft``,
``transf.ipft.hm``).
"""

from __future__ import annotations

import numpy as np

from ._inputs import as_float_array, check_positive


def transf_exp(x) -> np.ndarray:
    """Exponential, e.g. log risk ratio to risk ratio (metafor ``transf.exp``)."""
    return np.exp(as_float_array("x", x))


def transf_ilogit(x) -> np.ndarray:
    """Inverse logit ``1/(1 + exp(-x))`` (metafor ``transf.ilogit``, R ``plogis``)."""
    x = as_float_array("x", x)
    return 0.5 * (1 + np.tanh(x / 2))


def transf_iarcsin(x) -> np.ndarray:
    """Inverse arcsine square-root transformation ``sin(x)^2``, clipped to [0, 1]
    outside ``[0, pi/2]`` (metafor ``transf.iarcsin``)."""
    x = as_float_array("x", x)
    z = np.sin(x) ** 2
    z[x < 0] = 0.0
    z[x > np.pi / 2] = 1.0
    return z


def transf_pft(p, ni) -> np.ndarray:
    """Freeman-Tukey double arcsine of a proportion *p* with sample size *ni*
    (metafor ``transf.pft``): ``(asin(sqrt(x/(n+1))) + asin(sqrt((x+1)/(n+1))))/2``
    with ``x = p n``."""
    p = np.asarray(p, dtype=float)
    ni = np.asarray(ni, dtype=float)
    x = p * ni
    return 0.5 * (np.arcsin(np.sqrt(x / (ni + 1))) + np.arcsin(np.sqrt((x + 1) / (ni + 1))))


def _ipft(x: np.ndarray, n) -> np.ndarray:
    """Miller (1978, Am Stat 32:138) inversion of the Freeman-Tukey transformation:
    ``p = (1 - sgn(cos 2x) sqrt(1 - (sin 2x + (sin 2x - 1/sin 2x)/n)^2))/2``."""
    s = np.sin(2 * x)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    z = np.where(x > transf_pft(1.0, n), 1.0, z)
    z = np.where(x < transf_pft(0.0, n), 0.0, z)
    return z


def transf_ipft(x, ni) -> np.ndarray:
    """Inverse Freeman-Tukey transformation for study *i* with its own ``ni``
    (metafor ``transf.ipft``; Miller 1978, Am Stat 32:138).

    Parameters
    ----------
    x : array_like
        Double-arcsine values.
    ni : array_like
        Sample sizes, same length as *x* (or a scalar).
    """
    x = as_float_array("x", x)
    ni = as_float_array("ni", ni)
    check_positive("ni", ni)
    if len(ni) not in (1, len(x)):
        raise ValueError(f"ni has {len(ni)} values but x has {len(x)}")
    return _ipft(x, ni)


def transf_ipft_hm(x, ni=None, *, targs: dict | None = None) -> np.ndarray:
    """Inverse Freeman-Tukey transformation using the harmonic mean of the sample
    sizes (metafor ``transf.ipft.hm`` with ``targs = list(ni = ni)``; Miller 1978).

    Parameters
    ----------
    x : array_like
        Double-arcsine values, e.g. a pooled estimate and its CI bounds.
    ni : array_like
        Sample sizes of all studies in the meta-analysis; their harmonic mean
        ``1/mean(1/ni)`` is used for every element of *x*.
    targs : dict, optional
        metafor-style alternative to *ni*: ``{"ni": [...]}``.
    """
    if targs is not None:
        if ni is not None or not isinstance(targs, dict) or "ni" not in targs:
            raise ValueError('give the sample sizes either as ni or as targs={"ni": ...}')
        ni = targs["ni"]
    if ni is None:
        raise ValueError("transf_ipft_hm needs the sample sizes ni")
    x = as_float_array("x", x)
    ni = as_float_array("ni", ni)
    check_positive("ni", ni)
    nhm = 1 / np.mean(1 / ni)
    return _ipft(x, nhm)
