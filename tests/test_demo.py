"""sfcl demo at a tiny size: Occ-SynthVI is built, Base and SFCL train, the table has every row."""

from __future__ import annotations

import json
import math

import torch

from sfcl.cli import main
from sfcl.demo import ROWS


def test_demo_trains_base_and_sfcl_on_occluded_synthvi(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--ids", "12", "--epochs", "1", "train.batches_per_epoch=2",
            "eval.num_trials=2", "data.test_batch_size=64"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Occ-SynthVI (ratio 0.5), 12 ids" in printed
    rows = json.loads((out / "demo_results.json").read_text())
    names = list(rows)
    assert names[:2] == ["raw pixels (fixed)", "Base, untrained"] and len(names) == 2 + len(ROWS)
    assert names[2].startswith("Base, trained 1 ep") and names[3].startswith("SFCL, trained 1 ep")
    for metrics in rows.values():
        assert all(math.isfinite(metrics[k]) and 0 <= metrics[k] <= 100 for k in ("r1", "mAP", "mINP"))
    assert (out / "occ_synthvi" / "occlusion_manifest.jsonl").is_file()
    for row in ROWS:
        assert (out / f"run_{row.lower()}" / "last.pt").is_file()
