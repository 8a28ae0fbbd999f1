"""``sfcl occlude`` / ``sfcl sol`` parsers, the picture grid and the speed benchmark (tiny settings)."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfcl.cli.occlusion import add_parsers as add_occlusion_parsers
from sfcl.errors import SfclError
from sfcl.occlusion.build import occlude_dataset
from sfcl.occlusion.grid import render_grid

from .util import digest

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str]) -> tuple[int, str]:
    """What ``sfcl.cli.main`` does with these parsers: (exit code, SfclError message)."""
    parser = argparse.ArgumentParser(prog="sfcl")
    add_occlusion_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args), ""
    except SfclError as err:
        return 2, str(err)


def test_occlude_then_rebuild_from_manifest(synth, occluded, tmp_path, capsys):
    out = tmp_path / "occ"
    code, _ = run(["occlude", "--dataset", "sysu", "--src", str(synth), "--out", str(out), "--seed", "3",
                   "--workers", "2", "--grid", str(tmp_path / "grid.png")])
    assert code == 0 and "occluded 72 images" in capsys.readouterr().out
    assert digest(out) == digest(occluded) and (tmp_path / "grid.png").is_file()
    code, _ = run(["occlude", "--from-manifest", str(out / "occlusion_manifest.jsonl"), "--src", str(synth),
                   "--out", str(tmp_path / "re"), "--workers", "1"])
    assert code == 0 and digest(tmp_path / "re") == digest(occluded)


@pytest.mark.parametrize("extra, fragment", [
    (["--dataset", "sysu"], "--seed required"),
    (["--seed", "1"], "--dataset required"),
    (["--dataset", "sysu", "--seed", "1", "--splits", "train,test"], "splits train,test"),
    (["--from-manifest", "m.jsonl", "--seed", "1"], "takes its --seed from the manifest"),
    (["--from-manifest", "no/such/m.jsonl"], "missing manifest"),
])
def test_occlude_mistakes_are_one_line(synth, tmp_path, extra, fragment):
    code, message = run(["occlude", "--src", str(synth), "--out", str(tmp_path / "o"), *extra])
    assert code == 2 and fragment in message and "\n" not in message


def test_sol_export_and_info(tmp_path, capsys):
    assert run(["sol", "export", "--out", str(tmp_path / "sol")])[0] == 0
    assert len(list((tmp_path / "sol" / "images").glob("*.png"))) == 96
    assert run(["sol", "info", str(tmp_path / "sol")])[0] == 0
    text = capsys.readouterr().out
    assert "96 occluders" in text and "traffic_sign" in text and "outdoor/full/large" in text
    code, message = run(["sol", "build", "--images", str(tmp_path), "--detector", str(tmp_path / "y.pt"),
                         "--out", str(tmp_path / "x")])
    assert code == 2 and "missing YOLOv8-seg weights" in message


def test_console_script_when_registered(synth, tmp_path, capsys):
    from sfcl.cli import build_parser, main

    if "occlude" not in build_parser().format_help():
        pytest.skip("sfcl.cli does not register the occlusion commands yet")
    assert main(["occlude", "--dataset", "sysu", "--src", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
                 "--seed", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing folder" in err and len(err.splitlines()) == 1


def test_grid_shows_pairs_before_and_after(synth, occluded, tmp_path):
    png = render_grid(synth, occluded, tmp_path / "g.png", rows=2, per_row=2, height=64, width=32)
    grid = np.asarray(Image.open(png))
    assert grid.shape == (22 + 2 * 64 + 6, 2 * 4 * 32 + 8, 3)
    tiles = grid[22:22 + 64, :128].reshape(64, 4, 32, 3).transpose(1, 0, 2, 3)
    assert (tiles[0] != tiles[1]).any() and (tiles[2] != tiles[3]).any(), "before and after differ"
    assert (tiles[2][..., 0] == tiles[2][..., 1]).all(), "the infrared tile is grey"
    only_query = occlude_dataset("sysu", synth, tmp_path / "q", seed=1, splits="query")
    with pytest.raises(SfclError, match="both a visible and an infrared"):
        render_grid(synth, only_query.out, tmp_path / "none.png")


def test_speed_benchmark_runs(synth, tmp_path):
    spec = importlib.util.spec_from_file_location("occlude_speed", ROOT / "benchmarks" / "occlude_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "speed.json"
    assert module.main(["--src", str(synth), "--workers", "1", "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["images"] == 72 and result["images_per_s"] > 0 and result["workers"] == 1


def test_real_console_script_end_to_end(synth, occluded, tmp_path):
    import subprocess
    import sys

    from sfcl.cli import build_parser

    if "occlude" not in build_parser().format_help():
        pytest.skip("sfcl.cli does not register the occlusion commands yet")
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "sfcl.cli", "occlude", "--dataset", "sysu", "--src", str(synth),
                           "--out", str(out), "--seed", "3", "--workers", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "occluded 72 images" in proc.stdout and digest(out) == digest(occluded)
    proc = subprocess.run([sys.executable, "-m", "sfcl.cli", "occlude", "--dataset", "sysu", "--src", str(synth),
                           "--out", str(out), "--seed", "4"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"sfcl: error: {out} holds an occluded dataset made with other parameters (seed): expected the same "
        "parameters, or use another folder"]
