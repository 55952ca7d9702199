"""fromnoise.data: images decoded once into memory, and training batches cut from them.

    data = load_dataset("fashion-mnist", limit=1000)       # or a folder path
    batches = iter(TensorBatches(data, 64, hflip=True))
    x, info = next(batches)                                 # x: float32 (64, 1, 28, 28) in [-1, 1]
"""

from fromnoise.data.alpha import composite_alpha, on_white
from fromnoise.data.batches import TensorBatches
from fromnoise.data.datasets import NAMED_SOURCES, canonical_source, load_dataset
from fromnoise.data.image_data import ImageData
from fromnoise.data.torchvision_sets import default_root
from fromnoise.data.transforms import to_float, to_uint8, unit_to_uint8

__all__ = ["ImageData", "load_dataset", "TensorBatches", "to_float", "to_uint8", "unit_to_uint8", "on_white",
           "composite_alpha", "NAMED_SOURCES", "canonical_source", "default_root"]
