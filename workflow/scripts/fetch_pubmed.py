"""Snakemake script (live mode): search PubMed and fetch the records (evsynth.pubmed)."""
import os
from pathlib import Path

from evsynth.io import write_text
from evsynth.pubmed import fetch

cfg = snakemake.params.pubmed
out = Path(snakemake.output.done).parent
# EVSYNTH_EUTILS_URL overrides pubmed.eutils_url (e.g. a local mirror or the tests' stub server)
url = os.environ.get("EVSYNTH_EUTILS_URL") or cfg.get("eutils_url")
search = fetch(cfg["query"], out, eutils_url=url, batch_size=cfg.get("batch_size", 200),
               mindate=cfg.get("mindate"), maxdate=cfg.get("maxdate"), email=cfg.get("email") or None)
write_text(snakemake.output.done, f"{search['count']} records retrieved {search['retrieval_date']}\n")
