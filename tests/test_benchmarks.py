"""The benchmark scripts run (tiny settings) and report what they measured."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_speed_on_random_batches(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"name": "sysu", "height": 32, "width": 16, "num_ids": 2, "num_instances": 2, "workers": 0},
        "model": {"depth": 18},
        "train": {"device": "cpu"},
    }))
    out = tmp_path / "speed.json"
    assert load_script("train_speed").main([str(config), "--steps", "2", "--warmup", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["batch"] == 2 * 2 * 2 and result["steps"] == 2
    assert result["images_per_s"] > 0 and result["input"] == "32x16" and result["data"] == "random tensors"
