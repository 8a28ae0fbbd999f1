import os

import pytest
import torch

from sfcl.engine.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from sfcl.errors import SfclError


def test_round_trip_weights_only(tmp_path):
    state = {"model": {"w": torch.arange(4.0)}, "epoch": 3, "history": [{"loss": 1.5}], "config": {"a": [1, 2]}}
    save_checkpoint(tmp_path / "c.pt", state)
    torch.load(tmp_path / "c.pt", weights_only=True)  # must not need pickled classes
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left


def test_failed_write_keeps_previous_file(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"epoch": 1})

    def explode(handle):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "c.pt", explode)
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == 1
    assert os.listdir(tmp_path) == ["c.pt"]


@pytest.mark.parametrize("content", [b"garbage", b""])
def test_corrupt_file_is_one_line(tmp_path, content):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(SfclError, match="corrupt") as info:
        load_checkpoint(tmp_path / "bad.pt")
    assert "\n" not in str(info.value)


def test_foreign_torch_file(tmp_path):
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(SfclError, match="not an sfcl checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_missing_file(tmp_path):
    with pytest.raises(SfclError, match="missing checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
