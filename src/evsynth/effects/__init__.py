"""Effect sizes and their sampling variances (metafor's ``escalc`` as the reference).

Public functions
----------------
escalc                      effect sizes ``yi`` and variances ``vi`` for binary, continuous,
                            paired and single-proportion data
from_ci, from_se            generic inverse-variance inputs from a reported CI or SE
transf_exp, transf_ilogit, transf_iarcsin, transf_ipft, transf_ipft_hm
                            back-transformations of pooled estimates
"""

from ._inputs import EffectSizeWarning
from .continuous import bias_correction
from .escalc import MEASURES, escalc
from .generic import critical_z, from_ci, from_se
from .transf import transf_exp, transf_iarcsin, transf_ilogit, transf_ipft, transf_ipft_hm, transf_pft

__all__ = [
    "MEASURES",
    "EffectSizeWarning",
    "bias_correction",
    "critical_z",
    "escalc",
    "from_ci",
    "from_se",
    "transf_exp",
    "transf_iarcsin",
    "transf_ilogit",
    "transf_ipft",
    "transf_ipft_hm",
    "transf_pft",
]
