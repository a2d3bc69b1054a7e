"""evsynth: reproducible evidence synthesis for randomized trials.

Subpackages
-----------
pubmed      E-utilities client and MEDLINE XML parser
extraction  curated extraction tables: schemas, loading, validation, conversions
effects     effect sizes and sampling variances (metafor's ``escalc``)
pooling     fixed- and random-effects models (metafor's ``rma`` family)
analyses    onset, duration, adverse events, sensitivity
figures     forest, funnel, onset, duration, side-effect and PRISMA figures
report      the HTML summary report
"""

__version__ = "0.1.0"
