"""The console script: user mistakes are one line and exit code 2; a real end-to-end run works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sfcl.cli import main
from sfcl.data.sysu import load_sysu
from sfcl.evaluation.baselines import raw_pixel_features
from sfcl.evaluation.features import save_features

SFCL = [sys.executable, "-m", "sfcl.cli"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "no/such/config.yaml"], "missing config file"),
        (["eval", "--features", "no/such/feats.pt"], "no/such/feats.pt"),
        (["eval", "--checkpoint", "no/such/ckpt.pt"], "missing checkpoint"),
        (["eval"], "exactly one of"),
    ],
)
def test_user_mistakes_are_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


def test_bad_override_is_one_line(tmp_path, capsys):
    config = Path(__file__).resolve().parents[1] / "configs" / "sysu_base.yaml"
    assert main(["train", str(config), "train.epoch=3"]) == 2
    assert "unknown config key train.epoch" in capsys.readouterr().err


def test_missing_dataset_is_one_line(tmp_path, capsys):
    config = Path(__file__).resolve().parents[1] / "configs" / "sysu_base.yaml"
    assert main(["train", str(config), f"data.root={tmp_path / 'SYSU-MM01'}", "train.device=cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "SYSU-MM01" in err and len(err.splitlines()) == 1


def test_synth_then_eval_features_end_to_end(tmp_path):
    """The real console script: `sfcl synth`, then `sfcl eval --features` on raw-pixel features."""
    root = tmp_path / "synthvi"
    run = subprocess.run(SFCL + ["synth", "--out", str(root), "--ids", "10", "--images-per-cam", "2",
                                 "--height", "32", "--width", "16", "--workers", "1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    dataset = load_sysu(root)
    save_features(tmp_path / "feats.pt", raw_pixel_features(dataset.test), dataset.test)
    run = subprocess.run(SFCL + ["eval", "--features", str(tmp_path / "feats.pt"), "--protocol", "sysu-all-single",
                                 "--trials", "3", "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "sysu-all-single" in run.stdout and (tmp_path / "r.json").is_file()
