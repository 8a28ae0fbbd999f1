"""sfcl: occluded visible-infrared person re-identification (SFCL, CVPR 2026)."""

from sfcl.errors import SfclError

__version__ = "0.1.0"
__all__ = ["SfclError", "__version__"]
