"""Occlusion benchmark construction (``sfcl occlude``, ``sfcl sol``): SOL, calibration, placement, manifests.

Modules: ``library`` (the SOL folder format), ``procedural`` (the built-in
library), ``segment`` (SOL from images with YOLOv8-seg + SAM), ``calibrate``
(infrared calibration), ``placement`` (scene-aware rules, feathered blending),
``manifest`` (JSON Lines records), ``build`` (``occlude_dataset``,
``rebuild_from_manifest``), ``grid`` (before/after picture grid).
Nothing here is imported by ``import sfcl``.
"""
