"""Fixed- and random-effects models at metafor parity (``rma``, ``rma.mh``, ``rma.peto``, ``rma.mv``).

Public API
----------
rma                 univariate fixed/random-effects model and meta-regression (metafor ``rma.uni``)
rma_batch           many intercept-only models at once, vectorised (one row per meta-analysis)
rma_mh, rma_peto    Mantel-Haenszel (OR, RR, RD) and Peto's method (metafor ``rma.mh``, ``rma.peto``)
subgroup_test       Q test for differences between independently pooled subgroup estimates
rma_mv              multilevel model, effects nested in studies (metafor ``rma.mv(random = ~ 1 | study/effect)``)
time_course         rma_mv with one mean per time window (``mods = ~ window - 1``), REML or ML
leave1out, cumul, influence, regtest, trimfill, funnel_data
                    diagnostics on an :class:`RMAResult` (metafor's functions of the same names)
"""

from .batch import rma_batch
from .diagnostics import cumul, funnel_data, influence, leave1out, regtest, trimfill
from .mh import MHResult, rma_mh, rma_peto
from .multilevel import MVResult, rma_mv, time_course
from .results import BatchResult, RMAResult, SubgroupResult
from .rma import rma
from .subgroups import SubgroupTest, subgroup_test

__all__ = [
    "BatchResult", "MHResult", "MVResult", "RMAResult", "SubgroupResult", "SubgroupTest", "cumul",
    "funnel_data", "influence", "leave1out", "regtest", "rma", "rma_batch", "rma_mh", "rma_mv", "rma_peto",
    "subgroup_test", "time_course", "trimfill",
]
