"""Real SIGKILLs of real ``sfcl`` processes, and two processes racing for one output folder.

Each killed run is a subprocess that installs one kill point (a step in the second epoch, the middle
of the second ``last.pt`` write, the final evaluation, the third occlusion chunk) and then runs
``sfcl.cli.main`` as the console script does; SIGKILL leaves no ``finally`` and no flush behind it.
The rerun (``sfcl train --resume``, or the same ``sfcl occlude``) is another subprocess, and what
it ends with is compared to an uninterrupted run: weights and optimizer state tensor for tensor,
the final metrics, and the occluded tree byte for byte.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from sfcl.config import save_config
from sfcl.fileio import LOCK_NAME, TMP_SUFFIX
from tests.engine.conftest import tiny_config
from tests.occlusion.util import digest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL and flock semantics")

BATCHES = 3  # tiny_config's batches per epoch

# Runs `sfcl ARGV` after installing the kill point named by argv[1].
DRIVER = textwrap.dedent("""
    import os, signal, sys
    point, argv = sys.argv[1], sys.argv[2:]
    def die():  # print this process's children (pool workers), then SIGKILL it
        tasks = [t for t in os.listdir("/proc/self/task")]
        kids = [k for t in tasks for k in open(f"/proc/self/task/{t}/children").read().split()]
        print("children", *kids, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if point == "mid-epoch":  # during the second step of epoch 2
        from sfcl.engine.trainer import Trainer
        step, calls = Trainer.step, []
        def killing_step(self, batch):
            calls.append(1)
            if len(calls) == %(batches)d + 2:
                die()
            return step(self, batch)
        Trainer.step = killing_step
    elif point == "checkpoint-write":  # half-way through writing epoch 2's last.pt
        from sfcl.engine import trainer
        save, calls = trainer.save_checkpoint, []
        def killing_save(path, state):
            calls.append(1)
            if len(calls) == 2:
                trainer.atomic_write(path, lambda handle: (handle.write(b"PK half a checkpoint"), handle.flush(), die()))
            save(path, state)
        trainer.save_checkpoint = killing_save
    elif point == "evaluation":  # the last epoch trained, its checkpoint written, scoring under way
        from sfcl.engine import trainer
        trainer.evaluate_model = lambda *args, **kwargs: die()
    elif point == "occlude":  # after the third finished chunk of two images
        from sfcl.occlusion import build
        build.CHUNK = 2
        occlude, calls = build.occlude_dataset, []
        def hook(done):
            calls.append(done)
            if len(calls) == 3:
                die()
        build.occlude_dataset = lambda *args, **kwargs: occlude(*args, **kwargs, hook=hook)
    elif point == "synth":  # after the fourth identity rendered by the pool
        from sfcl.data import synthvi
        pools = synthvi.process_pool
        class KillingPool:
            def __init__(self, workers):
                self.pool = pools(workers)
            def __enter__(self):
                self.pool.__enter__()
                return self
            def __exit__(self, *exc):
                return self.pool.__exit__(*exc)
            def map(self, fn, jobs, chunksize=1):
                for done, result in enumerate(self.pool.map(fn, jobs, chunksize=chunksize), 1):
                    if done == 4:
                        die()
                    yield result
        synthvi.process_pool = KillingPool
    elif point == "hold-lock":  # holds the folder's lock until killed
        import time
        from sfcl.fileio import OutputLock
        with OutputLock(argv[0], "occlude"):
            print("holding", flush=True)
            time.sleep(120)
    if point != "hold-lock":
        from sfcl.cli import main
        sys.exit(main(argv))
""") % {"batches": BATCHES}


def _sfcl(argv: list[str], point: str = "none", cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-c", DRIVER, point, *argv], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def train_setup(tiny_synthvi, tmp_path_factory):
    """A tiny 3-epoch config as a YAML file and the last.pt + results of one uninterrupted CLI run."""
    folder = tmp_path_factory.mktemp("kill")
    config = folder / "tiny.yaml"
    save_config(tiny_config(tiny_synthvi, folder / "unused", "train.epochs=3"), config)
    straight = _sfcl(["train", str(config), f"train.output_dir={folder / 'straight'}"])
    assert straight.returncode == 0, straight.stderr[-2000:]
    return config, folder / "straight"


def _assert_same_state(a: dict, b: dict) -> None:
    for key in ("model", "objective"):
        assert a[key].keys() == b[key].keys()
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name}"
    opt_a, opt_b = a["optimizer"], b["optimizer"]
    assert opt_a["param_groups"] == opt_b["param_groups"]
    assert opt_a["state"].keys() == opt_b["state"].keys()
    for index, slots in opt_a["state"].items():
        for slot, value in slots.items():
            other = opt_b["state"][index][slot]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other, f"optimizer {index}.{slot}"
    assert a["scheduler"] == b["scheduler"] and a["epoch"] == b["epoch"]


@pytest.mark.parametrize("point, epoch_on_disk", [("mid-epoch", 1), ("checkpoint-write", 1), ("evaluation", 3)])
def test_a_killed_train_resumes_to_the_uninterrupted_run(train_setup, tmp_path, point, epoch_on_disk):
    config, straight = train_setup
    out = tmp_path / "run"
    killed = _sfcl(["train", str(config), f"train.output_dir={out}"], point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["epoch"] == epoch_on_disk and ("pending_eval" in last) == (point == "evaluation")
    assert (out / LOCK_NAME).exists()  # the dead run's lock file stays; its flock went with the process
    if point == "checkpoint-write":
        assert list(out.glob(f"*{TMP_SUFFIX}")), "the half-written checkpoint's temporary is left behind"
    resumed = _sfcl(["train", str(config), f"train.output_dir={out}", "--resume", str(out / "last.pt")])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not list(out.glob(f"*{TMP_SUFFIX}")) and not (out / LOCK_NAME).exists()
    _assert_same_state(torch.load(out / "last.pt", weights_only=True),
                       torch.load(straight / "last.pt", weights_only=True))
    final = json.loads((out / "results.json").read_text())["final"]
    assert final == json.loads((straight / "results.json").read_text())["final"]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.parametrize("command", ["occlude", "synth"])
def test_a_killed_writer_leaves_no_workers_and_reruns_to_the_same_bytes(tiny_synthvi, tmp_path, command):
    if command == "occlude":
        argv = ["occlude", "--dataset", "sysu", "--src", str(tiny_synthvi), "--seed", "5", "--workers", "2"]
    else:
        argv = ["synth", "--ids", "16", "--height", "32", "--width", "16", "--workers", "2"]
    straight = _sfcl([*argv, "--out", str(tmp_path / "straight")])
    assert straight.returncode == 0, straight.stderr[-2000:]
    out = tmp_path / "killed"
    killed = _sfcl([*argv, "--out", str(out)], command)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    workers = [int(pid) for line in killed.stdout.splitlines() if line.startswith("children")
               for pid in line.split()[1:]]
    assert len(workers) >= 2, killed.stdout
    deadline = time.time() + 15
    while time.time() < deadline and not all(_gone(pid) for pid in workers):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers), "pool workers outlived their killed parent"
    assert digest(out) != digest(tmp_path / "straight")  # stopped part-way
    rerun = _sfcl([*argv, "--out", str(out)])
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert digest(out) == digest(tmp_path / "straight")


def test_two_processes_into_one_folder(tiny_synthvi, tmp_path):
    out = tmp_path / "occ"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    holder = subprocess.Popen([sys.executable, "-c", DRIVER, "hold-lock", str(out)], stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "holding"
        argv = ["occlude", "--dataset", "sysu", "--src", str(tiny_synthvi), "--seed", "5", "--out", str(out)]
        second = _sfcl(argv)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"in use by another sfcl run (PID {holder.pid}, sfcl occlude)" in lines[0]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    time.sleep(0.1)
    third = _sfcl(argv)  # the holder is dead: its lock file no longer blocks anyone
    assert third.returncode == 0, third.stderr[-2000:]
    assert not (out / LOCK_NAME).exists() and any(out.rglob("*.jpg"))
