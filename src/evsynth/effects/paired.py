"""Sampling variances of paired (crossover, within-subject) mean differences and SMDs.

A crossover trial reporting each period's arm means pooled over periods gives a paired
comparison; its variance depends on the within-subject correlation ``r``, which trials rarely
report, so the plan sets it (``analysis.crossover_r``) and varies it in a sensitivity analysis.
"""

from __future__ import annotations

import numpy as np


def paired_md_variance(sd_exp, sd_ctrl, n, r):
    """Variance of a paired mean difference, ``(sd1^2 + sd2^2 - 2 r sd1 sd2) / n``.

    Cochrane Handbook v6.4, section 23.2.7.1 (Elbourne et al. 2002, Int J Epidemiol 31:140).
    """
    sd_exp, sd_ctrl, n = (np.asarray(x, float) for x in (sd_exp, sd_ctrl, n))
    return (sd_exp**2 + sd_ctrl**2 - 2 * r * sd_exp * sd_ctrl) / n


def crossover_smd_variance(yi, n, r):
    """Variance of a paired SMD (Hedges' g computed as for two groups), ``(1/n + g^2/(2n)) * 2(1 - r)``.

    Cochrane Handbook v6.4, section 23.2.7.2 (Elbourne et al. 2002).
    """
    yi, n = np.asarray(yi, float), np.asarray(n, float)
    return (1.0 / n + yi**2 / (2.0 * n)) * 2.0 * (1.0 - r)


def paired_variance(measure: str, yi, sd_exp, sd_ctrl, n, r):
    """The paired variance of an ``MD`` or ``SMD`` for within-subject correlation ``r``."""
    if measure == "MD":
        return paired_md_variance(sd_exp, sd_ctrl, n, r)
    if measure == "SMD":
        return crossover_smd_variance(yi, n, r)
    raise ValueError(f"measure: paired variances are defined for MD and SMD, not {measure!r}")
