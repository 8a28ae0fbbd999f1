"""sfcl.fileio: atomic writes keep the old file on failure, leave no temp file, and get open()'s mode."""

import os
import stat

import pytest

from sfcl.fileio import TMP_SUFFIX, atomic_copy, atomic_write


def test_write_bytes_and_callable(tmp_path):
    atomic_write(tmp_path / "a" / "x.bin", b"abc")
    atomic_write(tmp_path / "a" / "y.bin", lambda fh: fh.write(b"def"), durable=False)
    assert (tmp_path / "a" / "x.bin").read_bytes() == b"abc"
    assert (tmp_path / "a" / "y.bin").read_bytes() == b"def"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.bin", "y.bin"]


def test_mode_matches_plain_open(tmp_path):
    atomic_write(tmp_path / "x.bin", b"abc")
    with open(tmp_path / "plain.bin", "wb") as fh:
        fh.write(b"abc")
    mode = stat.S_IMODE(os.stat(tmp_path / "x.bin").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.bin").st_mode)


def test_failure_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "x.bin"
    atomic_write(target, b"old")

    def boom(handle):
        handle.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(f"*{TMP_SUFFIX}"))


def test_copy(tmp_path):
    (tmp_path / "src.bin").write_bytes(bytes(range(256)) * 100)
    atomic_copy(tmp_path / "src.bin", tmp_path / "out" / "dst.bin")
    assert (tmp_path / "out" / "dst.bin").read_bytes() == (tmp_path / "src.bin").read_bytes()


def test_import_leaves_the_umask_alone_and_files_get_the_umask_mode(tmp_path):
    import importlib
    import os

    import sfcl.fileio

    previous = os.umask(0o027)
    try:
        importlib.reload(sfcl.fileio)
        assert os.umask(0o027) == 0o027, "importing sfcl.fileio changed the umask"
        sfcl.fileio.atomic_write(tmp_path / "a.bin", b"x", durable=False)
        assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o640
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(sfcl.fileio.TMP_SUFFIX)]
    finally:
        os.umask(previous)
