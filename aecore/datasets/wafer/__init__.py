"""Wafer maps (Lab 4): the real WM-811K maps, synthetic maps of its nine patterns, and their encoding.

The names a notebook uses, as ``from aecore.datasets import wafer``::

    maps = wafer.load_wafer_maps(size=32) if wafer.wafer_pickle_path().is_file() \\
        else wafer.synthetic_wafer_maps(size=32)

Three modules, none importing another in a circle:

* :mod:`.maps`: the classes (:data:`WAFER_CLASSES`, :data:`WM811K_COUNTS`), the map-to-image
  encoding (:func:`maps_to_images`) and helpers to judge maps (:func:`snap_levels`,
  :func:`fail_fraction`);
* :mod:`.wm811k`: the loader of WM-811K's ``LSWMD.pkl`` (:func:`load_wafer_maps`);
* :mod:`.synthetic`: the seeded generator (:func:`synthetic_wafer_maps`, :data:`SYNTHETIC_COUNTS`).

Both :mod:`.wm811k` and :mod:`.synthetic` build on :mod:`.maps`; neither imports the other.
"""

from .maps import WAFER_CLASSES, WM811K_COUNTS, fail_fraction, maps_to_images, snap_levels
from .synthetic import SYNTHETIC_COUNTS, synthetic_wafer_maps
from .wm811k import load_wafer_maps, wafer_pickle_path

__all__ = [
    "WAFER_CLASSES", "WM811K_COUNTS", "fail_fraction", "maps_to_images", "snap_levels",
    "SYNTHETIC_COUNTS", "synthetic_wafer_maps",
    "load_wafer_maps", "wafer_pickle_path",
]
