"""The built wheel carries the demo configs, and `sfcl demo` reads them from the package, not a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sfcl.demo import ROWS, demo_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_the_demo_configs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("sfcl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"sfcl/configs/{name}" for name in ROWS.values()} <= names
    assert {"sfcl/modality.py", "sfcl/demo.py"} <= names


def test_demo_configs_come_from_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the checkout: the configs are package data
    cfg = demo_config("SFCL", tmp_path / "out", epochs=None, seed=3)
    assert cfg.name == "demo_synthvi_sfcl" and cfg.model.cfam.enabled and cfg.train.seed == 3
    assert Path(cfg.data.root) == tmp_path / "out" / "occ_synthvi"
    for name in ROWS.values():  # the checkout's configs/ links to the same files
        assert (ROOT / "configs" / name).resolve() == (ROOT / "src" / "sfcl" / "configs" / name).resolve()
