"""Fixed- and random-effects models at metafor parity (``rma``, ``rma.mh``, ``rma.peto``, ``rma.mv``).

Import the public functions from here; the submodules hold one model family each.
"""
