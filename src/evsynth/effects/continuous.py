"""Continuous outcomes: two independent groups (MD, SMD, SMDH, ROM) and one group
measured twice (MC, SMCC, SMCR).

Definitions follow metafor 3.8 ``escalc`` (Viechtbauer 2010, J Stat Softw 36(3)).
Differences are group 1 (experimental) minus group 2 (control), or for paired
designs measurement 1 minus measurement 2.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from ._inputs import check_at_least, check_correlation, check_positive, resolve_vtype

TWO_GROUP_MEASURES = ("MD", "SMD", "SMDH", "ROM")
PAIRED_MEASURES = ("MC", "SMCC", "SMCR")


def bias_correction(m) -> np.ndarray:
    """Exact small-sample bias-correction factor c(m) of Hedges' g.

    ``c(m) = Gamma(m/2) / (sqrt(m/2) * Gamma((m-1)/2))`` (Hedges 1981,
    J Educ Stat 6:107, eq. 6e), computed on the log scale as metafor's
    ``.cmicalc``; NaN for ``m <= 1``.

    Parameters
    ----------
    m : array_like
        Degrees of freedom (``n1 + n2 - 2`` for two groups, ``n - 1`` for one).
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))
    return np.where(m <= 1, np.nan, out)


def two_group_effects(measure: str, m1i, m2i, sd1i, sd2i, n1i, n2i, *, vtype):
    """Effect sizes and variances for two independent groups.

    Parameters
    ----------
    measure : {"MD", "SMD", "SMDH", "ROM"}
        ``MD`` raw mean difference; ``SMD`` Hedges' g (pooled SD, exact bias
        correction); ``SMDH`` SMD with heteroscedastic SDs (Bonett 2009,
        Psychol Methods 14:225); ``ROM`` log ratio of means (Hedges, Gurevitch &
        Curtis 1999, Ecology 80:1150).
    m1i, m2i, sd1i, sd2i, n1i, n2i : numpy.ndarray
        Validated means, SDs (> 0) and group sizes (>= 2).
    vtype : str or sequence of str
        MD: ``"LS"`` (default) / ``"UB"`` give ``sd1^2/n1 + sd2^2/n2``, ``"HO"``
        assumes equal variances. SMD: ``"LS"``, ``"UB"``, ``"LS2"``, ``"AV"``.
        SMDH: ``"LS"``, ``"LS2"``. ROM: ``"LS"``, ``"HO"``, ``"AV"``, ``"AVHO"``.

    Returns
    -------
    yi, vi, ni : numpy.ndarray

    Notes
    -----
    With ``m = n1 + n2 - 2``, pooled SD ``s_p = sqrt(((n1-1) sd1^2 + (n2-1) sd2^2)/m)``,
    ``d = (m1 - m2)/s_p`` and ``g = c(m) d``:

    * SMD LS: ``vi = 1/n1 + 1/n2 + g^2 / (2 (n1 + n2))`` (Hedges & Olkin 1985, eq. 5.8
      with g for d); UB: ``1/n1 + 1/n2 + (1 - (m-2)/(m c(m)^2)) g^2`` (Hedges 1983,
      Psychol Bull 93:388); LS2: ``c(m)^2 (1/n1 + 1/n2 + d^2/(2(n1+n2)))``
      (Borenstein 2009); AV: LS with the sample-size weighted mean of g.
    * ROM LS: ``vi = sd1^2/(n1 m1^2) + sd2^2/(n2 m2^2)`` (Hedges et al. 1999, eq. 9).
    """
    valid = {"MD": ("UB", "LS", "HO"), "SMD": ("UB", "LS", "LS2", "AV"),
             "SMDH": ("LS", "LS2"), "ROM": ("LS", "HO", "AV", "AVHO")}[measure]
    for name, arr in (("sd1i", sd1i), ("sd2i", sd2i)):
        check_positive(name, arr)
    for name, arr in (("n1i", n1i), ("n2i", n2i)):
        check_at_least(name, arr, 2, "a standard deviation needs n >= 2")
    if measure == "ROM":
        check_positive("m1i", m1i)
        check_positive("m2i", m2i)
    vt = resolve_vtype(measure, vtype, len(m1i), valid)
    n = n1i + n2i
    m = n - 2
    sdp2 = ((n1i - 1) * sd1i**2 + (n2i - 1) * sd2i**2) / m
    if measure == "MD":
        yi = m1i - m2i
        vi = np.where(vt == "HO", sdp2 * (1 / n1i + 1 / n2i), sd1i**2 / n1i + sd2i**2 / n2i)
    elif measure == "SMD":
        cm = bias_correction(m)
        d = (m1i - m2i) / np.sqrt(sdp2)
        yi = cm * d
        mean_g = np.sum(yi * n) / np.sum(n)
        base = 1 / n1i + 1 / n2i
        vi = np.select(
            [vt == "UB", vt == "LS", vt == "AV"],
            [base + (1 - (m - 2) / (m * cm**2)) * yi**2, base + yi**2 / (2 * n),
             base + mean_g**2 / (2 * n)],
            cm**2 * (base + d**2 / (2 * n)),
        )
    elif measure == "SMDH":
        yi, vi = _smdh(m1i, m2i, sd1i, sd2i, n1i, n2i, vt)
    else:  # ROM
        yi, vi = _rom(m1i, m2i, sd1i, sd2i, n1i, n2i, sdp2, vt)
    return yi, vi, n


