"""The config is checked once, when it is read: every command that reads one prints one line and exits 2."""

from __future__ import annotations

import pytest

from sfcl.config import RULES, Config, check_config, config_from_dict
from sfcl.errors import SfclError

from .cli_helpers import run_cli

BAD = [
    ("model.interaction.threshold=1.5", "model.interaction.threshold: expected a number in [0, 1), got 1.5"),
    ("data.height=0", "data.height: expected >= 1, got 0"),
    ("data.workers=-1", "data.workers: expected >= 0, got -1"),
    ("optim.lr=-0.1", "optim.lr: expected > 0, got -0.1"),
    ("train.epochs=0", "train.epochs: expected >= 1, got 0"),
    ("optim.name=rmsprop", "optim.name: expected one of sgd, adam, got 'rmsprop'"),
    ("model.sfim=true", "model.sfim: SFIM injects CFAM's frequency map"),
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
