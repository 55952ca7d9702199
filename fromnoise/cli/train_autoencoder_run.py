"""The body of ``fromnoise train-autoencoder`` (the command is in :mod:`fromnoise.cli.train_autoencoder`).

Imported only when the command runs: loading the images and building the autoencoder import torch.
"""

from __future__ import annotations

from pathlib import Path

from ..autoencoder.config import AutoencoderConfig, AutoencoderTrainingConfig
from ..data import load_dataset
from ..training.autoencoder import AutoencoderTrainer


def run(data: str, network: dict, image_size: int | None, channels: int | None, limit: int | None,
        options: AutoencoderTrainingConfig) -> Path:
    """Load ``data``, build the autoencoder of ``network`` (AutoencoderConfig's fields but the image size and
    channels, which come from the data) and train it under ``options``; returns the run directory."""
    images = load_dataset(data, image_size=image_size, channels=channels, limit=limit)
    config = AutoencoderConfig(image_size=images.image_size, channels=images.channels, **network)
    return AutoencoderTrainer(config, images, options).run()
