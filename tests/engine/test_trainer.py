import json

import pytest
import torch

from sfcl.engine.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from sfcl.engine.trainer import Trainer, train
from sfcl.errors import SfclError

from .conftest import tiny_config


def test_training_lowers_the_loss(tiny_synthvi, tmp_path):
    cfg = tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=6", "train.batches_per_epoch=4")
    results = train(cfg)
    losses = [record["total"] for record in results["history"]]
    assert losses[-1] < 0.8 * losses[0], losses
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["final"]["sysu-all-single"]["mAP"] == pytest.approx(results["final"]["sysu-all-single"]["mAP"])
    for name in ("last.pt", "best.pt", "config.yaml", "curves.png"):
        assert (tmp_path / "run" / name).is_file()
    assert any((tmp_path / "run" / "tb").iterdir())
    from PIL import Image

    with Image.open(tmp_path / "run" / "curves.png") as im:
        assert im.size == (1000, 380)


def test_resume_matches_uninterrupted(tiny_synthvi, tmp_path, monkeypatch):
    straight = Trainer(tiny_config(tiny_synthvi, tmp_path / "a", "train.epochs=3"))
    straight.fit()

    cfg = tiny_config(tiny_synthvi, tmp_path / "b", "train.epochs=3")
    interrupted = Trainer(cfg)
    original = Trainer.train_one_epoch

    def stop_at_second(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "train_one_epoch", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    monkeypatch.setattr(Trainer, "train_one_epoch", original)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 2
    resumed = Trainer(cfg, resume=tmp_path / "b" / "last.pt")
    assert resumed.start_epoch == 2
    resumed.fit()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert len(resumed.history) == 3


def test_non_finite_loss_stops_with_one_line(tiny_synthvi, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=2"))
    original = trainer.objective.forward

    def poisoned(output, labels, **kwargs):
        total, terms = original(output, labels, **kwargs)
        return total * float("nan"), terms

    trainer.train_one_epoch(0)  # one good epoch first
    monkeypatch.setattr(trainer.objective, "forward", poisoned)
    with pytest.raises(SfclError, match="epoch 2 step 1") as info:
        trainer.train_one_epoch(1)
    assert "\n" not in str(info.value)


def test_checkpoint_of_other_architecture(tiny_synthvi, tmp_path):
    train(tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=1"))
    model, cfg = model_from_checkpoint(tmp_path / "run" / "last.pt")
    assert not model.training and cfg.model.depth == 18
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    state["config"]["model"]["depth"] = 34
    save_checkpoint(tmp_path / "other.pt", {k: v for k, v in state.items() if k != "format"})
    with pytest.raises(SfclError, match=r"does not fit this architecture \(\d+ model tensors missing from the "
                                        r"checkpoint, first backbone\."):
        model_from_checkpoint(tmp_path / "other.pt")
    state["config"]["model"]["depth"] = 18
    state["model"]["classifier.weight"] = state["model"]["classifier.weight"][:, :7]
    save_checkpoint(tmp_path / "narrow.pt", {k: v for k, v in state.items() if k != "format"})
    with pytest.raises(SfclError, match=r"1 tensors differ in shape, first classifier.weight: \(\d+, 7\) in the "
                                        r"checkpoint, \(\d+, \d+\) in the model"):
        model_from_checkpoint(tmp_path / "narrow.pt")


def test_base_cfam_trains_and_reloads(tiny_synthvi, tmp_path):
    """A few steps of Base+CFAM on tiny SynthVI lower the loss; the checkpoint (prototypes included) reloads."""
    cfg = tiny_config(tiny_synthvi, tmp_path / "run", "model.cfam.enabled=true", "model.cfam.dim=16",
                      "model.cfam.heads=2", "model.cfam.d_state=4", "model.cfam.mlp_ratio=1.0",
                      "train.epochs=5", "train.batches_per_epoch=4")
    results = train(cfg)
    losses = [record["total"] for record in results["history"]]
    assert losses[-1] < 0.85 * losses[0], losses
    model, _ = model_from_checkpoint(tmp_path / "run" / "last.pt")
    assert int(model.cfam.prototype_updates.min()) == 5 * 4


def test_full_sfcl_trains_and_logs_the_fad_terms(tiny_synthvi, tmp_path):
    """A few steps of the full SFCL (CFAM + SFIM + FAD loss) on tiny SynthVI lower the loss."""
    cfg = tiny_config(tiny_synthvi, tmp_path / "run", "model.cfam.enabled=true", "model.sfim.enabled=true",
                      "model.cfam.dim=16", "model.cfam.heads=2", "model.cfam.d_state=4",
                      "model.cfam.mlp_ratio=1.0", "model.sfim.covariance_dim=4",
                      "model.sfim.mlp_hidden=16", "loss.cfc_weight=1.0", "loss.csc_weight=0.8",
                      "loss.csc_neighbors=2", "train.epochs=5", "train.batches_per_epoch=4")
    results = train(cfg)
    history = results["history"]
    assert all(record["cfc"] > 0 and record["csc"] >= 0 for record in history), history
    losses = [record["total"] for record in history]
    assert losses[-1] < 0.85 * losses[0], losses
    model, _ = model_from_checkpoint(tmp_path / "run" / "last.pt")
    assert model.sfim is not None and results["final"]["sysu-all-single"]["mAP"] > 0


def test_a_loss_with_parameters_is_trained_and_checkpointed(tiny_synthvi, tmp_path, monkeypatch):
    from sfcl.engine import trainer as trainer_module
    from sfcl.losses.objective import ReIDObjective

    class ScaledObjective(ReIDObjective):  # a learnable weight on the total: the first loss with parameters
        def __init__(self, cfg):
            super().__init__(cfg)
            self.log_scale = torch.nn.Parameter(torch.zeros(()))

        def forward(self, *args, **kwargs):
            total, terms = super().forward(*args, **kwargs)
            return total * self.log_scale.exp(), terms

    monkeypatch.setattr(trainer_module, "ReIDObjective", ScaledObjective)
    trainer = Trainer(tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=1", "train.batches_per_epoch=3"))
    assert trainer.objective.log_scale.device == trainer.device
    assert any(p is trainer.objective.log_scale for g in trainer.optimizer.param_groups for p in g["params"])
    trainer.fit()
    assert trainer.objective.log_scale.item() != 0.0
    saved = load_checkpoint(tmp_path / "run" / "last.pt")["objective"]["log_scale"]
    assert saved.item() == trainer.objective.log_scale.item()


def test_random_init_is_said_once_by_training_and_never_by_loading(tiny_synthvi, tmp_path, caplog):
    import logging
    import warnings

    cfg = tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=1", "train.batches_per_epoch=1")
    with caplog.at_level(logging.WARNING, logger="sfcl.engine.trainer"):
        train(cfg)
    said = [r.getMessage() for r in caplog.records if "random init" in r.getMessage()]
    assert len(said) == 1 and "model.pretrained is not set" in said[0]
    caplog.clear()
    with warnings.catch_warnings(), caplog.at_level(logging.INFO):
        warnings.simplefilter("error")
        model_from_checkpoint(tmp_path / "run" / "last.pt")
        Trainer(tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=2", "train.batches_per_epoch=1"),
                resume=tmp_path / "run" / "last.pt")
    assert not [r for r in caplog.records if "random init" in r.getMessage()]


def test_the_bars_show_the_epoch_mean_and_count_images(tiny_synthvi, tmp_path, monkeypatch):
    from tqdm import tqdm as real_tqdm

    import sfcl.engine.trainer as trainer_module
    import sfcl.evaluation.extract as extract_module

    shown: list[str] = []
    extracted: list[tuple[int, int]] = []

    class TrainBar(real_tqdm):
        def set_postfix(self, **kwargs):
            shown.append(kwargs["loss"])
            return super().set_postfix(**kwargs)

    class ExtractBar(real_tqdm):
        def close(self):
            extracted.append((self.total, self.n))
            return super().close()

    monkeypatch.setattr(trainer_module, "tqdm", TrainBar)
    monkeypatch.setattr(extract_module, "tqdm", ExtractBar)
    cfg = tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=1", "train.log_every=20", "train.progress=true")
    results = train(cfg)
    assert shown[-1] == f"{results['history'][0]['total']:.3f}"  # not the first batch's loss
    test_images = len(Trainer(cfg).dataset.test)
    assert set(extracted) == {(test_images, test_images)}  # (tqdm's __del__ closes a second time)


def test_a_checkpoint_without_its_config_is_one_line(tiny_synthvi, tmp_path):
    train(tiny_config(tiny_synthvi, tmp_path / "run", "train.epochs=1", "train.batches_per_epoch=1"))
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    for key in ("config", "num_classes", "model"):
        save_checkpoint(tmp_path / "partial.pt", {k: v for k, v in state.items() if k not in ("format", key)})
        with pytest.raises(SfclError, match=f"has no {key} entry: expected a checkpoint written by sfcl train"):
            model_from_checkpoint(tmp_path / "partial.pt")
