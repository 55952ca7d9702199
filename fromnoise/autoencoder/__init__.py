"""The autoencoder of latent diffusion (Rombach et al. 2022), trained from scratch on the user's images.

    from fromnoise.autoencoder import load_autoencoder, cached_latents
    ae = load_autoencoder("runs/ae")                      # a 'fromnoise train-autoencoder' run
    latents, scale = cached_latents(ae, data, cache_dir="runs/ae/latents")

The names are imported on first use (PEP 562): ``fromnoise.autoencoder.config`` needs no torch, so
``fromnoise train-autoencoder --help`` reads its defaults without paying for it.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "AutoencoderConfig": ".config", "AutoencoderTrainingConfig": ".config", "autoencoder_config": ".config",
    "cached_latents": ".latents", "check_data": ".latents", "composite_alpha": ".latents",
    "encode_dataset": ".latents", "latent_scale": ".latents",
    "Autoencoder": ".model", "DiagonalGaussian": ".model", "load_autoencoder": ".model",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
