"""The two modalities, named once: ``"vis"`` / ``"nir"`` in samples, files and configs, 0 / 1 in tensors.

Every module that routes, pairs or labels by modality reads these (models route stems by
the index; samples, manifests and feature files carry the name).
"""

from __future__ import annotations

from sfcl.errors import SfclError

VIS, NIR = "vis", "nir"
MODALITIES: tuple[str, str] = (VIS, NIR)
VISIBLE, INFRARED = 0, 1  # tensor encoding: modality (B,) long
INDEX: dict[str, int] = {VIS: VISIBLE, NIR: INFRARED}


def parse_modality(name: str, what: str = "modality") -> str:
    """``name`` if it is ``"vis"`` or ``"nir"``; otherwise one clear ``SfclError`` naming ``what``."""
    if name not in INDEX:
        raise SfclError(f"{what} {name!r}: expected vis or nir")
    return name


def other(name: str) -> str:
    """The other modality's name."""
    return NIR if parse_modality(name) == VIS else VIS