def _smdh(m1i, m2i, sd1i, sd2i, n1i, n2i, vt):
    """SMD with heteroscedastic variances, Bonett 2009 (Psychol Methods 14:225), eq. 4-5.

    ``yi = c(m) (m1 - m2)/sqrt((sd1^2 + sd2^2)/2)``; the LS variance is
    ``c(m)^2 [ yi^2 (sd1^4/(n1-1) + sd2^4/(n2-1)) / (2 (sd1^2+sd2^2)^2)
    + (sd1^2/(n1-1) + sd2^2/(n2-1)) / ((sd1^2+sd2^2)/2) ]`` as in metafor 3.8.
    """
    cm = bias_correction(n1i + n2i - 2)
    s2 = sd1i**2 + sd2i**2
    yi = cm * (m1i - m2i) / np.sqrt(s2 / 2)
    ls = cm**2 * (yi**2 * (sd1i**4 / (n1i - 1) + sd2i**4 / (n2i - 1)) / (2 * s2**2)
                  + (sd1i**2 / (n1i - 1) + sd2i**2 / (n2i - 1)) / (s2 / 2))
    ls2 = (yi**2 * sd1i**2 / (2 * n1i * s2**2) + yi**2 * sd2i**2 / (2 * n2i * s2**2)
           + 2 * sd1i**2 / (n1i * s2) + 2 * sd2i**2 / (n2i * s2))
    return yi, np.where(vt == "LS", ls, ls2)


def _rom(m1i, m2i, sd1i, sd2i, n1i, n2i, sdp2, vt):
    """Log ratio of means and its variance types (Hedges et al. 1999; metafor ``escalc``)."""
    yi = np.log(m1i / m2i)
    cv1, cv2 = sd1i / m1i, sd2i / m2i
    mcv1 = np.sum(n1i * cv1) / np.sum(n1i)
    mcv2 = np.sum(n2i * cv2) / np.sum(n2i)
    mcv = (np.sum(n1i * cv1) + np.sum(n2i * cv2)) / np.sum(n1i + n2i)
    vi = np.select(
        [vt == "LS", vt == "HO", vt == "AV"],
        [cv1**2 / n1i + cv2**2 / n2i,
         sdp2 / (n1i * m1i**2) + sdp2 / (n2i * m2i**2),
         mcv1**2 / n1i + mcv2**2 / n2i],
        mcv**2 * (1 / n1i + 1 / n2i),
    )
    return yi, vi


def paired_effects(measure: str, m1i, m2i, sd1i, sd2i, ni, ri, *, vtype):
    """Effect sizes and variances for one group measured twice (pre/post, crossover).

    Parameters
    ----------
    measure : {"MC", "SMCC", "SMCR"}
        ``MC`` raw mean change; ``SMCC`` standardized mean change using the SD of
        the change scores (Gibbons et al. 1993, J Educ Stat 18:271); ``SMCR``
        standardized by the SD of the first measurement, i.e. raw-score
        standardization (Becker 1988, Br J Math Stat Psychol 41:257).
    m1i, m2i : numpy.ndarray
        Means of measurement 1 and 2.
    sd1i, sd2i : numpy.ndarray or None
        SDs (> 0); ``sd2i`` is not used (may be None) for ``SMCR``.
    ni : numpy.ndarray
        Sample sizes (>= 2 for MC, >= 3 for SMCC/SMCR whose bias correction
        needs ``n - 1 > 1``).
    ri : numpy.ndarray
        Correlation between the two measurements, in [-1, 1].
    vtype : str or sequence of str
        ``"LS"`` (default) or ``"LS2"`` for SMCC and SMCR.

    Returns
    -------
    yi, vi, ni : numpy.ndarray

    Notes
    -----
    ``sd_d = sqrt(sd1^2 + sd2^2 - 2 r sd1 sd2)``; with ``c = c(n-1)``:

    * MC: ``yi = m1 - m2``, ``vi = sd_d^2 / n``.
    * SMCC: ``yi = c (m1 - m2)/sd_d``, LS ``vi = 1/n + yi^2/(2n)``;
      LS2 ``c^2 (1/n + d^2/(2n))``.
    * SMCR: ``yi = c (m1 - m2)/sd1``, LS ``vi = 2(1-r)/n + yi^2/(2n)`` (Becker 1988,
      eq. 13); LS2 ``c^2 (2(1-r)/n + d^2/(2n))``.
    """
    check_correlation("ri", ri)
    check_positive("sd1i", sd1i)
    if measure != "SMCR":
        check_positive("sd2i", sd2i)
    if measure == "MC":
        check_at_least("ni", ni, 2, "a standard deviation needs n >= 2")
    else:
        check_at_least("ni", ni, 3, "the bias correction c(n-1) needs n - 1 > 1")
    vt = resolve_vtype(measure, vtype, len(ni), ("LS", "LS2")) if measure != "MC" else None
    if measure == "SMCR":
        sdd = sd1i
    else:
        with np.errstate(invalid="ignore"):
            sdd = np.sqrt(sd1i**2 + sd2i**2 - 2 * ri * sd1i * sd2i)
    if measure == "MC":
        return m1i - m2i, sdd**2 / ni, ni
    cm = bias_correction(ni - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (m1i - m2i) / sdd
    yi = cm * d
    base = 1 / ni if measure == "SMCC" else 2 * (1 - ri) / ni
    vi = np.where(vt == "LS", base + yi**2 / (2 * ni), cm**2 * (base + d**2 / (2 * ni)))
    return yi, vi, ni
