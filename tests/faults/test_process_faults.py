"""Process and file-system faults: orphaned pool workers, two runs into one folder, write errors,
DataLoader worker errors and Ctrl-C advice, each one line (README "Checks before and during training")."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sfcl.cli import main
from sfcl.errors import SfclError, user_message
from sfcl.fileio import LOCK_NAME, TMP_SUFFIX, OutputLock, atomic_write


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie waiting for a reaper has stopped running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_die_when_their_parent_is_killed(tmp_path):
    script = textwrap.dedent("""
        import os, signal, sys, time
        from sfcl.workers import process_pool
        pool = process_pool(2)
        futures = [pool.submit(time.sleep, 60) for _ in range(2)]
        time.sleep(1.0)
        print(" ".join(str(pid) for pid in pool._processes), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    workers = [int(pid) for pid in run.stdout.split()]
    assert len(workers) == 2 and run.returncode == -9
    deadline = time.time() + 10
    while time.time() < deadline and not all(_gone(pid) for pid in workers):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers), workers


def test_a_second_run_into_a_locked_folder_is_refused_naming_the_holder(tmp_path):
    with OutputLock(tmp_path / "out", "occlude"):
        assert f"PID {os.getpid()}, sfcl occlude" in (tmp_path / "out" / LOCK_NAME).read_text()
        with pytest.raises(SfclError) as err:
            OutputLock(tmp_path / "out", "synth").__enter__()
        message = str(err.value)
        assert "\n" not in message and f"in use by another sfcl run (PID {os.getpid()}, sfcl occlude)" in message
    assert not (tmp_path / "out").exists()  # the lock made the folder and the run left it empty
    with OutputLock(tmp_path / "out", "synth"):  # released: the next run gets it
        pass


def test_synth_and_train_refuse_a_locked_folder_and_clean_stale_temporaries(tmp_path, tiny_synthvi):
    from sfcl.data.synthvi import synthesize
    from sfcl.engine.trainer import Trainer
    from tests.engine.conftest import tiny_config

    with OutputLock(tmp_path / "s", "synth"), pytest.raises(SfclError, match="in use by another sfcl run"):
        synthesize(tmp_path / "s", num_ids=6, height=32, width=16, images_per_cam=1)
    out = tmp_path / "run"
    trainer = Trainer(tiny_config(tiny_synthvi, out, "train.epochs=1", "train.batches_per_epoch=1"))
    with OutputLock(out, "train"), pytest.raises(SfclError, match="in use by another sfcl run"):
        trainer.fit()
    stale = out / f".last.pt.0123456789ab{TMP_SUFFIX}"
    out.mkdir(exist_ok=True)
    stale.write_bytes(b"")  # what a checkpoint write killed mid-way leaves
    trainer.fit()
    assert not stale.exists() and (out / "last.pt").is_file() and not (out / LOCK_NAME).exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_write_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, code):
    target = tmp_path / "results.json"
    target.write_bytes(b"old")

    def fail(src, dst):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(SfclError) as err:
        atomic_write(target, b"new")
    message = str(err.value)
    assert "\n" not in message and str(target) in message and os.strerror(code) in message
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_an_unwritable_output_is_one_line_exit_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a folder cannot be made under a file, even as root
    code = main(["synth", "--out", str(blocker / "synthvi"), "--ids", "6", "--height", "32", "--width", "16"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("sfcl: error: cannot write") and str(blocker) in err


def test_a_dataloader_worker_error_is_the_same_one_line(tmp_path):
    from torch.utils.data import DataLoader

    from sfcl.data.base import Sample
    from sfcl.data.dataset import ImageDataset
    from sfcl.data.transforms import build_transforms

    bad = tmp_path / "0001.jpg"
    bad.write_bytes(b"not a jpeg")
    transform = {m: build_transforms(16, 8, train=False, modality=m) for m in ("vis", "nir")}
    dataset = ImageDataset([Sample(str(bad), 1, 1, "vis", 0)], transform)
    with pytest.raises(SfclError) as in_main:
        dataset[0]
    with pytest.raises(SfclError) as in_worker:
        next(iter(DataLoader(dataset, num_workers=1)))
    assert "DataLoader worker" in str(in_worker.value)  # what torch hands over
    assert user_message(in_worker.value) == user_message(in_main.value) == str(in_main.value)


@pytest.mark.parametrize("argv, hint", [
    (["synth", "--out", "X"], "rerun the same command to continue"),
    (["train", "CFG"], "--resume OUT/last.pt"),
])
def test_ctrl_c_advice_names_the_real_way_to_continue(monkeypatch, capsys, argv, hint):
    import sfcl.cli.synth
    import sfcl.cli.train

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sfcl.cli.synth, "_cmd_synth", interrupted)
    monkeypatch.setattr(sfcl.cli.train, "_cmd_train", interrupted)
    assert main(argv) == 130
    assert hint in capsys.readouterr().err


BINARY = bytes(range(128, 256)) * 8  # not UTF-8 from its first byte


@pytest.mark.parametrize("case", ["manifest", "config", "sysu-ids", "regdb-list"])
def test_a_binary_file_where_text_is_expected_is_one_line(tmp_path, capsys, tiny_synthvi, case):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(BINARY)
    if case == "manifest":
        argv = ["occlude", "--src", str(tiny_synthvi), "--out", str(tmp_path / "occ"), "--from-manifest", str(bad)]
    elif case == "config":
        argv = ["train", str(bad)]
    else:
        from sfcl.data.regdb import read_list
        from sfcl.data.sysu import read_id_file

        with pytest.raises(SfclError) as err:
            read_id_file(bad) if case == "sysu-ids" else read_list(tmp_path, bad)
        assert str(err.value).startswith(f"{bad} is not UTF-8 text (byte 0: b'\\x80')")
        return
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{bad} is not UTF-8 text (byte 0" in err


def test_eval_with_zero_trials_is_one_line(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pt"), "--trials", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--trials 0: expected at least 1" in err
