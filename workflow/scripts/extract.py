"""Snakemake script: validate the extraction tables and build the study-characteristics table."""
import pandas as pd

from evsynth.extraction.studies import study_characteristics
from evsynth.extraction.tables import load_frames
from evsynth.io import write_csv

frames = load_frames(snakemake.params.directory)
screening = pd.read_csv(snakemake.input.screening, keep_default_na=False, na_values=[""])
records = pd.read_csv(snakemake.input.records, keep_default_na=False, na_values=[""])
write_csv(study_characteristics(frames, screening, records), snakemake.output.studies)
