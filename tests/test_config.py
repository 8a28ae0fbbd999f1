from pathlib import Path

import pytest

from sfcl.config import Config, config_from_dict, load_config, save_config
from sfcl.errors import SfclError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_overrides_are_typed():
    cfg = config_from_dict({"train": {"epochs": 3}}, ["optim.milestones=[1,2]", "model.pretrained=/w.pth",
                                                      "data.random_erasing=0", "optim.lr=1e-3"])
    assert cfg.train.epochs == 3
    assert cfg.optim.milestones == [1, 2]
    assert cfg.model.pretrained == "/w.pth"
    assert cfg.data.random_erasing == 0.0 and isinstance(cfg.data.random_erasing, float)
    assert cfg.optim.lr == pytest.approx(1e-3)


def test_unquoted_off_is_the_string_off():
    """YAML 1.1 reads ``off`` as False: a str key takes it back as "off" (``train.amp=off`` works unquoted)."""
    assert config_from_dict({}, ["train.amp=off"]).train.amp == "off"
    assert config_from_dict({"train": {"amp": False}}).train.amp == "off"
    with pytest.raises(SfclError, match="train.amp.*'on'"):
        config_from_dict({}, ["train.amp=on"])


@pytest.mark.parametrize(
    "override, fragment",
    [("train.epoch=3", "train.epoch"), ("train.epochs=abc", "train.epochs"), ("nokey", "section.key=value"),
     ("optim.milestones=5", "optim.milestones"), ("train.epochs.x=1", "train.epochs")],
)
def test_bad_overrides_name_the_key(override, fragment):
    with pytest.raises(SfclError, match=fragment.replace(".", r"\.")):
        config_from_dict({}, [override])


def test_missing_file(tmp_path):
    with pytest.raises(SfclError, match="missing config file"):
        load_config(tmp_path / "nope.yaml")


def test_round_trip(tmp_path):
    cfg = config_from_dict({"name": "x", "model": {"depth": 18}})
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config) and cfg.name


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("just a string\n", "str")])
def test_a_yaml_that_is_not_a_mapping_is_one_error(tmp_path, text, kind):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SfclError, match=f"expected a mapping of sections .* got a YAML {kind}"):
        load_config(path)
