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


def _parsers(parser, prefix=()):
    import argparse

    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*prefix, name))


def test_every_option_is_described_and_shows_its_default():
    import argparse

    from sfcl.cli import build_parser

    seen = 0
    for prefix, parser in _parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"sfcl {' '.join(prefix)} {action.option_strings or action.dest}: no help text"
            unset = action.default is None or action.default is False
            if action.option_strings and not unset and not action.required and not isinstance(action.default, list):
                assert "default" in " ".join(action.help.split() + text.split()), (prefix, action.dest)
                assert f"(default: {action.default})" in " ".join(text.split()) or "default" in action.help, \
                    (prefix, action.dest)
                seen += 1
    assert seen > 20  # the walk reached the sub-commands


def test_eval_lists_the_protocols_and_occlude_says_what_is_required():
    from sfcl.cli import build_parser
    from sfcl.data import DATASETS

    parsers = dict(_parsers(build_parser()))
    help_of = {k: " ".join(p.format_help().split()) for k, p in parsers.items()}
    for spec in DATASETS.values():
        for name in spec.protocol_names:
            assert name in "".join(help_of[("eval",)].split())  # argparse wraps at hyphens
    assert "--dataset {sysu,regdb,llcm} layout of --src (required, unless --from-manifest)" in help_of[("occlude",)]
    assert "(required, unless --from-manifest)" in help_of[("occlude",)].split("--seed SEED")[-1]


def test_result_tables_stay_aligned_at_100():
    from sfcl.evaluation.protocols import format_table

    row = dict(r1=100.0, r5=5.5, r10=10.0, r20=20.0, mAP=3.25, mINP=1.0)
    lines = format_table({"a": row, "longer name": dict(row, r1=1.0)}).splitlines()
    assert len({len(line) for line in lines}) == 1 and "| 100.00 |" in lines[2]
    assert [i for i, c in enumerate(lines[0]) if c == "|"] == [i for i, c in enumerate(lines[3]) if c == "|"]


def test_occlude_prints_its_summary_once(tmp_path, capsys):
    from sfcl.cli import main
    from sfcl.data.synthvi import synthesize
    from tests.occlusion.util import SMALL

    src = synthesize(tmp_path / "src", **SMALL)
    assert main(["occlude", "--dataset", "sysu", "--src", str(src), "--out", str(tmp_path / "o"), "--seed", "1"]) == 0
    out = capsys.readouterr()
    assert (out.out + out.err).count("occluded ") == 1
