"""Atomic file writes: a temp file beside the target, then a rename, so a reader (or a rerun after
an interruption) sees the old file or the whole new one, never half of it.

Temporary files are named ``.<name>.<random>`` + :data:`TMP_SUFFIX` in the target's folder, so
a resumed job can find and delete leftovers of a killed one. Finished files get the mode a plain
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path.parent, path.name)
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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
