"""Snakemake script (live mode): make sure the live folder holds a complete PubMed search (evsynth.pubmed).

A complete search made with the same pubmed.* settings is reused; `evsynth update` (make update)
searches again. A failed search leaves the previous complete one in place.
"""
from pathlib import Path

from evsynth.io import write_text
from evsynth.pubmed.retrieve import done_text, fetch_configured
from evsynth.steps import step

with step(snakemake):
    search, _ = fetch_configured(snakemake.params.pubmed, Path(snakemake.output.done).parent)
    write_text(snakemake.output.done, done_text(search))
