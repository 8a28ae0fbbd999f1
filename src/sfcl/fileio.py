"""Atomic file writes: a temp file beside the target, then a rename, so a reader (or a rerun after
an interruption) sees the old file or the whole new one, never half of it.

Temporary files are named ``.<name>.<random>`` + :data:`TMP_SUFFIX` in the target's folder, so
a resumed job can find and delete leftovers of a killed one (:func:`remove_stale_temporaries`,
under the folder's :class:`OutputLock`). An ``OSError`` while writing (read-only folder, full
disk, no permission) becomes one :class:`~sfcl.errors.SfclError` naming the path and the reason
(:func:`write_error`), and the temporary file is removed: nothing half-written is left. Finished files get the mode a plain
``open()`` would give (``0o666`` minus the umask), not ``mkstemp``'s ``0o600``; importing the
module has no side effect (the umask is left alone).
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sfcl.errors import SfclError

TMP_SUFFIX = ".sfcl-tmp"


def _create_temporary(folder: Path, name: str) -> tuple[int, str]:
    """A new file ``folder/.<name>.<random>.sfcl-tmp`` opened for writing, created with mode 0o666
    so the kernel applies the process umask (what a plain ``open()`` gives; no umask juggling)."""
    while True:
        tmp = str(folder / f".{name}.{secrets.token_hex(6)}{TMP_SUFFIX}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue


def atomic_write(path: str | Path, data: bytes | Callable[[BinaryIO], object], durable: bool = True) -> None:
    """Write ``data`` (bytes, or a function writing to the binary file object) to ``path`` atomically.

    ``durable`` also fsyncs the file and its folder (checkpoints); bulk writes of
    regenerable files (dataset images) skip it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(path.parent, path.name)
    except OSError as err:
        raise write_error(path, err) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise write_error(path, err) from None
        if isinstance(err, RuntimeError) and "inline_container" in str(err):  # torch.save on a full disk
            raise SfclError(f"cannot write {path}: the write failed (disk full or unwritable: "
                            f"{str(err).splitlines()[0][:120]})") from None
        raise
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_copy(src: str | Path, dst: str | Path, durable: bool = False) -> None:
    """Copy the bytes of ``src`` to ``dst`` atomically (see :func:`atomic_write`)."""
    with open(src, "rb") as source:
        atomic_write(dst, lambda handle: shutil.copyfileobj(source, handle), durable=durable)


def check_png_name(path: str | Path) -> None:
    """Refuse an output name that does not end in .png (before any work is done)."""
    if Path(path).suffix.lower() != ".png":
        raise SfclError(f"output {path}: expected a file name ending in .png")


def save_figure(figure, path: str | Path, dpi: int) -> Path:
    """Render a matplotlib ``Figure`` (Agg canvas) to PNG at ``dpi``, atomically; returns the path.

    No ``bbox_inches="tight"``: the picture is exactly ``figsize * dpi`` pixels.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    check_png_name(path)
    FigureCanvasAgg(figure)
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi)
    atomic_write(path, buf.getvalue(), durable=False)
    return Path(path)


LOCK_NAME = ".sfcl.lock"


class OutputLock:
    """An exclusive lock on an output folder for the life of one command (``with OutputLock(folder):``).

    The lock is ``flock`` on ``folder/.sfcl.lock``, which holds the holder's PID and command; the
    kernel releases it when the process ends however it ends (SIGKILL included), so a lock is never
    stale. A second command on the same folder gets one ``SfclError`` naming the holder's PID.
    On release the file is removed (a command checks after locking that the locked file is still
    the one at the path, so two commands can never both win), and so is the folder when the lock
    created it and the run left it empty.
    """

    def __init__(self, folder: str | Path, command: str) -> None:
        self.folder, self.command = Path(folder), command
        self.fd: int | None = None
        self.created = False

    def __enter__(self) -> OutputLock:
        import fcntl

        path = self.folder / LOCK_NAME
        try:
            self.created = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise SfclError(f"output folder {self.folder} is in use by another sfcl run ({holder}): wait "
                                    "for it to finish or choose another folder") from None
                try:
                    same = os.fstat(fd).st_ino == os.stat(path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)  # the holder removed the file as we opened it: lock the new one
            os.ftruncate(fd, 0)
            os.write(fd, f"PID {os.getpid()}, sfcl {self.command}\n".encode())
        except OSError as err:
            raise write_error(path, err) from None
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            (self.folder / LOCK_NAME).unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None
            if self.created:  # a folder made only to hold the lock of a run that wrote nothing
                try:
                    self.folder.rmdir()
                except OSError:
                    pass


def remove_stale_temporaries(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Delete the temporary files (``*.sfcl-tmp``) a killed run left in ``folder`` (and its
    sub-folders when ``recursive``); call it only while holding the folder's :class:`OutputLock`
    (a live run's temporaries are its own)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(folder.rglob(f"*{TMP_SUFFIX}") if recursive else folder.glob(f"*{TMP_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def write_error(path: str | Path, err: OSError) -> SfclError:
    """The one line for an ``OSError`` on an output path: the path and the reason (read-only, full,
    no permission), whatever layer raised it."""
    reason = err.strerror or str(err) or type(err).__name__
    where = err.filename if getattr(err, "filename", None) else path
    return SfclError(f"cannot write {where}: {reason} (check that the output folder is writable and the disk "
                     "has space)")


def read_text_file(path: str | Path, expected: str) -> str:
    """A user-given text file (config, id list, manifest, metadata) as UTF-8 text; a binary or
    wrongly encoded file is one line naming it and the byte offset, not a ``UnicodeDecodeError``."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SfclError(f"{path} is not UTF-8 text (byte {err.start}: {data[err.start:err.start + 1]!r}): "
                        f"expected {expected}") from None
