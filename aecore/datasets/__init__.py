"""The data sets, one module each, all returned as :class:`LabelledImages`.

In a notebook::

    from aecore import datasets

    train_set = datasets.load_mnist("train", download=True)
    train_part, test_part = datasets.stratified_split(train_set, test_fraction=0.25, seed=0)
    maps = datasets.wafer.synthetic_wafer_maps(size=32)

* :mod:`.images`: the shared container :class:`LabelledImages`, the seeded splits
  (:func:`stratified_split`, :func:`stratified_sample`) and :class:`DataNotFoundError`;
* :mod:`.mnist`: MNIST digits (:func:`load_mnist`);
* :mod:`.dogs`: Stanford Dogs photos (:func:`load_dogs`, the photo budget);
* :mod:`.wafer`: wafer maps, real (WM-811K) and synthetic.

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/MNIST/raw/train-images-idx3-ubyte.gz ... (the four original files)
    <data root>/stanford_dogs/Images/<wnid>-<breed>/<image>.jpg
    <data root>/wafer/LSWMD.pkl      (optional)

The data root is only ever read (it may be read-only, e.g. a shared course folder).
Everything derived from it -- unpacked IDX files, resized image tensors -- and every
download is written to the cache root (``$AECORE_CACHE``); a downloaded Stanford Dogs
archive is unpacked into ``<cache root>/stanford_dogs/Images``.
"""

from . import dogs, images, mnist, wafer
from .dogs import DOGS_PREPROCESSING, breed_name, count_dog_photos, describe_dog_photos, load_dogs
from .images import DataNotFoundError, LabelledImages, stratified_sample, stratified_split
from .mnist import MNIST_CLASSES, load_mnist, mnist_root

__all__ = [
    "dogs", "images", "mnist", "wafer",
    "DataNotFoundError", "LabelledImages", "stratified_sample", "stratified_split",
    "MNIST_CLASSES", "load_mnist", "mnist_root",
    "DOGS_PREPROCESSING", "breed_name", "count_dog_photos", "describe_dog_photos", "load_dogs",
]
