"""Training faults: corrupt images found before training, a kill during evaluation, non-finite
losses, gradients and weights (README "When something goes wrong")."""

from __future__ import annotations

import shutil

import pytest
import torch

from sfcl.data.sysu import load_sysu
from sfcl.engine import trainer as trainer_module
from sfcl.engine.checkpoint import load_checkpoint
from sfcl.engine.trainer import Trainer
from sfcl.errors import SfclError
from sfcl.evaluation.protocols import evaluate

from .conftest import tiny_config


def test_a_corrupt_test_image_is_reported_before_training(tiny_synthvi, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_synthvi, root)
    victim = load_sysu(root).test[5].path
    with open(victim, "r+b") as handle:
        handle.write(b"garbage!" * 4)  # the JPEG header is gone
    with pytest.raises(SfclError) as err:
        Trainer(tiny_config(root, tmp_path / "run"))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"unreadable dataset image {victim}")
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_the_trained_epoch_is_on_disk_before_evaluation_and_resume_runs_only_the_evaluation(
        tiny_synthvi, tmp_path, monkeypatch):
    straight = Trainer(tiny_config(tiny_synthvi, tmp_path / "a", "train.epochs=2"))
    expected = straight.fit()

    cfg = tiny_config(tiny_synthvi, tmp_path / "b", "train.epochs=2")
    real = trainer_module.evaluate_model

    def killed(*args, **kwargs):
        state = load_checkpoint(tmp_path / "b" / "last.pt")
        assert state["epoch"] == 2 and state["pending_eval"]["epoch"] == 2  # saved before evaluating
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "evaluate_model", killed)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg).fit()
    monkeypatch.setattr(trainer_module, "evaluate_model", real)
    resumed = Trainer(cfg, resume=tmp_path / "b" / "last.pt")
    trained = []
    monkeypatch.setattr(Trainer, "train_one_epoch", lambda self, epoch: trained.append(epoch))
    results = resumed.fit()
    assert trained == []  # only the evaluation ran
    assert results["final"] == expected["final"]
    assert [r["epoch"] for r in results["history"]] == [1, 2]
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert "pending_eval" not in load_checkpoint(tmp_path / "b" / "last.pt")


def _nan_after(trainer, calls: int, monkeypatch):
    original, count = trainer.objective.forward, [0]

    def poisoned(output, labels, **kwargs):
        count[0] += 1
        total, terms = original(output, labels, **kwargs)
        return (total * float("nan") if count[0] > calls else total), terms

    monkeypatch.setattr(trainer.objective, "forward", poisoned)


def test_a_nan_loss_names_the_step_and_the_last_finite_checkpoint(tiny_synthvi, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=3"))
    _nan_after(trainer, 3 + 1, monkeypatch)  # epoch 1 (3 batches) and one step of epoch 2 are fine
    with pytest.raises(SfclError) as err:
        trainer.fit()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("loss became nan (terms: id ") and "at epoch 2 step 2 (global step 5)" in message
    assert f"last checkpoint with finite weights: {tmp_path / 'run' / 'last.pt'} (epoch 1)" in message
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_a_nan_loss_in_the_first_epoch_says_no_checkpoint_exists(tiny_synthvi, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tiny_synthvi, tmp_path / "run"))
    _nan_after(trainer, 0, monkeypatch)
    with pytest.raises(SfclError, match=r"epoch 1 step 1 \(global step 1\); no checkpoint was saved"):
        trainer.fit()


def test_a_non_finite_gradient_stops_before_the_weights_change(tiny_synthvi, tmp_path):
    trainer = Trainer(tiny_config(tiny_synthvi, tmp_path / "run"))
    weight = next(p for p in trainer.model.parameters() if p.ndim == 4)
    before = weight.detach().clone()
    weight.register_hook(lambda grad: grad * float("inf"))
    with pytest.raises(SfclError, match="a gradient became non-finite .* at epoch 1 step 1"):
        trainer.fit()
    assert torch.equal(weight.detach(), before)


def test_non_finite_weights_never_replace_the_last_finite_checkpoint(tiny_synthvi, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=3"))
    original = Trainer.train_one_epoch

    def diverge_in_epoch_two(self, epoch):
        terms = original(self, epoch)
        if epoch == 1:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("inf"))
        return terms

    monkeypatch.setattr(Trainer, "train_one_epoch", diverge_in_epoch_two)
    with pytest.raises(SfclError, match=r"weights became non-finite during epoch 2 .* \(epoch 1\)"):
        trainer.fit()
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_evaluation_refuses_non_finite_features(tiny_synthvi, poison):
    test = load_sysu(tiny_synthvi).test
    feats = torch.randn(len(test), 8)
    feats[3, 2] = poison
    with pytest.raises(SfclError) as err:
        evaluate("sysu-all-single", feats, test, num_trials=1)
    message = str(err.value)
    assert "\n" not in message and "1 of" in message and test[3].path in message
