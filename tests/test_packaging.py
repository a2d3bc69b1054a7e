"""environment.yml and pyproject.toml declare the same dependencies (names and version specifiers)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*(.*)$", spec)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    wanted = dict(_normalise(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = dict(_normalise(s) for s in env["dependencies"] if isinstance(s, str))
    conda.pop("python")
    conda.pop("pip")
    assert conda == wanted


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text().splitlines()
    head = "\n".join(readme[:25])
    assert "make report" in head and "make test" in head
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_installed_wheel_validates_without_a_checkout(tmp_path):
    """The JSON schemas ship as package data: `evsynth validate` and config checks work from a wheel."""
    import shutil
    import subprocess
    import sys

    uv = shutil.which("uv")
    if uv is None:
        import pytest

        pytest.skip("uv is not on PATH (make setup installs it)")
    wheels = tmp_path / "wheels"
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(wheels), str(ROOT)], check=True, capture_output=True,
                   timeout=300)
    wheel = next(wheels.glob("evsynth-*.whl"))
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"evsynth/schemas/config.schema.yaml", "evsynth/schemas/extraction.schema.yaml"} <= names
    target = tmp_path / "site"
    subprocess.run([uv, "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True, timeout=300)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from evsynth.cli import main; "
            "raise SystemExit(main(['validate', sys.argv[2]]))")
    out = subprocess.run([sys.executable, "-c", code, str(target), str(ROOT / "data/raw/extraction")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all tables valid" in out.stdout
