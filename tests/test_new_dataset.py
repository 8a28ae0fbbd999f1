"""A fourth dataset, defined in this file alone, runs train -> eval -> occlude -> visualize ranks.

"ToyVI" is laid out like SYSU-MM01 (``cam<k>/<id:04d>/`` and ``exp/*_id.txt``; SynthVI writes
it) but is its own dataset: its own name, protocols (visible -> infrared and back, one seeded
gallery image per identity and camera, DEEN's same-camera rule), query modality, and scenes.
Nothing under ``src/`` names it: registering its spec is all it takes.
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path

import pytest
import yaml

from sfcl.data import DATASETS, build_dataset, dataset_spec, register_dataset
from sfcl.data.base import ReIDDataset, Sample
from sfcl.data.spec import DatasetSpec, Protocol, Trial, by_modality, groups, seeded_gallery
from sfcl.data.synthvi import synthesize
from sfcl.data.sysu import load_sysu
from sfcl.modality import NIR, VIS, other
from tests.cli_helpers import run_cli

NAME = "toyvi"


def load_toyvi(root: str | Path) -> ReIDDataset:
    return dataclasses.replace(load_sysu(root), name=NAME, meta={})


def toy_trials(test: list[Sample], num_trials: int, meta: dict, query: str) -> tuple[list[Trial], str]:
    groups_of = groups(test, modality=other(query))
    pids, cams = sorted({p for p, _ in groups_of}), sorted({c for _, c in groups_of})
    return [Trial(by_modality(test, query), seeded_gallery(groups_of, pids, cams, t)) for t in range(num_trials)], "seeded"


TOYVI = DatasetSpec(
    name=NAME, title="ToyVI", load=load_toyvi, options=(),
    protocols=(Protocol("toy-v2i", "ToyVI visible to infrared", partial(toy_trials, query=VIS), "drop-same-camera"),
               Protocol("toy-i2v", "ToyVI infrared to visible", partial(toy_trials, query=NIR), "drop-same-camera")),
    query_modality=VIS, infrared_query_protocol="toy-i2v",
    scene=lambda cam: "indoor" if cam <= 3 else "outdoor",
)


@pytest.fixture
def toyvi(tmp_path_factory):
    register_dataset(TOYVI)
    yield synthesize(tmp_path_factory.mktemp("toyvi") / "toyvi", num_ids=12, seed=3, images_per_cam=2,
                     height=32, width=16)
    DATASETS.pop(NAME)


def test_registry_refuses_clashes_and_unknown_options(toyvi):
    from sfcl.errors import SfclError

    with pytest.raises(SfclError, match="already registered"):
        register_dataset(TOYVI)
    with pytest.raises(SfclError, match="protocol sysu-all-single already belongs to sysu"):
        register_dataset(dataclasses.replace(TOYVI, name="toy2", infrared_query_protocol="sysu-all-single",
                                             protocols=dataset_spec("sysu").protocols[:1]))
    with pytest.raises(SfclError, match="dataset toyvi takes no option trial"):
        build_dataset(NAME, toyvi, trial=2)
    assert build_dataset(NAME, toyvi).protocols == ("toy-v2i", "toy-i2v")


def test_train_eval_occlude_and_ranks_on_a_dataset_defined_in_one_test_file(toyvi, tmp_path, capsys,
                                                                            one_torch_thread):
    out = tmp_path / "run"
    config = {
        "name": "toy", "data": {"name": NAME, "root": str(toyvi), "height": 32, "width": 16, "num_ids": 4,
                                "num_instances": 1, "workers": 0, "random_erasing": 0.0},
        "model": {"depth": 18},
        "optim": {"name": "adam", "lr": 1e-3, "warmup_epochs": 0, "schedule": "cosine"},
        "train": {"epochs": 1, "device": "cpu", "batches_per_epoch": 2, "progress": False, "output_dir": str(out)},
        "eval": {"protocols": ["toy-v2i"], "num_trials": 2},
    }
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(config))

    code, stdout, _ = run_cli(["train", str(tmp_path / "toy.yaml")], capsys)
    assert code == 0 and "toy-v2i" in stdout and (out / "last.pt").is_file()

    code, stdout, _ = run_cli(["eval", "--checkpoint", str(out / "last.pt"), "--protocol", "toy-i2v",
                               "--json", str(tmp_path / "eval.json")], capsys)
    result = json.loads((tmp_path / "eval.json").read_text())["toy-i2v"]
    test = build_dataset(NAME, toyvi).test
    assert code == 0 and result["num_query"] == sum(s.modality == NIR for s in test)
    assert len(result["trials"]) == 2  # the checkpoint config's eval.num_trials

    occ = tmp_path / "occ"
    code, stdout, _ = run_cli(["occlude", "--dataset", NAME, "--src", str(toyvi), "--out", str(occ),
                               "--seed", "0", "--workers", "1", "--splits", "query"], capsys)
    lines = (occ / "occlusion_manifest.jsonl").read_text().splitlines()
    header, records = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert code == 0 and header["dataset"] == NAME
    visible_test = {Path(s.path).relative_to(toyvi).as_posix() for s in test if s.modality == VIS}
    assert records and {r["path"] for r in records} == visible_test  # ToyVI queries with visible images
    assert {r["scene"] for r in records} == {"indoor", "outdoor"}

    code, stdout, _ = run_cli(["visualize", "ranks", "--checkpoint", str(out / "last.pt"), "--out",
                               str(tmp_path / "ranks"), "--data-root", str(occ), "--num-queries", "2",
                               "--topk", "3"], capsys)
    assert code == 0 and (tmp_path / "ranks" / "ranks.png").is_file()
    query_pictures = [p.name for p in (tmp_path / "ranks").glob("0*.png")]
    assert len(query_pictures) == 2 and all("_cam3_" in n or "_cam6_" in n for n in query_pictures)  # infrared
