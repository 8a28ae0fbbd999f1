"""Resume semantics (README "Resuming a run"): what may change, how the schedule follows, what is refused."""

from __future__ import annotations

import pytest
import torch

from sfcl.engine.checkpoint import RESUMABLE_KEYS, load_checkpoint, save_checkpoint
from sfcl.engine.optim import lr_factor
from sfcl.engine.trainer import Trainer
from sfcl.errors import SfclError

from .conftest import tiny_config


@pytest.fixture(scope="module")
def finished(tiny_synthvi, tmp_path_factory):
    """A finished 2-epoch cosine run (3 batches an epoch): its last.pt."""
    out = tmp_path_factory.mktemp("finished")
    Trainer(tiny_config(tiny_synthvi, out, "train.epochs=2")).fit()
    return out / "last.pt"


def test_extending_a_finished_run_follows_the_rebuilt_schedule(tiny_synthvi, tmp_path, finished):
    cfg = tiny_config(tiny_synthvi, tmp_path, "train.epochs=4")
    resumed = Trainer(cfg, resume=finished)
    expected = cfg.optim.lr * lr_factor(2 * 3, cfg.optim, 4, 3)  # the 4-epoch cosine at iteration 6
    assert expected > 0.4 * cfg.optim.lr
    assert resumed.optimizer.param_groups[-1]["lr"] == pytest.approx(expected)  # not the finished run's 0
    seen = []
    original = resumed.optimizer.step

    def record(*args, **kwargs):
        seen.append(resumed.optimizer.param_groups[-1]["lr"])
        return original(*args, **kwargs)

    resumed.optimizer.step = record
    results = resumed.fit()
    assert seen[0] == pytest.approx(expected)  # the lr used by the first resumed step
    assert results["history"][2]["lr"] == pytest.approx(expected)  # ... and the one logged
    assert [r["epoch"] for r in results["history"]] == [1, 2, 3, 4]
    assert all(lr > 0 for lr in seen[:-1])


def test_unchanged_resume_keeps_the_checkpoints_lr_exactly(tiny_synthvi, tmp_path, finished):
    state = load_checkpoint(finished)
    lrs = [g["lr"] for g in state["optimizer"]["param_groups"]]
    cfg = tiny_config(tiny_synthvi, tmp_path, "train.epochs=2")
    with pytest.raises(SfclError, match="nothing to train"):
        Trainer(cfg, resume=finished)
    # mid-run checkpoint: the rebuilt lr equals the stored one to the bit
    mid = tmp_path / "mid.pt"
    state["epoch"], state["config"]["train"]["epochs"] = 2, 3
    save_checkpoint(mid, state)
    resumed = Trainer(tiny_config(tiny_synthvi, tmp_path / "m", "train.epochs=3"), resume=mid)
    cfg3 = resumed.cfg
    assert [g["lr"] for g in resumed.optimizer.param_groups][-1] == cfg3.optim.lr * lr_factor(6, cfg3.optim, 3, 3)
    assert len(lrs) == len(resumed.optimizer.param_groups)


@pytest.mark.parametrize("override, key, old, new", [
    ("optim.lr=0.01", "optim.lr", "0.001", "0.01"),
    ("data.height=64", "data.height", "32", "64"),
    ("train.seed=3", "train.seed", "0", "3"),
    ("optim.name=sgd", "optim.name", "'adam'", "'sgd'"),
    ("model.depth=34", "model.depth", "18", "34"),
])
def test_a_changed_training_key_is_refused_with_one_line(tiny_synthvi, tmp_path, finished, override, key, old, new):
    cfg = tiny_config(tiny_synthvi, tmp_path, "train.epochs=3", override)
    with pytest.raises(SfclError) as err:
        Trainer(cfg, resume=finished)
    message = str(err.value)
    assert "\n" not in message
    assert f"config key {key} was {old} in the checkpoint, now {new}" in message


def test_resumable_keys_may_change(tiny_synthvi, tmp_path, finished):
    cfg = tiny_config(tiny_synthvi, tmp_path / "other", "train.epochs=3", "eval.num_trials=1", "train.eval_every=1",
                      "data.workers=1", "train.log_every=1", "data.test_batch_size=8", "name=renamed")
    resumed = Trainer(cfg, resume=finished)
    assert resumed.start_epoch == 2
    assert {"train.epochs", "eval.*", "data.workers"} <= set(RESUMABLE_KEYS)


def test_a_checkpoint_without_config_is_one_line(tiny_synthvi, tmp_path, finished):
    state = load_checkpoint(finished)
    del state["config"]
    bare = tmp_path / "bare.pt"
    save_checkpoint(bare, state)
    with pytest.raises(SfclError, match="no config entry"):
        Trainer(tiny_config(tiny_synthvi, tmp_path, "train.epochs=3"), resume=bare)
    assert torch.load(bare, weights_only=True)["epoch"] == 2
