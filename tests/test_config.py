"""config.yaml is validated against src/evsynth/schemas/config.schema.yaml; errors name the key."""

import copy
from pathlib import Path

import pytest
import yaml

from evsynth.config import ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "src" / "evsynth" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "config.yaml")


def test_shipped_config_is_valid(config):
    assert config["pubmed"]["mode"] == "snapshot"
    assert {a["id"] for a in config["analysis"]["analyses"]} >= {"onset_depression", "relapse", "side_effects"}


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["analysis"].__setitem__("method", "XYZ"), "analysis.method"),
        (lambda c: c["pubmed"].__setitem__("mode", "offline"), "pubmed.mode"),
        (lambda c: c["pubmed"].__setitem__("bogus", 1), "pubmed.bogus"),
        (lambda c: c["analysis"]["analyses"][0].__setitem__("measure", "HRR"), "analysis.analyses[0].measure"),
        (lambda c: c.pop("screening"), "screening"),
        (lambda c: c["analysis"]["windows"][1].pop("nominal"), "analysis.windows[1].nominal"),
    ],
)
def test_bad_key_or_value_names_the_key(config, edit, key):
    bad = copy.deepcopy(config)
    edit(bad)
    with pytest.raises(ConfigError) as err:
        validate_config(bad, SCHEMA, source="config.yaml")
    assert f"config.yaml: {key}:" in str(err.value)


def test_snakemake_stops_on_bad_config(tmp_path):
    import subprocess
    import sys

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["analysis"]["test"] = "t-test"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    snakemake = Path(sys.executable).with_name("snakemake")
    out = subprocess.run([str(snakemake), "--configfile", str(bad), "-n", "--cores", "1"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "analysis.test" in out.stdout + out.stderr
