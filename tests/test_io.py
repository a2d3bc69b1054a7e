"""evsynth.io: atomic writes leave ordinary files (the user's umask), never half a file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evsynth import io


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_current_umask_and_file_mode(umask, mask, expected):
    umask(mask)
    assert io.current_umask() == mask
    assert io.file_mode() == expected
    assert io.current_umask() == mask  # reading it did not change it


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_every_writer_gives_ordinary_file_permissions(umask, tmp_path, mask, expected):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() makes under this umask: the reference
    assert _mode(plain) == expected
    io.write_text(tmp_path / "a.txt", "hello\n")
    io.write_csv(pd.DataFrame({"x": [1.5, 2.0]}), tmp_path / "b.csv")
    io.write_json(tmp_path / "c.json", {"a": float("nan")})
    with io.atomic_path(tmp_path / "d.bin") as tmp:
        tmp.write_bytes(b"\x00\x01")
    with io.atomic_path(tmp_path / "e.bin") as tmp:  # a block that replaces the temporary file
        other = tmp_path / "elsewhere"
        other.write_bytes(b"y")
        os.chmod(other, 0o600)
        os.replace(other, tmp)
    for name in ["a.txt", "b.csv", "c.json", "d.bin", "e.bin"]:
        assert oct(_mode(tmp_path / name)) == oct(expected), name
    assert (tmp_path / "c.json").read_text() == '{\n  "a": null\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.csv", "c.json", "d.bin", "e.bin",
                                                          "plain.txt"]


def test_umask_022_in_a_fresh_process(tmp_path):
    """A report written by a separate process (as Snakemake runs steps) is world-readable."""
    code = ("import os, sys; os.umask(0o022); from evsynth.io import write_text; "
            "write_text(sys.argv[1], 'report')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "report.html")], check=True)
    assert _mode(tmp_path / "report.html") == 0o644


def test_failed_block_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


@pytest.mark.skipif(os.geteuid() == 0 and sys.platform != "linux", reason="root ignores modes (no prctl)")
def test_unwritable_folder_names_the_target_not_the_temporary(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    code = ("import sys; from evsynth.io import write_text\n"
            "try:\n    write_text(sys.argv[1], 'x')\n"
            "except PermissionError as e:\n    print(e.filename); sys.exit(3)\n")
    os.chmod(folder, 0o555)
    try:
        out = subprocess.run([sys.executable, "-c", code, str(folder / "report.html")], check=False,
                             capture_output=True, text=True, preexec_fn=_drop_root_file_powers)
    finally:
        os.chmod(folder, 0o755)
    assert out.returncode == 3, out.stderr
    assert out.stdout.strip() == str(folder / "report.html")
    assert list(folder.iterdir()) == []


def _drop_root_file_powers() -> None:
    """In the child: as root, drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH so file modes apply."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")
