"""sfcl demo at a tiny size: Occ-SynthVI is built, Base and SFCL train, the table has every row,
and demo_results.json has its documented format."""

from __future__ import annotations

import json
import math

import torch

from sfcl.cli import main
from sfcl.demo import METRICS, ROWS, held_out_fraction


def test_demo_trains_base_and_sfcl_on_occluded_synthvi(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--ids", "12", "--epochs", "1", "train.batches_per_epoch=2",
            "eval.num_trials=2", "data.num_ids=4", "data.test_batch_size=64", "model.pretrained=null"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Occ-SynthVI (ratio 0.5), 12 ids" in printed and "zeroing O_fre at test drops mAP by" in printed
    summary = json.loads((out / "demo_results.json").read_text())
    assert set(summary) >= {"dataset", "ids", "train_ids", "test_ids", "protocol", "gallery_trials", "cpu_threads",
                            "rows", "frequency", "wall_seconds"}
    assert summary["ids"] == 12 and summary["protocol"] == "sysu-all-single" and summary["wall_seconds"] > 0
    names = [row["row"] for row in summary["rows"]]
    assert names == ["raw pixels (fixed)", "HOG (fixed)", "Base, untrained", "Base", "SFCL", "SFCL, O_fre zeroed at test"]
    for row in summary["rows"]:
        assert all(math.isfinite(row[k]) and 0 <= row[k] <= 100 for k in METRICS), row
        assert row["train_seconds"] >= 0 and (row["train_seconds"] > 0) == (row["row"] in ROWS)
        assert row["r1"] <= row["r5"] <= row["r10"] <= row["r20"]
    by_name = {row["row"]: row for row in summary["rows"]}
    assert by_name["Base"]["epochs"] == 1 and by_name["SFCL"]["steps"] == 2
    report = summary["frequency"]["SFCL"]
    assert report["zeroed_o_fre_map_drop"] == by_name["SFCL"]["mAP"] - by_name["SFCL, O_fre zeroed at test"]["mAP"]
    assert report["o_fre_rms_ratio"] > 0 and -1 <= report["frequency_cosine"] <= 1
    assert (out / "occ_synthvi" / "occlusion_manifest.jsonl").is_file()
    for row in ROWS:
        assert (out / f"run_{row.lower()}" / "last.pt").is_file()
        assert (out / f"run_{row.lower()}" / "curves.png").is_file()


def test_held_out_identities():
    assert held_out_fraction(360) == 0.1 and held_out_fraction(12) == 0.3
