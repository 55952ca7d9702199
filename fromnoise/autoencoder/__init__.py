"""The autoencoder of latent diffusion (Rombach et al. 2022), trained from scratch on the user's images.

    from fromnoise.autoencoder import load_autoencoder, cached_latents
    ae = load_autoencoder("runs/ae")                      # a 'fromnoise train-autoencoder' run
    latents, scale = cached_latents(ae, data, cache_dir="runs/ae/latents")
"""

from .config import AutoencoderTrainingConfig
from .latents import cached_latents, check_data, composite_alpha, encode_dataset, latent_scale
from .model import Autoencoder, AutoencoderConfig, DiagonalGaussian, autoencoder_config, load_autoencoder

__all__ = [
           "Autoencoder",
           "AutoencoderConfig",
           "AutoencoderTrainingConfig",
           "DiagonalGaussian",
           "autoencoder_config",
           "cached_latents",
           "check_data",
           "composite_alpha",
           "encode_dataset",
           "latent_scale",
           "load_autoencoder",
]
