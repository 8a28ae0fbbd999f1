"""The config is checked once, when it is read: every command that reads one prints one line and exits 2."""

from __future__ import annotations

import pytest

from sfcl.config import RULES, Config, check_config, config_from_dict
from sfcl.errors import SfclError

from .cli_helpers import run_cli

BAD = [
    ("model.sfim.threshold=1.5", "model.sfim.threshold: expected a number in [0, 1), got 1.5"),
    ("data.height=0", "data.height: expected >= 1, got 0"),
    ("data.workers=-1", "data.workers: expected >= 0, got -1"),
    ("optim.lr=-0.1", "optim.lr: expected > 0, got -0.1"),
    ("train.epochs=0", "train.epochs: expected >= 1, got 0"),
    ("optim.name=rmsprop", "optim.name: expected one of sgd, adam, got 'rmsprop'"),
    ("model.sfim.enabled=true", "model.sfim.enabled: SFIM injects CFAM's frequency map"),
    ("train.device=tpu", "train.device: expected auto, cpu, cuda or cuda:N, got 'tpu'"),
]


@pytest.mark.parametrize("override, message", BAD)
def test_bad_values_are_refused_at_load_time(override, message):
    with pytest.raises(SfclError, match="config key " + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        config_from_dict({}, [override])


@pytest.mark.parametrize("command", [["train", "configs/sysu_base.yaml"], ["profile", "configs/sysu_base.yaml"]])
@pytest.mark.parametrize("override, message", BAD[:5])
def test_every_command_prints_one_line_and_exits_2(command, override, message, capsys):
    argv = [*command, override] if command[0] == "train" else [*command, "--override", override, "--no-latency"]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and err.strip().count("\n") == 0 and message in err, err


def test_defaults_and_shipped_values_pass_every_rule():
    check_config(Config())
    assert len(RULES) > 50


def test_old_section_names_are_read_as_the_new_ones_with_one_notice(caplog):
    from sfcl.config import config_from_dict

    old = {"model": {"cfam": True, "sfim": True, "frequency": {"dim": 16, "heads": 2},
                     "interaction": {"threshold": 0.2}}}
    with caplog.at_level("WARNING"):
        cfg = config_from_dict(old, ["model.frequency.d_state=4", "model.interaction.mlp_hidden=8"])
    new = config_from_dict({"model": {"cfam": {"enabled": True, "dim": 16, "heads": 2, "d_state": 4},
                                      "sfim": {"enabled": True, "threshold": 0.2, "mlp_hidden": 8}}})
    assert cfg == new
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 6 and all("deprecated" in n and "\n" not in n for n in notices)
    assert any("model.frequency.* is deprecated, read as model.cfam.*" in n for n in notices)
    assert config_from_dict({}, ["model.cfam=true"]).model.cfam.enabled  # old switch as an override
    with pytest.raises(SfclError, match="model.sfim.threshold: expected a number in"):
        config_from_dict({}, ["model.interaction.threshold=1.5"])
